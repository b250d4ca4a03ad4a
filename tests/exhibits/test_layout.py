"""The gallery layout: for any count of items (0 to 200) of any kinds and shapes, no two
placements overlap, every placement lies inside its room, rooms grow with what they hold,
panels keep their image's aspect ratio, and the document is the same for the same input."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exhibits.layout import (
    MIN_ROOM,
    PANEL_MAX,
    PLINTH,
    ROOM_HEIGHT,
    GalleryEntry,
    gallery_document,
    placement_footprint,
)
from exhibits.model import KINDS, Kind, RoomPlan
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

KIND_LIST: list[Kind] = ["model", "image", "audio", "video", "other"]
assert tuple(KIND_LIST) == KINDS


def entry(index: int, kind: Kind = "image", width: int = 400, height: int = 300) -> GalleryEntry:
    item = f"0x{index:064x}"
    return GalleryEntry(
        item_id=item,
        kind=kind,
        title=f"item {index}",
        href=f"items/{item}/",
        model=f"items/{item}/files/model.glb" if kind == "model" else None,
        image=f"items/{item}/files/poster.png",
        media=None,
        width=width,
        height=height,
    )


entries_strategy = st.lists(
    st.tuples(
        st.sampled_from(KIND_LIST),
        st.integers(min_value=0, max_value=5000),
        st.integers(min_value=0, max_value=5000),
    ),
    max_size=200,
).map(lambda specs: [entry(i, kind, w, h) for i, (kind, w, h) in enumerate(specs)])


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_document(document: dict[str, Any], entries: list[GalleryEntry]) -> None:
    placed = document["entries"]
    assert sorted(p["id"] for p in placed) == sorted(e.item_id for e in entries)
    rooms = document["rooms"]
    assert rooms, "there is always a room"
    for room in rooms:
        assert room["width"] >= MIN_ROOM and room["depth"] >= MIN_ROOM
        assert room["height"] == ROOM_HEIGHT
    footprints = [placement_footprint(p) for p in placed]
    for p, (x0, z0, x1, z1) in zip(placed, footprints, strict=True):
        room = rooms[p["room"]]
        ox, oz = room["origin"]
        assert ox <= x0 and x1 <= ox + room["width"], (p, room)
        assert oz - 0.011 <= z0 and z1 <= oz + room["depth"] + 0.011, (p, room)
        w, h = p["size"]
        assert w > 0 and h > 0
        assert p["position"][1] - h / 2 >= 0 and p["position"][1] + h / 2 <= room["height"]
    for i in range(len(placed)):
        for j in range(i + 1, len(placed)):
            assert not overlaps(footprints[i], footprints[j]), (placed[i], placed[j])
    # Rooms do not overlap each other either: each starts where the last one ends.
    for left, right in itertools.pairwise(rooms):
        assert right["origin"][0] >= left["origin"][0] + left["width"]


@reaches(0.9)
@settings(max_examples=examples(200), deadline=None)
@given(entries_strategy)
def test_no_overlaps_and_everything_inside_one_room(entries: list[GalleryEntry]) -> None:
    document = gallery_document("Voices", "gallery", (), entries)
    assert len(document["rooms"]) == 1
    check_document(document, entries)
    reached()


@reaches(0.9)
@settings(max_examples=examples(100), deadline=None)
@given(entries_strategy, st.integers(min_value=1, max_value=5), st.randoms(use_true_random=False))
def test_no_overlaps_across_rooms(entries: list[GalleryEntry], count: int, rnd: Any) -> None:
    ids = [e.item_id for e in entries]
    rnd.shuffle(ids)
    cut = sorted(rnd.randint(0, len(ids)) for _ in range(count - 1))
    bounds = [0, *cut, len(ids)]
    plans = tuple(
        RoomPlan(title=(("en", f"room {n}"),), items=tuple(ids[bounds[n] : bounds[n + 1]]))
        for n in range(count)
    )
    document = gallery_document("Voices", "night", plans, entries)
    assert [r["title"] for r in document["rooms"]] == [f"room {n}" for n in range(count)]
    check_document(document, entries)
    for n, plan in enumerate(plans):
        assert {p["id"] for p in document["entries"] if p["room"] == n} == set(plan.items)
    # Every pair of neighbouring rooms is joined by a door on both sides of the shared wall.
    for n in range(count - 1):
        assert {"wall": "east", "to": n + 1}.items() <= document["rooms"][n]["doors"][-1].items()
        assert {"wall": "west", "to": n}.items() <= document["rooms"][n + 1]["doors"][0].items()
    reached()


def test_every_count_from_0_to_200_of_mixed_kinds() -> None:
    for count in range(201):
        entries = [entry(i, KIND_LIST[i % 5], 300 + i, 200 + 2 * i) for i in range(count)]
        check_document(gallery_document("t", "gallery", (), entries), entries)


def test_rooms_grow_with_their_contents() -> None:
    small = gallery_document("t", "gallery", (), [entry(i) for i in range(4)])["rooms"][0]
    large = gallery_document("t", "gallery", (), [entry(i) for i in range(40)])["rooms"][0]
    assert small["width"] == MIN_ROOM and small["depth"] == MIN_ROOM
    # 40 panels, 20 per long wall, 2.5 m each, plus the corners.
    assert large["width"] == 52
    models = gallery_document("t", "gallery", (), [entry(i, "model") for i in range(30)])
    room = models["rooms"][0]
    assert room["width"] > MIN_ROOM and room["depth"] > MIN_ROOM


def test_panels_keep_the_aspect_ratio_and_even_spacing() -> None:
    entries = [entry(0, "image", 1600, 400), entry(1, "image", 300, 900), entry(2, "image")]
    placed = {p["id"]: p for p in gallery_document("t", "gallery", (), entries)["entries"]}
    wide, tall = placed[entries[0].item_id], placed[entries[1].item_id]
    assert wide["size"] == [PANEL_MAX[0], 0.5]
    assert tall["size"] == [0.4, PANEL_MAX[1]]
    # Two panels on the north wall (facing +z), one on the south (turned half a turn).
    assert wide["position"][2] == 0.0 and wide["rotation_y"] == 0.0
    assert placed[entries[2].item_id]["rotation_y"] == round(math.pi, 6)
    gap = tall["position"][0] - wide["position"][0]
    assert wide["position"][0] - 0 - 1.0 == gap / 2  # the same slot either side of each panel
    model = gallery_document("t", "gallery", (), [entry(9, "model")])["entries"][0]
    assert model["size"] == list(PLINTH) and model["position"] == [4.0, PLINTH[1], 4.0]
    assert model["model"].endswith("model.glb")


def test_empty_and_unassigned() -> None:
    empty = gallery_document("t", "contrast", (), [])
    assert empty == {
        "version": 1,
        "title": "t",
        "theme": "contrast",
        "rooms": [
            {
                "title": "",
                "origin": [0.0, 0.0],
                "width": MIN_ROOM,
                "depth": MIN_ROOM,
                "height": ROOM_HEIGHT,
                "doors": [],
            }
        ],
        "entries": [],
    }
    # An entry no room names still gets a place (in the last room); unknown ids are skipped.
    entries = [entry(1), entry(2)]
    plans = (
        RoomPlan(title=(("en", "A"),), items=(entries[0].item_id, "0xunknown")),
        RoomPlan(title=(("en", "B"),), items=()),
    )
    document = gallery_document("t", "gallery", plans, entries)
    assert [(p["id"], p["room"]) for p in document["entries"]] == [
        (entries[0].item_id, 0),
        (entries[1].item_id, 1),
    ]


def test_deterministic() -> None:
    entries = [entry(i, KIND_LIST[i % 5], 100 + 7 * i, 80 + 3 * i) for i in range(57)]
    first = json.dumps(gallery_document("t", "gallery", (), entries), sort_keys=True)
    second = json.dumps(gallery_document("t", "gallery", (), list(entries)), sort_keys=True)
    assert first == second
