"""The embedded blockstore: re-hash on read, verify, crash safety, pins, GC and its lock."""

from __future__ import annotations

import base64
import io
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from ledger.errors import BlockNotFound, CorruptBlock, IpfsError, NotFound, UsageError
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.blockstore import Blockstore
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.files import read_file
from ledger.ipfs.unixfs import ImportOptions, import_bytes, import_stream


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, no cleanup in `except Exception`."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Blockstore]:
    s = Blockstore(tmp_path / "blocks", sync=False)
    yield s
    s.close()


class RecordingSink:
    """Forwards blocks to a store and remembers which multihashes one import wrote."""

    def __init__(self, store: Blockstore) -> None:
        self.store = store
        self.multihashes: set[bytes] = set()
        self._lock = threading.Lock()

    def put_block(self, cid: Cid, data: bytes) -> None:
        self.store.put_block(cid, data)
        with self._lock:
            self.multihashes.add(cid.multihash)


def raw_block(i: int, size: int = 64) -> tuple[Cid, bytes]:
    data = random.Random(i).randbytes(size) + i.to_bytes(4, "big")
    return Cid.for_block(data, RAW), data


def staging_folders(store: Blockstore) -> list[Path]:
    return list(store.root.glob(".staging-*"))


def temp_files(store: Blockstore) -> list[Path]:
    return list(store.root.glob("*/.tmp-*"))


# ---- blocks --------------------------------------------------------------------------------------


def test_put_then_get(store: Blockstore) -> None:
    cid, data = raw_block(1)
    assert not store.has_block(cid)
    store.put_block(cid, data)
    assert store.has_block(cid)
    assert store.get_block(cid) == data
    assert list(store.iter_multihashes()) == [cid.multihash]


def test_layout_is_flatfs_next_to_last_2(store: Blockstore) -> None:
    """Kubo's flatfs: the base32 (upper, unpadded) key of the multihash, sharded by the two
    characters before its last one."""
    cid, data = raw_block(2)
    store.put_block(cid, data)
    key = base64.b32encode(cid.multihash).decode().rstrip("=")
    path = store.root / key[-3:-1] / f"{key}.data"
    assert path.read_bytes() == data


def test_cid_versions_share_one_block(store: Blockstore) -> None:
    block = bytes.fromhex("0a0408021800")  # Kubo's empty file node
    v0 = Cid.for_block(block, DAG_PB, 0)
    store.put_block(v0, block)
    assert store.get_block(v0.to_v1()) == block
    assert len(list(store.iter_multihashes())) == 1


def test_missing_block(store: Blockstore) -> None:
    cid, _ = raw_block(3)
    with pytest.raises(BlockNotFound) as info:
        store.get_block(cid)
    assert isinstance(info.value, NotFound)
    assert str(cid) in str(info.value)


def test_identity_blocks_are_not_stored(store: Blockstore) -> None:
    cid = Cid(1, RAW, b"\x00\x03abc")
    store.put_block(cid, b"abc")
    assert store.get_block(cid) == b"abc"
    assert store.has_block(cid)
    assert list(store.iter_multihashes()) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "empty"])
def test_every_read_rehashes(store: Blockstore, damage: str) -> None:
    cid, data = raw_block(4)
    store.put_block(cid, data)
    path = store.path_of(cid.multihash)
    damaged = bytearray(data)
    if damage == "flip":
        damaged[10] ^= 0x01
    elif damage == "truncate":
        del damaged[-1]
    elif damage == "append":
        damaged += b"\x00"
    else:
        damaged = bytearray()
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptBlock) as info:
        store.get_block(cid)
    assert str(cid) in str(info.value) and str(path) in str(info.value)


def test_put_verified_refuses_bytes_that_do_not_match(store: Blockstore) -> None:
    cid, data = raw_block(5)
    with pytest.raises(CorruptBlock):
        store.put_verified(cid, data + b"!")
    assert not store.has_block(cid)
    store.put_verified(cid, data)
    assert store.get_block(cid) == data


def test_verify_names_exactly_the_corrupt_blocks(store: Blockstore) -> None:
    """Kubo's repo-verify test: 1,000 blocks, 10 corrupted on disk → exactly those 10."""
    rng = random.Random(1000)
    blocks = [raw_block(i, size=rng.randint(1, 300)) for i in range(1000)]
    for cid, data in blocks:
        store.put_block(cid, data)
    victims = rng.sample(blocks, 10)
    for k, (cid, data) in enumerate(victims):
        path = store.path_of(cid.multihash)
        if k % 3 == 0:
            changed = bytearray(data)
            changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(changed))
        elif k % 3 == 1:
            path.write_bytes(data[:-1])
        else:
            path.write_bytes(data + b"\x00")
    # A foreign file in a shard folder is not a block and is not reported.
    (store.path_of(blocks[0][0].multihash).parent / "notes.txt").write_text("hi")

    corrupt = store.verify()
    assert len(corrupt) == 10
    assert {e.cid.multihash for e in corrupt} == {cid.multihash for cid, _ in victims}
    assert {e.path for e in corrupt} == {store.path_of(c.multihash) for c, _ in victims}


# ---- crash safety --------------------------------------------------------------------------------


def test_open_sweeps_leftover_temporaries(tmp_path: Path) -> None:
    root = tmp_path / "blocks"
    store = Blockstore(root, sync=False)
    cid, data = raw_block(6)
    store.put_block(cid, data)
    shard = store.path_of(cid.multihash).parent
    store.close()
    (root / ".tmp" / ".tmp-0123456789abcdef").write_bytes(data[:10])
    staging = root / ".staging-0123456789abcdef"
    staging.mkdir()
    (staging / "BLOCKKEY").write_bytes(b"half")
    old_layout = shard / ".tmp-fedcba9876543210"  # where earlier versions wrote them
    old_layout.write_bytes(data[:5])

    reopened = Blockstore(root, sync=False)
    try:
        # Opening lists two places, never the shards: the older temporary waits for a GC.
        assert reopened.swept == 2
        assert not staging.exists()
        assert temp_files(reopened) == [old_layout]
        assert list(reopened.iter_multihashes()) == [cid.multihash]
        assert reopened.get_block(cid) == data
        reopened.pin(cid)
        assert reopened.gc() == []
        assert temp_files(reopened) == []
        assert reopened.get_block(cid) == data
    finally:
        reopened.close()


def test_crash_before_rename_never_exposes_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "blocks"
    store = Blockstore(root, sync=True)
    cid, data = raw_block(7)

    def crash(*_args: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(Crash):
            store.put_block(cid, data)
    # The whole block was written to a temporary file, which is not the block.
    assert [p.read_bytes() for p in temp_files(store)] == [data]
    assert not store.has_block(cid)
    with pytest.raises(BlockNotFound):
        store.get_block(cid)
    assert list(store.iter_multihashes()) == []
    assert store.verify() == []
    store.close()

    reopened = Blockstore(root, sync=True)
    try:
        assert reopened.swept == 1
        assert temp_files(reopened) == []
        assert not reopened.has_block(cid)
        reopened.put_block(cid, data)  # and the block can be written again
        assert reopened.get_block(cid) == data
    finally:
        reopened.close()


def test_failed_write_leaves_nothing(store: Blockstore, monkeypatch: pytest.MonkeyPatch) -> None:
    cid, data = raw_block(8, size=1000)
    real_write = os.write

    def half_then_fail(fd: int, payload: bytes | memoryview) -> int:
        real_write(fd, bytes(payload)[: len(payload) // 2])
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", half_then_fail)
        with pytest.raises(OSError, match="No space"):
            store.put_block(cid, data)
    assert temp_files(store) == []
    assert not store.has_block(cid)
    assert list(store.iter_multihashes()) == []


def test_staged_blocks_appear_together(store: Blockstore) -> None:
    blocks = [raw_block(i) for i in range(20, 25)]
    with store.staged() as batch:
        for cid, data in blocks:
            batch.put_block(cid, data)
        assert len(batch) == len(blocks)
        assert not any(store.has_block(cid) for cid, _ in blocks)  # not visible yet
        assert len(staging_folders(store)) == 1
    assert all(store.get_block(cid) == data for cid, data in blocks)
    assert staging_folders(store) == []


def test_staged_blocks_are_discarded_on_exception(store: Blockstore) -> None:
    kept, kept_data = raw_block(30)
    store.put_block(kept, kept_data)
    blocks = [raw_block(i) for i in range(31, 36)]
    with pytest.raises(ValueError, match="stop"), store.staged() as batch:
        for cid, data in blocks:
            batch.put_block(cid, data)
        raise ValueError("stop")
    assert list(store.iter_multihashes()) == [kept.multihash]
    assert staging_folders(store) == []


def test_open_does_not_sweep_a_live_batch(store: Blockstore) -> None:
    """A second opener (another process, say `heritage` while `ipfs serve` imports a CAR)
    must not delete the staging folder of an import that is still running."""
    cid, data = raw_block(40)
    with store.staged() as batch:
        batch.put_block(cid, data)
        other = Blockstore(store.root, sync=False)
        try:
            assert other.swept == 0
            assert batch.folder.is_dir()
        finally:
            other.close()
    assert store.get_block(cid) == data


# ---- pins and garbage collection -----------------------------------------------------------------


def import_dag(store: Blockstore, seed: int, size: int) -> tuple[Cid, set[bytes]]:
    """A multi-level UnixFS file (small chunks); its root and every multihash it wrote."""
    sink = RecordingSink(store)
    data = random.Random(seed).randbytes(size)
    entry = import_bytes(data, ImportOptions(chunk_size=1024, cid_version=1), sink)
    return entry.cid, sink.multihashes


def test_gc_removes_exactly_the_unpinned_blocks(store: Blockstore) -> None:
    root_a, blocks_a = import_dag(store, seed=1, size=200 * 1024)  # 200 leaves: two levels
    root_b, blocks_b = import_dag(store, seed=2, size=50 * 1024)
    _, blocks_c = import_dag(store, seed=3, size=20 * 1024)
    loose = [raw_block(i) for i in range(50, 60)]
    for cid, data in loose:
        store.put_block(cid, data)
    # C shares a leaf with A: the same 1 KiB chunk.
    shared = Cid.for_block(random.Random(1).randbytes(200 * 1024)[:1024], RAW)
    assert shared.multihash in blocks_a
    store.put_block(shared, random.Random(1).randbytes(200 * 1024)[:1024])

    store.pin(root_a)  # recursive
    store.pin(root_b, recursive=False)  # direct: the root only
    assert store.pins() == {root_a: "recursive", root_b: "direct"}
    assert len(blocks_a) > 200 and len(blocks_b) > 50

    before = set(store.iter_multihashes())
    keep = blocks_a | {root_b.multihash}
    removed = store.gc()
    assert {c.multihash for c in removed} == before - keep
    assert len(removed) == len(before - keep)
    assert set(store.iter_multihashes()) == keep
    # The whole DAG of the recursive pin is readable.
    assert {cid.multihash for cid, _ in walk_dag(root_a, store.get_block)} == blocks_a
    assert not (blocks_c - blocks_a) & set(store.iter_multihashes())
    assert store.gc() == []  # nothing left to collect


def test_pins_survive_reopening(tmp_path: Path) -> None:
    root = tmp_path / "blocks"
    store = Blockstore(root, sync=False)
    dag_root, _ = import_dag(store, seed=4, size=4096)
    store.pin(dag_root)
    store.close()
    reopened = Blockstore(root, sync=False)
    try:
        assert reopened.pin_kind(dag_root) == "recursive"
        assert reopened.gc() == []
    finally:
        reopened.close()


def test_pin_rules(store: Blockstore) -> None:
    root, blocks = import_dag(store, seed=5, size=8 * 1024)
    missing, _ = raw_block(70)
    with pytest.raises(BlockNotFound):
        store.pin(missing)
    with pytest.raises(BlockNotFound):
        store.pin(missing, recursive=False)

    # A recursive pin needs its whole DAG.
    leaf = next(m for m in blocks if m != root.multihash)
    store.delete_block(leaf)
    with pytest.raises(BlockNotFound):
        store.pin(root)
    assert store.pins() == {}

    store.pin(root, recursive=False)
    assert store.pin_kind(root) == "direct"
    store.pin(root, check=False)
    assert store.pin_kind(root) == "recursive"
    store.pin(root, recursive=False)  # a direct pin does not weaken a recursive one
    assert store.pin_kind(root) == "recursive"
    with pytest.raises(UsageError):
        store.unpin(root, recursive=False)
    store.unpin(root)
    assert store.pin_kind(root) is None
    with pytest.raises(NotFound):
        store.unpin(root)


def test_gc_stops_when_a_pinned_dag_is_damaged(store: Blockstore) -> None:
    root, blocks = import_dag(store, seed=6, size=8 * 1024)
    store.pin(root)
    loose, data = raw_block(80)
    store.put_block(loose, data)
    leaf = next(m for m in blocks if m != root.multihash)
    store.path_of(leaf).write_bytes(b"rotten")
    before = set(store.iter_multihashes())
    with pytest.raises(IpfsError, match="garbage collection stopped"):
        store.gc()
    assert set(store.iter_multihashes()) == before  # nothing deleted


def blocked_flock_waiters(path: Path) -> int:
    """Processes/threads waiting for a flock on ``path`` (Linux /proc/locks, "->" lines)."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as f:
        return sum(1 for line in f if "->" in line and f":{inode} " in line)


class GatedStream:
    """Gives ``open_bytes`` bytes, then blocks until ``release`` is set."""

    def __init__(self, data: bytes, open_bytes: int) -> None:
        self._data = data
        self._pos = 0
        self._open = open_bytes
        self.reached = threading.Event()
        self.release = threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._open:
            self.reached.set()
            self.release.wait()
        end = len(self._data) if size < 0 else self._pos + size
        if self._pos < self._open:
            end = min(end, self._open)
        piece = self._data[self._pos : end]
        self._pos += len(piece)
        return piece


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_gc_waits_for_an_add_in_progress(store: Blockstore) -> None:
    node = EmbeddedNode(store)
    chunk = 262_144
    data = random.Random(9).randbytes(40 * chunk)
    stream = GatedStream(data, open_bytes=16 * chunk)  # the first batch of 16 chunks
    events: list[str] = []
    errors: list[BaseException] = []
    added: list[Cid] = []

    def add() -> None:
        try:
            added.append(node.add_stream(cast(BinaryIO, stream), ImportOptions(workers=1)).cid)
            events.append("add-done")
        except BaseException as exc:
            errors.append(exc)

    def collect() -> None:
        try:
            events.append(f"gc-done removed={len(store.gc())}")
        except BaseException as exc:
            errors.append(exc)

    adder = threading.Thread(target=add, daemon=True)
    gc_thread = threading.Thread(target=collect, daemon=True)
    adder.start()
    try:
        while not stream.reached.is_set() and adder.is_alive():
            threading.Event().wait(0.001)
        # The first 16 leaves are on disk and not pinned yet: what a GC would take.
        while len(list(store.iter_multihashes())) < 16 and adder.is_alive():
            threading.Event().wait(0.001)
        assert errors == [] and adder.is_alive()
        gc_thread.start()
        while not blocked_flock_waiters(store.root / "gc.lock") and gc_thread.is_alive():
            threading.Event().wait(0.001)
        assert events == []  # GC is waiting, not done
    finally:
        stream.release.set()  # never leave the adder blocked, even when failing
        adder.join()
        if gc_thread.ident is not None:
            gc_thread.join()
    assert errors == []
    assert events == ["add-done", "gc-done removed=0"]
    dag = list(walk_dag(added[0], store.get_block))
    assert len(dag) == 40 + 1
    assert set(store.iter_multihashes()) == {cid.multihash for cid, _ in dag}


def test_gc_does_collect_an_unguarded_unpinned_block(store: Blockstore) -> None:
    """The control for the test above: without the guard the same block is collected."""
    cid, data = raw_block(90)
    store.put_block(cid, data)
    assert [c.multihash for c in store.gc()] == [cid.multihash]


def test_staging_the_same_block_from_many_threads_writes_it_once(tmp_path: Path) -> None:
    """A file of identical chunks makes every hashing thread stage the same leaf at once."""
    store = Blockstore(tmp_path / "blocks", sync=False)
    try:
        with store.staged() as staged:
            entry = import_stream(io.BytesIO(bytes(12 << 20)), ImportOptions(workers=4), staged)
            assert len(staged) == 2  # one distinct leaf, one root
        assert b"".join(read_file(store.get_block, entry.cid)) == bytes(12 << 20)
    finally:
        store.close()


def test_a_damaged_pin_database_is_a_clear_error_and_blocks_stay_readable(
    tmp_path: Path,
) -> None:
    root = tmp_path / "blocks"
    store = Blockstore(root, sync=False)
    cid, data = raw_block(11)
    store.put_block(cid, data)
    store.pin(cid, recursive=False)
    store.close()
    (root / "pins.sqlite").write_bytes(b"this is not a SQLite database" * 200)
    for suffix in ("-wal", "-shm"):
        (root / f"pins.sqlite{suffix}").unlink(missing_ok=True)

    reopened = Blockstore(root, sync=False)
    try:
        assert reopened.get_block(cid) == data  # reading never needs the pins
        for use in (reopened.pins, lambda: reopened.pin(cid), reopened.gc):
            with pytest.raises(IpfsError, match="not a usable pin database") as caught:
                use()
            assert caught.value.hint is not None and "before any" in caught.value.hint
        assert reopened.get_block(cid) == data  # and nothing was collected
    finally:
        reopened.close()
