"""The index read whole for listing: every registry event that says what is registered and how
it stands, in one query, folded into plain values (no IPFS, no chain).

:func:`read_registry` answers with the communities (their current keyholders and document
digest), the registrations (items, derivatives, batches) in chain order, each subject's
current terms, each subject's latest description correction and each subject's steward. The
listing (:mod:`ledger.registry.listing`) adds what only the documents on IPFS say.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ledger.index.queries import EventIndex
from ledger.index.schema import STEWARDSHIP_MOVES

__all__ = [
    "CommunityRow",
    "DescriptionRow",
    "RegistrationRow",
    "RegistrySnapshot",
    "TermsRow",
    "read_registry",
]


@dataclass(frozen=True, slots=True)
class CommunityRow:
    """A community as its creation and latest rotation left it."""

    community: bytes
    keyholders: tuple[str, ...]
    threshold: int
    document: bytes  # sha2-256 of its current (signed) community document
    rotations: int
    block_number: int
    log_index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    """An ItemRegistered, DerivativeRegistered or BatchRegistered event.

    ``kind`` is ``item``, ``derivative`` or ``batch``; for a batch, ``key`` is the batch key,
    ``content`` its Merkle root and ``metadata`` its manifest's digest."""

    kind: str
    key: bytes
    community: bytes
    content: bytes
    cid: bytes | None
    cid_text: str | None
    metadata: bytes
    terms: bytes  # as registered
    parent: bytes | None
    ai_enhanced: bool | None
    count: int | None  # batches: how many items
    registrant: str
    block_number: int
    log_index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class TermsRow:
    """A subject's current terms: the latest TermsSet (or none: as registered) and whether the
    latest version was revoked since."""

    terms: bytes | None  # None: never set after registration
    version: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class DescriptionRow:
    """A subject's latest DescriptionSet."""

    version: int
    description: bytes


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """What the index holds about the registry's contents, up to its last sync."""

    communities: Mapping[bytes, CommunityRow]
    registrations: tuple[RegistrationRow, ...]  # chain order
    terms: Mapping[bytes, TermsRow] = field(default_factory=dict)  # by subject
    descriptions: Mapping[bytes, DescriptionRow] = field(default_factory=dict)  # by subject
    stewards: Mapping[bytes, bytes] = field(default_factory=dict)  # subject → steward moved to


def read_registry(index: EventIndex) -> RegistrySnapshot:
    """Every community, registration, terms change, description correction and stewardship
    move in ``index`` (as its last sync left it), from one query."""
    rows = index.registry_rows()
    communities: dict[bytes, CommunityRow] = {}
    registrations: list[RegistrationRow] = []
    terms: dict[bytes, TermsRow] = {}
    descriptions: dict[bytes, DescriptionRow] = {}
    stewards: dict[bytes, bytes] = {}
    for row in rows:
        kind, block, log, when, key = row[0], int(row[1]), int(row[2]), int(row[3]), bytes(row[4])
        if kind in ("item", "derivative", "batch"):
            registrations.append(
                RegistrationRow(
                    kind=kind,
                    key=key,
                    community=bytes(row[5]),
                    content=bytes(row[6]),
                    cid=None if row[7] is None else bytes(row[7]),
                    cid_text=row[8],
                    metadata=bytes(row[9]),
                    terms=bytes(row[10]),
                    parent=None if row[11] is None else bytes(row[11]),
                    ai_enhanced=None if row[12] is None else bool(row[12]),
                    count=None if row[13] is None else int(row[13]),
                    registrant=str(row[14]),
                    block_number=block,
                    log_index=log,
                    timestamp=when,
                )
            )
        elif kind == "terms":
            terms[key] = TermsRow(bytes(row[10]), int(row[13]), revoked=False)
        elif kind == "revoked":
            previous = terms.get(key)
            terms[key] = TermsRow(
                None if previous is None else previous.terms, int(row[13]), revoked=True
            )
        elif kind == "described":
            descriptions[key] = DescriptionRow(int(row[13]), bytes(row[9]))
        elif kind == "custody":
            if int(row[13]) in STEWARDSHIP_MOVES:
                stewards[key] = bytes(row[6])
        elif kind == "created":
            communities[key] = CommunityRow(
                community=key,
                keyholders=tuple(json.loads(row[14])),
                threshold=int(row[13]),
                document=bytes(row[9]),
                rotations=0,
                block_number=block,
                log_index=log,
                timestamp=when,
            )
        elif kind == "rotated" and key in communities:
            was = communities[key]
            communities[key] = CommunityRow(
                community=key,
                keyholders=tuple(json.loads(row[14])),
                threshold=int(row[13]),
                document=bytes(row[9]),
                rotations=was.rotations + 1,
                block_number=was.block_number,
                log_index=was.log_index,
                timestamp=was.timestamp,
            )
    return RegistrySnapshot(communities, tuple(registrations), terms, descriptions, stewards)
