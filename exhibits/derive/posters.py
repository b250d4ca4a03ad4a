"""Posters: the still image that stands for an item in the gallery and on its page.

Items of no kind the exhibit can show (a PDF, a spreadsheet, an archive) get a poster naming the
kind of file, made from the media type alone: never from the file name, which may say more than
the community chose to show. :func:`derive_other_cached` makes it through the derivation cache;
:func:`png_bytes`, :func:`canvas` and :func:`draw_label` are the helpers every poster shares
(the waveform and video-frame posters of :mod:`exhibits.derive.media` use them too).

Determinism: posters are drawn with Pillow and its bundled font only, and encoded as PNG with
fixed options and no text chunks, so the same inputs and Pillow build give the same bytes. The
Pillow version is part of the settings a record lists.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Final

import PIL
from PIL import Image, ImageDraw, ImageFont

from exhibits.derive.cache import Derivation, DerivationCache
from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid
from exhibits.model import ItemFiles
from ledger.errors import InvalidMedia, UsageError

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "POSTER_NAME",
    "PosterSettings",
    "canvas",
    "derive_other_cached",
    "draw_label",
    "kind_label",
    "other_poster",
    "png_bytes",
    "poster_file",
]

POSTER_NAME: Final = "poster.png"
#: Dark slate and off-white: a contrast ratio above 12:1 (WCAG AAA for any text size).
BACKGROUND: Final = (38, 42, 51)
FOREGROUND: Final = (236, 236, 228)
ACCENT: Final = (142, 178, 214)

#: Words for the common media types; anything else is named from its type's own parts.
_NAMES: Final = {
    "application/pdf": "PDF document",
    "application/zip": "ZIP archive",
    "application/x-tar": "TAR archive",
    "application/gzip": "Gzip archive",
    "application/json": "JSON data",
    "application/xml": "XML document",
    "application/msword": "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document",
    "application/vnd.ms-excel": "Spreadsheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Spreadsheet",
    "application/vnd.oasis.opendocument.text": "Text document",
    "application/vnd.oasis.opendocument.spreadsheet": "Spreadsheet",
    "application/epub+zip": "E-book",
    "application/octet-stream": "Data file",
    "text/plain": "Text",
    "text/csv": "Table (CSV)",
    "text/html": "Web page",
    "text/markdown": "Text (Markdown)",
}
_FAMILIES: Final = {
    "application": "Document",
    "text": "Text",
    "audio": "Recording",
    "video": "Video",
    "image": "Image",
    "model": "3D model",
    "font": "Font",
}
_TOKEN: Final = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


@dataclass(frozen=True, slots=True)
class PosterSettings:
    """The size of a poster in pixels (16:9 by default)."""

    width: int = 960
    height: int = 540

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not 64 <= value <= 4096:
                raise UsageError(
                    f"poster settings: {name} must be 64 to 4096 pixels, not {value}",
                    hint="the default poster is 960 × 540",
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "png_compress_level": 9,
            "encoder": f"Pillow {PIL.__version__}",
        }


def kind_label(media_type: str) -> tuple[str, str]:
    """(the kind in words, the media type as shown) of ``media_type``; a malformed type is
    shown as "File" with no type, so nothing arbitrary is drawn."""
    essence = media_type.split(";", 1)[0].strip().lower()
    family, _, sub = essence.partition("/")
    if not (_TOKEN.match(family) and _TOKEN.match(sub)):
        return "File", ""
    if essence in _NAMES:
        return _NAMES[essence], essence
    return _FAMILIES.get(family, "File"), essence


def canvas(settings: PosterSettings) -> Image.Image:
    """A blank poster."""
    return Image.new("RGB", (settings.width, settings.height), BACKGROUND)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def draw_label(image: Image.Image, lines: tuple[str, ...], *, top: float = 0.5) -> None:
    """Draw ``lines`` centred across ``image``, the first large, the others smaller; ``top``:
    where the block's centre sits, as a fraction of the height."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    sizes = [max(12, height // 9)] + [max(10, height // 18)] * (len(lines) - 1)
    fonts = [_font(size) for size in sizes]
    boxes = [
        draw.textbbox((0, 0), line, font=font) for line, font in zip(lines, fonts, strict=True)
    ]
    gap = height // 30
    total = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    y = height * top - total / 2
    for index, (line, font, box) in enumerate(zip(lines, fonts, boxes, strict=True)):
        line_width = box[2] - box[0]
        colour = FOREGROUND if index == 0 else ACCENT
        draw.text(((width - line_width) / 2 - box[0], y - box[1]), line, font=font, fill=colour)
        y += box[3] - box[1] + gap


def png_bytes(image: Image.Image) -> bytes:
    """``image`` as PNG, deterministically: fixed options, no text, time or profile chunks."""
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    bare.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def poster_file(image: Image.Image) -> DerivedFile:
    """``image`` as the item's ``poster.png``."""
    width, height = image.size
    return DerivedFile.of(POSTER_NAME, "image/png", png_bytes(image), width=width, height=height)


def other_poster(media_type: str, settings: PosterSettings | None = None) -> DerivedFile:
    """The poster of an item of ``media_type`` that has no viewer: its kind in words."""
    settings = settings or PosterSettings()
    words, essence = kind_label(media_type)
    image = canvas(settings)
    draw = ImageDraw.Draw(image)
    # A page outline with a folded corner: reads as "a file" before any word is read.
    w, h = settings.width, settings.height
    left, top, right, bottom = w * 0.42, h * 0.12, w * 0.58, h * 0.46
    fold = (right - left) * 0.3
    draw.polygon(
        [(left, top), (right - fold, top), (right, top + fold), (right, bottom), (left, bottom)],
        outline=ACCENT,
        width=max(2, h // 120),
    )
    draw.line(
        [(right - fold, top), (right - fold, top + fold), (right, top + fold)],
        fill=ACCENT,
        width=max(2, h // 120),
    )
    draw_label(image, (words, essence) if essence else (words,), top=0.7)
    return poster_file(image)


def derive_other_cached(
    master: bytes, file_name: str, media_type: str, cache: DerivationCache
) -> ItemFiles:
    """The poster of an item of another kind (a document, an archive …), through ``cache``.

    ``file_name`` is not drawn (see the module); it is accepted so every deriver has the same
    shape. The master's bytes are not read beyond their CID."""
    del file_name
    if not isinstance(media_type, str):
        raise InvalidMedia("the media type is not text", hint="pass the item's media type")
    settings = PosterSettings()
    master_cid = file_cid(master)
    essence = kind_label(media_type)[1]
    # The media type shapes the output, so it belongs to the cache key.
    keyed = {**settings.to_json(), "poster": "kind", "media_type": essence or "unknown"}

    def fresh() -> Derivation:
        poster = other_poster(media_type, settings)
        record = DerivationRecord(
            kind="other", master_cid=master_cid, settings=keyed, outputs=(poster.entry(),)
        )
        return record, (poster,)

    record, files = cache.get_or_derive(master_cid, keyed, fresh)
    if len(files) != 1 or files[0].name != POSTER_NAME:
        raise InvalidMedia(
            f"the cached poster of {master_cid} is not one {POSTER_NAME}",
            hint="delete it from the cache's directory",
        )
    return ItemFiles(kind="other", files=files, records=(record,))
