"""What a newcomer trying the registry commands met, fixed: keyholders with their own
passphrases, `item show` in words (terms, an open loan, "withdrawn"), `item history` by
CIDs, and registration saying when an item was encrypted. Real anvil and embedded node."""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import subprocess
import uuid
from pathlib import Path

from ledger.documents import canonical_json
from ledger.ipfs.cid import RAW, Cid
from ledger.keys import new_key
from ledger.settings import load_settings
from tests import registry_support
from tests.registry_support import HERITAGE, Workspace
from tests.rights_support import public_terms, restricted_terms, write_terms

chain = registry_support.chain
ws = registry_support.ws

ONE_LINE_ERROR = re.compile(r"^error\[([a-z_]+)\]: [^\n]+ \(hint: [^\n]+\)\n\Z")


def document_cid(document: object) -> str:
    """CIDv1(raw, sha2-256) of the RFC 8785 bytes: how the README says documents are named."""
    return str(Cid.from_digest(hashlib.sha256(canonical_json(document)).digest(), RAW))


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def test_keyholders_with_their_own_passphrases_each_get_a_password_file(
    ws: Workspace, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=ws.data, fsync=False)
    secrets = {"alice": "alice's own words", "bob": "bob keeps another"}
    files = {}
    keys = {}
    for who, secret in secrets.items():
        keys[who] = new_key(settings, secret, unsafe_light_kdf=True).address
        files[who] = tmp_path / f"{who}.pw"
        files[who].write_text(secret + "\n")
    name = unique("two-passphrases")
    base = ["community", "create", name, "-k", keys["alice"], "-k", keys["bob"], "-t", "2"]
    before = ws.chain.sent()

    # One file for both: refused, naming whose key it did not open and the way to do it.
    shared = ws.run(*base, "--password-file", str(files["alice"]), check=False)
    assert shared.returncode == 1
    match = ONE_LINE_ERROR.match(shared.stderr)
    assert match is not None and match.group(1) == "wrong_passphrase", shared.stderr
    assert f"does not open the key of keyholder {keys['bob']}" in shared.stderr
    assert str(files["alice"]) in shared.stderr
    assert "--signer ADDRESS --password-file FILE` once per keyholder" in shared.stderr
    assert ws.chain.sent() == before

    # One --password-file per --signer, in the same order: created.
    created = ws.json(
        *base,
        "--signer", keys["bob"], "--password-file", str(files["bob"]),
        "--signer", keys["alice"], "--password-file", str(files["alice"]),
    )  # fmt: skip
    assert created["threshold"] == 2
    # The README says so where it shows `community create`.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "one `--password-file` per `--signer`" in readme


def test_item_show_and_history_in_words(ws: Workspace, tmp_path: Path) -> None:
    name = unique("lender")
    community, _ = ws.community(name)
    document = public_terms(bytes.fromhex(community[2:]))  # CC BY 4.0, TK Attribution
    terms = write_terms(tmp_path / "terms.json", document)
    (path,) = ws.files(1, "w")
    pw = ["--password-file", str(ws.password_file)]
    (entry,) = ws.json("item", "register", str(path), "-c", name, "--terms", str(terms), *pw)
    assert entry["encrypted"] is False

    text = ws.run("item", "show", entry["cid"]).stdout
    # The names the SPDX License List and Local Contexts publish, not our ids alone.
    assert "license: Creative Commons Attribution 4.0 International (CC-BY-4.0)" in text
    assert "label: TK Attribution (TK A)" in text
    assert "access: public" in text
    assert f"community   {community} ({name})" in text
    assert "on loan" not in text
    shown = ws.json("item", "show", entry["cid"])
    assert shown["terms_in_words"]["labels"] == [
        {"id": "tk:attribution", "name": "TK Attribution", "code": "TK A"}
    ]
    assert shown["loan"] is None and shown["metadata_withdrawn"] is False

    borrower = "0x" + os.urandom(32).hex()  # an institution that is no community
    ws.json("custody", "loan", entry["cid"], "--to", borrower, *pw)
    text = ws.run("item", "show", entry["cid"]).stdout
    assert re.search(rf"on loan +to {borrower} since \d{{4}}-\d\d-\d\d ", text), text
    assert ws.json("item", "show", entry["cid"])["loan"]["borrower"] == borrower
    ws.json("custody", "return", entry["cid"], *pw)
    assert "on loan" not in ws.run("item", "show", entry["cid"]).stdout

    history = ws.run("item", "history", entry["cid"]).stdout
    assert f"terms={document_cid(document)}" in history
    assert "terms=0x" not in history and "document=0x" not in history
    registered = ws.json("item", "history", entry["cid"])[0]
    assert registered["cids"]["terms"] == document_cid(document)

    # Revoked: the metadata line says "withdrawn" instead of vanishing.
    ws.json("terms", "revoke", entry["cid"], *pw)
    text = ws.run("item", "show", entry["cid"]).stdout
    assert "REVOKED" in text
    metadata_at = text.index("  metadata    ")
    assert "withdrawn" in text[metadata_at:], text
    assert ws.json("item", "show", entry["cid"])["metadata_withdrawn"] is True


def test_registration_says_when_an_item_was_encrypted(ws: Workspace, tmp_path: Path) -> None:
    pw = str(ws.password_file)
    holders = [
        ws.json("keys", "new", "--password-file", pw, "--unsafe-light-kdf")["address"]
        for _ in range(2)
    ]
    name = unique("sealed")
    created = ws.json(
        "community", "create", name, "-k", holders[0], "-k", holders[1], "-t", "1",
        "--password-file", pw,
    )  # fmt: skip
    terms = write_terms(tmp_path / "t.json", restricted_terms(bytes.fromhex(created["id"][2:])))
    first, second = ws.files(2, "s")
    (entry,) = ws.json("item", "register", str(first), "-c", name, "--terms", str(terms),
                       "--password-file", pw)  # fmt: skip
    assert entry["encrypted"] is True
    line = ws.run("item", "register", str(second), "-c", name, "--terms", str(terms),
                  "--password-file", pw).stdout  # fmt: skip
    assert line.startswith("registered ") and "(encrypted: only ciphertext" in line
    assert json.loads(ws.run("ipfs", "pins", "--json").stdout)  # the node holds something


def test_index_sync_says_when_there_is_nothing_new(ws: Workspace) -> None:
    ws.community(unique("indexed"))
    ws.run("index", "sync")
    head = ws.chain.w3().eth.block_number
    again = ws.run("index", "sync")
    assert again.stdout == f"up to date at block {head}\n"
    assert ".." not in again.stdout


def test_derivative_method_follows_its_documented_schema(ws: Workspace, tmp_path: Path) -> None:
    name = unique("deriving")
    community, _ = ws.community(name)
    terms = write_terms(tmp_path / "t.json", public_terms(bytes.fromhex(community[2:])))
    parent, derived = ws.files(2, "d")
    pw = ["--password-file", str(ws.password_file)]
    (entry,) = ws.json("item", "register", str(parent), "-c", name, "--terms", str(terms), *pw)
    # The schema docs/derivatives.md documents: `method` required, nothing unknown.
    documented = (Path(__file__).resolve().parents[2] / "docs" / "derivatives.md").read_text()
    assert "ledger/schemas/derivative-method.schema.json" in documented
    before = ws.chain.sent()
    for bad in ("{}", '{"method": "photogrammetry", "price": 3}', "[]", "not json"):
        method = tmp_path / "method.json"
        method.write_text(bad)
        proc = ws.run(
            "derivative", "add", entry["cid"], str(derived), "-c", name, "--terms", str(terms),
            "--method", str(method), *pw, check=False,
        )  # fmt: skip
        assert proc.returncode == 2, (bad, proc.stderr)
        assert ONE_LINE_ERROR.match(proc.stderr), proc.stderr
        assert ws.chain.sent() == before


def _stderr_on_a_terminal(ws: Workspace, *args: str) -> str:
    """``heritage ARGS`` as a real process whose stderr is a terminal (a pty): what it draws."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env |= ws.env() | {"COLUMNS": "120"}
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(HERITAGE), *args], env=env, stdout=subprocess.PIPE, stderr=follower
    )
    os.close(follower)
    seen = b""
    while select.select([leader], [], [], 60)[0]:
        try:
            piece = os.read(leader, 65536)
        except OSError:
            break
        if not piece:
            break
        seen += piece
    os.close(leader)
    assert proc.wait(timeout=120) == 0, seen
    assert proc.stdout is not None
    proc.stdout.close()
    return seen.decode("utf-8", "replace")


def test_encrypted_registration_shows_its_progress_on_a_terminal(
    ws: Workspace, tmp_path: Path
) -> None:
    pw = str(ws.password_file)
    holder = ws.json("keys", "new", "--password-file", pw, "--unsafe-light-kdf")["address"]
    name = unique("shown")
    created = ws.json("community", "create", name, "-k", holder, "-t", "1", "--password-file", pw)
    terms = write_terms(tmp_path / "t.json", restricted_terms(bytes.fromhex(created["id"][2:])))
    register = ["item", "register", "-c", name, "--terms", str(terms), "--password-file", pw]
    shown = _stderr_on_a_terminal(ws, *register, *map(str, ws.files(3, "e")))
    assert "encrypting" in shown and "3/3" in shown
    assert f"unlocking the key of {holder}" in shown
    assert _stderr_on_a_terminal(ws, *register, *map(str, ws.files(2, "q")), "--json") == ""
