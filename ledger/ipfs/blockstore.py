"""The embedded node's on-disk blockstore, with pins and garbage collection.

Layout (under ``<data dir>/blocks``), modelled on Kubo's flatfs ``next-to-last/2``::

    blocks/<shard>/<KEY>.data     KEY: RFC 4648 base32 (upper, unpadded) of the multihash;
                                  shard: the two characters before KEY's last one
    blocks/pins.sqlite            recursive and direct pins
    blocks/gc.lock                shared while adding, exclusive while collecting

Blocks are keyed by multihash, as in Kubo, so CIDv0 and CIDv1 of one node share a file.
Writes go to a temporary file in ``blocks/.tmp/`` that is fsynced, renamed into place, and
followed by an fsync of the directory: a crash leaves either the whole block or nothing under
its name. Leftover temporary files are swept when the store opens; keeping them in one folder
makes that one directory listing, not a walk of every shard (older versions wrote them in the
shards: garbage collection, which walks the shards anyway, removes those). Every read
re-hashes the block.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ledger.errors import BlockNotFound, CorruptBlock, IpfsError, NotFound, UsageError
from ledger.ipfs.cid import IDENTITY, RAW, Cid
from ledger.ipfs.dag import block_links, walk_dag

__all__ = ["Blockstore", "CorruptEntry", "GcReport", "PinKind", "StagedBlocks"]

PinKind = Literal["recursive", "direct"]
_TMP_PREFIX: Final = ".tmp-"
_TMP_DIR: Final = ".tmp"  # single-block writes are staged here, then renamed into a shard
_SUFFIX: Final = ".data"
_STAGING_PREFIX: Final = ".staging-"


def _key(multihash: bytes) -> str:
    return base64.b32encode(multihash).decode("ascii").rstrip("=")


def _multihash_of_key(key: str) -> bytes:
    padded = key + "=" * (-len(key) % 8)
    return base64.b32decode(padded)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class CorruptEntry:
    """A stored block whose bytes no longer hash to its key."""

    cid: Cid  # CIDv1 with the raw codec: the store knows only the multihash, as Kubo's does
    path: Path


@dataclass(frozen=True, slots=True)
class GcReport:
    """What one garbage collection did: the blocks it removed, and those it found unreachable
    but could not remove, each with the reason (as Kubo's GC streams a result per block)."""

    removed: tuple[Cid, ...]
    failed: tuple[tuple[Cid, str], ...] = ()


def _not_here(cid: Cid) -> BlockNotFound:
    return BlockNotFound(
        f"block {cid} is not in the local store", hint="add or import the content first"
    )


class Blockstore:
    """Content-addressed blocks on disk. Safe to share between threads and processes."""

    def __init__(self, root: str | os.PathLike[str], *, sync: bool = True) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._sync = sync
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.root / "gc.lock"
        self._lock_path.touch(exist_ok=True)
        self._tmp_dir = self.root / _TMP_DIR
        self._tmp_dir.mkdir(exist_ok=True)
        self._db_lock = threading.Lock()
        # The pin database is opened on first use: reading blocks (all that verification
        # does) never needs it, and opening it was most of the cost of opening the store.
        self._db_connection: sqlite3.Connection | None = None
        self.swept = self._sweep_temporaries()

    def _db(self) -> sqlite3.Connection:
        """The pin database (the caller holds ``_db_lock``)."""
        if self._db_connection is None:
            path = self.root / "pins.sqlite"
            db = sqlite3.connect(path, check_same_thread=False)
            try:
                with db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS pins (cid TEXT PRIMARY KEY, kind TEXT NOT NULL"
                        " CHECK (kind IN ('recursive', 'direct')))"
                    )
            except sqlite3.DatabaseError as exc:
                db.close()
                raise IpfsError(
                    f"{path} is not a usable pin database ({exc})",
                    hint="restore it from a backup; if you move it aside instead, pin again what "
                    "must stay (`heritage ipfs pin CID`) before any `heritage ipfs gc`, which "
                    "would otherwise collect every block",
                ) from None
            except BaseException:
                db.close()
                raise
            self._db_connection = db
        return self._db_connection

    def close(self) -> None:
        with self._db_lock:
            if self._db_connection is not None:
                self._db_connection.close()
                self._db_connection = None

    # ---- paths ------------------------------------------------------------------------------
    def path_of(self, multihash: bytes) -> Path:
        key = _key(multihash)
        return self.root / key[-3:-1] / (key + _SUFFIX)

    def _shards(self) -> Iterator[Path]:
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and len(entry.name) == 2:
                yield entry

    def _sweep_temporaries(self) -> int:
        """Remove what crashed writers left behind, unless a writer is live right now.

        A live add or CAR import (in this process or another) holds gc_guard while its
        temporary files and staging folder exist; sweeping them from under it would break
        its commit. Only when the exclusive lock is free is everything found stale.
        """
        with self._lock_path.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            try:
                return self._sweep_unlocked()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _sweep_unlocked(self) -> int:
        swept = 0
        for stale in self.root.glob(_STAGING_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
            swept += 1
        for leftover in self._tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
            swept += 1
        return swept

    # ---- locking ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _flock(self, mode: int) -> Iterator[None]:
        with self._lock_path.open("rb") as handle:
            fcntl.flock(handle.fileno(), mode)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def gc_guard(self) -> contextlib.AbstractContextManager[None]:
        """Hold this while adding blocks and pinning them: GC waits until it is released."""
        return self._flock(fcntl.LOCK_SH)

    # ---- blocks -----------------------------------------------------------------------------
    def has_block(self, cid: Cid) -> bool:
        if cid.hash_code == IDENTITY:
            return True
        key = _key(cid.multihash)
        # A string path, not path_of's Path: a gateway asks this on every cached lookup.
        return os.path.exists(f"{self._root_text}/{key[-3:-1]}/{key}{_SUFFIX}")

    def block_size(self, cid: Cid) -> int:
        """The stored block's length, without reading (or re-hashing) it."""
        if cid.hash_code == IDENTITY:
            return len(cid.digest)
        try:
            return self.path_of(cid.multihash).stat().st_size
        except FileNotFoundError:
            raise _not_here(cid) from None

    def block_head(self, cid: Cid, count: int) -> bytes:
        """The stored block's first ``count`` bytes, not re-hashed (for a look at its shape
        only: anything served is read with :meth:`get_block`)."""
        if cid.hash_code == IDENTITY:
            return cid.digest[:count]
        try:
            with self.path_of(cid.multihash).open("rb") as stream:
                return stream.read(count)
        except FileNotFoundError:
            raise _not_here(cid) from None

    def put_block(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid``. The caller vouches that they match (see put_verified)."""
        if cid.hash_code == IDENTITY:
            return  # the CID carries the bytes itself
        final = self.path_of(cid.multihash)
        if final.exists() and final.stat().st_size == len(data):
            return
        final.parent.mkdir(exist_ok=True)
        tmp = self._tmp_dir / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        self._write_synced(tmp, data)
        os.replace(tmp, final)
        if self._sync:
            _fsync_dir(final.parent)

    def _write_synced(self, tmp: Path, data: bytes) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self._sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)

    @contextlib.contextmanager
    def staged(self) -> Iterator[StagedBlocks]:
        """Blocks put through the yielded batch become visible together, or not at all.

        They are written (and fsynced) into a private staging folder; leaving the ``with``
        block normally moves them into the store, an exception discards them. A crash
        leaves only the staging folder, which the next open sweeps away.
        """
        with self.gc_guard():
            batch = StagedBlocks(self)
            try:
                yield batch
            except BaseException:
                shutil.rmtree(batch.folder, ignore_errors=True)
                raise
            batch.commit()

    def put_verified(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` after checking that it hashes to ``cid``."""
        if not cid.matches(data):
            raise CorruptBlock(str(cid), "<incoming data>")
        self.put_block(cid, data)

    def get_block(self, cid: Cid) -> bytes:
        """The block's bytes, re-hashed; CorruptBlock if they no longer match."""
        if cid.hash_code == IDENTITY:
            return cid.digest
        path = self.path_of(cid.multihash)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _not_here(cid) from None
        if not cid.matches(data):
            raise CorruptBlock(str(cid), str(path))
        return data

    def delete_block(self, multihash: bytes) -> None:
        self.path_of(multihash).unlink(missing_ok=True)

    def iter_multihashes(self) -> Iterator[bytes]:
        for shard in self._shards():
            for entry in shard.iterdir():
                name = entry.name
                if name.endswith(_SUFFIX) and not name.startswith(_TMP_PREFIX):
                    try:
                        yield _multihash_of_key(name[: -len(_SUFFIX)])
                    except ValueError:
                        continue  # not ours; verify() reports nothing for foreign files

    def verify(self) -> list[CorruptEntry]:
        """Re-hash every stored block; return exactly those that do not match their key."""
        corrupt: list[CorruptEntry] = []
        for multihash in self.iter_multihashes():
            cid = Cid(1, RAW, multihash)
            path = self.path_of(multihash)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # collected meanwhile
            if not cid.matches(data):
                corrupt.append(CorruptEntry(cid, path))
        return corrupt

    # ---- pins -------------------------------------------------------------------------------
    def pin(self, cid: Cid, *, recursive: bool = True, check: bool = True) -> None:
        """Pin ``cid``; a recursive pin needs every block of its DAG to be present.

        ``check=False`` skips re-reading the DAG, for a caller that has just written it.
        """
        if recursive and check:
            for _ in walk_dag(cid, self.get_block):
                pass
        elif not self.has_block(cid):
            raise BlockNotFound(f"cannot pin {cid}: the block is not in the local store")
        kind: PinKind = "recursive" if recursive else "direct"
        with self._db_lock, self._db() as db:
            current = db.execute(
                "SELECT kind FROM pins WHERE cid = ?", (str(cid),)
            ).fetchone()
            if current is not None and current[0] == "recursive" and kind == "direct":
                return  # a recursive pin already covers it
            db.execute(
                "INSERT INTO pins (cid, kind) VALUES (?, ?)"
                " ON CONFLICT(cid) DO UPDATE SET kind = excluded.kind",
                (str(cid), kind),
            )

    def unpin(self, cid: Cid, *, recursive: bool = True) -> None:
        with self._db_lock, self._db() as db:
            current = db.execute(
                "SELECT kind FROM pins WHERE cid = ?", (str(cid),)
            ).fetchone()
            if current is None:
                raise NotFound(f"{cid} is not pinned")
            if current[0] == "recursive" and not recursive:
                raise UsageError(f"{cid} is pinned recursively", hint="unpin it recursively")
            db.execute("DELETE FROM pins WHERE cid = ?", (str(cid),))

    def pins(self) -> dict[Cid, PinKind]:
        with self._db_lock:
            rows = self._db().execute("SELECT cid, kind FROM pins ORDER BY cid").fetchall()
        return {Cid.parse(cid): kind for cid, kind in rows}

    def pin_kind(self, cid: Cid) -> PinKind | None:
        with self._db_lock:
            row = self._db().execute("SELECT kind FROM pins WHERE cid = ?", (str(cid),)).fetchone()
        return None if row is None else row[0]

    # ---- garbage collection -----------------------------------------------------------------
    def _reachable(self) -> set[bytes]:
        keep: set[bytes] = set()
        for cid, kind in self.pins().items():
            if kind == "direct":
                keep.add(cid.multihash)
                continue
            stack = [cid]
            while stack:
                current = stack.pop()
                if current.multihash in keep:
                    continue
                try:
                    data = self.get_block(current)
                except IpfsError as exc:
                    raise IpfsError(
                        f"garbage collection stopped: pinned DAG {cid} cannot be walked "
                        f"at {current}: {exc.message}",
                        hint="re-import the missing or corrupt block, or unpin the DAG",
                    ) from None
                keep.add(current.multihash)
                stack.extend(block_links(current, data))
        return keep

    def collect(self) -> GcReport:
        """Remove every block not reachable from a pin, going on past a block that cannot be
        removed (it is reported in ``failed``). Nothing is removed when a pinned DAG cannot be
        walked: that raises IpfsError, since what it links to is unknown."""
        removed: list[Cid] = []
        failed: list[tuple[Cid, str]] = []
        with self._flock(fcntl.LOCK_EX):
            for shard in self._shards():  # temporaries of the older layout
                for leftover in shard.glob(_TMP_PREFIX + "*"):
                    leftover.unlink(missing_ok=True)
            keep = self._reachable()
            for multihash in list(self.iter_multihashes()):
                if multihash in keep:
                    continue
                cid = Cid(1, RAW, multihash)
                try:
                    self.delete_block(multihash)
                except OSError as exc:
                    failed.append((cid, exc.strerror or type(exc).__name__))
                    continue
                removed.append(cid)
        return GcReport(tuple(removed), tuple(failed))

    def gc(self) -> list[Cid]:
        """Remove every block not reachable from a pin; return what was removed. A block that
        could not be removed raises IpfsError once every other one is gone: a caller that
        collects to withdraw content must learn that some of it is still here."""
        report = self.collect()
        if report.failed:
            named = ", ".join(f"{cid} ({why})" for cid, why in report.failed[:5])
            more = len(report.failed) - 5
            raise IpfsError(
                f"garbage collection removed {len(report.removed)} blocks but could not remove "
                f"{len(report.failed)}: {named}" + (f" and {more} more" if more > 0 else ""),
                hint=f"check the files and permissions under {self.root}, then collect again",
            )
        return list(report.removed)

    def _new_staging_folder(self) -> Path:
        folder = self.root / f"{_STAGING_PREFIX}{secrets.token_hex(8)}"
        folder.mkdir()
        return folder

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        count = 0
        for cid, data in blocks:
            self.put_block(cid, data)
            count += 1
        return count


class StagedBlocks:
    """A batch of blocks waiting in a staging folder; see Blockstore.staged."""

    def __init__(self, store: Blockstore) -> None:
        self._store = store
        self.folder = store._new_staging_folder()
        self._pending: dict[bytes, Path] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pending)

    def put_block(self, cid: Cid, data: bytes) -> None:
        """Stage a block; safe from several threads, each distinct block written once."""
        if cid.hash_code == IDENTITY:
            return
        tmp = self.folder / _key(cid.multihash)
        with self._lock:
            # Reserve the name first: two hashing threads may stage the same block.
            if cid.multihash in self._pending:
                return
            self._pending[cid.multihash] = tmp
        self._store._write_synced(tmp, data)

    def get_block(self, cid: Cid) -> bytes:
        """A staged block, else one already in the store; re-hashed either way."""
        tmp = self._pending.get(cid.multihash)
        if tmp is None:
            return self._store.get_block(cid)
        data = tmp.read_bytes()
        if not cid.matches(data):
            raise CorruptBlock(str(cid), str(tmp))
        return data

    def commit(self) -> None:
        touched: set[Path] = set()
        for multihash, tmp in self._pending.items():
            final = self._store.path_of(multihash)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            touched.add(final.parent)
        if self._store._sync:
            for folder in touched:
                _fsync_dir(folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self._pending.clear()
