"""Listing time (``heritage item list``'s core) over the bare reads it cannot avoid.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community and registers ``--items`` small files with descriptions (in
batches of 100, and a tenth of them alone), then, interleaved, best of ``--runs``:

* bare: one ``SELECT`` of every registration from the index file and one ``block_get`` of
  each item's metadata document from the node (what any listing must read; the baseline);
* list: :meth:`ledger.registry.listing.Listing.items` of everything with a fresh
  :class:`Listing` (index synced, one query, terms, names, metadata and descriptions read
  and parsed, batches opened, every item's row built);
* warm: the same with one :class:`Listing` kept across runs (a server's): its parsed
  documents and checked descriptions are reused, the index is still synced and queried;
* page: the same as list with ``--limit 20`` (only the page's metadata is read);
* search: a search that matches one item (every public item's text read and folded).

Prints a table, then one JSON object as the last line; ``ratio`` is list ÷ bare: the
listing parses and checks against the description schema what the baseline only reads,
and the schema check is most of its time (measured: about 8 on 200 items); ``ratio_warm``
warm ÷ bare (target ≤ 2), ``ratio_page`` page ÷ bare (target ≤ 2).

    .venv/bin/python bench/listing.py --quick
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _world import bench_community, local_chain

from ledger.documents import document_cid
from ledger.index import index_path
from ledger.registry import Registry
from ledger.rights.description import description_from_json

BATCH = 100


def _describe(i: int) -> object:
    return description_from_json(
        {
            "type": "heritage/description",
            "version": 1,
            "title": {"en": f"Object number {i}", "mi": f"Taonga {i}"},
            "subjects": ["bench", f"series {i % 7}"],
        }
    )


def _register(registrar: Registry, root: Path, count: int) -> None:
    community = bench_community(registrar, root)
    files = root / "files"
    files.mkdir()
    paths = []
    for i in range(count):
        path = files / f"object-{i}.txt"
        path.write_text(f"bench object {i}\n")
        paths.append(path)
    alone = max(1, count // 10)
    registrar.items.register(
        paths[:alone], community.id, community.terms, community.keys,
        descriptions=[_describe(i) for i in range(alone)],  # type: ignore[misc]
    )  # fmt: skip
    for start in range(alone, count, BATCH):
        chunk = paths[start : start + BATCH]
        registrar.items.register_batch(
            chunk, community.id, community.terms, community.keys,
            descriptions=[_describe(start + i) for i in range(len(chunk))],  # type: ignore[misc]
        )  # fmt: skip


def _bare(registrar: Registry) -> Callable[[], int]:
    path = index_path(registrar.settings)

    def run() -> int:
        db = sqlite3.connect(path)
        try:
            singles = db.execute(
                "SELECT metadata FROM item_registered UNION ALL "
                "SELECT metadata FROM derivative_registered"
            ).fetchall()
            batches = db.execute("SELECT manifest FROM batch_registered").fetchall()
        finally:
            db.close()
        node = registrar.node
        digests = [bytes(d) for (d,) in singles]
        for (manifest,) in batches:  # the items of a batch: their metadata, as listed
            document = json.loads(node.block_get(document_cid(bytes(manifest))))
            digests += [bytes.fromhex(v["value"][1][2:]) for v in document["tree"]["values"]]
        return sum(len(node.block_get(document_cid(d))) for d in digests)

    return run


def _best(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 items, 3 runs")
    args = parser.parse_args(argv)
    count, runs = (200, 3) if args.quick else (args.items, args.runs)
    from ledger.registry.listing import Listing, item_query  # once parsed: --help needs none

    with local_chain("listing") as (root, settings), Registry(settings) as registrar:
        _register(registrar, root, count)
        bare = _bare(registrar)

        def listed(**query: object) -> Callable[[], int]:
            def run() -> int:
                return Listing(registrar.reader).items(item_query(**query)).total  # type: ignore[arg-type]

            return run

        assert listed()() == count and listed(search="number 7 taonga")() >= 1
        kept = Listing(registrar.reader)
        kept.items(item_query())

        def warm() -> int:
            return kept.items(item_query()).total

        timings = {"bare": 0.0, "list": 0.0, "warm": 0.0, "page": 0.0, "search": 0.0}
        works = {"bare": bare, "list": listed(), "warm": warm, "page": listed(limit=20),
                 "search": listed(search="Object number 17")}  # fmt: skip
        for _ in range(runs):  # interleaved: each round measures every variant once
            for name, work in works.items():
                took = _best(1, work)
                timings[name] = took if not timings[name] else min(timings[name], took)
    print(f"{'variant':<8} {'seconds':>9}  ({count} items, best of {runs})")
    for name, took in timings.items():
        print(f"{name:<8} {took:9.4f}")
    result = {
        "bench": "listing",
        "items": count,
        "bare_s": round(timings["bare"], 5),
        "list_s": round(timings["list"], 5),
        "warm_s": round(timings["warm"], 5),
        "page_s": round(timings["page"], 5),
        "search_s": round(timings["search"], 5),
        "ratio": round(timings["list"] / timings["bare"], 3),
        "ratio_warm": round(timings["warm"] / timings["bare"], 3),
        "ratio_page": round(timings["page"] / timings["bare"], 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
