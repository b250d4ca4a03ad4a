"""What the HTTP API's tests share: the app served by uvicorn for a whole module, and signed
requests made as a client would make them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.http.auth import sign_request
from api.http.events import close_streams
from api.http.limits import ApiLimits
from api.listen import listening_socket
from ledger.settings import Settings

__all__ = ["get_json", "served_api", "signed_headers"]


@contextmanager
def served_api(
    settings: Settings,
    limits: ApiLimits | None = None,
    configure: Callable[[FastAPI], None] | None = None,
) -> Iterator[str]:
    """The API of ``settings`` under uvicorn on a free loopback port; its base URL.
    ``configure`` is given the app before it is served."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(settings, limits=limits)
    if configure is not None:
        configure(app)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        close_streams(app)  # open event streams end, so that uvicorn's shutdown does not wait
        server.should_exit = True
        thread.join(timeout=30)


def signed_headers(
    key: bytes,
    *,
    chain_id: int,
    method: str,
    path: str,
    community: bytes,
    body: bytes = b"",
    expiry: int | None = None,
    nonce: bytes | None = None,
) -> dict[str, Any]:
    """The X-Heritage-* headers of one request signed with ``key``."""
    return sign_request(
        key,
        chain_id=chain_id,
        method=method,
        path=path,
        body=body,
        community=community,
        nonce=nonce if nonce is not None else os.urandom(32),
        expiry=expiry if expiry is not None else int(time.time()) + 120,
    )


def get_json(client: httpx.Client, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, (path, response.text)
    return response.json()
