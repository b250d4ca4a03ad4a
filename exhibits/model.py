"""The values an exhibit build passes from stage to stage: gather → select → derive → render.

Pure, frozen values and nothing else, so that every stage can be tested on its own and the
render stage can be shown to see only what may be shown:

- :class:`Candidate`: one claim the spec selects, as the chain, the index and IPFS say it stands
  at the build moment (made by :mod:`exhibits.gather`).
- :class:`Choice`: the selection decided (made by :mod:`exhibits.select`): the shown claims in
  exhibit order with their rooms, and the excluded ones with the policy's reasons.
- :class:`ItemFiles`: the derived files of one shown item (made by :mod:`exhibits.derive`).
- :class:`Exhibited`: a shown item with its files: the only item value the renderer
  (:func:`exhibits.site.render.render_site`) receives. Excluded candidates never reach it.

Site paths: an item's page is ``items/<item_id>/index.html`` and its files live in
``items/<item_id>/files/<name>``, where ``<item_id>`` is :func:`item_id` of the claim key.
A derived file's *role* is its name's stem: ``model`` (GLB), ``poster``, ``image``,
``thumbnail``, ``audio``, ``video``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from exhibits.derive.records import DerivationRecord, DerivedFile
from ledger.ipfs.cid import Cid
from ledger.rights.claims import ClaimTerms
from ledger.rights.description import Description
from ledger.rights.model import Terms
from ledger.rights.policy import DisplayDecision, Reason

__all__ = [
    "KINDS",
    "Candidate",
    "ChainRef",
    "Choice",
    "Exclusion",
    "Exhibited",
    "ItemFiles",
    "Kind",
    "Lineage",
    "RoomPlan",
    "Shown",
    "item_id",
]

#: What an item is in the site, from its media type: a 3D model, an image, a recording, or
#: anything else (shown by a poster).
Kind = Literal["model", "image", "audio", "video", "other"]
KINDS: Final = ("model", "image", "audio", "video", "other")


def item_id(key: bytes) -> str:
    """The item's id in the site's paths and data: ``0x`` + the claim key in lower-case hex."""
    return "0x" + key.hex()


@dataclass(frozen=True, slots=True)
class ChainRef:
    """Where the claims are recorded: the chain and the registry contract."""

    chain_id: int
    registry: str  # the registry's address, EIP-55 checksummed


@dataclass(frozen=True, slots=True)
class Lineage:
    """A derivative item's parent: its claim, its content, how it was made."""

    parent_key: bytes
    parent_cid: Cid | None
    method: Mapping[str, Any] | None  # the derivative's method document (docs/derivatives.md)
    ai_enhanced: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    """One claim that the spec selects, as it stands at the build moment.

    ``claims`` holds every claim on the same content (this one included): content that two
    communities claim is disputed and never shown (:func:`ledger.rights.claims.decide_content`).
    ``terms`` is None when the current terms document is missing or does not parse;
    ``description`` is None when the item has none (the file name then serves as title).
    """

    key: bytes  # the claim key
    cid: Cid  # the registered (plaintext) content CID
    community: bytes
    community_name: str | None
    kind: str  # the claim kind: "item", "derivative" or "batch-item"
    file_name: str
    media_type: str
    size: int
    description: Description | None
    description_version: int  # 0: none; 1: given at registration; then one per correction
    terms: Terms | None
    terms_cid: Cid | None
    terms_version: int
    revoked: bool
    claims: tuple[ClaimTerms, ...]
    registered_at: datetime  # aware, UTC: the registering block's time
    block: int
    transaction: str | None  # 0x hash of the registering transaction, when known
    lineage: tuple[Lineage, ...] = ()
    #: The metadata document's ``import`` object (how the CID was made from the file), for
    #: re-checking a fetched master; None when unknown (a sealed item).
    import_settings: Mapping[str, Any] | None = None
    sealed: bool = False  # restricted: registered as ciphertext; nothing of it is decrypted

    @property
    def item_id(self) -> str:
        return item_id(self.key)


@dataclass(frozen=True, slots=True)
class Shown:
    """A candidate the policy allows, with the decision's reasons (all allowing)."""

    candidate: Candidate
    decision: DisplayDecision


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A candidate that is not shown, and why (``code`` of each reason is stable)."""

    candidate: Candidate
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class RoomPlan:
    """One room of the gallery: its title per language and its items' ids, in order."""

    title: tuple[tuple[str, str], ...]  # ((language, text), …) in the spec's language order
    items: tuple[str, ...]  # item ids, each of a shown item


@dataclass(frozen=True, slots=True)
class Choice:
    """The selection decided: shown items in exhibit order, rooms, and the excluded."""

    shown: tuple[Shown, ...]
    rooms: tuple[RoomPlan, ...]
    excluded: tuple[Exclusion, ...]


@dataclass(frozen=True, slots=True)
class ItemFiles:
    """The derived files of one shown item and the record of how they were made."""

    kind: Kind
    files: tuple[DerivedFile, ...]
    records: tuple[DerivationRecord, ...]

    def file(self, role: str) -> DerivedFile | None:
        """The file whose name's stem is ``role`` (``model``, ``poster``, ``image`` …)."""
        for derived in self.files:
            if derived.name.rsplit(".", 1)[0] == role:
                return derived
        return None


@dataclass(frozen=True, slots=True)
class Exhibited:
    """A shown item with its derived files: what the renderer receives, per item."""

    shown: Shown
    files: ItemFiles

    @property
    def candidate(self) -> Candidate:
        return self.shown.candidate

    @property
    def item_id(self) -> str:
        return self.shown.candidate.item_id
