"""The event feed: ``GET /events?after=BLOCK.LOG&limit=N``, every registry event in chain
order, a finite page at a time (``next`` is the cursor of the following page, None at the
end). Events are what the chain already publishes: ids, CIDs and digests, never a title."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.http.errors import error_responses
from api.http.schemas import EventPage
from api.http.service import Service
from ledger.errors import UsageError
from ledger.index.queries import _entry
from ledger.index.schema import EVENT_TABLES

__all__ = ["router"]

router = APIRouter(tags=["events"])

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


def _page(service: Service, after: tuple[int, int], limit: int) -> dict[str, Any]:
    with service.registry() as registry, registry.reader.event_index() as index:
        rows: list[tuple[int, int, Any]] = []
        for event, (table, _) in EVENT_TABLES.items():
            cursor = index._db.execute(
                f"SELECT * FROM {table} WHERE block_number > ? OR "  # noqa: S608 - constant names
                "(block_number = ? AND log_index > ?) ORDER BY block_number, log_index LIMIT ?",
                (after[0], after[0], after[1], limit + 1),
            )
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                entry = _entry(event, row)
                rows.append((entry.block_number, entry.log_index, entry))
        head = index._db.execute("SELECT last_block FROM sync_state").fetchone()
    rows.sort(key=lambda r: (r[0], r[1]))
    page = rows[:limit]
    events = []
    for _, _, entry in page:
        data = entry.to_json()
        data.pop("block_hash", None)
        events.append(data)
    more = len(rows) > limit
    last = page[-1] if page else None
    return {
        "events": events,
        "next": f"{last[0]}.{last[1]}" if more and last is not None else None,
        "head": None if head is None or head[0] is None else int(head[0]),
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
