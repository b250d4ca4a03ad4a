"""The HTTP API app: ``create_app(settings) -> FastAPI`` (served by ``heritage serve``).

It starts on any data directory, empty included, and with no chain running: each operation
that needs the chain then answers 503 ``chain_unavailable``, and works once the chain is up.
Every error is ``{"error": {"code", "message", "hint"}}`` with the CLI's codes; the OpenAPI
document (``/openapi.json``) declares every status each operation can answer. See docs/api.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from api.http import catalog, consent, events, verify
from api.http import exhibits as exhibit_builds
from api.http.auth import NonceStore
from api.http.errors import error_responses, install_error_handlers
from api.http.limits import ApiLimits, Limits
from api.http.schemas import Health
from api.http.service import Service
from api.http.signin import SessionStore
from api.web import login, pages
from ledger.errors import HeritageError
from ledger.settings import Settings

__all__ = ["ApiLimits", "create_app"]

VERSION = "1"


def create_app(
    settings: Settings,
    *,
    limits: ApiLimits | None = None,
    exhibits: Path | None = None,
    sender: Any = None,
) -> FastAPI:
    """The API over ``settings``' data directory, chain and IPFS node; exhibit builds go to
    ``exhibits`` (default: ``<data dir>-exhibits`` beside the data directory); ``sender`` (an
    eth_account LocalAccount) pays for transactions (default: anvil's dev account on a local
    development chain, none elsewhere)."""
    service = Service(settings, exhibits, sender)
    nonces = NonceStore(settings.data_dir / "api-nonces.sqlite")
    sessions = SessionStore(settings.data_dir / "api-sessions.sqlite")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            events.close_streams(_app)
            service.close()
            nonces.close()
            sessions.close()

    app = FastAPI(
        title="Heritage Ledger API",
        version=VERSION,
        description="Provenance and rights of digitised cultural heritage: communities, items, "
        "terms, verification, events and exhibits. Public data is open to read; writes and "
        "non-public reads need a request signed by a community keyholder (docs/api.md).",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.nonces = nonces
    app.state.sessions = sessions
    install_error_handlers(app)

    @app.get(
        "/health",
        response_model=Health,
        summary="Whether the API answers, and whether the chain does",
        responses=error_responses(),
        tags=["health"],
    )
    async def health(request: Request) -> dict[str, Any]:
        def work() -> int | None:
            try:
                return service.run(lambda r: int(r.session.w3.eth.block_number))
            except HeritageError:
                return None
            except Exception:  # a transport failure the session did not name
                return None

        block = await run_in_threadpool(work)
        return {"status": "ok", "chain": "down" if block is None else "up", "block": block}

    app.include_router(pages.router)  # web pages first: /exhibits as HTML to a browser
    app.include_router(login.router)
    app.include_router(catalog.router)
    app.include_router(verify.router)
    app.include_router(events.router)
    app.include_router(consent.router)
    app.include_router(exhibit_builds.router)
    app.add_middleware(Limits, limits=limits or ApiLimits())
    return app
