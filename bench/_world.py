"""What the benchmarks share (``make bench`` skips files whose names start with ``_``).

:func:`local_chain_settings` starts an anvil of its own on a free port over a temporary data
directory; :func:`bench_community` makes a 2-of-3 community on it (keystores written with
the light scrypt setting only tests and benchmarks use) and a terms file that allows public
display. Benchmarks run as ``python bench/NAME.py``, so this module is imported by its bare
name.
"""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contracts import load_artifact
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings, load_settings
from local_chain import REGISTRY_CONTRACT, anvil_dev_account, chain_down, chain_up

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
        "labels": ["tk:attribution"],
        "access": [{"protocol": "public"}],
        "ai_use": {"training": False, "enhancement": False},
    }


@contextmanager
def local_chain(prefix: str, *, fsync: bool = False) -> Iterator[tuple[Path, Settings]]:
    """(a temporary folder, settings whose data directory is in it) with the registry deployed
    on an anvil of their own, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"heritage-bench-{prefix}-") as tmp:
        root = Path(tmp)
        settings = load_settings(
            env={},
            data_dir=root / "data",
            rpc_url=f"http://127.0.0.1:{free_port()}",
            fsync=fsync,
        )
        chain_up(settings, load_artifact(REGISTRY_CONTRACT))
        try:
            yield root, settings
        finally:
            chain_down(settings)


@dataclass(frozen=True, slots=True)
class BenchCommunity:
    id: bytes
    keys: SignerKeys
    terms: Path  # public terms of the community


def bench_community(registrar: Registry, root: Path) -> BenchCommunity:
    """A 2-of-3 community named "bench", its signing keys and a public terms file in ``root``;
    ``registrar`` relays from anvil's dev account."""
    registrar.session.use_sender(anvil_dev_account())
    settings = registrar.settings
    holders = [new_key(settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(3)]
    keys = SignerKeys(settings, lambda _address: PASSPHRASE)
    community = registrar.communities.create("bench", holders, 2, keys).id
    terms = root / "terms.json"
    terms.write_text(json.dumps(public_terms(community)))
    return BenchCommunity(community, keys, terms)
