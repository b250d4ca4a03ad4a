"""The gallery layout: where each shown item hangs or stands (stub: the front-end slice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exhibits.model import Kind, RoomPlan

__all__ = ["GalleryEntry", "gallery_document"]


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


def gallery_document(
    title: str, theme: str, rooms: Sequence[RoomPlan], entries: Sequence[GalleryEntry]
) -> dict[str, Any]:
    """gallery.json: the room(s) and every entry's placement. Deterministic."""
    raise NotImplementedError
