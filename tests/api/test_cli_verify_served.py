"""`heritage verify FILE --proofs proofs.json` with an exhibit site's proofs: a served file
judged as a derivative of its registered master, as real processes against the session's
anvil and the test's own embedded IPFS node."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from PIL import Image

from exhibits.derive.cache import DerivationCache
from exhibits.derive.images import derive_image
from exhibits.derive.posters import derive_other_cached
from exhibits.model import ChainRef, ItemFiles
from exhibits.proofs import proofs_document
from ledger.ipfs.cid import Cid
from ledger.verify import load_schema
from tests.exhibits.proofs_support import exhibited
from tests.registry_support import TermsFile, Workspace, chain, terms, ws

#: The registry CLI tests' fixtures (the module's chain, a workspace, terms files), reused.
REUSED_FIXTURES = (chain, terms, ws)


def _photo(path: Path) -> Path:
    rng = random.Random(12)
    out = io.BytesIO()
    Image.frombytes("RGB", (640, 480), rng.randbytes(640 * 480 * 3)).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


def _site(ws: Workspace, master: Path, report: dict[str, Any], site: Path) -> tuple[str, Path]:
    """A site folder with the master's derived image and thumbnail and its proofs.json."""
    deployment = json.loads(ws.chain.deployment.read_text())
    item = report["item"]
    derived = derive_image(master.read_bytes())
    files = ItemFiles(kind="image", files=derived.files, records=(derived.record,))
    shown = exhibited(
        files,
        key=bytes.fromhex(item["item"][2:]),
        cid=Cid.parse(item["cid"]),
        community=bytes.fromhex(item["community"][2:]),
        block=item["registered"]["block_number"],
        transaction=item["registered"]["tx_hash"],
        terms_cid=Cid.parse(item["terms"]["cid"]),
        terms_version=item["terms"]["version"],
    )
    chain_ref = ChainRef(deployment["chain_id"], deployment["registry_address"])
    document = proofs_document(chain_ref, [shown], built_at=datetime.now(UTC))
    folder = site / "items" / shown.item_id / "files"
    folder.mkdir(parents=True)
    for file in files.files:
        (folder / file.name).write_bytes(file.data)
    proofs = site / "proofs.json"
    proofs.write_text(json.dumps(document, sort_keys=True, indent=1))
    return shown.item_id, proofs


def _verify(ws: Workspace, *args: str) -> tuple[int, Any, str]:
    proc = ws.run("verify", *args, "--json", check=False)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    if report is not None:
        assert report["exit_code"] == proc.returncode
        jsonschema.validate(report, load_schema("served-file-report"))
        if report["master"] is not None:
            jsonschema.validate(report["master"], load_schema("verify-report"))
    return proc.returncode, report, proc.stderr


def test_a_served_file_is_a_verified_derivative_until_changed(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    ws.community("Reef")
    master = _photo(tmp_path / "reef.jpg")
    ws.run(
        "item",
        "register",
        str(master),
        "-c",
        "Reef",
        "--terms",
        str(terms("Reef")),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    master_report = ws.json("verify", str(master))
    site = tmp_path / "site"
    item_id, proofs = _site(ws, master, master_report, site)
    image = site / "items" / item_id / "files" / "image.jpg"

    status, report, _ = _verify(ws, str(image), "--proofs", str(proofs))
    assert status == 0 and report["status"] == "verified-derivative"
    assert report["item"] == item_id and report["master_cid"] == master_report["item"]["cid"]
    assert report["listed"]["path"] == f"items/{item_id}/files/image.jpg"
    assert report["master"]["status"] == "verified"
    assert report["derivation"]["master"] == master_report["item"]["cid"]
    human = ws.run("verify", str(image), "--proofs", str(proofs))
    assert human.stdout.startswith("verified-derivative: ")

    # The same bytes saved elsewhere (a visitor's download) are still found by their CID.
    download = tmp_path / "download.jpg"
    download.write_bytes((site / "items" / item_id / "files" / "thumbnail.jpg").read_bytes())
    status, report, _ = _verify(ws, str(download), "--proofs", str(proofs))
    assert status == 0 and report["listed"]["name"] == "thumbnail.jpg"

    # One byte changed in the served file: a mismatch at its path.
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    status, report, _ = _verify(ws, str(image), "--proofs", str(proofs))
    assert status == 12 and report["status"] == "mismatch"
    assert "should give" in report["summary"]
    # … and the same changed bytes elsewhere are listed nowhere.
    stray = tmp_path / "stray.jpg"
    stray.write_bytes(bytes(data))
    status, report, _ = _verify(ws, str(stray), "--proofs", str(proofs))
    assert status == 13 and report["status"] == "not-listed" and report["master"] is None

    # The master is a file of the site's proofs in no way: it is no derivative.
    status, report, _ = _verify(ws, str(master), "--proofs", str(proofs))
    assert status == 13

    # Revoking the master's terms: the served file is listed, but its master is revoked.
    ws.run(
        "terms", "revoke", master_report["item"]["cid"], "--password-file", str(ws.password_file)
    )
    thumbnail = site / "items" / item_id / "files" / "thumbnail.jpg"
    status, report, _ = _verify(ws, str(thumbnail), "--proofs", str(proofs))
    assert status == 11 and report["status"] == "revoked"
    assert report["master"]["status"] == "revoked"


def test_proofs_of_another_chain_or_registry_are_refused(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    ws.community("Atoll")
    master = _photo(tmp_path / "atoll.jpg")
    ws.run(
        "item",
        "register",
        str(master),
        "-c",
        "Atoll",
        "--terms",
        str(terms("Atoll")),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    site = tmp_path / "site"
    item_id, proofs = _site(ws, master, ws.json("verify", str(master)), site)
    image = site / "items" / item_id / "files" / "image.jpg"
    document = json.loads(proofs.read_text())
    for change, words in (
        ({"chain_id": 1}, "the proofs are of chain 1"),
        ({"registry": "0x" + "11" * 20}, "registry 0x" + "11" * 20),
    ):
        other = tmp_path / f"other-{len(words)}.json"
        other.write_text(json.dumps({**document, "chain": {**document["chain"], **change}}))
        proc = ws.run("verify", str(image), "--proofs", str(other), check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "HERITAGE_RPC_URL" in proc.stderr


def test_proofs_that_misname_the_master_claim(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    """Consistent proofs whose claim the chain does not bear out: another CID under the
    claim's key is a mismatch; a key with no claim on this chain is unknown."""
    ws.community("Reefside")
    master = _photo(tmp_path / "reefside.jpg")
    ws.run(
        "item",
        "register",
        str(master),
        "-c",
        "Reefside",
        "--terms",
        str(terms("Reefside")),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    site = tmp_path / "site"
    item_id, proofs = _site(ws, master, ws.json("verify", str(master)), site)
    image = site / "items" / item_id / "files" / "image.jpg"
    document = json.loads(proofs.read_text())
    entry = document["items"][item_id]

    other_cid = entry["files"][1]["cid"]  # any CID that is not the master's
    entry["claim"]["cid"] = other_cid
    for record in entry["derivations"]:
        record["master"] = other_cid
    proofs.write_text(json.dumps(document))
    status, report, _ = _verify(ws, str(image), "--proofs", str(proofs))
    assert status == 12 and report["status"] == "mismatch"
    assert f"the proofs name {other_cid}" in report["summary"]

    stranger = "0x" + "5a" * 32
    moved = json.loads(json.dumps(document).replace(item_id, stranger))  # keys and paths
    proofs.write_text(json.dumps(moved))
    status, report, _ = _verify(ws, str(image), "--proofs", str(proofs))
    assert status == 13 and report["status"] == "unknown" and report["item"] == stranger


def test_a_hostile_proofs_file_is_an_invalid_document(ws: Workspace, tmp_path: Path) -> None:
    served = tmp_path / "image.jpg"
    served.write_bytes(b"\xff\xd8 not much of a jpeg")
    for index, text in enumerate(
        (
            '{"type": "heritage/exhibit-proofs", "version": 1, "chain": [',
            '{"type": "heritage/exhibit-proofs", "version": 1, "chain": {"chain_id": 1, '
            '"registry": "0x' + "11" * 20 + '"}, "built_at": "2026-01-01T00:00:00Z", '
            '"items": {"../../x": {}}}',
        )
    ):
        proofs = tmp_path / f"proofs-{index}.json"
        proofs.write_text(text)
        proc = ws.run("verify", str(served), "--proofs", str(proofs), check=False)
        assert proc.returncode == 4, proc.stderr
        assert "invalid_exhibit_proofs" in proc.stderr


def test_alike_posters_verify_for_the_item_at_their_path(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    """Two documents get the same poster (it names their kind): the bytes are listed twice,
    and the verdict is about the item whose path they are served at."""
    ws.community("Lagoon")
    masters = []
    for name in ("minutes.pdf", "letter.pdf"):
        path = tmp_path / name
        path.write_bytes(b"%PDF-1.4 " + name.encode() + random.Random(name).randbytes(64))
        ws.run(
            "item",
            "register",
            str(path),
            "-c",
            "Lagoon",
            "--terms",
            str(terms("Lagoon")),
            "--password-file",
            str(ws.password_file),
            "--json",
        )
        masters.append(path)
    cache = DerivationCache(tmp_path / "derived")
    shown = []
    for path in masters:
        item = ws.json("verify", str(path))["item"]
        files = derive_other_cached(path.read_bytes(), path.name, "application/pdf", cache)
        shown.append(
            exhibited(
                files,
                key=bytes.fromhex(item["item"][2:]),
                cid=Cid.parse(item["cid"]),
                community=bytes.fromhex(item["community"][2:]),
                block=item["registered"]["block_number"],
                transaction=item["registered"]["tx_hash"],
            )
        )
    assert shown[0].files.files[0].data == shown[1].files.files[0].data
    deployment = json.loads(ws.chain.deployment.read_text())
    chain_ref = ChainRef(deployment["chain_id"], deployment["registry_address"])
    site = tmp_path / "site"
    site.mkdir()
    (site / "proofs.json").write_text(
        json.dumps(proofs_document(chain_ref, shown, built_at=datetime.now(UTC)))
    )
    for each in shown:
        folder = site / "items" / each.item_id / "files"
        folder.mkdir(parents=True)
        (folder / "poster.png").write_bytes(each.files.files[0].data)
    for index in (0, 1):
        served = site / "items" / shown[index].item_id / "files" / "poster.png"
        status, report, _ = _verify(ws, str(served), "--proofs", str(site / "proofs.json"))
        assert status == 0 and report["status"] == "verified-derivative"
        assert report["item"] == shown[index].item_id
        assert report["also_listed"] == [shown[1 - index].item_id]
        assert "also listed for 1 other item" in report["summary"]
