"""Image derivatives (exhibits.derive.images): no metadata of the master survives, orientation
and colour are applied, sizes are capped, output is deterministic, hostile input is refused, and
the cache serves only intact entries."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from exhibits.derive import (
    DerivationCache,
    DerivedFile,
    DerivedImage,
    ImageSettings,
    derive_image,
    derive_image_cached,
)
from ledger.errors import InvalidMedia, LimitExceeded, UsageError
from ledger.ipfs.cid import Cid
from tests.cli_runner import run_heritage
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

CANARY = "CANARY-7f3a"
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
#: What Pillow reports for a JPEG it wrote itself (the JFIF header), none of it the master's.
JFIF_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}


def _noise(size: tuple[int, int], seed: int = 1) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    for tag in (0x010E, 0x010F, 0x0110, 0x0131, 0x013B, 0x8298):  # description, make, model,
        exif[tag] = f"{CANARY} tag {tag}"  # software, artist, copyright
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(EXIF_IFD)[0x9286] = f"ASCII\0\0\0{CANARY} user comment".encode()
    exif.get_ifd(EXIF_IFD)[0xA434] = f"{CANARY} lens"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "S", (36.0, 50.0, 59.0)
    gps[3], gps[4] = "E", (174.0, 45.0, 52.0)
    gps[0x1B] = f"ASCII\0\0\0{CANARY} gps".encode()  # GPSProcessingMethod
    return exif


def _xmp() -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:title="{CANARY} xmp"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _icc() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile + f"{CANARY} icc".encode()


def _with_iptc(jpeg: bytes) -> bytes:
    """Splice an APP13 (Photoshop IRB with an IPTC caption) in after SOI."""
    caption = f"{CANARY} iptc".encode()
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(caption)) + caption
    irb = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + irb
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _hostile_jpeg(size: tuple[int, int] = (300, 100), orientation: int | None = 6) -> bytes:
    out = io.BytesIO()
    _noise(size).save(
        out, "JPEG", exif=_exif(orientation), xmp=_xmp(), icc_profile=_icc(),
        comment=f"{CANARY} comment", dpi=(300, 300), quality=90,
    )  # fmt: skip
    return _with_iptc(out.getvalue())


def _hostile_png(mode: str = "RGBA") -> bytes:
    info = PngInfo()
    info.add_text("Title", f"{CANARY} tEXt")
    info.add_text("Comment", f"{CANARY} zTXt", zip=True)
    info.add_itxt("Description", f"{CANARY} iTXt ☃", lang="en", tkey="Beschreibung")
    info.add_text("XML:com.adobe.xmp", _xmp().decode())
    image = _noise((200, 120)).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize((200, 120)))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=_exif(), icc_profile=_icc(), dpi=(300, 300))
    return out.getvalue()


def _jpeg_segments(data: bytes) -> list[int]:
    """The marker of every segment before the scan (SOS)."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while data[at + 1] != 0xDA:
        markers.append(data[at + 1])
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return markers


def _png_chunks(data: bytes) -> set[bytes]:
    kinds, at = set(), 8
    while at < len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        kinds.add(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def assert_bare(file: DerivedFile) -> None:
    """Nothing of any master's metadata: no canary, no metadata segment or chunk, no info."""
    assert CANARY.encode() not in file.data and b"CANARY" not in file.data.upper()
    for marker in (b"Exif", b"http://ns.adobe.com", b"Photoshop", b"ICC_PROFILE", b"8BIM"):
        assert marker not in file.data, marker
    image = Image.open(io.BytesIO(file.data))
    assert len(image.getexif()) == 0
    assert (file.width, file.height) == image.size
    if file.media_type == "image/jpeg":
        assert file.name.endswith(".jpg") and image.format == "JPEG"
        assert set(image.info) <= JFIF_INFO, image.info
        assert image.info["dpi"] == (72, 72)  # ours, not the master's 300
        # Only JFIF (APP0), quantisation, Huffman tables and the frame: no APPn >0, no COM.
        assert set(_jpeg_segments(file.data)) <= {0xE0, 0xDB, 0xC4, 0xC0}
    else:
        assert (file.media_type, image.format, image.mode) == ("image/png", "PNG", "RGBA")
        assert image.info == {} and getattr(image, "text", {}) == {}
        assert _png_chunks(file.data) == {b"IHDR", b"IDAT", b"IEND"}


def test_a_jpeg_master_loses_every_metadata_field() -> None:
    master = _hostile_jpeg()
    opened = Image.open(io.BytesIO(master))  # the master really carries them all
    assert {"exif", "xmp", "icc_profile", "comment", "photoshop"} <= set(opened.info)
    assert opened.getexif().get_ifd(GPS_IFD)
    assert master.count(CANARY.encode()) >= 8
    derived = derive_image(master)
    for file in derived.files:
        assert_bare(file)
        assert file.media_type == "image/jpeg"


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P"])
def test_a_png_master_loses_its_text_chunks(mode: str) -> None:
    master = _hostile_png(mode)
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"pHYs"} <= _png_chunks(master)
    derived = derive_image(master)
    for file in derived.files:
        assert_bare(file)
    # Transparency is kept (as PNG); an opaque master becomes a JPEG.
    expected = "image/png" if mode == "RGBA" else "image/jpeg"
    assert derived.display.media_type == expected


def test_exif_orientation_is_applied_then_dropped() -> None:
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 150, 100))  # left half red, right half blue
    out = io.BytesIO()
    image.save(out, "JPEG", exif=_exif(orientation=6), quality=95)
    derived = derive_image(out.getvalue())
    assert (derived.display.width, derived.display.height) == (100, 300)
    shown = Image.open(io.BytesIO(derived.display.data)).convert("RGB")
    assert shown.size == (100, 300)
    # Orientation 6: the stored image is turned 90° clockwise to be seen, so its left is the top.
    top, bottom = shown.getpixel((50, 20)), shown.getpixel((50, 280))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert len(Image.open(io.BytesIO(derived.display.data)).getexif()) == 0


def test_a_cmyk_master_becomes_srgb_rgb() -> None:
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure magenta+yellow: red
    out = io.BytesIO()
    cmyk.save(out, "JPEG", quality=95)
    derived = derive_image(out.getvalue())
    pixel = Image.open(io.BytesIO(derived.display.data)).convert("RGB").getpixel((32, 24))
    assert isinstance(pixel, tuple) and pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60
    assert Image.open(io.BytesIO(derived.display.data)).mode == "RGB"


def test_sizes_are_capped_and_small_masters_are_not_enlarged() -> None:
    out = io.BytesIO()
    _noise((2500, 600)).save(out, "PNG")
    derived = derive_image(out.getvalue(), ImageSettings(max_px=1000, thumbnail_px=200))
    assert (derived.display.width, derived.display.height) == (1000, 240)
    assert (derived.thumbnail.width, derived.thumbnail.height) == (200, 48)
    default = derive_image(out.getvalue())
    assert (default.display.width, default.display.height) == (2048, 492)
    assert (default.thumbnail.width, default.thumbnail.height) == (400, 96)
    small = io.BytesIO()
    _noise((50, 40)).save(small, "PNG")
    tiny = derive_image(small.getvalue())
    assert (tiny.display.width, tiny.display.height) == (50, 40)
    assert (tiny.thumbnail.width, tiny.thumbnail.height) == (50, 40)


def test_derivation_is_deterministic_and_recorded() -> None:
    master = _hostile_jpeg()
    first, second = derive_image(master), derive_image(master)
    assert first.display.data == second.display.data
    assert first.thumbnail.data == second.thumbnail.data
    assert first.record == second.record
    record = first.record.to_json()
    assert record["type"] == "heritage/derivation" and record["kind"] == "image"
    assert record["settings"] == ImageSettings().to_json()
    assert [o["cid"] for o in record["outputs"]] == [str(f.cid) for f in first.files]
    assert [o["name"] for o in record["outputs"]] == ["image.jpg", "thumbnail.jpg"]


def test_the_cids_are_the_ones_heritage_cid_prints(tmp_path: Path) -> None:
    master = _hostile_jpeg()
    derived = derive_image(master)
    for name, data, cid in [
        ("master.jpg", master, derived.record.master_cid),
        ("image.jpg", derived.display.data, derived.display.cid),
    ]:
        (tmp_path / name).write_bytes(data)
        result = run_heritage(["cid", "--cid-version", "1", str(tmp_path / name)])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(cid)


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("master", "error", "words"),
    [
        (b"these are not the pixels you are looking for", InvalidMedia, "not an image"),
        (b"", InvalidMedia, "not an image"),
        (_hostile_jpeg()[:3000], InvalidMedia, "does not decode"),
        (_bomb_png(100_000, 100_000), LimitExceeded, "decompression bomb"),
        (_bomb_png(13_000, 13_000), LimitExceeded, "13000 × 13000 pixels"),
    ],
    ids=["text", "empty", "truncated", "bomb-over-pillow", "bomb-over-cap"],
)
def test_hostile_masters_are_refused_and_nothing_is_cached(
    tmp_path: Path, master: bytes, error: type[Exception], words: str
) -> None:
    assert len(master) < 4000  # built small
    cache = DerivationCache(tmp_path / "derived")
    with pytest.raises(error) as raised:
        derive_image_cached(master, ImageSettings(), cache)
    assert words in str(raised.value)
    assert raised.value.hint  # type: ignore[attr-defined]
    assert (cache.stats.hits, cache.stats.misses) == (0, 1)
    assert not list((tmp_path / "derived").rglob("record.json"))
    assert not [p for p in (tmp_path / "derived").rglob("*") if p.is_file()]


def test_the_pixel_cap_is_a_setting() -> None:
    out = io.BytesIO()
    _noise((100, 100)).save(out, "PNG")
    with pytest.raises(LimitExceeded, match="100 × 100 pixels, over the cap of 5,000"):
        derive_image(out.getvalue(), ImageSettings(max_master_pixels=5000))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"max_px": 0}, "max_px must be at least 1"),
        ({"thumbnail_px": -3}, "thumbnail_px must be at least 1"),
        ({"jpeg_quality": 100}, "jpeg_quality must be from 1 to 95"),
    ],
)
def test_bad_settings_are_refused(fields: dict[str, int], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        ImageSettings(**fields)


def _counting() -> tuple[list[int], Callable[[bytes, ImageSettings], DerivedImage]]:
    calls: list[int] = []

    def derive(master: bytes, settings: ImageSettings) -> DerivedImage:
        calls.append(1)
        return derive_image(master, settings)

    return calls, derive


def test_an_unchanged_master_is_never_derived_twice(tmp_path: Path) -> None:
    master = _hostile_jpeg()
    calls, derive = _counting()
    cache = DerivationCache(tmp_path / "derived")
    first = derive_image_cached(master, None, cache, derive)
    again = derive_image_cached(master, None, cache, derive)
    assert len(calls) == 1 and (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert again == first
    # A new cache object on the same directory (a later build) still hits.
    later = DerivationCache(tmp_path / "derived")
    assert derive_image_cached(master, ImageSettings(), later, derive) == first
    assert len(calls) == 1 and later.stats.hits == 1
    # Other settings, or another master, derive afresh.
    derive_image_cached(master, ImageSettings(thumbnail_px=100), cache, derive)
    derive_image_cached(_hostile_jpeg(orientation=None), None, cache, derive)
    assert len(calls) == 3
    entry = cache.entry_dir(first.record.master_cid, ImageSettings().to_json())
    assert entry.parent.name == str(first.record.master_cid)
    assert sorted(p.name for p in entry.iterdir()) == ["image.jpg", "record.json", "thumbnail.jpg"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "image.jpg").write_bytes(
            (entry / "image.jpg").read_bytes()[:-10] + b"\0" * 10
        ),
        lambda entry: (entry / "thumbnail.jpg").unlink(),
        lambda entry: (entry / "record.json").write_bytes(b'{"type": "heritage/deriv'),
        lambda entry: (entry / "record.json").write_bytes(
            (entry / "record.json").read_bytes().replace(b'"image.jpg"', b'"../image.jpg"')
        ),
    ],
    ids=["flipped-bytes", "missing-file", "truncated-record", "escaping-name"],
)
def test_a_corrupted_entry_is_rederived_never_served(
    tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    master = _hostile_jpeg()
    calls, derive = _counting()
    cache = DerivationCache(tmp_path / "derived")
    first = derive_image_cached(master, None, cache, derive)
    damage(cache.entry_dir(first.record.master_cid, ImageSettings().to_json()))
    served = derive_image_cached(master, None, cache, derive)
    assert len(calls) == 2 and cache.stats.corrupt == 1
    assert served == first
    for file in served.files:
        assert Cid.parse(str(file.cid)) == file.cid
    # The entry was written again, intact: the next call is a hit.
    assert derive_image_cached(master, None, cache, derive) == first
    assert len(calls) == 2 and cache.stats.hits == 1


MODES = ["RGB", "RGBA", "L", "LA", "P", "P+transparency", "CMYK", "1", "I;16", "I"]


@reaches(0.9)
@settings(max_examples=examples(20), deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    mode=st.sampled_from(MODES),
    as_jpeg=st.booleans(),
    max_px=st.integers(1, 300),
    thumbnail_px=st.integers(1, 120),
    seed=st.integers(0, 2**32),
)
def test_any_master_gives_capped_bare_deterministic_outputs(
    width: int, height: int, mode: str, as_jpeg: bool, max_px: int, thumbnail_px: int, seed: int
) -> None:
    image = _noise((width, height), seed)
    image = image.convert("I").point(lambda v: v * 200) if mode in {"I;16", "I"} else image
    image = image.convert(mode.removesuffix("+transparency")) if mode != "I" else image
    if mode == "P+transparency":
        image.info["transparency"] = 0
    jpeg = mode == "CMYK" or (as_jpeg and mode in {"RGB", "L"})  # PNG has no CMYK
    out = io.BytesIO()
    if jpeg:
        image.save(out, "JPEG", exif=_exif(orientation=seed % 8 + 1), comment=CANARY, xmp=_xmp())
    elif mode == "I":  # 32-bit greyscale: TIFF, with the canary in its description tag
        image.save(out, "TIFF", description=CANARY, exif=_exif(orientation=seed % 8 + 1))
    else:
        info = PngInfo()
        info.add_text("Title", CANARY)
        image.save(out, "PNG", pnginfo=info, exif=_exif(orientation=seed % 8 + 1))
    master = out.getvalue()
    settings_ = ImageSettings(max_px=max_px, thumbnail_px=thumbnail_px)
    derived = derive_image(master, settings_)
    for file, cap in ((derived.display, max_px), (derived.thumbnail, thumbnail_px)):
        assert file.width is not None and file.height is not None
        assert max(file.width, file.height) <= cap
        assert_bare(file)
    assert derive_image(master, settings_) == derived
    reached()


def _small_masters() -> list[bytes]:
    found = [_hostile_jpeg((40, 30)), _hostile_png("RGBA")]
    for fmt in ("GIF", "WEBP", "TIFF", "BMP"):
        out = io.BytesIO()
        _noise((30, 20)).save(out, fmt)
        found.append(out.getvalue())
    return found


SMALL_MASTERS = _small_masters()


@reaches(0.9)
@settings(max_examples=examples(50), deadline=None)
@given(
    master=st.sampled_from(SMALL_MASTERS),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    cut=st.floats(0.05, 1),
)
def test_damaged_masters_derive_or_fail_cleanly(
    master: bytes, edits: list[tuple[float, int]], cut: float
) -> None:
    damaged = bytearray(master[: max(1, int(len(master) * cut))])
    for where, value in edits:
        damaged[int(where * len(damaged))] = value
    try:
        derived = derive_image(bytes(damaged))
    except (InvalidMedia, LimitExceeded) as exc:
        assert exc.hint
    else:
        for file in derived.files:
            assert_bare(file)
    reached()
