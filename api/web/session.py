"""The signed-in keyholder of a request (the session cookie of :mod:`api.web.login`), for
the pages: :func:`signed_in`, :func:`keyholder_of`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from eth_utils.address import to_checksum_address
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ledger.errors import NotFound

__all__ = ["COOKIE", "SignedIn", "keyholder_of", "signed_in"]

#: The session cookie's name.
COOKIE: Final = "heritage_session"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The keyholder of a live session, and the communities it holds keys of now (id: name)."""

    signer: str
    communities: dict[bytes, str]


async def keyholder_of(request: Request, signer: str) -> dict[bytes, str]:
    """The communities ``signer`` is a keyholder of now (checked on chain), with names."""
    service = request.app.state.service

    def work() -> dict[bytes, str]:
        names = service.catalogue().communities
        out: dict[bytes, str] = {}
        with service.registry() as registry:
            for community, name in names.items():
                try:
                    holders = registry.session.community(community).keyholders
                except NotFound:
                    continue
                if signer in {to_checksum_address(h) for h in holders}:
                    out[community] = name or "0x" + community.hex()
        return out

    return await run_in_threadpool(work)


async def signed_in(request: Request) -> SignedIn | None:
    """The request's signed-in keyholder, or None (no cookie, an ended or expired session, or
    a signer who holds no community's key any more)."""
    session = request.cookies.get(COOKIE)
    if not session:
        return None
    found = request.app.state.sessions.find(session, int(time.time()))
    if found is None:
        return None
    communities = await keyholder_of(request, found[0])
    return SignedIn(found[0], communities) if communities else None
