"""Exhibited values for the proofs tests: a shown item with derived files, built directly (the
gather and select stages are another slice's; these are the values they hand on)."""

from __future__ import annotations

from datetime import UTC, datetime

from exhibits.model import Candidate, Exhibited, ItemFiles, Shown
from ledger.ipfs.cid import Cid
from ledger.rights.policy import DisplayDecision

__all__ = ["exhibited"]


def exhibited(
    files: ItemFiles,
    *,
    key: bytes,
    cid: Cid,
    community: bytes,
    block: int = 7,
    transaction: str | None = None,
    terms_cid: Cid | None = None,
    terms_version: int = 1,
) -> Exhibited:
    """A shown item (a public claim the policy allows) with ``files``."""
    candidate = Candidate(
        key=key,
        cid=cid,
        community=community,
        community_name="Reef People",
        kind="item",
        file_name="master.bin",
        media_type="application/octet-stream",
        size=1,
        description=None,
        description_version=0,
        terms=None,
        terms_cid=terms_cid,
        terms_version=terms_version,
        revoked=False,
        claims=(),
        registered_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        block=block,
        transaction=transaction,
    )
    return Exhibited(Shown(candidate, DisplayDecision(True, ())), files)
