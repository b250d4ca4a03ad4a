"""`heritage consent request|sign|status|submit`, run as real processes: request and submit
against the session's anvil, sign and status with no chain and no IPFS node at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from api.cli.consent import EXIT_INCOMPLETE
from ledger.errors import ConsentFileInvalid, ConsentIncomplete, ConsentStale
from ledger.keys import export_key
from ledger.settings import load_settings
from tests import registry_support
from tests.api.test_cli_registry import raw_cid_of_document, unique
from tests.cli_runner import run_heritage
from tests.registry_support import Workspace
from tests.rights_support import public_terms, restricted_terms, write_terms

# The workspace fixtures of test_cli_registry, reused: the session's anvil, a data directory
# of each test's own, and a chain snapshot reverted after each test.
chain = registry_support.chain
ws = registry_support.ws

DEAD_RPC = "http://127.0.0.1:9"  # nothing listens on the discard port


def offline(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run heritage with a data directory of its own and no reachable chain."""
    env = {"HERITAGE_DATA_DIR": str(data), "HERITAGE_RPC_URL": DEAD_RPC, "HERITAGE_FSYNC": "false"}
    proc = run_heritage(args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def registered_item(ws: Workspace, n: int = 3, k: int = 2) -> tuple[str, str, list[str]]:
    """A community (n keyholders, k sign) with one registered item: (item CID, name, keys)."""
    name = unique("consent")
    _, holders = ws.community(name, n, k)
    terms = write_terms(ws.data.parent / f"terms-{name}.json", public_terms(ws.community_id(name)))
    (registered,) = ws.json(
        "item",
        "register",
        str(ws.files(1)[0]),
        "-c",
        name,
        "--terms",
        str(terms),
        "--password-file",
        str(ws.password_file),
    )
    return registered["cid"], name, holders


def sign(ws: Workspace, request: Path, key: str, out: Path) -> subprocess.CompletedProcess[str]:
    return ws.run(
        "consent",
        "sign",
        str(request),
        "--key",
        key,
        "--password-file",
        str(ws.password_file),
        "-o",
        str(out),
        "--yes",
    )


def error_code(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.split("[", 1)[1].split("]", 1)[0]


def test_set_terms_request_sign_status_submit(ws: Workspace, tmp_path: Path) -> None:
    item, name, holders = registered_item(ws)
    new_terms = write_terms(tmp_path / "new.json", restricted_terms(ws.community_id(name)))
    request = tmp_path / "request.json"
    made = ws.run("consent", "request", item, "--terms", str(new_terms), "-o", str(request))
    assert "SetTerms request" in made.stderr
    document: dict[str, Any] = json.loads(request.read_text())
    assert document["type"] == "heritage/consent-request"
    assert document["typed_data"]["message"]["version"] == 2
    assert document["keyholders"] == holders
    assert document["terms_cid"] in ws.pins()  # the document being signed is on IPFS

    # A keyholder signs on a machine with no chain and no IPFS: their own keystore file.
    keyholder_home = tmp_path / "keyholder"
    keyholder_home.mkdir()
    settings = load_settings(env={}, data_dir=ws.data, fsync=False)
    keystore = export_key(settings, holders[2], keyholder_home / "my.keystore.json")
    sig_c = tmp_path / "c.sig.json"
    signed = offline(
        keyholder_home / "data",
        "consent",
        "sign",
        str(request),
        "--key",
        str(keystore),
        "--password-file",
        str(ws.password_file),
        "-o",
        str(sig_c),
        "--yes",
    )
    # They were shown what they sign before signing.
    for shown in (
        item,
        document["terms_cid"],
        "31337",
        document["typed_data"]["domain"]["verifyingContract"],
        "terms version 2",
    ):
        assert shown in signed.stderr
    # The deadline in ISO 8601 UTC (the typed data keeps unix seconds), here and in `request`.
    deadline = int(document["typed_data"]["message"]["deadline"])
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline))
    assert re.search(rf"valid until +{when}\n", signed.stderr), signed.stderr
    assert f"must sign before {when};" in made.stderr
    assert "unix time" not in signed.stderr + made.stderr
    assert not (keyholder_home / "data" / "blocks").exists()  # no IPFS node was opened

    # Signatures missing: status says who, and exits 5 (not 0) so a script can wait for them.
    incomplete = offline(
        keyholder_home / "data",
        "consent",
        "status",
        str(request),
        str(sig_c),
        "--json",
        check=False,
    )
    assert incomplete.returncode == EXIT_INCOMPLETE == 5
    status = json.loads(incomplete.stdout)
    assert status["signed"] == [holders[2]]
    assert status["missing"] == holders[:2]
    assert (status["needed"], status["complete"]) == (1, False)
    text = offline(
        keyholder_home / "data", "consent", "status", str(request), str(sig_c), check=False
    )
    assert text.returncode == EXIT_INCOMPLETE
    assert f"missing  {holders[0]}" in text.stdout and "1 more signature(s) needed" in text.stdout

    before = ws.chain.sent()
    refused = ws.run("consent", "submit", str(request), str(sig_c), check=False)
    assert refused.returncode == ConsentIncomplete.exit_code == 5  # as `consent status`
    assert error_code(refused) == ConsentIncomplete.code
    assert holders[0] in refused.stderr and holders[1] in refused.stderr
    assert ws.chain.sent() == before

    sig_a = tmp_path / "a.sig.json"
    sign(ws, request, holders[0], sig_a)
    ready = offline(
        keyholder_home / "data", "consent", "status", str(request), str(sig_c), str(sig_a)
    )
    assert ready.returncode == 0 and "ready: submit it" in ready.stdout
    submitted = ws.run("consent", "submit", str(request), str(sig_c), str(sig_a), "--json")
    result = json.loads(submitted.stdout)
    # Public → restricted: the plaintext is withdrawn here, and the user is told what that means.
    assert item in result["unpinned"]
    assert "warning: " in submitted.stderr and "cannot be recalled" in submitted.stderr
    assert item not in ws.pins()
    assert ws.chain.sent() == before + 1
    assert result["version"] == 2
    assert result["terms_cid"] == document["terms_cid"]
    assert result["signers"] == [holders[0], holders[2]]
    shown = ws.json("item", "show", item)
    assert (shown["terms_version"], shown["terms_cid"]) == (2, document["terms_cid"])


def test_revoke_request_and_a_stale_request(ws: Workspace, tmp_path: Path) -> None:
    item, name, holders = registered_item(ws, 2, 1)
    revoke = tmp_path / "revoke.json"
    ws.run("consent", "request", item, "--revoke", "-o", str(revoke))
    cc0 = public_terms(ws.community_id(name), license="CC0-1.0")
    newer = write_terms(tmp_path / "v2.json", cc0)
    set_request = ws.run("consent", "request", item, "--terms", str(newer)).stdout  # to stdout
    (tmp_path / "set.json").write_text(set_request)
    sig = tmp_path / "revoke.sig.json"
    sign(ws, revoke, holders[1], sig)
    set_sig = tmp_path / "set.sig.json"
    sign(ws, tmp_path / "set.json", holders[0], set_sig)

    # Terms change directly on chain: the revoke request (of version 1) is now stale.
    ws.run("consent", "submit", str(tmp_path / "set.json"), str(set_sig))
    before = ws.chain.sent()
    stale = ws.run("consent", "submit", str(revoke), str(sig), check=False)
    assert error_code(stale) == ConsentStale.code
    assert "nothing was sent" in stale.stderr
    assert ws.chain.sent() == before

    fresh = tmp_path / "revoke2.json"
    ws.run("consent", "request", item, "--revoke", "-o", str(fresh))
    sig2 = tmp_path / "revoke2.sig.json"
    sign(ws, fresh, holders[0], sig2)
    assert "revoked terms version 2" in ws.run("consent", "submit", str(fresh), str(sig2)).stdout
    assert ws.json("item", "show", item)["revoked"] is True


def test_bad_files_and_bad_usage_get_one_line_errors(ws: Workspace, tmp_path: Path) -> None:
    item, _, holders = registered_item(ws, 2, 1)
    request = tmp_path / "request.json"
    ws.run("consent", "request", item, "--revoke", "-o", str(request))
    sig = tmp_path / "sig.json"
    sign(ws, request, holders[0], sig)

    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(request.read_bytes()[:100])
    proc = offline(tmp_path / "d", "consent", "status", str(truncated), check=False)
    assert proc.returncode == ConsentFileInvalid.exit_code == 2
    assert error_code(proc) == ConsentFileInvalid.code and "truncated.json" in proc.stderr

    edited = json.loads(sig.read_text())
    edited["terms_version"] = 5
    other = tmp_path / "edited.sig.json"
    other.write_text(json.dumps(edited))
    proc = offline(tmp_path / "d", "consent", "status", str(request), str(other), check=False)
    assert error_code(proc) == "consent_mismatch" and "edited.sig.json" in proc.stderr

    twice = ("consent", "status", str(request), str(sig), str(sig))
    proc = offline(tmp_path / "d", *twice, check=False)
    assert error_code(proc) == "consent_mismatch" and "counts once" in proc.stderr

    # Signing with a key that is not a keyholder's writes nothing.
    stranger = ws.new_keys(1)[0]
    refused = ws.run(
        "consent",
        "sign",
        str(request),
        "--key",
        stranger,
        "--password-file",
        str(ws.password_file),
        "-o",
        str(tmp_path / "stranger.json"),
        "--yes",
        check=False,
    )
    assert error_code(refused) == "consent_mismatch"
    assert not (tmp_path / "stranger.json").exists()
    # Without --yes the signer is asked, and "no" signs nothing.
    declined = run_heritage(
        ["consent", "sign", str(request), "--key", holders[0], "-o",
         str(tmp_path / "declined.json")],
        input="n\n", env={"HERITAGE_DATA_DIR": str(ws.data)},
    )  # fmt: skip
    assert declined.returncode == 2 and "not signed" in declined.stderr
    assert not (tmp_path / "declined.json").exists()

    assert error_code(ws.run("consent", "request", item, check=False)) == "usage_error"
    assert (
        ws.run(
            "consent",
            "sign",
            str(request),
            "--key",
            holders[0],
            "--password-file",
            str(ws.password_file),
            "-o",
            str(sig),
            "--yes",
            check=False,
        ).returncode
        == 2
    )


def test_status_and_submit_agree_when_keyholders_or_threshold_are_edited(
    ws: Workspace, tmp_path: Path
) -> None:
    """The keyholders and threshold in a request file are not what keyholders sign: edited in,
    they must not let `status` (offline) say "ready" while `submit` refuses. Both read them
    against the community's history (here: its creation and a rotation), so both refuse the
    same edited file the same way, and agree on the genuine one at every step."""
    item, name, holders = registered_item(ws, 3, 2)
    newcomer = ws.new_keys(1)[0]
    after = sorted([holders[0], holders[1], newcomer], key=lambda a: int(a, 16))
    ws.run(
        "community",
        "rotate",
        name,
        *(x for a in after for x in ("-k", a)),
        "-t",
        "2",
        "--password-file",
        str(ws.password_file),
    )
    request = tmp_path / "request.json"
    ws.run("consent", "request", item, "--revoke", "-o", str(request))
    genuine = json.loads(request.read_text())
    assert genuine["keyholders"] == after and genuine["threshold"] == 2
    assert genuine["history"]["keyholders"] == holders
    assert [r["keyholders"] for r in genuine["history"]["rotations"]] == [after]
    first = tmp_path / "first.sig.json"
    sign(ws, request, after[0], first)
    attacker = ws.new_keys(1)[0]

    def edited(tag: str, **fields: Any) -> Path:
        path = tmp_path / f"{tag}.json"
        path.write_text(json.dumps({**genuine, **fields}))
        return path

    with_attacker = sorted([*after, attacker], key=lambda a: int(a, 16))
    cases = [
        (edited("added", keyholders=with_attacker, threshold=1), "keyholders were edited"),
        (edited("lowered", threshold=1), "threshold was edited: the file says 1, but "),
        (edited("unrotated", keyholders=holders), "keyholders were edited"),
        (edited("no-history", history=None), "history (the keyholder history"),
    ]
    for path, message in cases:
        before = ws.chain.sent()
        status = offline(tmp_path / "d", "consent", "status", str(path), str(first), check=False)
        submit = ws.run("consent", "submit", str(path), str(first), check=False)
        for proc in (status, submit):
            assert proc.returncode == 2, proc.stderr
            assert error_code(proc) == ConsentFileInvalid.code
            assert message in proc.stderr, proc.stderr
            assert "hint: the file was edited; make a new request" in proc.stderr
        assert status.stderr == submit.stderr  # the same refusal, word for word
        assert ws.chain.sent() == before
    # The attacker cannot sign the file that names them either: `sign` refuses it first.
    refused = ws.run(
        "consent",
        "sign",
        str(cases[0][0]),
        "--key",
        attacker,
        "--password-file",
        str(ws.password_file),
        "-o",
        str(tmp_path / "attacker.sig.json"),
        "--yes",
        check=False,
    )
    assert error_code(refused) == ConsentFileInvalid.code
    assert not (tmp_path / "attacker.sig.json").exists()

    # The genuine file: one signature of two is pending for both, two are complete for both.
    status = offline(tmp_path / "d", "consent", "status", str(request), str(first), check=False)
    submit = ws.run("consent", "submit", str(request), str(first), check=False)
    assert (status.returncode, submit.returncode) == (EXIT_INCOMPLETE, EXIT_INCOMPLETE)
    assert error_code(submit) == ConsentIncomplete.code
    second = tmp_path / "second.sig.json"
    sign(ws, request, after[1], second)
    status = offline(tmp_path / "d", "consent", "status", str(request), str(first), str(second))
    assert status.returncode == 0 and "ready" in status.stdout
    assert (
        f"keyholders of community {genuine['history']['community']} after its creation and 1 "
        "rotation (proven by the request's history" in status.stdout
    )
    submit = ws.run("consent", "submit", str(request), str(first), str(second))
    assert "revoked terms version 1" in submit.stdout


# ---- keyholder rotation and custody, offline ---------------------------------------------------


def sealed_keys(ws: Workspace, count: int) -> list[str]:
    """Keyholders made by `heritage keys new` (each with an encryption key), by address."""
    made = [
        ws.json("keys", "new", "--password-file", str(ws.password_file), "--unsafe-light-kdf")
        for _ in range(count)
    ]
    return sorted((m["address"] for m in made), key=lambda a: int(a, 16))


def sealed_community(ws: Workspace, name: str, n: int, k: int) -> list[str]:
    holders = sealed_keys(ws, n)
    args = ["community", "create", name, "-t", str(k)]
    for holder in holders:
        args += ["-k", holder]
    created = ws.json(*args, "--password-file", str(ws.password_file))
    ws.ids[name] = bytes.fromhex(created["id"][2:])
    return holders


def register_sealed(ws: Workspace, name: str, path: Path) -> str:
    terms = write_terms(path.with_suffix(".terms.json"), restricted_terms(ws.community_id(name)))
    path.write_bytes(b"restricted song " + os.urandom(4000))
    (registered,) = ws.json(
        "item",
        "register",
        str(path),
        "-c",
        name,
        "--terms",
        str(terms),
        "--password-file",
        str(ws.password_file),
    )
    return str(registered["cid"])


def sign_elsewhere(
    ws: Workspace, tmp_path: Path, request: Path, holder: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``holder`` signs on a machine of their own: their keystore file, no chain, no IPFS."""
    home = tmp_path / f"home-{holder}"
    home.mkdir(exist_ok=True)
    settings = load_settings(env={}, data_dir=ws.data, fsync=False)
    keystore = home / "my.keystore.json"
    if not keystore.exists():
        export_key(settings, holder, keystore)
    out = tmp_path / f"{holder}-{request.stem}.sig.json"
    proc = offline(
        home / "data",
        "consent",
        "sign",
        str(request),
        "--key",
        str(keystore),
        "--password-file",
        str(ws.password_file),
        "-o",
        str(out),
        "--yes",
    )
    assert not (home / "data" / "blocks").exists()  # no IPFS node was opened
    return out, proc


def test_rotation_offline_then_a_new_keyholder_decrypts(ws: Workspace, tmp_path: Path) -> None:
    name = unique("rotate-offline")
    a, b, c = sealed_community(ws, name, 3, 2)
    item = register_sealed(ws, name, tmp_path / "old.bin")
    (newcomer,) = sealed_keys(ws, 1)
    request = tmp_path / "rotate.json"
    made = ws.run(
        "consent",
        "request",
        "rotate",
        name,
        "-k",
        a,
        "-k",
        b,
        "-k",
        newcomer,
        "-t",
        "2",
        "--opener",
        a,
        "--password-file",
        str(ws.password_file),
        "-o",
        str(request),
    )
    assert "RotateKeyholders request" in made.stderr and "2 of 3 keyholders" in made.stderr
    document = json.loads(request.read_text())
    assert document["document"]["keyholders"] == sorted([a, b, newcomer], key=lambda x: int(x, 16))
    assert "envelopes" in document["document"]

    sig_c, shown = sign_elsewhere(ws, tmp_path, request, c)
    assert "REPLACE the keyholders" in shown.stderr
    assert f"removed       {c}" in shown.stderr and f"added         {newcomer}" in shown.stderr
    waiting = offline(tmp_path / "d", "consent", "status", str(request), str(sig_c), check=False)
    assert waiting.returncode == EXIT_INCOMPLETE and "nonce 0" in waiting.stdout
    sig_b, _ = sign_elsewhere(ws, tmp_path, request, b)
    offline(tmp_path / "d", "consent", "status", str(request), str(sig_c), str(sig_b))

    before = ws.chain.sent()
    submitted = ws.run("consent", "submit", str(request), str(sig_b), str(sig_c))
    assert "rotated community" in submitted.stdout
    assert ws.chain.sent() == before + 1
    shown_community = ws.json("community", "show", name)
    assert shown_community["keyholders"] == document["document"]["keyholders"]
    assert shown_community["document_cid"] == raw_cid_of_document(document["document"])
    assert shown_community["rotations"] == 1

    pw = str(ws.password_file)
    out = tmp_path / "newcomer.bin"
    ws.run("item", "decrypt", item, "--key", newcomer, "-o", str(out), "--password-file", pw)
    assert out.read_bytes() == (tmp_path / "old.bin").read_bytes()
    after = register_sealed(ws, name, tmp_path / "after.bin")
    refused = ws.run(
        "item",
        "decrypt",
        after,
        "--key",
        c,
        "-o",
        str(tmp_path / "c.bin"),
        "--password-file",
        pw,
        check=False,
    )
    assert error_code(refused) == "decryption_failed" and not (tmp_path / "c.bin").exists()
    # Submitted twice: the nonce moved on, nothing is sent.
    again = ws.run("consent", "submit", str(request), str(sig_b), str(sig_c), check=False)
    assert error_code(again) == ConsentStale.code and ws.chain.sent() == before + 2


def test_transfer_offline_rewraps_for_the_receiver(ws: Workspace, tmp_path: Path) -> None:
    sender, receiver = unique("from"), unique("to")
    a, b, c = sealed_community(ws, sender, 3, 2)
    d, e, f = sealed_community(ws, receiver, 3, 2)
    item = register_sealed(ws, sender, tmp_path / "moving.bin")
    request = tmp_path / "transfer.json"
    ws.run(
        "consent",
        "request",
        "transfer",
        item,
        "--to",
        receiver,
        "--password-file",
        str(ws.password_file),
        "-o",
        str(request),
    )
    sigs = [sign_elsewhere(ws, tmp_path, request, h)[0] for h in (a, c, e)]
    status = offline(
        tmp_path / "d", "consent", "status", str(request), *map(str, sigs), check=False
    )
    assert status.returncode == EXIT_INCOMPLETE
    receiver_id = "0x" + ws.community_id(receiver).hex()
    assert f"receiver {receiver_id}: 1 of 2 needed signatures" in status.stdout
    assert f"    missing  {d}" in status.stdout and f"    missing  {f}" in status.stdout
    before = ws.chain.sent()
    short = ws.run("consent", "submit", str(request), *map(str, sigs), check=False)
    assert error_code(short) == ConsentIncomplete.code and ws.chain.sent() == before

    sigs.append(sign_elsewhere(ws, tmp_path, request, f)[0])
    done = ws.run("consent", "submit", str(request), *map(str, sigs), "--json")
    result = json.loads(done.stdout)
    assert (result["action"], result["to"]) == ("transfer", receiver_id)
    assert ws.json("item", "show", item)["steward"] == receiver_id
    out = tmp_path / "receiver.bin"
    ws.run(
        "item",
        "decrypt",
        item,
        "--key",
        d,
        "-o",
        str(out),
        "--password-file",
        str(ws.password_file),
    )
    assert out.read_bytes() == (tmp_path / "moving.bin").read_bytes()
    gone = ws.run(
        "item",
        "decrypt",
        item,
        "--key",
        b,
        "-o",
        str(tmp_path / "b.bin"),
        "--password-file",
        str(ws.password_file),
        check=False,
    )
    assert error_code(gone) == "decryption_failed"


def test_request_usage_errors(ws: Workspace, tmp_path: Path) -> None:
    item, name, _ = registered_item(ws, 2, 1)
    terms = write_terms(tmp_path / "t.json", public_terms(ws.community_id(name)))
    for args, words in [
        (("rotate", name), "names the keyholders after it"),
        (("frobnicate", item), "is not ITEM, nor ACTION"),
        ((item, "--terms", str(terms), "--to", name), "--to belong to the rotate and custody"),
        (("transfer", item), "needs the receiving community"),
        (("return", item), "not on loan"),
        (("loan", item, "--terms", str(terms), "--to", name), "do not go with loan"),
    ]:
        proc = ws.run("consent", "request", *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr


def test_a_derivative_of_another_communitys_item_with_its_consent_offline(
    ws: Workspace, tmp_path: Path
) -> None:
    item, _, holders = registered_item(ws)
    deriver = unique("deriver")
    _, deriver_holders = ws.community(deriver, 1, 1)
    derived = ws.files(1, "d")[0]
    terms = write_terms(tmp_path / "deriver-terms.json", public_terms(ws.community_id(deriver)))
    method = tmp_path / "method.json"
    method.write_text('{"method": "retopology", "software": "Blender 4.2"}')
    before = ws.chain.sent()
    # Without the holder's consent, `derivative add` refuses and names the way to ask for it.
    refused = ws.run(
        "derivative", "add", item, str(derived), "-c", deriver, "--terms", str(terms),
        "--method", str(method), "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert refused.returncode == ConsentIncomplete.exit_code
    assert "consent request derivative" in refused.stderr
    request = tmp_path / "derive.json"
    made = ws.run(
        "consent", "request", "derivative", item, str(derived), "-c", deriver,
        "--terms", str(terms), "--method", str(method), "-o", str(request),
    )  # fmt: skip
    assert "ConsentDerivative request" in made.stderr
    document: dict[str, Any] = json.loads(request.read_text())
    assert document["keyholders"] == holders  # the parent's steward signs
    assert document["document"] == json.loads(method.read_text())
    signatures = []
    for i, holder in enumerate(holders[:2]):
        out = tmp_path / f"{i}.sig.json"
        signed = sign(ws, request, holder, out)
        assert "CONSENT, as the steward of" in signed.stderr
        signatures.append(str(out))
    # The deriving community's keyholders sign at submit (here: its one keyholder's key).
    result = json.loads(
        ws.run(
            "consent", "submit", str(request), *signatures, "--signer", deriver_holders[0],
            "--password-file", str(ws.password_file), "--json",
        ).stdout
    )  # fmt: skip
    assert ws.chain.sent() == before + 1
    shown = ws.json("item", "show", result["cid"])
    assert shown["kind"] == "derivative"
    assert shown["community"] == "0x" + ws.community_id(deriver).hex()
    assert shown["parent"] == result["parent"]
    verified = ws.run("verify", result["cid"], check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_registration_requested_signed_offline_and_submitted(
    ws: Workspace, tmp_path: Path
) -> None:
    name = unique("register")
    _, holders = ws.community(name, 3, 2)
    terms = write_terms(tmp_path / "terms.json", public_terms(ws.community_id(name)))
    description = tmp_path / "description.json"
    description.write_text(
        json.dumps({"type": "heritage/description", "version": 1, "title": {"en": "Net"}})
    )
    path = ws.files(1)[0]
    request = tmp_path / "request.json"
    before = ws.chain.sent()
    made = ws.run(
        "consent", "request", "register", str(path), "-c", name, "--terms", str(terms),
        "--description", str(description), "-o", str(request),
    )
    assert "RegisterItem request for" in made.stderr and "(a new item)" in made.stderr
    assert ws.chain.sent() == before
    document = json.loads(request.read_text())
    assert document["registration"] == {"encrypted": False}
    assert document["item"] in ws.pins() and document["terms_cid"] in ws.pins()
    assert document["document"]["description"]["title"] == {"en": "Net"}
    sigs = []
    for holder in holders[:2]:
        out = tmp_path / f"{holder}.sig.json"
        shown = sign(ws, request, holder, out)
        assert "REGISTER" in shown.stderr and "encrypted     no" in shown.stderr
        sigs.append(str(out))
    submitted = ws.json("consent", "submit", str(request), *sigs)
    assert submitted["cid"] == document["item"] and ws.chain.sent() == before + 1
    assert ws.json("item", "show", document["item"])["community"] == "0x" + ws.community_id(
        name
    ).hex()
    # usage: the community and the terms are needed; options of other actions are refused
    bad = ws.run("consent", "request", "register", str(path), "--terms", str(terms), check=False)
    assert bad.returncode == 2 and "error[usage_error]" in bad.stderr
    stray = ws.run(
        "consent", "request", "register", str(path), "-c", name, "--terms", str(terms),
        "--revoke", check=False,
    )
    assert stray.returncode == 2 and "--revoke" in stray.stderr


def test_a_derivatives_registration_signed_offline_by_the_deriving_community(
    ws: Workspace, tmp_path: Path
) -> None:
    item, _, holders = registered_item(ws)
    deriver = unique("deriver")
    _, deriver_holders = ws.community(deriver, 1, 1)
    derived = ws.files(1, "d")[0]
    terms = write_terms(tmp_path / "deriver-terms.json", public_terms(ws.community_id(deriver)))
    method = tmp_path / "method.json"
    method.write_text('{"method": "retopology"}')
    request = tmp_path / "derive.json"
    ws.run(
        "consent", "request", "derivative", item, str(derived), "-c", deriver,
        "--terms", str(terms), "--method", str(method), "-o", str(request),
    )  # fmt: skip
    files = []
    for i, holder in enumerate(holders[:2]):
        sign(ws, request, holder, tmp_path / f"{i}.sig.json")
        files.append(str(tmp_path / f"{i}.sig.json"))
    # The deriving keyholder signs the registration offline; submit needs no key then.
    deriving = tmp_path / "deriving.sig.json"
    shown = ws.run(
        "consent", "sign", str(request), "--key", deriver_holders[0], "--deriving",
        "--password-file", str(ws.password_file), "-o", str(deriving), "--yes",
    )  # fmt: skip
    assert "RegisterDerivative: REGISTER" in shown.stderr
    ready = ws.run("consent", "status", str(request), *files, str(deriving))
    assert "ready: submit it" in ready.stdout  # the deriving signature is set apart, not refused
    before = ws.chain.sent()
    result = ws.json("consent", "submit", str(request), *files, str(deriving))
    assert ws.chain.sent() == before + 1
    assert ws.json("item", "show", result["cid"])["kind"] == "derivative"
