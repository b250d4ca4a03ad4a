"""KuboNode (and a raw ipfshttpclient.Client) against `heritage ipfs serve`, over real HTTP.

Nothing is mocked: each node is an embedded node behind the IPFS app under uvicorn. Expected
CIDs come from Kubo's published values and from the JS UnixFS importer run with Kubo's
settings (tests/js/kubo_reference.mjs).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import ipfshttpclient
import pytest
from multiformats import CID, multihash
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from api.ipfs import create_ipfs_app
from ledger.errors import CarError, NotFound, RemoteNodeError, UsageError
from ledger.ipfs.backend import NODE_VERSION, EmbeddedNode, KuboNode
from ledger.ipfs.car import CarReader
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.unixfs import ImportOptions
from ledger.settings import load_settings
from tests.kubo_reference import run_kubo_reference

HELLO = b"hello world\n"
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # Kubo docs
EMPTY_FILE_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
ROOT = Path(__file__).resolve().parents[2]


def reference_cid(path: Path, *flags: str) -> str:
    """The CID Kubo's `ipfs add -r` gives ``path``, from the JS UnixFS importer."""
    return run_kubo_reference(flags, [path])[0]


def raw_cid(data: bytes) -> str:
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def make_tree(base: Path, *, hidden: bool = True) -> Path:
    root = base / "exhibit"
    (root / "models" / "lod").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_bytes(b"<h1>exhibit</h1>\n")
    (root / "hello.txt").write_bytes(HELLO)
    (root / "models" / "scan.bin").write_bytes(os.urandom(3 * 262_144 + 17))
    (root / "models" / "lod" / "low.bin").write_bytes(b"\x00" * 300_000)  # repeated chunks
    if hidden:
        (root / ".secret").write_bytes(b"not for upload")
        (root / "models" / ".cache").mkdir()
        (root / "models" / ".cache" / "x").write_bytes(b"x")
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def kubo(served_node: str) -> Iterator[KuboNode]:
    node = KuboNode(served_node)
    yield node
    node.close()


@pytest.fixture
def client(served_node: str) -> Iterator[ipfshttpclient.Client]:
    port = served_node.rsplit(":", 1)[1]
    c = ipfshttpclient.Client(f"/ip4/127.0.0.1/tcp/{port}/http")
    yield c
    c.close()


@pytest.fixture
def second(
    tmp_path: Path, serve: Callable[[ASGIApp], str]
) -> Iterator[tuple[KuboNode, EmbeddedNode]]:
    """A second, empty node with its own data directory, served on its own port."""
    settings = load_settings(env={}, data_dir=tmp_path / "second", fsync=False)
    node = EmbeddedNode.open(settings)
    remote = KuboNode(serve(create_ipfs_app(settings, node)))
    yield remote, node
    remote.close()
    node.close()


# ---- the round trip ------------------------------------------------------------------------


def test_round_trip_between_two_nodes(
    kubo: KuboNode,
    embedded_node: EmbeddedNode,
    second: tuple[KuboNode, EmbeddedNode],
    tmp_path: Path,
) -> None:
    tree = make_tree(tmp_path / "src", hidden=False)
    entries = kubo.add_path(tree, ImportOptions())
    root = entries[-1].cid
    assert entries[-1].path == "exhibit" and entries[-1].is_dir
    assert str(root) == reference_cid(tree)
    assert {e.path for e in entries if e.is_dir} == {
        "exhibit",
        "exhibit/empty",
        "exhibit/models",
        "exhibit/models/lod",
    }
    # The same bytes through the embedded importer give the same CID.
    assert embedded_node.add_path(tree, ImportOptions(), pin=False)[-1].cid == root
    assert kubo.pin_ls() == {root: "recursive"}

    scan = (tree / "models" / "scan.bin").read_bytes()
    assert b"".join(kubo.cat(f"/ipfs/{root}/models/scan.bin")) == scan
    assert b"".join(kubo.cat(f"{root}/models/scan.bin", 262_140, 10)) == scan[262_140:262_150]

    car = b"".join(kubo.dag_export(root))
    remote, node2 = second
    assert remote.pin_ls() == {}
    result = remote.dag_import(io.BytesIO(car))
    assert result.roots == (root,) and result.pinned == (root,)
    assert result.block_count == car_blocks(car) > 8
    assert remote.pin_ls() == {root: "recursive"}
    assert node2.pin_ls() == {root: "recursive"}
    assert b"".join(remote.cat(f"{root}/models/scan.bin")) == scan
    # Export from the second node is byte for byte the first node's export.
    assert b"".join(remote.dag_export(root)) == car

    out = remote.get(str(root), tmp_path / "copy")
    assert read_tree(out) == read_tree(tree)
    assert (out / "empty").is_dir()


def test_dag_import_reports_blocks_and_roots_without_pinning(
    kubo: KuboNode, second: tuple[KuboNode, EmbeddedNode], tmp_path: Path
) -> None:
    root = kubo.add_path(make_tree(tmp_path, hidden=False), ImportOptions())[-1].cid
    car = b"".join(kubo.dag_export(root))
    blocks = car_blocks(car)
    remote, node2 = second
    result = remote.dag_import(io.BytesIO(car), pin_roots=False)
    assert result.roots == (root,)
    assert result.pinned == ()
    assert result.block_count == blocks
    assert node2.pin_ls() == {}
    assert b"".join(remote.cat(f"{root}/hello.txt")) == HELLO
    with pytest.raises(CarError):
        remote.dag_import(io.BytesIO(b"\x05abc"))
    with pytest.raises(UsageError):  # the node refuses a CAR whose block is corrupt
        bad = bytearray(car)
        bad[-3] ^= 0x01
        remote.dag_import(io.BytesIO(bytes(bad)))


def car_blocks(car: bytes) -> int:
    return sum(1 for _ in CarReader(io.BytesIO(car)).blocks())


# ---- add options ---------------------------------------------------------------------------


def test_add_stream_matches_kubo(kubo: KuboNode) -> None:
    entry = kubo.add_stream(io.BytesIO(HELLO), ImportOptions())
    assert str(entry.cid) == HELLO_CID and entry.tsize == 20
    assert str(kubo.add_stream(io.BytesIO(b""), ImportOptions()).cid) == EMPTY_FILE_CID
    v1 = kubo.add_stream(io.BytesIO(HELLO), ImportOptions(cid_version=1), pin=False)
    assert str(v1.cid) == raw_cid(HELLO)  # CIDv1 implies raw leaves
    pins = kubo.pin_ls()
    assert Cid.parse(HELLO_CID) in pins and v1.cid not in pins


def test_add_path_cid_v1_and_hidden_files(kubo: KuboNode, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "with", hidden=True)
    clean = make_tree(tmp_path / "without", hidden=False)
    shutil.copyfile(tree / "models" / "scan.bin", clean / "models" / "scan.bin")
    # Dotfiles stay out unless asked for, as with `ipfs add -r`.
    assert str(kubo.add_path(tree, ImportOptions())[-1].cid) == reference_cid(clean)
    hidden = kubo.add_path(tree, ImportOptions(hidden=True))
    assert str(hidden[-1].cid) == reference_cid(tree)
    assert "exhibit/.secret" in {e.path for e in hidden}
    v1 = kubo.add_path(clean, ImportOptions(cid_version=1))
    assert str(v1[-1].cid) == reference_cid(clean, "--cid-version", "1")
    v1_dag_leaves = kubo.add_path(clean, ImportOptions(cid_version=1, raw_leaves=False))
    assert str(v1_dag_leaves[-1].cid) == reference_cid(
        clean, "--cid-version", "1", "--no-raw-leaves"
    )


# ---- blocks and pins -----------------------------------------------------------------------


def test_block_put_get(kubo: KuboNode, client: ipfshttpclient.Client) -> None:
    cid = kubo.block_put(b"a raw block", RAW)
    assert str(cid) == raw_cid(b"a raw block")
    assert kubo.block_get(cid) == b"a raw block"
    kubo.add_stream(io.BytesIO(HELLO), ImportOptions())
    block = kubo.block_get(Cid.parse(HELLO_CID))
    assert CID.decode(HELLO_CID).raw_digest == hashlib.sha256(block).digest()
    as_pb = kubo.block_put(block, DAG_PB)
    assert as_pb.version == 1 and as_pb.multihash == Cid.parse(HELLO_CID).multihash
    with pytest.raises(UsageError):
        kubo.block_put(b"\xff not dag-pb", DAG_PB)
    with pytest.raises(NotFound):
        kubo.block_get(Cid.parse(raw_cid(b"never stored")))
    # The raw client sees Kubo's shapes.
    assert client.block.stat(str(cid)) == {"Key": str(cid), "Size": 11}
    assert client.block.put(io.BytesIO(b"a raw block"))["Key"] == str(cid)


def test_pin_ls_rm(kubo: KuboNode, client: ipfshttpclient.Client) -> None:
    entry = kubo.add_stream(io.BytesIO(HELLO), ImportOptions(), pin=False)
    assert kubo.pin_ls() == {}
    kubo.pin_add(entry.cid)
    assert kubo.pin_ls() == {entry.cid: "recursive"}
    assert client.pin.ls(type="recursive")["Keys"] == {HELLO_CID: {"Type": "recursive", "Name": ""}}
    kubo.pin_rm(entry.cid)
    assert kubo.pin_ls() == {}
    with pytest.raises(NotFound):
        kubo.pin_rm(entry.cid)
    kubo.pin_add(entry.cid, recursive=False)
    assert kubo.pin_ls() == {entry.cid: "direct"}
    with pytest.raises(ipfshttpclient.exceptions.ErrorResponse, match="not pinned"):
        client.pin.ls(raw_cid(b"x"))


# ---- reading -------------------------------------------------------------------------------


def test_cat_and_dag_export_stream(kubo: KuboNode, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    entry = kubo.add_stream(io.BytesIO(data), ImportOptions())
    pieces = kubo.cat(str(entry.cid))
    assert isinstance(pieces, types.GeneratorType)  # not a body read into memory first
    chunks = list(pieces)
    assert len(chunks) > 1 and b"".join(chunks) == data
    car = list(kubo.dag_export(entry.cid))
    assert len(car) > 1
    with pytest.raises(NotFound):
        list(kubo.cat(raw_cid(b"never stored")))
    with pytest.raises(UsageError):
        list(kubo.cat("not-a-cid"))


def test_a_stream_broken_midway_is_an_error_not_a_short_read(
    kubo: KuboNode, embedded_node: EmbeddedNode
) -> None:
    data = os.urandom(3_000_000)
    entry = kubo.add_stream(io.BytesIO(data), ImportOptions())
    *_, (last, block) = walk_dag(entry.cid, embedded_node.store.get_block)
    embedded_node.store.path_of(last.multihash).write_bytes(bytes(len(block)))
    pieces = kubo.cat(str(entry.cid))
    with pytest.raises(RemoteNodeError):
        for _ in pieces:
            pass
    with pytest.raises(RemoteNodeError):
        b"".join(kubo.dag_export(entry.cid))


def test_raw_client_get_of_a_directory(
    kubo: KuboNode, client: ipfshttpclient.Client, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", hidden=False)
    root = kubo.add_path(tree, ImportOptions())[-1].cid
    target = tmp_path / "out"
    target.mkdir()
    client.get(str(root), target=str(target))
    assert read_tree(target / str(root)) == read_tree(tree)
    assert client.cat(f"{root}/hello.txt", offset=6, length=5) == b"world"
    with pytest.raises(UsageError):
        kubo.get(str(root), target)  # exists already


def test_version_check(
    kubo: KuboNode, client: ipfshttpclient.Client, serve: Callable[[ASGIApp], str]
) -> None:
    assert kubo.version() == NODE_VERSION
    assert client.version()["Version"] == NODE_VERSION

    def old_kubo(_request: Request) -> JSONResponse:
        return JSONResponse({"Version": "0.4.23", "Commit": "", "Repo": "7"})

    legacy = serve(Starlette(routes=[Route("/api/v0/version", old_kubo, methods=["POST"])]))
    with pytest.raises(RemoteNodeError, match="older than"):
        KuboNode(legacy)
    with pytest.raises(RemoteNodeError, match="cannot talk"):
        KuboNode("http://127.0.0.1:9")
