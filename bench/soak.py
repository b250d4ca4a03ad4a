"""A bounded soak: ``--cycles`` add → pin → register → build cycles on a chain and node of
its own, then a check of what they left behind.

Starts an anvil of its own (temporary data directory, free port, fsync on as in use), makes a
2-of-3 community, and runs each cycle on a new image: **add** it to the embedded IPFS node
(unpinned), **pin** it, **register** it as an item under public terms (one transaction, its
metadata and terms stored and pinned; the CID must be the one added), **build** an exhibit of
that item into the same site folder (the build replaces the previous one). The process's
temporary folder is one of the run's own (``TMPDIR``), so that what it leaves there is known.

Every ``--every`` cycles (1,000; a quarter of the run when it is shorter than 4,000) it
prints the resident memory (RSS), its growth since the first window, and each stage's p50 and
p99 over the window (and the p50 of each of the build's own stages, in the JSON). At the end:
corrupt blocks (every block of the node's store re-hashed; target 0), leftover temporary files
in the data directory, beside the site and in the temporary folder (target 0), and, as ratios
to the same run's first window, the last window's p99 of each stage and its RSS. Last line
JSON; exit 1 when a block is corrupt or a temporary file is left.

    .venv/bin/python bench/soak.py --quick          # 30 cycles
    .venv/bin/python bench/soak.py                  # 1,000 cycles: 10 to 20 minutes here
    .venv/bin/python bench/soak.py --cycles 5000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from _world import bench_community, local_chain
from PIL import Image

#: The stages of a cycle, in order.
STAGES: Final = ("add", "pin", "register", "build")
#: Names that temporary files and folders of the data directory and the builds carry
#: (ledger/ipfs/blockstore.py, ledger/keys.py, ledger/chain/*, exhibits/*).
TEMPORARY_MARKS: Final = (".tmp", ".building", ".old", ".scan", ".staging-", ".entry-", ".w-")


def rss_bytes() -> int:
    """This process's resident memory (Linux /proc; 0 where there is none)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def leftovers(*folders: Path) -> list[Path]:
    """Every temporary file under ``folders``, and every temporary folder but the
    blockstore's standing staging folder (``blocks/.tmp``, empty between writes): by the names
    they are made with."""
    found = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            parts = path.relative_to(folder).parts
            if not any(mark in part for part in parts for mark in TEMPORARY_MARKS):
                continue
            if path.is_dir() and path.name == ".tmp" and path.parent.name == "blocks":
                continue
            found.append(path)
    return found


def image(path: Path, n: int) -> Path:
    """A small PNG no other cycle makes (its pixels spell ``n``)."""
    picture = Image.new("RGB", (16, 16), (n % 251, (n // 251) % 251, 90))
    picture.putpixel((0, 0), (n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF))
    picture.save(path)
    return path


def window_report(index: int, done: int, times: dict[str, list[float]], rss: int,
                  first_rss: int) -> dict[str, Any]:  # fmt: skip
    return {
        "window": index,
        "cycles": done,
        "rss_mb": round(rss / 2**20, 1),
        "rss_growth_mb": round((rss - first_rss) / 2**20, 1),
        "p50_ms": {s: round(quantile(times[s], 0.5) * 1000, 1) for s in STAGES},
        "p99_ms": {s: round(quantile(times[s], 0.99) * 1000, 1) for s in STAGES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="30 cycles")
    parser.add_argument("--cycles", type=int, default=None, help="cycles to run (1000)")
    parser.add_argument(
        "--every", type=int, default=None, help="cycles per report (1000; a quarter of fewer)"
    )
    args = parser.parse_args(argv)
    cycles = args.cycles or (30 if args.quick else 1000)
    # At least four windows, so that the last is compared with a first that is not itself.
    every = args.every or (1000 if cycles >= 4000 else max(1, cycles // 4))
    if min(cycles, every) <= 0:
        parser.error("--cycles and --every must be positive")
    every = min(every, cycles)

    with local_chain("soak", fsync=True) as (root, settings):
        scratch = root / "tmp"
        scratch.mkdir()
        os.environ["TMPDIR"] = str(scratch)
        tempfile.tempdir = str(scratch)
        # Imported here: --help needs none of it.
        from exhibits.build import build_exhibit
        from exhibits.spec import parse_spec
        from ledger.documents import DEFAULT_IMPORT
        from ledger.ipfs.backend import EmbeddedNode
        from ledger.registry import Registry

        files = root / "files"
        files.mkdir()
        site = root / "sites" / "soak"
        site.parent.mkdir()
        windows: list[dict[str, Any]] = []
        times: dict[str, list[float]] = {s: [] for s in STAGES}
        laps: dict[str, list[float]] = {}  # the build's own stages (BuildResult.timings)
        started = time.monotonic()
        first_rss = 0
        with Registry(settings) as registrar:
            community = bench_community(registrar, root)
            node = registrar.node
            for n in range(cycles):
                path = image(files / f"soak-{n}.png", n)
                t0 = time.perf_counter()
                (entry,) = node.add_path(path, DEFAULT_IMPORT, pin=False)
                t1 = time.perf_counter()
                node.pin_add(entry.cid)
                t2 = time.perf_counter()
                (item,) = registrar.items.register(
                    [path], community.id, community.terms, community.keys
                )
                t3 = time.perf_counter()
                if str(item.cid) != str(entry.cid):
                    raise SystemExit(f"cycle {n}: registered {item.cid}, added {entry.cid}")
                spec = parse_spec(
                    f'title = "Soak {n}"\nlanguages = ["en"]\n'
                    f'[select]\ncommunities = ["0x{community.id.hex()}"]\n'
                    f'items = ["0x{item.key.hex()}"]\n'
                )
                result = build_exhibit(spec, site, settings=settings)
                t4 = time.perf_counter()
                if len(result.choice.shown) != 1:
                    raise SystemExit(
                        f"cycle {n}: the build showed {len(result.choice.shown)} items"
                    )
                path.unlink()
                for lap, took in result.timings.items():
                    laps.setdefault(lap, []).append(took)
                for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    times[stage].append(took)
                if (n + 1) % every == 0 or n + 1 == cycles:
                    rss = rss_bytes()
                    if not windows:
                        first_rss = rss
                    report = window_report(len(windows), n + 1, times, rss, first_rss)
                    report["build_p50_ms"] = {
                        lap: round(quantile(laps[lap], 0.5) * 1000, 1) for lap in laps
                    }
                    windows.append(report)
                    print(
                        f"{n + 1} cycles ({time.monotonic() - started:.0f} s): "
                        f"RSS {report['rss_mb']} MB (+{report['rss_growth_mb']}); p99 ms "
                        + ", ".join(f"{s} {report['p99_ms'][s]}" for s in STAGES),
                        flush=True,
                    )
                    times, laps = {s: [] for s in STAGES}, {}
            if not isinstance(node, EmbeddedNode):
                raise SystemExit("the soak runs on the embedded node (HERITAGE_IPFS unset)")
            corrupt = node.verify()
            pins = len(registrar.node.pin_ls())
        left = leftovers(settings.data_dir, site.parent, scratch)
        left += [p for p in scratch.iterdir() if p not in left]
    first, last = windows[0], windows[-1]
    result_json = {
        "benchmark": "soak",
        "cycles": cycles,
        "seconds": round(time.monotonic() - started, 1),
        "corrupt_blocks": len(corrupt),
        "leftover_temp_files": len(left),
        "pins": pins,
        "rss_mb": last["rss_mb"],
        "rss_growth_mb": last["rss_growth_mb"],
        "rss_ratio": round(last["rss_mb"] / first["rss_mb"], 3) if first["rss_mb"] else None,
        "p99_ms": last["p99_ms"],
        "p99_ratio": {
            s: round(last["p99_ms"][s] / first["p99_ms"][s], 3) if first["p99_ms"][s] else None
            for s in STAGES
        },
        "windows": windows,
    }
    for path in left[:20]:
        print(f"left behind: {path}", file=sys.stderr)
    for bad in corrupt[:20]:
        print(f"corrupt block: {bad}", file=sys.stderr)
    print(
        f"{cycles} cycles: {len(corrupt)} corrupt blocks, {len(left)} temporary files left, "
        f"RSS +{last['rss_growth_mb']} MB since the first window"
    )
    print(json.dumps(result_json, sort_keys=True))
    return 0 if not corrupt and not left else 1


if __name__ == "__main__":
    sys.exit(main())
