"""Items per second registered end to end (CID, pin, chain): one transaction per item against
one batch (a Merkle root) for all of them.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community (keystores made at run time, with the light scrypt setting that
only tests and benchmarks use) and registers 1,000 small files (100 with ``--quick``) twice,
each time from fresh files through :class:`ledger.registration.Registrar`, exactly as
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
import socket
import sys
import tempfile
import time
from pathlib import Path

from contracts import load_artifact
from ledger.keys import new_key
from ledger.registration import Registrar, SignerKeys
from ledger.settings import load_settings
from local_chain import REGISTRY_CONTRACT, chain_down, chain_up

PASSPHRASE = "bench"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])



def public_terms(community: bytes) -> dict[str, object]:
    """Terms that allow public display (``heritage/terms`` version 1, docs/terms.md)."""
    return {
        "type": "heritage/terms",
        "version": 1,
        "community": "0x" + community.hex(),
        "license": "CC-BY-4.0",
        "access": [{"protocol": "public"}],
        "ai_use": {"training": False, "enhancement": False},
    }

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
    with tempfile.TemporaryDirectory(prefix="heritage-bench-register-") as tmp:
        root = Path(tmp)
        settings = load_settings(
            env={},
            data_dir=root / "data",
            rpc_url=f"http://127.0.0.1:{free_port()}",
            fsync=not args.no_fsync,
        )
        chain_up(settings, load_artifact(REGISTRY_CONTRACT))
        try:
            with Registrar(settings) as registrar:
                registrar.use_local_sender()
                holders = [
                    new_key(settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(3)
                ]
                keys = SignerKeys(settings, lambda _address: PASSPHRASE)
                community = registrar.create_community("bench", holders, 2, keys).id
                terms = root / "terms.json"
                terms.write_text(json.dumps(public_terms(community)))
                singles = write_files(root / "single", count, rng)
                batched = write_files(root / "batch", count, rng)

                start = time.perf_counter()
                registered = registrar.register(singles, community, terms, keys)
                single_seconds = time.perf_counter() - start
                assert len(registered) == count

                start = time.perf_counter()
                batch = registrar.register_batch(batched, community, terms, keys)
                batch_seconds = time.perf_counter() - start
                assert len(batch.items) == count
                single_gas = sum(r.tx.gas_used for r in registered if r.tx is not None)
                batch_gas = batch.tx.gas_used
        finally:
            chain_down(settings)
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
