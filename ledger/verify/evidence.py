"""The evidence model: what the chain holds about registered items, gathered once, and its
strict JSON form (``proofs.json`` carries it; evidence read from outside is parsed here).

Evidence is every registry event that concerns an item (registration, terms changes,
revocations, custody), the keyholder sets of the communities involved with the events that set
them, each event's raw signed transaction, the documents (metadata, terms, method, custody,
batch manifest) and, for an item of a batch, its Merkle proof. :mod:`ledger.verify.assess`
checks it; nothing here checks more than the shape of a value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.errors import EvidenceInvalid
from ledger.index import EVENT_TABLES

__all__ = [
    "BatchLeaf",
    "ChainEvent",
    "CustodyStep",
    "Evidence",
    "ItemEvidence",
    "KeyholderSet",
    "document_bytes",
]


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# ---- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One registry event, where it happened, and the raw transaction that emitted it."""

    event: str
    fields: Mapping[str, Any]  # as ledger.index decodes them: bytes, int, bool, address(es)
    block_number: int
    block_hash: bytes
    log_index: int
    timestamp: int
    tx_hash: bytes
    raw_tx: bytes

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)

    def to_json(self) -> dict[str, Any]:
        _, spec = EVENT_TABLES[self.event]
        return {
            "event": self.event,
            "fields": {name: _field_json(self.fields[name]) for name, _ in spec},
            "block_number": self.block_number,
            "block_hash": _hex(self.block_hash),
            "log_index": self.log_index,
            "timestamp": self.timestamp,
            "tx_hash": _hex(self.tx_hash),
            "raw_tx": _hex(self.raw_tx),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> ChainEvent:
        doc = _object(value, where)
        event = _str(doc.get("event"), f"{where}.event")
        if event not in EVENT_TABLES:
            raise _invalid(f"{where}.event {event!r} is not a registry event")
        _, spec = EVENT_TABLES[event]
        raw_fields = _object(doc.get("fields"), f"{where}.fields")
        if set(raw_fields) != {name for name, _ in spec}:
            raise _invalid(f"{where}.fields are not the fields of {event}")
        fields = {
            name: _field_value(raw_fields[name], kind, f"{where}.fields.{name}")
            for name, kind in spec
        }
        return cls(
            event=event,
            fields=fields,
            block_number=_int(doc.get("block_number"), f"{where}.block_number"),
            block_hash=_bytes(doc.get("block_hash"), f"{where}.block_hash", 32),
            log_index=_int(doc.get("log_index"), f"{where}.log_index"),
            timestamp=_int(doc.get("timestamp"), f"{where}.timestamp"),
            tx_hash=_bytes(doc.get("tx_hash"), f"{where}.tx_hash", 32),
            raw_tx=_bytes(doc.get("raw_tx"), f"{where}.raw_tx"),
        )


@dataclass(frozen=True, slots=True)
class BatchLeaf:
    """An item's leaf in a registered batch, and the proof that leads to the batch's root."""

    root: bytes
    metadata: bytes
    commitment: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": _hex(self.root),
            "metadata": _hex(self.metadata),
            "commitment": _hex(self.commitment),
            "proof": [_hex(p) for p in self.proof],
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> BatchLeaf:
        doc = _object(value, where)
        proof = doc.get("proof")
        if not isinstance(proof, list) or len(proof) > 64:
            raise _invalid(f"{where}.proof is not a list of at most 64 hashes")
        return cls(
            root=_bytes(doc.get("root"), f"{where}.root", 32),
            metadata=_bytes(doc.get("metadata"), f"{where}.metadata", 32),
            commitment=_bytes(doc.get("commitment"), f"{where}.commitment", 32),
            proof=tuple(_bytes(p, f"{where}.proof[{i}]", 32) for i, p in enumerate(proof)),
        )


@dataclass(frozen=True, slots=True)
class ItemEvidence:
    """Everything the chain says about one item (or derivative, or item of a batch)."""

    key: bytes
    cid: str  # the registered CID, as text
    registration: ChainEvent  # ItemRegistered, DerivativeRegistered or BatchRegistered
    events: tuple[ChainEvent, ...]  # TermsSet, TermsRevoked, CustodyRecorded, in chain order
    batch: BatchLeaf | None = None

    @property
    def kind(self) -> str:
        if self.batch is not None:
            return "batch-item"
        return "derivative" if self.registration.event == "DerivativeRegistered" else "item"

    @property
    def community(self) -> bytes:
        """The claiming community (whoever stewards the claim now)."""
        value: bytes = self.registration.fields["community"]
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "item": _hex(self.key),
            "community": _hex(self.community),
            "cid": self.cid,
            "kind": self.kind,
            "registration": self.registration.to_json(),
            "events": [e.to_json() for e in self.events],
            "batch": None if self.batch is None else self.batch.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> ItemEvidence:
        doc = _object(value, where)
        events = doc.get("events")
        if not isinstance(events, list):
            raise _invalid(f"{where}.events is not a list")
        batch = doc.get("batch")
        item = cls(
            key=_bytes(doc.get("item"), f"{where}.item", 32),
            cid=_str(doc.get("cid"), f"{where}.cid"),
            registration=ChainEvent.from_json(doc.get("registration"), f"{where}.registration"),
            events=tuple(
                ChainEvent.from_json(e, f"{where}.events[{i}]") for i, e in enumerate(events)
            ),
            batch=None if batch is None else BatchLeaf.from_json(batch, f"{where}.batch"),
        )
        if doc.get("kind") != item.kind:
            raise _invalid(f"{where}.kind says {doc.get('kind')!r}, its registration {item.kind}")
        if _bytes(doc.get("community"), f"{where}.community", 32) != item.community:
            raise _invalid(f"{where}.community is not the community its registration names")
        return item


@dataclass(frozen=True, slots=True)
class Evidence:
    """Evidence about some items on one registry: what ``proofs.json`` holds."""

    chain_id: int
    registry: str
    snapshot_block: int  # the chain's head when the evidence was gathered
    snapshot_hash: bytes
    items: tuple[ItemEvidence, ...]  # the items asked for, then the parents of derivatives
    communities: Mapping[bytes, tuple[ChainEvent, ...]]  # keyholder-set events, chain order
    documents: Mapping[str, bytes]  # document CID → its bytes (only those this node had)
    #: The claims asked about (claim keys, chain order); the other items are their parents.
    #: Empty: every item is one.
    claims: tuple[bytes, ...] = ()

    def item(self, key: bytes) -> ItemEvidence | None:
        return next((i for i in self.items if i.key == key), None)

    @property
    def claim_keys(self) -> tuple[bytes, ...]:
        return self.claims or tuple(i.key for i in self.items)


@dataclass(frozen=True, slots=True)
class KeyholderSet:
    """A community's keyholders and threshold, and the event that set them."""

    community: bytes
    keyholders: tuple[str, ...]
    threshold: int
    event: ChainEvent

    def to_json(self) -> dict[str, Any]:
        return {
            "community": _hex(self.community),
            "keyholders": list(self.keyholders),
            "threshold": self.threshold,
            "set_by": self.event.event,
            "block_number": self.event.block_number,
            "tx_hash": _hex(self.event.tx_hash),
        }


@dataclass(frozen=True, slots=True)
class CustodyStep:
    action: str
    source: bytes
    destination: bytes
    steward_after: bytes
    document_cid: str
    event: ChainEvent

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "from": _hex(self.source),
            "to": _hex(self.destination),
            "steward_after": _hex(self.steward_after),
            "document_cid": self.document_cid,
            "block_number": self.event.block_number,
            "timestamp": self.event.timestamp,
            "tx_hash": _hex(self.event.tx_hash),
        }


# ---- JSON parsing helpers (strict: evidence comes from outside) ------------------------------


def _invalid(message: str) -> EvidenceInvalid:
    return EvidenceInvalid(
        message, hint="the evidence was altered or damaged; export it again from the chain"
    )


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not an object")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{where} is not a string")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _invalid(f"{where} is not a non-negative integer")
    return value


def _bytes(value: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise _invalid(f"{where} is not 0x-prefixed hex")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid(f"{where} is not 0x-prefixed hex") from None
    if length is not None and len(data) != length:
        raise _invalid(f"{where} is {len(data)} bytes, not {length}")
    return data


def _field_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return _hex(value)
    if isinstance(value, tuple | list):
        return list(value)
    return value


def _field_value(value: Any, kind: str, where: str) -> Any:
    if kind == "bytes32":
        return _bytes(value, where, 32)
    if kind == "bytes":
        return _bytes(value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _invalid(f"{where} is not a boolean")
        return value
    if kind == "int":
        return _int(value, where)
    if kind == "address":
        return _address(value, where)
    if not isinstance(value, list):
        raise _invalid(f"{where} is not a list of addresses")
    return tuple(_address(v, f"{where}[{i}]") for i, v in enumerate(value))


def _address(value: Any, where: str) -> str:
    try:
        return to_checksum_address(_str(value, where))
    except ValueError:
        raise _invalid(f"{where} is not an address") from None


def document_bytes(value: Any, where: str) -> bytes:
    """A document as proofs.json carries it (base64)."""
    try:
        return base64.b64decode(_str(value, where), validate=True)
    except ValueError:
        raise _invalid(f"{where} is not base64") from None
