"""Wiring of the node's HTTP face: ``create_ipfs_app(settings, node)``.

One FastAPI app serves, on one port, the RPC API under ``/api/v0`` (:mod:`api.ipfs.rpc`,
refused to web pages) and the gateway under ``/ipfs/`` (:mod:`api.ipfs.gateway`), behind
the request-size limit (:class:`api.ipfs.multipart.BodyLimit`). Errors come back as Kubo's
error body plus ``ErrorCode`` (see :mod:`api.errors`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import Route

from api.errors import install_error_handlers
from api.ipfs.gateway import Gateway
from api.ipfs.multipart import BodyLimit
from api.ipfs.rpc import RpcRoutes, refuse_browsers
from ledger.ipfs.backend import EmbeddedNode
from ledger.settings import Settings

__all__ = ["create_ipfs_app"]


def create_ipfs_app(settings: Settings, node: EmbeddedNode | None = None) -> FastAPI:
    """The RPC + gateway app over ``node`` (or over the settings' embedded node, which the
    app then opens here and closes when it shuts down)."""
    owned = node is None
    active = EmbeddedNode.open(settings) if node is None else node

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                active.close()

    app = FastAPI(
        title="Heritage Ledger IPFS node",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # The gateway is a plain starlette route, matched first: it takes the request as it
    # is, so FastAPI's parameter machinery would only add to every page's cost.
    gateway = Gateway(active)
    app.router.routes.append(Route("/ipfs/{rest:path}", gateway.gateway, methods=["GET", "HEAD"]))
    routes = RpcRoutes(active)
    rpc = APIRouter(prefix="/api/v0", dependencies=[Depends(refuse_browsers)])
    for path, endpoint in routes.rpc_endpoints():
        rpc.add_api_route(path, endpoint, methods=["POST"], response_model=None)
    app.include_router(rpc)
    app.add_middleware(BodyLimit, max_bytes=settings.request_max_bytes)
    return app
