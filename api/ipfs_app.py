"""The embedded IPFS node's HTTP face: a subset of Kubo's RPC API and a trustless gateway.

``create_ipfs_app(settings, node)`` serves, on one port:

* ``POST /api/v0/...``: ``add``, ``cat``, ``get``, ``block/get|put|stat``, ``pin/add|rm|ls``,
  ``repo/gc``, ``dag/export|import``, ``version``, ``id``, with Kubo's request shapes (arguments in
  ``?arg=``, booleans as Go's ``strconv.ParseBool`` reads them, multipart uploads as
  ipfshttpclient 0.7.0 sends them) and Kubo's response shapes, so an unmodified
  ``ipfshttpclient.Client`` (and :class:`ledger.ipfs.backend.KuboNode`) works against it.
* ``GET|HEAD /ipfs/<cid>[/<path>]``: files (streamed, single byte ranges, ``ETag`` = the CID),
  directories (``index.html`` or an escaped listing), ``?format=raw|car|tar`` and the
  matching ``Accept`` types of the trustless gateway spec.

Routes parse, call the node, and format; everything else lives in :mod:`ledger.ipfs`.
Request bodies are pulled chunk by chunk by a worker thread (see :class:`_Multipart`), so an
upload is imported while it arrives and never held whole in memory; a body over
``settings.request_max_bytes`` is refused from its Content-Length, or once that many bytes
have been counted. Uploads are staged and become visible (and pinned) only when complete.
Errors come back as Kubo's error body plus ``ErrorCode`` (see :mod:`api.errors`).
"""

from __future__ import annotations

import contextlib
import html
import json
import platform
import re
import zlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, BinaryIO, Final, cast
from urllib.parse import quote, unquote_plus

from anyio import from_thread, to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BrowserRequestRefused, install_error_handlers, kubo_error_response
from ledger.errors import HeritageError, LimitExceeded, NotFound, UnsafePath, UsageError
from ledger.ipfs.backend import NODE_VERSION, EmbeddedNode, parse_ipfs_path
from ledger.ipfs.blockstore import PinKind
from ledger.ipfs.car import MAX_SECTION_SIZE, write_car
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid
from ledger.ipfs.dag import block_links, walk_dag
from ledger.ipfs.dagpb import UnixFSType
from ledger.ipfs.files import (
    DirEntry,
    GetBlock,
    check_file,
    check_name,
    check_tree,
    file_size,
    iter_tar,
    list_directory,
    node_kind,
    read_file,
    resolve_path,
)
from ledger.ipfs.unixfs import (
    CHUNK_SIZE,
    BlockSink,
    ImportedEntry,
    ImportOptions,
    import_directory,
    import_stream,
)
from ledger.settings import Settings

__all__ = ["create_ipfs_app"]

IMMUTABLE: Final = "public, max-age=29030400, immutable"
MAX_BLOCK_SIZE: Final = 1 << 20  # Kubo's `block put` limit without --allow-big-block
MAX_BLOCK_PUT_BYTES: Final = 16 << 20  # all blocks of one `block put`, held until checked
MAX_PARTS: Final = 100_000
_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
_DIRECTORY_TYPE: Final = b"application/x-directory"
_SYMLINK_TYPE: Final = b"application/symlink"
_CONTENT_TYPES: Final = {
    ".avif": "image/avif",
    ".bin": "application/octet-stream",
    ".car": "application/vnd.ipld.car",
    ".css": "text/css; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".gif": "image/gif",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".htm": "text/html; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".ico": "image/x-icon",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".ktx2": "image/ktx2",
    ".md": "text/markdown; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".ogg": "audio/ogg",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".txt": "text/plain; charset=utf-8",
    ".usdz": "model/vnd.usdz+zip",
    ".wasm": "application/wasm",
    ".wav": "audio/wav",
    ".webm": "video/webm",
    ".webmanifest": "application/manifest+json",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".xml": "text/xml; charset=utf-8",
    ".zip": "application/zip",
}


# ---- query parameters ----------------------------------------------------------------------


class _Params:
    """Kubo-style query options: ``arg`` repeated, booleans and integers as Go parses them."""

    def __init__(self, request: Request) -> None:
        self._query = request.query_params

    def args(self) -> list[str]:
        return self._query.getlist("arg")

    def one_arg(self, what: str) -> str:
        args = self.args()
        if not args:
            raise UsageError(f"argument {what!r} is required", hint="pass it as ?arg=<value>")
        if len(args) > 1:
            raise UsageError(f"expected one {what}, got {len(args)}")
        return args[0]

    def some_args(self, what: str) -> list[str]:
        args = self.args()
        if not args:
            raise UsageError(f"argument {what!r} is required", hint="pass it as ?arg=<value>")
        return args

    def text(self, name: str) -> str | None:
        return self._query.get(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self._query.get(name)
        if value is None:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise UsageError(f"option {name!r} must be true or false, not {value[:40]!r}")

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self._query.get(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value):
            raise UsageError(f"option {name!r} must be an integer, not {value[:40]!r}")
        number = int(value)
        if number < minimum:
            raise UsageError(f"option {name!r} must be at least {minimum}, not {number}")
        return number


# ---- request bodies ------------------------------------------------------------------------


class _BodyLimit:
    """Refuse bodies over ``max_bytes``: by Content-Length up front, then by counting."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1")
            if not text.isdigit():
                response = kubo_error_response(
                    400, f"Content-Length {text[:40]!r} is not a number", UsageError.code
                )
                await response(scope, receive, send)
                return
            if int(text) > self.max_bytes:
                error = self._too_large()
                response = kubo_error_response(413, error.message, error.code, hint=error.hint)
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> LimitExceeded:
        return LimitExceeded(
            f"request body is larger than the limit of {self.max_bytes} bytes",
            hint="split the upload, or raise request_max_bytes in the settings",
        )


class _BodyPull:
    """The request body, pulled chunk by chunk from the worker thread that handles it."""

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncGenerator[bytes, None] = request.stream()

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def __call__(self) -> bytes | None:
        """The next non-empty chunk, or None at the end. Call only from a worker thread."""
        while True:
            chunk = from_thread.run(self._next)
            if chunk is None or chunk:
                return chunk


class _Part:
    """One part of a multipart body: its headers, and its bytes through ``read``."""

    def __init__(self, owner: _Multipart, headers: dict[bytes, bytes]) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self.ended = False
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        content_type, _ = parse_options_header(headers.get(b"content-type", b""))
        self.content_type = content_type
        raw = disposition.get(b"filename", b"")
        try:
            # ipfshttpclient percent-encodes names (slashes too); Kubo reads them back with
            # Go's url.QueryUnescape.
            self.filename = unquote_plus(raw.decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            raise UsageError("a multipart file name is not UTF-8") from None

    def _take(self, keep: bool) -> None:
        kind, payload = self._owner.part_event()
        if kind == "data":
            if keep:
                self._buffer += payload
        elif kind == "end":
            self.ended = True
        else:
            raise UsageError("malformed multipart body: a part has no end")

    def read(self, size: int = -1) -> bytes:
        while not self.ended and (size < 0 or len(self._buffer) < size):
            self._take(keep=True)
        if size < 0 or size > len(self._buffer):
            size = len(self._buffer)
        if size == 0 and self.ended:
            # Before a reader sees the end of this part (and commits what it read), make
            # sure the body goes on well-formed: another part's headers, or the closing
            # boundary. A body cut short here fails the reader instead.
            self._owner.look_ahead()
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def drain(self) -> None:
        self._buffer.clear()
        while not self.ended:
            self._take(keep=False)

    @property
    def stream(self) -> BinaryIO:
        """This part as the binary stream the importers read (they only call ``read``)."""
        return cast(BinaryIO, self)


class _Multipart:
    """A pull parser over a multipart body, on top of python-multipart's push parser.

    The worker thread asks for parts and reads each like a file; whenever it needs more
    bytes, one more chunk is pulled from the request and pushed through the parser, whose
    callbacks queue events (part headers, data, part end). Memory stays at about one chunk.
    """

    def __init__(self, content_type: str, pull: Callable[[], bytes | None]) -> None:
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not kind.startswith(b"multipart/") or not boundary:
            raise UsageError(
                "the request body must be multipart/form-data with a boundary",
                hint="send files as multipart/form-data, as ipfshttpclient and curl -F do",
            )
        self._pull = pull
        self._events: deque[tuple[str, Any]] = deque()
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._done = False
        self._part: _Part | None = None
        self._count = 0
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise UsageError(f"malformed multipart request: {exc}") from None

    @classmethod
    def of(cls, request: Request) -> _Multipart:
        return cls(request.headers.get("content-type", ""), _BodyPull(request))

    # ---- parser callbacks (they run inside parser.write) --------------------------------
    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._field).strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        self._events.append(("part", self._headers))
        self._headers = {}

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(("data", bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self._events.append(("end", None))

    def _on_end(self) -> None:
        self._done = True

    # ---- pulling ------------------------------------------------------------------------
    def _next_event(self) -> tuple[str, Any] | None:
        self.look_ahead()
        return self._events.popleft() if self._events else None

    def look_ahead(self) -> None:
        """Parse until the next part's headers or the closing boundary have arrived."""
        while not self._events and not self._done:
            chunk = self._pull()
            if chunk is None:
                raise UsageError("malformed multipart body: it ends before its closing boundary")
            self._write(chunk)

    def _write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise UsageError(f"malformed multipart body: {exc}") from None

    def part_event(self) -> tuple[str, Any]:
        event = self._next_event()
        if event is None:
            raise UsageError("malformed multipart body: a part has no end")
        return event

    def parts(self) -> Iterator[_Part]:
        """Each part in order; reading one is optional (the rest of it is skipped)."""
        while True:
            if self._part is not None:
                self._part.drain()
            event = self._next_event()
            if event is None:
                while self._pull() is not None:  # an epilogue, bounded by the body limit
                    pass
                return
            kind, headers = event
            if kind != "part":
                raise UsageError("malformed multipart body: data outside a part")
            self._count += 1
            if self._count > MAX_PARTS:
                raise LimitExceeded(f"more than {MAX_PARTS} parts in one request")
            self._part = _Part(self, headers)
            yield self._part


# ---- add -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AddRequest:
    options: ImportOptions
    pin: bool
    only_hash: bool
    wrap: bool
    quieter: bool

    @classmethod
    def parse(cls, params: _Params) -> _AddRequest:
        for name in ("trickle", "nocopy", "inline", "preserve-mode", "preserve-mtime"):
            if params.flag(name, False):
                raise UsageError(f"`add` does not support {name}=true on this node")
        for name in ("to-files", "mode", "mtime"):
            if params.text(name):
                raise UsageError(f"`add` does not support the option {name!r} on this node")
        hash_name = params.text("hash") or "sha2-256"
        if hash_name != "sha2-256":
            raise UsageError(f"hash function {hash_name!r} is not supported; use sha2-256")
        chunker = params.text("chunker") or "default"
        if chunker == "default":
            chunk_size = CHUNK_SIZE
        elif chunker.startswith("size-") and chunker[5:].isdigit() and len(chunker) < 16:
            chunk_size = int(chunker[5:])
        else:
            raise UsageError(f"chunker {chunker[:40]!r} is not supported", hint="use size-<bytes>")
        cid_version = params.integer("cid-version", 0)
        raw_leaves = params.text("raw-leaves")
        options = ImportOptions(
            cid_version=cid_version or 0,
            raw_leaves=None if raw_leaves is None else params.flag("raw-leaves", False),
            chunk_size=chunk_size,
        )
        return cls(
            options,
            pin=params.flag("pin", True),
            only_hash=params.flag("only-hash", False),
            wrap=params.flag("wrap-with-directory", False),
            quieter=params.flag("quieter", False),
        )


@dataclass(slots=True)
class _Folder:
    entries: dict[str, _Folder | ImportedEntry] = field(default_factory=dict)


class _AddTree:
    """Files and directories of one upload, assembled as ``ipfs add -r`` would."""

    def __init__(self, options: ImportOptions, sink: BlockSink | None) -> None:
        self._options = options
        self._sink = sink
        self._top = _Folder()
        self.files: list[ImportedEntry] = []

    @property
    def empty(self) -> bool:
        return not self._top.entries

    def _split(self, name: str) -> list[str]:
        segments = name.split("/")
        for segment in segments:
            check_name(segment)  # no "", ".", "..", backslash, NUL or over-long names
        return segments

    def _folder(self, segments: list[str]) -> _Folder:
        folder = self._top
        for depth, segment in enumerate(segments):
            child = folder.entries.setdefault(segment, _Folder())
            if not isinstance(child, _Folder):
                where = "/".join(segments[: depth + 1])
                raise UsageError(f"{where!r} was sent as a file and is used as a directory")
            folder = child
        return folder

    def add_directory(self, name: str) -> None:
        self._folder(self._split(name))

    def add_file(self, name: str, stream: BinaryIO) -> None:
        if name:
            segments = self._split(name)
            parent = self._folder(segments[:-1])
            leaf = segments[-1]
            if leaf in parent.entries:
                raise UsageError(f"{name!r} was sent twice")
            entry = import_stream(stream, self._options, self._sink)
        else:  # an unnamed upload is named by its CID, as Kubo names what it reads from stdin
            entry = import_stream(stream, self._options, self._sink)
            parent, leaf = self._top, str(entry.cid)
            name = leaf
            if leaf in parent.entries:
                raise UsageError(f"the same unnamed content was sent twice ({leaf})")
        placed = ImportedEntry(name, entry.cid, entry.tsize, entry.filesize)
        parent.entries[leaf] = placed
        self.files.append(placed)

    def finish(self, wrap: bool) -> tuple[list[ImportedEntry], list[ImportedEntry]]:
        """(every entry in Kubo's output order, the roots to pin)."""
        directories: list[ImportedEntry] = []

        def build(path: str, folder: _Folder) -> ImportedEntry:
            children = []
            for name in sorted(folder.entries):
                child = folder.entries[name]
                if isinstance(child, _Folder):
                    children.append((name, build(f"{path}/{name}", child)))
                else:
                    children.append((name, child))
            entry = import_directory(path, children, self._options, self._sink)
            directories.append(entry)
            return entry

        top: list[tuple[str, ImportedEntry]] = []
        for name, child in self._top.entries.items():
            top.append((name, build(name, child) if isinstance(child, _Folder) else child))
        if wrap:
            wrapper = import_directory("", top, self._options, self._sink)
            directories.append(wrapper)
            return [*self.files, *directories], [wrapper]
        return [*self.files, *directories], [entry for _, entry in top]


# ---- gateway helpers -----------------------------------------------------------------------


def _content_type(name: str | None) -> str:
    if name and "." in name:
        return _CONTENT_TYPES.get("." + name.rsplit(".", 1)[1].lower(), "application/octet-stream")
    return "application/octet-stream"


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    wanted = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


_UNSATISFIABLE: Final = (-1, -1)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single ``bytes=`` range, None to send everything (no header, a
    header we ignore as RFC 9110 allows, several ranges), or _UNSATISFIABLE."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or any(p and not _DIGITS.fullmatch(p) for p in (first, last)):
        return None
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return _UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return _UNSATISFIABLE
    return start, min(end, size - 1)


def _requested_format(request: Request) -> str | None:
    fmt = request.query_params.get("format")
    if fmt is not None:
        if fmt in ("raw", "car", "tar"):
            return fmt
        raise UsageError(f"format {fmt[:40]!r} is not supported", hint="use raw, car or tar")
    for item in request.headers.get("accept", "").split(","):
        media, _, params = item.partition(";")
        if re.search(r"(^|;)\s*q=0(\.0*)?\s*($|;)", params):
            continue
        media = media.strip().lower()
        if media == "application/vnd.ipld.raw":
            return "raw"
        if media == "application/vnd.ipld.car":
            return "car"
        if media == "application/x-tar":
            return "tar"
    return None


def _listing_html(content_path: str, entries: list[DirEntry]) -> bytes:
    """A minimal directory listing; every name is escaped, every link relative."""
    title = html.escape(content_path)
    rows = []
    for entry in entries:
        href = html.escape("./" + quote(entry.name, safe=""), quote=True)
        size = "" if entry.tsize is None else str(entry.tsize)
        label = html.escape(entry.name)
        rows.append(f'<li><a href="{href}">{label}</a> <small>{size}</small></li>')
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
        + "\n".join(rows)
        + "\n</ul></body></html>\n"
    )
    return page.encode("utf-8")


def _gzip(pieces: Iterable[bytes], level: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


def _ndjson(items: Iterable[dict[str, Any]]) -> Response:
    body = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
    return Response(body, media_type="application/json", headers={"X-Chunked-Output": "1"})


def _gc_failed(code: str) -> dict[str, Any]:
    """The error line that ends a ``repo gc`` answer with errors (Kubo's trailer message)."""
    return {
        "Message": "encountered errors during gc run",
        "Code": 0,
        "Type": "error",
        "ErrorCode": code,
    }


def _refuse_browsers(request: Request) -> None:
    """Web pages (including ones served by this very gateway) must not drive the RPC API.

    Browsers send Origin on every POST and Sec-Fetch-Site on every request; programs such as
    ipfshttpclient send neither. (Kubo, too, answers cross-origin RPC calls with 403.)
    """
    site = request.headers.get("sec-fetch-site", "none")
    if "origin" in request.headers or site != "none":
        raise BrowserRequestRefused(
            "RPC calls from web pages are refused",
            hint="call the RPC API from a program; web pages may use the /ipfs/ gateway",
        )


# ---- the routes ----------------------------------------------------------------------------


class _IpfsRoutes:
    def __init__(self, node: EmbeddedNode) -> None:
        self.node = node

    @property
    def _get(self) -> GetBlock:
        return self.node.store.get_block

    def rpc_endpoints(self) -> list[tuple[str, Callable[..., Any]]]:
        return [
            ("/add", self.add),
            ("/cat", self.cat),
            ("/get", self.get),
            ("/block/get", self.block_get),
            ("/block/put", self.block_put),
            ("/block/stat", self.block_stat),
            ("/pin/add", self.pin_add),
            ("/pin/rm", self.pin_rm),
            ("/pin/ls", self.pin_ls),
            ("/repo/gc", self.repo_gc),
            ("/dag/export", self.dag_export),
            ("/dag/import", self.dag_import),
            ("/version", self.version),
            ("/id", self.identity),
        ]

    # ---- add ----------------------------------------------------------------------------
    async def add(self, request: Request) -> Response:
        wanted = _AddRequest.parse(_Params(request))
        body = _Multipart.of(request)
        entries = await to_thread.run_sync(self._add, wanted, body)
        if wanted.quieter:
            entries = entries[-1:]
        return _ndjson({"Name": e.path, "Hash": str(e.cid), "Size": str(e.tsize)} for e in entries)

    def _add(self, wanted: _AddRequest, body: _Multipart) -> list[ImportedEntry]:
        store = self.node.store
        if wanted.only_hash:
            entries, _ = self._import_parts(wanted, body, None)
            return entries
        with store.gc_guard():
            with store.staged() as staged:
                entries, roots = self._import_parts(wanted, body, staged)
            if wanted.pin:
                for root in roots:
                    store.pin(root.cid, check=False)  # just written, whole
        return entries

    def _import_parts(
        self, wanted: _AddRequest, body: _Multipart, sink: BlockSink | None
    ) -> tuple[list[ImportedEntry], list[ImportedEntry]]:
        tree = _AddTree(wanted.options, sink)
        for part in body.parts():
            if part.content_type == _DIRECTORY_TYPE:
                tree.add_directory(part.filename)
            elif part.content_type == _SYMLINK_TYPE:
                raise UsageError(f"symlinks cannot be added here ({part.filename[:80]!r})")
            else:
                tree.add_file(part.filename, part.stream)
        if tree.empty:
            raise UsageError("no file was sent", hint="send at least one multipart file part")
        return tree.finish(wanted.wrap)

    # ---- reading ------------------------------------------------------------------------
    def cat(self, request: Request) -> Response:
        params = _Params(request)
        path = params.one_arg("ipfs-path")
        offset = params.integer("offset", 0) or 0
        length = params.integer("length", None)
        cid = self.node.resolve(path)
        size = file_size(self._get, cid)
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        # What the stream would meet (too deep a DAG, a missing node), answered before it;
        # the check and the read take the same arguments (to the end: None), so they agree.
        until = None if count == size - start else count
        check_file(self._get, cid, start, until, probe=self.node.store)
        # Chunked like Kubo's (X-Content-Length, no Content-Length): clients that read a
        # response with a Content-Length as one piece (urllib3) stream chunked ones.
        return StreamingResponse(
            self.node.cat(str(cid), start, until),
            media_type="application/octet-stream",
            headers={"X-Content-Length": str(count)},
        )

    def get(self, request: Request) -> Response:
        params = _Params(request)
        path = params.one_arg("ipfs-path")
        _, rest = parse_ipfs_path(path)
        cid = self.node.resolve(path)
        given_root = path.strip().removeprefix("/ipfs/").split("/", 1)[0]
        name = check_name(rest.rsplit("/", 1)[-1] if rest else given_root)
        # A missing block, an unsafe name or too deep a DAG answers an error before the stream.
        check_tree(self._get, cid, name, probe=self.node.store)
        level = params.integer("compression-level", -1, minimum=-1)
        if level is not None and level > 9:
            raise UsageError(f"compression-level must be -1 to 9, not {level}")
        body: Iterator[bytes] = iter_tar(self._get, cid, name)
        if params.flag("compress", False):
            return StreamingResponse(
                _gzip(body, -1 if level is None else level), media_type="application/gzip"
            )
        return StreamingResponse(body, media_type="application/x-tar")

    # ---- blocks -------------------------------------------------------------------------
    def block_get(self, request: Request) -> Response:
        cid = self.node.resolve(_Params(request).one_arg("cid"))
        return Response(self.node.block_get(cid), media_type="application/octet-stream")

    def block_stat(self, request: Request) -> Response:
        cid = self.node.resolve(_Params(request).one_arg("cid"))
        return JSONResponse({"Key": str(cid), "Size": len(self.node.block_get(cid))})

    async def block_put(self, request: Request) -> Response:
        params = _Params(request)
        codec, version = self._block_codec(params)
        mhtype = params.text("mhtype") or "sha2-256"
        if mhtype != "sha2-256" or params.integer("mhlen", -1, minimum=-1) not in (-1, 32):
            raise UsageError(f"hash {mhtype!r} is not supported; use sha2-256 (32 bytes)")
        pin = params.flag("pin", False)
        limit = MAX_SECTION_SIZE if params.flag("allow-big-block", False) else MAX_BLOCK_SIZE
        body = _Multipart.of(request)
        stored = await to_thread.run_sync(self._block_put, body, codec, version, pin, limit)
        return _ndjson({"Key": str(cid), "Size": size} for cid, size in stored)

    @staticmethod
    def _block_codec(params: _Params) -> tuple[int, int]:
        """(codec, CID version) from ``cid-codec`` or Kubo's older ``format``."""
        codecs = {"raw": RAW, "dag-pb": DAG_PB, "dag-cbor": DAG_CBOR}
        formats = {
            "v0": (DAG_PB, 0),
            "protobuf": (DAG_PB, 0),
            "raw": (RAW, 1),
            "dag-pb": (DAG_PB, 1),
            "cbor": (DAG_CBOR, 1),
            "dag-cbor": (DAG_CBOR, 1),
        }
        codec_name = params.text("cid-codec")
        format_name = params.text("format")
        if codec_name and format_name:
            raise UsageError("pass either cid-codec or format, not both")
        if format_name:
            if format_name not in formats:
                raise UsageError(
                    f"block format {format_name[:40]!r} is not supported",
                    hint="use one of: " + ", ".join(formats),
                )
            return formats[format_name]
        name = codec_name or "raw"
        if name not in codecs:
            raise UsageError(
                f"codec {name[:40]!r} is not supported", hint="use raw, dag-pb or dag-cbor"
            )
        return codecs[name], 1

    def _block_put(
        self, body: _Multipart, codec: int, version: int, pin: bool, limit: int
    ) -> list[tuple[Cid, int]]:
        # All blocks are read and checked before any is stored: a bad body stores nothing.
        blocks: list[bytes] = []
        total = 0
        for part in body.parts():
            data = part.read(limit + 1)
            total += len(data)
            if len(data) > limit or total > MAX_BLOCK_PUT_BYTES:
                raise LimitExceeded(
                    f"a block may be at most {limit} bytes, and one request at most "
                    f"{MAX_BLOCK_PUT_BYTES}",
                    hint="add large content with `add`, which splits it into blocks",
                )
            block_links(Cid.for_block(data, codec), data)  # is it the codec it claims?
            blocks.append(data)
        if not blocks:
            raise UsageError("no block was sent", hint="send the block as a multipart file part")
        stored: list[tuple[Cid, int]] = []
        with self.node.store.gc_guard():
            for data in blocks:
                cid = self.node.block_put(data, codec)
                if version == 0:
                    cid = Cid(0, DAG_PB, cid.multihash)
                if pin:
                    self.node.pin_add(cid)
                stored.append((cid, len(data)))
        return stored

    # ---- pins ---------------------------------------------------------------------------
    def pin_add(self, request: Request) -> Response:
        params = _Params(request)
        recursive = params.flag("recursive", True)
        cids = [self.node.resolve(arg) for arg in params.some_args("ipfs-path")]
        for cid in cids:
            self.node.pin_add(cid, recursive=recursive)
        return JSONResponse({"Pins": [str(cid) for cid in cids]})

    def pin_rm(self, request: Request) -> Response:
        params = _Params(request)
        recursive = params.flag("recursive", True)
        args = params.some_args("ipfs-path")
        cids = [self.node.resolve(arg) for arg in args]
        pins = self.node.pin_ls()
        for arg, cid in zip(args, cids, strict=True):  # check all before removing any
            kind = pins.get(cid)
            if kind is None:
                raise NotFound(f"{arg} is not pinned or pinned indirectly")
            if kind == "recursive" and not recursive:
                raise UsageError(f"{arg} is pinned recursively", hint="pass recursive=true")
        for cid in cids:
            self.node.pin_rm(cid, recursive=recursive)
        return JSONResponse({"Pins": [str(cid) for cid in cids]})

    def pin_ls(self, request: Request) -> Response:
        params = _Params(request)
        kind = params.text("type") or "all"
        if kind not in ("all", "recursive", "direct", "indirect"):
            raise UsageError(
                f"pin type {kind[:40]!r} is not known",
                hint="use all, recursive, direct or indirect",
            )
        pins = self.node.pin_ls()
        keys: dict[str, str] = {}
        args = params.args()
        if args:
            for arg in args:
                cid = self.node.resolve(arg)
                found = self._pin_type(cid, pins, kind)
                if found is None:
                    raise NotFound(f"path '{arg}' is not pinned")
                keys[str(cid)] = found
        else:
            for cid, pin_kind in pins.items():
                if kind in ("all", pin_kind):
                    keys[str(cid)] = pin_kind
            if kind in ("all", "indirect"):
                for cid in self._indirect(pins):
                    keys.setdefault(str(cid), "indirect")
        if params.flag("stream", False):
            return _ndjson({"Cid": c, "Type": t, "Name": ""} for c, t in keys.items())
        return JSONResponse({"Keys": {c: {"Type": t, "Name": ""} for c, t in keys.items()}})

    def _indirect(self, pins: dict[Cid, PinKind]) -> Iterator[Cid]:
        """Blocks under recursive pins that are not pinned themselves."""
        seen: set[bytes] = set()
        for root, pin_kind in pins.items():
            if pin_kind != "recursive":
                continue
            for cid, _ in walk_dag(root, self._get):
                if cid.multihash not in seen and cid != root and cid not in pins:
                    yield cid
                seen.add(cid.multihash)

    def _pin_type(self, cid: Cid, pins: dict[Cid, PinKind], wanted: str) -> str | None:
        direct = pins.get(cid)
        if direct is not None and wanted in ("all", direct):
            return direct
        if wanted in ("all", "indirect"):
            for root, pin_kind in pins.items():
                if pin_kind != "recursive" or root == cid:
                    continue
                if any(c.multihash == cid.multihash for c, _ in walk_dag(root, self._get)):
                    return f"indirect through {root}"
        return None

    # ---- garbage collection -------------------------------------------------------------
    async def repo_gc(self, request: Request) -> Response:
        """Kubo's ``repo gc``: one ``{"Key": {"/": cid}}`` line per removed block. With
        ``stream-errors``, a block that could not be removed is a ``{"Key": null, "Error":
        message}`` line and the answer ends with an error line (Kubo sends that verdict as an
        HTTP trailer, which no Python client reads); without it, any error fails the call.
        ``silent`` leaves out the Key lines (not with stream-errors, as in Kubo); ``quiet``
        shapes only Kubo's text output, so JSON answers ignore it."""
        params = _Params(request)
        if params.args():
            raise UsageError("`repo gc` takes no arguments")
        stream_errors = params.flag("stream-errors", False)
        silent = params.flag("silent", False) and not stream_errors
        params.flag("quiet", False)  # checked for Go's boolean syntax, like every flag
        try:
            report = await to_thread.run_sync(self.node.collect)
        except HeritageError as exc:  # nothing was removed: a pinned DAG cannot be walked
            if not stream_errors:
                return kubo_error_response(500, exc.message, exc.code, hint=exc.hint)
            return _ndjson([{"Key": None, "Error": exc.message}, _gc_failed(exc.code)])
        lines: list[dict[str, Any]] = []
        if not silent:
            lines += [{"Key": {"/": str(cid)}} for cid in report.removed]
        if report.failed:
            errors = [f"could not remove {cid}: {why}" for cid, why in report.failed]
            if not stream_errors:
                return kubo_error_response(500, "; ".join(errors)[:2000], "gc_incomplete")
            lines += [{"Key": None, "Error": error} for error in errors]
            lines.append(_gc_failed("gc_incomplete"))
        return _ndjson(lines)

    # ---- CAR ----------------------------------------------------------------------------
    def dag_export(self, request: Request) -> Response:
        cid = self.node.resolve(_Params(request).one_arg("root"))
        self.node.block_get(cid)  # a missing root answers 404 before the stream starts
        return StreamingResponse(self.node.dag_export(cid), media_type="application/vnd.ipld.car")

    async def dag_import(self, request: Request) -> Response:
        params = _Params(request)
        pin_roots = params.flag("pin-roots", True)
        stats = params.flag("stats", False)
        body = _Multipart.of(request)
        lines = await to_thread.run_sync(self._dag_import, body, pin_roots, stats)
        return _ndjson(lines)

    def _dag_import(self, body: _Multipart, pin_roots: bool, stats: bool) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        roots: dict[Cid, None] = {}
        blocks = 0
        with self.node.store.gc_guard():  # nothing imported may be collected before its pin
            for part in body.parts():
                result = self.node.dag_import(part.stream, pin_roots=False)
                roots.update(dict.fromkeys(result.roots))
                blocks += result.block_count
            if not roots:
                raise UsageError("no CAR file was sent", hint="send it as a multipart file part")
            if pin_roots:
                failed = 0
                for root in roots:
                    message = ""
                    try:
                        self.node.pin_add(root)
                    except HeritageError as exc:
                        message = exc.message
                        failed += 1
                    lines.append({"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": message}})
                if failed:
                    lines.append(
                        {
                            "Message": f"unable to pin all roots: {failed} out of "
                            f"{len(roots)} failed",
                            "Code": 0,
                            "Type": "error",
                            "ErrorCode": "pin_failed",
                        }
                    )
        if stats:
            lines.append({"Stats": {"BlockCount": blocks}})
        return lines

    # ---- about the node -----------------------------------------------------------------
    def version(self) -> Response:
        # "Version" is the Kubo RPC level whose request and response shapes this node
        # follows (ledger.ipfs.backend.NODE_VERSION), not a Kubo build.
        return JSONResponse(
            {
                "Version": NODE_VERSION,
                "Commit": "",
                "Repo": "",
                "System": f"{platform.machine().lower()}/{platform.system().lower()}",
                "Golang": "",
            }
        )

    def identity(self, request: Request) -> Response:
        if _Params(request).args():
            raise UsageError("this node does not join the IPFS network and knows no peers")
        # No libp2p identity: the embedded node serves its store over HTTP only.
        return JSONResponse(
            {
                "ID": "",
                "PublicKey": "",
                "Addresses": [],
                "AgentVersion": f"heritage-ledger/kubo-rpc-{NODE_VERSION}",
                "ProtocolVersion": "",
                "Protocols": [],
            }
        )

    # ---- the gateway --------------------------------------------------------------------
    def gateway(self, request: Request) -> Response:
        rest: str = request.path_params["rest"]
        cid_text, _, sub = rest.partition("/")
        if not cid_text:
            raise UsageError("no CID in the path", hint="request /ipfs/<cid>[/<path>]")
        root = Cid.parse(cid_text)
        segments = [s for s in sub.split("/") if s]
        for segment in segments:
            if segment in (".", ".."):
                raise UnsafePath(f"path segment {segment!r} is not allowed in an IPFS path")
        content_path = "/ipfs/" + "/".join([cid_text, *segments])
        headers = {
            "Cache-Control": IMMUTABLE,
            "X-Ipfs-Path": quote(content_path, safe="/"),
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept",
        }
        fmt = _requested_format(request)
        on_path: list[tuple[Cid, bytes]] = []
        cid = root
        for segment in segments:
            if fmt == "car":  # a CAR carries the blocks that prove the path
                on_path.append((cid, self._get(cid)))
            cid = resolve_path(self._get, cid, segment)
        name = segments[-1] if segments else None
        if fmt == "raw":
            return self._raw(request, cid, headers)
        if fmt == "car":
            return self._car(request, root, cid, on_path, headers)
        if fmt == "tar":
            return self._tar(request, cid, name or cid_text, headers)
        kind = node_kind(self._get, cid)
        if kind == UnixFSType.DIRECTORY:
            return self._directory(request, cid, content_path, headers)
        if kind in (UnixFSType.FILE, UnixFSType.RAW):
            return self._file(request, cid, name, headers)
        raise UsageError(
            f"{content_path} is a UnixFS {kind.name.lower()}, which the gateway does not serve",
            hint="fetch it with ?format=raw or ?format=car",
        )

    def _respond(
        self,
        request: Request,
        status: int,
        headers: dict[str, str],
        body: bytes | Iterator[bytes],
        length: int | None,
    ) -> Response:
        if length is not None:
            headers = {**headers, "Content-Length": str(length)}
        if request.method == "HEAD":
            if length is None:
                return StreamingResponse(iter(()), status_code=status, headers=headers)
            return Response(status_code=status, headers=headers)
        if isinstance(body, bytes):
            return Response(body, status_code=status, headers=headers)
        return StreamingResponse(body, status_code=status, headers=headers)

    def _raw(self, request: Request, cid: Cid, headers: dict[str, str]) -> Response:
        data = self.node.block_get(cid)
        headers = {**headers, "ETag": f'"{cid}.raw"'}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = "application/vnd.ipld.raw"
        headers["Content-Disposition"] = f'attachment; filename="{cid}.bin"'
        return self._respond(request, 200, headers, data, len(data))

    def _car(
        self,
        request: Request,
        root: Cid,
        cid: Cid,
        on_path: list[tuple[Cid, bytes]],
        headers: dict[str, str],
    ) -> Response:
        self._get(cid)  # a missing block answers 404 before the stream starts
        headers = {**headers, "ETag": f'"{cid}.car"'}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = "application/vnd.ipld.car; version=1"
        headers["Content-Disposition"] = f'attachment; filename="{cid}.car"'
        body = write_car([root], chain(on_path, walk_dag(cid, self._get)))
        return self._respond(request, 200, headers, body, None)

    def _tar(self, request: Request, cid: Cid, name: str, headers: dict[str, str]) -> Response:
        check_name(name)
        node_kind(self._get, cid)  # a missing block answers 404 before the stream starts
        headers = {**headers, "ETag": f'"{cid}.tar"'}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        # Whatever the stream would meet (a name, a symlink, too deep a DAG) is refused now,
        # while the answer can still be an error and not a cut 200 cached as immutable.
        check_tree(self._get, cid, name, probe=self.node.store)
        headers["Content-Type"] = "application/x-tar"
        return self._respond(request, 200, headers, iter_tar(self._get, cid, name), None)

    def _directory(
        self, request: Request, cid: Cid, content_path: str, headers: dict[str, str]
    ) -> Response:
        if not request.url.path.endswith("/"):
            # Relative links inside the directory's pages need the trailing slash.
            location = quote(request.url.path + "/", safe="/")
            if request.url.query:
                location += "?" + request.url.query
            return RedirectResponse(location, status_code=301, headers=headers)
        entries = list_directory(self._get, cid)
        for entry in entries:
            if entry.name == "index.html" and node_kind(self._get, entry.cid) in (
                UnixFSType.FILE,
                UnixFSType.RAW,
            ):
                return self._file(request, entry.cid, "index.html", headers)
        headers = {**headers, "ETag": f'"DirIndex-{cid}"'}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = "text/html; charset=utf-8"
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        page = _listing_html(content_path, entries)
        return self._respond(request, 200, headers, page, len(page))

    def _file(
        self, request: Request, cid: Cid, name: str | None, headers: dict[str, str]
    ) -> Response:
        size = file_size(self._get, cid)
        etag = f'"{cid}"'
        headers = {**headers, "ETag": etag, "Accept-Ranges": "bytes"}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = _content_type(name)
        if_range = request.headers.get("if-range")
        wanted = None if if_range not in (None, etag) else request.headers.get("range")
        span = _byte_range(wanted, size)
        if span == _UNSATISFIABLE:
            refused = kubo_error_response(
                416,
                f"range {wanted!r} is outside the file's {size} bytes",
                "range_not_satisfiable",
            )
            refused.headers["Content-Range"] = f"bytes */{size}"
            refused.headers["Cache-Control"] = IMMUTABLE
            return refused
        first, last = (0, size - 1) if span is None else span
        count = last - first + 1
        until = None if last == size - 1 else count  # to the end: the read takes no count
        # Every limit of the walk (depth, block sizes, a missing node) is met here, before the
        # status and the immutable caching are sent, never as a cut body.
        check_file(self._get, cid, first, until, probe=self.node.store)
        body = read_file(self._get, cid, first, until)
        if span is None:
            return self._respond(request, 200, headers, body, size)
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return self._respond(request, 206, headers, body, count)


def create_ipfs_app(settings: Settings, node: EmbeddedNode | None = None) -> FastAPI:
    """The RPC + gateway app over ``node`` (or over the settings' embedded node, which the
    app then opens here and closes when it shuts down)."""
    owned = node is None
    active = EmbeddedNode.open(settings) if node is None else node

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                active.close()

    app = FastAPI(
        title="Heritage Ledger IPFS node",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routes = _IpfsRoutes(active)
    rpc = APIRouter(prefix="/api/v0", dependencies=[Depends(_refuse_browsers)])
    for path, endpoint in routes.rpc_endpoints():
        rpc.add_api_route(path, endpoint, methods=["POST"], response_model=None)
    app.include_router(rpc)
    app.add_api_route(
        "/ipfs/{rest:path}", routes.gateway, methods=["GET", "HEAD"], response_model=None
    )
    app.add_middleware(_BodyLimit, max_bytes=settings.request_max_bytes)
    return app
