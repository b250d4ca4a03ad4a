"""Evidence about registered items, and its pure check: the heart of ``heritage verify``.

Evidence is what the chain holds about an item, gathered once: every registry event that
concerns it (registration, terms changes, revocations, custody), the keyholder sets of the
communities involved with the events that set them, each event's raw signed transaction,
the documents (metadata, terms, method, custody, batch manifest) and, for an item of a
batch, its Merkle proof. :func:`assess` checks all of it without any I/O:

- each raw transaction hashes to the transaction hash the event names, was sent to this
  registry on this chain, and its calldata (decoded by :func:`decode_call`, the one place
  that reads transaction input) carries exactly the event's fields;
- every EIP-712 signature in that calldata is re-checked with :mod:`ledger.consent` against
  the keyholder set in force *at that event* (rebuilt from CommunityCreated and
  KeyholdersRotated, each of which is itself checked the same way, back to the creation that
  every initial keyholder signed);
- claim keys (``claimOf(community, cid)``: a claim is one community's claim on some bytes),
  content keys, batch keys (``batchOf(community, root)``), record digests, batch leaves
  (which hold the content key), Merkle proofs (:mod:`ledger.merkle`) and document digests
  are re-derived;
- a derivative's registration passes its parent's record and the parent steward's
  ConsentDerivative signatures: the record must be the parent's as its own evidence
  rebuilds it, the steward the one that held the parent at that block, and k of its
  keyholders then must have signed.

Online verification gathers evidence from the chain and offline verification reads it from
``proofs.json``; both end here, so the two can never disagree about the same facts.

A contradiction (a digest, a hash or a field that does not match) raises
:class:`~ledger.errors.EvidenceInvalid`. A signature that does not verify is a *finding*, not
an error: it becomes the verdict "signature failure".
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, TypeVar

import rlp
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from rlp.codec import length_prefix

from contracts import load_artifact
from ledger import strict_json
from ledger.chain import (
    CUSTODY_REPATRIATION,
    CUSTODY_TRANSFER,
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    REGISTER_ITEM_PACKED_SELECTOR,
    Record,
    batch_item_subject,
    batch_key,
    claim_key,
    community_id,
    content_key,
)
from ledger.consent import typed_data as consent
from ledger.errors import EvidenceInvalid, HeritageError
from ledger.index import CUSTODY_ACTIONS, EVENT_TABLES
from ledger.ipfs import cid as cid_module
from ledger.ipfs.cid import RAW, Cid
from ledger.merkle import BATCH_LEAF_TYPES, leaf_hash
from ledger.merkle import verify as merkle_verify

__all__ = [
    "Assessment",
    "BatchLeaf",
    "ChainEvent",
    "CustodyStep",
    "Evidence",
    "ItemEvidence",
    "KeyholderSet",
    "RegistryCall",
    "assess",
    "decode_call",
    "derived_records",
    "forget_memos",
]

_ZERO32: Final = bytes(32)
_T = TypeVar("_T")
_REGISTRATIONS: Final = frozenset({"ItemRegistered", "DerivativeRegistered", "BatchRegistered"})
_KEYHOLDER_EVENTS: Final = frozenset({"CommunityCreated", "KeyholdersRotated"})
_MAX_LINEAGE: Final = 64  # a derivative chain deeper than this is refused, not followed


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# ---- transaction input: the ONE decoder ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryCall:
    """A registry function call read back from a raw signed transaction."""

    function: str
    args: Mapping[str, Any]
    chain_id: int
    to: str
    sender: str


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    types: tuple[str, ...]  # eth-abi type strings
    inputs: tuple[Mapping[str, Any], ...]  # the ABI's input entries (names, components)


def _abi_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _named(entry: Mapping[str, Any], value: Any) -> Any:
    """A decoded value with struct fields by name (as the ABI names them)."""
    if entry["type"] == "tuple":
        return {c["name"]: _named(c, v) for c, v in zip(entry["components"], value, strict=True)}
    return value


@cache
def _functions() -> Mapping[bytes, _Function]:
    """The registry's functions by 4-byte selector, from the compiled ABI."""
    table: dict[bytes, _Function] = {}
    for entry in load_artifact("ProvenanceRegistry").abi:
        if entry.get("type") != "function":
            continue
        types = tuple(_abi_type(i) for i in entry["inputs"])
        selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
        table[selector] = _Function(str(entry["name"]), types, tuple(entry["inputs"]))
    return table


def decode_call(raw_tx: bytes) -> RegistryCall:
    """The registry call inside ``raw_tx`` (an EIP-2718 typed signed transaction).

    Every read of transaction input in the project goes through here, so a change of the
    registry's ABI is met in one place. Raises :class:`EvidenceInvalid` for bytes that are not
    a signed transaction calling a registry function.
    """
    try:
        if raw_tx[:1] == b"\x02":
            chain_id, to, data, sender = _dynamic_fee_transaction(raw_tx)
        else:
            chain_id, to, data, sender = _other_typed_transaction(raw_tx)
        if data[:4] == REGISTER_ITEM_PACKED_SELECTOR:
            name, args = "registerItemPacked", _unpack_register_item(data[4:])
        else:
            function = _functions()[data[:4]]
            values = abi_decode(list(function.types), data[4:], strict=True)
            name = function.name
            args = {i["name"]: _named(i, v) for i, v in zip(function.inputs, values, strict=True)}
    # rlp, eth-abi and eth-keys each raise types of their own for undecodable bytes
    except Exception as exc:
        raise EvidenceInvalid(
            f"a raw transaction does not decode as a registry call ({type(exc).__name__})",
            hint="the evidence was altered; export it again with `heritage item proof`",
        ) from None
    return RegistryCall(
        function=name,
        args=args,
        chain_id=chain_id,
        to=consent.checksum_address(to) if to else "",
        sender=consent.checksum_address(sender),
    )


def _scalar(value: Any) -> int:
    """An RLP integer: big-endian bytes without leading zeros (zero is empty)."""
    if not isinstance(value, bytes) or value[:1] == b"\x00":
        raise ValueError("an RLP integer that is not canonical")
    return int.from_bytes(value, "big")


def _encoded_length(value: bytes) -> int:
    """The length of a short byte string's canonical RLP encoding (a signature field)."""
    return 1 if len(value) == 1 and value[0] < 0x80 else 1 + len(value)


def _dynamic_fee_transaction(raw_tx: bytes) -> tuple[int, bytes, bytes, bytes]:
    """(chain id, to, input, sender) of an EIP-1559 transaction, ``0x02 ‖ rlp([chainId, nonce,
    maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data, accessList, yParity, r, s])``.

    Read with ``rlp`` alone (strict: canonical lengths and integers, nothing trailing), and the
    sender recovered from the signing hash ``keccak(0x02 ‖ rlp(first nine fields))``. Every
    transaction this project sends is of this type; eth-account's general parser took twenty
    times as long."""
    fields = rlp.decode(raw_tx[1:], strict=True)
    if not isinstance(fields, list) or len(fields) != 12:
        raise ValueError("an EIP-1559 transaction has 12 fields")
    chain_id = _scalar(fields[0])
    for position in (1, 2, 3, 4, 6):
        _scalar(fields[position])
    to, data, access_list = fields[5], fields[7], fields[8]
    if not isinstance(to, bytes) or len(to) not in (0, 20):
        raise ValueError("a destination that is not an address")
    if not isinstance(data, bytes) or not isinstance(access_list, list):
        raise ValueError("input or access list of the wrong kind")
    parity, r, s = (_scalar(fields[i]) for i in (9, 10, 11))
    if parity > 1 or not 0 < r < consent.SECP256K1_N or not 0 < s <= consent.HALF_ORDER:
        raise ValueError("a transaction signature out of range")
    # The signing payload is the list of the first nine fields, whose canonical encodings
    # are the list's bytes up to the three signature fields (strict decoding guaranteed the
    # encodings canonical): re-framed, not re-encoded.
    body_start = 2 + (raw_tx[1] - 0xF7 if raw_tx[1] > 0xF7 else 0)
    signature_bytes = sum(_encoded_length(f) for f in fields[9:])
    body = raw_tx[body_start : len(raw_tx) - signature_bytes]
    signing_hash = keccak(b"\x02" + length_prefix(len(body), 0xC0) + body)
    sender = consent.recover_address(
        signing_hash, r.to_bytes(32, "big") + s.to_bytes(32, "big"), parity
    )
    if sender is None:
        raise ValueError("a transaction signature that recovers no key")
    return chain_id, to, data, sender


def _other_typed_transaction(raw_tx: bytes) -> tuple[int, bytes, bytes, bytes]:
    """(chain id, to, input, sender) of any other EIP-2718 typed transaction, through
    eth-account (what ``Account.recover_transaction`` does, parsing the bytes once)."""
    typed = TypedTransaction.from_bytes(HexBytes(raw_tx))
    tx = typed.as_dict()
    parity, r, s = typed.vrs()
    if parity not in (0, 1) or not 0 <= r < consent.SECP256K1_N or not 0 <= s < consent.SECP256K1_N:
        raise ValueError("a transaction signature out of range")
    sender = consent.recover_address(
        typed.hash(), r.to_bytes(32, "big") + s.to_bytes(32, "big"), parity
    )
    if sender is None:
        raise ValueError("a transaction signature that recovers no key")
    return int(tx.get("chainId", 0)), bytes(tx.get("to") or b""), bytes(tx["data"]), sender


def _unpack_register_item(body: bytes) -> dict[str, Any]:
    """``registerItemPacked``'s arguments (``ledger.chain.pack_register_item`` writes them),
    under ``registerItem``'s names: community (32) ‖ k (1) ‖ n (1) ‖ n keyholders (20 each) ‖
    metadata (32) ‖ terms (32) ‖ commitment (32) ‖ deadline (8) ‖ CID length (1) ‖ CID ‖
    signatures (the rest)."""
    threshold, n = body[32], body[33]
    pos = 34 + 20 * n
    cid_length = body[pos + 104]
    cid_end = pos + 105 + cid_length
    if len(body) < cid_end:
        raise ValueError(f"packed registration of {len(body)} bytes is shorter than its counts")
    return {
        "community": body[:32],
        "keyholders": [consent.checksum_address(body[34 + 20 * i : 54 + 20 * i]) for i in range(n)],
        "threshold": threshold,
        "metadata": body[pos : pos + 32],
        "terms": body[pos + 32 : pos + 64],
        "commitment": body[pos + 64 : pos + 96],
        "deadline": int.from_bytes(body[pos + 96 : pos + 104], "big"),
        "cid": body[pos + 105 : cid_end],
        "signatures": body[cid_end:],
    }


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


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the evidence establishes about one item."""

    key: bytes
    cid: str
    kind: str
    community: bytes  # the registering community
    steward: bytes  # after every transfer and repatriation
    record_key: bytes  # what the registry keys the record by (the batch key for batch items)
    record: Record
    metadata: Mapping[str, Any] | None  # the metadata document, when the evidence has it
    terms_digest: bytes  # current terms
    terms_version: int
    revoked: bool
    encrypted: bool  # the record commits to a plaintext: the registered bytes are ciphertext
    signed_by: tuple[str, ...]  # the signers of the current terms
    signing_set: KeyholderSet  # the keyholder set that signed the current terms
    current_set: KeyholderSet  # that community's set now (as of the evidence)
    custody: tuple[CustodyStep, ...]
    parent: Assessment | None = None
    ai_enhanced: bool | None = None
    method_cid: str | None = None
    batch_root: bytes | None = None  # batch items: the Merkle root (record_key: the batch)
    events: tuple[ChainEvent, ...] = field(default=())
    content: bytes = b""  # keccak256 of the CID: what every claim on these bytes shares
    parent_steward: bytes | None = None  # derivatives: the parent's steward that consented

    @property
    def ancestor_revoked(self) -> Assessment | None:
        """The nearest parent (or its parent, …) whose terms are revoked, if any."""
        parent = self.parent
        while parent is not None:
            if parent.revoked:
                return parent
            parent = parent.parent
        return None

    @property
    def keyholders_changed(self) -> bool:
        return self.signing_set.event.position != self.current_set.event.position

    @property
    def terms_cid(self) -> str:
        return str(Cid.from_digest(self.terms_digest, RAW))


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


# ---- the check -------------------------------------------------------------------------------


def _event_key(event: ChainEvent) -> tuple[Any, ...]:
    """Everything of ``event`` that a check reads, hashable."""
    fields = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in sorted(event.fields.items())
    )
    return (event.event, event.block_number, event.block_hash, event.log_index,
            event.timestamp, event.tx_hash, event.raw_tx, fields)


class _Memo:
    """A bounded memo of a pure check's results, shared by the threads of a process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._entries.get(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]


# A community's keyholder history checked (its sets, the problems and signature checks found):
# the same for every item of the community, and a pure function of the events, their raw
# transactions and the domain, which are the key. A verifier that checks many items (an
# exhibit build, a server) checks each history once.
_CHECKED_TIMELINES: Final = _Memo(256)
# An item's registration checked (record, key, signers, problems, signature checks), keyed by
# its registration event, batch leaf and its community's keyholder history: what verifying
# the same item again (a server answering for an exhibit's items) would recompute.
_CHECKED_REGISTRATIONS: Final = _Memo(4096)


def forget_memos() -> None:
    """Drop everything verification keeps in memory between verifications: the checked
    keyholder histories and registrations, and the memoised CID texts, EIP-55 checksums,
    EIP-712 domain separators and the registry's function table (a benchmark's cold start,
    as in a new process)."""
    _CHECKED_TIMELINES.clear()
    _CHECKED_REGISTRATIONS.clear()
    _functions.cache_clear()
    consent.checksum_address.cache_clear()
    consent.address_word.cache_clear()
    consent._domain_separator.cache_clear()
    cid_module._text.cache_clear()
    cid_module._b32_decode.cache_clear()


class _Checker:
    """Checks one :class:`Evidence`; memoises what every item shares (keyholder timelines)."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.domain = consent.Domain(evidence.chain_id, evidence.registry)
        self.problems: list[str] = []
        # Every signature check, for proofs.json (built into JSON only when asked for: a
        # verdict does not need it, and building it cost a tenth of a check).
        self.checks: list[tuple[ChainEvent, consent.TypedData, bytes, KeyholderSet, int,
                                tuple[str, ...]]] = []
        self._timelines: dict[bytes, list[KeyholderSet]] = {}
        self._timeline_keys: dict[bytes, tuple[Any, ...]] = {}

    # -- transactions and signatures ---------------------------------------------------------

    def call(self, event: ChainEvent, functions: Sequence[str]) -> RegistryCall:
        """The registry call that emitted ``event``, its transaction checked."""
        where = f"the {event.event} event of transaction {_hex(event.tx_hash)}"
        if keccak(event.raw_tx) != event.tx_hash:
            raise _invalid(f"the raw transaction of {where} does not hash to that transaction")
        call = decode_call(event.raw_tx)
        if call.chain_id != self.evidence.chain_id or call.to != self.evidence.registry:
            raise _invalid(f"{where} was not sent to registry {self.evidence.registry} on chain "
                           f"{self.evidence.chain_id}")
        if call.function not in functions:
            raise _invalid(f"{where} was emitted by {call.function}, which cannot emit it")
        return call

    def same(self, event: ChainEvent, pairs: Mapping[str, Any], call: RegistryCall) -> None:
        """Each event field equals what the call passed (the contract emits its arguments)."""
        for name, value in pairs.items():
            if _norm(event.fields[name]) != _norm(value):
                raise _invalid(
                    f"field {name} of the {event.event} event of transaction "
                    f"{_hex(event.tx_hash)} is not what {call.function} was called with"
                )

    def signatures(
        self,
        event: ChainEvent,
        typed: consent.TypedData,
        holders: KeyholderSet,
        given: Mapping[str, Any],
        required: int,
    ) -> tuple[str, ...]:
        """Check ``given`` (the call's keyholders, threshold, signatures) against ``holders``
        (the set the timeline says was in force); a failure is recorded, not raised."""
        where = f"{event.event} in transaction {_hex(event.tx_hash)}"
        digest = typed.digest()  # EIP-712 encoding is the costly part: once per message
        claimed = tuple(consent.checksum_address(k) for k in given["keyholders"])
        signers: tuple[str, ...] = ()
        if claimed != holders.keyholders or int(given["threshold"]) != holders.threshold:
            self.problems.append(
                f"{where} names keyholders that were not community {_hex(holders.community)}'s "
                "at that time"
            )
        else:
            try:
                signers = tuple(
                    consent.check_signatures(
                        digest, holders.keyholders, required, bytes(given["signatures"])
                    )
                )
            except consent.SignatureError as exc:
                self.problems.append(f"{where}: {exc.message}")
        self.checks.append((event, typed, digest, holders, required, signers))
        return signers

    @property
    def signed(self) -> list[dict[str, Any]]:
        """Every signature check so far, as ``proofs.json`` lists them."""
        return [
            {
                "event": event.event,
                "tx_hash": _hex(event.tx_hash),
                "community": _hex(holders.community),
                "primary_type": typed.primary_type,
                "typed_data": _json_safe(typed.full_message()),
                "digest": _hex(digest),
                "keyholders": list(holders.keyholders),
                "threshold": holders.threshold,
                "required": required,
                "signers": list(signers),
            }
            for event, typed, digest, holders, required, signers in self.checks
        ]

    # -- keyholder timelines -----------------------------------------------------------------

    def timeline(self, community: bytes) -> list[KeyholderSet]:
        if community in self._timelines:
            return self._timelines[community]
        events = self.evidence.communities.get(community)
        if not events:
            raise _invalid(f"the evidence has no keyholder history of community {_hex(community)}")
        key = (self.domain, community, tuple(_event_key(e) for e in events))
        self._timeline_keys[community] = key
        sets: tuple[KeyholderSet, ...] = self._reused(
            _CHECKED_TIMELINES, key, lambda: tuple(self._check_timeline(community, events))
        )
        self._timelines[community] = list(sets)
        return self._timelines[community]

    def _reused(self, memo: _Memo, key: Any, check: Callable[[], _T]) -> _T:
        """``check()``, or its result for the same ``key`` from ``memo``: with the problems
        and signature checks it recorded, added here again as it would have added them."""
        known = memo.get(key)
        if known is None:
            problems, checks = len(self.problems), len(self.checks)
            known = (check(), tuple(self.problems[problems:]), tuple(self.checks[checks:]))
            memo.put(key, known)
        else:
            self.problems.extend(known[1])
            self.checks.extend(known[2])
        result: _T = known[0]
        return result

    def _check_timeline(
        self, community: bytes, events: Sequence[ChainEvent]
    ) -> list[KeyholderSet]:
        sets: list[KeyholderSet] = []
        for i, event in enumerate(events):
            if event.event not in _KEYHOLDER_EVENTS or event.fields["community"] != community:
                raise _invalid(f"keyholder history entry {i} of {_hex(community)} is not its own")
            if (i == 0) != (event.event == "CommunityCreated"):
                raise _invalid(f"the keyholder history of {_hex(community)} does not start with "
                               "its creation, or has it twice")
            if sets and event.position <= sets[-1].event.position:
                raise _invalid(f"the keyholder history of {_hex(community)} is out of order")
            current = KeyholderSet(
                community, tuple(event.fields["keyholders"]), event.fields["threshold"], event
            )
            if event.event == "CommunityCreated":
                call = self.call(event, ("createCommunity",))
                self.same(event, {k: call.args[k] for k in ("salt", "keyholders",
                                                            "threshold", "document")}, call)
                # The registry derives the id; so does anyone checking it, offline too.
                derived = community_id(call.args["salt"], current.keyholders, current.threshold)
                if derived != community:
                    raise _invalid(f"community {_hex(community)} is not the id its salt and "
                                   "initial keyholders give")
                typed = consent.TypedData(self.domain, "CreateCommunity", {
                    "community": community,
                    "keyholders": list(current.keyholders),
                    "threshold": current.threshold,
                    "document": event.fields["document"],
                    "deadline": call.args["deadline"],
                })
                # Every initial keyholder signs a creation: n of n, not k.
                self.signatures(event, typed, current, call.args, len(current.keyholders))
            else:
                call = self.call(event, ("rotateKeyholders",))
                self.same(event, {
                    "community": call.args["community"],
                    "keyholders": call.args["next"],
                    "threshold": call.args["nextThreshold"],
                    "document": call.args["document"],
                    "nonce": call.args["nonce"],
                }, call)
                if event.fields["nonce"] != i - 1:
                    raise _invalid(f"rotation {i} of {_hex(community)} has nonce "
                                   f"{event.fields['nonce']}: a rotation is missing")
                typed = consent.TypedData(self.domain, "RotateKeyholders", {
                    "community": community,
                    "keyholders": list(current.keyholders),
                    "threshold": current.threshold,
                    "document": event.fields["document"],
                    "nonce": event.fields["nonce"],
                    "deadline": call.args["deadline"],
                })
                previous = sets[-1]
                given = {**call.args, "keyholders": call.args["current"]}
                self.signatures(event, typed, previous, given, previous.threshold)
            sets.append(current)
        return sets

    def set_at(self, community: bytes, event: ChainEvent) -> KeyholderSet:
        """The keyholder set of ``community`` in force when ``event`` happened."""
        before = [s for s in self.timeline(community) if s.event.position < event.position]
        if not before:
            raise _invalid(f"{event.event} in {_hex(event.tx_hash)} predates community "
                           f"{_hex(community)}")
        return before[-1]

    # -- items -------------------------------------------------------------------------------

    def document(self, digest: bytes) -> bytes | None:
        return self.evidence.documents.get(str(Cid.from_digest(digest, RAW)))

    def registration(self, item: ItemEvidence) -> tuple[Record, bytes, tuple[str, ...]]:
        """The record, its key and the registration's signers, after checking them (a check
        made before on the very same inputs is reused, as a keyholder history's is)."""
        community = item.registration.fields["community"]
        self.timeline(community)
        key = (self.domain, item.key, item.batch, _event_key(item.registration),
               self._timeline_keys[community])
        return self._reused(_CHECKED_REGISTRATIONS, key, lambda: self._check_registration(item))

    def _check_registration(self, item: ItemEvidence) -> tuple[Record, bytes, tuple[str, ...]]:
        reg = item.registration
        fields = reg.fields
        community = fields["community"]
        holders = self.set_at(community, reg)
        if item.batch is not None:
            if reg.event != "BatchRegistered" or fields["root"] != item.batch.root:
                raise _invalid(f"item {_hex(item.key)} is said to be in batch "
                               f"{_hex(item.batch.root)} but its registration is another")
            if fields["batch"] != batch_key(community, item.batch.root):
                raise _invalid(f"batch {_hex(fields['batch'])} is not the key of community "
                               f"{_hex(community)}'s batch of root {_hex(item.batch.root)}")
            cid = bytes(_parse_cid(item.cid))
            if claim_key(community, cid) != item.key:
                raise _invalid(f"{_hex(item.key)} is not community {_hex(community)}'s claim "
                               f"on {item.cid}")
            # The leaf holds the content key: the bytes, whoever claims them.
            leaf = leaf_hash(BATCH_LEAF_TYPES, (content_key(cid), item.batch.metadata,
                                                item.batch.commitment))
            if not merkle_verify(item.batch.root, leaf, item.batch.proof):
                raise _invalid(f"the Merkle proof of item {_hex(item.key)} does not lead to "
                               f"batch root {_hex(item.batch.root)}")
            call = self.call(reg, ("registerBatch",))
            self.same(reg, {k: call.args[k] for k in ("root", "community", "count", "terms",
                                                      "manifest")}, call)
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterBatch", {
                "community": community, "root": fields["root"], "count": fields["count"],
                "terms": fields["terms"], "manifest": fields["manifest"],
                "deadline": call.args["deadline"],
            })
            record = Record(community, fields["count"].to_bytes(32, "big"), fields["terms"],
                            fields["manifest"], _ZERO32, fields["registrant"], reg.timestamp,
                            KIND_BATCH)
            signers = self.signatures(reg, typed, holders, call.args, holders.threshold)
            return record, fields["batch"], signers
        if reg.event not in ("ItemRegistered", "DerivativeRegistered"):
            raise _invalid(f"item {_hex(item.key)} has a {reg.event} as its registration")
        if fields["content"] != content_key(fields["cid"]):
            raise _invalid(f"the content key of {_hex(item.key)} is not its CID's hash")
        if fields["item"] != item.key or claim_key(community, fields["cid"]) != item.key:
            raise _invalid(f"{_hex(item.key)} is not community {_hex(community)}'s claim on "
                           "its registered CID")
        if reg.event == "ItemRegistered":
            call = self.call(reg, ("registerItem", "registerItemPacked"))
            names: tuple[str, ...] = ("community", "cid", "metadata", "terms", "commitment")
            self.same(reg, {k: call.args[k] for k in names}, call)
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterItem", {
                **{k: fields[k] for k in names}, "deadline": call.args["deadline"],
            })
            record = Record(community, fields["metadata"], fields["terms"], fields["commitment"],
                            _ZERO32, fields["registrant"], reg.timestamp, KIND_ITEM)
        else:
            call = self.call(reg, ("registerDerivative",))
            names = ("community", "parent", "cid", "metadata", "terms", "method", "aiEnhanced")
            self.same(reg, {k: call.args[k] for k in names}, call)
            # The parent steward's consent (parentSteward, parentRecord) is checked against
            # the parent's own evidence, in assess.
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterDerivative", {
                **{k: fields[k] for k in names}, "deadline": call.args["deadline"],
            })
            derivation = keccak(abi_encode(["bytes32", "bool"],
                                           [fields["method"], fields["aiEnhanced"]]))
            record = Record(community, fields["metadata"], fields["terms"], derivation,
                            fields["parent"], fields["registrant"], reg.timestamp,
                            KIND_DERIVATIVE)
        signers = self.signatures(reg, typed, holders, call.args, holders.threshold)
        return record, item.key, signers

    def assess(self, item: ItemEvidence, depth: int = 0) -> Assessment:
        if depth > _MAX_LINEAGE:
            raise _invalid(f"the lineage of {_hex(item.key)} is deeper than {_MAX_LINEAGE}")
        cid = _parse_cid(item.cid)
        content = content_key(bytes(cid))
        claimant = item.registration.fields["community"]
        if claim_key(claimant, bytes(cid)) != item.key:
            raise _invalid(f"{_hex(item.key)} is not community {_hex(claimant)}'s claim on CID "
                           f"{item.cid}")
        if item.batch is None and item.registration.fields.get("cid") != bytes(cid):
            raise _invalid(f"CID {item.cid} is not the one registered as {_hex(item.key)}")
        events = sorted((item.registration, *item.events), key=lambda e: e.position)
        if events[0] is not item.registration or len({e.position for e in events}) != len(events):
            raise _invalid(f"the events of {_hex(item.key)} are out of order or repeated")
        record, record_key, signers = self.registration(item)
        metadata_digest = item.batch.metadata if item.batch is not None else record.metadata
        metadata = _metadata(self.document(metadata_digest), item.cid)
        community = record.community
        steward = community
        terms, version, revoked = record.terms, 1, False
        item_subject = (
            batch_item_subject(record_key, content) if item.batch is not None else record_key
        )
        item_revoked = False
        terms_signers = signers
        terms_set = self.set_at(community, item.registration)
        custody: list[CustodyStep] = []
        for event in events[1:]:
            fields = event.fields
            if event.event == "TermsSet":
                if fields["subject"] != record_key:
                    raise _invalid(f"a TermsSet of {_hex(fields['subject'])} is not about "
                                   f"{_hex(item.key)}")
                call = self.call(event, ("setTerms",))
                self.same(event, {k: call.args[k] for k in ("subject", "version", "terms")},
                          call)
                self._record_arg(call, record, event)
                self._steward(event, steward)
                if fields["version"] != version + 1:
                    raise _invalid(f"terms version {fields['version']} of {_hex(item.key)} "
                                   f"follows version {version}")
                holders = self.set_at(steward, event)
                typed = consent.TypedData(self.domain, "SetTerms", {
                    "community": steward, "subject": record_key, "version": fields["version"],
                    "terms": fields["terms"], "deadline": call.args["deadline"],
                })
                terms_signers = self.signatures(event, typed, holders, call.args,
                                                holders.threshold)
                terms_set = holders
                terms, version, revoked = fields["terms"], fields["version"], False
            elif event.event == "TermsRevoked":
                subject = fields["subject"]
                if subject not in (record_key, item_subject):
                    raise _invalid(f"a TermsRevoked of {_hex(subject)} is not about "
                                   f"{_hex(item.key)}")
                if subject == record_key:
                    call = self.call(event, ("revokeTerms",))
                    self.same(event, {"subject": call.args["subject"]}, call)
                    self._record_arg(call, record, event)
                else:
                    call = self.call(event, ("revokeBatchItem",))
                    assert item.batch is not None  # item_subject differs only for batch items
                    if (call.args["root"], call.args["item"]) != (item.batch.root, content):
                        raise _invalid(f"the revocation in {_hex(event.tx_hash)} names "
                                       "another batch item")
                    self._record_arg(call, record, event, name="batchRecord")
                self.same(event, {"version": call.args["version"]}, call)
                self._steward(event, steward)
                holders = self.set_at(steward, event)
                typed = consent.TypedData(self.domain, "RevokeTerms", {
                    "community": steward, "subject": subject, "version": fields["version"],
                    "deadline": call.args["deadline"],
                })
                self.signatures(event, typed, holders, call.args, holders.threshold)
                if subject == record_key:
                    revoked = True
                else:
                    item_revoked = True
            elif event.event == "CustodyRecorded":
                steward = self._custody(event, record, record_key, steward, custody)
            else:
                raise _invalid(f"{event.event} is not an event in an item's history")
        parent: Assessment | None = None
        if item.registration.event == "DerivativeRegistered":
            parent_evidence = self.evidence.item(item.registration.fields["parent"])
            if parent_evidence is None:
                raise _invalid(f"the evidence lacks the parent of derivative {_hex(item.key)}")
            parent = self.assess(parent_evidence, depth + 1)
            self._parent_consent(item.registration, parent)
        reg_fields = item.registration.fields
        # Only a plain item's or a batch leaf's commitment is a plaintext commitment; a
        # derivative's record holds its derivation in that field.
        commitment = item.batch.commitment if item.batch is not None else (
            record.commitment if record.kind == KIND_ITEM else _ZERO32
        )
        return Assessment(
            key=item.key,
            cid=item.cid,
            kind=item.kind,
            community=community,
            steward=steward,
            record_key=record_key,
            record=record,
            metadata=metadata,
            terms_digest=terms,
            terms_version=version,
            revoked=revoked or item_revoked,
            encrypted=commitment != _ZERO32,
            signed_by=terms_signers,
            signing_set=terms_set,
            current_set=self.timeline(terms_set.community)[-1],
            custody=tuple(custody),
            parent=parent,
            ai_enhanced=reg_fields.get("aiEnhanced") if parent is not None else None,
            method_cid=str(Cid.from_digest(reg_fields["method"], RAW))
            if parent is not None else None,
            batch_root=item.batch.root if item.batch is not None else None,
            events=tuple(events),
            content=content,
            parent_steward=reg_fields["parentSteward"] if parent is not None else None,
        )

    def _parent_consent(self, reg: ChainEvent, parent: Assessment) -> None:
        """A derivative's registration against its parent's evidence: the call passed the
        parent's record, the event names the community that stewarded the parent at that
        moment, and k of that steward's keyholders then signed ConsentDerivative."""
        fields = reg.fields
        call = self.call(reg, ("registerDerivative",))
        self._record_arg(call, parent.record, reg, name="parentRecord")
        steward = parent.community
        for step in parent.custody:
            if step.event.position < reg.position:
                steward = step.steward_after
        if fields["parentSteward"] != steward:
            raise _invalid(f"derivative {_hex(fields['item'])} names parent steward "
                           f"{_hex(fields['parentSteward'])}, but {_hex(steward)} stewarded "
                           f"its parent {_hex(parent.key)} then")
        holders = self.set_at(steward, reg)
        typed = consent.derivative_consent(
            self.domain, fields["parent"], fields["community"], fields["cid"], fields["method"],
            fields["aiEnhanced"], call.args["deadline"],
        )
        self.signatures(reg, typed, holders, call.args["parentSteward"], holders.threshold)

    def _record_arg(
        self, call: RegistryCall, record: Record, event: ChainEvent, name: str = "record"
    ) -> None:
        given = call.args[name]
        ours = dict(zip(("community", "metadata", "terms", "commitment", "parent", "registrant",
                         "registeredAt", "kind"), record.as_abi(), strict=True))
        if {k: _norm(v) for k, v in given.items()} != {k: _norm(v) for k, v in ours.items()}:
            raise _invalid(f"transaction {_hex(event.tx_hash)} passed another record than the "
                           "registration's")

    def _steward(self, event: ChainEvent, steward: bytes) -> None:
        if event.fields["community"] != steward:
            raise _invalid(f"{event.event} in {_hex(event.tx_hash)} names community "
                           f"{_hex(event.fields['community'])}, not the steward {_hex(steward)}")

    def _custody(
        self,
        event: ChainEvent,
        record: Record,
        record_key: bytes,
        steward: bytes,
        steps: list[CustodyStep],
    ) -> bytes:
        fields = event.fields
        if fields["item"] != record_key:
            raise _invalid(f"a custody event of {_hex(fields['item'])} is not this item's")
        call = self.call(event, ("recordCustody",))
        self.same(event, {k: call.args[k] for k in ("item", "action", "counterparty",
                                                    "document", "nonce")}, call)
        self._record_arg(call, record, event)
        self._steward(event, steward)
        if fields["nonce"] != len(steps):
            raise _invalid(f"custody nonce {fields['nonce']} of {_hex(record_key)}: a custody "
                           "event is missing")
        action = fields["action"]
        typed = consent.TypedData(self.domain, "RecordCustody", {
            "item": record_key, "action": action, "community": steward,
            "counterparty": fields["counterparty"], "document": fields["document"],
            "nonce": fields["nonce"], "deadline": call.args["deadline"],
        })
        holders = self.set_at(steward, event)
        self.signatures(event, typed, holders, call.args["steward"], holders.threshold)
        after = steward
        if action in (CUSTODY_TRANSFER, CUSTODY_REPATRIATION):
            receiver = self.set_at(fields["counterparty"], event)
            self.signatures(event, typed, receiver, call.args["receiver"], receiver.threshold)
            after = fields["counterparty"]
        source, destination = (
            (fields["counterparty"], steward) if action == 3 else (steward, fields["counterparty"])
        )
        steps.append(CustodyStep(CUSTODY_ACTIONS.get(action, "unknown"), source, destination,
                                 after, str(Cid.from_digest(fields["document"], RAW)), event))
        return after


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(bytes(value))
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def derived_records(evidence: Evidence) -> dict[str, list[dict[str, Any]]]:
    """What the evidence implies, spelled out for readers of ``proofs.json``: ``records``, each
    item's registry record and the digest the registry stores for it; ``signatures``, every
    signature check (which EIP-712 message, which keyholder set, who signed). Raises
    :class:`EvidenceInvalid` as :func:`assess` does."""
    _check_documents(evidence.documents)
    checker = _Checker(evidence)
    records = []
    for item in evidence.items:
        a = checker.assess(item)
        record = dict(
            zip(
                ("community", "metadata", "terms", "commitment", "parent", "registrant",
                 "registered_at", "kind"),
                (_json_safe(v) for v in a.record.as_abi()),
                strict=True,
            )
        )
        records.append(
            {
                "item": _hex(a.key),
                "record_key": _hex(a.record_key),
                "record": record,
                "digest": _hex(a.record.digest()),
            }
        )
    unique = {json.dumps(r, sort_keys=True): r for r in checker.signed}
    signatures = sorted(unique.values(), key=lambda r: (r["tx_hash"], r["community"]))
    return {"records": records, "signatures": signatures}


def _norm(value: Any) -> Any:
    """One comparable form for ABI values (web3 returns lists, checksummed strings, bytes)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


def _parse_cid(text: str) -> Cid:
    try:
        return Cid.parse(text)
    except HeritageError:
        raise _invalid(f"{text!r} is not a CID") from None


def _metadata(data: bytes | None, cid: str) -> Mapping[str, Any] | None:
    """The item's metadata document, if the evidence has it and it names this CID."""
    if data is None:
        return None
    try:
        document = strict_json.loads(data)
    except ValueError:
        return None  # e.g. an encrypted metadata envelope: its digest still binds it
    if not isinstance(document, dict):
        return None
    named = document.get("cid")
    if named is not None and named != cid:
        raise _invalid(f"the metadata document of {cid} names another CID, {named}")
    return document


def _check_documents(documents: Mapping[str, bytes]) -> None:
    for name, data in documents.items():
        cid = _parse_cid(name)
        if cid.codec != RAW or not cid.matches(data):
            raise _invalid(f"document {name} does not hash to its CID")


def assess(evidence: Evidence, key: bytes) -> tuple[Assessment, tuple[str, ...]]:
    """Check the evidence about item ``key`` and say what it establishes.

    Returns the assessment and every signature problem found (empty: all signatures hold).
    Raises :class:`EvidenceInvalid` when the evidence contradicts itself, and
    :class:`~ledger.errors.NotFound`-free: an item absent from the evidence is EvidenceInvalid
    too, since the caller asked about an item the evidence claims to cover.
    """
    _check_documents(evidence.documents)
    item = evidence.item(key)
    if item is None:
        raise _invalid(f"the evidence says nothing about item {_hex(key)}")
    checker = _Checker(evidence)
    assessment = checker.assess(item)
    return assessment, tuple(dict.fromkeys(checker.problems))


def document_bytes(value: Any, where: str) -> bytes:
    """A document as proofs.json carries it (base64)."""
    try:
        return base64.b64decode(_str(value, where), validate=True)
    except ValueError:
        raise _invalid(f"{where} is not base64") from None


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
