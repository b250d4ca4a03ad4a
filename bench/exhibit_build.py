"""Exhibit build time: a full build, a no-op rebuild, and a rebuild after one item changes.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community, registers 1,000 generated images (100 with ``--quick``) as one
batch under public terms, then times :func:`exhibits.build.build_exhibit` three times into
the same folder: the full build (every image derived), a rebuild with nothing changed (every
derivation from the cache), and a rebuild after one item changed (its terms revoked, so it
leaves the site). Each build gathers and checks every claim's evidence, renders and scans the
whole site. The site renderer is :func:`exhibits.site.render.render_site`; while it is not
there yet, a minimal stand-in that writes each item's derived files and an index (reported as
``"renderer": "stand-in"``). Prints a table, then one JSON object as the last line:
``items_per_s`` (full build), ``rebuild_ratio`` (no-op rebuild ÷ full build; target ≤ 0.02)
and ``one_change_ratio`` (one-change rebuild ÷ full build; target ≤ 0.05).

    .venv/bin/python bench/exhibit_build.py --quick
"""

from __future__ import annotations

import argparse
import io
import json
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
from local_chain import anvil_dev_account

if TYPE_CHECKING:
    from exhibits.build import Render
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


def renderer() -> tuple[Render, str]:
    """The real renderer when it renders (tried on an empty exhibit), else the stand-in."""
    from exhibits.model import ChainRef
    from exhibits.site.render import render_site
    from exhibits.spec import parse_spec

    spec = parse_spec('title = "t"\nlanguages = ["en"]\n[select]\ncommunities = ["x"]\n')
    with tempfile.TemporaryDirectory() as empty:
        try:
            render_site(spec, [], [], ChainRef(1, "0x" + "00" * 20), Path(empty),
                        built_at=datetime.fromtimestamp(0, UTC))  # fmt: skip
        except NotImplementedError:
            return standin, "stand-in"
    return render_site, "render_site"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 items instead of 1,000")
    parser.add_argument("--items", type=int, default=None, help="number of items (overrides)")
    args = parser.parse_args()
    # Imported after the arguments are read: --help needs none of the build.
    from exhibits.build import build_exhibit
    from exhibits.spec import parse_spec

    count = args.items or (100 if args.quick else 1000)
    rng = random.Random(12)
    render, render_name = renderer()
    with local_chain("exhibit") as (root, settings):
        with Registry(settings) as registrar:
            community = bench_community(registrar, root)
            batch = registrar.items.register_batch(
                write_images(root / "images", count, rng), community.id, community.terms,
                community.keys,
            )  # fmt: skip
        selected = f'communities = ["0x{community.id.hex()}"]'
        spec = parse_spec(f'title = "Bench"\nlanguages = ["en"]\n[select]\n{selected}\n')
        out = root / "site"
        timings: dict[str, float] = {}
        results = {}
        for name in ("full", "noop"):
            start = time.perf_counter()
            results[name] = build_exhibit(spec, out, settings=settings, render=render)
            timings[name] = time.perf_counter() - start
        with Registry(settings) as registrar:
            registrar.session.use_sender(anvil_dev_account())
            registrar.terms.revoke(str(batch.items[0].cid), community.keys, community.id)
        start = time.perf_counter()
        results["one_change"] = build_exhibit(spec, out, settings=settings, render=render)
        timings["one_change"] = time.perf_counter() - start
    assert len(results["full"].choice.shown) == count
    assert results["noop"].derived == 0
    assert len(results["one_change"].choice.shown) == count - 1
    result = {
        "items": count,
        "renderer": render_name,
        "full_seconds": round(timings["full"], 3),
        "noop_seconds": round(timings["noop"], 3),
        "one_change_seconds": round(timings["one_change"], 3),
        "items_per_s": round(count / timings["full"], 1),
        "rebuild_ratio": round(timings["noop"] / timings["full"], 4),
        "one_change_ratio": round(timings["one_change"] / timings["full"], 4),
        "cpus": os.cpu_count(),
    }
    print(f"{'build':<12} {'items':>6} {'seconds':>9} {'derived':>8}")
    for name in ("full", "noop", "one_change"):
        print(f"{name:<12} {count:>6} {timings[name]:>9.2f} {results[name].derived:>8}")
    print(f"no-op rebuild: {result['rebuild_ratio']} of the full build (target 0.02); "
          f"one change: {result['one_change_ratio']} (target 0.05)")  # fmt: skip
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
