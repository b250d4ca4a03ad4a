"""The Jupyter preview: preview_gallery builds a real pythreejs widget tree (no notebook
needed) with a group per room (floor, walls, door openings), an object per entry at its
placement, named by its item id, and the lights; a document that is not a gallery is refused."""

from __future__ import annotations

from typing import Any

import pytest
import pythreejs  # type: ignore[import-untyped]

from exhibits.layout import GalleryEntry, gallery_document
from exhibits.model import Kind, RoomPlan
from exhibits.notebook import THEME_COLOURS, preview_gallery


def entry(index: int, kind: Kind) -> GalleryEntry:
    item = f"0x{index:064x}"
    return GalleryEntry(
        item,
        kind,
        f"item {index}",
        f"items/{item}/",
        f"items/{item}/files/model.glb" if kind == "model" else None,
        f"items/{item}/files/poster.png",
        None,
        300,
        200,
    )


KINDS: list[Kind] = ["model", "image", "audio", "video", "other", "model", "image"]
ENTRIES = [entry(i, kind) for i, kind in enumerate(KINDS)]
PLANS = (
    RoomPlan((("en", "Carvings"),), tuple(e.item_id for e in ENTRIES[:3])),
    RoomPlan((("en", "Weaving"),), tuple(e.item_id for e in ENTRIES[3:])),
)


def by_name(children: Any) -> dict[str, Any]:
    return {child.name: child for child in children}


def test_preview_places_every_entry_where_gallery_json_says() -> None:
    document = gallery_document("Voices", "night", PLANS, ENTRIES)
    scene = preview_gallery(document)
    assert isinstance(scene, pythreejs.Scene)
    assert scene.background == THEME_COLOURS["night"][1]
    named = by_name(scene.children)
    for placed in document["entries"]:
        group = named[placed["id"]]
        assert isinstance(group, pythreejs.Group)
        assert list(group.position) == pytest.approx(placed["position"])
        assert group.rotation[1] == pytest.approx(placed["rotation_y"])
        parts = by_name(group.children)
        if placed["kind"] == "model":
            plinth = parts["plinth"]
            assert plinth.geometry.width == placed["size"][0]
            assert plinth.geometry.height == placed["size"][1]
            assert "model" in parts
        else:
            panel = parts[placed["kind"]]
            assert isinstance(panel.geometry, pythreejs.PlaneGeometry)
            assert (panel.geometry.width, panel.geometry.height) == tuple(placed["size"])
    assert sum(isinstance(c, pythreejs.Group) for c in scene.children) == 2 + len(ENTRIES)
    lights = [c for c in scene.children if isinstance(c, pythreejs.Light)]
    assert len(lights) == 3


def test_rooms_have_floors_walls_and_door_openings() -> None:
    document = gallery_document("Voices", "gallery", PLANS, ENTRIES)
    named = by_name(preview_gallery(document).children)
    first, second = named["Carvings"], named["Weaving"]
    room = document["rooms"][0]
    floor = by_name(first.children)["floor"]
    assert (floor.geometry.width, floor.geometry.height) == (room["width"], room["depth"])
    assert list(floor.position) == pytest.approx(
        [room["origin"][0] + room["width"] / 2, 0.0, room["depth"] / 2]
    )
    names = [c.name for c in first.children]
    # The first room opens east into the second, which opens west: each side's wall is split
    # in two around a lintel over the door.
    assert names.count("wall east") == 2 and names.count("door east") == 1
    assert names.count("wall west") == 1 and "door west" not in names
    second_names = [c.name for c in second.children]
    assert second_names.count("door west") == 1 and "door east" not in second_names
    lintel = by_name(first.children)["door east"]
    door = room["doors"][0]
    assert lintel.geometry.depth == door["width"]
    assert lintel.geometry.height == pytest.approx(room["height"] - door["height"])
    assert list(lintel.position)[2] == pytest.approx(door["offset"])


def test_an_empty_gallery_is_one_room() -> None:
    scene = preview_gallery(gallery_document("t", "contrast", (), []))
    assert [c.name for c in scene.children if isinstance(c, pythreejs.Group)] == ["room"]


def test_not_a_gallery_is_refused() -> None:
    with pytest.raises(ValueError, match=r"gallery\.json"):
        preview_gallery({"version": 2, "rooms": []})
