"""Real recordings made with PyAV for the recording tests: a sine tone, a few video frames, and
a canary in every tag and metadata field the muxer writes."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, cast

import av
import numpy as np

__all__ = ["CANARY", "FORMATS", "Recipe", "make_recording"]

CANARY: Final = "CANARY-5e1d"

#: The tags written into every container and stream (each its own canary text).
TAGS: Final = (
    "title",
    "artist",
    "album",
    "comment",
    "description",
    "copyright",
    "genre",
    "composer",
    "encoder",
    "location",
    "location-eng",
    "creation_time",
    "date",
    "language",
    "handler_name",
    "encoded_by",
    "publisher",
    "synopsis",
    "show",
    "keywords",
)


@dataclass(frozen=True, slots=True)
class Recipe:
    """A recording to make: container, audio codec (or None), video codec (or None)."""

    name: str
    muxer: str
    audio: str | None
    video: str | None = None
    cover: bool = False  # an attached picture (cover art) stream
    options: tuple[tuple[str, str], ...] = ()
    id3_prefix: bool = False  # an ID3v2.3 tag put in front by hand, as some taggers do


FORMATS: Final = (
    Recipe(
        "mp3",
        "mp3",
        "libmp3lame",
        cover=True,
        options=(("id3v2_version", "3"), ("write_id3v1", "1")),
    ),
    Recipe("ogg-vorbis", "ogg", "vorbis"),
    Recipe("ogg-opus", "ogg", "libopus"),
    Recipe("flac", "flac", "flac", cover=True),
    Recipe("wav", "wav", "pcm_s16le"),
    Recipe("m4a", "ipod", "aac"),
    Recipe("mp4", "mp4", "aac", "libx264"),
    Recipe("webm", "webm", "libopus", "libvpx"),
    Recipe("webm-vorbis", "webm", "vorbis", "libvpx-vp9"),
    Recipe("mkv-h264", "matroska", "aac", "libx264"),
    Recipe("mp4-hevc", "mp4", "aac", "libx265"),
    Recipe("aac-adts", "adts", "aac", options=(("write_id3v2", "1"),)),
    Recipe("flac-id3", "flac", "flac", id3_prefix=True),
    Recipe("mka-flac", "matroska", "flac"),
    Recipe("ogg-flac", "ogg", "flac"),
    Recipe("m4a-alac", "ipod", "alac"),
    Recipe("webm-av1", "webm", "libopus", "libsvtav1"),
)


def id3v2_tag(text: str) -> bytes:
    """An ID3v2.3 tag with one title frame (TIT2, Latin-1) holding ``text``."""
    body = b"\x00" + text.encode("latin-1")
    frame = b"TIT2" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    size = len(frame)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame


def _tags(where: str) -> dict[str, str]:
    tags = {name: f"{CANARY} {where} {name}" for name in TAGS}
    tags["creation_time"] = "2001-02-03T04:05:06.000000Z"
    tags["location"] = "+36.8485+174.7633/"  # ISO 6709, as phones write it
    tags["comment"] = f"{CANARY} {where} comment"
    return tags


def make_recording(recipe: Recipe, *, seconds: float = 1.0) -> bytes:
    """A recording of ``recipe``: a 440 Hz tone and/or a moving gradient, tagged with canaries."""
    out = io.BytesIO()
    options = {"fflags": "+bitexact", **dict(recipe.options)}
    with av.open(out, mode="w", format=recipe.muxer, options=options) as container:
        container.metadata.update(_tags("container"))
        if recipe.muxer in ("mp4", "matroska", "webm", "ipod"):
            container.set_chapters(
                [
                    {
                        "id": n + 1,
                        "start": n * 500,
                        "end": (n + 1) * 500,
                        "time_base": Fraction(1, 1000),
                        "metadata": {"title": f"{CANARY} chapter {n}"},
                    }
                    for n in range(2)
                ]
            )
        audio: av.AudioStream | None = None
        video: av.VideoStream | None = None
        if recipe.video is not None:
            video = cast(av.VideoStream, container.add_stream(recipe.video, rate=10))
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            if recipe.video == "libx264":
                video.options = {"preset": "ultrafast", "x264-params": "keyint=5"}
            elif recipe.video == "libx265":
                video.options = {"preset": "ultrafast", "x265-params": "keyint=5:log-level=none"}
            video.metadata.update(_tags("video"))
        if recipe.audio is not None:
            rate = 48000 if recipe.audio in ("libopus", "vorbis") else 44100
            audio = cast(av.AudioStream, container.add_stream(recipe.audio, rate=rate))
            audio.layout = "stereo" if recipe.audio != "libmp3lame" else "mono"
            if recipe.audio == "vorbis":
                audio.codec_context.options = {"strict": "experimental"}
            audio.metadata.update(_tags("audio"))
            # FFmpeg's own encoders sign their first packet ("Lavc…") unless bitexact: a real
            # master carries whatever its recorder wrote there, which stays (see media.py).
            audio.codec_context.flags |= av.codec.context.Flags.bitexact
        cover: av.VideoStream | None = None
        if recipe.cover:
            cover = container.add_stream("png")
            cover.width, cover.height, cover.pix_fmt = 16, 16, "rgb24"
            cover.disposition = av.stream.Disposition.attached_pic
            cover.metadata.update(_tags("cover"))
        if audio is not None:
            _write_tone(container, audio, seconds)
        if video is not None:
            _write_frames(container, video, seconds)
        if cover is not None:
            picture = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), "rgb24")
            for packet in cover.encode(picture):
                container.mux(packet)
            for packet in cover.encode(None):
                container.mux(packet)
    if recipe.id3_prefix:
        return id3v2_tag(f"{CANARY} id3 prefix title") + out.getvalue()
    return out.getvalue()


def _write_tone(
    container: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    rate = stream.codec_context.sample_rate
    channels = stream.codec_context.layout.nb_channels
    size = stream.codec_context.frame_size or 1024
    total = int(rate * seconds)
    fmt = stream.codec_context.format
    planar = fmt.is_planar
    for start in range(0, total, size):
        count = min(size, total - start)
        t = (np.arange(start, start + count) / rate).astype(np.float64)
        tone = 0.5 * np.sin(2 * math.pi * 440 * t) * np.minimum(1.0, t * 4)
        if fmt.name.startswith("s16"):
            data = (tone * 32767).astype(np.int16)
        elif fmt.name.startswith("s32"):
            data = (tone * 2147483647).astype(np.int32)
        else:
            data = tone.astype(np.float32)
        data = np.tile(data, (channels, 1)) if planar else np.repeat(data, channels)[None, :]
        frame = av.AudioFrame.from_ndarray(
            data, format=fmt.name, layout=stream.codec_context.layout.name
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _write_frames(
    container: av.container.OutputContainer, stream: av.VideoStream, seconds: float
) -> None:
    for index in range(int(10 * seconds)):
        y, x = np.mgrid[0:48, 0:64]
        rgb = np.stack(
            [(x * 4 + index * 20) % 256, (y * 5) % 256, np.full_like(x, 90)], axis=-1
        ).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = index
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
