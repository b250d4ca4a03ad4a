"""The demo's sample collection: 3D objects (trimesh) and images (Pillow) made on the spot,
their descriptions in three languages, and the terms each one is registered under.

Everything here is made by this module, from fixed seeds: no file is downloaded, and two runs
make the same bytes. The objects are simple shapes standing for the kinds of things a
community holds (a carved bowl, a paddle, a drum …); they are computer-made samples, not
anyone's taonga, and their texts say so in general words.

Each :class:`Sample` names its community (``river``: 3-of-5 keyholders, ``hill``: 2-of-3)
and its :data:`Category`, which decides its terms and whether the exhibit may show it.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

__all__ = [
    "CATEGORIES",
    "COMMUNITIES",
    "FULL",
    "SMALL",
    "Category",
    "CommunitySpec",
    "Sample",
    "description_document",
    "terms_document",
    "write_sample",
]

Category = Literal[
    "public-cc-by",
    "public-tk-attribution",
    "community-only",
    "secret-sacred",
    "seasonal",
    "embargoed",
    "revoked",
    "ai-derivative",
]

#: Each category: what it means in words, and whether a public exhibit shows it now.
CATEGORIES: Final[dict[Category, tuple[str, bool]]] = {
    "public-cc-by": ("public, CC BY 4.0", True),
    "public-tk-attribution": ("public, CC BY 4.0 with TK Attribution", True),
    "community-only": ("community only (TK Community Use Only)", False),
    "secret-sacred": ("TK Secret/Sacred, encrypted", False),
    "seasonal": ("TK Seasonal, out of season now", False),
    "embargoed": ("embargoed until 2100", False),
    "revoked": ("public, then its terms revoked", False),
    "ai-derivative": ("AI-enhanced derivative, with the parent's consent", True),
}


@dataclass(frozen=True, slots=True)
class CommunitySpec:
    """A demo community: its key (``river``/``hill``), name, keyholders and threshold."""

    key: str
    name: str
    keyholders: int
    threshold: int


COMMUNITIES: Final = (
    CommunitySpec("river", "River Keepers", 5, 3),
    CommunitySpec("hill", "Hill Weavers", 3, 2),
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One item of the collection: a file name, what makes it, its community, category and
    titles (en, mi, fr); ``parent`` names the sample a derivative is made from."""

    name: str
    suffix: str  # ".glb" or ".png"
    community: str
    category: Category
    titles: tuple[str, str, str]
    what: str  # a short English account of the object
    parent: str | None = None

    @property
    def file_name(self) -> str:
        return self.name + self.suffix


def _s(
    name: str, suffix: str, community: str, category: Category, en: str, mi: str, fr: str,
    what: str, parent: str | None = None,
) -> Sample:  # fmt: skip
    return Sample(name, suffix, community, category, (en, mi, fr), what, parent)


#: The whole collection: twelve 3D objects, two images and one derivative.
FULL: Final = (
    _s("carved-bowl", ".glb", "river", "public-cc-by", "Carved bowl", "Kumete whakairo",
       "Bol sculpté", "a wooden bowl with a carved band around its rim"),
    _s("paddle", ".glb", "river", "public-cc-by", "Paddle", "Hoe", "Pagaie",
       "a canoe paddle with a long blade"),
    _s("canoe-model", ".glb", "river", "public-cc-by", "Canoe model", "Tauira waka",
       "Maquette de pirogue", "a small model of a canoe"),
    _s("river-stone", ".glb", "river", "public-cc-by", "River stone", "Kōhatu awa",
       "Pierre de rivière", "a smooth stone from a riverbed"),
    _s("drum", ".glb", "hill", "public-cc-by", "Drum", "Pahū", "Tambour",
       "a drum with a skin stretched over a wooden body"),
    _s("woven-basket", ".glb", "hill", "public-tk-attribution", "Woven basket", "Kete",
       "Panier tressé", "a basket woven in a chequered pattern"),
    _s("flute", ".glb", "hill", "public-tk-attribution", "Flute", "Kōauau", "Flûte",
       "a short flute with painted bands"),
    _s("woven-mat", ".png", "hill", "public-tk-attribution", "Woven mat", "Whāriki",
       "Natte tressée", "a photograph-like image of a woven mat"),
    _s("storage-box", ".glb", "river", "community-only", "Storage box", "Pouaka",
       "Coffret", "a lidded box for keeping small things"),
    _s("shell-necklace", ".glb", "river", "secret-sacred", "Shell necklace", "Tāhei anga",
       "Collier de coquillages", "a necklace of shells on a cord"),
    _s("spinning-top", ".glb", "hill", "seasonal", "Spinning top", "Pōtaka",
       "Toupie", "a spinning top, played with at one time of year"),
    _s("adze", ".glb", "river", "embargoed", "Adze", "Toki", "Herminette",
       "an adze with a stone blade"),
    _s("fish-hook", ".glb", "hill", "revoked", "Fish hook", "Matau", "Hameçon",
       "a fish hook with a curved shank"),
    _s("river-map", ".png", "river", "public-cc-by", "River map", "Mahere awa",
       "Carte de la rivière", "a drawn map of a river's bends"),
    _s("woven-mat-enhanced", ".png", "hill", "ai-derivative", "Woven mat (enhanced)",
       "Whāriki (kua whakapaihia)", "Natte tressée (améliorée)",
       "the woven mat's image at four times its size, enhanced", parent="woven-mat"),
)

#: One sample of each category (tests: fast, every reason still there).
SMALL: Final = tuple(
    s for s in FULL
    if s.name in {"carved-bowl", "woven-mat", "storage-box", "shell-necklace", "spinning-top",
                  "adze", "fish-hook", "woven-mat-enhanced"}
)  # fmt: skip


# ---- terms and descriptions ------------------------------------------------------------------


def _season_not_containing(now: datetime) -> dict[str, str]:
    """A season (MM-DD to MM-DD) that starts three months from now and lasts two: ``now``
    is outside it whatever the day."""
    start, end = now + timedelta(days=90), now + timedelta(days=150)
    return {"from": start.strftime("%m-%d"), "to": end.strftime("%m-%d")}


def terms_document(
    category: Category, community: bytes, *, now: datetime | None = None
) -> dict[str, Any]:
    """The ``heritage/terms`` document of ``category`` for ``community`` (its 32-byte id)."""
    moment = now or datetime.now(UTC)
    document: dict[str, Any] = {
        "type": "heritage/terms",
        "version": 1,
        "community": "0x" + community.hex(),
        "license": "CC-BY-4.0",
        "labels": [],
        "access": [{"protocol": "public"}],
        "ai_use": {"training": False, "enhancement": False},
        "location": {"precision": "coarsened", "distance_m": 10000},
        "attribution": "Courtesy of the community's keepers (demo sample)",
        "languages": ["en", "mi", "fr"],
        "contact": {"name": "Collections desk", "email": "collections@example.org"},
    }
    restricted = {
        "license": None,
        "rights_statement": "http://rightsstatements.org/vocab/InC/1.0/",
        "access": [{"protocol": "community"}],
        "location": {"precision": "hidden"},
    }
    changes: dict[str, Any]
    match category:
        case "public-cc-by" | "revoked" | "ai-derivative":
            changes = {}
        case "public-tk-attribution":
            # The parent of the AI-enhanced derivative consents to enhancement here.
            changes = {"labels": ["tk:attribution"], "ai_use": {"training": False,
                                                                "enhancement": True}}
        case "community-only":
            changes = {**restricted, "labels": ["tk:community-use-only"]}
        case "secret-sacred":
            changes = {**restricted, "labels": ["tk:secret-sacred"]}
        case "seasonal":
            changes = {
                "labels": ["tk:seasonal"],
                "display": {"time_zone": "UTC", "seasons": [_season_not_containing(moment)]},
            }
        case "embargoed":
            changes = {"display": {"time_zone": "UTC", "embargo_until": "2100-01-01T00:00:00Z"}}
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def description_document(sample: Sample) -> bytes:
    """The sample's description document (en, mi, fr), as UTF-8 JSON."""
    en, mi, fr = sample.titles
    document = {
        "type": "heritage/description",
        "version": 1,
        "title": {"en": en, "mi": mi, "fr": fr},
        "description": {
            "en": f"A sample made for the Heritage Ledger demo: {sample.what}.",
            "mi": "He tauira i hangaia mō te whakaaturanga a Heritage Ledger.",
            "fr": "Un exemple créé pour la démonstration de Heritage Ledger.",
        },
        "alt_text": {
            "en": f"A computer-made model: {sample.what}.",
            "mi": "He tauira i hangaia e te rorohiko.",
            "fr": "Un modèle fait par ordinateur.",
        },
        "creator": "Heritage Ledger demo",
        "subjects": ["demo sample", sample.community],
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


# ---- the files -------------------------------------------------------------------------------


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _weave(size: int, colours: tuple[tuple[int, int, int], tuple[int, int, int]],
           band: int) -> Any:  # fmt: skip
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), colours[0])
    draw = ImageDraw.Draw(image)
    for i in range(0, size, band):
        for j in range(0, size, band):
            if (i // band + j // band) % 2:
                draw.rectangle([i, j, i + band - 1, j + band - 1], fill=colours[1])
    return image


def _river_map(rng: random.Random) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (236, 226, 198))
    draw = ImageDraw.Draw(image)
    points = [(0, 120)]
    for x in range(20, 340, 20):
        points.append((x, int(120 + 60 * math.sin(x / 45) + rng.uniform(-8, 8))))
    draw.line(points, fill=(52, 104, 160), width=9)
    for _ in range(30):
        x, y = rng.randrange(320), rng.randrange(240)
        draw.ellipse([x, y, x + 6, y + 6], fill=(96, 140, 72))
    return image


def _coloured(mesh: Any, rgb: tuple[int, int, int], rng: random.Random, vary: int = 18) -> Any:
    import numpy as np

    # Vertex colours: glTF has no face colours, and converting them needs scipy.
    shade = np.array([[max(0, min(255, c + rng.randint(-vary, vary))) for c in rgb] + [255]
                      for _ in range(len(mesh.vertices))], dtype=np.uint8)  # fmt: skip
    mesh.visual.vertex_colors = shade
    return mesh


def _textured(mesh: Any, image: Any) -> Any:
    """``mesh`` with ``image`` wrapped around it (cylindrical UVs)."""
    import numpy as np
    import trimesh

    v = mesh.vertices
    height = np.ptp(v[:, 2]) or 1.0
    u = (np.arctan2(v[:, 1], v[:, 0]) / (2 * math.pi)) % 1.0
    w = (v[:, 2] - v[:, 2].min()) / height
    material = trimesh.visual.material.SimpleMaterial(image=image)  # type: ignore[no-untyped-call]
    mesh.visual = trimesh.visual.TextureVisuals(  # type: ignore[no-untyped-call]
        uv=np.column_stack([u, w]), material=material
    )
    return mesh


def _mesh(name: str, rng: random.Random) -> Any:
    import numpy as np
    import trimesh
    from trimesh import creation

    wood, dark, stone = (150, 96, 52), (92, 58, 30), (128, 124, 116)
    if name == "carved-bowl":
        angles = np.linspace(0, math.pi / 2, 12)
        profile = [(0.0, -0.5)] + [(math.sin(a) * (1.0 + 0.04 * math.sin(9 * a)),
                                    -0.5 * math.cos(a)) for a in angles[1:]]  # fmt: skip
        profile += [(0.9, 0.0), (0.0, -0.42)]
        return _coloured(creation.revolve(np.array(profile), sections=48), wood, rng)
    if name == "paddle":
        blade = creation.box(extents=(0.35, 0.04, 0.9))
        blade.apply_translation((0, 0, -0.55))
        shaft = creation.cylinder(radius=0.035, height=1.2, sections=16)
        shaft.apply_translation((0, 0, 0.5))
        return _coloured(trimesh.util.concatenate([blade, shaft]), wood, rng)
    if name == "canoe-model":
        hull = creation.icosphere(subdivisions=3)
        hull.apply_scale((1.6, 0.35, 0.25))
        return _coloured(hull, dark, rng)
    if name == "river-stone":
        stone_mesh = creation.icosphere(subdivisions=3)
        stone_mesh.vertices *= 1 + 0.08 * np.array([[rng.random()] for _ in stone_mesh.vertices])
        stone_mesh.apply_scale((1.0, 0.7, 0.45))
        return _coloured(stone_mesh, stone, rng, vary=10)
    if name == "drum":
        body = _coloured(creation.cylinder(radius=0.5, height=0.7, sections=32), wood, rng)
        skin = _coloured(creation.cylinder(radius=0.52, height=0.03, sections=32),
                         (226, 210, 176), rng, vary=4)  # fmt: skip
        skin.apply_translation((0, 0, 0.36))
        return trimesh.util.concatenate([body, skin])
    if name == "woven-basket":
        basket = creation.cylinder(radius=0.5, height=0.6, sections=32)
        return _textured(basket, _weave(256, ((196, 160, 92), (120, 82, 40)), 16))
    if name == "flute":
        flute = creation.cylinder(radius=0.05, height=1.0, sections=20)
        return _textured(flute, _weave(128, ((170, 120, 70), (60, 40, 24)), 32))
    if name == "storage-box":
        return _coloured(creation.box(extents=(0.8, 0.5, 0.4)), dark, rng)
    if name == "shell-necklace":
        beads = []
        for i in range(14):
            bead = creation.icosphere(subdivisions=1, radius=0.06)
            a = 2 * math.pi * i / 14
            bead.apply_translation((0.5 * math.cos(a), 0.5 * math.sin(a), 0))
            beads.append(_coloured(bead, (238, 232, 220), rng, vary=6))
        return trimesh.util.concatenate(beads)
    if name == "spinning-top":
        top = creation.cone(radius=0.3, height=0.5, sections=24)
        flip = trimesh.transformations.rotation_matrix(math.pi, (1, 0, 0))  # type: ignore[no-untyped-call]
        top.apply_transform(flip)
        return _coloured(top, (176, 60, 40), rng)
    if name == "adze":
        blade = _coloured(creation.box(extents=(0.12, 0.05, 0.4)), (60, 90, 70), rng)
        handle = _coloured(creation.box(extents=(0.07, 0.07, 0.9)), wood, rng)
        handle.apply_translation((0.1, 0, 0.3))
        return trimesh.util.concatenate([blade, handle])
    if name == "fish-hook":
        hook = creation.torus(major_radius=0.3, minor_radius=0.04, major_sections=32,
                              minor_sections=10)  # fmt: skip
        return _coloured(hook, (210, 200, 180), rng)
    raise ValueError(f"no shape for {name!r}")


def _image(sample: Sample, folder: Path, rng: random.Random) -> Any:
    from PIL import Image

    if sample.name == "woven-mat":
        return _weave(192, ((204, 172, 104), (140, 100, 52)), 12)
    if sample.name == "river-map":
        return _river_map(rng)
    if sample.parent is not None:
        parent = Image.open(folder / f"{sample.parent}.png")
        return parent.resize((parent.width * 4, parent.height * 4), Image.Resampling.LANCZOS)
    raise ValueError(f"no image for {sample.name!r}")


def write_sample(sample: Sample, folder: Path) -> Path:
    """Make ``sample``'s file in ``folder`` (a derivative after its parent) and return it."""
    rng = random.Random(sample.name)  # noqa: S311 - shapes, not secrets
    path = folder / sample.file_name
    if sample.suffix == ".glb":
        data: bytes = _mesh(sample.name, rng).export(file_type="glb")
    else:
        data = _png(_image(sample, folder, rng))
    path.write_bytes(data)
    return path


Maker = Callable[[Sample, Path], Path]
