"""Exhibit build time: a full build, a no-op rebuild, and a rebuild after one item changes.

Starts an anvil of its own (temporary data directory, free port), deploys the registry, creates
a 2-of-3 community, registers 1,000 generated items (100 with ``--quick``) as one batch under
public terms (one more, described, on its own: a batch item's description is its metadata's and
cannot be corrected): JPEG images and, by default a fifth of them, 3D meshes made with trimesh
(GLB, PLY, STL, OBJ; blobs of varying face counts, every tenth over the 150,000-face budget).
Then it times :func:`exhibits.build.build_exhibit` three times into the same folder: the full
build (every item derived), a rebuild with nothing changed, and a rebuild after one item's
description was corrected on chain (``setDescription``; ``--change revoke`` revokes its terms
instead, so it leaves the site). Each build syncs the index, decides every item at its own
moment, renders and scans the whole site; what the rebuilds reuse is kept under the data
directory (:mod:`exhibits.gather_cache`, :mod:`exhibits.build_cache`, the derivation cache).
The renderer is :func:`exhibits.site.render.render_site` (with stand-ins for the gallery layout
and vendored assets while those are stubs, reported in ``"renderer"``).

Prints a table (with each build's stage times), then one JSON object as the last line:
``items_per_s`` (full build), ``rebuild_ratio`` (no-op rebuild ÷ full build; target ≤ 0.02),
``one_change_ratio`` (one-change rebuild ÷ full build; target ≤ 0.05) and ``stages``.
``--profile DIR`` writes a cProfile of each build.

    .venv/bin/python bench/exhibit_build.py --quick
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from _world import bench_community, local_chain
from PIL import Image

from ledger.registry import Registry
from ledger.rights.description import Description, description_from_json
from local_chain import anvil_dev_account

if TYPE_CHECKING:
    from exhibits.build import Render
    from exhibits.layout import GalleryEntry
    from exhibits.model import ChainRef, Exhibited, RoomPlan
    from exhibits.spec import ExhibitSpec


def write_images(folder: Path, count: int, rng: random.Random) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        size = (rng.randrange(320, 1200), rng.randrange(240, 900))
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        image.paste(Image.frombytes("RGB", (64, 64), rng.randbytes(64 * 64 * 3)), (8, 8))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        path = folder / f"object-{i:05d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def _description(title: str) -> Description:
    return description_from_json(
        {"type": "heritage/description", "version": 1, "title": {"en": title}}
    )


def write_meshes(folder: Path, count: int, rng: random.Random) -> list[Path]:
    """Generated 3D masters with trimesh: spheres, capsules, boxes and tori turned into blobs
    by random bumps, of varying face counts (every tenth over the 150,000-face budget, so it
    is decimated), written as GLB, PLY, STL and OBJ in turn."""
    import numpy as np
    import trimesh

    # Without scipy, trimesh computes vertex normals the slow way and logs a traceback each
    # time: the figures are the same, the output is not worth reading.
    logging.getLogger("trimesh").setLevel(logging.CRITICAL)
    folder.mkdir(parents=True)
    paths = []
    formats = ("glb", "ply", "stl", "obj")
    for i in range(count):
        noise = np.random.default_rng(rng.randrange(1 << 32))
        shape = i % 4
        if i % 10 == 9:
            mesh = trimesh.creation.icosphere(subdivisions=7)  # 327,680 faces: over budget
        elif shape == 0:
            mesh = trimesh.creation.icosphere(subdivisions=rng.randrange(2, 6))
        elif shape == 1:
            mesh = trimesh.creation.capsule(height=rng.uniform(0.5, 2), radius=0.5,
                                            count=[rng.randrange(16, 96)] * 2)  # fmt: skip
        elif shape == 2:
            mesh = trimesh.creation.box(extents=[rng.uniform(0.5, 2) for _ in range(3)])
            for _ in range(rng.randrange(2, 6)):
                mesh = mesh.subdivide()
        else:
            mesh = trimesh.creation.torus(major_radius=1, minor_radius=rng.uniform(0.2, 0.5),
                                          major_sections=rng.randrange(24, 128),
                                          minor_sections=rng.randrange(12, 64))  # fmt: skip
        # Bumped outwards from the centre (vertex normals would need scipy to be quick).
        bumps = 1 + noise.normal(0, 0.03, (len(mesh.vertices), 1))
        mesh.vertices = mesh.vertices * bumps
        if i % 3 == 0:
            mesh.visual.vertex_colors = noise.integers(0, 256, (len(mesh.vertices), 4), np.uint8)
        path = folder / f"mesh-{i:05d}.{formats[i % len(formats)]}"
        mesh.export(path)
        paths.append(path)
    return paths


def standin(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    out: Path,
    *,
    built_at: datetime,
) -> None:
    """Each item's derived files and a list of the items: what any renderer writes at least."""
    lines = [built_at.isoformat()]
    for item in items:
        folder = out / "items" / item.item_id / "files"
        folder.mkdir(parents=True)
        for derived in item.files.files:
            (folder / derived.name).write_bytes(derived.data)
        lines.append(f'<li><a href="items/{item.item_id}/">{item.candidate.file_name}</a></li>')
    (out / "index.html").write_text("\n".join(lines) + "\n", "utf-8")


def _gallery_standin(title: str, theme: str, rooms: Sequence[RoomPlan],
                     entries: Sequence[GalleryEntry]) -> dict[str, object]:  # fmt: skip
    """While exhibits.layout is a stub: the entries as handed over."""
    return {"title": title, "theme": theme, "entries": [e.item_id for e in entries]}


def _assets_standin(out: Path) -> list[str]:
    """While exhibits.site.assets is a stub: no vendored files."""
    return []


def renderer() -> tuple[Render, str]:
    """The real renderer when it renders (tried on an empty exhibit); the real renderer with
    stand-ins for the gallery layout and the vendored assets while those are stubs; else a
    minimal stand-in."""
    from exhibits.model import ChainRef
    from exhibits.site.render import render_site
    from exhibits.spec import parse_spec

    spec = parse_spec('title = "t"\nlanguages = ["en"]\n[select]\ncommunities = ["x"]\n')
    chain = ChainRef(1, "0x" + "00" * 20)
    epoch = datetime.fromtimestamp(0, UTC)
    with tempfile.TemporaryDirectory() as empty:
        try:
            render_site(spec, [], [], chain, Path(empty), built_at=epoch)
            return render_site, "render_site"
        except NotImplementedError:
            pass
    partial = functools.partial(render_site, gallery=_gallery_standin, assets=_assets_standin)
    with tempfile.TemporaryDirectory() as empty:
        try:
            partial(spec, [], [], chain, Path(empty), built_at=epoch)
            return partial, "render_site (gallery and assets stand-ins)"
        except NotImplementedError:
            return standin, "stand-in"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 items instead of 1,000")
    parser.add_argument("--items", type=int, default=None, help="number of items (overrides)")
    parser.add_argument("--mesh-share", type=float, default=0.2,
                        help="the share of items that are 3D meshes (default 0.2)")
    parser.add_argument("--change", choices=("describe", "revoke"), default="describe",
                        help="the one change: a corrected description (default) or a revocation")
    parser.add_argument("--clock", action="store_true",
                        help="built_at from the clock (default: SOURCE_DATE_EPOCH fixed)")
    parser.add_argument("--no-meshes", action="store_true", help="images only")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="write a cProfile of each build to DIR/<build>.prof")
    args = parser.parse_args()
    # Imported after the arguments are read: --help needs none of the build.
    from exhibits.build import build_exhibit
    from exhibits.spec import parse_spec

    count = args.items or (100 if args.quick else 1000)
    if not args.clock:
        # Reproducible builds: every page says when it was built, so without a fixed moment
        # a rebuild rewrites (and rescans) every page even when nothing else changed.
        os.environ["SOURCE_DATE_EPOCH"] = "1780000000"
    meshes = 0 if args.no_meshes else round(count * args.mesh_share)
    rng = random.Random(12)
    render, render_name = renderer()
    with local_chain("exhibit") as (root, settings):
        with Registry(settings) as registrar:
            community = bench_community(registrar, root)
            started = time.perf_counter()
            masters = write_images(root / "images", count - meshes, rng)
            if meshes:
                masters += write_meshes(root / "meshes", meshes, rng)
            generated = time.perf_counter() - started
            (single,) = registrar.items.register(
                masters[:1], community.id, community.terms, community.keys,
                descriptions=[_description("Object 0")],
            )  # fmt: skip
            registrar.items.register_batch(
                masters[1:], community.id, community.terms, community.keys
            )
        selected = f'communities = ["0x{community.id.hex()}"]'
        spec = parse_spec(f'title = "Bench"\nlanguages = ["en"]\n[select]\n{selected}\n')
        out = root / "site"
        timings: dict[str, float] = {}
        results = {}

        def timed(name: str) -> None:
            profiler = cProfile.Profile() if args.profile is not None else None
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            # The real renderer is the build's default (its synced writing needs it so).
            chosen = None if render_name == "render_site" else render
            results[name] = build_exhibit(spec, out, settings=settings, render=chosen)
            if profiler is not None:
                profiler.disable()
            timings[name] = time.perf_counter() - start
            if profiler is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(args.profile / f"{name}.prof")

        for name in ("full", "noop"):
            timed(name)
        with Registry(settings) as registrar:
            registrar.session.use_sender(anvil_dev_account())
            if args.change == "revoke":
                registrar.terms.revoke(str(single.cid), community.keys, community.id)
            else:
                registrar.descriptions.describe(
                    "0x" + single.key.hex(), _description("Object 0, corrected"), community.keys
                )
        timed("one_change")
    assert len(results["full"].choice.shown) == count
    assert results["noop"].derived == 0
    changed = {s.candidate.key: s.candidate for s in results["one_change"].choice.shown}
    if args.change == "revoke":
        assert len(changed) == count - 1 and single.key not in changed
    else:
        corrected = changed[single.key].description
        assert len(changed) == count and corrected is not None
        assert corrected.text("title", ["en"]).text == "Object 0, corrected"  # type: ignore[union-attr]
        assert results["one_change"].recalled == count - 1
    result = {
        "items": count,
        "meshes": meshes,
        "change": args.change,
        "built_at": "clock" if args.clock else "SOURCE_DATE_EPOCH",
        "generated_seconds": round(generated, 1),
        "renderer": render_name,
        "full_seconds": round(timings["full"], 3),
        "noop_seconds": round(timings["noop"], 3),
        "one_change_seconds": round(timings["one_change"], 3),
        "items_per_s": round(count / timings["full"], 1),
        "rebuild_ratio": round(timings["noop"] / timings["full"], 4),
        "one_change_ratio": round(timings["one_change"] / timings["full"], 4),
        "cpus": os.cpu_count(),
    }
    print(f"{'build':<12} {'items':>6} {'seconds':>9} {'derived':>8} {'fetched':>8} stages")
    for name in ("full", "noop", "one_change"):
        r = results[name]
        stages = " ".join(f"{k}={v:.2f}" for k, v in r.timings.items())
        print(f"{name:<12} {count:>6} {timings[name]:>9.2f} {r.derived:>8} {r.fetched:>8} {stages}")
    result["stages"] = {name: dict(results[name].timings) for name in timings}
    print(f"no-op rebuild: {result['rebuild_ratio']} of the full build (target 0.02); "
          f"one change: {result['one_change_ratio']} (target 0.05)")  # fmt: skip
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
