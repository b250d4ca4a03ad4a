"""Image derivatives: a display image and a thumbnail, with none of the master's metadata.

:func:`derive_image` is pure (bytes in, a frozen :class:`DerivedImage` out):

1. **Open with a pixel cap.** The header's dimensions are checked against
   :attr:`ImageSettings.max_master_pixels` before any pixel is decoded, so a small file that
   claims huge dimensions (a decompression bomb) is refused with
   :class:`~ledger.errors.LimitExceeded`. A file Pillow cannot decode whole (truncated, corrupt,
   not an image) raises :class:`~ledger.errors.InvalidMedia`.
2. **Orientation**: the EXIF orientation is applied to the pixels, then dropped with the rest.
3. **Colour**: an embedded ICC profile converts the pixels to sRGB (then the profile is dropped);
   every mode becomes RGB, or RGBA where the master has real transparency.
4. **Re-encode** from a fresh image that carries only pixels, so no EXIF, XMP, GPS, IPTC, ICC
   profile, comment or PNG text chunk of the master can reach an output.

Format: JPEG for opaque images and PNG where there is transparency. JPEG is what every browser,
three.js texture loader and IIIF viewer reads, at a fraction of PNG's size for photographs; PNG
keeps an alpha channel exactly. WebP would cover both but gains little here, and two formats
that every tool reads are the safer choice for an archive's public face. Every encoder option is
set explicitly and neither format carries a timestamp, so the same master, settings and Pillow
build give byte-identical files; the Pillow version is part of the settings that a record lists.

:func:`derive_image_cached` adds the cache (:class:`~exhibits.derive.cache.DerivationCache`).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import PIL
from PIL import Image, ImageCms, ImageOps

from exhibits.derive.cache import Derivation, DerivationCache
from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid
from ledger.errors import InvalidMedia, LimitExceeded, UsageError
from ledger.ipfs.cid import Cid

__all__ = [
    "DEFAULT_DISPLAY_PX",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MAX_MASTER_PIXELS",
    "DEFAULT_THUMBNAIL_PX",
    "DerivedImage",
    "ImageSettings",
    "derive_image",
    "derive_image_cached",
]

#: The longest side of the display image (the gallery panel and the item page).
DEFAULT_DISPLAY_PX: Final = 2048
#: The longest side of the thumbnail (lists, search results, IIIF thumbnails).
DEFAULT_THUMBNAIL_PX: Final = 400
DEFAULT_JPEG_QUALITY: Final = 85
#: The largest master decoded: 150 million pixels (a 15,000 × 10,000 scan; 600 MB as RGBA).
DEFAULT_MAX_MASTER_PIXELS: Final = 150_000_000

_KIND: Final = "image"
#: What Pillow's decoders raise on hostile bytes (its own fuzzing treats these as expected).
_DECODE_ERRORS: Final = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
)  # fmt: skip
_SRGB: Final = ImageCms.createProfile("sRGB")


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """How image derivatives are made. All but ``max_master_pixels`` shape the output bytes."""

    max_px: int = DEFAULT_DISPLAY_PX
    thumbnail_px: int = DEFAULT_THUMBNAIL_PX
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    # A refusal cap, so not part of to_json(): the outputs do not depend on it. Pillow itself
    # refuses more than twice its Image.MAX_IMAGE_PIXELS (about 179 million) whatever this says.
    max_master_pixels: int = DEFAULT_MAX_MASTER_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_px", "thumbnail_px", "max_master_pixels"):
            if getattr(self, name) < 1:
                raise UsageError(
                    f"image settings: {name} must be at least 1, not {getattr(self, name)}",
                    hint="give a positive number of pixels",
                )
        if not 1 <= self.jpeg_quality <= 95:
            raise UsageError(
                f"image settings: jpeg_quality must be from 1 to 95, not {self.jpeg_quality}",
                hint="85 is the default; above 95 JPEG grows without looking better",
            )

    def to_json(self) -> dict[str, Any]:
        """What made the outputs, as JSON values: the record's ``settings`` and the cache key."""
        return {
            "display_px": self.max_px,
            "thumbnail_px": self.thumbnail_px,
            "jpeg_quality": self.jpeg_quality,
            "jpeg_subsampling": "4:2:0",
            "png_compress_level": 9,
            "resample": "lanczos",
            "colour": "sRGB",
            "encoder": f"Pillow {PIL.__version__}",
        }


@dataclass(frozen=True, slots=True)
class DerivedImage:
    """A master's display image and thumbnail, with the record of how they were made."""

    display: DerivedFile
    thumbnail: DerivedFile
    record: DerivationRecord

    @property
    def files(self) -> tuple[DerivedFile, DerivedFile]:
        """The outputs, in the record's order."""
        return self.display, self.thumbnail


def _open(master: bytes, settings: ImageSettings) -> Image.Image:
    with warnings.catch_warnings():
        # The cap below is ours; Pillow's own bomb warning would only repeat it. Its warnings
        # about damaged metadata (which is dropped anyway) say nothing the caller can act on.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            image = Image.open(io.BytesIO(master))
        except Image.DecompressionBombError:
            image = None
        except _DECODE_ERRORS as exc:
            raise InvalidMedia(
                f"the master ({len(master)} bytes) is not an image Pillow can read: {exc}",
                hint="check that the file is a whole JPEG, PNG, TIFF, WebP or GIF image",
            ) from None
        width, height = (0, 0) if image is None else image.size
        if image is None or width * height > settings.max_master_pixels:
            size = f"{width} × {height} pixels" if image else "more pixels than Pillow allows"
            raise LimitExceeded(
                f"the master image claims {size}, over the cap of "
                f"{settings.max_master_pixels:,} pixels",
                hint="a small file that claims huge dimensions is a decompression bomb; "
                "a genuine large scan needs a higher max_master_pixels",
            )
        try:
            image.seek(0)  # the first frame of an animation
            image.load()
        except Image.DecompressionBombError:
            raise LimitExceeded(
                "the master image decodes to more pixels than allowed",
                hint="a decompression bomb; nothing was derived",
            ) from None
        except _DECODE_ERRORS as exc:
            raise InvalidMedia(
                f"the master image ({image.format}, {width} × {height}) does not decode: {exc}",
                hint="the file is truncated or corrupt; register an intact copy",
            ) from None
    return image


def _oriented(image: Image.Image) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF fails in many ways: keep the pixels as stored
        return image


def _has_alpha(image: Image.Image) -> bool:
    return (
        image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}
        or (image.mode == "P" and "transparency" in image.info)
        or (image.mode in {"RGB", "L"} and "transparency" in image.info)
    )


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB or RGBA pixels in sRGB, whatever the master's mode and profile."""
    alpha = _has_alpha(image)
    if image.mode.startswith("I;16") or image.mode in {"I", "F"}:
        # 16-bit and float greyscale: scale to 8 bits instead of clipping everything to white.
        top = 65535.0 if image.mode != "F" else 1.0
        image = image.convert("F").point(lambda v: v * (255.0 / top)).convert("L")
    icc = image.info.get("icc_profile")
    if icc and not alpha:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: treat the pixels as sRGB
    elif icc and image.mode == "RGBA":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(image.convert("RGB"), source, _SRGB, outputMode="RGB")
            if rgb is not None:
                rgba = rgb.convert("RGBA")
                rgba.putalpha(image.getchannel("A"))
                return rgba
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    converted = image.convert("RGBA" if alpha else "RGB")
    if alpha and converted.getchannel("A").getextrema() == (255, 255):
        converted = converted.convert("RGB")  # an alpha channel that hides nothing
    return converted


def _bare(image: Image.Image) -> Image.Image:
    """A new image with the same pixels and nothing else (an empty ``info``)."""
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _fit(image: Image.Image, longest: int) -> Image.Image:
    width, height = image.size
    scale = min(1.0, longest / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return _bare(image)
    return _bare(image.resize(size, Image.Resampling.LANCZOS, reducing_gap=None))


def _encode(image: Image.Image, stem: str, quality: int) -> DerivedFile:
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, format="PNG", optimize=False, compress_level=9)
        name, media_type = f"{stem}.png", "image/png"
    else:
        image.save(
            out, format="JPEG", quality=quality, subsampling=2, optimize=True,
            progressive=False, exif=b"", icc_profile=None, dpi=(72, 72),
        )  # fmt: skip
        name, media_type = f"{stem}.jpg", "image/jpeg"
    width, height = image.size
    return DerivedFile.of(name, media_type, out.getvalue(), width=width, height=height)


def derive_image(master: bytes, settings: ImageSettings | None = None) -> DerivedImage:
    """The display image and thumbnail of ``master``, stripped of its metadata (see the module)."""
    settings = settings or ImageSettings()
    master_cid = file_cid(master)
    opened = _open(master, settings)
    pixels = _to_srgb(_oriented(opened))
    display = _encode(_fit(pixels, settings.max_px), "image", settings.jpeg_quality)
    thumbnail = _encode(_fit(pixels, settings.thumbnail_px), "thumbnail", settings.jpeg_quality)
    record = DerivationRecord(
        kind=_KIND,
        master_cid=master_cid,
        settings=settings.to_json(),
        outputs=(display.entry(), thumbnail.entry()),
    )
    return DerivedImage(display, thumbnail, record)


def derive_image_cached(
    master: bytes,
    settings: ImageSettings | None,
    cache: DerivationCache,
    derive: Callable[[bytes, ImageSettings], DerivedImage] = derive_image,
) -> DerivedImage:
    """:func:`derive_image` through ``cache``: an unchanged master is never derived twice."""
    settings = settings or ImageSettings()
    master_cid: Cid = file_cid(master)

    def fresh() -> Derivation:
        derived = derive(master, settings)
        return derived.record, derived.files

    record, files = cache.get_or_derive(master_cid, settings.to_json(), fresh)
    if len(files) != 2:
        raise InvalidMedia(f"the cached derivation of {master_cid} lists {len(files)} files, not 2",
                           hint="delete it from the cache's directory")  # fmt: skip
    return DerivedImage(files[0], files[1], record)
