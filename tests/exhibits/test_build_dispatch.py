"""exhibits.derive.dispatch: the kind of a master from its media type and name, and the image
branch of derive_item through the real cache (the other branches' derivers are tested with
their own modules)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from exhibits.derive.cache import DerivationCache
from exhibits.derive.dispatch import _deriver, derive_item, kind_of
from exhibits.derive.records import file_cid
from ledger.errors import UsageError


@pytest.mark.parametrize(
    ("media_type", "file_name", "kind"),
    [
        ("model/gltf-binary", "scan.glb", "model"),
        ("model/gltf+json", "scene.gltf", "model"),
        ("model/obj", "pot.obj", "model"),
        ("model/stl", "part.stl", "model"),
        ("application/sla", "part.stl", "model"),
        ("model/vnd.usdz+zip", "thing.usdz", "model"),
        ("application/octet-stream", "scan.PLY", "model"),  # extensions ignore case
        ("text/plain", "mesh.obj", "model"),
        ("application/octet-stream", "mesh.glb", "model"),
        ("image/jpeg", "photo.jpg", "image"),
        ("IMAGE/PNG; charset=binary", "x.png", "image"),
        ("audio/mpeg", "song.mp3", "audio"),
        ("video/mp4", "dance.mp4", "video"),
        ("application/pdf", "letter.pdf", "other"),
        ("application/octet-stream", "", "other"),
        ("text/plain", "notes.txt", "other"),
    ],
)
def test_kind_of(media_type: str, file_name: str, kind: str) -> None:
    assert kind_of(media_type, file_name) == kind


def _png(width: int, height: int) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_an_image_becomes_a_display_image_and_a_thumbnail_derived_once(tmp_path: Path) -> None:
    master = _png(900, 600)
    cache = DerivationCache(tmp_path / "derived")
    files = derive_item("image", master, "reef.png", "image/png", cache)
    assert files.kind == "image"
    assert [f.name for f in files.files] == ["image.jpg", "thumbnail.jpg"]
    image, thumbnail = files.file("image"), files.file("thumbnail")
    assert image is not None and thumbnail is not None
    assert (image.width, image.height) == (900, 600)
    assert max(thumbnail.width or 0, thumbnail.height or 0) == 400
    assert Image.open(io.BytesIO(image.data)).size == (900, 600)
    assert files.records[0].master_cid == file_cid(master)
    again = derive_item("image", master, "reef.png", "image/png", cache)
    assert again == files
    assert (cache.stats.misses, cache.stats.hits) == (1, 1)


def test_a_deriver_module_that_is_not_installed_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match=r"no exhibits\.derive\.absent: it cannot derive"):
        _deriver("exhibits.derive.absent", "derive")
