"""Posters for items of other kinds (exhibits.derive.posters): named from the media type only,
deterministic PNG with no text chunks, through the cache."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from exhibits.derive.cache import DerivationCache
from exhibits.derive.posters import PosterSettings, derive_other_cached, kind_label, other_poster
from exhibits.scan import Secret, scan
from ledger.errors import UsageError


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/pdf", ("PDF document", "application/pdf")),
        ("Application/PDF; charset=binary", ("PDF document", "application/pdf")),
        ("text/csv", ("Table (CSV)", "text/csv")),
        ("application/x-weird", ("Document", "application/x-weird")),
        ("font/woff2", ("Font", "font/woff2")),
        ("", ("File", "")),
        ("<script>alert(1)</script>/x", ("File", "")),
        ("application/" + "a" * 300, ("File", "")),
    ],
)
def test_kind_label(media_type: str, expected: tuple[str, str]) -> None:
    assert kind_label(media_type) == expected


def test_poster_names_the_kind_never_the_file(tmp_path: Path) -> None:
    cache = DerivationCache(tmp_path / "derived")
    master = b"%PDF-1.4 secret minutes of the meeting"
    files = derive_other_cached(master, "Secret Minutes 1987.pdf", "application/pdf", cache)
    assert files.kind == "other"
    assert [f.name for f in files.files] == ["poster.png"]
    poster = files.files[0]
    image = Image.open(io.BytesIO(poster.data))
    assert image.format == "PNG" and image.size == (960, 540) and image.info == {}
    assert (poster.width, poster.height) == (960, 540)
    assert len(set(image.convert("RGB").getdata())) > 2  # something is drawn
    site = tmp_path / "site"
    site.mkdir()
    (site / "poster.png").write_bytes(poster.data)
    assert (
        scan(
            site,
            [
                *Secret.file_name("file", "Secret Minutes 1987.pdf"),
                Secret.text("content", "secret minutes"),
            ],
        )
        == []
    )
    assert files.records[0].master_cid == poster.cid.__class__.parse(
        str(files.records[0].master_cid)
    )
    # The same again comes from the cache; another media type is another poster.
    again = derive_other_cached(master, "x.pdf", "application/pdf", cache)
    assert again == files and cache.stats.hits == 1
    zipped = derive_other_cached(master, "x.pdf", "application/zip", cache)
    assert zipped.files[0].data != poster.data and cache.stats.misses == 2


def test_poster_is_deterministic_and_depends_on_the_type() -> None:
    assert other_poster("text/plain").data == other_poster("text/plain").data
    assert other_poster("text/plain").data != other_poster("text/csv").data
    small = other_poster("text/plain", PosterSettings(width=320, height=180))
    assert Image.open(io.BytesIO(small.data)).size == (320, 180)


def test_poster_settings_refuse_silly_sizes() -> None:
    with pytest.raises(UsageError):
        PosterSettings(width=10)
