"""`heritage verify`, `heritage item proof` and `heritage item export`, run as real processes
against the session's anvil and each test's own embedded IPFS node: every exit status, with
each ``--json`` output validated against the published schema."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ledger import consent
from ledger.chain import claim_key
from ledger.crypto import KEM_X25519
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_file
from ledger.keys import new_key
from ledger.settings import load_settings
from ledger.verify import load_schema, parse_proofs
from tests.chain_support import free_port
from tests.cli_runner import run_heritage
from tests.kubo_reference import run_kubo_reference
from tests.ledger.test_verify import _resign, decode_call_data, encode_register_item
from tests.registry_support import (
    CLI_PASSPHRASE,
    HERITAGE,
    TermsFile,
    Workspace,
    chain,
    terms,
    ws,
)
from tests.rights_support import restricted_terms, write_terms

#: The registry CLI tests' fixtures (the module's chain, a workspace, terms files), reused.
REUSED_FIXTURES = (chain, terms, ws)


def cid_of(path: Path) -> str:
    return str(import_file(path, ImportOptions(cid_version=1)).cid)


def verify(ws: Workspace, *args: str, rpc_url: str | None = None) -> tuple[int, Any, str]:
    """Run `heritage verify ARGS --json`: (exit status, the report, stderr); the report is
    checked against the schema."""
    proc = run(ws, "verify", *args, "--json", rpc_url=rpc_url)
    report = json.loads(proc.stdout)
    jsonschema.validate(report, load_schema("verify-report"))
    assert report["exit_code"] == proc.returncode
    return proc.returncode, report, proc.stderr


def run(ws: Workspace, *args: str, rpc_url: str | None = None) -> subprocess.CompletedProcess[str]:
    if rpc_url is None:
        return ws.run(*args, check=False)
    proc = run_heritage(args, env=ws.env(HERITAGE_RPC_URL=rpc_url))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def registered(ws: Workspace, terms: TermsFile, name: str, count: int = 1) -> list[Path]:
    ws.community(name)
    files = ws.files(count, tag=name)
    ws.run(
        "item",
        "register",
        *map(str, files),
        "-c",
        name,
        "--terms",
        str(terms(name)),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    return files


def test_every_online_status(ws: Workspace, terms: TermsFile, tmp_path: Path) -> None:
    files = registered(ws, terms, "online", 3)
    status, report, _ = verify(ws, str(files[0]))
    assert status == 0 and report["status"] == "verified"
    assert report["item"]["cid"] == cid_of(files[0]) and report["content"]["matches"]
    human = run(ws, "verify", str(files[0]))
    assert human.returncode == 0 and human.stdout.startswith("verified: ")

    stranger = tmp_path / "stranger.bin"
    stranger.write_bytes(os.urandom(1000))
    status, report, _ = verify(ws, str(stranger))
    assert status == 13
    assert report == {
        "type": "heritage/verify-report",
        "version": 2,
        "status": "unknown",
        "exit_code": 13,
        "summary": "unknown",
        "source": "chain",
        "snapshot_block": None,
        "content": None,
        "item": None,
        "claims": [],
        "other_claims": [],
        "expected_communities": [],
        "problems": [],
    }
    assert run(ws, "verify", cid_of(stranger)).stdout == "unknown\n"

    changed = tmp_path / "changed.txt"
    changed.write_bytes(files[1].read_bytes() + b"!")
    status, report, _ = verify(ws, str(changed), "--expect", cid_of(files[1]))
    assert status == 12 and report["content"]["expected_cid"] == cid_of(files[1])

    ws.run("terms", "revoke", cid_of(files[1]), "--password-file", str(ws.password_file))
    status, report, _ = verify(ws, str(files[1]))
    assert status == 11 and report["item"]["terms"]["revoked"] is True

    newcomers = ws.new_keys(2)
    ws.run(
        "community",
        "rotate",
        "online",
        "-k",
        newcomers[0],
        "-k",
        newcomers[1],
        "-t",
        "1",
        "--password-file",
        str(ws.password_file),
    )
    status, report, _ = verify(ws, str(files[2]))
    assert status == 10 and report["item"]["signatures"]["keyholders_changed"] is True
    assert report["item"]["signatures"]["current_keyholders"] == newcomers


def test_proofs_verify_with_the_chain_unreachable_and_a_forgery_fails(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    files = registered(ws, terms, "offline", 2)
    proofs = tmp_path / "proofs.json"
    made = run(ws, "item", "proof", cid_of(files[0]), cid_of(files[1]), "-o", str(proofs), "--json")
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    document = json.loads(proofs.read_text())
    assert answer["path"] == str(proofs) and len(answer["claims"]) == 2
    assert answer["claims"] == document["claims"]
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert run(ws, "chain", "status", rpc_url=closed).returncode == 3
    down = run(ws, "verify", str(files[1]), rpc_url=closed)  # online, with no chain: exit 3
    assert down.returncode == 3 and "error[chain_unavailable]" in down.stderr
    status, report, _ = verify(ws, "--proofs", str(proofs), str(files[1]), rpc_url=closed)
    assert status == 0 and report["source"] == "proofs"
    assert report["item"]["cid"] == cid_of(files[1])
    changed = tmp_path / "changed.txt"
    changed.write_bytes(b"not it")
    # A file that matches no proof in the file is unknown; against a named CID, tampered.
    status, report, _ = verify(ws, "--proofs", str(proofs), str(changed), rpc_url=closed)
    assert status == 13 and report["status"] == "unknown" and report["item"] is None
    status, report, _ = verify(
        ws, "--proofs", str(proofs), str(changed), "--expect", cid_of(files[1]), rpc_url=closed
    )
    assert status == 12 and report["content"]["expected_cid"] == cid_of(files[1])
    status, report, _ = verify(ws, "--proofs", str(proofs), cid_of(changed), rpc_url=closed)
    assert status == 13 and report["item"] is None

    document = json.loads(proofs.read_text())
    strangers = [bytes.fromhex("11" * 32), bytes.fromhex("22" * 32)]

    def forge(data: bytes) -> bytes:
        call = decode_call_data(data)
        typed = consent.TypedData(
            consent.Domain(document["chain"]["chain_id"], document["chain"]["registry"]),
            "RegisterItem",
            {
                **{k: call[k] for k in ("community", "cid", "metadata", "terms", "commitment")},
                "deadline": call["deadline"],
            },
        )
        signed = []
        for key in strangers:
            from eth_account import Account

            signed.append((Account.from_key(key).address, consent.sign(typed, key)))
        return encode_register_item(call, consent.pack_signatures(signed))

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(_resign(document, forge)))
    status, report, _ = verify(ws, "--proofs", str(forged), str(files[0]), rpc_url=closed)
    assert status == 14 and report["status"] == "signature-failure"
    assert report["problems"]

    # Hostile proofs files: clear one-line errors, 2 for what cannot be read, 1 for a lie.
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    proc = run(ws, "verify", "--proofs", str(bad_json), str(files[0]), rpc_url=closed)
    assert proc.returncode == 2 and "error[evidence_malformed]" in proc.stderr
    edited = dict(document)
    edited["chain"] = {**document["chain"], "chain_id": 1}
    lie = tmp_path / "lie.json"
    lie.write_text(json.dumps(edited))
    proc = run(ws, "verify", "--proofs", str(lie), str(files[0]), rpc_url=closed)
    assert proc.returncode == 1 and "error[evidence_invalid]" in proc.stderr
    assert "seal" in proc.stderr
    parse_proofs(document)  # the original is untouched and still holds


def test_export_a_bag_validate_it_and_verify_it(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    (path,) = registered(ws, terms, "bagged")
    bag = tmp_path / "bag"
    made = run(ws, "item", "export", cid_of(path), "-o", str(bag), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["cid"] == cid_of(path)
    check = subprocess.run(
        [str(HERITAGE.parent / "bagit.py"), "--validate", str(bag)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr
    status, report, _ = verify(ws, str(bag))
    assert status == 0 and report["source"] == "bag" and report["content"]["matches"]
    content = bag / "data" / "content" / cid_of(path)
    content.write_bytes(content.read_bytes()[:-1])
    status, report, _ = verify(ws, str(bag))
    assert status == 12 and report["status"] == "tampered"
    proc = run(ws, "verify", str(bag), "--expect", cid_of(path))
    assert proc.returncode == 2 and "error[usage_error]" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("not-a-file-nor-a-cid",),
        ("bafkreiaaaa", "--expect", "bafkreibbbb"),
    ],
)
def test_usage_errors_exit_2(ws: Workspace, args: tuple[str, ...]) -> None:
    proc = run(ws, "verify", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error[")


@pytest.mark.parametrize("with_proofs", [False, True])
def test_a_missing_file_says_so_and_an_empty_argument_is_a_usage_error(
    ws: Workspace, tmp_path: Path, with_proofs: bool
) -> None:
    """PATH_OR_CID is a CID when it parses as one, else a path: a path that names nothing is
    `no such file` (exit 2), never `not a CID`; an empty argument is a usage error, not the
    current folder taken for a bag."""
    proofs = tmp_path / "proofs.json"
    proofs.write_text("{}")  # never read: the argument is refused first
    extra = ("--proofs", str(proofs)) if with_proofs else ()
    cwd = tmp_path / "here"
    cwd.mkdir()
    (cwd / "bag-info.txt").write_text("Heritage-CID: bafkreiaaaa\n")  # a folder, as `""` was
    for target in ("nope.ply", str(tmp_path / "absent" / "scan.ply")):
        proc = run_in(ws, cwd, "verify", *extra, target)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error[no_such_file]: no such file: {target}"), proc.stderr
        assert "(hint: " in proc.stderr and "CID" not in proc.stderr.split(" (hint: ")[0]
        assert proc.stdout == ""
    for empty in ("", "  "):
        proc = run_in(ws, cwd, "verify", *extra, empty)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error[usage_error]: PATH_OR_CID is empty"), proc.stderr
        assert proc.stdout == ""


def test_a_cid_argument_is_looked_up_as_a_cid(ws: Workspace, tmp_path: Path) -> None:
    """Something that parses as a CID (or a 0x item key) is never taken for a missing file."""
    stranger = tmp_path / "stranger.bin"
    stranger.write_bytes(os.urandom(100))
    for target in (cid_of(stranger), "0x" + "ab" * 32):
        proc = run_in(ws, tmp_path, "verify", target)
        assert (proc.returncode, proc.stdout) == (13, "unknown\n"), proc.stderr


def run_in(ws: Workspace, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`heritage ARGS` run from ``cwd`` (relative paths are the user's)."""
    proc = run_heritage(args, env=ws.env(), cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_an_unreachable_chain_exits_3_with_a_clear_message(ws: Workspace, tmp_path: Path) -> None:
    """Online verification reads the chain beside the hashing: with nothing listening, every
    form (a file, a file --expect, a CID) ends with exit 3 (chain unavailable, as every other
    command that needs the chain) and one clear line, no hang."""
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(6_000_000))
    closed = f"http://127.0.0.1:{free_port()}"
    for args in ((str(large),), (str(large), "--expect", cid_of(large)), (cid_of(large),)):
        proc = run(ws, "verify", *args, rpc_url=closed)
        assert proc.returncode == 3, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.startswith(f"error[chain_unavailable]: no chain answers at {closed}")
        assert "start the chain, or verify offline with --proofs FILE" in proc.stderr


def test_a_file_added_with_another_chunk_size_needs_it_again(
    ws: Workspace, terms: TermsFile
) -> None:
    """Registered with 1 MiB chunks, a bare file gives another CID with the default 256 KiB:
    unknown, with a hint; with --chunk-size it is found, under the CID the JS reference
    importer gives for `ipfs add --cid-version=1 --chunker=size-1048576`."""
    ws.community("chunks")
    path = ws.data.parent / "three-mib.bin"
    path.write_bytes(os.urandom(3 << 20))
    ws.run(
        "item",
        "register",
        str(path),
        "-c",
        "chunks",
        "--terms",
        str(terms("chunks")),
        "--chunk-size",
        "1048576",
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    status, _, _ = verify(ws, str(path))
    assert status == 13
    human = run(ws, "verify", str(path))
    assert human.returncode == 13 and "--chunk-size" in human.stdout
    status, report, _ = verify(ws, str(path), "--chunk-size", "1048576")
    assert status == 0 and report["content"]["matches"]
    (big,) = run_kubo_reference(["--cid-version", "1", "--chunk-size", "1048576"], [path])
    assert report["item"]["cid"] == big != cid_of(path)
    for extra in (["--expect", big], ["--chunk-size", "0"]):
        proc = run(ws, "verify", str(path), "--chunk-size", "1048576", *extra)
        assert proc.returncode == 2, proc.stderr


# ---- issue 10: every claim on the content ---------------------------------------------------


def named_files(ws: Workspace, *names: str) -> list[Path]:
    folder = ws.data.parent / f"named-{os.urandom(4).hex()}"
    folder.mkdir()
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(f"{name} {os.urandom(16).hex()}\n".encode())
        paths.append(path)
    return paths


def register_as(ws: Workspace, terms: TermsFile, community: str, *paths: Path) -> Any:
    """`heritage item register PATHS -c COMMUNITY --json`: its entries."""
    return json.loads(
        ws.run(
            "item",
            "register",
            *map(str, paths),
            "-c",
            community,
            "--terms",
            str(terms(community)),
            "--password-file",
            str(ws.password_file),
            "--json",
        ).stdout
    )


def claim_hex(ws: Workspace, community: str, path: Path) -> str:
    return "0x" + claim_key(ws.community_id(community), bytes(Cid.parse(cid_of(path)))).hex()


def test_a_batch_takeover_is_a_dispute_and_a_revocation_stays(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    """Issue 10, reproduction 1: Mallory claims a file of Aroha's batch, then a file Aroha
    revoked. Neither claim makes Mallory's the answer about Aroha's bytes."""
    aroha, _ = ws.community("Aroha")
    mallory, _ = ws.community("Mallory", 2, 1)
    a, b = named_files(ws, "a.txt", "b.txt")
    ws.run(
        "item",
        "register",
        str(a),
        str(b),
        "-c",
        "Aroha",
        "--terms",
        str(terms("Aroha")),
        "--batch",
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    # Content another community claims registers all the same, naming the other claims.
    (taken,) = register_as(ws, terms, "Mallory", a)
    assert taken["item"] == claim_hex(ws, "Mallory", a)
    assert taken["other_claims"] == [
        {"item": claim_hex(ws, "Aroha", a), "community": aroha, "kind": "batch-item"}
    ]

    status, report, _ = verify(ws, str(a))
    assert status == 15 and report["status"] == "disputed" and report["item"] is None
    assert [c["community"] for c in report["claims"]] == [aroha, mallory]
    assert [c["community_name"] for c in report["claims"]] == ["Aroha", "Mallory"]
    assert report["claims"][0]["kind"] == "batch-item"
    human = run(ws, "verify", str(a))
    assert human.returncode == 15 and human.stdout.startswith("disputed: ")
    assert f"first by {aroha} (Aroha)" in human.stdout

    status, report, _ = verify(ws, str(a), "--community", "Aroha")
    assert status == 0 and report["status"] == "verified"
    assert report["item"]["community"] == aroha == report["item"]["steward"]
    assert report["item"]["item"] == claim_hex(ws, "Aroha", a)
    assert [c["community"] for c in report["other_claims"]] == [mallory]
    human = run(ws, "verify", str(a), "-c", "Aroha")
    assert human.returncode == 0 and "1 other claim(s) on these bytes" in human.stdout
    # Each claim on a line of its own, the one judged marked.
    lines = [line for line in human.stdout.splitlines() if line.startswith("  claim ")]
    assert lines[0].startswith(f"  claim * {claim_hex(ws, 'Aroha', a)}: batch-item by {aroha}")
    assert lines[1].startswith(f"  claim - {claim_hex(ws, 'Mallory', a)}: item by {mallory}")
    assert lines[1].endswith(f"steward {mallory} (Mallory): verified")
    status, report, _ = verify(ws, str(a), "--community", mallory)
    assert status == 0 and report["item"]["community"] == mallory
    status, report, _ = verify(ws, str(a), "--community", "0x" + "07" * 32)
    assert status == 13 and report["status"] == "no-claim" and len(report["claims"]) == 2

    # Offline, the proofs of the CID carry both claims and their communities.
    proofs = tmp_path / "proofs.json"
    made = run(ws, "item", "proof", cid_of(a), "-o", str(proofs))
    assert made.returncode == 0, made.stderr
    written = json.loads(proofs.read_text())
    assert written["version"] == 2
    assert written["claims"] == [claim_hex(ws, "Aroha", a), claim_hex(ws, "Mallory", a)]
    assert [i["community"] for i in written["items"]] == [aroha, mallory]
    closed = f"http://127.0.0.1:{free_port()}"
    status, report, _ = verify(ws, "--proofs", str(proofs), str(a), rpc_url=closed)
    assert status == 15
    status, report, _ = verify(
        ws, "--proofs", str(proofs), str(a), "--community", "Aroha", rpc_url=closed
    )
    assert status == 0 and report["item"]["community"] == aroha
    status, report, _ = verify(ws, "--proofs", str(proofs), str(b), rpc_url=closed)
    assert status == 13 and report["status"] == "unknown"  # not in the proofs: not tampered

    # Aroha revokes b.txt; Mallory's later claim on it is a claim of its own.
    ws.run("terms", "revoke", claim_hex(ws, "Aroha", b), "--password-file", str(ws.password_file))
    status, report, _ = verify(ws, str(b))
    assert status == 11
    noted = ws.run(
        "item", "register", str(b), "-c", "Mallory", "--terms", str(terms("Mallory")),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert noted.stderr.startswith(f"note: {cid_of(b)} is also claimed by other communities")
    assert claim_hex(ws, "Aroha", b) in noted.stderr
    status, report, _ = verify(ws, str(b))
    assert status == 15 and [c["status"] for c in report["claims"]] == ["revoked", "verified"]
    status, report, _ = verify(ws, str(b), "--community", "Aroha")
    assert status == 11 and report["item"]["terms"]["revoked"] is True
    assert report["item"]["community"] == aroha
    assert [c["community"] for c in report["other_claims"]] == [mallory]
    status, report, _ = verify(ws, str(b), "--community", "Mallory")
    assert status == 0 and report["item"]["community"] == mallory

    # Commands that act on one claim: with two on the CID, they refuse and list both, until
    # -c picks one; then they act on that community's claim alone.
    shown = run(ws, "item", "show", cid_of(b))
    assert shown.returncode == 2 and "error[ambiguous_claim]" in shown.stderr
    assert claim_hex(ws, "Aroha", b) in shown.stderr and claim_hex(ws, "Mallory", b) in shown.stderr
    mine = json.loads(run(ws, "item", "show", cid_of(b), "-c", "Mallory", "--json").stdout)
    assert (mine["item"], mine["revoked"]) == (claim_hex(ws, "Mallory", b), False)
    bag = tmp_path / "arohas-bag"
    exported = run(ws, "item", "export", cid_of(b), "-c", "Aroha", "-o", str(bag), "--json")
    assert exported.returncode == 0, exported.stderr
    assert run(ws, "verify", str(bag), "-c", "Aroha").returncode == 11  # its claim: revoked


def test_a_derivative_of_a_revoked_parent_exits_16(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    """Issue 10, reproduction 3: after the parent is revoked its derivative never verifies."""
    aroha, _ = ws.community("Aroha")
    c, d = named_files(ws, "c.txt", "d.txt")
    register_as(ws, terms, "Aroha", c)
    method = tmp_path / "method.json"
    method.write_text('{"method": "restoration", "software": "GIMP 2.10"}')
    ws.run(
        "derivative",
        "add",
        cid_of(c),
        str(d),
        "-c",
        "Aroha",
        "--terms",
        str(terms("Aroha")),
        "--method",
        str(method),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    status, report, _ = verify(ws, str(d))
    assert status == 0
    derivation = report["item"]["derivation"]
    assert derivation["parent"]["item"] == claim_hex(ws, "Aroha", c)
    assert derivation["parent_steward"] == aroha and derivation["ai_enhanced"] is False
    ws.run("terms", "revoke", cid_of(c), "--password-file", str(ws.password_file))
    status, report, _ = verify(ws, str(d))
    assert status == 16 and report["status"] == "parent-revoked"
    assert report["item"]["derivation"]["parent_revoked"] is True
    human = run(ws, "verify", str(d))
    assert human.returncode == 16 and human.stdout.startswith("parent revoked: ")


def test_a_keyholder_verifies_its_restricted_original(ws: Workspace, tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=ws.data, fsync=False)
    holders = sorted(
        (
            new_key(settings, CLI_PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            for _ in range(2)
        ),
        key=lambda h: int(h, 16),
    )
    created = ws.json(
        "community",
        "create",
        "Sealed",
        "-k",
        holders[0],
        "-k",
        holders[1],
        "-t",
        "1",
        "--password-file",
        str(ws.password_file),
    )
    community = bytes.fromhex(created["id"][2:])
    restricted = write_terms(tmp_path / "restricted.json", restricted_terms(community))
    (song,) = named_files(ws, "song.txt")
    ws.run(
        "item",
        "register",
        str(song),
        "-c",
        "Sealed",
        "--terms",
        str(restricted),
        "--password-file",
        str(ws.password_file),
        "--json",
    )
    plain = cid_of(song)
    status, report, _ = verify(ws, str(song))
    assert status == 13 and plain not in json.dumps(report)
    status, report, _ = verify(
        ws, str(song), "--key", holders[1], "--password-file", str(ws.password_file)
    )
    assert status == 0 and report["status"] == "verified"
    assert report["item"]["encrypted"] is True and report["item"]["cid"] != plain
    assert report["content"]["expected_from"] == "commitment" and report["content"]["matches"]
    # With only the passphrase, every key of the keystore it opens is tried.
    status, _, _ = verify(ws, str(song), "--password-file", str(ws.password_file))
    assert status == 0
    other = tmp_path / "other.txt"
    other.write_bytes(song.read_bytes() + b"!")
    status, report, _ = verify(
        ws, str(other), "--key", holders[1], "--password-file", str(ws.password_file)
    )
    assert status == 13 and report["item"] is None
