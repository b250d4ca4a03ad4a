"""The poster rasteriser against a plain one: triangle by triangle, pixel by pixel.

:func:`exhibits.derive.raster._rasterise` batches boxes of one shape and computes the edge
functions per row and per column; the reference here walks each triangle's pixel box one pixel
at a time with the textbook formulas (barycentric weights from edge functions, the nearest
face, and the lower index on equal depth). Both must pick the same face for every pixel:
batching is only a faster order of the same arithmetic. Poster bytes stay the same from run to
run (also tests/exhibits/test_derive_models.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from exhibits.derive import raster
from exhibits.derive.raster import PosterMesh, poster_png


def _reference(px: np.ndarray, depth: np.ndarray, size: int) -> np.ndarray:
    """The face drawn at each pixel, found one triangle and one pixel at a time."""
    levels = (1 << raster._DEPTH_BITS) - 1
    low, high = float(depth.min()), float(depth.max())
    scale = levels / ((high - low) or 1.0)
    best: dict[int, tuple[int, int]] = {}  # pixel -> (depth level, -face)
    for face in range(len(px)):
        (ax, ay), (bx, by), (cx_, cy_) = (tuple(map(float, p)) for p in px[face])
        area = (bx - ax) * (cy_ - ay) - (by - ay) * (cx_ - ax)
        if area == 0:
            continue
        inv = 1.0 / area
        for y in range(max(0, math.floor(min(ay, by, cy_))),
                       min(size, math.floor(max(ay, by, cy_)) + 1)):  # fmt: skip
            for x in range(max(0, math.floor(min(ax, bx, cx_))),
                           min(size, math.floor(max(ax, bx, cx_)) + 1)):  # fmt: skip
                sx, sy = x + 0.5, y + 0.5
                w0 = ((bx - sx) * (cy_ - sy) - (by - sy) * (cx_ - sx)) * inv
                w1 = ((cx_ - sx) * (ay - sy) - (cy_ - sy) * (ax - sx)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < 0 or w1 < 0 or w2 < 0:
                    continue
                z = w0 * float(depth[face, 0]) + w1 * float(depth[face, 1])
                z += w2 * float(depth[face, 2])
                level = min(max(round((z - low) * scale), 0), levels)
                candidate = (level, -face)
                pixel = y * size + x
                if pixel not in best or candidate > best[pixel]:
                    best[pixel] = candidate
    owner = np.full(size * size, -1, dtype=np.int64)
    for pixel, (_, face) in best.items():
        owner[pixel] = -face
    return owner


def _scene(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of every kind a mesh gives: small and many, a few larger than a tile, some
    partly or wholly off the image, degenerate ones, and coplanar twins (equal depth)."""
    rng = np.random.default_rng(seed)
    count = 120
    centres = rng.uniform(-0.1 * size, 1.1 * size, (count, 1, 2))
    px = centres + rng.normal(0, size / 20, (count, 3, 2))
    big = rng.uniform(-size, 2 * size, (4, 3, 2))
    line = np.repeat(rng.uniform(0, size, (2, 1, 2)), 3, axis=1)  # all three corners at one point
    px = np.concatenate([px, big, line, px[:6]])  # the last six: twins of the first six
    depth = rng.uniform(-1, 1, (len(px), 3))
    depth[-6:] = depth[:6]
    return px, depth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_rasterisation_picks_the_faces_the_plain_one_does(seed: int) -> None:
    size = 300  # larger than a tile: big triangles are split
    px, depth = _scene(seed, size)
    got = raster._rasterise(px, depth, size)
    want = _reference(px, depth, size)
    assert (want >= 0).sum() > size * size // 10  # the scene draws something worth comparing
    assert np.array_equal(got, want)
    twins = np.isin(got, np.arange(len(px) - 6, len(px)))
    assert not twins.any()  # on equal depth the lower index wins, whatever the order of work


def test_poster_bytes_are_the_same_each_run() -> None:
    rng = np.random.default_rng(7)
    vertices = rng.normal(0, 1, (300, 3))
    faces = rng.integers(0, 300, (500, 3)).astype(np.int64)
    mesh = PosterMesh(vertices, faces, np.tile([0.8, 0.5, 0.3, 1.0], (500, 1)))
    first = poster_png([mesh], 96)
    assert first == poster_png([mesh], 96)
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
