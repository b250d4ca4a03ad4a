"""The API's limits, one ASGI middleware: request body size, per-client rate, request time.

- Body: a declared ``Content-Length`` over the cap is refused before anything is read; a body
  that is not declared (chunked) is counted as it arrives and refused once over the cap.
- Rate: a token bucket per client address (``rate`` requests per second, ``burst`` at once).
  The default (1000/s, burst 2000) never limits one local client at 100 requests per second.
- Time: a request that has not started its answer after ``timeout`` seconds gets 504 (an
  answer once started, such as a long download, is not cut).

Each refusal is the API's one error form (:mod:`api.http.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.errors import error_response
from ledger.errors import LimitExceeded, UsageError

__all__ = ["ApiLimits", "Limits"]


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """The limits of one app. ``max_body``: bytes of a request body (uploads included);
    ``rate``/``burst``: requests per second per client, and at once; ``timeout``: seconds."""

    max_body: int = 64 << 20
    rate: float = 1000.0
    burst: int = 2000
    timeout: float = 120.0
    max_clients: int = 10_000  # buckets kept; the oldest are forgotten beyond this


class Limits:
    """ASGI middleware applying :class:`ApiLimits` to every HTTP request."""

    def __init__(self, app: ASGIApp, limits: ApiLimits) -> None:
        self.app = app
        self.limits = limits
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def _allow(self, client: str) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.pop(client, (float(self.limits.burst), now))
        tokens = min(float(self.limits.burst), tokens + (now - at) * self.limits.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.limits.max_clients:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def _too_large(self) -> LimitExceeded:
        return LimitExceeded(
            f"the request body is over {self.limits.max_body} bytes",
            hint="send a smaller file, or raise the server's upload limit",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if not self._allow(client[0] if client else "-"):
            await error_response(
                429,
                "rate_limited",
                "too many requests from this client",
                "slow down; retry after a second",
                {"Retry-After": "1"},
            )(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1")
            if not text.isdigit():
                message = f"Content-Length {text[:40]!r} is not a number"
                await error_response(400, UsageError.code, message)(scope, receive, send)
                return
            if int(text) > self.limits.max_body:
                error = self._too_large()
                await error_response(413, error.code, error.message, error.hint)(
                    scope, receive, send
                )
                return
        seen = 0
        started = False
        over = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limits.max_body:
                    over = True
                    raise self._too_large()
            return message

        began = asyncio.Event()

        async def watched(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app made of the cut body: the answer is 413
            if message["type"] == "http.response.start":
                started = True
                began.set()
            await send(message)

        async def guarded() -> None:
            with contextlib.suppress(LimitExceeded):  # answered below, as 413
                await self.app(scope, counted, watched)

        # The time limit runs until the answer starts: a long download, once begun, goes on.
        task = asyncio.ensure_future(guarded())
        waiter = asyncio.ensure_future(began.wait())
        try:
            await asyncio.wait({task, waiter}, timeout=self.limits.timeout,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            waiter.cancel()
        if not task.done() and not started:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await error_response(
                504,
                "timeout",
                f"the request took longer than {self.limits.timeout:g} s",
                "retry, or ask for less (a smaller page, a smaller file)",
            )(scope, receive, send)
            return
        await task
        if over and not started:
            error = self._too_large()
            await error_response(413, error.code, error.message, error.hint)(scope, receive, send)
