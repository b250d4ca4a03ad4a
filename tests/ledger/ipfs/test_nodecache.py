"""The node cache: a second lookup reads no block, a CID is only ever answered with its own
block, a block gone from the store is not served from memory, and the budget holds."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest

from ledger.errors import BlockNotFound, CorruptBlock, NotFound, UsageError
from ledger.ipfs.blockstore import Blockstore
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dagpb import PBLink, PBNode, UnixFSData, UnixFSType, encode_node, encode_unixfs
from ledger.ipfs.files import file_size, resolve_path
from ledger.ipfs.nodecache import MAX_KEPT_LEAF, NodeCache
from ledger.ipfs.unixfs import ImportOptions, import_path


class CountingBlockstore(Blockstore):
    """The real on-disk store, counting the blocks read from it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, sync=False)
        self.reads: Counter[Cid] = Counter()

    def get_block(self, cid: Cid) -> bytes:
        self.reads[cid] += 1
        return super().get_block(cid)


@pytest.fixture
def store(tmp_path: Path) -> CountingBlockstore:
    return CountingBlockstore(tmp_path / "blocks")


def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a" * 100)
    (root / "sub" / "b.txt").write_bytes(b"b" * 1000)
    (root / "sub" / "big.bin").write_bytes(os.urandom(700_000))
    return root


def put_directory(store: Blockstore, entries: list[tuple[str, Cid]], version: int = 1) -> Cid:
    data = encode_node(
        PBNode(
            tuple(PBLink(cid, name, None) for name, cid in entries),
            encode_unixfs(UnixFSData(UnixFSType.DIRECTORY)),
        )
    )
    cid = Cid.from_digest(hashlib.sha256(data).digest(), DAG_PB)
    if version == 0:
        cid = Cid(0, DAG_PB, cid.multihash)
    store.put_verified(cid, data)
    return cid


def test_a_second_lookup_reads_no_block(store: CountingBlockstore, tmp_path: Path) -> None:
    root = import_path(site(tmp_path), ImportOptions(), store)[-1].cid
    cache = NodeCache(store)
    first = cache.resolve(root, "sub/b.txt")
    assert first == resolve_path(store.get_block, root, "sub/b.txt")
    assert cache.node(first).file_size() == 1000 == file_size(store.get_block, first)
    store.reads.clear()
    hits = cache.hits
    for _ in range(3):
        assert cache.resolve(root, "sub/b.txt") == first
        assert cache.node(first).kind == UnixFSType.FILE
    assert sum(store.reads.values()) == 0  # nothing read, re-hashed or parsed again
    assert cache.hits == hits + 3 * 3


def test_a_cid_is_answered_only_with_its_own_block(store: CountingBlockstore) -> None:
    leaf = Cid.for_block(b"leaf", RAW, 1)
    store.put_verified(leaf, b"leaf")
    folder = put_directory(store, [("leaf", leaf)])
    cache = NodeCache(store)
    assert cache.node(folder).kind == UnixFSType.DIRECTORY
    # The same multihash under another codec is another CID: read as what that CID says.
    same_bytes_as_raw = Cid(1, RAW, folder.multihash)
    as_raw = cache.node(same_bytes_as_raw)
    assert as_raw.cid == same_bytes_as_raw and as_raw.meta is None
    assert as_raw.file_size() == len(store.get_block(folder))
    assert cache.node(folder).kind == UnixFSType.DIRECTORY
    # Another directory never answers for this one, nor this one for a missing CID.
    other = put_directory(store, [("other", leaf)])
    assert cache.node(other).child("other") == leaf and cache.node(other).child("leaf") is None
    assert cache.node(folder).child("leaf") == leaf
    missing = Cid.for_block(b"never stored", DAG_PB, 1)
    with pytest.raises(BlockNotFound):
        cache.node(missing)
    # CIDv0 and CIDv1 of one dag-pb block are each read as the CID they are.
    v0 = Cid(0, DAG_PB, folder.multihash)
    assert cache.node(v0).cid == v0 and cache.node(folder).cid == folder


def test_a_corrupt_block_is_never_kept(store: CountingBlockstore) -> None:
    leaf = Cid.for_block(b"leaf", RAW, 1)
    store.put_verified(leaf, b"leaf")
    folder = put_directory(store, [("leaf", leaf)])
    store.path_of(folder.multihash).write_bytes(b"tampered")
    cache = NodeCache(store)
    for _ in range(2):
        with pytest.raises(CorruptBlock):
            cache.node(folder)
    assert len(cache) == 0


def test_a_block_gone_from_the_store_is_not_served_from_memory(
    store: CountingBlockstore,
) -> None:
    leaf = Cid.for_block(b"leaf", RAW, 1)
    store.put_verified(leaf, b"leaf")
    folder = put_directory(store, [("leaf", leaf)])
    cache = NodeCache(store)
    assert cache.resolve(folder, "leaf") == leaf
    store.delete_block(folder.multihash)  # as garbage collection does
    with pytest.raises(BlockNotFound):
        cache.resolve(folder, "leaf")
    with pytest.raises(BlockNotFound):
        cache.node(folder)


def test_errors_are_those_of_the_uncached_reads(store: CountingBlockstore) -> None:
    leaf = Cid.for_block(b"leaf", RAW, 1)
    store.put_verified(leaf, b"leaf")
    folder = put_directory(store, [("leaf", leaf)])
    cache = NodeCache(store)
    for path in ("nope", "leaf/deeper", "../x"):
        with pytest.raises(Exception) as uncached:
            resolve_path(store.get_block, folder, path)
        for _ in range(2):  # a cold and a warm cache
            with pytest.raises(type(uncached.value)) as cached:
                cache.resolve(folder, path)
            assert str(cached.value) == str(uncached.value)
    with pytest.raises(NotFound):
        cache.resolve(folder, "nope")
    with pytest.raises(UsageError, match="not a file"):
        cache.node(folder).file_size()


def test_the_budget_holds_and_large_leaves_pass_by(
    store: CountingBlockstore, tmp_path: Path
) -> None:
    leaves = []
    for i in range(40):
        cid = Cid.for_block(f"leaf {i}".encode(), RAW, 1)
        store.put_verified(cid, f"leaf {i}".encode())
        leaves.append(cid)
    folders = [
        put_directory(store, [(f"f{j}", leaves[j]) for j in range(i, i + 20)]) for i in range(20)
    ]
    one = NodeCache(store).node(folders[0])
    budget = 5 * (one.block_size + 200 * 21)
    cache = NodeCache(store, max_bytes=budget)
    for folder in folders:
        cache.node(folder)
        assert cache.size_bytes <= budget
    assert 0 < len(cache) <= 5
    store.reads.clear()
    cache.node(folders[-1])  # the most recent stay
    assert store.reads[folders[-1]] == 0
    cache.node(folders[0])  # the oldest went first
    assert store.reads[folders[0]] == 1

    # A dag-pb file chunk (Kubo's CIDv0 leaves) is read each time, never kept.
    big = encode_node(
        PBNode((), encode_unixfs(UnixFSData(UnixFSType.FILE, data=b"z" * (MAX_KEPT_LEAF + 1))))
    )
    chunk = Cid.from_digest(hashlib.sha256(big).digest(), DAG_PB)
    store.put_verified(chunk, big)
    for _ in range(2):
        assert cache.node(chunk).file_size() == MAX_KEPT_LEAF + 1
    assert store.reads[chunk] == 2
