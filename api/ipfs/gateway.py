"""The gateway half of the node's HTTP face: ``GET|HEAD /ipfs/<cid>[/<path>]``.

Files (streamed, single byte ranges, ``ETag`` = the CID), directories (``index.html`` or an
escaped listing), ``?format=raw|car|tar`` and the matching ``Accept`` types of the trustless
gateway spec. Every answer is immutable, so it is cached as such by clients.

Speed: paths resolve through a :class:`~ledger.ipfs.nodecache.NodeCache` (directories and
file nodes parsed once per CID); a file up to :data:`EAGER_BYTES` is read (and verified)
whole before the answer starts, a larger one is checked first and then streamed by
:func:`_read_ahead`, which reads the next batch of blocks in a worker thread while the
current one is sent as views of the blocks, not as copies.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Iterator
from itertools import chain
from typing import Final
from urllib.parse import quote

from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.requests import Request

from api.errors import kubo_error_response
from ledger.documents import EXTRA_MEDIA_TYPES
from ledger.errors import UnsafePath, UsageError
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.car import write_car
from ledger.ipfs.cid import Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.dagpb import UnixFSType
from ledger.ipfs.files import (
    DirEntry,
    GetBlock,
    UnixFSNode,
    check_file,
    check_name,
    check_tree,
    iter_tar,
    read_file,
)
from ledger.ipfs.nodecache import NodeCache

__all__ = ["IMMUTABLE", "Gateway"]

IMMUTABLE: Final = "public, max-age=29030400, immutable"
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
EAGER_BYTES: Final = 1 << 20  # a body up to this is read whole before the answer starts
_BATCH_BYTES: Final = 1 << 20  # read (and verified) by a worker thread per hop
_SEND_BYTES: Final = 64 << 10  # handed to the server per send: what asyncio writes best
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
    ".mtl": "model/mtl",
    ".obj": "model/obj",
    ".ogg": "audio/ogg",
    ".pdf": "application/pdf",
    ".ply": EXTRA_MEDIA_TYPES[".ply"],
    ".png": "image/png",
    ".stl": "model/stl",
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


def _next_batch(pieces: Iterator[bytes]) -> list[bytes]:
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH_BYTES:
            break
    return batch


async def _read_ahead(pieces: Iterator[bytes]) -> AsyncIterator[memoryview]:
    """``pieces`` (a file read from the store, verifying each block) sent as it is read: a
    worker thread reads the next batch while this one is sent, and the bytes go out as
    views of the blocks read, never copied into new pieces."""
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, _next_batch, pieces)
    try:
        while batch := await pending:
            pending = loop.run_in_executor(None, _next_batch, pieces)
            for piece in batch:
                view = memoryview(piece)
                for start in range(0, len(view), _SEND_BYTES):
                    yield view[start : start + _SEND_BYTES]
    finally:
        pending.cancel()


class Gateway:
    """The gateway route over one embedded node. Parsed directories and file nodes are
    kept in a :class:`~ledger.ipfs.nodecache.NodeCache` (immutable, so never stale);
    file bytes are read and verified from the store for every answer."""

    def __init__(self, node: EmbeddedNode, *, cache: NodeCache | None = None) -> None:
        self.node = node
        self.nodes = NodeCache(node.store) if cache is None else cache

    @property
    def _get(self) -> GetBlock:
        return self.node.store.get_block

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
            cid = self.nodes.resolve(cid, segment)
        name = segments[-1] if segments else None
        if fmt == "raw":
            return self._raw(request, cid, headers)
        if fmt == "car":
            return self._car(request, root, cid, on_path, headers)
        if fmt == "tar":
            return self._tar(request, cid, name or cid_text, headers)
        node = self.nodes.node(cid)
        kind = node.kind
        if kind == UnixFSType.DIRECTORY:
            return self._directory(request, cid, content_path, headers)
        if kind in (UnixFSType.FILE, UnixFSType.RAW):
            return self._file(request, node, name, headers)
        raise UsageError(
            f"{content_path} is a UnixFS {kind.name.lower()}, which the gateway does not serve",
            hint="fetch it with ?format=raw or ?format=car",
        )

    def _respond(
        self,
        request: Request,
        status: int,
        headers: dict[str, str],
        body: bytes | Iterator[bytes] | AsyncIterator[memoryview],
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
        self.nodes.node(cid)  # a missing block answers 404 before the stream starts
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
        entries = self.nodes.node(cid).entries()
        for entry in entries:
            if entry.name != "index.html":
                continue
            index = self.nodes.node(entry.cid)
            if index.kind in (UnixFSType.FILE, UnixFSType.RAW):
                return self._file(request, index, "index.html", headers)
        headers = {**headers, "ETag": f'"DirIndex-{cid}"'}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = "text/html; charset=utf-8"
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        page = _listing_html(content_path, entries)
        return self._respond(request, 200, headers, page, len(page))

    def _file(
        self, request: Request, node: UnixFSNode, name: str | None, headers: dict[str, str]
    ) -> Response:
        cid = node.cid
        size = node.file_size()
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
        # status and the immutable caching are sent, never as a cut body: a small body is
        # read whole now, a large one after a check that walks the blocks the read will.
        body: bytes | AsyncIterator[memoryview]
        if request.method == "GET" and count <= EAGER_BYTES:
            body = b"".join(read_file(self._get, cid, first, until))
        else:
            check_file(self._get, cid, first, until, probe=self.node.store)
            body = _read_ahead(read_file(self._get, cid, first, until))
        if span is None:
            return self._respond(request, 200, headers, body, size)
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return self._respond(request, 206, headers, body, count)
