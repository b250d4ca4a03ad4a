"""One ``IpfsBackend`` Protocol, two implementations.

* :class:`EmbeddedNode`: this project's own node (the on-disk blockstore, Kubo-identical
  import, CAR files, pins, GC).
* :class:`KuboNode`: a remote Kubo (or anything speaking its RPC API, such as
  ``heritage ipfs serve``) through ipfshttpclient.

Both collect garbage (:meth:`IpfsBackend.gc`). On a remote node that is Kubo's ``repo gc``: it
removes every block that no pin on that node reaches, the project's or anyone else's.

:func:`open_backend` picks one from the settings: ``HERITAGE_IPFS_API`` unset means embedded.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ledger.errors import (
    CarError,
    HeritageError,
    IpfsError,
    LimitExceeded,
    NotFound,
    RemoteNodeError,
    UsageError,
)
from ledger.ipfs.blockstore import Blockstore, CorruptEntry, GcReport, PinKind
from ledger.ipfs.car import MAX_HEADER_SIZE, CarReader, write_car
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid, read_uvarint
from ledger.ipfs.dag import block_links, walk_dag
from ledger.ipfs.files import export_to_disk, read_file, resolve_path
from ledger.ipfs.unixfs import ImportedEntry, ImportOptions, import_path, import_stream
from ledger.settings import Settings

__all__ = [
    "CarImportResult",
    "EmbeddedNode",
    "IpfsBackend",
    "KuboNode",
    "open_backend",
    "parse_ipfs_path",
]

KUBO_MIN_VERSION: Final = (0, 5, 0)
#: Seconds to wait between two lines of a remote ``repo gc``: Kubo marks every pinned DAG
#: before it names the first removed block, which takes long on a big node.
GC_TIMEOUT: Final = 3600.0
NODE_VERSION: Final = "0.32.0"  # the Kubo RPC level whose request/response shapes we follow


@dataclass(frozen=True, slots=True)
class CarImportResult:
    roots: tuple[Cid, ...]
    block_count: int
    pinned: tuple[Cid, ...]


def parse_ipfs_path(text: str) -> tuple[Cid, str]:
    """Split ``/ipfs/<cid>/a/b``, ``<cid>/a/b`` or ``<cid>`` into (CID, "a/b")."""
    stripped = text.strip()
    if stripped.startswith("/ipfs/"):
        stripped = stripped[len("/ipfs/") :]
    head, _, rest = stripped.partition("/")
    return Cid.parse(head), rest.strip("/")


@runtime_checkable
class IpfsBackend(Protocol):
    """What the rest of the project needs from an IPFS node."""

    def add_path(
        self, path: Path, options: ImportOptions, *, pin: bool = True
    ) -> list[ImportedEntry]: ...

    def add_stream(
        self, stream: BinaryIO, options: ImportOptions, *, pin: bool = True
    ) -> ImportedEntry: ...

    def cat(self, path: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]: ...

    def get(self, path: str, target: Path) -> Path: ...

    def block_get(self, cid: Cid) -> bytes: ...

    def block_put(self, data: bytes, codec: int = RAW) -> Cid: ...

    def pin_add(self, cid: Cid, *, recursive: bool = True) -> None: ...

    def pin_rm(self, cid: Cid, *, recursive: bool = True) -> None: ...

    def pin_ls(self) -> dict[Cid, PinKind]: ...

    def gc(self) -> list[Cid]:
        """Remove every block no pin on the node reaches; the removed CIDs (CIDv1, raw)."""
        ...

    def dag_export(self, cid: Cid) -> Iterator[bytes]: ...

    def dag_import(self, stream: BinaryIO, *, pin_roots: bool = True) -> CarImportResult: ...

    def version(self) -> str: ...


class EmbeddedNode:
    """The project's own IPFS node over an on-disk :class:`Blockstore`."""

    def __init__(self, store: Blockstore, *, car_max_bytes: int = 4 << 30) -> None:
        self.store = store
        self.car_max_bytes = car_max_bytes

    @classmethod
    def open(cls, settings: Settings) -> EmbeddedNode:
        return cls(
            Blockstore(settings.blocks_dir, sync=settings.fsync),
            car_max_bytes=settings.car_max_bytes,
        )

    def close(self) -> None:
        self.store.close()

    # ---- adding -----------------------------------------------------------------------------
    def add_path(
        self,
        path: Path,
        options: ImportOptions,
        *,
        pin: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> list[ImportedEntry]:
        with self.store.gc_guard():
            entries = import_path(path, options, self.store, progress)
            if pin:
                self.store.pin(entries[-1].cid, check=False)
        return entries

    def add_stream(
        self,
        stream: BinaryIO,
        options: ImportOptions,
        *,
        pin: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> ImportedEntry:
        with self.store.gc_guard():
            entry = import_stream(stream, options, self.store, progress)
            if pin:
                self.store.pin(entry.cid, check=False)
        return entry

    # ---- reading ----------------------------------------------------------------------------
    def resolve(self, path: str) -> Cid:
        root, rest = parse_ipfs_path(path)
        return resolve_path(self.store.get_block, root, rest) if rest else root

    def cat(self, path: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return read_file(self.store.get_block, self.resolve(path), offset, length)

    def get(self, path: str, target: Path) -> Path:
        return export_to_disk(self.store.get_block, self.resolve(path), target)

    def block_get(self, cid: Cid) -> bytes:
        return self.store.get_block(cid)

    def block_put(self, data: bytes, codec: int = RAW) -> Cid:
        cid = Cid.for_block(data, codec, 1)
        block_links(cid, data)  # refuse bytes that are not the codec they claim (dag-pb, dag-cbor)
        with self.store.gc_guard():
            self.store.put_block(cid, data)
        return cid

    # ---- pins and GC ------------------------------------------------------------------------
    def pin_add(self, cid: Cid, *, recursive: bool = True) -> None:
        self.store.pin(cid, recursive=recursive)

    def pin_rm(self, cid: Cid, *, recursive: bool = True) -> None:
        self.store.unpin(cid, recursive=recursive)

    def pin_ls(self) -> dict[Cid, PinKind]:
        return self.store.pins()

    def gc(self) -> list[Cid]:
        return self.store.gc()

    def collect(self) -> GcReport:
        """Like :meth:`gc`, but blocks that could not be removed are reported, not raised."""
        return self.store.collect()

    def verify(self) -> list[CorruptEntry]:
        return self.store.verify()

    # ---- CAR --------------------------------------------------------------------------------
    def dag_export(self, cid: Cid) -> Iterator[bytes]:
        return write_car([cid], walk_dag(cid, self.store.get_block))

    def dag_import(
        self,
        stream: BinaryIO,
        *,
        pin_roots: bool = True,
        verify: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> CarImportResult:
        """Import a whole CARv1 or nothing of it, then pin its roots.

        When roots are to be pinned, every root's DAG must be complete (in the archive or
        already stored) before anything is kept: a CAR cut exactly between two sections is
        well-formed, and only this walk notices it. Without pinning, a partial DAG is a
        legitimate CAR (a trustless gateway's answer for a path is one) and is kept.
        """
        with self.store.gc_guard():  # GC must not run between the commit and the pins
            with self.store.staged() as staged:
                reader = CarReader(
                    stream, max_size=self.car_max_bytes, verify=verify, on_bytes=progress
                )
                for cid, data in reader.blocks():
                    staged.put_block(cid, data)
                missing = reader.missing_roots()
                if missing:
                    raise CarError(
                        "CAR header names roots that are not in the archive: "
                        + ", ".join(str(m) for m in missing[:5]),
                        hint="the archive is incomplete or its header is wrong; "
                        "nothing was imported",
                    )
                for root in reader.roots if pin_roots else ():
                    try:
                        for _ in walk_dag(root, staged.get_block):
                            pass
                    except NotFound as exc:
                        raise CarError(
                            f"CAR file is incomplete: the DAG under root {root} lacks a block"
                            f" ({exc.message})",
                            hint="the archive was probably truncated; nothing was imported",
                        ) from None
            pinned: list[Cid] = []
            if pin_roots:
                for root in reader.roots:
                    self.store.pin(root, check=False)
                    pinned.append(root)
        return CarImportResult(reader.roots, reader.block_count, tuple(pinned))

    def version(self) -> str:
        return NODE_VERSION


# ---- the remote node -----------------------------------------------------------------------


def _multiaddr_of(api: str) -> str:
    """Accept a multiaddr (``/ip4/…/tcp/5001/http``) or a URL (``http://host:5001``)."""
    if api.startswith("/"):
        return api
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"HERITAGE_IPFS_API={api!r} is neither a multiaddr nor an http(s) URL",
            hint="e.g. http://127.0.0.1:5001 or /ip4/127.0.0.1/tcp/5001/http",
        )
    host = parts.hostname
    proto = "ip6" if ":" in host else ("ip4" if host.replace(".", "").isdigit() else "dns")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"/{proto}/{host}/tcp/{port}/{parts.scheme}"


def _version_tuple(text: str) -> tuple[int, ...]:
    core = text.split("-", 1)[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        raise RemoteNodeError(f"the IPFS node reports an unreadable version {text!r}") from None


class KuboNode:
    """A remote Kubo node through ipfshttpclient (constructed directly: its ``connect()``
    refuses every daemon newer than 0.8, so the version is checked here instead)."""

    def __init__(
        self, api: str, *, timeout: float = 120.0, gc_timeout: float = GC_TIMEOUT
    ) -> None:
        import ipfshttpclient
        import requests

        self.api = api
        self.gc_timeout = gc_timeout
        self._errors = ipfshttpclient.exceptions
        # ipfshttpclient wraps what requests raises while connecting, not while streaming.
        self._failures: tuple[type[Exception], ...] = (
            ipfshttpclient.exceptions.Error,
            requests.RequestException,
        )
        self._client: Any = ipfshttpclient.Client(_multiaddr_of(api), timeout=timeout)
        found = self.version()
        if _version_tuple(found) < KUBO_MIN_VERSION:
            raise RemoteNodeError(
                f"the IPFS node at {api} runs version {found}, older than "
                + ".".join(map(str, KUBO_MIN_VERSION)),
                hint="upgrade the node, or unset HERITAGE_IPFS_API to use the embedded node",
            )

    def close(self) -> None:
        self._client.close()

    def _error(self, what: str, exc: Exception) -> HeritageError:
        """Our error for what ipfshttpclient (or requests, mid-stream) raised."""
        if isinstance(exc, self._errors.ErrorResponse):
            message = str(exc)
            lowered = message.lower()
            # Kubo answers 500 to nearly everything; `heritage ipfs serve` uses 4xx codes.
            response = getattr(exc.original, "response", None)
            status = getattr(response, "status_code", None)
            if status == 404 or "not found" in lowered or "not pinned" in lowered:
                return NotFound(f"{what}: {message}")
            if status == 413 or "too large" in lowered or "limit" in lowered:
                return LimitExceeded(f"{what}: {message}")
            if isinstance(status, int) and 400 <= status < 500:
                return UsageError(f"{what}: {message}")
            return RemoteNodeError(f"{what} failed on the IPFS node at {self.api}: {message}")
        return RemoteNodeError(
            f"{what}: cannot talk to the IPFS node at {self.api}: {exc}",
            hint="is the node running? check HERITAGE_IPFS_API",
        )

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._failures as exc:
            raise self._error(what, exc) from None

    def _stream(self, what: str, fn: Callable[[], Any]) -> Iterator[bytes]:
        """Chunks of a streamed response; errors, even mid-stream, map like _call's."""
        chunks = self._call(what, fn)
        try:
            for chunk in chunks:
                yield bytes(chunk)
        except self._failures as exc:
            raise self._error(what, exc) from None
        finally:
            chunks.close()

    @staticmethod
    def _add_opts(options: ImportOptions) -> dict[str, Any]:
        # raw-leaves always explicit: ipfshttpclient sends raw-leaves=false when it is not
        # given, which would turn off the raw leaves that CIDv1 implies.
        opts: dict[str, Any] = {
            "cid_version": options.cid_version,
            "raw_leaves": options.leaves_raw,
        }
        if options.chunk_size != 262_144:
            opts["chunker"] = f"size-{options.chunk_size}"
        return opts

    def add_path(
        self, path: Path, options: ImportOptions, *, pin: bool = True
    ) -> list[ImportedEntry]:
        opts = self._add_opts(options)
        recursive = path.is_dir()
        if recursive and not options.hidden:
            # ipfshttpclient uploads dotfiles unless a pattern leaves them out; Kubo's `add`
            # filters them on the client side too. (It also skips symlinks, which the
            # embedded importer stores as UnixFS symlinks.)
            opts["pattern"] = _NO_DOTFILES
        result = self._call(
            f"add {path}",
            lambda: self._client.add(str(path), recursive=recursive, pin=pin, **opts),
        )
        items = result if isinstance(result, list) else [result]
        return [
            ImportedEntry(
                str(i["Name"]),
                Cid.parse(i["Hash"]),
                int(i["Size"]),
                0,
                is_dir=recursive and (path.parent / str(i["Name"])).is_dir(),
            )
            for i in items
        ]

    def add_stream(
        self, stream: BinaryIO, options: ImportOptions, *, pin: bool = True
    ) -> ImportedEntry:
        opts = self._add_opts(options)
        result = self._call("add", lambda: self._client.add(stream, pin=pin, **opts))
        return ImportedEntry(
            str(result.get("Name", "")), Cid.parse(result["Hash"]), int(result["Size"]), 0
        )

    def cat(self, path: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        kwargs: dict[str, Any] = {"offset": offset}
        if length is not None:
            kwargs["length"] = length
        return self._stream(f"cat {path}", lambda: self._client.cat(path, stream=True, **kwargs))

    def get(self, path: str, target: Path) -> Path:
        # ipfshttpclient's get() unpacks a tar without checking names; fetch the DAG as a CAR
        # instead and unpack it with the same checked code the embedded node uses.
        if target.exists():
            raise UsageError(f"{target} already exists", hint="choose a new output path")
        root, rest = parse_ipfs_path(path)
        with tempfile.TemporaryDirectory() as scratch:
            node = EmbeddedNode(Blockstore(Path(scratch) / "blocks", sync=False))
            try:
                spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
                with spool:
                    for piece in self.dag_export(root):
                        spool.write(piece)
                    spool.seek(0)
                    node.dag_import(spool, pin_roots=False)  # type: ignore[arg-type]
                return node.get(f"{root}/{rest}" if rest else str(root), target)
            finally:
                node.close()

    def block_get(self, cid: Cid) -> bytes:
        data = bytes(self._call(f"block get {cid}", lambda: self._client.block.get(str(cid))))
        if not cid.matches(data):
            raise RemoteNodeError(f"the IPFS node at {self.api} sent a block that is not {cid}")
        return data

    def block_put(self, data: bytes, codec: int = RAW) -> Cid:
        fmt = {RAW: "raw", DAG_PB: "dag-pb", DAG_CBOR: "dag-cbor"}.get(codec)
        if fmt is None:
            raise UsageError(f"block put supports raw, dag-pb and dag-cbor, not 0x{codec:x}")
        result = self._call(
            "block put",
            lambda: self._client.block.put(io.BytesIO(data), opts={"cid-codec": fmt}),
        )
        cid = Cid.parse(result["Key"])
        if not cid.matches(data):
            raise RemoteNodeError(f"the IPFS node at {self.api} answered a wrong CID {cid}")
        return cid

    def pin_add(self, cid: Cid, *, recursive: bool = True) -> None:
        self._call(f"pin add {cid}", lambda: self._client.pin.add(str(cid), recursive=recursive))

    def pin_rm(self, cid: Cid, *, recursive: bool = True) -> None:
        self._call(f"pin rm {cid}", lambda: self._client.pin.rm(str(cid), recursive=recursive))

    def pin_ls(self) -> dict[Cid, PinKind]:
        # Two narrow calls: type=all makes the node walk every pinned DAG for indirect pins.
        pins: dict[Cid, PinKind] = {}
        kinds: tuple[PinKind, ...] = ("recursive", "direct")
        for kind in kinds:
            result = self._call(f"pin ls --type={kind}", partial(self._client.pin.ls, type=kind))
            for key in dict(result["Keys"]):
                pins.setdefault(Cid.parse(key), kind)
        return pins

    def gc(self) -> list[Cid]:
        """Kubo's ``repo gc`` with ``stream-errors``: every block that no pin on the remote node
        reaches is removed there (not only this project's). The node streams one object per
        block, ``{"Key": {"/": cid}}`` or ``{"Error": message}``; errors are gathered while
        the collection runs to its end, then raised together as RemoteNodeError (Kubo reports
        its final verdict only in an HTTP trailer, which ipfshttpclient does not read)."""
        removed: list[Cid] = []
        errors: list[str] = []
        try:
            lines = self._client.repo.gc(
                opts={"stream-errors": True}, stream=True, timeout=self.gc_timeout
            )
            try:
                for line in lines:
                    entry = _gc_line(line.as_json() if hasattr(line, "as_json") else line)
                    if isinstance(entry, Cid):
                        removed.append(entry)
                    else:
                        errors.append(entry)
            finally:
                lines.close()
        except self._errors.ErrorResponse as exc:  # an error answer, or a late error line
            errors.append(str(exc))
        except self._errors.DecodingError as exc:
            raise RemoteNodeError(
                f"the IPFS node at {self.api} answered `repo gc` with something other than "
                f"JSON lines: {exc}",
                hint="is HERITAGE_IPFS_API the RPC port of a Kubo node?",
            ) from None
        except _MalformedGcLine as exc:
            raise RemoteNodeError(
                f"the IPFS node at {self.api} answered `repo gc` with a malformed line: "
                f"{exc.message}",
                hint="is HERITAGE_IPFS_API the RPC port of a Kubo node?",
            ) from None
        except self._failures as exc:
            raise self._error("repo gc", exc) from None
        if errors:
            shown = "; ".join(dict.fromkeys(errors))
            raise RemoteNodeError(
                f"garbage collection on the IPFS node at {self.api} reported "
                f"{len(errors)} error(s) after removing {len(removed)} blocks: {shown[:800]}",
                hint="unpinned blocks may still be there: fix the node, then run "
                "`heritage ipfs gc` again",
            )
        return removed

    def dag_export(self, cid: Cid) -> Iterator[bytes]:
        return self._stream(
            f"dag export {cid}", lambda: self._client.dag.export(str(cid), stream=True)
        )

    def dag_import(self, stream: BinaryIO, *, pin_roots: bool = True) -> CarImportResult:
        # Kubo names the roots only when it pins them, so read them from the header here.
        roots, header = _read_car_header(stream)
        upload = _Prefixed(header, stream)
        # stream=True: ipfshttpclient insists on exactly one result line otherwise, and Kubo
        # sends one per root plus the stats line.
        items = self._call(
            "dag import",
            lambda: list(
                self._client.dag.imprt(
                    upload, opts={"pin-roots": pin_roots, "stats": True}, stream=True
                )
            ),
        )
        pinned: list[Cid] = []
        blocks = 0
        for item in items:
            root = item.get("Root")
            if root is not None and not root.get("PinErrorMsg"):
                pinned.append(Cid.parse(root["Cid"]["/"]))
            stats = item.get("Stats")
            if stats is not None:
                blocks = int(stats.get("BlockCount", 0))
        return CarImportResult(roots, blocks, tuple(pinned))

    def version(self) -> str:
        result = self._call("version", lambda: self._client.version())
        return str(result["Version"])


class _MalformedGcLine(RemoteNodeError):
    """A line of a ``repo gc`` answer that is not Kubo's GcResult; KuboNode.gc re-raises it
    as a RemoteNodeError that names the node."""


def _gc_line(line: object) -> Cid | str:
    """One object of a ``repo gc`` answer: the removed block's CID, or an error message.
    Kubo writes ``{"Key": {"/": cid}}`` (old go-ipfs: ``{"Key": cid}``), and with
    stream-errors ``{"Key": null, "Error": message}``; anything else is malformed."""
    if not isinstance(line, dict):
        raise _MalformedGcLine(f"{str(line)[:120]!r} is not a JSON object")
    error = line.get("Error")
    if error:
        return str(error)[:500]
    key = line.get("Key")
    text = key.get("/") if isinstance(key, dict) else key
    if not isinstance(text, str):
        raise _MalformedGcLine(f"{json.dumps(line)[:120]} names no removed CID and no error")
    try:
        return Cid.parse(text)
    except HeritageError:
        raise _MalformedGcLine(f"{text[:120]!r} is not a CID") from None


_NO_DOTFILES: Final = re.compile(r"^(?!(?:.*/)?\.)")  # no path segment starts with a dot


def _read_car_header(stream: BinaryIO) -> tuple[tuple[Cid, ...], bytes]:
    """The roots of the CAR on ``stream`` and the header bytes read to find them."""
    head = bytearray()
    while not head or head[-1] & 0x80:
        byte = stream.read(1)
        if not byte or len(head) == 9:
            raise CarError("CAR file is truncated or malformed inside its header length")
        head += byte
    try:
        length, _ = read_uvarint(bytes(head), 0)
    except ValueError as exc:
        raise CarError(f"CAR header length is malformed: {exc}") from None
    if length > MAX_HEADER_SIZE:
        raise CarError(f"CAR header claims {length} bytes; at most {MAX_HEADER_SIZE}")
    while length:
        piece = stream.read(length)
        if not piece:
            raise CarError("CAR file is truncated inside its header")
        head += piece
        length -= len(piece)
    return CarReader(io.BytesIO(bytes(head))).roots, bytes(head)


class _Prefixed:
    """``prefix`` followed by the rest of ``stream``, as one readable file object."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                out, self._prefix = self._prefix + self._stream.read(), b""
                return out
            out, self._prefix = self._prefix[:size], self._prefix[size:]
            return out
        return self._stream.read(size)


def open_backend(settings: Settings) -> EmbeddedNode | KuboNode:
    """The node the settings name: the embedded one unless ``ipfs_api`` is set."""
    if settings.ipfs_api:
        try:
            return KuboNode(settings.ipfs_api)
        except HeritageError:
            raise
        except Exception as exc:  # multiaddr and the HTTP stack raise their own types
            raise IpfsError(f"cannot use HERITAGE_IPFS_API={settings.ipfs_api!r}: {exc}") from None
    return EmbeddedNode.open(settings)
