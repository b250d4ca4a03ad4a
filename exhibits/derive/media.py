"""Recordings: audio and video kept in their own encoding, with every tag of the master removed.

An oral history, a song or a dance is served as recorded: its audio and video packets are
copied into a fresh container of the same family (no re-encoding, so nothing of the sound or the
picture is lost), and nothing else is. :func:`derive_recording` is pure (bytes in, a frozen
:class:`DerivedRecording` out):

1. **Sniff the container** from the master's first bytes (MP3, Ogg, FLAC, WAV, MP4/M4A/MOV,
   Matroska/WebM) and open it with that demuxer forced. FFmpeg's own probing is never used: it
   would accept playlists (HLS, concat) whose demuxers open other files and URLs.
2. **Keep the audio and video streams**, not attached pictures (cover art), subtitles, data
   streams, attachments or chapters. No container or stream metadata is copied: titles,
   artists, comments, GPS/location atoms, encoder strings, creation times, handler names, ID3
   and Vorbis comments stay behind. Xiph codecs' comment headers (Vorbis, Opus, FLAC in Ogg)
   are rewritten empty by the muxers from the (empty) metadata; Vorbis in Matroska carries them
   in its codec private data, which is rebuilt with an empty comment header here.
3. **H.264 and HEVC**: SEI NAL units are dropped, from the packets and from the codec
   record (``hvcC`` can carry them too); encoders write their name and options there (x264
   its whole command line), cameras their own notes. Every other unit is copied byte for
   byte; a unit whose length runs past its packet is :class:`~ledger.errors.InvalidMedia`.
4. **Mux deterministically**: ``fflags +bitexact`` (no library version, no random Matroska
   segment id), no creation time, no ID3 or Xing/LAME header, fixed muxer options.

A poster goes with each recording: a frame of the video, or the waveform of the audio.
A file that is not one of these containers, is truncated before any packet, or has no audio or
video stream raises :class:`~ledger.errors.InvalidMedia`.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import av
import numpy as np
from PIL import Image, ImageDraw

from exhibits.derive.cache import Derivation, DerivationCache
from exhibits.derive.posters import (
    ACCENT,
    FOREGROUND,
    PosterSettings,
    canvas,
    poster_file,
)
from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid
from exhibits.model import ItemFiles, Kind
from ledger.errors import InvalidMedia, LimitExceeded, UsageError

__all__ = [
    "DEFAULT_MAX_FRAME_PIXELS",
    "DEFAULT_MAX_PACKETS",
    "DerivedRecording",
    "RecordingSettings",
    "derive_recording",
    "derive_recording_cached",
    "sniff_container",
]

#: The most packets copied from one master (a three-hour 60 fps video has about 650,000
#: video packets plus its audio); beyond it the master is refused, not cut short.
DEFAULT_MAX_PACKETS: Final = 2_000_000
#: 36 million pixels: 8K UHD (7680 × 4320, 33 million) with room; no browser plays more.
DEFAULT_MAX_FRAME_PIXELS: Final = 36_000_000
#: Frames decoded, at most, while looking for the video poster's frame.
_POSTER_FRAMES: Final = 300
#: The poster shows the video at this fraction of its length (or at 2 s, whichever is sooner):
#: a first frame is often black.
_POSTER_AT: Final = 0.1
_POSTER_AT_MAX_S: Final = 2.0

_SEI_CODECS: Final = frozenset({"h264", "hevc"})
_START_CODE: Final = re.compile(rb"\x00\x00\x01")
_WEBM_CODECS: Final = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})


@dataclass(frozen=True, slots=True)
class _Family:
    demuxer: str
    muxer: str
    ext: str
    media_type: str
    options: tuple[tuple[str, str], ...] = ()


_MP3: Final = _Family(
    "mp3",
    "mp3",
    "mp3",
    "audio/mpeg",
    (("id3v2_version", "0"), ("write_id3v1", "0"), ("write_xing", "0")),
)
_OGG: Final = _Family("ogg", "ogg", "ogg", "audio/ogg")
_AAC: Final = _Family(
    "aac", "adts", "aac", "audio/aac", (("write_id3v2", "0"), ("write_apetag", "0"))
)
_FLAC: Final = _Family("flac", "flac", "flac", "audio/flac", (("write_header", "1"),))
_WAV: Final = _Family("wav", "wav", "wav", "audio/wav", (("write_bext", "0"),))
_MP4: Final = _Family("mov", "mp4", "mp4", "video/mp4")
_MKV: Final = _Family("matroska", "matroska", "mkv", "video/x-matroska")


def sniff_container(data: bytes) -> str | None:
    """The demuxer for ``data`` from its first bytes, or ``None``: mp3, aac (ADTS), ogg, flac,
    wav, mov or matroska. An ID3v2 tag in front (taggers put one before MP3, AAC and even FLAC
    streams) is looked past; FFmpeg skips it whatever the demuxer."""
    head = data[:64]
    if head.startswith(b"ID3") and len(data) >= 10:
        size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
        size += 10 if data[5] & 0x10 else 0  # a footer
        return _sniff(data[size : size + 64]) or "mp3"
    return _sniff(head)


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov"
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS: sync word, layer 0
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"
    return None


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """How recordings are derived. Only the poster size shapes the outputs."""

    poster: PosterSettings = field(default_factory=PosterSettings)
    # A refusal cap, so not in to_json(): the outputs do not depend on it.
    max_packets: int = DEFAULT_MAX_PACKETS
    # The largest video frame decoded for the poster: a header that claims 30,000 × 30,000
    # would otherwise have the decoder allocate gigabytes. Also a refusal cap.
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS

    def __post_init__(self) -> None:
        if self.max_packets < 1 or self.max_frame_pixels < 1:
            raise UsageError(
                "recording settings: max_packets and max_frame_pixels must be at least 1, not "
                f"{self.max_packets} and {self.max_frame_pixels}",
                hint="the defaults are 2,000,000 packets and 36 million pixels",
            )

    def to_json(self) -> dict[str, Any]:
        """What made the outputs, as JSON values: the record's ``settings`` and the cache key."""
        versions = av.library_versions
        return {
            "method": "stream copy",
            "metadata": "none",
            "sei": "removed",
            "fflags": "+bitexact",
            "poster": self.poster.to_json(),
            "encoder": f"PyAV {av.__version__}, libavformat "
            + ".".join(str(v) for v in versions["libavformat"])
            + ", libavcodec "
            + ".".join(str(v) for v in versions["libavcodec"]),
        }


@dataclass(frozen=True, slots=True)
class DerivedRecording:
    """A recording re-muxed without its metadata, its poster, and the record of both."""

    kind: Kind  # "audio" or "video"
    media: DerivedFile
    poster: DerivedFile
    record: DerivationRecord

    @property
    def files(self) -> tuple[DerivedFile, DerivedFile]:
        """The outputs, in the record's order."""
        return self.media, self.poster


def _invalid(master: bytes, why: str) -> InvalidMedia:
    return InvalidMedia(
        f"the master ({len(master)} bytes) is not a recording that can be served: {why}",
        hint="check that the file is a whole MP3, Ogg, FLAC, WAV, MP4/M4A or WebM recording",
    )


def _open(master: bytes, demuxer: str) -> av.container.InputContainer:
    try:
        return av.open(
            io.BytesIO(master),
            mode="r",
            format=demuxer,
            options={"enable_drefs": "0"} if demuxer == "mov" else {},
        )
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise _invalid(master, f"the {demuxer} demuxer refused it ({exc})") from None


def _kept(container: av.container.InputContainer) -> list[av.stream.Stream]:
    kept: list[av.stream.Stream] = []
    for stream in container.streams:
        if stream.type not in ("audio", "video"):
            continue
        if stream.type == "video" and stream.disposition & av.stream.Disposition.attached_pic:
            continue  # cover art
        if stream.codec_context is None or stream.codec_context.name is None:
            continue
        kept.append(stream)
    return kept


def _codec(stream: av.stream.Stream) -> str:
    """The stream's codec ("av1", "mp3"), not its decoder's name ("libdav1d", "mp3float")."""
    return str(stream.codec_context.codec.canonical_name)


def _family(demuxer: str, streams: list[av.stream.Stream]) -> _Family:
    video = any(s.type == "video" for s in streams)
    codecs = {_codec(s) for s in streams}
    if demuxer == "mp3":
        return _MP3
    if demuxer == "aac":
        return _AAC
    if demuxer == "flac":
        return _FLAC
    if demuxer == "wav":
        return _WAV
    if demuxer == "ogg":
        if video:
            return _Family("ogg", "ogg", "ogv", "video/ogg")
        if codecs == {"opus"}:
            return _Family("ogg", "ogg", "opus", "audio/ogg")
        return _OGG
    if demuxer == "mov":
        if video:
            return _MP4
        return _Family("mov", "ipod", "m4a", "audio/mp4")
    if codecs <= _WEBM_CODECS:
        return _Family("matroska", "webm", "webm", "video/webm" if video else "audio/webm")
    return _MKV if video else _Family("matroska", "matroska", "mka", "audio/x-matroska")


def _xiph_lacing(headers: list[bytes]) -> bytes:
    out = bytearray([len(headers) - 1])
    for header in headers[:-1]:
        size = len(header)
        out += b"\xff" * (size // 255) + bytes([size % 255])
    return bytes(out) + b"".join(headers)


def _vorbis_headers(extradata: bytes) -> list[bytes] | None:
    """The three Vorbis headers of FFmpeg's extradata (Xiph lacing, or 16-bit lengths)."""
    if len(extradata) >= 6 and extradata[0] == 0 and extradata[1] == 30:
        headers, at = [], 0
        for _ in range(3):
            if at + 2 > len(extradata):
                return None
            (size,) = struct.unpack_from(">H", extradata, at)
            headers.append(extradata[at + 2 : at + 2 + size])
            at += 2 + size
        return headers if all(headers) else None
    if not extradata or extradata[0] != 2:
        return None
    sizes, at = [], 1
    for _ in range(2):
        size = 0
        while at < len(extradata) and extradata[at] == 255:
            size, at = size + 255, at + 1
        if at >= len(extradata):
            return None
        size, at = size + extradata[at], at + 1
        sizes.append(size)
    first, second = extradata[at : at + sizes[0]], extradata[at + sizes[0] : at + sum(sizes)]
    third = extradata[at + sum(sizes) :]
    return [first, second, third] if first and second and third else None


#: A Vorbis comment header with an empty vendor string and no comments (framing bit set).
_EMPTY_VORBIS_COMMENT: Final = b"\x03vorbis" + struct.pack("<II", 0, 0) + b"\x01"


def _without_vorbis_comments(extradata: bytes) -> bytes:
    headers = _vorbis_headers(extradata)
    if headers is None or not headers[1].startswith(b"\x03vorbis"):
        raise InvalidMedia(
            "the Vorbis stream's headers do not parse",
            hint="the file is corrupt; register an intact copy",
        )
    return _xiph_lacing([headers[0], _EMPTY_VORBIS_COMMENT, headers[2]])


#: HEVC NAL unit types of SEI messages (prefix and suffix).
_HEVC_SEI: Final = frozenset({39, 40})


def _hvcc_without_sei(extradata: bytes) -> bytes:
    """An ``hvcC`` record without its SEI arrays (x265 writes its version and options there).
    Annex B extradata (start codes, not a record) is returned as it is: it is split into
    packets by the muxer, whose SEI the packet filter has already removed."""
    if len(extradata) < 23 or extradata[0] != 1:
        return extradata
    out, at = bytearray(extradata[:22]), 23
    arrays: list[bytes] = []
    for _ in range(extradata[22]):
        if at + 3 > len(extradata):
            raise InvalidMedia(
                "the HEVC stream's hvcC record is truncated",
                hint="the file is corrupt; register an intact copy",
            )
        nal_type = extradata[at] & 0x3F
        count = int.from_bytes(extradata[at + 1 : at + 3], "big")
        end = at + 3
        for _ in range(count):
            if end + 2 > len(extradata):
                raise InvalidMedia(
                    "the HEVC stream's hvcC record is truncated",
                    hint="the file is corrupt; register an intact copy",
                )
            end += 2 + int.from_bytes(extradata[end : end + 2], "big")
        if end > len(extradata):
            raise InvalidMedia(
                "the HEVC stream's hvcC record is truncated",
                hint="the file is corrupt; register an intact copy",
            )
        if nal_type not in _HEVC_SEI:
            arrays.append(extradata[at:end])
        at = end
    out.append(len(arrays))
    for array in arrays:
        out += array
    return bytes(out)


def _nal_length_size(name: str, extradata: bytes) -> int | None:
    """The NAL length prefix size of an H.264 (avcC) or HEVC (hvcC) stream, None for Annex B
    (start codes) or any other codec."""
    if name == "h264" and len(extradata) >= 7 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    if name == "hevc" and len(extradata) >= 23 and extradata[0] == 1:
        return (extradata[21] & 3) + 1
    return None


def _without_sei_units(data: bytes, name: str, size: int) -> bytes:
    """A length-prefixed packet without its SEI NAL units; every other unit byte for byte."""
    kept, at = bytearray(), 0
    while at < len(data):
        length = int.from_bytes(data[at : at + size], "big")
        end = at + size + length
        if at + size > len(data) or end > len(data):
            raise InvalidMedia(
                f"a {name} packet's NAL unit runs past its end",
                hint="the file is corrupt; register an intact copy",
            )
        if length and not _is_sei(name, data[at + size]):
            kept += data[at:end]
        at = end
    return bytes(kept)


def _annexb_without_sei(data: bytes, name: str) -> bytes:
    """An Annex B packet (start codes) without its SEI NAL units. A unit runs from its start
    code to the next (emulation prevention keeps 00 00 01 out of unit payloads); dropping one
    may turn the next 4-byte start code into a 3-byte one, which is as valid."""
    starts = [m.start() for m in _START_CODE.finditer(data)]
    if not starts:
        return data
    kept = bytearray(data[: starts[0]])
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        header = start + 3
        if header < end and _is_sei(name, data[header]):
            continue
        kept += data[start:end]
    return bytes(kept)


def _is_sei(name: str, header: int) -> bool:
    """Whether a NAL unit header byte is of an SEI unit (H.264 type 6; HEVC types 39, 40)."""
    return header & 0x1F == 6 if name == "h264" else (header >> 1) & 0x3F in _HEVC_SEI


@dataclass(frozen=True, slots=True)
class _Copy:
    """One kept stream: where its packets go, and how they are cleaned on the way."""

    stream: av.stream.Stream
    codec: str
    length_size: int | None  # H.264/HEVC with length prefixes (avcC/hvcC), else None

    def clean(self, packet: av.Packet[Any]) -> list[av.Packet[Any]]:
        """The packet for the new container: SEI units removed from H.264 and HEVC."""
        if self.codec in _SEI_CODECS:
            data = bytes(packet)
            if self.length_size is not None:
                kept = _without_sei_units(data, self.codec, self.length_size)
            else:
                kept = _annexb_without_sei(data, self.codec)
            if not kept:
                return []  # nothing but SEI
            if kept != data:
                fresh = av.Packet(kept)
                fresh.pts, fresh.dts, fresh.duration = packet.pts, packet.dts, packet.duration
                fresh.time_base = packet.time_base
                fresh.is_keyframe = packet.is_keyframe
                packet = fresh
        packet.stream = self.stream
        return [packet]


def _remux(master: bytes, demuxer: str, settings: RecordingSettings) -> tuple[Kind, DerivedFile]:
    source = _open(master, demuxer)
    with source:
        streams = _kept(source)
        if not streams:
            raise _invalid(master, "it has no audio or video stream")
        family = _family(demuxer, streams)
        kind: Kind = "video" if any(s.type == "video" for s in streams) else "audio"
        out = io.BytesIO()
        options = {"fflags": "+bitexact", **dict(family.options)}
        try:
            target = av.open(out, mode="w", format=family.muxer, options=options)
        except (av.FFmpegError, ValueError) as exc:
            raise _invalid(master, f"no {family.muxer} muxer ({exc})") from None
        with target:
            mapping: dict[int, _Copy] = {}
            for stream in streams:
                # opaque: the codec is the template's own (no encoder of it is needed to copy).
                copy = target.add_stream_from_template(stream, opaque=True)
                copy.metadata.clear()
                name = _codec(stream)
                extradata = stream.codec_context.extradata or b""
                if name == "vorbis" and family.muxer in ("webm", "matroska"):
                    copy.codec_context.extradata = _without_vorbis_comments(extradata)
                length_size = _nal_length_size(name, extradata)
                if name == "hevc":
                    copy.codec_context.extradata = _hvcc_without_sei(extradata)
                mapping[stream.index] = _Copy(copy, name, length_size)
            target.metadata.clear()
            count = 0
            try:
                for packet in source.demux(streams):
                    if packet.dts is None and packet.pts is None and packet.size == 0:
                        continue  # the flush packet each stream ends with
                    count += 1
                    if count > settings.max_packets:
                        raise LimitExceeded(
                            f"the recording has more than {settings.max_packets:,} packets",
                            hint="a longer recording needs a higher max_packets",
                        )
                    for cleaned in mapping[packet.stream.index].clean(packet):
                        target.mux(cleaned)
            except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
                raise _invalid(master, f"its packets do not copy ({exc})") from None
            if count == 0:
                raise _invalid(master, "it holds no audio or video packet (truncated?)")
    data = out.getvalue()
    name = f"{kind}.{family.ext}"
    media_type = family.media_type
    if kind == "audio" and media_type.startswith("video/"):
        media_type = "audio/" + media_type.split("/", 1)[1]
    return kind, DerivedFile.of(name, media_type, data)


def _frames(master: bytes, demuxer: str, kind: str) -> Iterator[object]:
    with _open(master, demuxer) as source:
        streams = [s for s in _kept(source) if s.type == kind]
        if not streams:
            return
        stream = streams[0]
        # One thread: the same frames in the same order each time.
        stream.codec_context.thread_type = "NONE"
        try:
            yield from source.decode(stream)
        except (av.FFmpegError, ValueError, OSError, EOFError):
            return  # a damaged tail: the poster is drawn from what decoded


def _video_poster(master: bytes, demuxer: str, settings: RecordingSettings) -> DerivedFile:
    with _open(master, demuxer) as probe:
        duration = probe.duration / av.time_base if probe.duration else 0.0
        for stream in _kept(probe):
            context = stream.codec_context
            if stream.type == "video" and isinstance(context, av.VideoCodecContext):
                pixels = context.width * context.height
                if pixels > settings.max_frame_pixels:
                    raise LimitExceeded(
                        f"the video claims {context.width} × {context.height} pixels a frame, "
                        f"over the cap of {settings.max_frame_pixels:,}",
                        hint="a header that claims a huge frame is a decompression bomb; a "
                        "genuine one needs a higher max_frame_pixels",
                    )
    at = min(duration * _POSTER_AT, _POSTER_AT_MAX_S)
    chosen: av.VideoFrame | None = None
    for index, frame in enumerate(_frames(master, demuxer, "video")):
        if not isinstance(frame, av.VideoFrame):
            continue
        chosen = frame
        if (frame.time or 0.0) >= at or index >= _POSTER_FRAMES:
            break
    if chosen is None:
        raise InvalidMedia(
            "no frame of the video decodes",
            hint="the file is truncated or corrupt; register an intact copy",
        )
    picture = chosen.to_image().convert("RGB")  # type: ignore[no-untyped-call]
    poster = settings.poster
    box = canvas(poster)
    scale = min(poster.width / picture.width, poster.height / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
    box.paste(picture, ((poster.width - size[0]) // 2, (poster.height - size[1]) // 2))
    return poster_file(box)


def _peaks(master: bytes, demuxer: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Per decoded frame, the lowest and highest sample of the mono mix: shape (n, 2)."""
    peaks: list[tuple[float, float]] = []
    for frame in _frames(master, demuxer, "audio"):
        if not isinstance(frame, av.AudioFrame) or frame.samples == 0:
            continue
        samples = frame.to_ndarray().astype(np.float64)
        fmt = frame.format.name
        if fmt.rstrip("p") in ("s16", "s32", "u8", "s64"):
            bits = {"u8": 8, "s16": 16, "s32": 32, "s64": 64}[fmt.rstrip("p")]
            samples = samples / float(1 << (bits - 1))
            if fmt.startswith("u8"):
                samples -= 1.0
        if samples.ndim == 2 and not frame.format.is_planar:
            channels = len(frame.layout.channels)
            samples = samples.reshape(-1, channels).T
        mono = samples.mean(axis=0) if samples.ndim == 2 else samples
        peaks.append((float(mono.min()), float(mono.max())))
    return np.asarray(peaks, dtype=np.float32).reshape(-1, 2)


def _audio_poster(master: bytes, demuxer: str, settings: PosterSettings) -> DerivedFile:
    peaks = _peaks(master, demuxer)
    if len(peaks) == 0:
        raise InvalidMedia(
            "no audio of the recording decodes",
            hint="the file is truncated or corrupt; register an intact copy",
        )
    image = canvas(settings)
    draw = ImageDraw.Draw(image)
    width, height = settings.width, settings.height
    margin = width // 16
    columns = width - 2 * margin
    middle, reach = height / 2, height * 0.38
    edges = np.linspace(0, len(peaks), columns + 1)
    loudest = float(np.abs(peaks).max()) or 1.0
    for column in range(columns):
        start = int(edges[column])
        stop = max(start + 1, int(edges[column + 1]))
        low = float(peaks[start:stop, 0].min()) / loudest
        high = float(peaks[start:stop, 1].max()) / loudest
        x = margin + column
        draw.line([(x, middle - high * reach), (x, middle - low * reach)], fill=ACCENT)
    draw.line([(margin, middle), (width - margin, middle)], fill=FOREGROUND)
    return poster_file(image)


def derive_recording(master: bytes, settings: RecordingSettings | None = None) -> DerivedRecording:
    """The master's streams in a clean container, and its poster (see the module)."""
    settings = settings or RecordingSettings()
    demuxer = sniff_container(master)
    if demuxer is None:
        raise _invalid(master, "its first bytes are of no supported container")
    kind, media = _remux(master, demuxer, settings)
    if kind == "video":
        poster = _video_poster(master, demuxer, settings)
    else:
        poster = _audio_poster(master, demuxer, settings.poster)
    record = DerivationRecord(
        kind=kind,
        master_cid=file_cid(master),
        settings=settings.to_json(),
        outputs=(media.entry(), poster.entry()),
    )
    return DerivedRecording(kind, media, poster, record)


def derive_recording_cached(
    master: bytes,
    file_name: str,
    media_type: str,
    settings: RecordingSettings | None,
    cache: DerivationCache,
) -> ItemFiles:
    """:func:`derive_recording` through ``cache``, as the item's files (kind "audio" or
    "video", from the streams the master holds: a video file with no picture is audio).

    ``file_name`` and ``media_type`` are not used to decide anything: the container is sniffed
    from the bytes. They are accepted so every deriver has the same shape."""
    del file_name, media_type
    settings = settings or RecordingSettings()
    master_cid = file_cid(master)

    def fresh() -> Derivation:
        derived = derive_recording(master, settings)
        return derived.record, derived.files

    record, files = cache.get_or_derive(master_cid, settings.to_json(), fresh)
    if len(files) != 2 or record.kind not in ("audio", "video"):
        raise InvalidMedia(
            f"the cached derivation of {master_cid} is not a recording's",
            hint="delete it from the cache's directory",
        )
    kind: Kind = "video" if record.kind == "video" else "audio"
    return ItemFiles(kind=kind, files=files, records=(record,))
