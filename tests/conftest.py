"""Shared fixtures: a data directory, an embedded IPFS node, and apps served for real."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.types import ASGIApp

from api.ipfs_app import create_ipfs_app
from ledger.ipfs.backend import EmbeddedNode
from ledger.settings import Settings, load_settings


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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
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
