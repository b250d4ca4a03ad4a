"""The demo's sample collection, without a chain: every kind of terms the issue lists is there,
each terms document is valid and decides as its kind says (public ones allowed now, the rest
denied, the Secret/Sacred one sealed), the objects are real coloured or textured glTF meshes,
and the descriptions are valid in three languages."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trimesh

from api.demo.collection import (
    CATEGORIES,
    COMMUNITIES,
    FULL,
    SMALL,
    Category,
    description_document,
    terms_document,
    write_sample,
)
from ledger.rights.description import parse_description
from ledger.rights.model import parse_terms
from ledger.rights.policy import decide, requires_encryption

COMMUNITY = bytes(range(32))
#: The issue's terms mix, written from the issue (not from the module).
ISSUE_MIX = {"public-cc-by", "public-tk-attribution", "community-only", "secret-sacred",
             "seasonal", "embargoed", "revoked", "ai-derivative"}  # fmt: skip


def test_both_collections_hold_every_kind_of_terms() -> None:
    assert set(CATEGORIES) == ISSUE_MIX
    for collection in (FULL, SMALL):
        assert {s.category for s in collection} == ISSUE_MIX
    assert sum(s.suffix == ".glb" for s in FULL) == 12
    assert [(c.keyholders, c.threshold) for c in COMMUNITIES] == [(5, 3), (3, 2)]
    (derivative,) = [s for s in FULL if s.parent is not None]
    parent = next(s for s in FULL if s.name == derivative.parent)
    # The parent is public and its terms consent to AI enhancement.
    assert CATEGORIES[parent.category][1]
    assert terms_document(parent.category, COMMUNITY)["ai_use"]["enhancement"] is True


@pytest.mark.parametrize("category", sorted(ISSUE_MIX))
def test_each_terms_document_decides_as_its_kind_says(category: Category) -> None:
    # Revocation and derivation happen on the chain; their terms are public ones.
    for now in (datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC),
                datetime(2026, 12, 31, 23, 0, tzinfo=UTC)):  # fmt: skip
        terms = parse_terms(terms_document(category, COMMUNITY, now=now), community=COMMUNITY)
        allowed = decide(terms, now).allowed
        assert allowed == (category in {"public-cc-by", "public-tk-attribution", "revoked",
                                        "ai-derivative"}), (category, now)  # fmt: skip
        assert requires_encryption(terms) == (category in {"community-only", "secret-sacred"})


def test_the_objects_are_coloured_or_textured_meshes_and_the_images_images(
    tmp_path: Path,
) -> None:
    from PIL import Image

    for sample in FULL:
        path = write_sample(sample, tmp_path)
        if sample.suffix == ".png":
            assert Image.open(path).format == "PNG"
            continue
        scene = trimesh.load_scene(io.BytesIO(path.read_bytes()), file_type="glb")
        meshes = list(scene.geometry.values())
        assert meshes and all(len(m.faces) > 0 for m in meshes), sample.name
        for mesh in meshes:
            kind = mesh.visual.kind
            assert kind in ("vertex", "texture"), (sample.name, kind)
    enhanced = Image.open(tmp_path / "woven-mat-enhanced.png")
    assert enhanced.size == tuple(4 * d for d in Image.open(tmp_path / "woven-mat.png").size)


def test_descriptions_are_valid_in_english_maori_and_french() -> None:
    for sample in FULL:
        data = description_document(sample)
        parse_description(data, sample.name)
        title = json.loads(data)["title"]
        assert set(title) == {"en", "mi", "fr"} and all(title.values())
