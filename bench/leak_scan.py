"""Leak-scan throughput: MB/s of :func:`exhibits.scan.scan` over a generated site, by number
of secrets.

The site is ``--site-mib`` MiB (default 64; 16 with ``--quick``) of files as a build writes
them: HTML and JSON text (words, ids, CIDs of shown items) and binary derived files (random
bytes standing in for JPEG/PNG/GLB), none holding a secret. The secrets are excluded items,
each with a CID, an item key, a title and a file name (four text forms per item: title, file
name, its stem, and the key and CID forms), ``--items`` of them (default ``12,125,500``; an
item gives about four :class:`~exhibits.scan.Secret` values). Best of ``--runs`` (default 3)
after one warm-up scan (page cache warm). Prints a table, then one JSON object as the last line:
``{"site_mib": …, "results": [{"items": n, "secrets": m, "patterns": p, "mb_per_s": x}, …]}``.

    .venv/bin/python bench/leak_scan.py --quick
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from exhibits.scan import Secret, forbidden_forms, scan
from ledger.ipfs.cid import RAW, Cid

MiB = 1 << 20
_WORDS = ("reef", "waiata", "carving", "kete", "shell", "paddle", "net", "voice", "tide",
          "anchor", "Ngā", "Pō", "whakapapa", "mōteatea", "te", "o", "the", "of", "&amp;",
          "<p>", "</p>", '"title":', "Kōrero")  # fmt: skip


def _text(rng: random.Random, size: int) -> bytes:
    parts: list[str] = []
    total = 0
    while total < size:
        if rng.random() < 0.05:
            word = "0x" + rng.randbytes(32).hex()
        elif rng.random() < 0.03:
            word = str(Cid.for_block(rng.randbytes(8), RAW))
        else:
            word = rng.choice(_WORDS)
        parts.append(word)
        total += len(word.encode()) + 1
    return " ".join(parts).encode()[:size]


def make_site(folder: Path, mib: int, seed: int = 1) -> int:
    """A site of ``mib`` MiB: a third text files, two thirds binary; returns its bytes."""
    rng = random.Random(seed)
    total = 0
    number = 0
    while total < mib * MiB:
        number += 1
        item = folder / "items" / f"0x{number:064x}"
        (item / "files").mkdir(parents=True)
        page = _text(rng, 40_000)
        blob = rng.randbytes(rng.randint(100_000, 1_500_000))
        (item / "index.html").write_bytes(page)
        (item / "files" / "image.jpg").write_bytes(blob)
        total += len(page) + len(blob)
    (folder / "search.json").write_bytes(_text(rng, 2 * MiB))
    return total + 2 * MiB


def secrets_for(items: int, seed: int = 2) -> list[Secret]:
    rng = random.Random(seed)
    secrets: list[Secret] = []
    for number in range(items):
        label = f"excluded item {number}"
        secrets += [
            Secret.cid(label, Cid.for_block(rng.randbytes(16), RAW)),
            Secret.key(label, rng.randbytes(32)),
            Secret.text(label, f"Sacred song {rng.getrandbits(40):x} of the Ōtaki reef"),
            *Secret.file_name(label, f"masters/ceremony_{rng.getrandbits(40):x}.wav"),
        ]
    return secrets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--site-mib", type=int, default=None)
    parser.add_argument("--items", default="12,125,500")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mib = args.site_mib or (16 if args.quick else 64)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        size = make_site(site, mib)
        for items in (int(n) for n in args.items.split(",")):
            secrets = secrets_for(items)
            patterns = sum(len(forbidden_forms(s)) for s in secrets)
            assert scan(site, secrets) == []  # warm-up, and the site is clean
            best = min(_timed(site, secrets) for _ in range(args.runs))
            rate = size / best / 1e6
            results.append({"items": items, "secrets": len(secrets), "patterns": patterns,
                            "seconds": round(best, 3), "mb_per_s": round(rate, 1)})  # fmt: skip
            print(f"{items:6d} items {len(secrets):6d} secrets {patterns:7d} patterns "
                  f"{best:8.3f} s {rate:8.1f} MB/s")  # fmt: skip
    print(json.dumps({"site_mib": round(size / MiB, 1), "results": results}))


def _timed(site: Path, secrets: list[Secret]) -> float:
    start = time.perf_counter()
    scan(site, secrets)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
