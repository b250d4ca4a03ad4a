"""Recording derivatives (exhibits.derive.media): packets kept as recorded, no tag, chapter,
cover or encoder string of the master in the output, deterministic bytes, a poster, hostile
input refused, and the cache."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from exhibits.derive.cache import DerivationCache
from exhibits.derive.media import (
    RecordingSettings,
    _annexb_without_sei,
    derive_recording,
    derive_recording_cached,
    sniff_container,
)
from exhibits.scan import Secret, scan
from ledger.errors import InvalidMedia, LimitExceeded
from tests.exhibits.media_support import CANARY, FORMATS, Recipe, make_recording

_EXPECTED = {  # recipe → (kind, file name, media type)
    "mp3": ("audio", "audio.mp3", "audio/mpeg"),
    "ogg-vorbis": ("audio", "audio.ogg", "audio/ogg"),
    "ogg-opus": ("audio", "audio.opus", "audio/ogg"),
    "flac": ("audio", "audio.flac", "audio/flac"),
    "wav": ("audio", "audio.wav", "audio/wav"),
    "m4a": ("audio", "audio.m4a", "audio/mp4"),
    "mp4": ("video", "video.mp4", "video/mp4"),
    "webm": ("video", "video.webm", "video/webm"),
    "webm-vorbis": ("video", "video.webm", "video/webm"),
    "mkv-h264": ("video", "video.mkv", "video/x-matroska"),
    "mp4-hevc": ("video", "video.mp4", "video/mp4"),
    "aac-adts": ("audio", "audio.aac", "audio/aac"),
    "flac-id3": ("audio", "audio.flac", "audio/flac"),
    "mka-flac": ("audio", "audio.mka", "audio/x-matroska"),
    "ogg-flac": ("audio", "audio.ogg", "audio/ogg"),
    "m4a-alac": ("audio", "audio.m4a", "audio/mp4"),
    "webm-av1": ("video", "video.webm", "video/webm"),
}
_MASTERS: dict[str, bytes] = {}


def _master(recipe: Recipe) -> bytes:
    if recipe.name not in _MASTERS:
        _MASTERS[recipe.name] = make_recording(recipe)
    return _MASTERS[recipe.name]


def _packets(data: bytes) -> dict[str, list[bytes]]:
    """Each audio/video stream's packets (cover art left out), keyed by type and codec."""
    with av.open(io.BytesIO(data), mode="r") as container:
        out: dict[str, list[bytes]] = {}
        for packet in container.demux():
            stream = packet.stream
            if packet.size == 0 or stream.type not in ("audio", "video"):
                continue
            if stream.disposition & av.stream.Disposition.attached_pic:
                continue
            out.setdefault(f"{stream.type}:{stream.codec_context.name}", []).append(bytes(packet))
        return out


def _without_sei(packet: bytes) -> bytes:
    """An H.264 packet (4-byte length prefixes) with its SEI NAL units (type 6) removed."""
    kept, at = bytearray(), 0
    while at + 4 <= len(packet):
        size = int.from_bytes(packet[at : at + 4], "big")
        unit = packet[at + 4 : at + 4 + size]
        if unit and unit[0] & 0x1F != 6:
            kept += packet[at : at + 4 + size]
        at += 4 + size
    return bytes(kept)


def _info(
    data: bytes,
) -> tuple[list[tuple[str, str, Any]], float, list[object], dict[str, str]]:
    with av.open(io.BytesIO(data), mode="r") as container:
        streams: list[tuple[str, str, Any]] = [
            (s.type, s.codec_context.name, getattr(s.codec_context, "sample_rate", None))
            for s in container.streams
            if s.type in ("audio", "video")
        ]
        tags = dict(container.metadata)
        for s in container.streams:
            tags.update({f"{s.index}:{k}": v for k, v in s.metadata.items()})
        return streams, (container.duration or 0) / av.time_base, list(container.chapters()), tags


@pytest.mark.parametrize("recipe", FORMATS, ids=lambda r: r.name)
def test_recording_keeps_its_packets_and_loses_every_tag(recipe: Recipe, tmp_path: Path) -> None:
    master = _master(recipe)
    assert CANARY.encode() in master  # the test master really carries its canaries
    derived = derive_recording(master)
    kind, name, media_type = _EXPECTED[recipe.name]
    assert (derived.kind, derived.media.name, derived.media.media_type) == (kind, name, media_type)
    assert sniff_container(derived.media.data) == sniff_container(master)

    # Not one form of the canary (UTF-8, UTF-16, escaped, base64 …) in either output.
    for output in derived.files:
        (tmp_path / output.name).write_bytes(output.data)
    assert scan(tmp_path, [Secret.text("canary", CANARY)]) == []
    for encoder in (b"x264", b"x265"):  # the encoders' option strings (SEI units) are gone
        assert encoder not in derived.media.data

    streams, duration, chapters, tags = _info(derived.media.data)
    master_streams, master_duration, master_chapters, _ = _info(master)
    assert chapters == [] and (recipe.muxer not in ("mp4", "webm", "matroska") or master_chapters)
    # Muxers write a few fixed fields of their own (an encoder "Lavf", a major brand): none of
    # them is the master's.
    assert not [v for v in tags.values() if "CANARY" in v or "2001" in v or "+36." in v]
    kept = [s for s in master_streams if s[1] != "png"]  # cover art is left out
    assert streams == kept
    assert duration == pytest.approx(master_duration, abs=0.05)

    before, after = _packets(master), _packets(derived.media.data)
    if "video:h264" in before:
        before["video:h264"] = [p for p in map(_without_sei, before["video:h264"]) if p]
    assert after == before

    poster = Image.open(io.BytesIO(derived.poster.data))
    assert derived.poster.name == "poster.png" and poster.size == (960, 540)
    assert poster.info == {} or set(poster.info) <= {"dpi"}
    # Not a blank canvas: the waveform or the frame drew something.
    assert len(set(poster.convert("RGB").getdata())) > 2


@pytest.mark.parametrize("recipe", FORMATS, ids=lambda r: r.name)
def test_recording_derivation_is_deterministic(recipe: Recipe) -> None:
    master = _master(recipe)
    first, second = derive_recording(master), derive_recording(master)
    assert [f.data for f in first.files] == [f.data for f in second.files]
    assert first.record == second.record


def test_video_poster_is_a_frame_of_the_video() -> None:
    derived = derive_recording(_master(FORMATS[6]))
    poster = Image.open(io.BytesIO(derived.poster.data)).convert("RGB")
    # The generated frames are a red-green gradient over blue 90: the middle is not the
    # slate background of a blank poster.
    r, g, b = poster.getpixel((480, 270))  # type: ignore[misc]
    assert abs(b - 90) < 30 and (r, g, b) != (38, 42, 51)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("not media", b"hello, this is plain text and no recording at all\n" * 20),
        ("empty", b""),
        ("zip named video", b""),
        ("truncated mp4", b""),
        ("truncated ogg", b""),
        ("ogg header only", b"OggS" + bytes(60)),
        ("hls playlist", b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n"),
        ("id3 tag alone", b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(16)),
    ],
)
def test_hostile_masters_are_refused(name: str, data: bytes) -> None:
    if name == "zip named video":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("video.mp4", _master(FORMATS[6]))
        data = out.getvalue()
    elif name == "truncated mp4":
        data = _master(FORMATS[6])[:200]
    elif name == "truncated ogg":
        data = _master(FORMATS[1])[:120]
    with pytest.raises(InvalidMedia) as caught:
        derive_recording(data)
    assert caught.value.hint


def test_a_file_with_only_a_cover_picture_has_no_recording() -> None:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        stream.disposition = av.stream.Disposition.attached_pic
        frame = av.VideoFrame.from_image(Image.new("RGB", (16, 16), "red"))  # type: ignore[no-untyped-call]
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(InvalidMedia, match="no audio or video stream"):
        derive_recording(out.getvalue())


def test_a_nal_unit_longer_than_its_packet_is_refused() -> None:
    master = _master(FORMATS[6])  # MP4, H.264 with 4-byte length prefixes
    first = _packets(master)["video:h264"][0]
    at = master.index(first)  # the packet's bytes, as stored in the mdat box
    broken = master[:at] + b"\x7f\xff\xff\xff" + master[at + 4 :]
    with pytest.raises(InvalidMedia, match="runs past its end"):
        derive_recording(broken)


def test_annex_b_packets_lose_their_sei_units() -> None:
    # H.264 units: SPS (type 7), SEI (6), IDR slice (5), SEI again, a slice (1); start codes
    # of four and three bytes. HEVC: VPS (32), prefix SEI (39), IDR (19), suffix SEI (40).
    h264 = (
        b"\x00\x00\x00\x01\x67\x42\x00"
        + b"\x00\x00\x01\x06\x05x264 - core"
        + b"\x00\x00\x01\x65\x88\x84"
        + b"\x00\x00\x00\x01\x06\x05notes"
        + b"\x00\x00\x01\x41\x9a\x02"
    )
    assert _annexb_without_sei(h264, "h264") == (
        b"\x00\x00\x00\x01\x67\x42\x00"
        + b"\x00\x00\x01\x65\x88\x84\x00"
        + b"\x00\x00\x01\x41\x9a\x02"
    )
    hevc = (
        b"\x00\x00\x01\x40\x01\x0c"
        + b"\x00\x00\x01\x4e\x01x265"
        + b"\x00\x00\x01\x26\x01\xaf"
        + b"\x00\x00\x01\x50\x01x265"
    )
    assert _annexb_without_sei(hevc, "hevc") == b"\x00\x00\x01\x40\x01\x0c\x00\x00\x01\x26\x01\xaf"


def test_packet_cap_refuses_rather_than_cuts() -> None:
    with pytest.raises(LimitExceeded):
        derive_recording(_master(FORMATS[4]), RecordingSettings(max_packets=3))


def test_frame_pixel_cap_refuses_a_huge_frame() -> None:
    # 64 × 48 = 3,072 pixels: over a cap of 3,000, at the cap of 3,072.
    with pytest.raises(LimitExceeded, match="64 × 48"):
        derive_recording(_master(FORMATS[6]), RecordingSettings(max_frame_pixels=3000))
    assert (
        derive_recording(_master(FORMATS[6]), RecordingSettings(max_frame_pixels=3072)).kind
        == "video"
    )


def test_cached_recording_is_derived_once(tmp_path: Path) -> None:
    cache = DerivationCache(tmp_path / "derived")
    master = _master(FORMATS[2])
    first = derive_recording_cached(master, "song.opus", "audio/ogg", None, cache)
    second = derive_recording_cached(master, "other name.ogg", "audio/ogg", None, cache)
    assert (cache.stats.misses, cache.stats.hits) == (1, 1)
    assert first == second
    assert first.kind == "audio"
    assert [f.name for f in first.files] == ["audio.opus", "poster.png"]
    assert first.records[0].outputs[0]["cid"] == str(first.files[0].cid)
    video = derive_recording_cached(_master(FORMATS[7]), "dance.webm", "video/webm", None, cache)
    assert video.kind == "video" and video.file("video") is not None
