"""What a 3D model master may be: its format, and the checks made before any loader reads it.

:func:`sniff_format` tells the format from the bytes (the file name's extension only settles
text that could be OBJ or ASCII STL). The ``check_*`` functions hold every count a header claims
against the bytes that are really there, refuse references to anything outside the master
(only ``data:`` URIs and the GLB's own chunk are read), refuse JSON nested deep enough to
overflow a parser's stack, bound instancing (a node tree that reuses one mesh, or is its own
ancestor), and read texture dimensions from their headers before any pixel is decoded. So a
small hostile file is refused with :class:`~ledger.errors.InvalidMedia` or
:class:`~ledger.errors.LimitExceeded` before anything large is allocated. Used by
:mod:`exhibits.derive.models`; :func:`glb_chunks` and :func:`pack_glb` also serve its output.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from PIL import Image

from ledger.errors import InvalidMedia, LimitExceeded

__all__ = [
    "FORMATS",
    "InputCaps",
    "ModelFormat",
    "check_gltf",
    "check_image_header",
    "check_ply",
    "glb_chunks",
    "pack_glb",
    "read_json",
    "refuse",
    "sniff_format",
]


@dataclass(frozen=True, slots=True)
class InputCaps:
    """The limits a master is held to (see :class:`exhibits.derive.models.ModelSettings`)."""

    max_master_bytes: int
    max_master_faces: int
    max_texture_pixels: int


ModelFormat = Literal["glb", "gltf", "obj", "ply", "stl"]
FORMATS: Final[tuple[ModelFormat, ...]] = ("glb", "gltf", "obj", "ply", "stl")

_HINT_FORMATS: Final = "a 3D model must be a whole GLB, glTF (data inline), OBJ, PLY or STL file"
_GLB_MAGIC: Final = b"glTF"
_JSON_CHUNK: Final = 0x4E4F534A
_BIN_CHUNK: Final = 0x004E4942
_COMPONENT_BYTES: Final = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_TYPE_COMPONENTS: Final = {
    "SCALAR": 1,
    "VEC2": 2,
    "VEC3": 3,
    "VEC4": 4,
    "MAT2": 4,
    "MAT3": 9,
    "MAT4": 16,
}
#: Extensions the loader cannot decode: geometry or textures would be missing or wrong.
_UNDECODABLE: Final = {
    "EXT_meshopt_compression": "meshopt-compressed geometry",
    "KHR_mesh_quantization": "quantized geometry",
    "KHR_texture_basisu": "KTX2/Basis textures",
    "EXT_texture_webp": "WebP-only textures",
    "EXT_texture_avif": "AVIF-only textures",
}
#: The most node visits a glTF scene may need (instances counted).
_MAX_NODE_VISITS: Final = 100_000
_PLY_TYPES: Final = {
    "char": 1,
    "uchar": 1,
    "short": 2,
    "ushort": 2,
    "int": 4,
    "uint": 4,
    "float": 4,
    "double": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "float64": 8,
}
_OBJ_LINE: Final = re.compile(rb"^\s*(v|vt|vn|vp|f|l|p|o|g|s|usemtl|mtllib)\s", re.MULTILINE)


def refuse(what: str, hint: str = _HINT_FORMATS) -> InvalidMedia:
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
        raise refuse(
            f"{file_name!r} ({len(master)} bytes) is not a whole binary STL: its header claims "
            f"{count:,} triangles, which need {84 + 50 * count:,} bytes",
            hint="the file is truncated or not an STL; register an intact copy",
        )
    named = f"named .{extension}, " if extension else ""
    raise refuse(f"{file_name!r} ({named}{len(master)} bytes) is not a 3D model this exhibit reads")


_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Deeper JSON than this is refused unparsed: glTF needs about 6 levels, and a C parser fed
#: 100,000 nested brackets overflows the stack and takes the process with it.
_MAX_JSON_DEPTH: Final = 64


def _json_depth(data: bytes) -> int:
    bare = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    if not bare.size:
        return 0
    step = np.isin(bare, (0x5B, 0x7B)).astype(np.int64) - np.isin(bare, (0x5D, 0x7D)).astype(
        np.int64
    )
    return int(np.cumsum(step).max())


def read_json(data: bytes, what: str) -> dict[str, Any]:
    if _json_depth(data) > _MAX_JSON_DEPTH:
        raise refuse(
            f"the {what} nests JSON more than {_MAX_JSON_DEPTH} levels deep",
            hint="no glTF needs that; the file is corrupt or hostile",
        )
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise refuse(f"the {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise refuse(f"the {what} is not a JSON object")
    return value


def glb_chunks(master: bytes) -> tuple[dict[str, Any], bytes | None]:
    """The JSON chunk and the BIN chunk of a GLB, every length checked against the bytes."""
    if len(master) < 20:
        raise refuse(f"the GLB is truncated: {len(master)} bytes, shorter than its headers")
    _, version, length = struct.unpack_from("<4sII", master, 0)
    if version != 2:
        raise refuse(
            f"the GLB is version {version}; only glTF 2.0 is read",
            hint="convert it to glTF 2.0 (e.g. with the Khronos glTF tools)",
        )
    if length != len(master):
        raise refuse(
            f"the GLB header says {length:,} bytes but the file has {len(master):,}",
            hint="the file is truncated or has bytes appended; register an intact copy",
        )
    chunks: list[tuple[int, bytes]] = []
    at = 12
    while at < len(master):
        if at + 8 > len(master):
            raise refuse("the GLB ends inside a chunk header")
        size, kind = struct.unpack_from("<II", master, at)
        if at + 8 + size > len(master):
            raise refuse(f"a GLB chunk claims {size:,} bytes, past the end of the file")
        chunks.append((kind, master[at + 8 : at + 8 + size]))
        at += 8 + size
    if not chunks or chunks[0][0] != _JSON_CHUNK:
        raise refuse("the GLB does not start with its JSON chunk")
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == _BIN_CHUNK else None
    return read_json(chunks[0][1], "GLB's JSON chunk"), binary


def _has_draco() -> bool:
    try:
        import DracoPy  # noqa: F401
    except ImportError:
        return False
    return True


def _data_uri(uri: str, what: str, room: int) -> bytes:
    if not uri.startswith("data:"):
        shown = uri if len(uri) <= 60 else uri[:57] + "..."
        raise refuse(
            f"the glTF's {what} refers to an outside file or address ({shown!r}); "
            "only data inside the file is read",
            hint="pack the model into one GLB (or embed its buffers and images as data: URIs)",
        )
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise refuse(f"the glTF's {what} is a data: URI that is not base64")
    if len(payload) * 3 // 4 > room:
        raise LimitExceeded(
            f"the glTF's inline data is larger than the master cap of {room:,} bytes",
            hint="a genuine model this large needs a higher max_master_bytes",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise refuse(f"the glTF's {what} holds invalid base64") from None


def _items(tree: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = tree.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise refuse(f"the glTF's {key!r} is not a list of objects")
    return value


def _int(item: Mapping[str, Any], key: str, what: str, default: int | None = None) -> int:
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise refuse(f"the glTF's {what} has an invalid {key!r}: {value!r}")
    return value


def check_gltf(tree: dict[str, Any], glb_binary: bytes | None, caps: InputCaps) -> None:
    """Refuse outside URIs, undecodable extensions and any count the bytes cannot back."""
    asset = tree.get("asset")
    if not isinstance(asset, dict) or not str(asset.get("version", "")).startswith("2."):
        raise refuse(
            "the glTF is not version 2.0 (its asset.version)", hint="convert it to glTF 2.0"
        )
    required = tree.get("extensionsRequired", [])
    for name in required if isinstance(required, list) else []:
        if name in _UNDECODABLE:
            raise refuse(
                f"the glTF holds {_UNDECODABLE[name]} ({name}), which is not read here",
                hint="export the master without that compression",
            )
    if "KHR_draco_mesh_compression" in required and not _has_draco():
        raise refuse(
            "the glTF holds Draco-compressed geometry and DracoPy is not installed",
            hint="install the DracoPy package, or export the master without Draco",
        )
    room = caps.max_master_bytes
    lengths: list[int] = []
    for number, entry in enumerate(_items(tree, "buffers")):
        declared = _int(entry, "byteLength", f"buffer {number}")
        if "uri" in entry:
            data = _data_uri(str(entry["uri"]), f"buffer {number}", room)
            room -= len(data)
        elif number == 0 and glb_binary is not None:
            data = glb_binary
        else:
            raise refuse(f"the glTF's buffer {number} has no data")
        if declared > len(data):
            raise refuse(
                f"the glTF's buffer {number} claims {declared:,} bytes; it has {len(data):,}"
            )
        lengths.append(declared)
    views = _items(tree, "bufferViews")
    for number, view in enumerate(views):
        buffer = _int(view, "buffer", f"buffer view {number}")
        end = _int(view, "byteOffset", f"buffer view {number}", 0) + _int(
            view, "byteLength", f"buffer view {number}"
        )
        if buffer >= len(lengths) or end > lengths[buffer]:
            raise refuse(f"the glTF's buffer view {number} reaches past its buffer")
    budget = caps.max_master_faces * 3 * 4
    for number, accessor in enumerate(_items(tree, "accessors")):
        what = f"accessor {number}"
        count = _int(accessor, "count", what)
        size = _COMPONENT_BYTES.get(accessor.get("componentType", -1), 0)
        parts = _TYPE_COMPONENTS.get(str(accessor.get("type")), 0)
        if not size or not parts:
            raise refuse(f"the glTF's {what} has an unknown component or element type")
        if "sparse" in accessor:
            raise refuse(
                f"the glTF's {what} is sparse, which is not read here",
                hint="export the master without sparse accessors",
            )
        if count > budget:
            raise LimitExceeded(
                f"the glTF's {what} claims {count:,} elements, over the cap",
                hint="a genuine model this large needs a higher max_master_faces",
            )
        if "bufferView" not in accessor:
            continue
        index = _int(accessor, "bufferView", what)
        if index >= len(views):
            raise refuse(f"the glTF's {what} names a buffer view that does not exist")
        view = views[index]
        stride = _int(view, "byteStride", f"buffer view {index}", 0) or size * parts
        need = _int(accessor, "byteOffset", what, 0) + (
            stride * (count - 1) + size * parts if count else 0
        )
        if need > _int(view, "byteLength", f"buffer view {index}"):
            raise refuse(
                f"the glTF's {what} claims {count:,} elements, more than its data holds",
                hint="the file is truncated or corrupt; register an intact copy",
            )
    _check_gltf_images(tree, glb_binary, views, caps)
    _check_instances(tree, caps)


def _mesh_faces(tree: Mapping[str, Any], accessors: list[dict[str, Any]]) -> list[int]:
    """The triangles each glTF mesh claims (index count, or vertex count, over three)."""
    faces = []
    for mesh in _items(tree, "meshes"):
        total = 0
        primitives = mesh.get("primitives", [])
        for primitive in primitives if isinstance(primitives, list) else []:
            if not isinstance(primitive, dict):
                continue
            attributes = primitive.get("attributes", {})
            source = primitive.get("indices", (attributes or {}).get("POSITION"))
            if isinstance(source, int) and 0 <= source < len(accessors):
                total += int(accessors[source].get("count", 0)) // 3
        faces.append(total)
    return faces


def _check_instances(tree: dict[str, Any], caps: InputCaps) -> None:
    """Count every mesh with its instances by walking the node tree from the scene's roots,
    before the loader bakes anything: a few bytes of nodes that reuse one mesh (or a node that
    is its own ancestor) would otherwise multiply it without end."""
    nodes = _items(tree, "nodes")
    faces = _mesh_faces(tree, _items(tree, "accessors"))
    scenes = _items(tree, "scenes")
    chosen = tree.get("scene", 0)
    roots: Any = (
        scenes[chosen].get("nodes", [])
        if isinstance(chosen, int) and 0 <= chosen < len(scenes)
        else range(len(nodes))
    )
    stack = [root for root in roots if isinstance(root, int)]
    visits, total = 0, 0
    while stack:
        index = stack.pop()
        visits += 1
        if not 0 <= index < len(nodes):
            raise refuse(f"the glTF names node {index}, which does not exist")
        node = nodes[index]
        mesh = node.get("mesh")
        if isinstance(mesh, int) and 0 <= mesh < len(faces):
            total += faces[mesh]
        if total > caps.max_master_faces or visits > _MAX_NODE_VISITS:
            raise LimitExceeded(
                f"the glTF places its meshes more than {caps.max_master_faces:,} faces or "
                f"{_MAX_NODE_VISITS:,} nodes deep (instances counted), over the cap",
                hint="decimate or flatten the master before registering it, or raise "
                "max_master_faces",
            )
        children = node.get("children", [])
        stack.extend(
            child
            for child in (children if isinstance(children, list) else [])
            if isinstance(child, int)
        )


def _check_gltf_images(
    tree: dict[str, Any],
    glb_binary: bytes | None,
    views: list[dict[str, Any]],
    caps: InputCaps,
) -> None:
    for number, image in enumerate(_items(tree, "images")):
        if "uri" in image:
            data = _data_uri(str(image["uri"]), f"image {number}", caps.max_master_bytes)
        elif "bufferView" in image:
            index = _int(image, "bufferView", f"image {number}")
            if index >= len(views):
                raise refuse(f"the glTF's image {number} names a buffer view that does not exist")
            view = views[index]
            if view.get("buffer") != 0 or glb_binary is None:
                continue  # inline buffers were checked; the loader reads them as they are
            start = int(view.get("byteOffset", 0))
            data = glb_binary[start : start + int(view["byteLength"])]
        else:
            continue
        check_image_header(data, f"texture image {number}", caps)


def check_image_header(data: bytes, what: str, caps: InputCaps) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            width = height = 1 << 20
        except Exception as exc:  # Pillow raises many types on hostile bytes
            raise refuse(
                f"the model's {what} is not an image Pillow can read: {exc}",
                hint="re-export the model with PNG or JPEG textures",
            ) from None
    if width * height > caps.max_texture_pixels:
        raise LimitExceeded(
            f"the model's {what} claims {width} × {height} pixels, over the cap of "
            f"{caps.max_texture_pixels:,}",
            hint="a small image that claims huge dimensions is a decompression bomb; "
            "a genuine texture this large needs a higher max_texture_pixels",
        )


def check_ply(master: bytes) -> None:
    end = master.find(b"end_header")
    if end < 0 or end > 65536:
        raise refuse("the PLY file has no end_header within its first 64 KiB")
    header = master[:end].decode("ascii", errors="replace").splitlines()
    body = master[master.index(b"\n", end) + 1 :] if b"\n" in master[end:] else b""
    encoding = next((line.split()[1] for line in header if line.startswith("format ")), "")
    elements: list[tuple[str, int, int]] = []  # name, count, least bytes (binary) per row
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            if not words[2].isdigit():
                raise refuse(f"the PLY header's element count {words[2]!r} is not a number")
            elements.append((words[1], int(words[2]), 0))
        elif words[:1] == ["property"] and elements and len(words) >= 3:
            name, count, least = elements[-1]
            kind = words[1]
            step = _PLY_TYPES.get(words[2], 1) if kind == "list" else _PLY_TYPES.get(kind, 0)
            if not step:
                raise refuse(f"the PLY header names an unknown property type {kind!r}")
            elements[-1] = (name, count, least + step)
    claimed = sum(count for _, count, _ in elements)
    if encoding == "ascii":
        lines = body.count(b"\n") + 1
        if claimed > lines:
            raise refuse(
                f"the PLY header claims {claimed:,} rows but the file has {lines:,} lines",
                hint="the file is truncated or corrupt; register an intact copy",
            )
    elif encoding.startswith("binary_"):
        need = sum(count * max(least, 1) for _, count, least in elements)
        if need > len(body):
            raise refuse(
                f"the PLY header claims rows of at least {need:,} bytes; "
                f"the file has {len(body):,} after its header",
                hint="the file is truncated or corrupt; register an intact copy",
            )
    else:
        raise refuse(f"the PLY format line names an unknown encoding {encoding!r}")


def pack_glb(tree: Mapping[str, Any], binary: bytes | None) -> bytes:
    text = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        padded = binary + b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(padded), _BIN_CHUNK) + padded
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks
