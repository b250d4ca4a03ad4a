"""The gallery layout: where each shown item hangs or stands, written as ``gallery.json``.

One room per :class:`~exhibits.model.RoomPlan` (one room when the spec has none), side by side
along the x axis, each joined to the next by a door in their shared wall. Flat things (images,
and the posters of recordings and other files) hang on the north and south walls, evenly
spaced; models stand on plinths in a grid in the middle of the floor. A room grows with what it
holds, so nothing overlaps and everything stays inside it (tests/exhibits/test_layout.py checks
both for every count up to 200).

Units are metres; y is up; a room's floor spans ``origin[0] … origin[0] + width`` in x and
``origin[1] … origin[1] + depth`` in z. The format is documented in docs/exhibit.md,
"gallery.json". The output depends on its inputs only (no clocks, no set order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from exhibits.model import Kind, RoomPlan

__all__ = [
    "DOOR_WIDTH",
    "MIN_ROOM",
    "PANEL_MAX",
    "PLINTH",
    "ROOM_HEIGHT",
    "GalleryEntry",
    "gallery_document",
    "placement_footprint",
]

#: The smallest room, in metres (either side).
MIN_ROOM: Final = 8.0
ROOM_HEIGHT: Final = 3.5
#: A panel's largest width and height (its aspect ratio decides which one it reaches).
PANEL_MAX: Final = (2.0, 1.2)
#: The wall length one panel takes: its widest plus half a metre of bare wall.
_SLOT: Final = 2.5
#: Bare wall kept at each corner, so a panel never touches the next wall.
_CORNER: Final = 1.0
#: A panel's centre height: eye level.
_EYE: Final = 1.6
#: A plinth's footprint (square) and height; the model stands on it.
PLINTH: Final = (0.8, 1.0)
#: Distance between plinth centres, and between plinths and the walls (room to look at panels).
_PLINTH_STEP: Final = 3.0
_PLINTH_MARGIN: Final = 3.0
DOOR_WIDTH: Final = 2.0
_DOOR_HEIGHT: Final = 2.5
_WALL_KINDS: Final = frozenset({"image", "audio", "video", "other"})


@dataclass(frozen=True, slots=True)
class GalleryEntry:
    """What the gallery needs of one shown item; paths are relative to the site's root."""

    item_id: str
    kind: Kind
    title: str  # in the exhibit's default language
    href: str  # "items/<id>/"
    model: str | None  # the GLB, for models
    image: str | None  # the display image (images) or the poster (everything else)
    media: str | None  # the audio or video file, for recordings
    width: int  # pixels of ``image``: its aspect ratio sizes the panel
    height: int


def _metres(value: float) -> float:
    # Rounded so that the JSON is short and the same on every platform.
    rounded = round(value, 4)
    return 0.0 if rounded == 0 else rounded


def _panel_size(entry: GalleryEntry) -> tuple[float, float]:
    max_w, max_h = PANEL_MAX
    if entry.width <= 0 or entry.height <= 0:
        return (max_h, max_h)
    aspect = entry.width / entry.height
    if aspect >= max_w / max_h:
        return (max_w, max_w / aspect)
    return (max_h * aspect, max_h)


def _room_size(wall: int, plinths: int) -> tuple[float, float]:
    per_wall = math.ceil(wall / 2)
    side = math.ceil(math.sqrt(plinths)) if plinths else 0
    width = max(
        MIN_ROOM,
        per_wall * _SLOT + 2 * _CORNER,
        (side - 1) * _PLINTH_STEP + 2 * _PLINTH_MARGIN if side else 0.0,
    )
    columns = _columns(width)
    rows = math.ceil(plinths / columns) if plinths else 0
    depth = max(MIN_ROOM, (rows - 1) * _PLINTH_STEP + 2 * _PLINTH_MARGIN if rows else 0.0)
    return (math.ceil(width), math.ceil(depth))


def _columns(width: float) -> int:
    return int((width - 2 * _PLINTH_MARGIN) // _PLINTH_STEP) + 1


def _room_entries(
    rooms: Sequence[RoomPlan], entries: Sequence[GalleryEntry]
) -> list[tuple[str, list[GalleryEntry]]]:
    """(title, entries) per room. Entries that no room names join the last room, so that every
    entry has a place; a room's ids that are not entries are skipped."""
    by_id = {entry.item_id: entry for entry in entries}
    if not rooms:
        return [("", list(entries))]
    placed: set[str] = set()
    result: list[tuple[str, list[GalleryEntry]]] = []
    for plan in rooms:
        members = []
        for item in plan.items:
            if item in by_id and item not in placed:
                placed.add(item)
                members.append(by_id[item])
        result.append((plan.title[0][1] if plan.title else "", members))
    result[-1][1].extend(entry for entry in entries if entry.item_id not in placed)
    return result


def _place_room(
    index: int, origin_x: float, width: float, depth: float, members: Sequence[GalleryEntry]
) -> list[dict[str, Any]]:
    wall = [entry for entry in members if entry.kind in _WALL_KINDS]
    plinths = [entry for entry in members if entry.kind not in _WALL_KINDS]
    placed: list[dict[str, Any]] = []
    north = wall[: math.ceil(len(wall) / 2)]
    south = wall[len(north) :]
    walls: tuple[tuple[list[GalleryEntry], float, float], ...] = (
        (north, 0.0, 0.0),
        (south, depth, math.pi),
    )
    for row, z, rotation in walls:
        if not row:
            continue
        slot = (width - 2 * _CORNER) / len(row)
        for position, entry in enumerate(row):
            # The south wall is walked the other way round, so its order reads left to right
            # for a visitor facing it.
            step = position if rotation == 0.0 else len(row) - 1 - position
            x = origin_x + _CORNER + (step + 0.5) * slot
            w, h = _panel_size(entry)
            placed.append(
                _entry(entry, index, (x, _EYE, z), rotation, (w, h)),
            )
    columns = _columns(width)
    span_x = (min(columns, len(plinths)) - 1) * _PLINTH_STEP if plinths else 0.0
    rows = math.ceil(len(plinths) / columns) if plinths else 0
    span_z = (rows - 1) * _PLINTH_STEP if rows else 0.0
    start_x = origin_x + (width - span_x) / 2
    start_z = (depth - span_z) / 2
    for position, entry in enumerate(plinths):
        line, column = divmod(position, columns)
        x = start_x + column * _PLINTH_STEP
        z = start_z + line * _PLINTH_STEP
        placed.append(_entry(entry, index, (x, PLINTH[1], z), 0.0, PLINTH))
    return placed


def _entry(
    entry: GalleryEntry,
    room: int,
    position: tuple[float, float, float],
    rotation: float,
    size: tuple[float, float],
) -> dict[str, Any]:
    return {
        "id": entry.item_id,
        "kind": entry.kind,
        "title": entry.title,
        "href": entry.href,
        "model": entry.model,
        "image": entry.image,
        "media": entry.media,
        "room": room,
        "position": [_metres(value) for value in position],
        "rotation_y": round(rotation, 6),
        "size": [_metres(size[0]), _metres(size[1])],
    }


def placement_footprint(entry: dict[str, Any]) -> tuple[float, float, float, float]:
    """An entry's floor footprint ``(x0, z0, x1, z1)``: the panel's width along its wall (a
    thin strip), or the plinth's square."""
    x, _, z = entry["position"]
    width = entry["size"][0]
    if entry["kind"] in _WALL_KINDS:
        return (x - width / 2, z - 0.01, x + width / 2, z + 0.01)
    return (x - width / 2, z - width / 2, x + width / 2, z + width / 2)


def gallery_document(
    title: str, theme: str, rooms: Sequence[RoomPlan], entries: Sequence[GalleryEntry]
) -> dict[str, Any]:
    """gallery.json: the room(s) and every entry's placement. Deterministic."""
    grouped = _room_entries(rooms, entries)
    sizes = []
    for _, members in grouped:
        wall = sum(1 for entry in members if entry.kind in _WALL_KINDS)
        sizes.append(_room_size(wall, len(members) - wall))
    room_docs: list[dict[str, Any]] = []
    placed: list[dict[str, Any]] = []
    origin_x = 0.0
    for index, ((room_title, members), (width, depth)) in enumerate(
        zip(grouped, sizes, strict=True)
    ):
        doors = []
        if index > 0:
            shared = min(depth, sizes[index - 1][1])
            doors.append(_door("west", shared / 2, index - 1))
        if index + 1 < len(grouped):
            shared = min(depth, sizes[index + 1][1])
            doors.append(_door("east", shared / 2, index + 1))
        room_docs.append(
            {
                "title": room_title,
                "origin": [_metres(origin_x), 0.0],
                "width": width,
                "depth": depth,
                "height": ROOM_HEIGHT,
                "doors": doors,
            }
        )
        placed.extend(_place_room(index, origin_x, width, depth, members))
        origin_x += width
    return {
        "version": 1,
        "title": title,
        "theme": theme,
        "rooms": room_docs,
        "entries": placed,
    }


def _door(wall: str, offset: float, to: int) -> dict[str, Any]:
    return {
        "wall": wall,
        "offset": _metres(offset),
        "width": DOOR_WIDTH,
        "height": _DOOR_HEIGHT,
        "to": to,
    }
