"""3D model derivatives: a clean GLB within a face budget, and a poster image.

:func:`derive_model` is pure (bytes and a file name in, a :class:`DerivationRecord` and files
out); :func:`derive_model_cached` adds the :class:`~exhibits.derive.cache.DerivationCache` and
returns the :class:`~exhibits.model.ItemFiles` the build passes on (``model.glb``, then
``poster.png``). The steps:

1. **Recognise the format** from the bytes (:func:`~exhibits.derive.model_input.sniff_format`):
   GLB, glTF, OBJ, PLY or STL. Content that contradicts the file name's extension wins.
2. **Check before loading** (:mod:`exhibits.derive.model_input`): the master's size is capped,
   every count a header claims is held against the bytes really there, instancing is bounded,
   texture dimensions are read from their headers, and a glTF may carry data only inline
   (``data:`` URIs) or in the GLB's own chunk. No file or network read ever happens: the loader
   gets a resolver that refuses every name, which also keeps an OBJ's ``mtllib`` unread.
   Draco-compressed geometry is decoded (DracoPy); meshopt and KTX2 are refused with a hint.
3. **Load** with trimesh (``process=False``: nothing merged or reordered behind our back), bake
   every node's transform into its mesh, and keep only geometry and material: positions, faces,
   normals, vertex colours, texture coordinates, PBR factors and textures. Names, extras,
   ``asset`` strings, cameras, lights, animations, skins and morph targets of the master are
   not carried over (names and extras can carry private text). Vertices that are not finite,
   indices out of range and models with no faces are refused; degenerate faces are dropped.
   A texture without coordinates is dropped, and so are vertex colours on a textured mesh.
   Faces are turned where their neighbours disagree (:func:`_consistent_winding`).
4. **Face budget.** Over :attr:`ModelSettings.face_budget`, each mesh is decimated with
   fast-simplification (quadric edge collapse, open borders kept so a scan's holes do not
   grow) to its share of the budget. Vertex colours and texture coordinates follow the
   collapses (averaged over the merged vertices, so colours soften and texture seams can
   smear); normals are recomputed, so authored hard edges are lost. Where collapses cannot reach
   the budget (loose triangles share no edge), the largest faces are kept. With
   ``decimate=False`` an over-budget master is refused instead, with the count and the budget.
5. **Textures** are cut to :attr:`ModelSettings.max_texture_px` on the longest side (Lanczos) and
   re-encoded from bare pixels (opaque colour textures as JPEG, the rest as PNG): no metadata of
   the master's images survives.
6. **Write** the GLB with trimesh, then rewrite its JSON chunk: every ``name`` and ``extras``
   removed, ``asset`` set to ours, buffer-view targets set, materials two-sided (scans and
   converted meshes often have inconsistent winding; a culled back face shows as a hole).
   Normals are computed where the master has none. Real units are kept: glTF's unit is the
   metre, and a master in other units keeps its numbers (the gallery scales every model to its
   plinth); axes are kept as in the master (glTF's +Y is up; many STL files are +Z up).
7. **Poster**: :func:`exhibits.derive.raster.poster_png` draws the derived meshes (base colour,
   vertex colours, base texture, smooth normals), so the poster shows what the GLB holds.

The same master and settings give byte-identical files: every encoder setting is fixed, nothing
depends on time, dict order or hashing, and the library versions are part of the settings.
Every refusal is an :class:`~ledger.errors.InvalidMedia`, or a
:class:`~ledger.errors.LimitExceeded` for a cap (the build catches both), saying what was wrong
and, in its hint, what to do.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import PIL
import trimesh
from PIL import Image

from exhibits.derive.cache import Derivation, DerivationCache
from exhibits.derive.model_input import (
    FORMATS,
    InputCaps,
    ModelFormat,
    check_gltf,
    check_ply,
    glb_chunks,
    pack_glb,
    read_json,
    refuse,
    sniff_format,
)
from exhibits.derive.raster import POSTER_PNG_LEVEL, PosterMesh, poster_png
from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid
from exhibits.model import ItemFiles
from ledger.errors import InvalidMedia, LimitExceeded, UsageError

__all__ = [
    "DEFAULT_FACE_BUDGET",
    "DEFAULT_MAX_TEXTURE_PX",
    "DEFAULT_POSTER_PX",
    "DEFAULT_TEXTURE_JPEG_QUALITY",
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
DEFAULT_TEXTURE_JPEG_QUALITY: Final = 90
#: The largest master read: 256 MiB (a dense photogrammetry scan with its textures).
DEFAULT_MAX_MASTER_BYTES: Final = 256 * 1024 * 1024
#: The most faces loaded (after instancing) before decimation: bounds the decimator's memory.
DEFAULT_MAX_MASTER_FACES: Final = 8_000_000
#: The most pixels one master texture may claim (a 16k × 8k map is 128 million).
DEFAULT_MAX_TEXTURE_PIXELS: Final = 134_217_728

_KIND: Final = "model"
_TEXTURE_SLOTS: Final = (
    "baseColorTexture",
    "metallicRoughnessTexture",
    "normalTexture",
    "occlusionTexture",
    "emissiveTexture",
)

#: trimesh's untyped entry points, typed as what they are to us.
_PBR: Any = trimesh.visual.material.PBRMaterial
_TEXTURE_VISUALS: Any = trimesh.visual.TextureVisuals
_EXPORT_GLB: Any = trimesh.exchange.gltf.export_glb

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
    texture_jpeg_quality: int = DEFAULT_TEXTURE_JPEG_QUALITY
    decimate: bool = True  # False: refuse a master over the budget instead
    poster_px: int = DEFAULT_POSTER_PX
    max_master_bytes: int = DEFAULT_MAX_MASTER_BYTES
    max_master_faces: int = DEFAULT_MAX_MASTER_FACES
    max_texture_pixels: int = DEFAULT_MAX_TEXTURE_PIXELS

    def __post_init__(self) -> None:
        for name, least in (
            ("face_budget", 4),
            ("max_texture_px", 1),
            ("texture_jpeg_quality", 1),
            ("poster_px", 16),
            ("max_master_bytes", 1),
            ("max_master_faces", 1),
            ("max_texture_pixels", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise UsageError(
                    f"model settings: {name} must be a whole number of at least {least}, "
                    f"not {value!r}",
                    hint="leave it out to use the default",
                )
        if self.texture_jpeg_quality > 95:
            raise UsageError(
                f"model settings: texture_jpeg_quality must be at most 95, not "
                f"{self.texture_jpeg_quality}",
                hint="90 is the default; above 95 JPEG grows without looking better",
            )

    @property
    def caps(self) -> InputCaps:
        """The limits a master is held to before it is loaded."""
        return InputCaps(self.max_master_bytes, self.max_master_faces, self.max_texture_pixels)

    def to_json(self) -> dict[str, Any]:
        """What made the outputs, as JSON values: the record's ``settings`` and the cache key."""
        return {
            "face_budget": self.face_budget,
            "decimate": self.decimate,
            "decimator": "fast-simplification quadric collapse, aggressiveness 7, borders kept",
            "max_texture_px": self.max_texture_px,
            "texture_format": "jpeg (baseline, 4:2:0) for opaque colour textures, png otherwise",
            "texture_jpeg_quality": self.texture_jpeg_quality,
            "resample": "lanczos",
            "double_sided": True,
            "units": "as in the master (glTF: metres), not rescaled; axes as in the master",
            "poster_px": self.poster_px,
            "poster": "orthographic three-quarter view, two-sided Lambert, 2x supersampled, "
            "transparent background",
            "poster_png_level": POSTER_PNG_LEVEL,
            "libraries": {
                "trimesh": trimesh.__version__,
                "fast-simplification": _version("fast-simplification"),
                "numpy": np.__version__,
                "Pillow": PIL.__version__,
                "DracoPy": _version("DracoPy"),
            },
        }


# ----------------------------------------------------------------------------------- loading


class _NoFiles(trimesh.resolvers.Resolver):
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
        tree, binary = (
            glb_chunks(master) if fmt == "glb" else (read_json(master, "glTF file"), None)
        )
        check_gltf(tree, binary, settings.caps)
    elif fmt == "ply":
        check_ply(master)
    logger = logging.getLogger("trimesh")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its warnings about odd input repeat what we say
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            loaded = trimesh.load_scene(
                io.BytesIO(master),
                file_type=fmt,
                resolver=_NoFiles(),
                process=False,
                skip_materials=False,
            )
    except (InvalidMedia, LimitExceeded):
        raise
    except MemoryError:
        raise LimitExceeded(
            "the model does not fit in memory", hint="decimate the master before registering it"
        ) from None
    except Exception as exc:  # trimesh's parsers raise many types on hostile bytes
        raise refuse(
            f"the {fmt.upper()} file does not load: {type(exc).__name__}: {exc}"[:300],
            hint="the file is truncated or corrupt; register an intact copy",
        ) from None
    finally:
        logger.setLevel(level)
    if not isinstance(loaded, trimesh.Scene):
        raise refuse(f"the {fmt.upper()} file holds no meshes")
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
        raise LimitExceeded(
            f"the model's {what} is {width} × {height} pixels, over the cap",
            hint="a genuine texture this large needs a higher max_texture_pixels",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            mode = (
                "RGBA"
                if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
                else "RGB"
            )
            pixels = image.convert(mode)
    except Exception as exc:  # Pillow raises many types on hostile bytes
        raise refuse(
            f"the model's {what} does not decode: {exc}",
            hint="re-export the model with intact PNG or JPEG textures",
        ) from None
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
        metallic=_scalar(raw.metallicFactor, 1.0),  # glTF: absent means fully metallic
        roughness=_scalar(raw.roughnessFactor, 1.0),
        emissive=(emissive[0], emissive[1], emissive[2]),
        alpha_mode=alpha_mode if alpha_mode in {"OPAQUE", "MASK", "BLEND"} else "OPAQUE",
        alpha_cutoff=_scalar(getattr(raw, "alphaCutoff", None), 0.5),
        textures=tuple(textures),
    )


def _part(
    mesh: trimesh.Trimesh, transform: FloatArray, settings: ModelSettings, number: int
) -> _Part | None:
    """One placed mesh as arrays, its node's transform baked in."""
    linear = transform[:3, :3]
    vertices = np.asarray(mesh.vertices, dtype=np.float64).reshape(-1, 3) @ linear.T
    vertices += transform[:3, 3]
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if np.linalg.det(linear) < 0:
        faces = faces[:, ::-1]  # a mirroring node turns faces inside out: turn them back
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices)).any(axis=1).sum())
        raise refuse(
            f"mesh {number} has {bad:,} vertices that are not finite numbers (NaN or ∞)",
            hint="repair the master (e.g. in MeshLab or Blender) and register it again",
        )
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise refuse(
            f"mesh {number} has faces whose vertex indices are out of range "
            f"(it has {len(vertices):,} vertices)",
            hint="the file is corrupt; repair or re-export the master",
        )
    visual: Any = mesh.visual
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
            material = _Material(
                material.base_color,
                material.metallic,
                material.roughness,
                material.emissive,
                material.alpha_mode,
                material.alpha_cutoff,
            )
    elif kind == "vertex":
        colors = np.asarray(visual.vertex_colors, dtype=np.uint8).reshape(-1, 4)
    elif kind == "face":
        # A colour per face becomes a colour per vertex: each face gets its own three vertices.
        face_colors = np.asarray(visual.face_colors, dtype=np.uint8).reshape(-1, 4)
        vertices = vertices[faces].reshape(-1, 3)
        colors = np.repeat(face_colors, 3, axis=0)
        faces = np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)
    normals: FloatArray | None = None
    given = mesh._cache.cache.get("vertex_normals")  # only normals the file gave
    if kind != "face" and given is not None and np.shape(given) == vertices.shape:
        try:  # normals move by the inverse transpose (normalised later, in _normals)
            normals = np.asarray(given, dtype=np.float64) @ np.linalg.inv(linear)
        except np.linalg.LinAlgError:
            normals = None  # a node that flattens its mesh: recompute from the geometry
    cleaned = _clean(_Part(vertices, faces, normals, colors, uvs, material))
    if cleaned is None:
        return None
    return _Part(cleaned.vertices, _consistent_winding(cleaned), cleaned.normals, cleaned.colors,
                 cleaned.uvs, cleaned.material)  # fmt: skip


def _consistent_winding(part: _Part) -> IntArray:
    """The faces turned so that neighbours agree (odd winding is a common scan quirk).

    With normals from the master, each face is turned to face the way its corners' normals do.
    Without, faces are walked across shared edges (an edge two faces share runs opposite ways in
    each when they agree) and each connected piece keeps the orientation most of its area had.
    Consistency is what matters to shading: the materials are two-sided, so a piece that faces
    inwards throughout still lights correctly; a patchwork of both ways does not."""
    v, f = part.vertices, part.faces.copy()
    corners = v[f]
    geometric = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    if part.normals is not None:
        flip = (geometric * part.normals[f].sum(axis=1)).sum(axis=1) < 0
        f[flip] = f[flip][:, ::-1]
        return f
    count = len(f)
    starts = f.reshape(-1)
    ends = f[:, [1, 2, 0]].reshape(-1)
    owner = np.repeat(np.arange(count), 3)
    key = np.minimum(starts, ends) * len(v) + np.maximum(starts, ends)
    order = np.argsort(key, kind="stable")
    key, owner, forward = key[order], owner[order], (starts < ends)[order]
    # Edges shared by exactly two faces: the pairs to walk (others are borders or non-manifold).
    same_next = key[1:] == key[:-1]
    single = same_next.copy()
    single[1:] &= ~same_next[:-1]
    single[:-1] &= ~same_next[1:]
    pair = np.flatnonzero(single)
    first, second = owner[pair], owner[pair + 1]
    disagree = forward[pair] == forward[pair + 1]  # the same direction twice: one is flipped
    neighbours: list[list[tuple[int, bool]]] = [[] for _ in range(count)]
    for a, b, odd in zip(first.tolist(), second.tolist(), disagree.tolist(), strict=True):
        neighbours[a].append((b, odd))
        neighbours[b].append((a, odd))
    turned = np.zeros(count, dtype=bool)
    seen = np.zeros(count, dtype=bool)
    area = np.linalg.norm(geometric, axis=1)
    for start in range(count):
        if seen[start]:
            continue
        seen[start] = True
        piece, stack = [start], [start]
        while stack:
            face = stack.pop()
            for other, odd in neighbours[face]:
                if not seen[other]:
                    seen[other] = True
                    turned[other] = turned[face] != odd
                    piece.append(other)
                    stack.append(other)
        members = np.array(piece)
        if area[members][turned[members]].sum() > area[members][~turned[members]].sum():
            turned[members] = ~turned[members]  # keep the orientation most of the piece had
    f[turned] = f[turned][:, ::-1]
    return f


def _clean(part: _Part) -> _Part | None:
    """Degenerate faces and unreferenced vertices dropped; ``None`` if no face is left."""
    v, f = part.vertices, part.faces
    if len(f):
        corners = v[f]
        area = np.linalg.norm(
            np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
        )
        distinct = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
        f = f[distinct & (area > 0)]
    if not len(f):
        return None
    used = np.zeros(len(v), dtype=bool)
    used[f.reshape(-1)] = True
    remap = np.cumsum(used) - 1

    def keep(array: Any) -> Any:
        return None if array is None else array[used]

    return _Part(
        v[used],
        remap[f].astype(np.int64),
        keep(part.normals),
        keep(part.colors),
        keep(part.uvs),
        part.material,
    )


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
    # Each placement is read straight from the scene graph rather than through Scene.dump,
    # whose copies convert colours with scipy (not a dependency) and may fail on odd input.
    try:
        with np.errstate(all="ignore"):
            for number, node in enumerate(scene.graph.nodes_geometry):
                transform, name = scene.graph[node]
                mesh = scene.geometry.get(name)
                if isinstance(mesh, trimesh.Trimesh):
                    matrix = np.asarray(transform, dtype=np.float64).reshape(4, 4)
                    part = _part(mesh, matrix, settings, number)
                    if part is not None:
                        parts.append(part)
    except (InvalidMedia, LimitExceeded):
        raise
    except Exception as exc:  # trimesh computes lazily: odd input fails here as well as in load
        raise refuse(
            f"the model's meshes do not read: {type(exc).__name__}: {exc}"[:300],
            hint="the file is corrupt or uses a feature not read here; re-export the master",
        ) from None
    if not parts:
        raise refuse(
            "the model has no faces (a point cloud, lines, or only degenerate faces)",
            hint="an exhibit shows surfaces: mesh the scan before registering it",
        )
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
            points,
            triangles,
            target_reduction=reduction,
            return_collapses=True,
            preserve_border=True,
        )
        new_points, new_faces, mapping = fast_simplification.replay_simplification(
            points, triangles, collapses
        )
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
        np.asarray(new_points, dtype=np.float64),
        new_faces,
        None,
        None if colors is None else np.clip(np.rint(colors), 0, 255).astype(np.uint8),
        carried(part.uvs),
        part.material,
    )


def _within_budget(parts: list[_Part], settings: ModelSettings, file_name: str) -> list[_Part]:
    total = sum(len(part.faces) for part in parts)
    if total <= settings.face_budget:
        return parts
    if not settings.decimate:
        raise LimitExceeded(
            f"the model {file_name!r} has {total:,} faces, over the face budget of "
            f"{settings.face_budget:,}",
            hint="raise face_budget, or set decimate = true to simplify it to the budget, in "
            'the exhibit spec\'s [models] table (or [models.item."ID"] for this item alone)',
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
        area = np.linalg.norm(
            np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
        )
        areas.append(np.stack([area, np.full(len(area), number), np.arange(len(area))], axis=1))
    table = np.concatenate(areas)
    order = np.lexsort((table[:, 2], table[:, 1], -table[:, 0]))[:budget]  # stable: ties by place
    kept = []
    for number, part in enumerate(parts):
        chosen = np.sort(table[order][table[order][:, 1] == number][:, 2].astype(np.int64))
        smaller = _clean(
            _Part(
                part.vertices,
                part.faces[chosen],
                part.normals,
                part.colors,
                part.uvs,
                part.material,
            )
        )
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
    plain = not material.textures and material == _Material(textures=material.textures)
    if part.colors is not None and plain:
        visual = trimesh.visual.ColorVisuals(vertex_colors=part.colors)
    elif part.uvs is not None or not plain:
        textures = dict(material.textures) if part.uvs is not None else {}
        pbr = _PBR(
            baseColorFactor=np.array(material.base_color),
            metallicFactor=material.metallic,
            roughnessFactor=material.roughness,
            emissiveFactor=np.array(material.emissive),
            alphaMode=material.alpha_mode,
            alphaCutoff=material.alpha_cutoff if material.alpha_mode == "MASK" else None,
            doubleSided=True,
            **{slot: image for slot, image in textures.items()},
        )
        visual = _TEXTURE_VISUALS(uv=part.uvs, material=pbr)
    else:
        visual = None
    mesh = trimesh.Trimesh(
        vertices=part.vertices,
        faces=part.faces,
        vertex_normals=_normals(part),
        visual=visual,
        process=False,
    )
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


def _glb(parts: Sequence[_Part], jpeg_quality: int) -> bytes:
    scene = trimesh.Scene()
    for number, part in enumerate(parts):
        scene.add_geometry(_trimesh_of(part), geom_name=f"mesh{number}", node_name=f"node{number}")
    scene.metadata = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = _EXPORT_GLB(scene, include_normals=True)
    tree, binary = glb_chunks(exported)
    tree = _scrub(tree)
    tree["asset"] = {
        "version": "2.0",
        "generator": f"heritage-ledger exhibits (trimesh {trimesh.__version__})",
    }
    for material in tree.get("materials", []):
        material["doubleSided"] = True
    _set_targets(tree)
    return pack_glb(tree, _colour_textures_as_jpeg(tree, binary or b"", jpeg_quality))


def _colour_textures_as_jpeg(tree: dict[str, Any], binary: bytes, quality: int) -> bytes:
    """The binary chunk with opaque colour textures (base colour, emissive) as JPEG.

    trimesh writes every texture as PNG, which is lossless but several times larger for the
    photographic textures of scans. Colour textures without transparency become baseline JPEG
    (4:2:0, every option fixed, no metadata); data textures (normal, metallic-roughness,
    occlusion) stay PNG, where JPEG's artefacts would show as shading errors. The buffer views
    are laid out again, in their order, each aligned to 4 bytes."""
    views = tree.get("bufferViews", [])
    images = tree.get("images", [])
    textures = tree.get("textures", [])
    colour: set[int] = set()
    for material in tree.get("materials", []):
        slots = [material.get("pbrMetallicRoughness", {}).get("baseColorTexture"),
                 material.get("emissiveTexture")]  # fmt: skip
        for slot in slots:
            if isinstance(slot, dict) and slot.get("index", -1) < len(textures):
                source = textures[slot["index"]].get("source")
                if isinstance(source, int):
                    colour.add(source)
    blobs = [binary[v.get("byteOffset", 0) : v.get("byteOffset", 0) + v["byteLength"]]
             for v in views]  # fmt: skip
    for number in sorted(colour):
        image = images[number]
        with Image.open(io.BytesIO(blobs[image["bufferView"]])) as opened:
            opened.load()
            if opened.mode != "RGB":
                continue  # transparency (or an odd mode): keep the lossless PNG
            out = io.BytesIO()
            opened.save(out, format="JPEG", quality=quality, subsampling=2, optimize=True,
                        progressive=False, exif=b"", icc_profile=None)  # fmt: skip
        blobs[image["bufferView"]] = out.getvalue()
        image["mimeType"] = "image/jpeg"
    packed = b""
    for view, blob in zip(views, blobs, strict=True):
        packed += b"\0" * (-len(packed) % 4)
        view["byteOffset"] = len(packed)
        view["byteLength"] = len(blob)
        packed += blob
    if tree.get("buffers"):
        tree["buffers"][0]["byteLength"] = len(packed)
    return packed


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


def _linear(srgb: FloatArray) -> FloatArray:
    result: FloatArray = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return result


def _poster_mesh(part: _Part) -> PosterMesh:
    """The part as the GLB shows it: base colour, vertex colours, base texture, normals."""
    rgba = np.tile(np.array(part.material.base_color, dtype=np.float64), (len(part.faces), 1))
    rgba[:, 3] = 1.0  # the poster shows the surface; see-through materials would only fade it
    vertex_rgba = None
    if part.colors is not None:
        vertex_rgba = np.ones((len(part.vertices), 4))
        vertex_rgba[:, :3] = _linear(part.colors[:, :3].astype(np.float64) / 255.0)
    texture = part.material.texture("baseColorTexture")
    pixels = None
    if texture is not None and part.uvs is not None:
        pixels = _linear(np.asarray(texture.convert("RGB"), dtype=np.float64) / 255.0)
    return PosterMesh(
        part.vertices, part.faces, rgba, vertex_rgba, _normals(part),
        part.uvs if pixels is not None else None,
        None if pixels is None else pixels.astype(np.float32),
    )  # fmt: skip


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
    glb = DerivedFile.of(
        "model.glb", "model/gltf-binary", _glb(parts, settings.texture_jpeg_quality)
    )
    poster = DerivedFile.of(
        "poster.png",
        "image/png",
        poster_png([_poster_mesh(part) for part in parts], settings.poster_px),
        width=settings.poster_px,
        height=settings.poster_px,
    )
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
        raise InvalidMedia(
            f"the cached derivation of {record.master_cid} lists "
            f"{[file.name for file in files]}, not model.glb and poster.png",
            hint="delete it from the cache's directory",
        )
    return ItemFiles(kind="model", files=tuple(files), records=(record,))
