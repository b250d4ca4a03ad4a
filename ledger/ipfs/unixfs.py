"""UnixFS v1 importer whose CIDs are byte-identical to Kubo's ``ipfs add``.

Kubo's defaults: fixed 262,144-byte chunks; leaves are dag-pb nodes holding UnixFS ``File``
data (``--raw-leaves`` makes them raw blocks; CIDv1 implies raw leaves unless told
otherwise); a balanced layout of at most 174 links per node, filled left to right; a file of
one chunk is that chunk's leaf; directories are UnixFS ``Directory`` nodes with links sorted
by name; dotfiles are skipped unless ``hidden`` is set; symlinks become UnixFS ``Symlink``
nodes and are not followed.

Files are streamed: a worker pool hashes batches of chunks (``hashlib`` releases the GIL on
large buffers) while at most a few batches are in flight, so memory stays bounded whatever
the file size. Blocks go to a :class:`BlockSink` when one is given (``None`` hashes only).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from ledger.errors import ShardingRequired, UsageError
from ledger.ipfs.cid import DAG_PB, RAW, Cid, uvarint
from ledger.ipfs.dagpb import PBLink, PBNode, UnixFSData, UnixFSType, encode_node, encode_unixfs

__all__ = [
    "CHUNK_SIZE",
    "HAMT_THRESHOLD",
    "MAX_LINKS",
    "BlockSink",
    "ImportOptions",
    "ImportedEntry",
    "import_bytes",
    "import_file",
    "import_path",
    "import_stream",
]

CHUNK_SIZE: Final = 262_144
MAX_LINKS: Final = 174
# Kubo switches a directory to a HAMT once the estimated size of its links (name bytes plus
# CID bytes) is above 256 KiB. We refuse such a directory rather than build another layout.
HAMT_THRESHOLD: Final = 262_144
_BATCH_CHUNKS: Final = 8
_INFLIGHT_PER_WORKER: Final = 2


class BlockSink(Protocol):
    """Where imported blocks go. Must be safe to call from several threads."""

    def put_block(self, cid: Cid, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Kubo's ``ipfs add`` flags that change CIDs."""

    cid_version: int = 0
    raw_leaves: bool | None = None  # None: Kubo's default (True for CIDv1, False for CIDv0)
    chunk_size: int = CHUNK_SIZE
    hidden: bool = False
    workers: int = 0  # 0: one per core, at most 4

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise UsageError(f"CID version must be 0 or 1, not {self.cid_version}")
        if not 1 <= self.chunk_size <= 1_048_576:
            raise UsageError(f"chunk size must be 1 B to 1 MiB, not {self.chunk_size}")

    @property
    def leaves_raw(self) -> bool:
        return self.cid_version == 1 if self.raw_leaves is None else self.raw_leaves

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class ImportedEntry:
    """One imported file or directory, as ``ipfs add`` reports it."""

    path: str  # relative to what was added; "" for the root of a single file
    cid: Cid
    tsize: int  # cumulative size of the DAG (Kubo's "Size")
    filesize: int  # bytes of file content under it
    is_dir: bool = False


@dataclass(frozen=True, slots=True)
class _Child:
    cid: Cid
    tsize: int
    filesize: int


# ---- leaves --------------------------------------------------------------------------------


def _leaf_frame(size: int) -> tuple[bytes, bytes]:
    """The bytes around a chunk in a dag-pb leaf: PBNode{Data: UnixFS{File, Data, filesize}}."""
    if size == 0:
        unixfs = encode_unixfs(UnixFSData(UnixFSType.FILE, filesize=0))
        return b"\x0a" + uvarint(len(unixfs)) + unixfs, b""
    head = b"\x08\x02\x12" + uvarint(size)
    tail = b"\x18" + uvarint(size)
    unixfs_len = len(head) + size + len(tail)
    return b"\x0a" + uvarint(unixfs_len) + head, tail


def _make_leaf(chunk: bytes, options: ImportOptions, sink: BlockSink | None) -> _Child:
    if options.leaves_raw:
        cid = Cid.for_block(chunk, RAW, 1)
        if sink is not None:
            sink.put_block(cid, chunk)
        return _Child(cid, len(chunk), len(chunk))
    prefix, suffix = _leaf_frame(len(chunk))
    if sink is None:
        h = hashlib.sha256(prefix)
        h.update(chunk)
        h.update(suffix)
        cid = Cid.from_digest(h.digest(), DAG_PB, options.cid_version)
        return _Child(cid, len(prefix) + len(chunk) + len(suffix), len(chunk))
    block = prefix + chunk + suffix
    cid = Cid.for_block(block, DAG_PB, options.cid_version)
    sink.put_block(cid, block)
    return _Child(cid, len(block), len(chunk))


# ---- the balanced tree ---------------------------------------------------------------------


class _BalancedTree:
    """Builds Kubo's balanced layout bottom-up as leaves arrive in order.

    A full group of MAX_LINKS children becomes a node at once, so only one partial group
    per level is held: memory is O(depth × MAX_LINKS) whatever the file size.
    """

    def __init__(self, options: ImportOptions, sink: BlockSink | None) -> None:
        self._options = options
        self._sink = sink
        self._levels: list[list[_Child]] = [[]]

    def add_leaf(self, leaf: _Child) -> None:
        self._push(0, leaf)

    def _push(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        group = self._levels[level]
        group.append(child)
        if len(group) == MAX_LINKS:
            self._levels[level] = []
            self._push(level + 1, self._internal(group))

    def _internal(self, children: list[_Child]) -> _Child:
        filesize = sum(c.filesize for c in children)
        unixfs = UnixFSData(
            UnixFSType.FILE, filesize=filesize, blocksizes=tuple(c.filesize for c in children)
        )
        node = PBNode(tuple(PBLink(c.cid, "", c.tsize) for c in children), encode_unixfs(unixfs))
        block = encode_node(node)
        cid = Cid.for_block(block, DAG_PB, self._options.cid_version)
        if self._sink is not None:
            self._sink.put_block(cid, block)
        return _Child(cid, len(block) + sum(c.tsize for c in children), filesize)

    def finish(self) -> _Child:
        """Close every partial group bottom-up; the one node left on top is the root."""
        level = 0
        while True:
            group = self._levels[level]
            if len(group) == 1 and not any(self._levels[level + 1 :]):
                return group[0]
            if group:
                self._levels[level] = []
                self._push(level + 1, self._internal(group))
            level += 1


# ---- files ---------------------------------------------------------------------------------


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Read exactly ``size`` bytes unless the stream ends first (as Go's io.ReadFull)."""
    first = stream.read(size)
    if not first or len(first) == size:
        return first or b""
    parts = [first]
    got = len(first)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _import_chunks(
    read_batch: Callable[[int], list[bytes]],
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
    *,
    read_in_worker: bool,
) -> _Child:
    """Hash batches of chunks on a pool, feeding leaves to the tree in file order.

    ``read_batch(i)`` returns the chunks of batch ``i`` (an empty list past the end). When
    ``read_in_worker`` is set (positional reads of a regular file) the workers read too;
    otherwise the caller's thread reads in order and the workers only hash.
    """
    tree = _BalancedTree(options, sink)
    workers = options.worker_count
    window = workers * _INFLIGHT_PER_WORKER

    def hash_batch(chunks: list[bytes]) -> list[_Child]:
        return [_make_leaf(c, options, sink) for c in chunks]

    def read_and_hash(index: int) -> list[_Child]:
        return hash_batch(read_batch(index))

    pending: deque[Future[list[_Child]]] = deque()
    seen_chunk = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unixfs-hash") as pool:
        index = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                if read_in_worker:
                    pending.append(pool.submit(read_and_hash, index))
                else:
                    chunks = read_batch(index)
                    if not chunks:
                        exhausted = True
                        break
                    pending.append(pool.submit(hash_batch, chunks))
                index += 1
            if not pending:
                break
            leaves = pending.popleft().result()
            if not leaves:
                exhausted = True
                for rest in pending:
                    rest.cancel()
                pending.clear()
                continue
            for leaf in leaves:
                tree.add_leaf(leaf)
                seen_chunk = True
                if progress is not None:
                    progress(leaf.filesize)
            if read_in_worker and len(leaves) < _BATCH_CHUNKS:
                exhausted = True
    if not seen_chunk:
        tree.add_leaf(_make_leaf(b"", options, sink))
    return tree.finish()


def _import_stream(
    stream: BinaryIO,
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
) -> _Child:
    def read_batch(_index: int) -> list[bytes]:
        chunks: list[bytes] = []
        for _ in range(_BATCH_CHUNKS):
            chunk = _read_full(stream, options.chunk_size)
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunk) < options.chunk_size:
                break
        return chunks

    return _import_chunks(read_batch, options, sink, progress, read_in_worker=False)


def _import_regular_file(
    path: Path,
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
) -> _Child:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        batch_bytes = options.chunk_size * _BATCH_CHUNKS

        def read_batch(index: int) -> list[bytes]:
            start = index * batch_bytes
            chunks: list[bytes] = []
            for k in range(_BATCH_CHUNKS):
                offset = start + k * options.chunk_size
                if offset >= size:
                    break
                want = min(options.chunk_size, size - offset)
                chunk = os.pread(fd, want, offset)
                while len(chunk) < want:  # short reads happen on some filesystems
                    more = os.pread(fd, want - len(chunk), offset + len(chunk))
                    if not more:
                        raise UsageError(f"{path} shrank while it was being imported")
                    chunk += more
                chunks.append(chunk)
            return chunks

        return _import_chunks(read_batch, options, sink, progress, read_in_worker=True)
    finally:
        os.close(fd)


def import_stream(
    stream: BinaryIO,
    options: ImportOptions | None = None,
    sink: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportedEntry:
    """Import a byte stream as one UnixFS file."""
    opts = options or ImportOptions()
    root = _import_stream(stream, opts, sink, progress)
    return ImportedEntry("", root.cid, root.tsize, root.filesize)


def import_bytes(
    data: bytes, options: ImportOptions | None = None, sink: BlockSink | None = None
) -> ImportedEntry:
    """Import ``data`` as one UnixFS file."""
    return import_stream(io.BytesIO(data), options, sink)


def import_file(
    path: str | os.PathLike[str],
    options: ImportOptions | None = None,
    sink: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportedEntry:
    """Import one regular file (read with positional reads on several threads)."""
    opts = options or ImportOptions()
    p = Path(path)
    root = _import_regular_file(p, opts, sink, progress)
    return ImportedEntry(p.name, root.cid, root.tsize, root.filesize)


# ---- directories and symlinks --------------------------------------------------------------


def _symlink(target: str, options: ImportOptions, sink: BlockSink | None) -> _Child:
    unixfs = encode_unixfs(UnixFSData(UnixFSType.SYMLINK, data=os.fsencode(target)))
    block = encode_node(PBNode((), unixfs))
    cid = Cid.for_block(block, DAG_PB, options.cid_version)
    if sink is not None:
        sink.put_block(cid, block)
    return _Child(cid, len(block), 0)


def _directory_node(entries: list[tuple[str, _Child]], options: ImportOptions) -> bytes:
    """The dag-pb block of a basic UnixFS directory with ``entries`` (any order)."""
    ordered = sorted(entries, key=lambda e: e[0].encode("utf-8"))
    estimate = sum(len(name.encode("utf-8")) + len(bytes(child.cid)) for name, child in ordered)
    if estimate > HAMT_THRESHOLD:
        raise ShardingRequired(
            f"a directory of {len(ordered)} entries needs HAMT sharding "
            f"(its links take about {estimate} bytes, above {HAMT_THRESHOLD})",
            hint="split it into subdirectories; sharded directories are not supported yet",
        )
    links = tuple(PBLink(child.cid, name, child.tsize) for name, child in ordered)
    return encode_node(PBNode(links, encode_unixfs(UnixFSData(UnixFSType.DIRECTORY))))


def _walk(
    path: Path,
    rel: str,
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
    out: list[ImportedEntry],
) -> _Child:
    entries: list[tuple[str, _Child]] = []
    with os.scandir(path) as it:
        names = sorted((e.name for e in it), key=os.fsencode)
    for name in names:
        if not options.hidden and name.startswith("."):
            continue
        child_path = path / name
        child_rel = f"{rel}/{name}" if rel else name
        st = child_path.lstat()
        if stat.S_ISLNK(st.st_mode):
            child = _symlink(os.readlink(child_path), options, sink)
        elif stat.S_ISDIR(st.st_mode):
            child = _walk(child_path, child_rel, options, sink, progress, out)
            entries.append((name, child))
            continue
        elif stat.S_ISREG(st.st_mode):
            child = _import_regular_file(child_path, options, sink, progress)
        else:
            raise UsageError(
                f"{child_path} is neither a file, a directory nor a symlink",
                hint="remove sockets, FIFOs and device files before adding",
            )
        out.append(ImportedEntry(child_rel, child.cid, child.tsize, child.filesize))
        entries.append((name, child))
    block = _directory_node(entries, options)
    cid = Cid.for_block(block, DAG_PB, options.cid_version)
    if sink is not None:
        sink.put_block(cid, block)
    node = _Child(
        cid, len(block) + sum(c.tsize for _, c in entries), sum(c.filesize for _, c in entries)
    )
    out.append(ImportedEntry(rel, node.cid, node.tsize, node.filesize, is_dir=True))
    return node


def import_path(
    path: str | os.PathLike[str],
    options: ImportOptions | None = None,
    sink: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ImportedEntry]:
    """Import a file or a directory tree as ``ipfs add -r`` does.

    Returns every entry, children before their directory; the last one is the root. Names
    are relative to ``path``'s own name, which is the root entry's path.
    """
    opts = options or ImportOptions()
    p = Path(path)
    try:
        st = p.lstat()
    except FileNotFoundError:
        raise UsageError(f"{p} does not exist") from None
    if stat.S_ISREG(st.st_mode):
        return [import_file(p, opts, sink, progress)]
    if stat.S_ISLNK(st.st_mode):
        link = _symlink(os.readlink(p), opts, sink)
        return [ImportedEntry(p.name, link.cid, link.tsize, 0)]
    if stat.S_ISDIR(st.st_mode):
        out: list[ImportedEntry] = []
        _walk(p, p.name, opts, sink, progress, out)
        return out
    raise UsageError(f"{p} is neither a file, a directory nor a symlink")


def iter_file_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Kubo's fixed-size chunker over a stream (full chunks, then the remainder)."""
    while chunk := _read_full(stream, chunk_size):
        yield chunk
