"""Helpers for tests that run a real anvil: free ports and chain settings."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from ledger.settings import Settings, load_settings


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a port from ``bind(0)`` could be
    handed to any other process's socket between this call and anvil's own bind."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, max(low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def chain_settings(data_dir: Path, port: int | None = None) -> Settings:
    """Settings for a local chain in ``data_dir`` on ``port`` (a free one by default)."""
    port = free_port() if port is None else port
    return load_settings(
        env={}, data_dir=data_dir, rpc_url=f"http://127.0.0.1:{port}", fsync=False
    )
