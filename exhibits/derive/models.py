"""3D model derivatives: a clean GLB within a face budget, and a poster image.

:func:`derive_model` is pure (bytes and a file name in, a :class:`DerivationRecord` and files
out); :func:`derive_model_cached` adds the :class:`~exhibits.derive.cache.DerivationCache` and
returns the :class:`~exhibits.model.ItemFiles` the build passes on (``model.glb``, then
``poster.png``). The steps:

1. **Recognise the format** from the bytes: GLB (its magic), glTF (JSON with an ``asset``), PLY
   (its magic), STL (binary by its exact size, ASCII by ``solid``/``facet``) or OBJ (its
   statements). The file name's extension only settles text that could be either OBJ or ASCII
   STL and names the format in messages; content that contradicts it wins.
2. **Check before loading.** The master's size is capped; every count a header claims (GLB
   chunks, glTF accessors, buffer views and buffers, PLY elements, binary STL triangles) is
   checked against the bytes that are really there, so a small file that claims billions of
   vertices is refused before anything is allocated. A glTF may carry its data only inline
   (``data:`` URIs) or in the GLB's own chunk: any other URI is refused, and no file or network
   read ever happens (the loader is given a resolver that refuses every name, which also keeps
   an OBJ's ``mtllib`` unread). Textures are checked by their header's dimensions before any
   pixel is decoded. Compressed geometry extensions (Draco, meshopt) are refused with a hint.
3. **Load** with trimesh (``process=False``: nothing merged or reordered behind our back), bake
   every node's transform into its mesh, and keep only geometry and material: positions, faces,
   normals, vertex colours, texture coordinates, PBR factors and textures. Names, extras,
   ``asset`` strings, cameras, lights, animations and skins of the master are not carried
   over (names and extras can carry private text). Vertices that are not finite, indices out of
   range and meshes with no faces are refused; degenerate faces are dropped.
4. **Face budget.** Over :attr:`ModelSettings.face_budget`, the meshes are decimated with
   fast-simplification (quadric edge collapse), each to its share of the budget; vertex colours
   and texture coordinates follow the collapses (averaged over merged vertices) and normals are
   recomputed. With ``decimate=False`` an over-budget master is refused instead.
5. **Textures** are cut to :attr:`ModelSettings.max_texture_px` on the longest side (Lanczos) and
   re-encoded as PNG from bare pixels: no metadata of the master's images survives.
6. **Write** the GLB with trimesh, then rewrite its JSON chunk: every ``name`` and ``extras``
   removed, ``asset`` set to ours, materials two-sided (scans and converted meshes often have
   inconsistent winding; a culled back face shows as a hole). Real units are kept: glTF's unit
   is the metre, and a master in other units keeps its numbers (the gallery scales every model to
   its plinth). Axes are kept as in the master; glTF's +Y is up.
7. **Poster**: :func:`exhibits.derive.raster.poster_png` draws the derived meshes, so the poster
   shows what the GLB holds.

The same master and settings give byte-identical files: every encoder setting is fixed, nothing
depends on time, dict order or hashing, and the library versions are part of the settings.
Every refusal is an :class:`~ledger.errors.InvalidMedia` (or
:class:`~ledger.errors.LimitExceeded` for caps) that says what was wrong and what to do.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import struct
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import PIL
import trimesh
from PIL import Image

from exhibits.derive.cache import Derivation, DerivationCache
from exhibits.derive.raster import PosterMesh, poster_png
from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid
from exhibits.model import ItemFiles
from ledger.errors import InvalidMedia, LimitExceeded, UsageError

__all__ = [
    "DEFAULT_FACE_BUDGET",
    "DEFAULT_MAX_TEXTURE_PX",
    "DEFAULT_POSTER_PX",
    "FORMATS",
    "ModelFormat",
    "ModelSettings",
    "derive_model",
    "derive_model_cached",
    "sniff_format",
]

DEFAULT_FACE_BUDGET: Final = 150_000
DEFAULT_MAX_TEXTURE_PX: Final = 2048
DEFAULT_POSTER_PX: Final = 1024
#: The largest master read: 256 MiB (a dense photogrammetry scan with its textures).
DEFAULT_MAX_MASTER_BYTES: Final = 256 * 1024 * 1024
#: The most faces loaded (after instancing) before decimation: bounds the decimator's memory.
DEFAULT_MAX_MASTER_FACES: Final = 8_000_000
#: The most pixels one master texture may claim (a 16k × 8k map is 128 million).
DEFAULT_MAX_TEXTURE_PIXELS: Final = 134_217_728

ModelFormat = Literal["glb", "gltf", "obj", "ply", "stl"]
FORMATS: Final[tuple[ModelFormat, ...]] = ("glb", "gltf", "obj", "ply", "stl")

_KIND: Final = "model"
_HINT_FORMATS: Final = "a 3D model must be a whole GLB, glTF (data inline), OBJ, PLY or STL file"
_GLB_MAGIC: Final = b"glTF"
_JSON_CHUNK: Final = 0x4E4F534A
_BIN_CHUNK: Final = 0x004E4942
_COMPONENT_BYTES: Final = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_TYPE_COMPONENTS: Final = {
    "SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16,
}  # fmt: skip
#: Extensions the loader cannot decode: geometry or textures would be missing or wrong.
_UNDECODABLE: Final = {
    "EXT_meshopt_compression": "meshopt-compressed geometry",
    "KHR_mesh_quantization": "quantized geometry",
    "KHR_texture_basisu": "KTX2/Basis textures",
    "EXT_texture_webp": "WebP-only textures",
    "EXT_texture_avif": "AVIF-only textures",
}
_PLY_TYPES: Final = {
    "char": 1, "uchar": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4, "float": 4,
    "double": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "float32": 4, "float64": 8,
}  # fmt: skip
_OBJ_LINE: Final = re.compile(rb"^\s*(v|vt|vn|vp|f|l|p|o|g|s|usemtl|mtllib)\s", re.MULTILINE)
_TEXTURE_SLOTS: Final = (
    "baseColorTexture", "metallicRoughnessTexture", "normalTexture", "occlusionTexture",
    "emissiveTexture",
)  # fmt: skip

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ByteArray = npt.NDArray[np.uint8]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How model derivatives are made. The ``max_*`` caps refuse masters; they shape no output."""

    face_budget: int = DEFAULT_FACE_BUDGET
    max_texture_px: int = DEFAULT_MAX_TEXTURE_PX
    decimate: bool = True  # False: refuse a master over the budget instead
    poster_px: int = DEFAULT_POSTER_PX
    max_master_bytes: int = DEFAULT_MAX_MASTER_BYTES
    max_master_faces: int = DEFAULT_MAX_MASTER_FACES
    max_texture_pixels: int = DEFAULT_MAX_TEXTURE_PIXELS

    def __post_init__(self) -> None:
        for name, least in (("face_budget", 4), ("max_texture_px", 1), ("poster_px", 16),
                            ("max_master_bytes", 1), ("max_master_faces", 1),
                            ("max_texture_pixels", 1)):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise UsageError(
                    f"model settings: {name} must be a whole number of at least {least}, "
                    f"not {value!r}",
                    hint="leave it out to use the default",
                )

    def to_json(self) -> dict[str, Any]:
        """What made the outputs, as JSON values: the record's ``settings`` and the cache key."""
        return {
            "face_budget": self.face_budget,
            "decimate": self.decimate,
            "decimator": "fast-simplification quadric collapse, aggressiveness 7, borders kept",
            "max_texture_px": self.max_texture_px,
            "texture_format": "png",
            "resample": "lanczos",
            "double_sided": True,
            "units": "as in the master (glTF: metres), not rescaled; axes as in the master",
            "poster_px": self.poster_px,
            "poster": "orthographic three-quarter view, two-sided Lambert, 2x supersampled, "
            "transparent background",
            "libraries": {
                "trimesh": trimesh.__version__,
                "fast-simplification": _version("fast-simplification"),
                "numpy": np.__version__,
                "Pillow": PIL.__version__,
                "DracoPy": _version("DracoPy"),
            },
        }


# --------------------------------------------------------------------------- format and checks


def _refuse(what: str, hint: str = _HINT_FORMATS) -> InvalidMedia:
    return InvalidMedia(what, hint=hint)


def _extension(file_name: str) -> str:
    tail = file_name.rsplit(".", 1)
    return tail[1].lower() if len(tail) == 2 else ""


def _looks_like_ascii_stl(head: bytes) -> bool:
    return head.lstrip().lower().startswith(b"solid") and b"facet" in head.lower()


def sniff_format(master: bytes, file_name: str) -> ModelFormat:
    """The model format of ``master`` (see the module); ``InvalidMedia`` if it is none of them."""
    head = master[:4096]
    extension = _extension(file_name)
    if head[:4] == _GLB_MAGIC:
        return "glb"
    if head[:4] in {b"ply\n", b"ply\r"}:
        return "ply"
    stripped = head.lstrip()
    if stripped[:1] == b"{" and b'"asset"' in master[:1_000_000]:
        return "gltf"
    if len(master) >= 84 and len(master) == 84 + 50 * struct.unpack_from("<I", master, 80)[0]:
        return "stl"
    if _looks_like_ascii_stl(head) and extension != "obj":
        return "stl"
    if _OBJ_LINE.search(head) and b"\0" not in head:
        return "obj"
    if extension == "stl" and len(master) >= 84:
        count = struct.unpack_from("<I", master, 80)[0]
        raise _refuse(
            f"{file_name!r} ({len(master)} bytes) is not a whole binary STL: its header claims "
            f"{count:,} triangles, which need {84 + 50 * count:,} bytes",
            hint="the file is truncated or not an STL; register an intact copy",
        )
    named = f"named .{extension}, " if extension else ""
    raise _refuse(f"{file_name!r} ({named}{len(master)} bytes) is not a 3D model this exhibit reads")


_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Deeper JSON than this is refused unparsed: glTF needs about 6 levels, and a C parser fed
#: 100,000 nested brackets overflows the stack and takes the process with it.
_MAX_JSON_DEPTH: Final = 64


def _json_depth(data: bytes) -> int:
    bare = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    if not bare.size:
        return 0
    step = (np.isin(bare, (0x5B, 0x7B)).astype(np.int64)
            - np.isin(bare, (0x5D, 0x7D)).astype(np.int64))  # fmt: skip
    return int(np.cumsum(step).max())


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    if _json_depth(data) > _MAX_JSON_DEPTH:
        raise _refuse(f"the {what} nests JSON more than {_MAX_JSON_DEPTH} levels deep",
                      hint="no glTF needs that; the file is corrupt or hostile")  # fmt: skip
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refuse(f"the {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _refuse(f"the {what} is not a JSON object")
    return value


def _glb_parts(master: bytes) -> tuple[dict[str, Any], bytes | None]:
    """The JSON chunk and the BIN chunk of a GLB, every length checked against the bytes."""
    if len(master) < 20:
        raise _refuse(f"the GLB is truncated: {len(master)} bytes, shorter than its headers")
    _, version, length = struct.unpack_from("<4sII", master, 0)
    if version != 2:
        raise _refuse(f"the GLB is version {version}; only glTF 2.0 is read",
                      hint="convert it to glTF 2.0 (e.g. with the Khronos glTF tools)")  # fmt: skip
    if length != len(master):
        raise _refuse(f"the GLB header says {length:,} bytes but the file has {len(master):,}",
                      hint="the file is truncated or has bytes appended; register an intact copy")  # fmt: skip
    chunks: list[tuple[int, bytes]] = []
    at = 12
    while at < len(master):
        if at + 8 > len(master):
            raise _refuse("the GLB ends inside a chunk header")
        size, kind = struct.unpack_from("<II", master, at)
        if at + 8 + size > len(master):
            raise _refuse(f"a GLB chunk claims {size:,} bytes, past the end of the file")
        chunks.append((kind, master[at + 8 : at + 8 + size]))
        at += 8 + size
    if not chunks or chunks[0][0] != _JSON_CHUNK:
        raise _refuse("the GLB does not start with its JSON chunk")
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == _BIN_CHUNK else None
    return _json_object(chunks[0][1], "GLB's JSON chunk"), binary


def _has_draco() -> bool:
    try:
        import DracoPy  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _data_uri(uri: str, what: str, room: int) -> bytes:
    if not uri.startswith("data:"):
        shown = uri if len(uri) <= 60 else uri[:57] + "..."
        raise _refuse(
            f"the glTF's {what} refers to an outside file or address ({shown!r}); "
            "only data inside the file is read",
            hint="pack the model into one GLB (or embed its buffers and images as data: URIs)",
        )
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise _refuse(f"the glTF's {what} is a data: URI that is not base64")
    if len(payload) * 3 // 4 > room:
        raise LimitExceeded(
            f"the glTF's inline data is larger than the master cap of {room:,} bytes",
            hint="a genuine model this large needs a higher max_master_bytes",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(f"the glTF's {what} holds invalid base64") from None


def _items(tree: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = tree.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _refuse(f"the glTF's {key!r} is not a list of objects")
    return value


def _int(item: Mapping[str, Any], key: str, what: str, default: int | None = None) -> int:
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _refuse(f"the glTF's {what} has an invalid {key!r}: {value!r}")
    return value


def _check_gltf(tree: dict[str, Any], glb_binary: bytes | None, settings: ModelSettings) -> None:
    """Refuse outside URIs, undecodable extensions and any count the bytes cannot back."""
    asset = tree.get("asset")
    if not isinstance(asset, dict) or not str(asset.get("version", "")).startswith("2."):
        raise _refuse("the glTF is not version 2.0 (its asset.version)",
                      hint="convert it to glTF 2.0")  # fmt: skip
    required = tree.get("extensionsRequired", [])
    for name in required if isinstance(required, list) else []:
        if name in _UNDECODABLE:
            raise _refuse(f"the glTF holds {_UNDECODABLE[name]} ({name}), which is not read here",
                          hint="export the master without that compression")  # fmt: skip
    if "KHR_draco_mesh_compression" in required and not _has_draco():
        raise _refuse("the glTF holds Draco-compressed geometry and DracoPy is not installed",
                      hint="install the DracoPy package, or export the master without Draco")  # fmt: skip
    room = settings.max_master_bytes
    lengths: list[int] = []
    for number, buffer in enumerate(_items(tree, "buffers")):
        declared = _int(buffer, "byteLength", f"buffer {number}")
        if "uri" in buffer:
            data = _data_uri(str(buffer["uri"]), f"buffer {number}", room)
            room -= len(data)
        elif number == 0 and glb_binary is not None:
            data = glb_binary
        else:
            raise _refuse(f"the glTF's buffer {number} has no data")
        if declared > len(data):
            raise _refuse(f"the glTF's buffer {number} claims {declared:,} bytes; it has {len(data):,}")
        lengths.append(declared)
    views = _items(tree, "bufferViews")
    for number, view in enumerate(views):
        buffer = _int(view, "buffer", f"buffer view {number}")
        end = _int(view, "byteOffset", f"buffer view {number}", 0) + _int(
            view, "byteLength", f"buffer view {number}")
        if buffer >= len(lengths) or end > lengths[buffer]:
            raise _refuse(f"the glTF's buffer view {number} reaches past its buffer")
    budget = settings.max_master_faces * 3 * 4
    for number, accessor in enumerate(_items(tree, "accessors")):
        what = f"accessor {number}"
        count = _int(accessor, "count", what)
        size = _COMPONENT_BYTES.get(accessor.get("componentType", -1), 0)
        parts = _TYPE_COMPONENTS.get(str(accessor.get("type")), 0)
        if not size or not parts:
            raise _refuse(f"the glTF's {what} has an unknown component or element type")
        if "sparse" in accessor:
            raise _refuse(f"the glTF's {what} is sparse, which is not read here",
                          hint="export the master without sparse accessors")  # fmt: skip
        if count > budget:
            raise LimitExceeded(f"the glTF's {what} claims {count:,} elements, over the cap",
                                hint="a genuine model this large needs a higher max_master_faces")  # fmt: skip
        if "bufferView" not in accessor:
            continue
        index = _int(accessor, "bufferView", what)
        if index >= len(views):
            raise _refuse(f"the glTF's {what} names a buffer view that does not exist")
        view = views[index]
        stride = _int(view, "byteStride", f"buffer view {index}", 0) or size * parts
        need = _int(accessor, "byteOffset", what, 0) + (stride * (count - 1) + size * parts
                                                        if count else 0)  # fmt: skip
        if need > _int(view, "byteLength", f"buffer view {index}"):
            raise _refuse(f"the glTF's {what} claims {count:,} elements, more than its data holds",
                          hint="the file is truncated or corrupt; register an intact copy")  # fmt: skip
    _check_gltf_images(tree, glb_binary, views, settings)


def _check_gltf_images(
    tree: dict[str, Any], glb_binary: bytes | None, views: list[dict[str, Any]],
    settings: ModelSettings,
) -> None:  # fmt: skip
    for number, image in enumerate(_items(tree, "images")):
        if "uri" in image:
            data = _data_uri(str(image["uri"]), f"image {number}", settings.max_master_bytes)
        elif "bufferView" in image:
            index = _int(image, "bufferView", f"image {number}")
            if index >= len(views):
                raise _refuse(f"the glTF's image {number} names a buffer view that does not exist")
            view = views[index]
            if view.get("buffer") != 0 or glb_binary is None:
                continue  # inline buffers were checked; the loader reads them as they are
            start = int(view.get("byteOffset", 0))
            data = glb_binary[start : start + int(view["byteLength"])]
        else:
            continue
        _check_image_header(data, f"texture image {number}", settings)


def _check_image_header(data: bytes, what: str, settings: ModelSettings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            width = height = 1 << 20
        except Exception as exc:  # Pillow raises many types on hostile bytes
            raise _refuse(f"the model's {what} is not an image Pillow can read: {exc}",
                          hint="re-export the model with PNG or JPEG textures") from None  # fmt: skip
    if width * height > settings.max_texture_pixels:
        raise LimitExceeded(
            f"the model's {what} claims {width} × {height} pixels, over the cap of "
            f"{settings.max_texture_pixels:,}",
            hint="a small image that claims huge dimensions is a decompression bomb; "
            "a genuine texture this large needs a higher max_texture_pixels",
        )


def _check_ply(master: bytes) -> None:
    end = master.find(b"end_header")
    if end < 0 or end > 65536:
        raise _refuse("the PLY file has no end_header within its first 64 KiB")
    header = master[:end].decode("ascii", errors="replace").splitlines()
    body = master[master.index(b"\n", end) + 1 :] if b"\n" in master[end:] else b""
    encoding = next((line.split()[1] for line in header if line.startswith("format ")), "")
    elements: list[tuple[str, int, int]] = []  # name, count, least bytes (binary) per row
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            if not words[2].isdigit():
                raise _refuse(f"the PLY header's element count {words[2]!r} is not a number")
            elements.append((words[1], int(words[2]), 0))
        elif words[:1] == ["property"] and elements and len(words) >= 3:
            name, count, least = elements[-1]
            kind = words[1]
            step = (_PLY_TYPES.get(words[2], 1) if kind == "list"
                    else _PLY_TYPES.get(kind, 0))  # fmt: skip
            if not step:
                raise _refuse(f"the PLY header names an unknown property type {kind!r}")
            elements[-1] = (name, count, least + step)
    claimed = sum(count for _, count, _ in elements)
    if encoding == "ascii":
        lines = body.count(b"\n") + 1
        if claimed > lines:
            raise _refuse(f"the PLY header claims {claimed:,} rows but the file has {lines:,} lines",
                          hint="the file is truncated or corrupt; register an intact copy")  # fmt: skip
    elif encoding.startswith("binary_"):
        need = sum(count * max(least, 1) for _, count, least in elements)
        if need > len(body):
            raise _refuse(f"the PLY header claims rows of at least {need:,} bytes; "
                          f"the file has {len(body):,} after its header",
                          hint="the file is truncated or corrupt; register an intact copy")  # fmt: skip
    else:
        raise _refuse(f"the PLY format line names an unknown encoding {encoding!r}")


# ----------------------------------------------------------------------------------- loading


class _NoFiles(trimesh.resolvers.Resolver):  # type: ignore[misc]
    """A resolver that refuses every name: the master is read, never a file or address it names."""

    def __init__(self) -> None:
        pass

    def get(self, name: str) -> bytes:
        raise OSError(f"outside reference {name!r} is not read")

    def keys(self) -> Iterator[str]:
        return iter(())

    def write(self, name: str, data: bytes) -> None:
        raise OSError("nothing is written")

    def namespaced(self, namespace: str) -> _NoFiles:
        return self


def _load(master: bytes, fmt: ModelFormat, settings: ModelSettings) -> trimesh.Scene:
    if fmt in {"glb", "gltf"}:
        tree, binary = (_glb_parts(master) if fmt == "glb"
                        else (_json_object(master, "glTF file"), None))  # fmt: skip
        _check_gltf(tree, binary, settings)
    elif fmt == "ply":
        _check_ply(master)
    logger = logging.getLogger("trimesh")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its warnings about odd input repeat what we say
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            loaded = trimesh.load_scene(
                io.BytesIO(master), file_type=fmt, resolver=_NoFiles(), process=False,
                skip_materials=False,
            )  # fmt: skip
    except (InvalidMedia, LimitExceeded):
        raise
    except MemoryError:
        raise LimitExceeded("the model does not fit in memory",
                            hint="decimate the master before registering it") from None  # fmt: skip
    except Exception as exc:  # trimesh's parsers raise many types on hostile bytes
        raise _refuse(f"the {fmt.upper()} file does not load: {type(exc).__name__}: {exc}"[:300],
                      hint="the file is truncated or corrupt; register an intact copy") from None  # fmt: skip
    finally:
        logger.setLevel(level)
    if not isinstance(loaded, trimesh.Scene):
        raise _refuse(f"the {fmt.upper()} file holds no meshes")
    return loaded


# ------------------------------------------------------------------------------ mesh values


@dataclass(frozen=True, slots=True)
class _Material:
    base_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic: float = 0.0
    roughness: float = 0.8
    emissive: tuple[float, float, float] = (0.0, 0.0, 0.0)
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5
    textures: tuple[tuple[str, Image.Image], ...] = ()

    def texture(self, slot: str) -> Image.Image | None:
        return next((image for name, image in self.textures if name == slot), None)


@dataclass(frozen=True, slots=True)
class _Part:
    """One mesh of the derivative: arrays of equal length per vertex, a material."""

    vertices: FloatArray
    faces: IntArray
    normals: FloatArray | None = None
    colors: ByteArray | None = None  # RGBA per vertex
    uvs: FloatArray | None = None
    material: _Material = field(default_factory=_Material)


def _factor(value: Any, size: int, default: tuple[float, ...]) -> tuple[float, ...]:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return default
    if array.size != size or not np.isfinite(array).all():
        return default
    if array.max() > 1.0:  # trimesh keeps some colours as 0-255 integers
        array = array / 255.0
    return tuple(float(x) for x in np.clip(array, 0.0, 1.0))


def _scalar(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, 0.0), 1.0) if np.isfinite(number) else default


def _bare_texture(image: Any, settings: ModelSettings, what: str) -> Image.Image | None:
    if not isinstance(image, Image.Image):
        return None
    width, height = image.size
    if width * height > settings.max_texture_pixels:
        raise LimitExceeded(f"the model's {what} is {width} × {height} pixels, over the cap",
                            hint="a genuine texture this large needs a higher max_texture_pixels")  # fmt: skip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            mode = "RGBA" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info \
                else "RGB"  # fmt: skip
            pixels = image.convert(mode)
    except Exception as exc:  # Pillow raises many types on hostile bytes
        raise _refuse(f"the model's {what} does not decode: {exc}",
                      hint="re-export the model with intact PNG or JPEG textures") from None  # fmt: skip
    scale = min(1.0, settings.max_texture_px / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != pixels.size:
        pixels = pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
    return Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())  # no info, no format


def _material(visual: Any, settings: ModelSettings) -> _Material:
    raw = getattr(visual, "material", None)
    if raw is not None and not isinstance(raw, trimesh.visual.material.PBRMaterial):
        try:
            raw = raw.to_pbr()
        except Exception:  # a material trimesh cannot convert: fall back to the default
            raw = None
    if raw is None:
        return _Material()
    textures = []
    for slot in _TEXTURE_SLOTS:
        image = _bare_texture(getattr(raw, slot, None), settings, slot)
        if image is not None:
            textures.append((slot, image))
    alpha_mode = str(getattr(raw, "alphaMode", None) or "OPAQUE")
    base = _factor(raw.baseColorFactor, 4, (1.0, 1.0, 1.0, 1.0))
    emissive = _factor(raw.emissiveFactor, 3, (0.0, 0.0, 0.0))
    return _Material(
        base_color=(base[0], base[1], base[2], base[3]),
        metallic=_scalar(raw.metallicFactor, 0.0 if raw.metallicFactor is None else 1.0),
        roughness=_scalar(raw.roughnessFactor, 1.0),
        emissive=(emissive[0], emissive[1], emissive[2]),
        alpha_mode=alpha_mode if alpha_mode in {"OPAQUE", "MASK", "BLEND"} else "OPAQUE",
        alpha_cutoff=_scalar(getattr(raw, "alphaCutoff", None), 0.5),
        textures=tuple(textures),
    )


def _part(mesh: trimesh.Trimesh, settings: ModelSettings, number: int) -> _Part | None:
    vertices = np.asarray(mesh.vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices)).any(axis=1).sum())
        raise _refuse(f"mesh {number} has {bad:,} vertices that are not finite numbers (NaN or ∞)",
                      hint="repair the master (e.g. in MeshLab or Blender) and register it again")  # fmt: skip
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise _refuse(f"mesh {number} has faces whose vertex indices are out of range "
                      f"(it has {len(vertices):,} vertices)",
                      hint="the file is corrupt; repair or re-export the master")  # fmt: skip
    visual = mesh.visual
    colors: ByteArray | None = None
    uvs: FloatArray | None = None
    material = _Material()
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        uv = getattr(visual, "uv", None)
        if uv is not None and len(uv) == len(vertices):
            uvs = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
            if not np.isfinite(uvs).all():
                uvs = None
        material = _material(visual, settings)
        if uvs is None:  # textures without coordinates cannot be drawn
            material = _Material(material.base_color, material.metallic, material.roughness,
                                 material.emissive, material.alpha_mode, material.alpha_cutoff)  # fmt: skip
    elif kind == "vertex":
        colors = np.asarray(visual.vertex_colors, dtype=np.uint8).reshape(-1, 4)
    elif kind == "face":
        # A colour per face becomes a colour per vertex: each face gets its own three vertices.
        face_colors = np.asarray(visual.face_colors, dtype=np.uint8).reshape(-1, 4)
        vertices = vertices[faces].reshape(-1, 3)
        colors = np.repeat(face_colors, 3, axis=0)
        faces = np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)
    normals: FloatArray | None = None
    given = mesh._cache.cache.get("vertex_normals")  # noqa: SLF001: normals from the file only
    if kind != "face" and given is not None and np.shape(given) == vertices.shape:
        normals = np.asarray(given, dtype=np.float64)
    return _clean(_Part(vertices, faces, normals, colors, uvs, material))


def _clean(part: _Part) -> _Part | None:
    """Degenerate faces and unreferenced vertices dropped; ``None`` if no face is left."""
    v, f = part.vertices, part.faces
    if len(f):
        corners = v[f]
        area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                       corners[:, 2] - corners[:, 0]), axis=1)  # fmt: skip
        distinct = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
        f = f[distinct & (area > 0)]
    if not len(f):
        return None
    used = np.zeros(len(v), dtype=bool)
    used[f.reshape(-1)] = True
    remap = np.cumsum(used) - 1

    def keep(array: Any) -> Any:
        return None if array is None else array[used]

    return _Part(v[used], remap[f].astype(np.int64), keep(part.normals), keep(part.colors),
                 keep(part.uvs), part.material)  # fmt: skip


def _parts(scene: trimesh.Scene, settings: ModelSettings) -> list[_Part]:
    total = 0
    for node in scene.graph.nodes_geometry:
        _, name = scene.graph[node]
        geometry = scene.geometry.get(name)
        total += len(getattr(geometry, "faces", ()))
        if total > settings.max_master_faces:
            raise LimitExceeded(
                f"the model holds more than {settings.max_master_faces:,} faces (instances "
                "counted), over the cap",
                hint="decimate the master before registering it, or raise max_master_faces",
            )
    parts = []
    with np.errstate(all="ignore"):
        meshes = scene.dump(concatenate=False)
        for number, mesh in enumerate(meshes):
            if isinstance(mesh, trimesh.Trimesh):
                part = _part(mesh, settings, number)
                if part is not None:
                    parts.append(part)
    if not parts:
        raise _refuse("the model has no faces (a point cloud, lines, or only degenerate faces)",
                      hint="an exhibit shows surfaces: mesh the scan before registering it")  # fmt: skip
    return parts


# ------------------------------------------------------------------------------ decimation


def _decimate_part(part: _Part, target: int) -> _Part:
    import fast_simplification  # imported here: only over-budget masters need it

    points = np.ascontiguousarray(part.vertices, dtype=np.float32)
    triangles = np.ascontiguousarray(part.faces, dtype=np.int32)
    reduction = 1.0 - target / len(part.faces)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, collapses = fast_simplification.simplify(
            points, triangles, target_reduction=reduction, return_collapses=True,
            preserve_border=True)
        new_points, new_faces, mapping = fast_simplification.replay_simplification(
            points, triangles, collapses)
    new_faces = np.asarray(new_faces, dtype=np.int64).reshape(-1, 3)
    mapping = np.asarray(mapping, dtype=np.int64)
    count = len(new_points)
    valid = (mapping >= 0) & (mapping < count)

    def carried(values: Any) -> Any:
        """Per-vertex values averaged over the vertices each survivor absorbed."""
        if values is None:
            return None
        sums = np.zeros((count, values.shape[1]))
        np.add.at(sums, mapping[valid], values[valid].astype(np.float64))
        weight = np.bincount(mapping[valid], minlength=count).astype(np.float64)
        return sums / np.maximum(weight, 1.0)[:, None]

    colors = carried(part.colors)
    return _Part(
        np.asarray(new_points, dtype=np.float64), new_faces, None,
        None if colors is None else np.clip(np.rint(colors), 0, 255).astype(np.uint8),
        carried(part.uvs), part.material,
    )  # fmt: skip


def _within_budget(parts: list[_Part], settings: ModelSettings, file_name: str) -> list[_Part]:
    total = sum(len(part.faces) for part in parts)
    if total <= settings.face_budget:
        return parts
    if not settings.decimate:
        raise LimitExceeded(
            f"the model {file_name!r} has {total:,} faces, over the face budget of "
            f"{settings.face_budget:,}",
            hint="raise face_budget, or set decimate = true to simplify it to the budget",
        )
    ratio = settings.face_budget / total
    done = parts
    for _ in range(6):  # the decimator may stop a little over its target: tighten and retry
        done = []
        for part in parts:
            target = max(1, int(len(part.faces) * ratio))
            if target >= len(part.faces):
                done.append(part)
                continue
            smaller = _clean(_decimate_part(part, target))
            if smaller is not None:
                done.append(smaller)
        if sum(len(part.faces) for part in done) <= settings.face_budget and done:
            return done
        ratio *= 0.9
    return _largest_faces(done or parts, settings.face_budget)


def _largest_faces(parts: list[_Part], budget: int) -> list[_Part]:
    """The ``budget`` largest faces. The last resort where edge collapse cannot go lower (loose
    triangles with no shared edge to collapse): small faces matter least to the shape."""
    areas = []
    for number, part in enumerate(parts):
        corners = part.vertices[part.faces]
        area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                       corners[:, 2] - corners[:, 0]), axis=1)  # fmt: skip
        areas.append(np.stack([area, np.full(len(area), number), np.arange(len(area))], axis=1))
    table = np.concatenate(areas)
    order = np.lexsort((table[:, 2], table[:, 1], -table[:, 0]))[:budget]  # stable: ties by place
    kept = []
    for number, part in enumerate(parts):
        chosen = np.sort(table[order][table[order][:, 1] == number][:, 2].astype(np.int64))
        smaller = _clean(_Part(part.vertices, part.faces[chosen], part.normals, part.colors,
                               part.uvs, part.material))  # fmt: skip
        if smaller is not None:
            kept.append(smaller)
    return kept


# --------------------------------------------------------------------------------- output


def _normals(part: _Part) -> FloatArray:
    v, f = part.vertices, part.faces
    normals = np.zeros_like(v) if part.normals is None else part.normals.copy()
    length = np.linalg.norm(normals, axis=1)
    broken = ~np.isfinite(length) | (length < 1e-12)
    if part.normals is None or broken.any():
        corners = v[f]
        face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        computed = np.zeros_like(v)
        for k in range(3):  # area-weighted: the cross product's length is twice the area
            np.add.at(computed, f[:, k], face_normals)
        normals[broken | (part.normals is None)] = computed[broken | (part.normals is None)]
        length = np.linalg.norm(normals, axis=1)
    lonely = ~np.isfinite(length) | (length < 1e-12)
    normals[lonely] = (0.0, 1.0, 0.0)  # a vertex on faces that cancel out: any unit vector will do
    length[lonely] = 1.0
    result: FloatArray = normals / length[:, None]
    return result


def _trimesh_of(part: _Part) -> trimesh.Trimesh:
    material = part.material
    visual: Any
    if part.uvs is not None:
        textures = dict(material.textures)
        pbr = trimesh.visual.material.PBRMaterial(
            baseColorFactor=np.array(material.base_color),
            metallicFactor=material.metallic,
            roughnessFactor=material.roughness,
            emissiveFactor=np.array(material.emissive),
            alphaMode=material.alpha_mode,
            alphaCutoff=material.alpha_cutoff if material.alpha_mode == "MASK" else None,
            doubleSided=True,
            **{slot: image for slot, image in textures.items()},
        )
        visual = trimesh.visual.TextureVisuals(uv=part.uvs, material=pbr)
    elif part.colors is not None:
        visual = trimesh.visual.ColorVisuals(vertex_colors=part.colors)
    else:
        visual = None
    mesh = trimesh.Trimesh(vertices=part.vertices, faces=part.faces,
                           vertex_normals=_normals(part), visual=visual, process=False)  # fmt: skip
    if visual is None or part.colors is not None:
        # trimesh writes no material for colours alone; a plain PBR one keeps the look stable
        pass
    mesh.metadata = {}
    return mesh


def _scrub(tree: Any) -> Any:
    """The glTF JSON without any ``name`` or ``extras`` (they can carry private text)."""
    if isinstance(tree, dict):
        return {key: _scrub(value) for key, value in tree.items() if key not in {"name", "extras"}}
    if isinstance(tree, list):
        return [_scrub(value) for value in tree]
    return tree


def _glb(parts: Sequence[_Part]) -> bytes:
    scene = trimesh.Scene()
    for number, part in enumerate(parts):
        scene.add_geometry(_trimesh_of(part), geom_name=f"mesh{number}", node_name=f"node{number}")
    scene.metadata = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = trimesh.exchange.gltf.export_glb(scene, include_normals=True)
    tree, binary = _glb_parts(exported)
    tree = _scrub(tree)
    tree["asset"] = {"version": "2.0", "generator": f"heritage-ledger exhibits (trimesh "
                     f"{trimesh.__version__})"}  # fmt: skip
    for material in tree.get("materials", []):
        material["doubleSided"] = True
    _set_targets(tree)
    return _pack_glb(tree, binary)


def _set_targets(tree: dict[str, Any]) -> None:
    """Mark vertex and index buffer views as such (the validator's advice; GPUs upload them)."""
    accessors, views = tree.get("accessors", []), tree.get("bufferViews", [])
    for mesh in tree.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            uses = [(index, 34962) for index in primitive.get("attributes", {}).values()]
            if "indices" in primitive:
                uses.append((primitive["indices"], 34963))
            for accessor, target in uses:
                view = accessors[accessor].get("bufferView")
                if view is not None:
                    views[view]["target"] = target


def _pack_glb(tree: Mapping[str, Any], binary: bytes | None) -> bytes:
    text = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        padded = binary + b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(padded), _BIN_CHUNK) + padded
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def _linear(srgb: FloatArray) -> FloatArray:
    result: FloatArray = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return result


def _poster_mesh(part: _Part) -> PosterMesh:
    """The part's faces with one linear RGBA colour each, as the GLB would show them."""
    base = np.array(part.material.base_color)
    count = len(part.faces)
    rgba = np.tile(base, (count, 1))
    if part.colors is not None:
        per_vertex = _linear(part.colors[:, :3].astype(np.float64) / 255.0)
        rgba[:, :3] *= per_vertex[part.faces].mean(axis=1)
    texture = part.material.texture("baseColorTexture")
    if texture is not None and part.uvs is not None:
        pixels = np.asarray(texture.convert("RGB"), dtype=np.float64) / 255.0
        height, width = pixels.shape[:2]
        centre = part.uvs[part.faces].mean(axis=1)
        u = np.mod(centre[:, 0], 1.0)
        v = np.mod(centre[:, 1], 1.0)  # glTF: v grows downwards in the image
        x = np.clip((u * width).astype(np.int64), 0, width - 1)
        y = np.clip((v * height).astype(np.int64), 0, height - 1)
        rgba[:, :3] *= _linear(pixels[y, x])
    rgba[:, 3] = 1.0
    return PosterMesh(part.vertices, part.faces, rgba)


def derive_model(
    master: bytes, file_name: str, settings: ModelSettings | None = None
) -> tuple[DerivationRecord, tuple[DerivedFile, DerivedFile]]:
    """The GLB and poster of ``master`` with their record (see the module); refusals raise."""
    settings = settings or ModelSettings()
    if len(master) > settings.max_master_bytes:
        raise LimitExceeded(
            f"the model {file_name!r} is {len(master):,} bytes, over the cap of "
            f"{settings.max_master_bytes:,}",
            hint="a genuine model this large needs a higher max_master_bytes",
        )
    fmt = sniff_format(master, file_name)
    parts = _within_budget(_parts(_load(master, fmt, settings), settings), settings, file_name)
    glb = DerivedFile.of("model.glb", "model/gltf-binary", _glb(parts))
    poster = DerivedFile.of(
        "poster.png", "image/png",
        poster_png([_poster_mesh(part) for part in parts], settings.poster_px),
        width=settings.poster_px, height=settings.poster_px,
    )  # fmt: skip
    record = DerivationRecord(
        kind=_KIND,
        master_cid=file_cid(master),
        settings=settings.to_json(),
        outputs=(glb.entry(), poster.entry()),
    )
    return record, (glb, poster)


def derive_model_cached(
    master: bytes, file_name: str, settings: ModelSettings | None, cache: DerivationCache
) -> ItemFiles:
    """:func:`derive_model` through ``cache``: an unchanged master is never derived twice."""
    settings = settings or ModelSettings()

    def fresh() -> Derivation:
        return derive_model(master, file_name, settings)

    record, files = cache.get_or_derive(file_cid(master), settings.to_json(), fresh)
    if [file.name for file in files] != ["model.glb", "poster.png"]:
        raise InvalidMedia(f"the cached derivation of {record.master_cid} lists "
                           f"{[file.name for file in files]}, not model.glb and poster.png",
                           hint="delete it from the cache's directory")  # fmt: skip
    return ItemFiles(kind="model", files=tuple(files), records=(record,))
