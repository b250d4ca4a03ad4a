"""``heritage serve`` as a real process: it starts on an empty data directory with no chain,
answers /health and its OpenAPI document, and 503 for what needs the chain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_heritage_serve_starts_with_no_chain(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env |= {
        "HERITAGE_DATA_DIR": str(tmp_path / "data"),
        "HERITAGE_RPC_URL": f"http://127.0.0.1:{_free_port()}",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    with subprocess.Popen(
        [*command, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stderr is not None
            line = server.stderr.readline()
            assert f"api: http://127.0.0.1:{port}/" in line, line
            base = f"http://127.0.0.1:{port}"
            for _ in range(3000):  # until uvicorn has bound the port (or the process ended)
                assert server.poll() is None, server.stderr.read()
                try:
                    health = httpx.get(f"{base}/health", timeout=60)
                    break
                except httpx.ConnectError:
                    time.sleep(0.01)
            else:
                raise AssertionError("heritage serve never answered")
            assert health.json() == {"status": "ok", "chain": "down", "block": None}
            document = httpx.get(f"{base}/openapi.json", timeout=60).json()
            assert document["info"]["title"] == "Heritage Ledger API"
            items = httpx.get(f"{base}/items", timeout=60)
            assert items.status_code == 503
            assert items.json()["error"]["code"] == "chain_unavailable"
        finally:
            server.terminate()
            server.wait(timeout=30)
