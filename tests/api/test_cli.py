"""The `heritage` command line against a real data directory: run in-process
(tests/cli_runner.py), and as a real process where the process itself is under test (`ipfs
serve`, what importing the CLI loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_heritage
from tests.kubo_reference import run_kubo_reference

HERITAGE = Path(sys.executable).parent / "heritage"
REPO = Path(__file__).resolve().parents[2]
# Kubo's published outputs (`ipfs add` of these bytes), not ours.
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"HERITAGE_DATA_DIR": str(data_dir), "HERITAGE_FSYNC": "false"}
    proc = run_heritage(args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def js_reference(*args: str) -> list[str]:
    *flags, path = args
    return run_kubo_reference(flags, [Path(path)])


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world\n")
    return path


def test_cid_prints_kubos_cid_and_nothing_else(tmp_path: Path, hello: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert run(tmp_path / "d", "cid", str(hello)).stdout == HELLO_V0 + "\n"
    assert run(tmp_path / "d", "cid", str(empty)).stdout == EMPTY_V0 + "\n"
    # Only hashing: nothing was stored.
    assert not (tmp_path / "d" / "blocks").exists()


def test_cid_json_names_the_import_settings(tmp_path: Path, hello: Path) -> None:
    answer = json.loads(run(tmp_path / "d", "cid", "--json", str(hello)).stdout)
    # The size is the DAG's (Kubo's "Size"): 12 bytes of data in a 20-byte leaf node.
    assert answer == {
        "cid": HELLO_V0,
        "name": "hello.txt",
        "size": 20,
        "cid_version": 0,
        "raw_leaves": False,
    }
    v1 = json.loads(run(tmp_path / "d", "cid", "--json", "--cid-version", "1", str(hello)).stdout)
    assert v1["cid_version"] == 1 and v1["raw_leaves"] is True  # Kubo's default for CIDv1
    assert v1["cid"] == js_reference("--cid-version", "1", str(hello))[0]


def test_pin_and_unpin_json_and_a_bad_cid_pins_nothing(tmp_path: Path, hello: Path) -> None:
    data = tmp_path / "data"
    run(data, "ipfs", "add", "--no-pin", "-q", str(hello))
    bad = run(data, "ipfs", "pin", HELLO_V0, "not-a-cid", check=False)
    assert bad.returncode == 2 and "error[invalid_cid]" in bad.stderr
    assert json.loads(run(data, "ipfs", "pins", "--json").stdout) == {}  # not even the first
    pinned = json.loads(run(data, "ipfs", "pin", "--json", HELLO_V0).stdout)
    assert pinned == [{"cid": HELLO_V0, "pin": "recursive"}]
    unpinned = json.loads(run(data, "ipfs", "unpin", "--json", HELLO_V0).stdout)
    assert unpinned == [{"cid": HELLO_V0, "unpinned": "recursive"}]
    assert json.loads(run(data, "ipfs", "pins", "--json").stdout) == {}


def test_cid_of_a_directory_matches_the_reference_importer(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a" * 1000)
    (tree / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (tree / "sub" / "deeper" / "c").write_bytes(b"")
    for flags in ([], ["--cid-version", "1"], ["--cid-version", "1", "--no-raw-leaves"]):
        ours = run(tmp_path / "d", "cid", str(tree), *flags).stdout.strip()
        assert [ours] == js_reference(*flags, str(tree)), flags


def test_add_cat_pins_json_round_trip(tmp_path: Path, hello: Path) -> None:
    data = tmp_path / "data"
    added = json.loads(run(data, "ipfs", "add", "--json", str(hello)).stdout)
    assert added == [{"name": "hello.txt", "cid": HELLO_V0, "size": 20}]
    assert run(data, "ipfs", "cat", HELLO_V0).stdout == "hello world\n"
    assert run(data, "ipfs", "cat", HELLO_V0, "--offset", "6", "--length", "5").stdout == "world"
    assert json.loads(run(data, "ipfs", "pins", "--json").stdout) == {HELLO_V0: "recursive"}


def test_bad_cid_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    proc = run(tmp_path / "d", "ipfs", "cat", "not-a-cid", check=False)
    assert proc.returncode == 2
    assert "error[invalid_cid]" in proc.stderr
    assert "not-a-cid" in proc.stderr


def test_missing_block_is_reported_not_crashed(tmp_path: Path) -> None:
    proc = run(tmp_path / "d", "ipfs", "cat", HELLO_V0, check=False)
    assert proc.returncode == 1
    assert "error[block_not_found]" in proc.stderr


def test_verify_names_the_corrupt_block_and_exits_1(tmp_path: Path, hello: Path) -> None:
    data = tmp_path / "data"
    run(data, "ipfs", "add", str(hello))
    assert json.loads(run(data, "ipfs", "verify", "--json").stdout) == {"corrupt": []}
    stored = [p for p in (data / "blocks").rglob("*.data")]
    assert len(stored) == 1
    stored[0].write_bytes(b"tampered")
    proc = run(data, "ipfs", "verify", "--json", check=False)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [Path(e["path"]) for e in report["corrupt"]] == stored
    cat = run(data, "ipfs", "cat", HELLO_V0, check=False)
    assert cat.returncode == 1 and "error[corrupt_block]" in cat.stderr


def test_unpin_then_gc_removes_blocks(tmp_path: Path, hello: Path) -> None:
    data = tmp_path / "data"
    run(data, "ipfs", "add", str(hello))
    assert json.loads(run(data, "ipfs", "gc", "--json").stdout) == {"removed": []}
    run(data, "ipfs", "unpin", HELLO_V0)
    removed = json.loads(run(data, "ipfs", "gc", "--json").stdout)["removed"]
    assert len(removed) == 1
    assert not list((data / "blocks").rglob("*.data"))


def test_car_export_import_between_nodes(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "inner").mkdir(parents=True)
    payload = os.urandom(700_000)
    (tree / "inner" / "big.bin").write_bytes(payload)
    (tree / "note.txt").write_text("carved by hand\n")
    first, second = tmp_path / "one", tmp_path / "two"
    root = run(first, "ipfs", "add", "-q", str(tree)).stdout.strip()
    car = tmp_path / "tree.car"
    run(first, "ipfs", "car-export", root, "-o", str(car))
    result = json.loads(run(second, "ipfs", "car-import", "--json", str(car)).stdout)
    assert result["roots"] == [root] and result["pinned"] == [root]
    got = run_heritage(
        ["ipfs", "cat", f"{root}/inner/big.bin"],
        env={"HERITAGE_DATA_DIR": str(second)},
        text=False,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == payload
    out = tmp_path / "restored"
    run(second, "ipfs", "get", root, "-o", str(out))
    assert (out / "inner" / "big.bin").read_bytes() == payload
    assert (out / "note.txt").read_text() == "carved by hand\n"


def test_tampered_car_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(600_000))
    root = run(first, "ipfs", "add", "-q", str(blob)).stdout.strip()
    car = tmp_path / "blob.car"
    run(first, "ipfs", "car-export", root, "-o", str(car))
    raw = bytearray(car.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit inside a block
    car.write_bytes(bytes(raw))
    proc = run(second, "ipfs", "car-import", str(car), check=False)
    assert proc.returncode == 1
    assert "error[car_invalid]" in proc.stderr and "does not hash to its CID" in proc.stderr
    assert not list((second / "blocks").rglob("*.data"))
    assert json.loads(run(second, "ipfs", "pins", "--json").stdout) == {}


def test_get_refuses_to_overwrite(tmp_path: Path, hello: Path) -> None:
    data = tmp_path / "data"
    run(data, "ipfs", "add", str(hello))
    target = tmp_path / "exists"
    target.write_text("keep me")
    proc = run(data, "ipfs", "get", HELLO_V0, "-o", str(target), check=False)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert target.read_text() == "keep me"


def test_embedded_only_commands_refuse_a_remote_node(tmp_path: Path) -> None:
    env = {"HERITAGE_DATA_DIR": str(tmp_path), "HERITAGE_IPFS_API": "ftp://x"}
    proc = run_heritage(["ipfs", "gc"], env=env)
    assert proc.returncode == 2
    assert "neither a multiaddr nor an http(s) URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ipfs_serve_runs_the_node_for_ipfshttpclient(tmp_path: Path, hello: Path) -> None:
    """`heritage ipfs serve` as a real process, used by an unmodified ipfshttpclient."""
    import socket
    import time

    import ipfshttpclient

    data = tmp_path / "data"
    run(data, "ipfs", "add", str(hello))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HERITAGE_DATA_DIR": str(data)}
    server = subprocess.Popen(
        [str(HERITAGE), "ipfs", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        client = ipfshttpclient.Client(f"/ip4/127.0.0.1/tcp/{port}/http")
        for _ in range(300):  # wait for the port, not for a fixed time
            try:
                version = client.version()
                break
            except ipfshttpclient.exceptions.ConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.05)
        else:
            raise AssertionError("heritage ipfs serve never answered")
        assert "Version" in version
        assert client.cat(HELLO_V0) == b"hello world\n"
        assert HELLO_V0 in client.pin.ls(type="recursive")["Keys"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_cat_of_a_dag_too_deep_writes_nothing_and_says_why(tmp_path: Path) -> None:
    """A file whose first half reads fine and whose second half nests too deep: nothing of
    it reaches standard output, rather than the first half and then an error."""
    import hashlib

    from ledger.ipfs.backend import EmbeddedNode
    from ledger.ipfs.cid import DAG_PB, RAW, Cid
    from ledger.ipfs.dagpb import PBLink, PBNode, UnixFSData, UnixFSType, encode_node, encode_unixfs
    from ledger.ipfs.files import MAX_FILE_DEPTH
    from ledger.settings import load_settings
    from tests.api.test_ipfs_app import deep_file

    data = tmp_path / "data"
    node = EmbeddedNode.open(load_settings(env={}, data_dir=data, fsync=False))
    try:
        first = b"x" * 1000
        head = Cid.from_digest(hashlib.sha256(first).digest(), RAW)
        node.store.put_verified(head, first)

        def file_of(tail: Cid) -> Cid:
            meta = UnixFSData(UnixFSType.FILE, filesize=2000, blocksizes=(1000, 1000))
            links = (PBLink(head, "", 1000), PBLink(tail, "", 1000))
            block = encode_node(PBNode(links, encode_unixfs(meta)))
            cid = Cid.from_digest(hashlib.sha256(block).digest(), DAG_PB)
            node.store.put_verified(cid, block)
            return cid

        fine = file_of(deep_file(node, MAX_FILE_DEPTH - 1, b"y" * 1000)[0])
        deep = file_of(deep_file(node, MAX_FILE_DEPTH, b"z" * 1000)[0])
    finally:
        node.close()
    assert run(data, "ipfs", "cat", str(fine)).stdout == "x" * 1000 + "y" * 1000
    proc = run(data, "ipfs", "cat", str(deep), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"error[dag_too_deep]: file {deep} is nested more than")


#: What only some commands need; `heritage --help` and `heritage cid` load none of it
#: (issue 11: the CLI starts at once). Top-level names are third-party packages, dotted
#: ones this project's own heavy modules. multiformats is light, but slower to import than a
#: small file is to hash: CIDs are written in base58btc and base32 without it.
HEAVY_AT_START = (
    "multiformats",
    "web3",
    "eth_account",
    "eth_abi",
    "eth_keys",
    "eth_utils",
    "cryptography",
    "coincurve",
    "uvicorn",
    "fastapi",
    "starlette",
    "requests",
    "jsonschema",
    "bagit",
    "local_chain",
    "api.ipfs",
    "ledger.chain",
    "ledger.consent",
    "ledger.crypto",
    "ledger.index",
    "ledger.ipfs.backend",
    "ledger.keys",
    "ledger.registry",
    "ledger.rights",
    "ledger.verify",
)

_LOADED_AFTER_EACH_STEP = """
import contextlib, io, json, sys
import typer

HEAVY = {heavy!r}

def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))

import api.cli

steps = {{"import api.cli": loaded()}}
groups = sorted(typer.main.get_command(api.cli.app).commands)
for argv in (["--help"], *([g, "--help"] for g in groups), ["cid", {path!r}]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            api.cli.main(argv)
        except SystemExit as exc:
            assert exc.code in (0, None), (argv, exc.code)
    assert out.getvalue(), argv
    steps["heritage " + " ".join(argv)] = loaded()
print(json.dumps({{"steps": steps, "cid": out.getvalue()}}))
"""


def test_help_and_cid_load_none_of_the_heavy_dependencies(hello: Path) -> None:
    """Structural, not timed: importing the CLI, printing its help and every group's help,
    and `heritage cid FILE`, all in one process, import none of web3, eth-account, the
    cryptography, the HTTP stack, jsonschema, nor the registry, chain, keys or verify code.
    Each command imports what it needs when it runs."""
    code = _LOADED_AFTER_EACH_STEP.format(heavy=HEAVY_AT_START, path=str(hello))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env["HERITAGE_DATA_DIR"] = str(hello.parent / "data")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    steps = result["steps"]
    assert "heritage --help" in steps and "heritage item --help" in steps
    assert f"heritage cid {hello}" in steps and result["cid"] == HELLO_V0 + "\n"
    assert steps == {step: [] for step in steps}
