"""A preview of an exhibit's gallery in Jupyter: the rooms and every placement of
``gallery.json`` as a pythreejs scene (the ``notebook`` extra: ``heritage-ledger[notebook]``).

- :func:`preview_gallery`: a scene from a gallery.json document (:func:`exhibits.layout.
  gallery_document`): per room a floor and walls (with their door openings), per entry a panel
  on its wall or a plinth with a box where the model stands, and the theme's lights. Each
  entry's object is named by its item id.
- :func:`preview`: decides the spec's selection at a moment (:func:`exhibits.build.choose`: the
  chain, the index and the rights policy, nothing derived or fetched) and previews its layout.
  Only shown items reach it, so a preview holds nothing of an excluded item either. Each
  entry's files are the ones the derivers recorded for it (:func:`recorded_files`: the last
  build's derivations, under the data directory) — a GLB, an image in whatever format its
  deriver chose, a recording and its poster; an item not derived yet has none (a square panel).

Show it with ``pythreejs.Renderer(scene=…, camera=…, controls=[…])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from exhibits.layout import GalleryEntry, gallery_document
from exhibits.model import ItemFiles, Shown, item_id
from ledger.errors import ConfigError

if TYPE_CHECKING:
    from exhibits.spec import ExhibitSpec
    from ledger.settings import Settings

__all__ = ["THEME_COLOURS", "preview", "preview_entries", "preview_gallery", "recorded_files"]

#: (wall, floor, plinth, panel) colours of each theme, as the site's gallery draws them.
THEME_COLOURS: Final = {
    "gallery": ("#f7f4ee", "#b9a58a", "#ffffff", "#d8d2c4"),
    "night": ("#23252e", "#15161b", "#2e3039", "#50525c"),
    "contrast": ("#ffffff", "#000000", "#ffffff", "#000000"),
}
_WALL: Final = 0.1
_MODEL_BOX: Final = 0.6


def _three() -> Any:
    try:
        import pythreejs  # type: ignore[import-untyped]
    except ImportError as error:
        raise ConfigError(
            "the gallery preview needs pythreejs, which is not installed",
            hint="pip install 'heritage-ledger[notebook]'",
        ) from error
    return pythreejs


def _room(three: Any, room: dict[str, Any], colours: tuple[str, ...]) -> Any:
    ox, oz = room["origin"]
    width, depth, height = room["width"], room["depth"], room["height"]
    wall = three.MeshStandardMaterial(color=colours[0], roughness=0.9)
    parts = [
        three.Mesh(
            geometry=three.PlaneGeometry(width=width, height=depth),
            material=three.MeshStandardMaterial(color=colours[1]),
            position=(ox + width / 2, 0.0, oz + depth / 2),
            rotation=(-1.5707963267948966, 0.0, 0.0, "XYZ"),
            name="floor",
        )
    ]

    def box(w: float, h: float, d: float, x: float, y: float, z: float, name: str) -> None:
        parts.append(
            three.Mesh(
                geometry=three.BoxGeometry(width=w, height=h, depth=d),
                material=wall,
                position=(x, y, z),
                name=name,
            )
        )

    box(width, height, _WALL, ox + width / 2, height / 2, oz - _WALL / 2, "wall north")
    box(width, height, _WALL, ox + width / 2, height / 2, oz + depth + _WALL / 2, "wall south")
    for side in ("west", "east"):
        x = ox - _WALL / 2 if side == "west" else ox + width + _WALL / 2
        start = 0.0
        doors = sorted((d for d in room["doors"] if d["wall"] == side), key=lambda d: d["offset"])
        for door in doors:
            opening = door["offset"] - door["width"] / 2
            if opening > start:
                box(
                    _WALL,
                    height,
                    opening - start,
                    x,
                    height / 2,
                    oz + (start + opening) / 2,
                    f"wall {side}",
                )
            box(
                _WALL,
                height - door["height"],
                door["width"],
                x,
                (height + door["height"]) / 2,
                oz + door["offset"],
                f"door {side}",
            )
            start = door["offset"] + door["width"] / 2
        if start < depth:
            box(
                _WALL,
                height,
                depth - start,
                x,
                height / 2,
                oz + (start + depth) / 2,
                f"wall {side}",
            )
    return three.Group(children=parts, name=room["title"] or "room")


def _entry(three: Any, entry: dict[str, Any], colours: tuple[str, ...]) -> Any:
    x, y, z = entry["position"]
    width, height = entry["size"]
    if entry["kind"] == "model":
        children = [
            three.Mesh(
                geometry=three.BoxGeometry(width=width, height=height, depth=width),
                material=three.MeshStandardMaterial(color=colours[2]),
                position=(0.0, -height / 2, 0.0),
                name="plinth",
            ),
            three.Mesh(
                geometry=three.BoxGeometry(width=_MODEL_BOX, height=_MODEL_BOX, depth=_MODEL_BOX),
                material=three.MeshStandardMaterial(color="#4a78b0"),
                position=(0.0, _MODEL_BOX / 2, 0.0),
                name="model",
            ),
        ]
    else:
        children = [
            three.Mesh(
                geometry=three.PlaneGeometry(width=width, height=height),
                material=three.MeshBasicMaterial(color=colours[3]),
                position=(0.0, 0.0, 0.02),
                name=entry["kind"],
            )
        ]
    return three.Group(
        children=children,
        position=(x, y, z),
        rotation=(0.0, entry["rotation_y"], 0.0, "XYZ"),
        name=entry["id"],
    )


def preview_gallery(document: dict[str, Any]) -> Any:
    """A ``pythreejs.Scene`` of a gallery.json document (see the module docstring)."""
    three = _three()
    if document.get("version") != 1 or not document.get("rooms"):
        raise ValueError("not a version 1 gallery.json document (no rooms)")
    colours = THEME_COLOURS.get(document.get("theme", "gallery"), THEME_COLOURS["gallery"])
    rooms = [_room(three, room, colours) for room in document["rooms"]]
    entries = [_entry(three, entry, colours) for entry in document["entries"]]
    last = document["rooms"][-1]
    lights = [
        three.AmbientLight(color="#ffffff", intensity=0.5),
        three.HemisphereLight(color="#fffaf0", groundColor="#8a7a66", intensity=0.6),
        three.DirectionalLight(
            color="#ffffff",
            intensity=0.8,
            position=(last["origin"][0] + last["width"] / 2, 10.0, last["depth"]),
        ),
    ]
    return three.Scene(children=[*rooms, *entries, *lights], background=colours[1])


def _title(shown: Shown, languages: Sequence[str]) -> str:
    candidate = shown.candidate
    if candidate.description is not None:
        local = candidate.description.text("title", languages)
        if local is not None:
            return local.text
    return candidate.file_name


def preview_entries(
    shown: Sequence[Shown],
    languages: Sequence[str],
    kind_of: Any,
    files: Mapping[str, ItemFiles] | None = None,
) -> list[GalleryEntry]:
    """The gallery entries of shown items: the site's paths of the files their derivers
    recorded (``files``: item id → its derived files; the model's GLB, the display image or
    else the poster, the recording), panels sized by the image's pixels. An item with no
    recorded files (not derived yet) has no paths, and a square panel.
    ``kind_of(media_type, file_name)``."""
    entries = []
    for item in shown:
        candidate = item.candidate
        ident = item_id(candidate.key)
        kind = kind_of(candidate.media_type, candidate.file_name)
        recorded = None if files is None else files.get(ident)
        base = f"items/{ident}/files/"
        model = picture = media = None
        if recorded is not None:
            model = recorded.file("model")
            picture = recorded.file("image") or recorded.file("poster")
            media = recorded.file(kind) if kind in ("audio", "video") else None
        entries.append(
            GalleryEntry(
                item_id=ident,
                kind=kind,
                title=_title(item, languages),
                href=f"items/{ident}/",
                model=None if model is None else base + model.name,
                image=None if picture is None else base + picture.name,
                media=None if media is None else base + media.name,
                width=0 if picture is None else picture.width or 0,
                height=0 if picture is None else picture.height or 0,
            )
        )
    return entries


def recorded_files(
    shown: Sequence[Shown], settings: Settings, kind_of: Any
) -> dict[str, ItemFiles]:
    """The derived files the last build recorded for each shown item (by item id), read
    from the derivation cache under ``settings``' data directory and checked against their
    CIDs; items never derived, or whose files are gone, are left out."""
    from exhibits.build_cache import FilesMemo
    from exhibits.derive.cache import DerivationCache
    from exhibits.derive.dispatch import settings_json

    memo = FilesMemo(settings.data_dir / "exhibit-cache" / "items")
    cache = DerivationCache(settings.data_dir / "derived")
    found: dict[str, ItemFiles] = {}
    for item in shown:
        candidate = item.candidate
        kind = kind_of(candidate.media_type, candidate.file_name)
        key = settings_json(kind)
        if key is None:
            continue
        files = memo.load(candidate, kind, key, cache)
        if files is not None:
            found[item_id(candidate.key)] = files
    return found


def preview(
    spec: ExhibitSpec, *, settings: Settings | None = None, at: datetime | None = None
) -> Any:
    """The gallery of ``spec`` as it would be built at ``at`` (now by default): a scene."""
    # The build stage's modules reach the chain; imported here so that reading a gallery.json
    # needs neither.
    from exhibits.build import choose
    from exhibits.derive.dispatch import kind_of
    from ledger.settings import load_settings

    chosen = settings or load_settings()
    choice, _chain = choose(spec, chosen, at)
    files = recorded_files(choice.shown, chosen, kind_of)
    entries = preview_entries(choice.shown, spec.languages, kind_of, files)
    document = gallery_document(
        dict(spec.title).get(spec.default_language, ""), spec.theme, choice.rooms, entries
    )
    return preview_gallery(document)
