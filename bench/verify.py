"""Verification time of a registered file over the time to compute its CID alone.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community (keystores made at run time with the light scrypt setting only
tests and benchmarks use) and registers one file of random bytes (100 MiB; 16 MiB with
``--quick``) with the registration default (CIDv1, raw leaves). Then, interleaved, best of
``--runs``:

* cid: ``ledger.ipfs.unixfs.import_file`` with the same settings, hashing only (the baseline);
* verify: :func:`ledger.verify.verify_online` on the bare file (hash, find the item, gather
  and check every event, signature and keyholder set, compare with the registry's record);
  on this near chain the head request is sent before the hashing and read after it, the
  item's reads are one JSON-RPC batch;
* verify --expect: the same with the expected CID given, so all the chain work runs while
  the file is hashed;
* verify --proofs: :func:`ledger.verify.verify_offline` from a proofs document (no chain).

The file is hashed once per verification. A long-running verifier keeps what cannot change:
raw transactions by hash, the open index, and one :class:`~ledger.verify.CheckCache` of the
checked keyholder histories and registrations; ``verify`` is measured so, as a server or an
exhibit build verifying many items runs it. ``verify (cold)`` is the same with a fresh
``Registry`` and a new ``CheckCache`` made before each run (outside the timing), as a new
process's first verification, once its imports are done.

Prints a table, then one JSON object as the last line; ``ratio`` is verify ÷ cid (target
≤ 1.1), ``ratio_cold`` the cold one. ``--breakdown`` also times the parts of the online path
one by one (best of ``--runs``, warm): where the milliseconds beyond the CID go. The digest
read is sent with the gathering and its answer read after the check, so the two overlap.

    .venv/bin/python bench/verify.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _world import bench_community, local_chain
from cid_throughput import make_random_file

from ledger.documents import DEFAULT_IMPORT
from ledger.ipfs.unixfs import import_file
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.verify import (
    CheckCache,
    Status,
    assess,
    gather,
    parse_proofs,
    proofs_document,
    verify_offline,
    verify_online,
)
from ledger.verify.gather import gather_on, open_chain

MiB = 1 << 20
TARGET = 1.1


def best(runs: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best time of each function, the functions interleaved run by run."""
    times: dict[str, float] = {name: float("inf") for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def cold(settings: Settings, path: Path, runs: int) -> float:
    """Best time of a verification by a Registry made just before it, with no check made."""
    fastest = float("inf")
    for _ in range(runs):
        with Registry(settings) as fresh:
            checks = CheckCache()
            start = time.perf_counter()
            status = verify_online(fresh.reader, str(path), cache=checks).status
            fastest = min(fastest, time.perf_counter() - start)
        assert status is Status.VERIFIED, status
    return fastest


def breakdown(
    registrar: Registry, cid: str, runs: int, checks: CheckCache
) -> dict[str, float]:
    """The online path's parts, each alone (best of ``runs``), as a bare file on a near chain
    goes through them: the head request (sent before the hashing, read after it), then what
    follows the CID."""
    with registrar.session.event_index(sync=False) as index:
        view = open_chain(registrar.reader, index)
        gathered = gather_on(registrar.reader, index, view, [cid])
        gathered.stored()
        key = gathered.evidence.items[0].key
        return best(
            runs,
            {
                "head request, sync only if behind": lambda: open_chain(registrar.reader, index),
                "after: index, documents, evidence": lambda: gather_on(
                    registrar.reader, index, view, [cid]
                ),
                "after: the stored-digest read": lambda: registrar.client.read_many(
                    [key], [], block=view.block
                ),
                "after: assess (the pure check)": lambda: assess(
                    gathered.evidence, key, checks
                ),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="16 MiB instead of 100 MiB")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (best kept)")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the online path's parts alone"
    )
    args = parser.parse_args()
    size = (16 if args.quick else 100) * MiB
    with local_chain("verify") as (root, settings), Registry(settings) as registrar:
        community = bench_community(registrar, root)
        path = root / "scan.tif"
        make_random_file(path, size)
        (registered,) = registrar.items.register(
            [path], community.id, community.terms, community.keys
        )
        cid = str(registered.cid)
        checks = CheckCache()  # kept by the verifier from one verification to the next
        evidence = parse_proofs(
            json.loads(json.dumps(proofs_document(gather(registrar.reader, [cid]), checks))),
            cache=checks,
        )

        def check(status: Status) -> None:
            assert status is Status.VERIFIED, status

        times = best(
            args.runs,
            {
                "cid": lambda: import_file(path, DEFAULT_IMPORT),
                "verify": lambda: check(
                    verify_online(registrar.reader, str(path), cache=checks).status
                ),
                "verify --expect": lambda: check(
                    verify_online(registrar.reader, str(path), expect=cid, cache=checks).status
                ),
                "verify --proofs": lambda: check(
                    verify_offline(evidence, path=path, cache=checks).status
                ),
            },
        )
        times["verify (cold)"] = cold(settings, path, args.runs)
        parts = breakdown(registrar, cid, args.runs, checks) if args.breakdown else {}
    base = times["cid"]
    print(f"{'what':<17} {'seconds':>9} {'MiB/s':>9} {'÷ cid':>7}")
    for name, seconds in times.items():
        print(f"{name:<17} {seconds:>9.4f} {size / MiB / seconds:>9.1f} {seconds / base:>7.2f}")
    ratio = times["verify"] / base
    print(f"verify takes {ratio:.2f}x the time of the CID alone (target ≤ {TARGET})")
    for name, seconds in parts.items():
        print(f"  {name:<36} {seconds * 1e3:7.2f} ms {seconds / base:7.3f} of the CID's time")
    result = {
        "file_mib": size // MiB,
        "runs": args.runs,
        "cid_seconds": round(base, 4),
        "verify_seconds": round(times["verify"], 4),
        "verify_expect_seconds": round(times["verify --expect"], 4),
        "verify_proofs_seconds": round(times["verify --proofs"], 4),
        "verify_cold_seconds": round(times["verify (cold)"], 4),
        "ratio": round(ratio, 3),
        "ratio_expect": round(times["verify --expect"] / base, 3),
        "ratio_proofs": round(times["verify --proofs"] / base, 3),
        "ratio_cold": round(times["verify (cold)"] / base, 3),
        "target": TARGET,
        "cpus": os.cpu_count(),
        "breakdown_ms": {name: round(seconds * 1e3, 3) for name, seconds in parts.items()},
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
