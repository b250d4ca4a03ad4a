"""Reading UnixFS DAGs: hostile names never escape the target (go-ipfs CVE-2020-26279),
range reads equal slicing, and tar streams unpack to the same tree."""

from __future__ import annotations

import functools
import io
import os
import random
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import DagTooDeep, MalformedBlock, UnsafePath, UsageError
from ledger.ipfs.blockstore import Blockstore
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dagpb import (
    PBLink,
    PBNode,
    UnixFSData,
    UnixFSType,
    decode_node,
    encode_node,
    encode_unixfs,
)
from ledger.ipfs.files import (
    MAX_PATH_SEGMENTS,
    check_file,
    export_to_disk,
    file_size,
    iter_tar,
    list_directory,
    read_file,
)
from ledger.ipfs.unixfs import MAX_LINKS, ImportOptions, import_bytes, import_path
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches


class MemoryBlocks:
    """A dict of blocks: a BlockSink for the importer and a GetBlock for the reader, which
    counts the blocks it hands out."""

    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}
        self.fetched: list[Cid] = []

    def put_block(self, cid: Cid, data: bytes) -> None:
        self.blocks[cid.multihash] = data

    def get(self, cid: Cid) -> bytes:
        self.fetched.append(cid)
        return self.blocks[cid.multihash]

    # BlockProbe: what check_file may learn without reading a block
    def block_size(self, cid: Cid) -> int:
        return len(self.blocks[cid.multihash])

    def block_head(self, cid: Cid, count: int) -> bytes:
        return self.blocks[cid.multihash][:count]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Blockstore]:
    s = Blockstore(tmp_path / "blocks", sync=False)
    yield s
    s.close()


# ---- DAGs built by hand --------------------------------------------------------------------------


def put_node(store: Blockstore, node: PBNode) -> Cid:
    block = encode_node(node)
    cid = Cid.for_block(block, DAG_PB)
    store.put_block(cid, block)
    return cid


def file_node(store: Blockstore, data: bytes) -> Cid:
    meta = UnixFSData(UnixFSType.FILE, data=data, filesize=len(data))
    return put_node(store, PBNode((), encode_unixfs(meta)))


def dir_node(store: Blockstore, entries: list[tuple[str, Cid]]) -> Cid:
    links = tuple(PBLink(cid, name, 1) for name, cid in entries)
    return put_node(store, PBNode(links, encode_unixfs(UnixFSData(UnixFSType.DIRECTORY))))


def symlink_node(store: Blockstore, target: str) -> Cid:
    meta = UnixFSData(UnixFSType.SYMLINK, data=target.encode())
    return put_node(store, PBNode((), encode_unixfs(meta)))


def snapshot(root: Path) -> set[Path]:
    return {root, *root.rglob("*")}


def hostile_names(outside: Path) -> dict[str, str]:
    return {
        "dot-dot": "..",
        "dot": ".",
        "empty": "",
        "parent-path": "../escaped",
        "absolute": str(outside / "absolute-escape"),
        "slash": "a/b",
        "backslash": "a\\b",
        "backslash-parent": "..\\escaped",
        "nul": "a\x00b",
        "256-bytes": "x" * 256,
        "256-bytes-of-2-byte-chars": "é" * 128,
    }


HOSTILE_IDS = list(hostile_names(Path("/x")))


def hostile_dag(store: Blockstore, bad_name: str, *, nested: bool) -> Cid:
    """A tree with good entries, and ``bad_name`` (a folder holding a file) at the top or
    two levels down, after the good entries so partial output would come first."""
    payload = dir_node(store, [("escaped.txt", file_node(store, b"pwned"))])
    bad = [("a-good.txt", file_node(store, b"good")), (bad_name, payload)]
    if nested:
        inner = dir_node(store, bad)
        return dir_node(
            store,
            [("a-ok.txt", file_node(store, b"ok")), ("sub", dir_node(store, [("deeper", inner)]))],
        )
    return dir_node(store, bad)


def assert_nothing_outside(tmp_path: Path, before: set[Path], target: Path) -> None:
    new = snapshot(tmp_path) - before
    stray = {p for p in new if p != target and target not in p.parents}
    assert stray == set()


@pytest.mark.parametrize("nested", [False, True], ids=["top", "nested"])
@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_export_refuses_hostile_names(
    tmp_path: Path, store: Blockstore, kind: str, nested: bool
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = hostile_dag(store, hostile_names(outside)[kind], nested=nested)
    parent = tmp_path / "parent"
    parent.mkdir()
    target = parent / "target"
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath):
        export_to_disk(store.get_block, root, target)
    assert_nothing_outside(tmp_path, before, target)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(tmp_path.rglob("absolute-escape"))


@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_tar_refuses_hostile_names(tmp_path: Path, store: Blockstore, kind: str) -> None:
    root = hostile_dag(store, hostile_names(tmp_path / "outside")[kind], nested=True)
    out = bytearray()
    with pytest.raises(UnsafePath):
        for piece in iter_tar(store.get_block, root, "root"):
            out += piece
    # What came out before the refusal names only safe paths under "root".
    names: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(bytes(out)), mode="r:", ignore_zeros=True) as tar:
        try:
            while (member := tar.next()) is not None:
                names.append(member.name)
        except tarfile.ReadError:
            pass  # the stream stops mid-way, where the refusal came
    assert names and all(n == "root" or n.startswith("root/") for n in names)
    assert all(".." not in n.split("/") and "\\" not in n for n in names)


@pytest.mark.parametrize("name", ["..", "a/b", "", "x" * 256, "a\x00"])
def test_tar_refuses_a_hostile_root_name(store: Blockstore, name: str) -> None:
    root = file_node(store, b"data")
    with pytest.raises(UnsafePath):
        next(iter_tar(store.get_block, root, name))


def test_duplicate_names_are_refused(tmp_path: Path, store: Blockstore) -> None:
    one, two = file_node(store, b"one"), file_node(store, b"two")
    root = dir_node(store, [("same", one), ("same", two)])
    target = tmp_path / "parent" / "target"
    target.parent.mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath, match="twice"):
        export_to_disk(store.get_block, root, target)
    assert_nothing_outside(tmp_path, before, target)
    assert not (target / "same").exists()
    with pytest.raises(UnsafePath):
        list(iter_tar(store.get_block, root, "root"))


@pytest.mark.parametrize("link_target", ["/etc/passwd", "../../outside", "inside.txt"])
@pytest.mark.parametrize("where", ["root", "child", "nested"])
def test_symlinks_are_refused(
    tmp_path: Path, store: Blockstore, link_target: str, where: str
) -> None:
    link = symlink_node(store, link_target)
    if where == "root":
        root = link
    elif where == "child":
        root = dir_node(store, [("inside.txt", file_node(store, b"x")), ("link", link)])
    else:
        root = dir_node(store, [("d", dir_node(store, [("link", link)]))])
    parent = tmp_path / "parent"
    parent.mkdir()
    target = parent / "target"
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath, match="symlink"):
        export_to_disk(store.get_block, root, target)
    assert_nothing_outside(tmp_path, before, target)
    assert not [p for p in snapshot(tmp_path) if p.is_symlink()]
    with pytest.raises(UnsafePath, match="symlink"):
        list(iter_tar(store.get_block, root, "root"))


def folder_chain(store: Blockstore, depth: int, name: str = "d") -> Cid:
    """``depth`` folders, each holding the next, around one small file."""
    cid = file_node(store, b"bottom")
    cid = dir_node(store, [("file.txt", cid)])
    for _ in range(depth - 1):
        cid = dir_node(store, [(name, cid)])
    return cid


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path, store: Blockstore) -> None:
    """1,000 nested folders would hit Python's recursion limit (a RecursionError, a 500 at
    the gateway); the reader refuses them as unsafe instead."""
    root = folder_chain(store, 1000)
    parent = tmp_path / "parent"
    parent.mkdir()
    target = parent / "target"
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath, match="deep"):
        export_to_disk(store.get_block, root, target)
    assert_nothing_outside(tmp_path, before, target)
    with pytest.raises(UnsafePath, match="deep"):
        list(iter_tar(store.get_block, root, "root"))


def test_nesting_up_to_the_limit_is_fine(tmp_path: Path, store: Blockstore) -> None:
    root = folder_chain(store, MAX_PATH_SEGMENTS)
    target = export_to_disk(store.get_block, root, tmp_path / "out")
    deepest = target.joinpath(*["d"] * (MAX_PATH_SEGMENTS - 1), "file.txt")
    assert deepest.read_bytes() == b"bottom"
    stream = b"".join(iter_tar(store.get_block, root, "root"))
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        assert len(tar.getmembers()) == MAX_PATH_SEGMENTS + 1


def test_paths_longer_than_the_os_allows_are_refused(tmp_path: Path, store: Blockstore) -> None:
    root = folder_chain(store, 20, name="n" * 255)  # about 5,100 bytes of path
    parent = tmp_path / "parent"
    parent.mkdir()
    target = parent / "target"
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath, match="longer"):
        export_to_disk(store.get_block, root, target)
    assert_nothing_outside(tmp_path, before, target)


def test_deeply_nested_file_is_refused_not_a_crash() -> None:
    blocks = MemoryBlocks()
    leaf = UnixFSData(UnixFSType.FILE, data=b"x", filesize=1)
    block = encode_node(PBNode((), encode_unixfs(leaf)))
    cid = Cid.for_block(block, DAG_PB)
    blocks.put_block(cid, block)
    for _ in range(1000):
        meta = UnixFSData(UnixFSType.FILE, filesize=1, blocksizes=(1,))
        block = encode_node(PBNode((PBLink(cid, "", len(block)),), encode_unixfs(meta)))
        cid = Cid.for_block(block, DAG_PB)
        blocks.put_block(cid, block)
    with pytest.raises(MalformedBlock, match="nested"):
        b"".join(read_file(blocks.get, cid))
    with pytest.raises(DagTooDeep, match="nested more than 64 levels deep"):
        check_file(blocks.get, cid)  # the same refusal, before a server sends any byte


def test_longest_and_unicode_names_are_accepted(tmp_path: Path, store: Blockstore) -> None:
    names = ["x" * 255, "é" * 127, "日本語", "\U0001f600", "a b", "...", ".hidden"]
    root = dir_node(store, [(n, file_node(store, n.encode())) for n in names])
    target = export_to_disk(store.get_block, root, tmp_path / "out")
    assert sorted(os.listdir(target)) == sorted(names)
    for n in names:
        assert (target / n).read_bytes() == n.encode()


def test_export_refuses_an_existing_target(tmp_path: Path, store: Blockstore) -> None:
    root = file_node(store, b"x")
    (tmp_path / "there").write_bytes(b"keep")
    with pytest.raises(UsageError):
        export_to_disk(store.get_block, root, tmp_path / "there")
    assert (tmp_path / "there").read_bytes() == b"keep"
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(UsageError):
        export_to_disk(store.get_block, root, tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists()


# ---- range reads ---------------------------------------------------------------------------------


@functools.cache
def multi_level_file(raw_leaves: bool, levels: int) -> tuple[MemoryBlocks, Cid, bytes]:
    """A file whose DAG has ``levels`` levels of links above its leaves (tiny chunks)."""
    chunk = 16 if levels == 1 else 1
    leaves = (MAX_LINKS + 7) if levels == 1 else (MAX_LINKS * MAX_LINKS + 5)
    data = random.Random(levels).randbytes(leaves * chunk - 3)  # a short last chunk
    blocks = MemoryBlocks()
    options = ImportOptions(chunk_size=chunk, cid_version=1, raw_leaves=raw_leaves)
    cid = import_bytes(data, options, blocks).cid
    return blocks, cid, data


FILES = [(raw, levels) for raw in (True, False) for levels in (1, 2)]


@reaches(0.8)
@settings(max_examples=examples(150), deadline=None)
@given(st.sampled_from(FILES), st.data())
def test_range_read_equals_slicing(which: tuple[bool, int], data: st.DataObject) -> None:
    blocks, cid, content = multi_level_file(*which)
    # Reads of the two-level files (1-byte leaves) stay under 4,000 leaves, for speed; the
    # whole-file read is test_whole_file_and_size.
    span = len(content) + 5 if which[1] == 1 else 4000
    offset = data.draw(st.integers(0, len(content) + 5), label="offset")
    length = data.draw(st.none() | st.integers(0, span), label="length")
    if length is None:
        offset = max(offset, len(content) - span)
    got = b"".join(read_file(blocks.get, cid, offset, length))
    end = None if length is None else offset + length
    assert got == content[offset:end]
    reached()


@reaches(0.8)
@settings(max_examples=60, deadline=None)
@given(st.integers(0, MAX_LINKS * MAX_LINKS), st.integers(1, 40))
def test_range_read_fetches_only_the_leaves_it_needs(offset: int, length: int) -> None:
    blocks, cid, content = multi_level_file(True, 2)  # 1-byte raw leaves, two link levels
    blocks.fetched.clear()
    got = b"".join(read_file(blocks.get, cid, offset, length))
    assert got == content[offset : offset + length]
    leaves = [c for c in blocks.fetched if c.codec == RAW]
    assert len(leaves) == len(got)  # one leaf per byte here, and no other leaf
    assert len(blocks.fetched) - len(leaves) <= 2 + 2 * len(got)  # root + level-1 nodes
    reached()


def test_whole_file_and_size(tmp_path: Path) -> None:
    blocks, cid, content = multi_level_file(False, 2)
    assert file_size(blocks.get, cid) == len(content)
    assert b"".join(read_file(blocks.get, cid)) == content
    with pytest.raises(UsageError):
        list(read_file(blocks.get, cid, -1))
    with pytest.raises(UsageError):
        list(read_file(blocks.get, cid, 0, -1))


# ---- tar and export round trips ------------------------------------------------------------------


def make_tree(root: Path) -> None:
    rng = random.Random(3)
    files = {
        "a.txt": b"alpha",
        "empty": b"",
        "big.bin": rng.randbytes(700_000),  # three chunks
        "sub/inner.txt": b"inner",
        "sub/deeper/x.bin": rng.randbytes(1000),
        "sub/deeper/exactly-512": rng.randbytes(512),
        "日本語/ファイル.txt": "テキスト".encode(),
        "long-" + "n" * 200: b"long name",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "empty-dir").mkdir()
    (root / "sub" / "empty-too").mkdir()


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Relative path → file bytes, or None for a folder."""
    out: dict[str, bytes | None] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


@pytest.mark.parametrize("cid_version", [0, 1])
def test_tar_unpacks_to_the_same_tree(tmp_path: Path, store: Blockstore, cid_version: int) -> None:
    original = tmp_path / "original"
    make_tree(original)
    root = import_path(original, ImportOptions(cid_version=cid_version), store)[-1].cid
    stream = b"".join(iter_tar(store.get_block, root, "copy"))
    assert len(stream) % tarfile.BLOCKSIZE == 0
    unpacked = tmp_path / "unpacked"
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        assert all(m.name == "copy" or m.name.startswith("copy/") for m in tar.getmembers())
        tar.extractall(unpacked, filter="data")
    assert tree_of(unpacked / "copy") == tree_of(original)

    exported = export_to_disk(store.get_block, root, tmp_path / "exported")
    assert tree_of(exported) == tree_of(original)
    assert sorted(e.name for e in list_directory(store.get_block, root)) == sorted(
        os.listdir(original)
    )


def test_tar_of_a_single_file(store: Blockstore) -> None:
    data = random.Random(5).randbytes(300_000)
    root = import_bytes(data, ImportOptions(cid_version=1), store).cid
    stream = b"".join(iter_tar(store.get_block, root, "file.bin"))
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        (member,) = tar.getmembers()
        assert member.name == "file.bin" and member.isfile() and member.size == len(data)
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == data


@reaches(0.8)
@settings(max_examples=examples(60), deadline=None)
@given(
    st.sampled_from(FILES), st.integers(0, MAX_LINKS * MAX_LINKS), st.none() | st.integers(0, 40)
)
def test_check_file_walks_the_inner_nodes_a_read_walks_and_no_raw_leaf(
    which: tuple[bool, int], offset: int, length: int | None
) -> None:
    """The check before a response meets every inner node the read will, in the same order,
    so whatever the DAG's shape makes the read raise is raised first; leaves are not read
    (a bounded read's dag-pb leaves are: their data length decides where it stops)."""
    blocks, cid, content = multi_level_file(*which)
    offset = min(offset, len(content))
    if length is None:
        offset = max(offset, len(content) - 4000)
    blocks.fetched.clear()
    b"".join(read_file(blocks.get, cid, offset, length))
    read = [c for c in blocks.fetched if c.codec != RAW]
    blocks.fetched.clear()
    check_file(blocks.get, cid, offset, length, probe=blocks)
    if length is None:
        read = [c for c in read if c == cid or decode_node(blocks.blocks[c.multihash]).links]
    assert blocks.fetched == read
    reached()
