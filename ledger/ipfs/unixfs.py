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

import functools
import hashlib
import io
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from ledger.errors import NoSuchFile, ShardingRequired, UsageError
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
    "import_directory",
    "import_file",
    "import_path",
    "import_stream",
]

CHUNK_SIZE: Final = 262_144
MAX_LINKS: Final = 174
# Kubo switches a directory to a HAMT once the estimated size of its links (name bytes plus
# CID bytes) is above 256 KiB. We refuse such a directory rather than build another layout.
HAMT_THRESHOLD: Final = 262_144
_BATCH_CHUNKS: Final = 16
_NO_BUFFER: Final = bytearray()
_INFLIGHT_PER_WORKER: Final = 2


# A chunk is bytes, or a view into a worker's reusable read buffer (valid until its next read).
_Chunk = bytes | memoryview
# read_batch(index, buffer): the chunks of batch ``index``, read into ``buffer`` if they are
# read positionally (a regular file) and returned as views of it.
_ReadBatch = Callable[[int, bytearray], "list[_Chunk]"]


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


@functools.lru_cache(maxsize=16)
def _leaf_frame(size: int) -> tuple[bytes, bytes]:
    """The bytes around a chunk in a dag-pb leaf: PBNode{Data: UnixFS{File, Data, filesize}}."""
    if size == 0:
        unixfs = encode_unixfs(UnixFSData(UnixFSType.FILE, filesize=0))
        return b"\x0a" + uvarint(len(unixfs)) + unixfs, b""
    head = b"\x08\x02\x12" + uvarint(size)
    tail = b"\x18" + uvarint(size)
    unixfs_len = len(head) + size + len(tail)
    return b"\x0a" + uvarint(unixfs_len) + head, tail


def _make_leaf(chunk: _Chunk, options: ImportOptions, sink: BlockSink | None) -> _Child:
    if options.leaves_raw:
        cid = Cid.for_block(chunk, RAW, 1)
        if sink is not None:
            sink.put_block(cid, bytes(chunk))
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

    def add_leaves(self, leaves: list[_Child]) -> None:
        """Same as add_leaf on each, by whole slices (this runs once per batch)."""
        pos = 0
        while pos < len(leaves):
            group = self._levels[0]
            take = MAX_LINKS - len(group)
            group.extend(leaves[pos : pos + take])
            pos += take
            if len(group) == MAX_LINKS:
                self._levels[0] = []
                self._push(1, self._internal(group))

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
    read_batch: _ReadBatch,
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
    *,
    batch_count: int | None,
) -> _Child:
    """Hash batches of chunks on worker threads, feeding leaves to the tree in file order.

    ``read_batch(i, buffer)`` returns the chunks of batch ``i``; a batch shorter than
    _BATCH_CHUNKS is the last one. With ``batch_count`` known (positional reads of a regular
    file) the workers read too, each into one reusable buffer: a fresh 256 KiB object per
    chunk made glibc return memory to the kernel and fault it back in, a third of the CPU
    time (bench/cid_throughput.py). Otherwise (a stream) this thread reads in order and the
    workers only hash. Batch ``i`` goes to worker ``i % workers``; each worker has its own
    job and result queues, and at most ``workers * _INFLIGHT_PER_WORKER`` batches are in
    flight, so memory is bounded whatever the file size.
    """
    tree = _BalancedTree(options, sink)

    def hash_batch(chunks: list[_Chunk]) -> list[_Child]:
        return [_make_leaf(c, options, sink) for c in chunks]

    def add(leaves: list[_Child]) -> None:
        tree.add_leaves(leaves)
        if progress is not None and leaves:
            progress(sum(leaf.filesize for leaf in leaves))

    # A file of one batch (most files in a directory) is hashed here: no threads to start.
    batch_bytes = options.chunk_size * _BATCH_CHUNKS
    first: list[_Chunk] | None = None
    if batch_count is None:
        first = read_batch(0, _NO_BUFFER)  # a stream: a short first batch means it has ended
    elif batch_count <= 1:
        first = read_batch(0, _NO_BUFFER) if batch_count else []
    if first is not None and (len(first) < _BATCH_CHUNKS or batch_count == 1):
        add(hash_batch(first))
        if not first:
            tree.add_leaf(_make_leaf(b"", options, sink))
        return tree.finish()

    workers = options.worker_count
    window = workers * _INFLIGHT_PER_WORKER
    jobs: list[queue.SimpleQueue[int | list[_Chunk] | None]] = [
        queue.SimpleQueue() for _ in range(workers)
    ]
    results: list[queue.SimpleQueue[list[_Child] | BaseException]] = [
        queue.SimpleQueue() for _ in range(workers)
    ]

    def work(k: int) -> None:
        buffer = bytearray(batch_bytes) if batch_count is not None else _NO_BUFFER
        while (job := jobs[k].get()) is not None:
            try:
                chunks = read_batch(job, buffer) if isinstance(job, int) else job
                results[k].put(hash_batch(chunks))
            except BaseException as exc:  # handed to the consuming thread, which re-raises
                results[k].put(exc)
                return

    threads = [
        threading.Thread(target=work, args=(k,), name=f"unixfs-hash-{k}", daemon=True)
        for k in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        submitted = consumed = 0
        exhausted = False
        if first is not None:  # a stream whose first batch is full: hand it to worker 0
            jobs[0].put(first)
            submitted = 1
        while True:
            while not exhausted and submitted - consumed < window:
                if batch_count is not None:
                    if submitted >= batch_count:
                        exhausted = True
                        break
                    jobs[submitted % workers].put(submitted)
                else:
                    chunks = read_batch(submitted, _NO_BUFFER)
                    if not chunks:
                        exhausted = True
                        break
                    jobs[submitted % workers].put(chunks)
                    if len(chunks) < _BATCH_CHUNKS:
                        exhausted = True
                submitted += 1
            if consumed == submitted:
                break
            result = results[consumed % workers].get()
            if isinstance(result, BaseException):
                raise result
            add(result)
            consumed += 1
    finally:
        for job_queue in jobs:
            job_queue.put(None)
        for thread in threads:
            thread.join()
    return tree.finish()


def _import_stream(
    stream: BinaryIO,
    options: ImportOptions,
    sink: BlockSink | None,
    progress: Callable[[int], None] | None,
) -> _Child:
    def read_batch(_index: int, _buffer: bytearray) -> list[_Chunk]:
        chunks: list[_Chunk] = []
        for _ in range(_BATCH_CHUNKS):
            chunk = _read_full(stream, options.chunk_size)
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunk) < options.chunk_size:
                break
        return chunks

    return _import_chunks(read_batch, options, sink, progress, batch_count=None)


def _pread_exact(fd: int, want: int, offset: int, path: Path) -> bytes:
    chunk = os.pread(fd, want, offset)
    while len(chunk) < want:  # short reads happen on some filesystems
        more = os.pread(fd, want - len(chunk), offset + len(chunk))
        if not more:
            raise UsageError(f"{path} shrank while it was being imported")
        chunk += more
    return chunk


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

        def read_batch(index: int, buffer: bytearray) -> list[_Chunk]:
            """Read into ``buffer`` (views of it come back), or into new bytes if it is empty."""
            start = index * batch_bytes
            length = max(0, min(batch_bytes, size - start))
            if not buffer:
                data: _Chunk = memoryview(_pread_exact(fd, length, start, path))
            else:
                # One read per batch, not per chunk: fewer system calls and GIL hand-offs.
                data = memoryview(buffer)[:length]
                got = 0
                while got < length:  # short reads happen on some filesystems
                    more = os.preadv(fd, [data[got:]], start + got)
                    if not more:
                        raise UsageError(f"{path} shrank while it was being imported")
                    got += more
            step = options.chunk_size
            return [data[i : i + step] for i in range(0, length, step)]

        batch_count = (size + batch_bytes - 1) // batch_bytes
        return _import_chunks(read_batch, options, sink, progress, batch_count=batch_count)
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


def _directory_node(
    entries: list[tuple[str, _Child]], options: ImportOptions, where: str | None = None
) -> bytes:
    """The dag-pb block of a basic UnixFS directory with ``entries`` (any order)."""
    ordered = sorted(entries, key=lambda e: e[0].encode("utf-8"))
    estimate = sum(len(name.encode("utf-8")) + len(bytes(child.cid)) for name, child in ordered)
    if estimate > HAMT_THRESHOLD:
        named = f"the directory {where}" if where is not None else "a directory"
        raise ShardingRequired(
            f"{named} of {len(ordered)} entries needs HAMT sharding "
            f"(its links take about {estimate} bytes, above {HAMT_THRESHOLD})",
            hint="split it into subdirectories; sharded directories are not supported yet",
        )
    links = tuple(PBLink(child.cid, name, child.tsize) for name, child in ordered)
    return encode_node(PBNode(links, encode_unixfs(UnixFSData(UnixFSType.DIRECTORY))))


def import_directory(
    path: str,
    children: Iterable[tuple[str, ImportedEntry]],
    options: ImportOptions | None = None,
    sink: BlockSink | None = None,
) -> ImportedEntry:
    """One UnixFS directory over ``children`` already imported, as ``ipfs add -r`` builds it.

    For trees that arrive entry by entry (an HTTP upload) rather than from a local folder.
    Names must be single path segments and must not repeat.
    """
    opts = options or ImportOptions()
    entries: list[tuple[str, _Child]] = []
    seen: set[str] = set()
    for name, entry in children:
        if not name or "/" in name or name in (".", ".."):
            raise UsageError(f"{name!r} cannot name an entry of the directory {path!r}")
        if name in seen:
            raise UsageError(f"the name {name!r} appears twice in the directory {path!r}")
        seen.add(name)
        entries.append((name, _Child(entry.cid, entry.tsize, entry.filesize)))
    block = _directory_node(entries, opts)
    cid = Cid.for_block(block, DAG_PB, opts.cid_version)
    if sink is not None:
        sink.put_block(cid, block)
    return ImportedEntry(
        path,
        cid,
        len(block) + sum(c.tsize for _, c in entries),
        sum(c.filesize for _, c in entries),
        is_dir=True,
    )


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
    block = _directory_node(entries, options, str(path))
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
        raise NoSuchFile(f"no such file: {p}", hint="check the path") from None
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
