"""``heritage exhibit serve``: a built exhibit site, served on this machine for a look before it
is published.

A small static file server (the standard library's ``http.server``, one thread per request),
strict about what it serves:

- only regular files inside the folder: no directory listings, no ``..`` (plain or
  percent-encoded), no symbolic link (a site the build wrote has none; one added later could
  point anywhere), no hidden files, no special files;
- a directory is served by its ``index.html``; a directory asked for without its trailing
  slash is redirected to it (``items/x`` → ``items/x/``) so that the page's relative links work;
- media types the site needs whatever this machine's ``mimetypes`` tables say (``.glb``,
  ``.wasm``, ``.mjs`` …), and ``X-Content-Type-Options: nosniff``;
- ``GET`` and ``HEAD``, with single byte ranges (``Range: bytes=…``), which audio and video
  players need to seek; other methods get 405;
- ``127.0.0.1`` by default: a preview is not a publication. A port already in use is a clear
  :class:`~ledger.errors.UsageError` with a hint.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import socket
import stat
import sys
import urllib.parse
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from ledger.errors import NoSuchFile, UsageError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MEDIA_TYPES", "make_server", "media_type_of", "serve"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8090
#: The media types of what a site holds, fixed here: the platform's tables differ (some lack
#: .glb or .wasm, some map .js to application/javascript).
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".avif": "image/avif",
    ".ktx2": "image/ktx2",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".bin": "application/octet-stream",
    ".wasm": "application/wasm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".mka": "audio/x-matroska",
    ".mp4": "video/mp4",
    ".ogv": "video/ogg",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".vtt": "text/vtt; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".webmanifest": "application/manifest+json",
}
_CHUNK: Final = 1 << 16
#: One range; at most 18 digits a side (int() of a huge digit string is slow, then refused).
_RANGE: Final = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def media_type_of(name: str) -> str:
    """The ``Content-Type`` of a file named ``name`` (``application/octet-stream`` if unknown)."""
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


class _Refused(Exception):
    def __init__(self, status: HTTPStatus) -> None:
        self.status = status


def _resolve(root: Path, raw_path: str) -> tuple[Path, str | None]:
    """The file a request path names under ``root`` and, for a directory asked for without its
    trailing slash, where to redirect instead (else None); or :class:`_Refused`."""
    # Not urlsplit: it would read "//x/y" as a host and a path.
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    decoded = urllib.parse.unquote(path, errors="strict")
    if "\0" in decoded or "\\" in decoded or not decoded.startswith("/"):
        raise _Refused(HTTPStatus.BAD_REQUEST)
    parts = [p for p in decoded.split("/") if p]
    if any(p in (".", "..") or p.startswith(".") for p in parts):
        raise _Refused(HTTPStatus.NOT_FOUND)
    here = root
    for part in parts:
        here = here / part
        try:
            info = os.lstat(here)
        except OSError:
            raise _Refused(HTTPStatus.NOT_FOUND) from None
        if stat.S_ISLNK(info.st_mode):
            raise _Refused(HTTPStatus.NOT_FOUND)
    info = os.lstat(here)
    if stat.S_ISDIR(info.st_mode):
        if parts and not decoded.endswith("/"):
            # Rebuilt from the checked parts: a Location of "//host/…" would leave the site.
            query = raw_path.partition("?")[2].split("#", 1)[0]
            location = "/" + "/".join(urllib.parse.quote(p) for p in parts) + "/"
            return here, location + (f"?{query}" if query else "")
        here = here / "index.html"
        try:
            info = os.lstat(here)
        except OSError:
            raise _Refused(HTTPStatus.NOT_FOUND) from None  # no listings
    if not stat.S_ISREG(info.st_mode):
        raise _Refused(HTTPStatus.NOT_FOUND)
    return here, None


class _Handler(BaseHTTPRequestHandler):
    server_version = "heritage-exhibit"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: object, root: Path, log: Callable[[str], None] | None) -> None:
        self.root = root
        self.log = log
        super().__init__(*args)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        if self.log is not None:
            self.log(f"{self.address_string()} {format % args}")

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _refuse_method(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, allow=True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _error(self, status: HTTPStatus, *, allow: bool = False, length: int | None = None) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        if allow:
            self.send_header("Allow", "GET, HEAD")
        if length is not None:
            self.send_header("Content-Range", f"bytes */{length}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self, *, body: bool) -> None:
        try:
            path, redirect = _resolve(self.root, self.path)
        except _Refused as refused:
            self._error(refused.status)
            return
        except (UnicodeDecodeError, OSError):
            self._error(HTTPStatus.NOT_FOUND)
            return
        if redirect is not None:
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            stream = path.open("rb")
        except OSError:
            self._error(HTTPStatus.NOT_FOUND)
            return
        with stream:
            size = os.fstat(stream.fileno()).st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            wanted = self.headers.get("Range")
            if wanted is not None:
                parsed = _byte_range(wanted, size)
                if parsed is None:
                    self._error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, length=size)
                    return
                if parsed != (0, size - 1) or size == 0:
                    status = HTTPStatus.PARTIAL_CONTENT
                start, end = parsed
            length = max(0, end - start + 1)
            self.send_response(status)
            self.send_header("Content-Type", media_type_of(path.name))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-cache")
            if status is HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            stream.seek(start)
            left = length
            while left > 0:
                chunk = stream.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one ``bytes=`` range, clipped to the file; None: unsatisfiable.

    Several ranges at once (multipart answers) are not served: no player asks for them."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        count = int(last)
        if count == 0 or size == 0:
            return None
        return max(0, size - count), size - 1
    start = int(first)
    if start >= size:
        return None
    end = size - 1 if last == "" else min(int(last), size - 1)
    if end < start:
        return None
    return start, end


def make_server(
    folder: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    log: Callable[[str], None] | None = None,
) -> ThreadingHTTPServer:
    """A server of ``folder`` bound to ``host:port`` (port 0: any free one; the bound port is
    ``server.server_address[1]``), not yet serving: call ``serve_forever()``."""
    if not folder.is_dir():
        raise NoSuchFile(f"{folder} is not a folder", hint="pass the folder `exhibit build` wrote")
    root = folder.resolve()
    if not (root / "index.html").is_file():
        raise UsageError(
            f"{folder} has no index.html: it is not a built exhibit",
            hint="build one with `heritage exhibit build SPEC -o DIR`, then serve DIR",
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is not a port", hint="give 1 to 65535, e.g. 8090")
    handler = partial(_Handler, root=root, log=log)
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use",
                hint=f"stop what serves there, or pick another port: --port {port + 1}",
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES) or isinstance(exc, socket.gaierror):
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="ports below 1024 need privileges; the default is 8090 on 127.0.0.1",
            ) from None
        raise
    return server


def serve(folder: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``folder`` until interrupted, printing its address."""
    server = make_server(folder, host, port, log=lambda line: print(line, file=sys.stderr))
    bound_host, bound_port = server.server_address[:2]
    text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
    shown = f"[{text}]" if ":" in text else text
    print(f"Serving {folder} at http://{shown}:{bound_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
