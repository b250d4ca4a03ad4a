"""Request bodies of the RPC API: the size limit, and multipart parsed as it arrives.

:class:`BodyLimit` refuses a body over the limit from its Content-Length, or once that many
bytes have been counted. :class:`Multipart` is a pull parser that a worker thread drives: it
pulls the request body chunk by chunk (:class:`BodyPull`), so an upload is imported while it
arrives and never held whole in memory; each :class:`Part` reads like a file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, BinaryIO, Final, cast
from urllib.parse import unquote_plus

from anyio import from_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import kubo_error_response
from ledger.errors import LimitExceeded, UsageError

__all__ = ["MAX_PARTS", "BodyLimit", "BodyPull", "Multipart", "Part"]

MAX_PARTS: Final = 100_000


class BodyLimit:
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


class BodyPull:
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


class Part:
    """One part of a multipart body: its headers, and its bytes through ``read``."""

    def __init__(self, owner: Multipart, headers: dict[bytes, bytes]) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self.ended = False
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        content_type, _ = parse_options_header(headers.get(b"content-type", b""))
        self.content_type = content_type
        raw = disposition.get(b"filename", b"")
        #: The form field's name (``name=`` of its Content-Disposition), as sent.
        self.name = disposition.get(b"name", b"").decode("latin-1")
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


class Multipart:
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
        self._part: Part | None = None
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
    def of(cls, request: Request) -> Multipart:
        return cls(request.headers.get("content-type", ""), BodyPull(request))

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

    def parts(self) -> Iterator[Part]:
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
            self._part = Part(self, headers)
            yield self._part
