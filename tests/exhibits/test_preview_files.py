"""exhibits.notebook.preview_entries and recorded_files: the preview's paths are the names the
derivers gave each item's files (a JPEG photo's ``image.jpg``, a PNG with alpha's
``image.png``, a model's ``model.glb`` and its poster, a recording's own container and its
poster), read back through the real derivation cache and memo; an item not derived yet has
none."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from PIL import Image

from exhibits.build_cache import FilesMemo
from exhibits.derive.cache import DerivationCache
from exhibits.derive.dispatch import derive_item, kind_of, settings_json
from exhibits.model import Candidate, ItemFiles, Shown
from exhibits.notebook import preview_entries, recorded_files
from ledger.rights.policy import DisplayDecision
from ledger.settings import load_settings
from tests.exhibits.media_support import Recipe, make_recording
from tests.exhibits.test_select import candidate

TETRAHEDRON = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"


def picture(mode: str, fmt: str) -> bytes:
    out = io.BytesIO()
    colour = (200, 120, 40, 128) if mode == "RGBA" else (200, 120, 40)
    Image.new(mode, (300, 200), colour).save(out, format=fmt)
    return out.getvalue()


def master(name: str, file_name: str, media_type: str) -> Candidate:
    return dataclasses.replace(candidate(name), file_name=file_name, media_type=media_type)


def shown(item: Candidate) -> Shown:
    return Shown(item, DisplayDecision(True, ()))


def test_the_preview_uses_the_file_names_the_derivers_recorded(tmp_path: Path) -> None:
    cache = DerivationCache(tmp_path / "data" / "derived")
    masters = {
        "photo": (master("photo", "photo.jpg", "image/jpeg"), picture("RGB", "JPEG")),
        "cutout": (master("cutout", "cutout.png", "image/png"), picture("RGBA", "PNG")),
        "waka": (master("waka", "waka.obj", "model/obj"), TETRAHEDRON),
        "waiata": (
            master("waiata", "waiata.ogg", "audio/ogg"),
            make_recording(Recipe("ogg-opus", "ogg", "libopus"), seconds=0.5),
        ),
    }
    files: dict[str, ItemFiles] = {}
    for item, data in masters.values():
        kind = kind_of(item.media_type, item.file_name)
        files[item.item_id] = derive_item(kind, data, item.file_name, item.media_type, cache)
    later = master("later", "later.jpg", "image/jpeg")  # not derived yet
    items = [shown(c) for c, _ in masters.values()] + [shown(later)]
    entries = {e.item_id: e for e in preview_entries(items, ["en"], kind_of, files)}

    def path(name: str, file: str) -> str:
        return f"items/{masters[name][0].item_id}/files/{file}"

    photo, cutout = entries[masters["photo"][0].item_id], entries[masters["cutout"][0].item_id]
    assert (photo.image, photo.width, photo.height) == (path("photo", "image.jpg"), 300, 200)
    assert cutout.image == path("cutout", "image.png")  # alpha kept: PNG
    waka = entries[masters["waka"][0].item_id]
    assert (waka.kind, waka.model, waka.image) == (
        "model", path("waka", "model.glb"), path("waka", "poster.png"),
    )  # fmt: skip
    waiata = entries[masters["waiata"][0].item_id]
    assert (waiata.kind, waiata.media, waiata.image) == (
        "audio", path("waiata", "audio.opus"), path("waiata", "poster.png"),
    )  # fmt: skip
    pending = entries[later.item_id]
    assert (pending.model, pending.image, pending.media, pending.width) == (None, None, None, 0)

    # What a build recorded is what the preview reads back (through the memo and the cache).
    settings = load_settings(env={}, data_dir=tmp_path / "data", fsync=False)
    memo = FilesMemo(tmp_path / "data" / "exhibit-cache" / "items")
    for item, _ in masters.values():
        kind = files[item.item_id].kind
        memo.store(item, kind, settings_json(kind), files[item.item_id])
    found = recorded_files(items, settings, kind_of)
    assert {k: [f.name for f in v.files] for k, v in found.items()} == {
        k: [f.name for f in v.files] for k, v in files.items()
    }
