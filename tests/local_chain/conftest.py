"""A real anvil for tests: one per session (``anvil``), and chains of a test's own.

``anvil`` is meant to be shared by every test that needs a chain: it runs the pinned anvil
in a temporary data directory on a free port and deploys the registry when its artifact
exists. Move it to tests/conftest.py once tests outside this folder need it.
"""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from contracts import Artifact, load_artifact, parse_artifact
from ledger.errors import NotFound
from ledger.settings import Settings, load_settings
from local_chain import REGISTRY_CONTRACT, UpResult, chain_down, chain_up, connect

REPO = Path(__file__).resolve().parents[2]
COUNTER_SOURCE = REPO / "tests" / "contracts" / "Counter.sol"


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


def build_contracts(source_dir: Path) -> None:
    """Run the project's build script on a contracts directory of the test's own."""
    subprocess.run(
        ["node", str(REPO / "contracts" / "build.mjs"), "--dir", str(source_dir)],
        check=True,
        capture_output=True,
        cwd=REPO,
        timeout=300,
    )


@dataclass(frozen=True, slots=True)
class LocalChain:
    settings: Settings
    up: UpResult

    @property
    def rpc_url(self) -> str:
        return self.settings.rpc_url

    def web3(self) -> Web3:
        return connect(self.settings.rpc_url)


@pytest.fixture(scope="session")
def counter_artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """tests/contracts/Counter.sol compiled by contracts/build.mjs (a test-only contract)."""
    folder = tmp_path_factory.mktemp("counter-contracts")
    (folder / "Counter.sol").write_bytes(COUNTER_SOURCE.read_bytes())
    build_contracts(folder)
    text = (folder / "artifacts" / "Counter.json").read_text(encoding="utf-8")
    return parse_artifact("Counter", text)


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    """One anvil for the whole session, with the registry deployed if it has an artifact."""
    settings = chain_settings(tmp_path_factory.mktemp("anvil-session"))
    try:
        registry: Artifact | None = load_artifact(REGISTRY_CONTRACT)
    except NotFound:
        registry = None
    result = chain_up(settings, registry)
    try:
        yield LocalChain(settings, result)
    finally:
        chain_down(settings)


@pytest.fixture
def settings_for_chain() -> Callable[[Path], Settings]:
    """``settings_for_chain(data_dir)``: settings for a local chain there, on a free port."""
    return chain_settings


@pytest.fixture
def own_chain(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a chain of this test's own (not started); stopped when the test ends."""
    settings = chain_settings(tmp_path / "data")
    try:
        yield settings
    finally:
        chain_down(settings)
