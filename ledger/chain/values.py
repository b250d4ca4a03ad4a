"""Values of the registry's world, and the keys it files them under: pure, no I/O.

:class:`Community`, :class:`Record`, :class:`TermsState`, :class:`TxOutcome` … are frozen values;
the key functions (:func:`claim_key`, :func:`batch_key`, :func:`community_id` …) compute what the
registry computes, from their definitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.consent.typed_data import address_word
from ledger.errors import (
    UsageError,
)

__all__ = [
    "CUSTODY_LOAN",
    "CUSTODY_REPATRIATION",
    "CUSTODY_RETURN",
    "CUSTODY_TRANSFER",
    "KIND_BATCH",
    "KIND_DERIVATIVE",
    "KIND_ITEM",
    "REGISTRY_CONTRACT",
    "Call",
    "ChainHead",
    "ChainReads",
    "Community",
    "Party",
    "Record",
    "Registration",
    "TermsState",
    "TxOutcome",
    "as_bytes32",
    "batch_item_subject",
    "batch_key",
    "claim_key",
    "community_id",
    "content_key",
]

REGISTRY_CONTRACT: Final = "ProvenanceRegistry"
KIND_ITEM: Final = 1
KIND_BATCH: Final = 2
KIND_DERIVATIVE: Final = 3
CUSTODY_TRANSFER: Final = 1
CUSTODY_LOAN: Final = 2
CUSTODY_RETURN: Final = 3
CUSTODY_REPATRIATION: Final = 4
_ZERO32: Final = bytes(32)



def content_key(cid: bytes) -> bytes:
    """The content key of a CID: keccak256 of its binary form. It names the bytes, not who
    holds them; every registration event carries it (or its batch's root) as a topic."""
    return keccak(cid)


def claim_key(community: bytes, cid: bytes) -> bytes:
    """The registry key of ``community``'s claim on ``cid`` (an item, a derivative, or an
    item inside one of its batches): ``keccak256(abi.encode(community, keccak256(cid)))``,
    the registry's ``claimOf``."""
    return keccak(as_bytes32(community, "community") + keccak(cid))


def batch_key(community: bytes, root: bytes) -> bytes:
    """The registry key of ``community``'s batch of Merkle root ``root`` (``batchOf``)."""
    return keccak(as_bytes32(community, "community") + as_bytes32(root, "root"))


def community_id(salt: bytes, keyholders: Sequence[str], threshold: int) -> bytes:
    """The id the registry gives a community it creates (``communityIdOf``):
    ``keccak256(abi.encode(salt, keccak256(abi.encodePacked(keyholders)), threshold))``,
    keyholders in the increasing order the registry requires. (abi.encodePacked pads the
    elements of an array to 32 bytes, as EIP-712 hashes an ``address[]``.)"""
    if not 0 <= threshold < 256:
        raise UsageError(f"a threshold of {threshold} is not a uint8")
    packed = b"".join(address_word(k) for k in keyholders)
    return keccak(as_bytes32(salt, "salt") + keccak(packed) + threshold.to_bytes(32, "big"))


def batch_item_subject(batch: bytes, item: bytes) -> bytes:
    """The terms subject of one item (by content key) inside a batch (by batch key, see
    :func:`batch_key`; ``batchItemSubject``): what ``termsOf`` and a RevokeTerms signature
    name when that item alone is revoked."""
    return keccak(abi_encode(["bytes32", "bytes32"], [batch, item]))




def as_bytes32(value: bytes, what: str) -> bytes:
    """``value`` as exactly 32 bytes (UsageError naming ``what`` otherwise)."""
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise UsageError(f"{what} must be 32 bytes, got {value!r}")
    return bytes(value)


@dataclass(frozen=True, slots=True)
class Community:
    """A community as the registry checks it: id, keyholders (strictly increasing), k."""

    id: bytes
    keyholders: tuple[ChecksumAddress, ...]
    threshold: int

    @classmethod
    def of(cls, id: bytes, keyholders: Iterable[str], threshold: int) -> Community:
        """Keyholders in the order the contract wants (increasing address)."""
        ordered = sorted((to_checksum_address(k) for k in keyholders), key=lambda a: int(a, 16))
        return cls(as_bytes32(id, "community id"), tuple(ordered), threshold)

    @classmethod
    def founded(cls, salt: bytes, keyholders: Iterable[str], threshold: int) -> Community:
        """A community about to be created: its id derived as the registry derives it."""
        ordered = cls.of(bytes(32), keyholders, threshold)
        derived = community_id(salt, ordered.keyholders, threshold)
        return cls.of(derived, ordered.keyholders, threshold)

    def config_hash(self) -> bytes:
        """``keccak256(abi.encode(keyholders, threshold))``, what ``communityConfig`` stores."""
        return keccak(abi_encode(["address[]", "uint8"], [list(self.keyholders), self.threshold]))


@dataclass(frozen=True, slots=True)
class Record:
    """What a stored record digest commits to (``ProvenanceRegistry.Record``)."""

    community: bytes
    metadata: bytes
    terms: bytes
    commitment: bytes
    parent: bytes
    registrant: ChecksumAddress
    registered_at: int
    kind: int

    def as_abi(self) -> tuple[Any, ...]:
        return (
            self.community,
            self.metadata,
            self.terms,
            self.commitment,
            self.parent,
            self.registrant,
            self.registered_at,
            self.kind,
        )

    def digest(self) -> bytes:
        """``keccak256(abi.encode(record))``, what ``records`` stores."""
        types = "(bytes32,bytes32,bytes32,bytes32,bytes32,address,uint64,uint8)"
        return keccak(abi_encode([types], [self.as_abi()]))


@dataclass(frozen=True, slots=True)
class TermsState:
    """``termsOf``: version 1 with a zero digest means "the terms it was registered with"."""

    version: int
    terms: bytes
    revoked: bool
    updated_at: int


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The live chain id and the head block, read together."""

    chain_id: int
    number: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainReads:
    """Stored record digests at one block and raw signed transactions, read together."""

    block: int
    records: Mapping[bytes, bytes]  # key → ``records(key)`` at ``block`` (zero: none)
    raw_transactions: Mapping[bytes, bytes]  # tx hash → raw signed tx (absent: node has none)


@dataclass(frozen=True, slots=True)
class Party:
    """One community's side of a custody action: its configuration and packed signatures."""

    community: Community
    signatures: bytes

    def as_abi(self) -> tuple[Any, ...]:
        return (list(self.community.keyholders), self.community.threshold, self.signatures)

    @classmethod
    def absent(cls) -> Party:
        """The receiver of a loan or return: nobody signs."""
        return cls(Community(_ZERO32, (), 0), b"")


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """A mined, successful transaction."""

    tx_hash: bytes
    block: int
    gas_used: int
    nonce: int
    function: str
    block_timestamp: int

    @property
    def tx_hex(self) -> str:
        return "0x" + self.tx_hash.hex()


@dataclass(frozen=True, slots=True)
class Registration:
    """An item, derivative or batch just registered: its key, stored record and transaction."""

    key: bytes
    record: Record
    outcome: TxOutcome


@dataclass(frozen=True, slots=True)
class Call:
    """A registry function and its ABI arguments: what a transaction or an eth_call runs."""

    function: str
    args: tuple[Any, ...]

