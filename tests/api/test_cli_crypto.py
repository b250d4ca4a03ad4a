"""`heritage keys new` (with its encryption key), `item register` of restricted items and
`item decrypt`, run as real processes against the session's anvil and the embedded node."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests import registry_support
from tests.registry_support import Workspace
from tests.rights_support import restricted_terms, write_terms

# The workspace fixtures of test_cli_registry, reused: the session's anvil, a data directory
# of each test's own, and a chain snapshot reverted after each test.
chain = registry_support.chain
ws = registry_support.ws


def _windows(data: bytes, width: int = 48, step: int = 16 * 1024) -> list[bytes]:
    if len(data) <= width:
        return [data]
    return [data[i : i + width] for i in range(0, len(data) - width, step)]


def test_register_restricted_and_decrypt_through_the_cli(ws: Workspace, tmp_path: Path) -> None:
    outputs: list[str] = []

    def run(*args: str, check: bool = True) -> str:
        proc = ws.run(*args, check=check)
        outputs.append(proc.stdout + proc.stderr)
        return proc.stdout + proc.stderr

    pw = str(ws.password_file)
    holders = [
        json.loads(run("keys", "new", "--password-file", pw, "--unsafe-light-kdf", "--json"))
        for _ in range(2)
    ]
    assert all(h["encryption"]["kem"] == "MLKEM768-X25519" for h in holders)
    a, b = (h["address"] for h in holders)
    name = "cli-sealed-" + tmp_path.name
    created = ws.json(
        "community", "create", name, "-k", a, "-k", b, "-t", "1", "--password-file", pw
    )
    community = bytes.fromhex(created["id"][2:])
    big = os.urandom(1 << 20) + b"tail"
    small = b"restricted words " + os.urandom(16).hex().encode()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "big.bin").write_bytes(big)
    (folder / "small.txt").write_bytes(small)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))
    registered = json.loads(
        run(
            "item",
            "register",
            str(folder / "big.bin"),
            "-c",
            name,
            "--terms",
            str(terms),
            "--password-file",
            pw,
            "--json",
        )
    )
    run(
        "item",
        "register",
        str(folder / "small.txt"),
        "-c",
        name,
        "--terms",
        str(terms),
        "--password-file",
        pw,
    )
    cid = registered[0]["cid"]
    shown = run("item", "show", cid, "--json")
    assert "big.bin" not in shown
    human = run("item", "show", cid)
    assert "encrypted:" in human and "big.bin" not in human

    out = tmp_path / "out.bin"
    text = run("item", "decrypt", cid, "--key", b, "-o", str(out), "--password-file", pw)
    assert out.read_bytes() == big
    assert "matches the commitment on chain" in text

    # a backup written by `keys export` opens it too (the keyholder away from this keystore)
    backup = tmp_path / "a-backup.json"
    run("keys", "export", a, "-o", str(backup))
    from_file = tmp_path / "from-file.bin"
    run("item", "decrypt", cid, "--key", str(backup), "-o", str(from_file), "--password-file", pw)
    assert from_file.read_bytes() == big
    bogus = ws.run(
        "item",
        "decrypt",
        cid,
        "--key",
        "nothing-here",
        "-o",
        str(tmp_path / "n"),
        "--password-file",
        pw,
        check=False,
    )
    assert bogus.returncode == 2 and "neither an address nor a key file" in bogus.stderr

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    failed = ws.run(
        "item",
        "decrypt",
        cid,
        "--key",
        a,
        "-o",
        str(tmp_path / "no"),
        "--password-file",
        str(wrong),
        check=False,
    )
    outputs.append(failed.stdout + failed.stderr)
    assert failed.returncode == 1 and "error[wrong_passphrase]" in failed.stderr
    assert not (tmp_path / "no").exists()
    again = ws.run(
        "item", "decrypt", cid, "--key", a, "-o", str(out), "--password-file", pw, check=False
    )
    assert again.returncode == 2 and "already exists" in again.stderr

    everything = "\n".join(outputs)
    for secret in (big, small):
        for window in _windows(secret):
            assert window.hex() not in everything
            assert window.decode("latin-1") not in everything
