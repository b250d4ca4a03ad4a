"""Results: the typed, frozen values the registry workflows return.

Each has ``to_json()``, the dict the CLI prints with ``--json`` (its field names are part of
the interface and do not change). :class:`Claim` and :class:`Content` are what the read side
finds: one claim an ITEM argument names, and one file registered under a registry subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.chain import TxOutcome, batch_key, content_key
from ledger.documents import SEALED_ITEM_TYPE
from ledger.errors import UsageError
from ledger.ipfs.cid import Cid

__all__ = [
    "BatchRegistration",
    "Claim",
    "CommunityView",
    "Content",
    "CustodyRecorded",
    "DecryptedItem",
    "DerivativeRegistration",
    "ItemRegistration",
    "ItemView",
    "OtherClaim",
    "RotationSubmitted",
    "TermsConsentSubmitted",
    "TermsRevoked",
    "TermsSet",
    "TxView",
    "Withdrawal",
    "to_hex",
]


def to_hex(value: bytes) -> str:
    """``0x`` and the lower-case hex digits of ``value``."""
    return "0x" + value.hex()


def _tx(tx: TxView | None) -> dict[str, Any] | None:
    return None if tx is None else tx.to_json()


@dataclass(frozen=True, slots=True)
class TxView:
    tx_hash: bytes
    block: int
    gas_used: int

    @classmethod
    def of(cls, outcome: TxOutcome) -> TxView:
        return cls(outcome.tx_hash, outcome.block, outcome.gas_used)

    def to_json(self) -> dict[str, Any]:
        return {"tx_hash": to_hex(self.tx_hash), "block": self.block, "gas_used": self.gas_used}


@dataclass(frozen=True, slots=True)
class CommunityView:
    id: bytes
    keyholders: tuple[str, ...]
    threshold: int
    document_cid: str
    rotations: int
    created_block: int
    items: int
    tx: TxView | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": to_hex(self.id),
            "keyholders": list(self.keyholders),
            "threshold": self.threshold,
            "document_cid": self.document_cid,
            "rotations": self.rotations,
            "created_block": self.created_block,
            "items": self.items,
            "tx": _tx(self.tx),
        }


@dataclass(frozen=True, slots=True)
class OtherClaim:
    """A claim another community already holds on content being registered."""

    key: bytes
    community: bytes
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"item": to_hex(self.key), "community": to_hex(self.community), "kind": self.kind}


@dataclass(frozen=True, slots=True)
class ItemRegistration:
    """One file registered (alone, or as a leaf of a batch)."""

    path: str
    cid: Cid
    key: bytes
    metadata_cid: Cid
    size: int
    tx: TxView | None  # None inside a batch: the batch's transaction registered it
    other_claims: tuple[OtherClaim, ...] = ()  # other communities' claims on the content

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "cid": str(self.cid),
            "item": to_hex(self.key),
            "metadata_cid": str(self.metadata_cid),
            "size": self.size,
            "tx": _tx(self.tx),
            "other_claims": [c.to_json() for c in self.other_claims],
        }


@dataclass(frozen=True, slots=True)
class BatchRegistration:
    root: bytes
    manifest_cid: Cid
    terms_cid: Cid
    community: bytes
    items: tuple[ItemRegistration, ...]
    tx: TxView

    @property
    def batch(self) -> bytes:
        """The batch key: ``batchOf(community, root)``."""
        return batch_key(self.community, self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": to_hex(self.root),
            "batch": to_hex(self.batch),
            "manifest_cid": str(self.manifest_cid),
            "terms_cid": str(self.terms_cid),
            "community": to_hex(self.community),
            "count": len(self.items),
            "items": [i.to_json() for i in self.items],
            "tx": self.tx.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ItemView:
    """What the chain, the index and the batch manifests say about one ITEM."""

    key: bytes
    kind: str  # item, derivative, batch, batch-item
    registered_cid: str | None
    community: bytes
    steward: bytes
    terms_cid: str | None
    terms_version: int
    revoked: bool
    metadata_cid: str | None
    metadata: Mapping[str, Any] | None
    registrant: str | None
    block: int | None
    tx_hash: bytes | None
    parent: bytes | None = None
    method_cid: str | None = None
    ai_enhanced: bool | None = None
    batch: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "item": to_hex(self.key),
            "kind": self.kind,
            "registered_cid": self.registered_cid,
            "community": to_hex(self.community),
            "steward": to_hex(self.steward),
            "terms_cid": self.terms_cid,
            "terms_version": self.terms_version,
            "revoked": self.revoked,
            "metadata_cid": self.metadata_cid,
            "metadata": None if self.metadata is None else dict(self.metadata),
            "registrant": self.registrant,
            "block": self.block,
            "tx_hash": None if self.tx_hash is None else to_hex(self.tx_hash),
            "parent": None if self.parent is None else to_hex(self.parent),
            "method_cid": self.method_cid,
            "ai_enhanced": self.ai_enhanced,
            "batch": None if self.batch is None else dict(self.batch),
        }


@dataclass(frozen=True, slots=True)
class DecryptedItem:
    """What `heritage item decrypt` did: the plaintext written and the checks it passed."""

    key: bytes
    ciphertext_cid: str
    plaintext_cid: str
    name: str
    size: int
    output: Path
    envelope_cid: str
    commitment_matches: bool | None  # None: the record has no commitment (a derivative)

    def to_json(self) -> dict[str, Any]:
        return {
            "item": to_hex(self.key),
            "ciphertext_cid": self.ciphertext_cid,
            "plaintext_cid": self.plaintext_cid,
            "name": self.name,
            "size": self.size,
            "output": str(self.output),
            "envelope_cid": self.envelope_cid,
            "commitment_matches": self.commitment_matches,
        }


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Plaintext files no longer served here after a revocation or restricting terms: what
    was unpinned, the warning that copies elsewhere remain, and a failure if there was one."""

    unpinned: tuple[str, ...]
    warning: str
    gc_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unpinned": list(self.unpinned), "warning": self.warning}
        if self.gc_error is not None:
            out["gc_error"] = self.gc_error
        return out


def _withdrawn(withdrawal: Withdrawal | None) -> dict[str, Any]:
    return {} if withdrawal is None else withdrawal.to_json()


@dataclass(frozen=True, slots=True)
class TermsSet:
    """`heritage terms set`: the next terms version of a subject."""

    subject: bytes
    version: int
    terms_cid: str
    tx: TxView
    withdrawal: Withdrawal | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": to_hex(self.subject),
            "version": self.version,
            "terms_cid": self.terms_cid,
            "tx": self.tx.to_json(),
            **_withdrawn(self.withdrawal),
        }


@dataclass(frozen=True, slots=True)
class TermsRevoked:
    """`heritage terms revoke`: a subject's current terms revoked (``batch``: the batch of
    the one item revoked alone)."""

    subject: bytes
    version: int
    tx: TxView
    batch: bytes | None = None
    withdrawal: Withdrawal | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"subject": to_hex(self.subject)}
        if self.batch is not None:
            out["batch"] = to_hex(self.batch)
        out |= {"version": self.version, "revoked": True, "tx": self.tx.to_json()}
        return out | _withdrawn(self.withdrawal)


@dataclass(frozen=True, slots=True)
class TermsConsentSubmitted:
    """A SetTerms or RevokeTerms request sent with signatures collected offline.
    ``terms_cid`` set: terms were set; else revoked (``batch``: one item of that batch)."""

    subject: bytes
    version: int
    signers: tuple[str, ...]
    tx: TxView
    terms_cid: str | None = None
    batch: bytes | None = None
    withdrawal: Withdrawal | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": to_hex(self.subject),
            "version": self.version,
            "signers": list(self.signers),
        }
        if self.terms_cid is not None:
            out["terms_cid"] = self.terms_cid
        else:
            if self.batch is not None:
                out["batch"] = to_hex(self.batch)
            out["revoked"] = True
        return out | _withdrawn(self.withdrawal) | {"tx": self.tx.to_json()}


@dataclass(frozen=True, slots=True)
class RotationSubmitted:
    """A RotateKeyholders request sent with signatures collected offline."""

    community: bytes
    nonce: int
    keyholders: tuple[str, ...]
    threshold: int
    document_cid: str
    signers: tuple[str, ...]
    tx: TxView

    def to_json(self) -> dict[str, Any]:
        return {
            "community": to_hex(self.community),
            "nonce": self.nonce,
            "keyholders": list(self.keyholders),
            "threshold": self.threshold,
            "document_cid": self.document_cid,
            "signers": list(self.signers),
            "tx": self.tx.to_json(),
        }


@dataclass(frozen=True, slots=True)
class CustodyRecorded:
    """A custody record sent (transfer, repatriation, loan or return); ``signers`` (by role)
    when the signatures were collected offline."""

    item: bytes
    action: str
    steward: bytes
    counterparty: bytes
    source: str  # "from"
    destination: str  # "to"
    nonce: int
    document_cid: str
    tx: TxView
    signers: Mapping[str, tuple[str, ...]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": to_hex(self.item),
            "action": self.action,
            "steward": to_hex(self.steward),
            "counterparty": to_hex(self.counterparty),
            "from": self.source,
            "to": self.destination,
            "nonce": self.nonce,
            "document_cid": self.document_cid,
        }
        if self.signers is not None:
            out["signers"] = {role: list(names) for role, names in self.signers.items()}
        out["tx"] = self.tx.to_json()
        return out


@dataclass(frozen=True, slots=True)
class DerivativeRegistration:
    """A derivative registered; ``signers`` (the parent steward's) when its consent was
    collected offline."""

    key: bytes
    cid: str
    parent: bytes
    parent_steward: bytes
    metadata_cid: str
    terms_cid: str
    method_cid: str
    ai_enhanced: bool
    tx: TxView
    signers: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": to_hex(self.key),
            "cid": self.cid,
            "parent": to_hex(self.parent),
            "parent_steward": to_hex(self.parent_steward),
            "metadata_cid": self.metadata_cid,
            "terms_cid": self.terms_cid,
            "method_cid": self.method_cid,
            "ai_enhanced": self.ai_enhanced,
            "tx": self.tx.to_json(),
        }
        if self.signers is not None:
            out["signers"] = list(self.signers)
        return out


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim (or a whole batch) that an ITEM argument names."""

    key: bytes  # the claim key; a batch's key for a whole batch
    cid: bytes | None  # the registered binary CID, when known
    community: bytes  # the claiming (registering) community
    kind: str  # "item", "derivative", "batch-item" or "batch"
    content: bytes | None = None  # keccak256 of the CID
    batch: bytes | None = None  # batch items: their batch's key
    root: bytes | None = None  # batch items and batches: the Merkle root
    block: int = 0  # where it was registered, for chain order
    log_index: int = 0

    @property
    def batch_root(self) -> bytes | None:
        """The batch key of a batch item (None for anything else)."""
        return self.batch if self.kind == "batch-item" else None

    def content_key(self) -> bytes:
        """The content key of the claim (a whole batch has none: UsageError)."""
        if self.content is not None:
            return self.content
        if self.cid is not None:
            return content_key(self.cid)
        raise UsageError(f"{to_hex(self.key)} is a whole batch, not one item of it")


@dataclass(frozen=True, slots=True)
class Content:
    """One file registered under a registry subject: the item or derivative itself, or one
    item of a batch (``key`` is then its leaf key, not the batch's root)."""

    key: bytes
    cid: Cid  # the registered (for a sealed item: ciphertext) CID
    metadata_cid: Cid
    metadata: Mapping[str, Any] | None  # None: the document is not on this node

    @property
    def sealed(self) -> bool:
        return self.metadata is not None and self.metadata.get("type") == SEALED_ITEM_TYPE
