"""Rendering an exhibit site from the allowed set only (stub: the site slice fills it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from exhibits.model import ChainRef, Exhibited, RoomPlan
from exhibits.spec import ExhibitSpec

__all__ = ["render_site"]


def render_site(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    out: Path,
    *,
    built_at: datetime,
) -> None:
    """Write the whole site for ``items`` (in exhibit order) into the empty folder ``out``:
    pages, derived files, gallery.json, search index, IIIF, JSON-LD, sitemap, proofs.json and
    the vendored assets. Deterministic: the same arguments give the same bytes."""
    raise NotImplementedError
