"""Model poster time: one poster of a 150,000-face mesh, against numpy in the same run.

Makes a bumpy torus of 150,000 faces (trimesh; the default face budget of a model item) with
smooth normals, and times :func:`exhibits.derive.raster.poster_png` at the default poster size
(1,024 px, 2x supersampled) and, apart, its two stages: :func:`render_poster` (rasterising and
shading) and the PNG encoding. The baseline is numpy work on the same mesh, so machines and
loads compare: ``vertex_matmul_s``, the vertex array (n, 3) times a 3 x 3 matrix done
``--baseline-repeats`` times. Each figure is the best of ``--repeats`` runs, in CPU seconds of
this process (``time.process_time``: less swayed by other work on a shared machine than the
wall clock; the wall clock's figures are given too).

Prints a line per figure, then one JSON object as the last line: ``poster_s``,
``render_s``, ``png_s``, ``faces``, ``poster_ratio`` (poster ÷ baseline) and the wall-clock
figures.

    .venv/bin/python bench/poster.py
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Callable

import numpy as np


def _best(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best CPU seconds, best wall seconds) of ``repeats`` runs of ``action``."""
    cpu, wall = float("inf"), float("inf")
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        action()
        cpu = min(cpu, time.process_time() - c)
        wall = min(wall, time.perf_counter() - w)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1024, help="poster pixels (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each figure (best kept)")
    parser.add_argument("--baseline-repeats", type=int, default=200,
                        help="matrix products in one baseline run (default 200)")  # fmt: skip
    args = parser.parse_args()
    import trimesh

    from exhibits.derive.raster import POSTER_PNG_LEVEL, PosterMesh, poster_png, render_poster

    logging.getLogger("trimesh").setLevel(logging.CRITICAL)  # no scipy: noisy, same result
    torus = trimesh.creation.torus(
        major_radius=1.0, minor_radius=0.4, major_sections=500, minor_sections=150
    )
    rng = np.random.default_rng(12)
    vertices = np.asarray(torus.vertices) * (1 + rng.normal(0, 0.02, (len(torus.vertices), 1)))
    faces = np.asarray(torus.faces, dtype=np.int64)
    normals = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
    mesh = PosterMesh(vertices, faces, np.tile([0.8, 0.6, 0.4, 1.0], (len(faces), 1)),
                      normals=normals)  # fmt: skip
    matrix = rng.normal(0, 1, (3, 3))

    def baseline() -> None:
        for _ in range(args.baseline_repeats):
            vertices @ matrix

    image = render_poster([mesh], args.size)

    def encode() -> None:
        image.save(io.BytesIO(), format="PNG", optimize=False, compress_level=POSTER_PNG_LEVEL)

    first = poster_png([mesh], args.size)
    assert first == poster_png([mesh], args.size)  # deterministic
    base_cpu, base_wall = _best(baseline, args.repeats)
    poster_cpu, poster_wall = _best(lambda: poster_png([mesh], args.size), args.repeats)
    render_cpu, _ = _best(lambda: render_poster([mesh], args.size), args.repeats)
    png_cpu, _ = _best(encode, args.repeats)
    result = {
        "faces": len(faces),
        "size": args.size,
        "poster_s": round(poster_cpu, 3),
        "render_s": round(render_cpu, 3),
        "png_s": round(png_cpu, 3),
        "vertex_matmul_s": round(base_cpu, 4),
        "poster_ratio": round(poster_cpu / base_cpu, 1),
        "poster_wall_s": round(poster_wall, 3),
        "vertex_matmul_wall_s": round(base_wall, 4),
        "png_bytes": len(first),
    }
    print(
        f"poster of {len(faces):,} faces at {args.size} px: {poster_cpu:.3f} s CPU "
        f"(render {render_cpu:.3f} s, PNG {png_cpu:.3f} s); baseline {base_cpu:.4f} s"
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
