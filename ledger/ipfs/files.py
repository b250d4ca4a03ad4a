"""Reading UnixFS DAGs: file bytes, directory listings, paths, and safe export to disk.

Names that come out of a DAG are hostile input: before anything is written to disk every
name is checked (no ``..``, ``/``, backslash or NUL, at most 255 bytes, no duplicates) and
symlinks are refused, so a DAG can never write outside the target (go-ipfs CVE-2020-26279).

So is a DAG's shape: a file nested deeper than :data:`MAX_FILE_DEPTH` or folders deeper than
:data:`MAX_PATH_SEGMENTS` are refused. A server checks that with :func:`check_file` and
:func:`check_tree` *before* it answers, since an error met while streaming can only cut a
response whose status (200) and headers are already sent.

One block read as UnixFS is a :class:`UnixFSNode` (:func:`parse_node`), a value that a cache
may keep (:mod:`ledger.ipfs.nodecache`); :func:`resolve_through` follows a path through any
source of such nodes.
"""

from __future__ import annotations

import functools
import os
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from ledger.errors import DagTooDeep, IpfsError, MalformedBlock, NotFound, UnsafePath, UsageError
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dagpb import UnixFSData, UnixFSType, decode_node, decode_unixfs

__all__ = [
    "MAX_FILE_DEPTH",
    "MAX_PATH_SEGMENTS",
    "BlockProbe",
    "DirEntry",
    "GetBlock",
    "ReadNode",
    "UnixFSNode",
    "check_file",
    "check_name",
    "check_tree",
    "export_to_disk",
    "file_size",
    "iter_tar",
    "list_directory",
    "node_kind",
    "parse_node",
    "read_file",
    "read_node",
    "resolve_path",
    "resolve_through",
]

GetBlock = Callable[[Cid], bytes]
MAX_NAME_BYTES: Final = 255
MAX_PATH_SEGMENTS: Final = 256
_PATH_MAX: Final = 4096  # Linux's PATH_MAX, counting the final NUL
# Kubo's balanced layout is 7 levels deep at 2**64 bytes; anything far deeper is hostile.
MAX_FILE_DEPTH: Final = 64


@dataclass(frozen=True, slots=True)
class DirEntry:
    name: str
    cid: Cid
    tsize: int | None


def check_name(name: str) -> str:
    """Return ``name`` if it is safe as one path segment on disk; raise UnsafePath if not."""
    raw = name.encode("utf-8", "surrogatepass")
    if name in ("", ".", ".."):
        raise UnsafePath(f"refusing the name {name!r}: it is empty or a relative reference")
    for bad, label in (("/", "a slash"), ("\\", "a backslash"), ("\x00", "a NUL byte")):
        if bad in name:
            raise UnsafePath(f"refusing the name {name[:80]!r}: it contains {label}")
    if len(raw) > MAX_NAME_BYTES:
        raise UnsafePath(f"refusing a name of {len(raw)} bytes; at most {MAX_NAME_BYTES}")
    return name


def _unixfs_of(cid: Cid, block: bytes) -> tuple[UnixFSData | None, list[DirEntry]]:
    """(UnixFS data or None for a raw block, links) of one block."""
    if cid.codec == RAW:
        return None, []
    if cid.codec != DAG_PB:
        raise UsageError(f"{cid} is {cid.codec_name}, not a UnixFS node")
    node = decode_node(block)
    if node.data is None:
        raise MalformedBlock(f"dag-pb node {cid} has no UnixFS data")
    return decode_unixfs(node.data), [
        DirEntry(link.name or "", link.cid, link.tsize) for link in node.links
    ]


@dataclass(frozen=True, slots=True, eq=False)
class UnixFSNode:
    """One block read as UnixFS: its data (None for a raw block), its links, its length.

    A value of the block alone, so it never changes: :class:`ledger.ipfs.nodecache.NodeCache`
    keeps these by CID. ``names`` maps a directory's entry names to the first entry so named
    (as a scan of ``links`` finds it); it is empty for anything else.
    """

    cid: Cid
    meta: UnixFSData | None
    links: tuple[DirEntry, ...]
    block_size: int
    names: Mapping[str, Cid]

    @property
    def kind(self) -> UnixFSType:
        """What the node is; a raw block counts as a file."""
        return UnixFSType.FILE if self.meta is None else self.meta.type

    def entries(self) -> list[DirEntry]:
        """A directory's entries; an error for anything else."""
        meta = self.meta
        if meta is None or meta.type != UnixFSType.DIRECTORY:
            if meta is not None and meta.type == UnixFSType.HAMT_SHARD:
                raise IpfsError(
                    f"{self.cid} is a sharded directory, which this node cannot read yet"
                )
            raise UsageError(f"{self.cid} is not a directory")
        return list(self.links)

    def child(self, name: str) -> Cid | None:
        """The directory entry named ``name``; an error if this is not a directory."""
        if self.meta is None or self.meta.type != UnixFSType.DIRECTORY:
            self.entries()  # raises
        return self.names.get(name)

    def file_size(self) -> int:
        """A file's length in bytes; an error for anything else."""
        meta = self.meta
        if meta is None:
            return self.block_size
        if meta.type not in (UnixFSType.FILE, UnixFSType.RAW):
            raise UsageError(f"{self.cid} is a {meta.type.name.lower()}, not a file")
        if meta.filesize is not None:
            return meta.filesize
        return len(meta.data or b"") + sum(meta.blocksizes)


ReadNode = Callable[[Cid], UnixFSNode]


def parse_node(cid: Cid, block: bytes) -> UnixFSNode:
    """The block ``block`` (named by ``cid``, already checked against it) read as UnixFS."""
    meta, links = _unixfs_of(cid, block)
    names: dict[str, Cid] = {}
    if meta is not None and meta.type == UnixFSType.DIRECTORY:
        for link in reversed(links):  # the first of repeated names wins, as in a scan
            names[link.name] = link.cid
    return UnixFSNode(cid, meta, tuple(links), len(block), names)


def read_node(get: GetBlock, cid: Cid) -> UnixFSNode:
    """The block at ``cid``, fetched through ``get`` and read as UnixFS."""
    return parse_node(cid, get(cid))


def node_kind(get: GetBlock, cid: Cid) -> UnixFSType:
    """What the node at ``cid`` is; a raw block counts as a file."""
    return read_node(get, cid).kind


def list_directory(get: GetBlock, cid: Cid) -> list[DirEntry]:
    return read_node(get, cid).entries()


def resolve_path(get: GetBlock, root: Cid, path: str) -> Cid:
    """Follow ``path`` (``a/b/c``) through directories from ``root``."""
    return resolve_through(functools.partial(read_node, get), root, path)


def resolve_through(read: ReadNode, root: Cid, path: str) -> Cid:
    """:func:`resolve_path` with the directories read through ``read`` (a cache, say)."""
    segments = [s for s in path.split("/") if s]
    if len(segments) > MAX_PATH_SEGMENTS:
        raise UsageError(f"path has {len(segments)} segments; at most {MAX_PATH_SEGMENTS}")
    current = root
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            raise UnsafePath(f"path segment {segment!r} is not allowed in an IPFS path")
        found = read(current).child(segment)
        if found is None:
            where = "/".join(segments[:i]) or "the root"
            raise NotFound(f"no entry named {segment!r} under {where} of {root}")
        current = found
    return current


def file_size(get: GetBlock, cid: Cid) -> int:
    return read_node(get, cid).file_size()


def read_file(
    get: GetBlock, cid: Cid, offset: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """The bytes of the file at ``cid`` from ``offset``, at most ``length`` of them.

    Walks the DAG lazily and skips whole subtrees before ``offset`` using ``blocksizes``,
    so a range read touches only the blocks it needs.
    """
    return _walk_file(get, cid, offset, length, None)


class BlockProbe(Protocol):
    """What a store tells about a block without reading it all (nor re-hashing it)."""

    def block_size(self, cid: Cid) -> int:
        """The block's length; BlockNotFound if it is not there."""
        ...

    def block_head(self, cid: Cid, count: int) -> bytes:
        """The block's first ``count`` bytes; BlockNotFound if it is not there."""
        ...


def check_file(
    get: GetBlock,
    cid: Cid,
    offset: int = 0,
    length: int | None = None,
    *,
    probe: BlockProbe | None = None,
) -> None:
    """Raise now what :func:`read_file` with the same arguments would raise while streaming
    because of the DAG's shape: a file nested too deep (:class:`DagTooDeep`), an inner node
    that is not a file, mismatched block sizes, a missing node. It walks the blocks the read
    will walk. With ``probe``, leaves are not read: a raw leaf is only sized, and (reading to
    the end, ``length`` None) a dag-pb leaf only peeked at (canonical dag-pb puts links first,
    so a block that does not start with one has none), so the check costs the file's inner
    nodes alone. What only a leaf's bytes show (a corrupt or malformed leaf) the read meets."""
    for _ in _walk_file(get, cid, offset, length, probe):
        pass


_LINK_TAG: Final = b"\x12"  # dag-pb field 2 (Links), length-delimited: a node's first byte


def _walk_file(
    get: GetBlock, cid: Cid, offset: int, length: int | None, probe: BlockProbe | None
) -> Iterator[bytes]:
    if offset < 0 or (length is not None and length < 0):
        raise UsageError("offset and length must not be negative")
    remaining = [length]

    def emit(piece: bytes) -> bytes:
        if remaining[0] is not None:
            piece = piece[: remaining[0]]
            remaining[0] -= len(piece)
        return piece

    def walk(node_cid: Cid, skip: int, depth: int = 0) -> Iterator[bytes]:
        if depth > MAX_FILE_DEPTH:  # hostile nesting would end in a RecursionError
            raise DagTooDeep(
                f"file {cid} is nested more than {MAX_FILE_DEPTH} levels deep",
                hint="this node reads no deeper (Kubo's own layout is 7 levels deep at 2**64 "
                "bytes); fetch the blocks with ?format=car",
            )
        if probe is not None and depth > 0:
            if node_cid.codec == RAW:
                size = probe.block_size(node_cid)  # a leaf: its length is all the walk needs
                if skip < size and remaining[0] is not None:
                    remaining[0] -= min(size - skip, remaining[0])
                return
            if (
                node_cid.codec == DAG_PB
                and remaining[0] is None  # no count to keep, so its data length is not needed
                and probe.block_head(node_cid, 1) != _LINK_TAG
            ):
                return  # no links: a leaf, which goes no deeper
        block = get(node_cid)
        meta, links = _unixfs_of(node_cid, block)
        if meta is None:
            if skip < len(block):
                yield emit(block[skip:])
            return
        if meta.type not in (UnixFSType.FILE, UnixFSType.RAW):
            raise UsageError(f"{node_cid} is a {meta.type.name.lower()}, not a file")
        data = meta.data or b""
        if skip < len(data):
            yield emit(data[skip:])
        skip = max(0, skip - len(data))
        if links and len(meta.blocksizes) != len(links):
            raise MalformedBlock(
                f"file node {node_cid} has {len(links)} links but "
                f"{len(meta.blocksizes)} block sizes"
            )
        for link, size in zip(links, meta.blocksizes, strict=False):
            if remaining[0] == 0:
                return
            if skip >= size:
                skip -= size
                continue
            yield from walk(link.cid, skip, depth + 1)
            skip = 0

    for piece in walk(cid, offset):
        if piece:
            yield piece
        if remaining[0] == 0:
            return


def export_to_disk(get: GetBlock, cid: Cid, target: str | os.PathLike[str]) -> Path:
    """Write the file or directory at ``cid`` to ``target``, which must not exist yet."""
    dest = Path(target)
    if dest.exists() or dest.is_symlink():
        raise UsageError(f"{dest} already exists", hint="choose a new output path")
    _export(get, cid, dest)
    return dest


def _checked_entries(get: GetBlock, cid: Cid) -> list[DirEntry]:
    """A directory's entries after every name passed check_name and none repeats."""
    entries = list_directory(get, cid)
    seen: set[str] = set()
    for entry in entries:
        check_name(entry.name)
        if entry.name in seen:
            raise UnsafePath(f"refusing directory {cid}: the name {entry.name!r} appears twice")
        seen.add(entry.name)
    return entries


def _check_depth(depth: int, where: str) -> None:
    # A hostile DAG can nest folders without end: refuse before Python's recursion limit
    # (a RecursionError) or the OS's path length (an OSError) is reached.
    if depth > MAX_PATH_SEGMENTS:
        raise UnsafePath(
            f"refusing {where[:80]!r}…: the DAG nests folders more than {MAX_PATH_SEGMENTS} deep"
        )


def _export(get: GetBlock, cid: Cid, dest: Path, depth: int = 0) -> None:
    _check_depth(depth, str(dest))
    if len(os.fsencode(dest)) >= _PATH_MAX:
        raise UnsafePath(f"refusing {str(dest)[:80]!r}…: the path is longer than the OS allows")
    kind = node_kind(get, cid)
    if kind == UnixFSType.SYMLINK:
        raise UnsafePath(f"refusing to write the symlink {dest.name!r}: symlinks are not exported")
    if kind == UnixFSType.DIRECTORY:
        entries = _checked_entries(get, cid)
        dest.mkdir()
        for entry in entries:
            _export(get, entry.cid, dest / entry.name, depth + 1)
        return
    if kind not in (UnixFSType.FILE, UnixFSType.RAW):
        raise UsageError(f"{cid} is a {kind.name.lower()}, which cannot be exported")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        for piece in read_file(get, cid):
            out.write(piece)


def check_tree(get: GetBlock, cid: Cid, name: str, *, probe: BlockProbe | None = None) -> None:
    """Raise now what :func:`iter_tar` would raise while streaming (an unsafe or repeated
    name, a symlink, folders or a file nested too deep, a node that is neither a file nor a
    folder), walking the same blocks; see :func:`check_file` for ``probe``."""
    check_name(name)
    _check_entry(get, cid, name, probe, 0)


def _check_entry(
    get: GetBlock, cid: Cid, arcname: str, probe: BlockProbe | None, depth: int
) -> None:
    _check_depth(depth, arcname)
    kind = node_kind(get, cid)
    if kind == UnixFSType.SYMLINK:
        raise UnsafePath(f"refusing the symlink {arcname!r}: symlinks are not exported")
    if kind == UnixFSType.DIRECTORY:
        for entry in _checked_entries(get, cid):
            _check_entry(get, entry.cid, f"{arcname}/{entry.name}", probe, depth + 1)
        return
    file_size(get, cid)
    check_file(get, cid, probe=probe)


def iter_tar(get: GetBlock, cid: Cid, name: str) -> Iterator[bytes]:
    """A tar stream of the DAG at ``cid`` under ``name``, as Kubo's ``get`` sends it.

    Same name checks as export_to_disk, so the archive can be unpacked safely. Headers come
    from tarfile; file bodies are streamed block by block, so memory stays bounded.
    """
    check_name(name)
    yield from _tar_entry(get, cid, name)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _tar_header(arcname: str, kind: bytes, size: int, mode: int) -> bytes:
    info = tarfile.TarInfo(arcname)
    info.type = kind
    info.size = size
    info.mode = mode
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _tar_entry(get: GetBlock, cid: Cid, arcname: str, depth: int = 0) -> Iterator[bytes]:
    _check_depth(depth, arcname)
    kind = node_kind(get, cid)
    if kind == UnixFSType.SYMLINK:
        raise UnsafePath(f"refusing the symlink {arcname!r}: symlinks are not exported")
    if kind == UnixFSType.DIRECTORY:
        yield _tar_header(arcname, tarfile.DIRTYPE, 0, 0o755)
        for entry in _checked_entries(get, cid):
            yield from _tar_entry(get, entry.cid, f"{arcname}/{entry.name}", depth + 1)
        return
    size = file_size(get, cid)
    yield _tar_header(arcname, tarfile.REGTYPE, size, 0o644)
    written = 0
    for piece in read_file(get, cid):
        written += len(piece)
        yield piece
    if written != size:
        raise MalformedBlock(f"file {cid} holds {written} bytes but declares {size}")
    if size % tarfile.BLOCKSIZE:
        yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
