"""Shared fixtures: a data directory, an embedded IPFS node, apps served for real, and a real
anvil (one per session, ``anvil``, with the registry deployed; chains of a test's own).
The Hypothesis profiles (``HYPOTHESIS_PROFILE``) are in tests/hypothesis_profiles.py."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from starlette.types import ASGIApp
from web3 import Web3

from api.ipfs import create_ipfs_app
from api.listen import listening_socket
from contracts import Artifact, load_artifact, parse_artifact
from ledger.chain import connect
from ledger.errors import NotFound
from ledger.ipfs.backend import EmbeddedNode
from ledger.settings import Settings, load_settings
from local_chain import REGISTRY_CONTRACT, UpResult, chain_down, chain_up
from tests import hypothesis_profiles  # noqa: F401 (registers and loads the profile)
from tests.chain_support import chain_settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory (``HERITAGE_DATA_DIR``) for one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Settings over ``data_dir``, ignoring the environment; no fsync, to keep tests fast."""
    return load_settings(env={}, data_dir=data_dir, fsync=False)


@pytest.fixture
def embedded_node(settings: Settings) -> Iterator[EmbeddedNode]:
    node = EmbeddedNode.open(settings)
    yield node
    node.close()


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], str]]:
    """Run ASGI apps under uvicorn on 127.0.0.1 (a free port each, background threads);
    ``serve(app)`` returns the base URL. Every server stops when the test ends."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: ASGIApp) -> str:
        sock = listening_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread))
        for _ in range(500):
            if server.started:
                return f"http://127.0.0.1:{port}"
            if not thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("uvicorn did not start")

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def served_node(
    settings: Settings, embedded_node: EmbeddedNode, serve: Callable[[ASGIApp], str]
) -> str:
    """The IPFS app over ``embedded_node``, served for real; its base URL."""
    return serve(create_ipfs_app(settings, embedded_node))


REPO = Path(__file__).resolve().parents[1]
COUNTER_SOURCE = REPO / "tests" / "contracts" / "Counter.sol"


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
