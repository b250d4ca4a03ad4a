"""Items per second registered end to end (CID, pin, chain): one transaction per item against
one batch (a Merkle root) for all of them.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community (keystores made at run time, with the light scrypt setting that
only tests and benchmarks use) and registers 1,000 small files (100 with ``--quick``) twice,
each time from fresh files through :class:`ledger.registry.Registry`, exactly as
``heritage item register`` does: import into the embedded IPFS node, metadata and terms
documents as raw blocks, pins, EIP-712 signatures, transactions relayed by anvil's dev
account and waited for. The baseline is the single registrations; the ratio is batched over
single. fsync is on, as by default (``--no-fsync`` turns it off).
Prints a table, then one JSON object as the last line.

    .venv/bin/python bench/register_throughput.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from _world import bench_community, local_chain

from ledger.registry import Registry


def write_files(folder: Path, count: int, rng: random.Random) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"object-{i:05d}.json"
        path.write_bytes(
            json.dumps(
                {"accession": f"{folder.name}-{i}", "noise": rng.randbytes(200).hex()}
            ).encode()
        )
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 files instead of 1,000")
    parser.add_argument("--items", type=int, default=None, help="number of files (overrides)")
    parser.add_argument("--no-fsync", action="store_true", help="skip fsync (not the default)")
    args = parser.parse_args()
    count = args.items or (100 if args.quick else 1000)
    rng = random.Random(4)
    with (
        local_chain("register", fsync=not args.no_fsync) as (root, settings),
        Registry(settings) as registrar,
    ):
        community = bench_community(registrar, root)
        singles = write_files(root / "single", count, rng)
        batched = write_files(root / "batch", count, rng)

        start = time.perf_counter()
        registered = registrar.items.register(
            singles, community.id, community.terms, community.keys
        )
        single_seconds = time.perf_counter() - start
        assert len(registered) == count

        start = time.perf_counter()
        batch = registrar.items.register_batch(
            batched, community.id, community.terms, community.keys
        )
        batch_seconds = time.perf_counter() - start
        assert len(batch.items) == count
        single_gas = sum(r.tx.gas_used for r in registered if r.tx is not None)
        batch_gas = batch.tx.gas_used
    single_rate = count / single_seconds
    batch_rate = count / batch_seconds
    result = {
        "items": count,
        "fsync": not args.no_fsync,
        "single_seconds": round(single_seconds, 3),
        "single_items_per_second": round(single_rate, 1),
        "batch_seconds": round(batch_seconds, 3),
        "batch_items_per_second": round(batch_rate, 1),
        "ratio_batch_over_single": round(batch_rate / single_rate, 2),
        "single_gas_per_item": single_gas // count,
        "batch_gas_per_item": batch_gas // count,
        "cpus": os.cpu_count(),
    }
    print(f"{'mode':<8} {'items':>6} {'seconds':>9} {'items/s':>9} {'gas/item':>9}")
    print(
        f"{'single':<8} {count:>6} {single_seconds:>9.2f} {single_rate:>9.1f} "
        f"{result['single_gas_per_item']:>9}"
    )
    print(
        f"{'batch':<8} {count:>6} {batch_seconds:>9.2f} {batch_rate:>9.1f} "
        f"{result['batch_gas_per_item']:>9}"
    )
    print(f"batched is {result['ratio_batch_over_single']}x the single-registration rate")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
