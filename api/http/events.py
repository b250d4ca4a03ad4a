"""The event feed: ``GET /events?after=BLOCK.LOG&limit=N``, every registry event in chain
order, a finite page at a time (``next`` is the cursor of the following page, None at the
end). Events are what the chain already publishes: ids, CIDs and digests, never a title.

Beside it, outside the OpenAPI document, the same events as Server-Sent Events:
``GET /events/stream?after=BLOCK.LOG``, each event as it is indexed (``data:`` the JSON of a
page entry, ``id:`` its cursor, so a client that reconnects with ``Last-Event-ID`` resumes
after it), a comment line as a heartbeat while nothing happens. A connection holds at most
one page of events (:data:`STREAM_BATCH`) and reads the next only when the client has taken
them; every open stream ends within a poll when the app closes (:func:`close_streams`)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.http.errors import error_responses
from api.http.schemas import EventOut, EventPage
from api.http.service import Service
from ledger.errors import HeritageError, UsageError

__all__ = ["STREAM_BATCH", "StreamSettings", "close_streams", "router"]

router = APIRouter(tags=["events"])
_log = logging.getLogger(__name__)

_CURSOR: Final = re.compile(r"([0-9]{1,12})\.([0-9]{1,6})")


def _parse_cursor(after: str | None) -> tuple[int, int]:
    if after is None:
        return (-1, -1)
    match = _CURSOR.fullmatch(after)
    if match is None:
        raise UsageError(
            f"after={after[:40]!r} is not a cursor",
            hint="give the `next` value of the previous page (BLOCK.LOG, e.g. 14.0)",
        )
    return int(match[1]), int(match[2])


def _page(
    service: Service, after: tuple[int, int], limit: int, *, sync: bool = True
) -> dict[str, Any]:
    with service.registry() as registry, registry.reader.event_index(sync=sync) as index:
        found = index.events_after(after[0], after[1], limit + 1)
        head = index.last_indexed_block()
    page = found[:limit]
    events = []
    for entry in page:
        data = entry.to_json()
        data.pop("block_hash", None)
        events.append(data)
    more = len(found) > limit
    last = page[-1] if page else None
    return {
        "events": events,
        "next": f"{last.block_number}.{last.log_index}" if more and last is not None else None,
        "head": head,
    }


@router.get(
    "/events",
    response_model=EventPage,
    summary="The registry's events in chain order, a page at a time",
    responses=error_responses(400, 503),
)
async def events(
    request: Request,
    after: Annotated[
        str | None, Query(max_length=40, description="the cursor: `next` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    service: Service = request.app.state.service
    cursor = _parse_cursor(after)
    return await run_in_threadpool(_page, service, cursor, limit)


#: The most events one stream connection holds at a time (one page of the index).
STREAM_BATCH: Final = 100


@dataclass(slots=True)
class StreamSettings:
    """How the streams of one app poll: ``poll`` seconds between looks at the chain (one sync
    of the index per ``poll`` for all streams together), a heartbeat comment after
    ``heartbeat`` seconds without an event, ``retry`` milliseconds for a client to wait
    before it reconnects."""

    poll: float = 0.5
    heartbeat: float = 15.0
    retry: int = 2000
    closing: threading.Event = field(default_factory=threading.Event)
    _synced: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self) -> bool:
        """Whether this read syncs the index (the first read after ``poll`` seconds)."""
        with self._lock:
            now = time.monotonic()
            if now - self._synced < self.poll:
                return False
            self._synced = now
            return True


def _streams(app: FastAPI) -> StreamSettings:
    found = getattr(app.state, "event_streams", None)
    if found is None:
        found = app.state.event_streams = StreamSettings()
    assert isinstance(found, StreamSettings)
    return found


def close_streams(app: FastAPI) -> None:
    """End every open event stream of ``app`` (each within one poll); a server calls it when
    it begins to shut down, since a stream never ends of itself."""
    _streams(app).closing.set()


def _message(entry: dict[str, Any]) -> bytes:
    cursor = f"{entry['block_number']}.{entry['log_index']}"
    # The page entry exactly as ``GET /events`` answers it (its response model's fields).
    data = json.dumps(EventOut.model_validate(entry).model_dump(mode="json"),
                      separators=(",", ":"))  # fmt: skip
    return f"id: {cursor}\nevent: registry\ndata: {data}\n\n".encode()


async def _feed(
    service: Service, streams: StreamSettings, after: tuple[int, int], first: dict[str, Any]
) -> AsyncIterator[bytes]:
    yield f"retry: {streams.retry}\n\n".encode()
    page: dict[str, Any] | None = first
    quiet = time.monotonic()
    while not streams.closing.is_set():
        if page is None:
            try:
                page = await run_in_threadpool(
                    _page, service, after, STREAM_BATCH, sync=streams.due()
                )
            except HeritageError:
                return  # the chain went away: the client reconnects and is told so (503)
            except Exception:  # a failure the session did not name: in the log, not the feed
                _log.exception("the event stream could not read the index")
                return
        for entry in page["events"]:
            after = (int(entry["block_number"]), int(entry["log_index"]))
            yield _message(entry)
            quiet = time.monotonic()
        more = page["next"] is not None
        page = None
        if more:
            continue
        if time.monotonic() - quiet >= streams.heartbeat:
            yield b": heartbeat\n\n"
            quiet = time.monotonic()
        await asyncio.sleep(streams.poll)


@router.get("/events/stream", include_in_schema=False)
async def event_stream(
    request: Request,
    after: Annotated[str | None, Query(max_length=40)] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    """The registry's events as Server-Sent Events, from ``Last-Event-ID`` (a reconnecting
    client's) or else ``after``, then each one as it is indexed."""
    service: Service = request.app.state.service
    streams = _streams(request.app)
    cursor = _parse_cursor(last_event_id if last_event_id is not None else after)
    # The first page is read before the answer starts, so that a bad chain is a 503.
    first = await run_in_threadpool(_page, service, cursor, STREAM_BATCH)
    return StreamingResponse(
        _feed(service, streams, cursor, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
