"""`heritage item register --description`, `item describe`, `item show|history` and
`consent request describe`, run as real processes against the session's anvil and each test's
own embedded IPFS node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.errors import ExitCode, InvalidDescription
from tests import registry_support
from tests.api.test_cli_consent import (
    error_code,
    register_sealed,
    sealed_community,
    sign,
    sign_elsewhere,
)
from tests.api.test_cli_registry import raw_cid_of_document, unique
from tests.registry_support import Workspace
from tests.rights_support import public_terms, write_terms

chain = registry_support.chain
ws = registry_support.ws


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def description(title: str) -> dict[str, Any]:
    return {"type": "heritage/description", "version": 1, "title": {"en": title}}


def community_and_terms(ws: Workspace) -> tuple[str, Path]:
    name = unique("describers")
    ws.community(name)
    terms = write_terms(ws.data.parent / f"terms-{name}.json", public_terms(ws.community_id(name)))
    return name, terms


def test_register_describe_show_history(ws: Workspace, tmp_path: Path) -> None:
    name, terms = community_and_terms(ws)
    first = description('Kete <whakairo> "one"')
    files = ws.files(2)
    registered = ws.json(
        "item", "register", *map(str, files), "-c", name, "--terms", str(terms),
        "--description", str(write_json(tmp_path / "d1.json", first)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    item = registered[0]["cid"]
    shown = ws.json("item", "show", item)
    assert shown["metadata"]["description"] == first  # one description for the files given
    assert ws.json("item", "show", registered[1]["cid"])["metadata"]["description"] == first
    assert shown["description"]["version"] == 1
    text = ws.run("item", "show", item).stdout
    assert "title       'Kete <whakairo> \"one\"' (description version 1)" in text

    second = description("Kete whakairo")
    described = ws.json(
        "item", "describe", item, "--description", str(write_json(tmp_path / "d2.json", second)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert described["version"] == 2
    assert described["description_cid"] == raw_cid_of_document(second)
    assert described["description_cid"] in ws.pins()
    assert "'Kete whakairo' (description version 2)" in ws.run("item", "show", item).stdout
    history = ws.json("item", "history", item)
    assert [h["event"] for h in history] == ["ItemRegistered", "DescriptionSet"]
    assert history[1]["fields"]["version"] == 2
    lines = ws.run("item", "history", item).stdout.splitlines()
    assert "DescriptionSet" in lines[1] and "version=2" in lines[1]


def test_an_invalid_description_exits_4_with_nothing_added_or_sent(
    ws: Workspace, tmp_path: Path
) -> None:
    name, terms = community_and_terms(ws)
    bad = write_json(
        tmp_path / "bad.json", {**description("x"), "title": {"en_US": "x"}, "colour": "red"}
    )
    files = ws.files(1)
    before, pins = ws.chain.sent(), ws.pins()
    refused = ws.run(
        "item", "register", str(files[0]), "-c", name, "--terms", str(terms),
        "--description", str(bad), "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert refused.returncode == int(ExitCode.DESCRIPTION_INVALID) == 4
    assert f"error[{InvalidDescription.code}]" in refused.stderr
    assert "en_US" in refused.stderr and "language-tag" in refused.stderr
    assert "2 problem(s)" in refused.stderr and "/colour" in refused.stderr  # every one listed
    assert ws.chain.sent() == before and ws.pins() == pins

    (registered,) = ws.json(
        "item", "register", str(files[0]), "-c", name, "--terms", str(terms),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    before = ws.chain.sent()
    for args in (
        ("item", "describe", registered["cid"], "--description", str(bad),
         "--password-file", str(ws.password_file)),
        ("consent", "request", "describe", registered["cid"], "--description", str(bad),
         "-o", str(tmp_path / "r.json")),
    ):  # fmt: skip
        proc = ws.run(*args, check=False)
        assert proc.returncode == 4 and f"error[{InvalidDescription.code}]" in proc.stderr
    assert ws.chain.sent() == before and not (tmp_path / "r.json").exists()


def test_a_correction_through_offline_consent(ws: Workspace, tmp_path: Path) -> None:
    name, terms = community_and_terms(ws)
    (registered,) = ws.json(
        "item", "register", str(ws.files(1)[0]), "-c", name, "--terms", str(terms),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    item = registered["cid"]
    corrected = description("Pātaka")
    request = tmp_path / "request.json"
    made = ws.run(
        "consent", "request", "describe", item,
        "--description", str(write_json(tmp_path / "d.json", corrected)), "-o", str(request),
    )  # fmt: skip
    assert "SetDescription request" in made.stderr and "description version 2" in made.stderr
    document = json.loads(request.read_text())
    assert document["document"] == corrected
    holders = document["keyholders"]
    sig_a, sig_b = tmp_path / "a.json", tmp_path / "b.json"
    signed = sign(ws, request, holders[0], sig_a)
    # The keyholder is shown what they sign, in plain words, the title included.
    assert "PUBLISH a corrected description" in signed.stderr and "Pātaka" in signed.stderr
    sign(ws, request, holders[1], sig_b)
    submitted = ws.json("consent", "submit", str(request), str(sig_a), str(sig_b))
    assert submitted["version"] == 2
    assert submitted["description_cid"] == raw_cid_of_document(corrected)
    assert ws.json("item", "show", item)["description"]["description"] == corrected
    again = ws.run("consent", "submit", str(request), str(sig_a), str(sig_b), check=False)
    assert again.returncode == 1 and error_code(again) == "consent_stale"


def test_a_catalog_describes_each_file(ws: Workspace, tmp_path: Path) -> None:
    name, terms = community_and_terms(ws)
    folder = tmp_path / "collection"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"first file\n")
    (folder / "sub" / "b.txt").write_bytes(b"second file\n")
    catalog = folder / "catalog.csv"
    catalog.write_text("file,title@en,title@mi\na.txt,Basket,Kete\nsub/b.txt,Cloak,Korowai\n")
    registered = ws.json(
        "item", "register", "-c", name, "--terms", str(terms), "--catalog", str(catalog),
        "--batch", "--password-file", str(ws.password_file),
    )  # fmt: skip
    titles = {}
    for entry in registered["items"]:
        shown = ws.json("item", "show", entry["cid"])
        titles[Path(entry["path"]).name] = shown["description"]["description"]["title"]
    assert titles == {
        "a.txt": {"en": "Basket", "mi": "Kete"},
        "b.txt": {"en": "Cloak", "mi": "Korowai"},
    }


def test_description_and_catalog_do_not_go_together(ws: Workspace, tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", description("x"))
    proc = ws.run(
        "item", "register", "x.txt", "-c", "anyone", "--terms", str(path),
        "--description", str(path), "--catalog", str(tmp_path / "c.csv"), check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "--description and --catalog" in proc.stderr


def test_an_invalid_catalog_exits_4_listing_every_problem(ws: Workspace, tmp_path: Path) -> None:
    name, terms = community_and_terms(ws)
    folder = tmp_path / "collection"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"a\n")
    (folder / "b.txt").write_bytes(b"b\n")
    catalog = folder / "catalog.csv"
    catalog.write_text("file,title@en,title@en_US\na.txt,A,x\nb.txt,,\n")
    before, pins = ws.chain.sent(), ws.pins()
    refused = ws.run(
        "item", "register", "-c", name, "--terms", str(terms), "--catalog", str(catalog),
        "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert refused.returncode == 4 and "error[invalid_catalog]" in refused.stderr
    assert "problem(s):" in refused.stderr and "en_US" in refused.stderr
    assert ws.chain.sent() == before and ws.pins() == pins
    # A file given that the catalog has no row for: refused by name, nothing sent.
    stray = folder / "c.txt"
    stray.write_bytes(b"c\n")
    catalog.write_text("file,title@en\na.txt,A\n")
    missing = ws.run(
        "item", "register", str(stray), "-c", name, "--terms", str(terms),
        "--catalog", str(catalog), "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "has no row for" in missing.stderr
    assert ws.chain.sent() == before and ws.pins() == pins


def test_a_derivative_is_described_as_an_item_is(ws: Workspace, tmp_path: Path) -> None:
    name, terms = community_and_terms(ws)
    (parent,) = ws.json(
        "item", "register", str(ws.files(1)[0]), "-c", name, "--terms", str(terms),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    method = write_json(tmp_path / "method.json", {"method": "retopology"})
    derived = ws.files(1, "restored")[0]
    bad = write_json(tmp_path / "bad.json", {**description("x"), "colour": "red"})
    before, pins = ws.chain.sent(), ws.pins()
    refused = ws.run(
        "derivative", "add", parent["cid"], str(derived), "-c", name, "--terms", str(terms),
        "--method", str(method), "--description", str(bad),
        "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert refused.returncode == 4 and f"error[{InvalidDescription.code}]" in refused.stderr
    assert ws.chain.sent() == before and ws.pins() == pins
    bound = description("Waka <restored> \"2026\"")
    result = ws.json(
        "derivative", "add", parent["cid"], str(derived), "-c", name, "--terms", str(terms),
        "--method", str(method), "--description", str(write_json(tmp_path / "d.json", bound)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    shown = ws.json("item", "show", result["cid"])
    assert shown["kind"] == "derivative"
    assert shown["metadata"]["description"] == bound  # in the signed metadata document
    assert shown["description"]["version"] == 1
    assert shown["description"]["description"] == bound


def test_a_derivative_requested_offline_carries_its_description(
    ws: Workspace, tmp_path: Path
) -> None:
    parent_name = unique("describers")
    _, holders = ws.community(parent_name)
    terms = write_terms(tmp_path / "terms.json", public_terms(ws.community_id(parent_name)))
    (parent,) = ws.json(
        "item", "register", str(ws.files(1)[0]), "-c", parent_name, "--terms", str(terms),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    deriver = unique("deriver")
    _, deriver_holders = ws.community(deriver, 1, 1)
    deriver_terms = write_terms(
        tmp_path / "deriver-terms.json", public_terms(ws.community_id(deriver))
    )
    method = write_json(tmp_path / "method.json", {"method": "photogrammetry"})
    bound = description("Kete (3D)")
    request = tmp_path / "derive.json"
    ws.run(
        "consent", "request", "derivative", parent["cid"], str(ws.files(1, "model")[0]),
        "-c", deriver, "--terms", str(deriver_terms), "--method", str(method),
        "--description", str(write_json(tmp_path / "d.json", bound)), "-o", str(request),
    )  # fmt: skip
    signatures = []
    for i, holder in enumerate(holders[:2]):
        sign(ws, request, holder, tmp_path / f"{i}.sig.json")
        signatures.append(str(tmp_path / f"{i}.sig.json"))
    result = json.loads(
        ws.run(
            "consent", "submit", str(request), *signatures, "--signer", deriver_holders[0],
            "--password-file", str(ws.password_file), "--json",
        ).stdout
    )  # fmt: skip
    shown = ws.json("item", "show", result["cid"])
    assert shown["metadata"]["description"] == bound
    assert shown["description"]["description"] == bound


def test_a_sealed_items_correction_offline_is_read_by_each_signer_with_their_key(
    ws: Workspace, tmp_path: Path
) -> None:
    name = unique("sealed-describers")
    holders = sealed_community(ws, name, 2, 2)
    item = register_sealed(ws, name, tmp_path / "song.bin")
    canary = "CANARY-" + tmp_path.name + " waiata tapu"
    corrected = write_json(tmp_path / "d.json", description(canary))
    request = tmp_path / "request.json"
    refused = ws.run(
        "consent", "request", "describe", item, "--description", str(corrected),
        "-o", str(request), check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "--opener" in refused.stderr and not request.exists()
    ws.run(
        "consent", "request", "describe", item, "--description", str(corrected),
        "--opener", holders[0], "--password-file", str(ws.password_file), "-o", str(request),
    )  # fmt: skip
    assert canary.encode() not in request.read_bytes()  # sealed: only its keyholders read it
    signatures = []
    for holder in holders:
        out, signed = sign_elsewhere(ws, tmp_path, request, holder)
        # Each signer is shown the text, opened with their own key (a keystore export).
        assert "SEALED for the item's keyholders" in signed.stderr and canary in signed.stderr
        signatures.append(str(out))
    submitted = ws.json("consent", "submit", str(request), *signatures)
    assert submitted["version"] == 2
    history = ws.json("item", "history", item)
    assert [h["event"] for h in history][-1] == "DescriptionSet"
    for path in ws.data.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
