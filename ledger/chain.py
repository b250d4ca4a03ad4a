"""A typed client for ``ProvenanceRegistry`` on any EVM JSON-RPC chain, with a crash-safe
journal of every signed raw transaction.

Three layers, each usable alone:

- values (:class:`Community`, :class:`Record`, :class:`TermsState`, :class:`TxOutcome` …) and
  :class:`Call`, a contract call described as data; :class:`Calls` builds one per registry
  function. Pure: no I/O.
- :class:`TxJournal`: signed raw transactions under ``<data>/journal/``, one file per
  transaction, written temp → fsync → rename → fsync of the directory *before* the
  transaction is sent, so that a crash of the client or of the node never loses one.
- :class:`RegistryClient`: estimates, signs locally with a sender account, journals, sends,
  waits for the receipt and turns a revert into :class:`~ledger.errors.RegistryReverted`
  carrying the custom error's name and arguments. :meth:`RegistryClient.recover` re-sends
  whatever the journal holds and the chain lacks.

Signatures are made elsewhere (:mod:`ledger.consent`); this module only carries them.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, TxParams, TxReceipt

from contracts import Artifact, load_artifact
from ledger.consent.typed_data import Domain, address_word
from ledger.errors import (
    ChainError,
    ChainUnavailable,
    JournalCorrupt,
    NotFound,
    RegistryReverted,
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
    "REGISTER_ITEM_PACKED_SELECTOR",
    "Call",
    "Calls",
    "ChainHead",
    "ChainReads",
    "Community",
    "JournalEntry",
    "Party",
    "Record",
    "RecoveryReport",
    "Registration",
    "RegistryClient",
    "RevertDecoder",
    "TermsState",
    "TxJournal",
    "TxOutcome",
    "batch_item_subject",
    "batch_key",
    "claim_key",
    "community_id",
    "content_key",
    "pack_register_item",
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
_RECORDS_SELECTOR: Final = keccak(text="records(bytes32)")[:4]
_GAS_MARGIN_NUM: Final = 6  # estimate × 6/5: room for a timestamp-dependent path, never less
_GAS_MARGIN_DEN: Final = 5
_JOURNAL_NAME: Final = re.compile(r"(\d{20})-0x([0-9a-f]{64})\.json")


# ---- values ----------------------------------------------------------------------------------


def _rpc_bytes(value: Any, method: str) -> bytes:
    """A JSON-RPC hex result as bytes (ChainError for anything else)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainError(f"{method} returned {value!r}, not 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ChainError(f"{method} returned {value[:80]!r}, not 0x-prefixed hex") from None


class _PlainPost:
    """JSON-RPC over one kept-alive ``http.client`` connection per thread, for the read path
    that verification waits on. web3's provider goes through requests, whose bookkeeping is a
    third of a millisecond per request, most of a local round trip; this is used only where it
    means the same as the provider (a plain ``http://`` URL, no proxy for it, no extra request
    settings), else the provider is."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._local = threading.local()

    @classmethod
    def for_provider(cls, provider: object) -> _PlainPost | None:
        if type(provider) is not HTTPProvider or provider.endpoint_uri is None:
            return None
        url = str(provider.endpoint_uri)
        parts = urlsplit(url)
        settings = dict(provider.get_request_kwargs())
        if (
            parts.scheme != "http"
            or parts.username is not None
            or set(settings) - {"timeout", "headers"}
            or settings.get("headers") != HTTPProvider.get_request_headers()
            or requests.utils.get_environ_proxies(url)
        ):
            return None
        timeout = settings.get("timeout")
        return cls(url, float(timeout) if isinstance(timeout, int | float) else 30.0)

    def post(self, body: bytes) -> Any:
        """The decoded JSON answer to ``body``; OSError or HTTPException when none comes."""
        return self.send(body).result()

    def send(self, body: bytes) -> _PendingPost:
        """Write the request now and read its answer later, with the handle's ``result()``:
        the node works on it while the caller does something else (hashes a file, checks
        evidence). A connection carries one request at a time, so a pending answer of this
        thread's connection is read first (and kept for its handle)."""
        previous: _PendingPost | None = getattr(self._local, "pending", None)
        if previous is not None:
            previous.receive()
        pending = _PendingPost(self, body)
        self._local.pending = pending
        pending.start()
        return pending

    def connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it was just made."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        try:
            conn.connect()
            # http.client writes the headers and the body in two sends; with Nagle's
            # algorithm the second can wait for the peer's delayed ACK of the first:
            # back-to-back head() calls measured 44 ms each without this, 0.13 ms with it, on
            # loopback. urllib3 sets this option too.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.drop()
            raise
        return conn, True

    def drop(self) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None


class _PendingPost:
    """One request written on a :class:`_PlainPost` connection, its answer not read yet."""

    def __init__(self, plain: _PlainPost, body: bytes) -> None:
        self.plain = plain
        self.body = body
        self._conn: http.client.HTTPConnection | None = None
        self._fresh = False
        self._answer: Any = None
        self._error: BaseException | None = None
        self._done = False

    def _write(self) -> None:
        self._conn, self._fresh = self.plain.connection()
        self._conn.request("POST", self.plain.path, self.body, {"Content-Type": "application/json"})

    def _read(self) -> Any:
        assert self._conn is not None
        response = self._conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise http.client.HTTPException(f"HTTP status {response.status}")
        return json.loads(data)

    def start(self) -> None:
        try:
            self._write()
        except (OSError, http.client.HTTPException) as exc:
            self._failed(exc)

    def receive(self) -> None:
        """Read the answer (once): errors are kept for :meth:`result`."""
        if self._done:
            return
        if getattr(self.plain._local, "pending", None) is self:
            self.plain._local.pending = None
        if self._error is None:
            try:
                self._answer = self._read()
            except (OSError, http.client.HTTPException) as exc:
                self._failed(exc)
        self._done = True

    def _failed(self, exc: BaseException) -> None:
        """A kept-alive connection the node had closed: once more, on a new one."""
        self.plain.drop()
        if self._fresh or self._error is not None:
            self._error = exc
            return
        self._error = exc
        try:
            self._write()
            self._answer = self._read()
            self._error = None
        except (OSError, http.client.HTTPException) as again:
            self.plain.drop()
            self._error = again
        self._done = True

    def result(self) -> Any:
        """The decoded JSON answer; OSError or HTTPException when none came."""
        self.receive()
        if self._error is not None:
            raise self._error
        return self._answer


def content_key(cid: bytes) -> bytes:
    """The content key of a CID: keccak256 of its binary form. It names the bytes, not who
    holds them; every registration event carries it (or its batch's root) as a topic."""
    return keccak(cid)


def claim_key(community: bytes, cid: bytes) -> bytes:
    """The registry key of ``community``'s claim on ``cid`` (an item, a derivative, or an
    item inside one of its batches): ``keccak256(abi.encode(community, keccak256(cid)))``,
    the registry's ``claimOf``."""
    return keccak(_b32(community, "community") + keccak(cid))


def batch_key(community: bytes, root: bytes) -> bytes:
    """The registry key of ``community``'s batch of Merkle root ``root`` (``batchOf``)."""
    return keccak(_b32(community, "community") + _b32(root, "root"))


def community_id(salt: bytes, keyholders: Sequence[str], threshold: int) -> bytes:
    """The id the registry gives a community it creates (``communityIdOf``):
    ``keccak256(abi.encode(salt, keccak256(abi.encodePacked(keyholders)), threshold))``,
    keyholders in the increasing order the registry requires. (abi.encodePacked pads the
    elements of an array to 32 bytes, as EIP-712 hashes an ``address[]``.)"""
    if not 0 <= threshold < 256:
        raise UsageError(f"a threshold of {threshold} is not a uint8")
    packed = b"".join(address_word(k) for k in keyholders)
    return keccak(_b32(salt, "salt") + keccak(packed) + threshold.to_bytes(32, "big"))


def batch_item_subject(batch: bytes, item: bytes) -> bytes:
    """The terms subject of one item (by content key) inside a batch (by batch key, see
    :func:`batch_key`; ``batchItemSubject``): what ``termsOf`` and a RevokeTerms signature
    name when that item alone is revoked."""
    return keccak(abi_encode(["bytes32", "bytes32"], [batch, item]))


#: Selector of ``registerItemPacked()``, whose arguments follow it packed, not ABI-encoded.
REGISTER_ITEM_PACKED_SELECTOR: Final = keccak(b"registerItemPacked()")[:4]


def pack_register_item(
    community: bytes,
    keyholders: Sequence[str],
    threshold: int,
    cid: bytes,
    metadata: bytes,
    terms: bytes,
    commitment: bytes,
    deadline: int,
    signatures: bytes,
) -> bytes:
    """Calldata of ``registerItemPacked()``: the selector, then, big-endian and unpadded,
    community (32) ‖ k (1) ‖ n (1) ‖ n keyholders (20 each) ‖ metadata (32) ‖ terms (32) ‖
    commitment (32) ‖ deadline (8) ‖ CID length (1) ‖ CID ‖ signatures (65 each)."""
    if not 0 < len(keyholders) < 256 or not 0 < threshold < 256:
        raise UsageError(
            f"a packed registration carries 1 to 255 keyholders and a threshold of 1 to 255, "
            f"not {len(keyholders)} and {threshold}"
        )
    if not 0 < len(cid) < 256:
        raise UsageError(
            f"a packed registration carries a CID of 1 to 255 bytes, not {len(cid)}",
            hint="CIDs of sha2-256 content are 34 to 36 bytes",
        )
    if not 0 <= deadline < 1 << 64:
        raise UsageError(f"deadline {deadline} does not fit in 64 bits")
    return b"".join(
        (
            REGISTER_ITEM_PACKED_SELECTOR,
            _b32(community, "community"),
            bytes((threshold, len(keyholders))),
            *(bytes.fromhex(to_checksum_address(k)[2:]) for k in keyholders),
            _b32(metadata, "metadata"),
            _b32(terms, "terms"),
            _b32(commitment, "commitment"),
            deadline.to_bytes(8, "big"),
            bytes((len(cid),)),
            bytes(cid),
            bytes(signatures),
        )
    )


def _b32(value: bytes, what: str) -> bytes:
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
        return cls(_b32(id, "community id"), tuple(ordered), threshold)

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


class Calls:
    """Builders of :class:`Call` for every state-changing registry function (pure)."""

    @staticmethod
    def create_community(
        community: Community, salt: bytes, document: bytes, deadline: int, signatures: bytes
    ) -> Call:
        """``community`` must carry the id the registry derives from ``salt`` and its set."""
        if community_id(salt, community.keyholders, community.threshold) != community.id:
            raise UsageError(
                f"community id 0x{community.id.hex()} is not the one salt 0x{salt.hex()} and "
                "its keyholders give",
                hint="make it with Community.founded(salt, keyholders, threshold)",
            )
        return Call(
            "createCommunity",
            (
                _b32(salt, "salt"),
                list(community.keyholders),
                community.threshold,
                _b32(document, "document"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def rotate_keyholders(
        current: Community,
        next_keyholders: Sequence[str],
        next_threshold: int,
        document: bytes,
        nonce: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "rotateKeyholders",
            (
                current.id,
                list(current.keyholders),
                current.threshold,
                [to_checksum_address(k) for k in next_keyholders],
                next_threshold,
                _b32(document, "document"),
                nonce,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_item(
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        """``registerItemPacked``: the registration as the client sends it (see
        :func:`pack_register_item`); :meth:`register_item_abi` is the same action ABI-encoded."""
        return Call(
            "registerItemPacked",
            Calls.register_item_abi(
                community, cid, metadata, terms, commitment, deadline, signatures
            ).args,
        )

    @staticmethod
    def register_item_abi(
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "registerItem",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                bytes(cid),
                _b32(metadata, "metadata"),
                _b32(terms, "terms"),
                _b32(commitment, "commitment"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_batch(
        community: Community,
        root: bytes,
        count: int,
        terms: bytes,
        manifest: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "registerBatch",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                _b32(root, "root"),
                count,
                _b32(terms, "terms"),
                _b32(manifest, "manifest"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_derivative(
        community: Community,
        parent: bytes,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        method: bytes,
        ai_enhanced: bool,
        deadline: int,
        signatures: bytes,
        parent_record: Record,
        parent_steward: Party,
    ) -> Call:
        """``signatures``: the deriving community's over RegisterDerivative;
        ``parent_steward``: the parent claim's steward with its ConsentDerivative signatures."""
        return Call(
            "registerDerivative",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                _b32(parent, "parent"),
                bytes(cid),
                _b32(metadata, "metadata"),
                _b32(terms, "terms"),
                _b32(method, "method"),
                ai_enhanced,
                deadline,
                signatures,
                parent_record.as_abi(),
                parent_steward.as_abi(),
            ),
        )

    @staticmethod
    def set_terms(
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        terms: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "setTerms",
            (
                _b32(subject, "subject"),
                record.as_abi(),
                list(steward.keyholders),
                steward.threshold,
                version,
                _b32(terms, "terms"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def revoke_terms(
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "revokeTerms",
            (
                _b32(subject, "subject"),
                record.as_abi(),
                list(steward.keyholders),
                steward.threshold,
                version,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def revoke_batch_item(
        root: bytes,
        batch_record: Record,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "revokeBatchItem",
            (
                _b32(root, "root"),
                batch_record.as_abi(),
                _b32(item, "item"),
                _b32(metadata, "metadata"),
                _b32(commitment, "commitment"),
                [_b32(p, "proof node") for p in proof],
                list(steward.keyholders),
                steward.threshold,
                version,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def record_custody(
        item: bytes,
        record: Record,
        action: int,
        counterparty: bytes,
        document: bytes,
        nonce: int,
        deadline: int,
        steward: Party,
        receiver: Party,
    ) -> Call:
        return Call(
            "recordCustody",
            (
                _b32(item, "item"),
                record.as_abi(),
                action,
                _b32(counterparty, "counterparty"),
                _b32(document, "document"),
                nonce,
                deadline,
                steward.as_abi(),
                receiver.as_abi(),
            ),
        )


# ---- revert decoding -------------------------------------------------------------------------


def _canonical_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry.get("components", ()))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_MESSAGES: Final[Mapping[str, str]] = {
    "CommunityExists": "community {community} already exists",
    "UnknownCommunity": "community {community} is not registered",
    "KeyholdersMismatch": "the keyholders and threshold given for community {community} "
    "are not the ones the registry holds",
    "InvalidThreshold": "threshold {threshold} is not between 1 and the {keyholders} keyholders "
    "(at most 32)",
    "KeyholdersNotIncreasing": "keyholder {index} ({keyholder}) is not greater than the one "
    "before it: keyholders must be distinct and sorted by increasing address",
    "InvalidSignatureLength": "packed signatures are {length} bytes, not a multiple of 65",
    "SignatureHighS": "signature {index} has a high s value (a malleated signature)",
    "SignatureBadV": "signature {index} has v = {v}; only 27 and 28 are accepted",
    "SignatureInvalid": "signature {index} recovers no address",
    "SignerNotKeyholder": "signature {index} is by {signer}, who is not a keyholder, "
    "signed twice or out of increasing order (or signed another chain, contract or message)",
    "NotEnoughSignatures": "{given} signatures given, {required} required",
    "DeadlineExpired": "the signatures expired at {deadline}; the chain's time is {timestamp}",
    "EmptyCid": "the CID is empty",
    "AlreadyRegistered": "{key} is already registered",
    "UnknownRecord": "nothing is registered under {key}",
    "RecordMismatch": "the record given for {key} is not the one the registry stored",
    "WrongVersion": "terms version {given} of {subject} was given; the registry expects {expected}",
    "AlreadyRevoked": "terms version {version} of {subject} are already revoked",
    "WrongNonce": "nonce {given} was given; the registry expects {expected}",
    "UnknownCustodyAction": "custody action {action} is not one of 1 (transfer), 2 (loan), "
    "3 (return), 4 (repatriation)",
    "InvalidProof": "the Merkle proof does not lead from leaf {leaf} to batch root {root}",
    "EmptyBatch": "a batch needs at least one item",
}

_HINTS: Final[Mapping[str, str]] = {
    "SignerNotKeyholder": "have current keyholders sign this exact action for this chain and "
    "registry, and pack signatures in increasing signer order (consent.pack_signatures)",
    "DeadlineExpired": "collect fresh signatures with a later deadline",
    "KeyholdersMismatch": "read the community's current keyholders (they may have rotated)",
    "WrongVersion": "read termsOf(subject) and sign the next version",
    "WrongNonce": "read the current nonce and sign again",
    "NotEnoughSignatures": "collect signatures from at least k keyholders",
}


@dataclass(frozen=True, slots=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


class RevertDecoder:
    """Revert data → :class:`RegistryReverted`, by selector, from an ABI's error entries."""

    def __init__(self, abi: Iterable[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, _ErrorAbi] = {
            keccak(text="Error(string)")[:4]: _ErrorAbi("Error", ("reason",), ("string",)),
            keccak(text="Panic(uint256)")[:4]: _ErrorAbi("Panic", ("code",), ("uint256",)),
        }
        for entry in abi:
            if entry.get("type") != "error":
                continue
            inputs = entry.get("inputs", ())
            types = tuple(_canonical_type(i) for i in inputs)
            signature = f"{entry['name']}({','.join(types)})"
            self._errors[keccak(text=signature)[:4]] = _ErrorAbi(
                str(entry["name"]), tuple(str(i.get("name", "")) for i in inputs), types
            )

    def error_names(self) -> frozenset[str]:
        return frozenset(e.name for e in self._errors.values())

    def decode(
        self, data: bytes, *, function: str, tx_hash: bytes | None = None
    ) -> RegistryReverted:
        selector = bytes(data[:4])
        known = self._errors.get(selector) if len(data) >= 4 else None
        where = (
            f"{function} reverted"
            if tx_hash is None
            else (f"{function} (transaction 0x{tx_hash.hex()}) reverted")
        )
        if known is None:
            return RegistryReverted(
                f"{where} with unknown error data 0x{bytes(data).hex() or ''}",
                error_name="Unknown",
                error_args={},
                selector=selector,
                data=bytes(data),
                function=function,
                tx_hash=tx_hash,
            )
        try:
            values = abi_decode(list(known.types), bytes(data[4:]))
        except (DecodingError, ValueError, OverflowError):
            return RegistryReverted(
                f"{where} with {known.name} but its arguments do not decode: 0x{bytes(data).hex()}",
                error_name=known.name,
                error_args={},
                selector=selector,
                data=bytes(data),
                function=function,
                tx_hash=tx_hash,
            )
        args = {
            (name or f"arg{i}"): (
                to_checksum_address(value) if kind == "address" else _plain(value)
            )
            for i, (name, kind, value) in enumerate(
                zip(known.names, known.types, values, strict=True)
            )
        }
        template = _MESSAGES.get(known.name)
        if template is not None:
            plain = template.format(**args)
        else:
            plain = ", ".join(f"{k}={v}" for k, v in args.items())
        return RegistryReverted(
            f"{where} with {known.name}: {plain}",
            hint=_HINTS.get(known.name),
            error_name=known.name,
            error_args=args,
            selector=selector,
            data=bytes(data),
            function=function,
            tx_hash=tx_hash,
        )


def _revert_data(exc: ContractLogicError) -> bytes | None:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


# ---- journal ---------------------------------------------------------------------------------

JournalState = Literal["signed", "confirmed", "reverted"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One signed raw transaction as the journal holds it."""

    chain_id: int
    sender: ChecksumAddress
    nonce: int
    tx_hash: bytes
    raw: bytes
    function: str
    state: JournalState
    block: int | None = None

    @property
    def file_name(self) -> str:
        return f"{self.nonce:020d}-0x{self.tx_hash.hex()}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "chain_id": self.chain_id,
            "sender": self.sender,
            "nonce": self.nonce,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "raw": "0x" + self.raw.hex(),
            "function": self.function,
            "state": self.state,
            "block": self.block,
        }

    @classmethod
    def from_json(cls, document: Any, where: str) -> JournalEntry:
        try:
            entry = cls(
                chain_id=int(document["chain_id"]),
                sender=to_checksum_address(document["sender"]),
                nonce=int(document["nonce"]),
                tx_hash=bytes.fromhex(str(document["tx_hash"]).removeprefix("0x")),
                raw=bytes.fromhex(str(document["raw"]).removeprefix("0x")),
                function=str(document["function"]),
                state=document["state"],
                block=None if document.get("block") is None else int(document["block"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalCorrupt(f"{where} is not a journal entry: {exc!r}") from None
        if entry.state not in ("signed", "confirmed", "reverted"):
            raise JournalCorrupt(f"{where} has an unknown state {entry.state!r}")
        if keccak(entry.raw) != entry.tx_hash:
            raise JournalCorrupt(
                f"{where}: the raw transaction does not hash to 0x{entry.tx_hash.hex()}",
                hint="the file was damaged; it cannot be re-sent",
            )
        return entry


class TxJournal:
    """Signed raw transactions in one directory, one file each, written crash-safely."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync

    @classmethod
    def in_data_dir(cls, data_dir: Path, *, fsync: bool = True) -> TxJournal:
        return cls(data_dir / "journal", fsync=fsync)

    def _fsync_dir(self) -> None:
        if not self.fsync:
            return
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def write(self, entry: JournalEntry) -> Path:
        """Write (or overwrite) ``entry``: temp file, fsync, rename, fsync of the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / entry.file_name
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(entry.to_json(), out, sort_keys=True)
            out.write("\n")
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
        tmp.replace(path)
        self._fsync_dir()
        return path

    def remove(self, entry: JournalEntry) -> None:
        (self.directory / entry.file_name).unlink(missing_ok=True)
        self._fsync_dir()

    def entries(self) -> list[JournalEntry]:
        """Every entry, ordered by (sender, nonce)."""
        if not self.directory.is_dir():
            return []
        found: list[JournalEntry] = []
        for path in self.directory.iterdir():
            if not _JOURNAL_NAME.fullmatch(path.name):
                continue
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise JournalCorrupt(f"cannot read journal entry {path}: {exc}") from None
            found.append(JournalEntry.from_json(document, str(path)))
        return sorted(found, key=lambda e: (int(e.sender, 16), e.nonce, e.tx_hash))

    def prune(self, *, up_to_block: int) -> int:
        """Forget confirmed or reverted entries mined at or before ``up_to_block``
        (final on this chain); returns how many were removed."""
        removed = 0
        for entry in self.entries():
            if entry.state != "signed" and entry.block is not None and entry.block <= up_to_block:
                self.remove(entry)
                removed += 1
        return removed


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`RegistryClient.recover` found and did, entry by entry."""

    on_chain: tuple[JournalEntry, ...] = ()
    resent: tuple[JournalEntry, ...] = ()
    reverted: tuple[tuple[JournalEntry, RegistryReverted], ...] = ()
    conflicts: tuple[tuple[JournalEntry, str], ...] = ()
    other_chains: tuple[JournalEntry, ...] = ()

    @property
    def clean(self) -> bool:
        """True when every journalled transaction of this chain is on it, as signed."""
        return not self.reverted and not self.conflicts


# ---- the client ------------------------------------------------------------------------------


@dataclass
class _Pending:
    entry: JournalEntry
    call: Call
    params: TxParams = field(default_factory=lambda: cast(TxParams, {}))


class _RawTransactionCache:
    """Raw signed transactions by hash, least recently used dropped beyond ``max_bytes``.

    Safe to keep for as long as the process lives: a transaction hash is the keccak of the
    raw bytes, so the bytes under a hash never change (a reorganisation may drop or move a
    transaction, never alter it); bytes that do not hash to the name asked for are not kept.
    Verification reads the same communities' transactions for every item."""

    def __init__(self, max_bytes: int = 16 << 20) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, tx_hash: bytes) -> bytes | None:
        with self._lock:
            raw = self._entries.get(tx_hash)
            if raw is not None:
                self._entries.move_to_end(tx_hash)
            return raw

    def put(self, tx_hash: bytes, raw: bytes) -> None:
        if len(raw) > self.max_bytes or keccak(raw) != tx_hash:
            return
        with self._lock:
            if tx_hash in self._entries:
                return
            self._entries[tx_hash] = raw
            self._bytes += len(raw)
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)


class RegistryClient:
    """Every registry function, typed; transactions signed locally by ``sender``.

    ``journal`` receives every signed raw transaction before it is sent; without one the
    client refuses to send (pass ``TxJournal.in_data_dir(settings.data_dir)``).
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        sender: LocalAccount,
        journal: TxJournal,
        *,
        artifact: Artifact | None = None,
        from_block: int = 0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.sender = sender
        self.journal = journal
        self.from_block = from_block
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.artifact = artifact or load_artifact(REGISTRY_CONTRACT)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self.decoder = RevertDecoder(self.artifact.abi)
        self._nonce: int | None = None
        # (provider, its plain transport or None), made on first use by the read path
        self._plain_post: tuple[object, _PlainPost | None] | None = None
        self._raw_transactions = _RawTransactionCache()
        # Seconds the last head() took (None: not asked yet): how far away the chain is.
        self.head_seconds: float | None = None

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _rpc(self) -> Iterator[None]:
        try:
            yield
        except requests.RequestException as exc:
            raise ChainUnavailable(
                f"no chain answers at {self._endpoint()} ({type(exc).__name__})",
                hint="start the local chain with `heritage chain up`, or check HERITAGE_RPC_URL",
            ) from None
        except (Web3RPCError, TimeExhausted) as exc:
            raise ChainError(f"the chain at {self._endpoint()} failed: {exc}") from None

    def _endpoint(self) -> str:
        return str(getattr(self.w3.provider, "endpoint_uri", "the configured RPC URL"))

    def chain_id(self) -> int:
        """The live chain id (asked every time: a chain may change it, anvil can)."""
        with self._rpc():
            return int(self.w3.eth.chain_id)

    def domain(self) -> Domain:
        """The EIP-712 domain signatures must be made in: live chain id, this registry."""
        return Domain(chain_id=self.chain_id(), verifying_contract=self.address)

    def _function(self, call: Call) -> Any:
        try:
            return self.contract.get_function_by_name(call.function)(*call.args)
        except (ValueError, TypeError, Web3Exception) as exc:
            raise UsageError(f"cannot encode {call.function}{call.args!r}: {exc}") from None

    def encode(self, call: Call) -> bytes:
        """The calldata of ``call``."""
        if call.function == "registerItemPacked":
            return pack_register_item(*call.args)
        return bytes(HexBytes(self._function(call)._encode_transaction_data()))

    def _view(self, function: str, *args: Any) -> Any:
        with self._rpc():
            try:
                return self.contract.get_function_by_name(function)(*args).call()
            except ContractLogicError as exc:
                raise self._reverted(exc, function) from None

    def _reverted(
        self, exc: ContractLogicError, function: str, tx_hash: bytes | None = None
    ) -> RegistryReverted:
        data = _revert_data(exc)
        if data is None:
            return RegistryReverted(
                f"{function} reverted without error data ({exc.message})",
                error_name="Unknown",
                error_args={},
                selector=b"",
                data=b"",
                function=function,
                tx_hash=tx_hash,
            )
        return self.decoder.decode(data, function=function, tx_hash=tx_hash)

    def simulate(self, call: Call, *, block: int | str = "latest") -> bytes:
        """Run ``call`` with eth_call from the sender (no transaction); its return data.
        Raises :class:`RegistryReverted` exactly as sending it would."""
        return self.simulate_calldata(self.encode(call), call.function, block=block)

    def simulate_calldata(
        self, data: bytes, function: str, *, block: int | str = "latest"
    ) -> bytes:
        """:meth:`simulate` for calldata made elsewhere; ``function`` names it in errors."""
        params: TxParams = {"from": self.sender.address, "to": self.address, "data": HexBytes(data)}
        with self._rpc():
            try:
                return bytes(self.w3.eth.call(params, block_identifier=cast(Any, block)))
            except ContractLogicError as exc:
                raise self._reverted(exc, function) from None

    def estimate_gas(self, call: Call) -> int:
        params: TxParams = {
            "from": self.sender.address,
            "to": self.address,
            "data": HexBytes(self.encode(call)),
        }
        with self._rpc():
            try:
                return int(self.w3.eth.estimate_gas(params))
            except ContractLogicError as exc:
                raise self._reverted(exc, call.function) from None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            with self._rpc():
                self._nonce = int(self.w3.eth.get_transaction_count(self.sender.address, "pending"))
        return self._nonce

    def resync_nonce(self) -> int:
        """Forget the locally tracked nonce and read it from the chain (after a revert of
        the chain, e.g. ``evm_revert``, or another client sending from the same account)."""
        self._nonce = None
        return self._next_nonce()

    def _fees(self) -> dict[str, int]:
        with self._rpc():
            block = self.w3.eth.get_block("latest")
            base = int(block.get("baseFeePerGas", 0) or 0)
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError):
                tip = 10**9
        # Twice the base fee keeps the transaction valid through six full blocks of rises,
        # and through a node restart that resets the base fee: a journalled raw transaction
        # must stay sendable as it is.
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _sign(self, call: Call, gas: int | None) -> _Pending:
        estimate = self.estimate_gas(call) if gas is None else gas
        nonce = self._next_nonce()
        chain_id = self.chain_id()
        params: TxParams = cast(
            TxParams,
            {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonce,
                "to": self.address,
                "value": 0,
                "data": "0x" + self.encode(call).hex(),
                "gas": estimate * _GAS_MARGIN_NUM // _GAS_MARGIN_DEN,
                **self._fees(),
            },
        )
        signed = self.sender.sign_transaction(cast(dict[str, Any], params))
        entry = JournalEntry(
            chain_id=chain_id,
            sender=self.sender.address,
            nonce=nonce,
            tx_hash=bytes(signed.hash),
            raw=bytes(signed.raw_transaction),
            function=call.function,
            state="signed",
        )
        # The journal holds the transaction before any node sees it.
        self.journal.write(entry)
        self._nonce = nonce + 1
        return _Pending(entry, call, params)

    def _send_raw(self, pending: _Pending) -> None:
        try:
            with self._rpc():
                self.w3.eth.send_raw_transaction(pending.entry.raw)
        except ChainUnavailable:
            raise  # maybe sent, maybe not: the journal entry stays for recover()
        except ChainError as exc:
            if "already known" in exc.message or "already imported" in exc.message:
                return
            # The node refused it outright: the nonce was not consumed.
            self.journal.remove(pending.entry)
            self._nonce = None
            raise ChainError(
                f"the node refused {pending.call.function} (nonce {pending.entry.nonce}): "
                f"{exc.message}",
                hint="if another program sends from this account, call resync_nonce()",
            ) from None

    def _wait(self, entry: JournalEntry, call_name: str) -> TxReceipt:
        with self._rpc():
            try:
                return self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(entry.tx_hash),
                    timeout=self.receipt_timeout,
                    poll_latency=self.poll_interval,
                )
            except TimeExhausted:
                raise ChainError(
                    f"{call_name} (transaction 0x{entry.tx_hash.hex()}) was not mined within "
                    f"{self.receipt_timeout:.0f} s",
                    hint="it stays in the journal; RegistryClient.recover() re-sends it",
                ) from None

    def _settle(self, pending: _Pending, receipt: TxReceipt) -> TxOutcome:
        entry = pending.entry
        block = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            self.journal.write(_with_state(entry, "reverted", block))
            raise self._explain_revert(pending, block, "when sent")
        self.journal.write(_with_state(entry, "confirmed", block))
        with self._rpc():
            timestamp = int(self.w3.eth.get_block(block)["timestamp"])
        return TxOutcome(
            tx_hash=entry.tx_hash,
            block=block,
            gas_used=int(receipt["gasUsed"]),
            nonce=entry.nonce,
            function=pending.call.function,
            block_timestamp=timestamp,
        )

    def _explain_revert(self, pending: _Pending, block: int, when: str) -> RegistryReverted:
        """A mined transaction that reverted: replay it with eth_call on the state before its
        block to read the revert data. ``when`` says how it came to be mined, for the message."""
        with self._rpc():
            tx = self.w3.eth.get_transaction(HexBytes(pending.entry.tx_hash))
            params: TxParams = {
                "from": tx["from"],
                "to": tx["to"],
                "data": tx["input"],
                "gas": tx["gas"],
            }
            try:
                self.w3.eth.call(params, block_identifier=max(block - 1, 0))
            except ContractLogicError as exc:
                return self._reverted(exc, pending.entry.function, pending.entry.tx_hash)
        return RegistryReverted(
            f"{pending.entry.function} (transaction 0x{pending.entry.tx_hash.hex()}) reverted "
            f"{when} in block {block}, but replaying it does not (out of gas, or a race)",
            error_name="Unknown",
            error_args={},
            selector=b"",
            data=b"",
            function=pending.entry.function,
            tx_hash=pending.entry.tx_hash,
        )

    # -- transactions ----------------------------------------------------------------------

    def transact(self, call: Call, *, gas: int | None = None) -> TxOutcome:
        """Estimate, sign, journal, send, wait: the mined, successful transaction.

        Raises :class:`RegistryReverted` (nothing sent) when the estimate reverts, and also
        when the mined transaction reverted."""
        pending = self._sign(call, gas)
        self._send_raw(pending)
        return self._settle(pending, self._wait(pending.entry, call.function))

    def transact_many(self, calls: Sequence[Call]) -> list[TxOutcome]:
        """Send independent calls back to back (each estimated, signed and journalled before
        it is sent), then wait for all of them. A revert in the estimate of one stops the
        rest from being sent; those already sent are waited for first."""
        sent: list[_Pending] = []
        failure: RegistryReverted | None = None
        for call in calls:
            try:
                pending = self._sign(call, None)
            except RegistryReverted as exc:
                failure = exc
                break
            self._send_raw(pending)
            sent.append(pending)
        outcomes = [self._settle(p, self._wait(p.entry, p.call.function)) for p in sent]
        if failure is not None:
            raise failure
        return outcomes

    def create_community(
        self,
        community: Community,
        salt: bytes,
        document: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Create ``community`` (see :meth:`Community.founded`); ``signatures``: every
        keyholder's over its derived id, packed in their order."""
        return self.transact(
            Calls.create_community(community, salt, document, deadline, signatures)
        )

    def rotate_keyholders(
        self,
        current: Community,
        next_keyholders: Sequence[str],
        next_threshold: int,
        document: bytes,
        nonce: int,
        deadline: int,
        signatures: bytes,
    ) -> tuple[Community, TxOutcome]:
        """Replace the keyholders (k of the current set sign); the community as it now is."""
        outcome = self.transact(
            Calls.rotate_keyholders(
                current, next_keyholders, next_threshold, document, nonce, deadline, signatures
            )
        )
        return Community.of(current.id, next_keyholders, next_threshold), outcome

    def register_item(
        self,
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Registration:
        """Register one item with its initial terms (version 1)."""
        outcome = self.transact(
            Calls.register_item(community, cid, metadata, terms, commitment, deadline, signatures)
        )
        record = Record(
            community.id,
            metadata,
            terms,
            commitment,
            _ZERO32,
            self.sender.address,
            outcome.block_timestamp,
            KIND_ITEM,
        )
        return Registration(claim_key(community.id, cid), record, outcome)

    def register_batch(
        self,
        community: Community,
        root: bytes,
        count: int,
        terms: bytes,
        manifest: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Registration:
        """Register a batch by its StandardMerkleTree root; the registration's key is the
        batch key (:func:`batch_key`). ``manifest`` is sha2-256 of the batch manifest
        document, stored as the record's commitment."""
        outcome = self.transact(
            Calls.register_batch(community, root, count, terms, manifest, deadline, signatures)
        )
        record = Record(
            community.id,
            count.to_bytes(32, "big"),
            terms,
            manifest,
            _ZERO32,
            self.sender.address,
            outcome.block_timestamp,
            KIND_BATCH,
        )
        return Registration(batch_key(community.id, root), record, outcome)

    def register_derivative(
        self,
        community: Community,
        parent: bytes,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        method: bytes,
        ai_enhanced: bool,
        deadline: int,
        signatures: bytes,
        parent_record: Record,
        parent_steward: Party,
    ) -> Registration:
        """Register a derivative of the claim ``parent`` (restoration, reconstruction,
        AI-enhanced), with the consent of the parent's steward (``parent_steward``)."""
        outcome = self.transact(
            Calls.register_derivative(
                community,
                parent,
                cid,
                metadata,
                terms,
                method,
                ai_enhanced,
                deadline,
                signatures,
                parent_record,
                parent_steward,
            )
        )
        derivation = keccak(abi_encode(["bytes32", "bool"], [method, ai_enhanced]))
        record = Record(
            community.id,
            metadata,
            terms,
            derivation,
            parent,
            self.sender.address,
            outcome.block_timestamp,
            KIND_DERIVATIVE,
        )
        return Registration(claim_key(community.id, cid), record, outcome)

    def set_terms(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        terms: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Set terms version ``version`` (current + 1) of an item, derivative or batch."""
        return self.transact(
            Calls.set_terms(subject, record, steward, version, terms, deadline, signatures)
        )

    def revoke_terms(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Revoke the current terms (``version``) of a subject."""
        return self.transact(
            Calls.revoke_terms(subject, record, steward, version, deadline, signatures)
        )

    def revoke_batch_item(
        self,
        root: bytes,
        batch_record: Record,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Revoke the terms of one item of a batch, proven by its leaf's Merkle proof; the
        signatures are over RevokeTerms of ``batch_item_subject(batch_key(community, root),
        item)``, ``community`` being the batch record's."""
        return self.transact(
            Calls.revoke_batch_item(
                root,
                batch_record,
                item,
                metadata,
                commitment,
                proof,
                steward,
                version,
                deadline,
                signatures,
            )
        )

    def record_custody(
        self,
        item: bytes,
        record: Record,
        action: int,
        counterparty: bytes,
        document: bytes,
        nonce: int,
        deadline: int,
        steward: Party,
        receiver: Party | None = None,
    ) -> TxOutcome:
        """Record a transfer, loan, return or repatriation of ``item``."""
        return self.transact(
            Calls.record_custody(
                item,
                record,
                action,
                counterparty,
                document,
                nonce,
                deadline,
                steward,
                receiver or Party.absent(),
            )
        )

    # -- views -----------------------------------------------------------------------------

    def domain_separator(self) -> bytes:
        return bytes(self._view("domainSeparator"))

    def type_hashes(self) -> dict[str, bytes]:
        """Every ``*_TYPEHASH`` constant of the deployed registry, by action name."""
        names = {
            "CreateCommunity": "CREATE_COMMUNITY_TYPEHASH",
            "RotateKeyholders": "ROTATE_KEYHOLDERS_TYPEHASH",
            "RegisterItem": "REGISTER_ITEM_TYPEHASH",
            "RegisterBatch": "REGISTER_BATCH_TYPEHASH",
            "RegisterDerivative": "REGISTER_DERIVATIVE_TYPEHASH",
            "ConsentDerivative": "CONSENT_DERIVATIVE_TYPEHASH",
            "SetTerms": "SET_TERMS_TYPEHASH",
            "RevokeTerms": "REVOKE_TERMS_TYPEHASH",
            "RecordCustody": "RECORD_CUSTODY_TYPEHASH",
        }
        return {action: bytes(self._view(constant)) for action, constant in names.items()}

    def community_config(self, community: bytes) -> bytes:
        """The stored configuration hash of a community (zero: no such community)."""
        return bytes(self._view("communityConfig", community))

    def community_nonce(self, community: bytes) -> int:
        return int(self._view("communityNonce", community))

    def community_matches(self, community: Community) -> bool:
        """Whether ``community`` is exactly the configuration the registry holds."""
        return self.community_config(community.id) == community.config_hash()

    def record_hash(self, key: bytes) -> bytes:
        """``records(key)``: the stored record digest (zero: nothing registered)."""
        return bytes(self._view("records", key))

    def is_registered(self, key: bytes) -> bool:
        return self.record_hash(key) != _ZERO32

    def terms_of(self, subject: bytes) -> TermsState:
        version, terms, revoked, updated_at = self._view("termsOf", subject)
        return TermsState(int(version), bytes(terms), bool(revoked), int(updated_at))

    def steward_override(self, item: bytes) -> bytes:
        return bytes(self._view("stewardOverride", item))

    def custody_nonce(self, item: bytes) -> int:
        return int(self._view("custodyNonce", item))

    def steward_of(self, key: bytes, record: Record) -> bytes:
        return bytes(self._view("stewardOf", key, record.as_abi()))

    def is_batch_item(
        self,
        community: bytes,
        root: bytes,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
    ) -> bool:
        return bool(
            self._view("isBatchItem", community, root, item, metadata, commitment, list(proof))
        )

    def hash_record(self, record: Record) -> bytes:
        return bytes(self._view("hashRecord", record.as_abi()))

    def batch_leaf(self, item: bytes, metadata: bytes, commitment: bytes) -> bytes:
        return bytes(self._view("batchLeaf", item, metadata, commitment))

    def batch_item_subject(self, batch: bytes, item: bytes) -> bytes:
        return bytes(self._view("batchItemSubject", batch, item))

    def claim_of(self, community: bytes, cid: bytes) -> bytes:
        return bytes(self._view("claimOf", community, cid))

    def batch_of(self, community: bytes, root: bytes) -> bytes:
        return bytes(self._view("batchOf", community, root))

    def head(self) -> ChainHead:
        """The live chain id and the head block's number and hash, in one batch request (its
        round trip is kept in :attr:`head_seconds`)."""
        start = time.perf_counter()
        head = self.head_begin()()
        self.head_seconds = time.perf_counter() - start
        return head

    def head_begin(self) -> Callable[[], ChainHead]:
        """:meth:`head`, asked now and read when the returned function is called."""
        finish = self._batch_begin(
            [
                (RPCEndpoint("eth_chainId"), []),
                (RPCEndpoint("eth_getBlockByNumber"), ["latest", False]),
            ]
        )
        return lambda: self._head_end(finish)

    def _head_end(self, finish: Callable[[], list[Any]]) -> ChainHead:
        chain_id, block = finish()
        try:
            return ChainHead(int(chain_id, 16), int(block["number"], 16),
                             _rpc_bytes(block["hash"], "eth_getBlockByNumber"))
        except (TypeError, KeyError, ValueError):
            raise ChainError(
                f"the chain at {self._endpoint()} answered eth_chainId / eth_getBlockByNumber "
                f"with {chain_id!r} / {str(block)[:200]}"
            ) from None

    def read_many(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> ChainReads:
        """``records(key)`` of each key at ``block``, and each raw signed transaction, in one
        JSON-RPC batch request: one round trip instead of one per read. A node that refuses
        batches is asked one request at a time. Transactions read before come from memory."""
        return self.read_many_begin(records, transactions, block=block)()

    def known_raw_transaction(self, tx_hash: bytes) -> bytes | None:
        """A raw signed transaction read before by this client (none: not in memory)."""
        return self._raw_transactions.get(tx_hash)

    def read_many_begin(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> Callable[[], ChainReads]:
        """:meth:`read_many`, asked now and read when the returned function is called."""
        keys = list(dict.fromkeys(_b32(k, "record key") for k in records))
        hashes = list(dict.fromkeys(_b32(h, "transaction hash") for h in transactions))
        at = hex(block)
        requests_: list[tuple[RPCEndpoint, Any]] = [
            (RPCEndpoint("eth_call"),
             [{"to": self.address, "data": "0x" + (_RECORDS_SELECTOR + k).hex()}, at])
            for k in keys
        ]
        raw: dict[bytes, bytes] = {}
        for tx_hash in hashes:
            known = self._raw_transactions.get(tx_hash)
            if known is not None:
                raw[tx_hash] = known
        hashes = [h for h in hashes if h not in raw]
        requests_ += [
            (RPCEndpoint("eth_getRawTransactionByHash"), ["0x" + h.hex()]) for h in hashes
        ]
        finish = self._batch_begin(requests_)
        return lambda: self._read_many_end(finish(), block, keys, hashes, raw)

    def _read_many_end(
        self,
        results: list[Any],
        block: int,
        keys: list[bytes],
        hashes: list[bytes],
        raw: dict[bytes, bytes],
    ) -> ChainReads:
        digests: dict[bytes, bytes] = {}
        for key, result in zip(keys, results, strict=False):
            value = _rpc_bytes(result, "records")
            if len(value) != 32:
                raise ChainError(
                    f"records(0x{key.hex()}) at {self._endpoint()} returned {len(value)} bytes, "
                    "not 32: is the deployment's address the registry?"
                )
            digests[key] = value
        for tx_hash, result in zip(hashes, results[len(keys):], strict=True):
            if result is not None:
                raw[tx_hash] = _rpc_bytes(result, "eth_getRawTransactionByHash")
                self._raw_transactions.put(tx_hash, raw[tx_hash])
        return ChainReads(block, digests, raw)

    def _batch(self, calls: Sequence[tuple[RPCEndpoint, Any]]) -> list[Any]:
        """The results of ``calls``, in order; errors as the single calls raise them."""
        return self._batch_begin(calls)()

    def _batch_begin(self, calls: Sequence[tuple[RPCEndpoint, Any]]) -> Callable[[], list[Any]]:
        """:meth:`_batch` in two halves: the request goes out now, and the returned function
        reads the answer (over the plain transport, the node works on it meanwhile; through
        the provider, the calls are made when the function is called)."""
        if not calls:
            return list
        provider = self.w3.provider
        if self._plain_post is None or self._plain_post[0] is not provider:
            self._plain_post = (provider, _PlainPost.for_provider(provider))
        plain = self._plain_post[1]
        pending: _PendingPost | None = None
        if plain is not None:
            body = [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
                for i, (method, params) in enumerate(calls)
            ]
            pending = plain.send(json.dumps(body).encode())
        return lambda: self._batch_end(calls, pending)

    def _batch_end(
        self, calls: Sequence[tuple[RPCEndpoint, Any]], pending: _PendingPost | None
    ) -> list[Any]:
        provider = self.w3.provider
        with self._rpc():
            answer: Any = None
            if pending is not None:
                try:
                    answer = pending.result()
                except (OSError, http.client.HTTPException) as exc:
                    raise ChainUnavailable(
                        f"no chain answers at {self._endpoint()} ({type(exc).__name__})",
                        hint="start the local chain with `heritage chain up`, or check "
                        "HERITAGE_RPC_URL",
                    ) from None
                except ValueError:
                    answer = None  # not JSON: let the provider ask again and say what is wrong
                if isinstance(answer, list) and all(isinstance(r, Mapping) for r in answer):
                    answer = sorted(answer, key=lambda r: int(r.get("id", -1)))
            elif isinstance(provider, JSONBaseProvider):
                answer = provider.make_batch_request(list(calls))
            if not isinstance(answer, list) or len(answer) != len(calls):
                # No batch support (one error object back): the same calls, one by one.
                answer = [provider.make_request(method, params) for method, params in calls]
        results: list[Any] = []
        for (method, _), response in zip(calls, answer, strict=True):
            error = response.get("error") if isinstance(response, Mapping) else "no response"
            if error is not None or "result" not in response:
                raise ChainError(f"the chain at {self._endpoint()} failed {method}: {error}")
            results.append(response["result"])
        return results

    def find_record(self, key: bytes) -> Record:
        """The stored record of an item, derivative or batch, rebuilt from its registration
        event and block, and checked against the digest the registry stores."""
        stored = self.record_hash(key)
        if stored == _ZERO32:
            raise NotFound(f"nothing is registered under 0x{key.hex()}")
        events = (
            self.contract.events.ItemRegistered,
            self.contract.events.DerivativeRegistered,
            self.contract.events.BatchRegistered,
        )
        with self._rpc():
            for event in events:
                topic = "item" if event.event_name != "BatchRegistered" else "batch"
                logs = event.get_logs(
                    from_block=self.from_block, argument_filters={topic: HexBytes(key)}
                )
                for log in logs:
                    record = self._record_from_event(event.event_name, log)
                    if record.digest() == stored:
                        return record
        raise ChainError(
            f"0x{key.hex()} is registered but no registration event rebuilds its record",
            hint="is from_block after the registration, or the node pruned its logs?",
        )

    def _record_from_event(self, name: str, log: Any) -> Record:
        args = log["args"]
        timestamp = int(self.w3.eth.get_block(log["blockNumber"])["timestamp"])
        registrant = to_checksum_address(args["registrant"])
        if name == "ItemRegistered":
            return Record(
                bytes(args["community"]),
                bytes(args["metadata"]),
                bytes(args["terms"]),
                bytes(args["commitment"]),
                _ZERO32,
                registrant,
                timestamp,
                KIND_ITEM,
            )
        if name == "DerivativeRegistered":
            derivation = keccak(
                abi_encode(["bytes32", "bool"], [bytes(args["method"]), bool(args["aiEnhanced"])])
            )
            return Record(
                bytes(args["community"]),
                bytes(args["metadata"]),
                bytes(args["terms"]),
                derivation,
                bytes(args["parent"]),
                registrant,
                timestamp,
                KIND_DERIVATIVE,
            )
        return Record(
            bytes(args["community"]),
            int(args["count"]).to_bytes(32, "big"),
            bytes(args["terms"]),
            bytes(args["manifest"]),
            _ZERO32,
            registrant,
            timestamp,
            KIND_BATCH,
        )

    # -- recovery --------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Make the chain hold every journalled transaction of this sender and chain.

        For each entry, in nonce order: on chain → confirmed; missing and its nonce is the
        account's next → the same raw bytes are sent again and waited for; missing but the
        nonce is taken by another transaction, or earlier nonces are missing from both
        chain and journal → a conflict, reported and not sent (the chain diverged from what
        was signed: whoever runs the registry must look)."""
        chain_id = self.chain_id()
        on_chain: list[JournalEntry] = []
        resent: list[JournalEntry] = []
        reverted: list[tuple[JournalEntry, RegistryReverted]] = []
        conflicts: list[tuple[JournalEntry, str]] = []
        other: list[JournalEntry] = []
        with self._rpc():
            account_nonce = int(self.w3.eth.get_transaction_count(self.sender.address, "latest"))
        for entry in self.journal.entries():
            if entry.chain_id != chain_id or entry.sender != self.sender.address:
                other.append(entry)
                continue
            receipt = self._receipt(entry.tx_hash)
            if receipt is not None:
                state: JournalState = "confirmed" if receipt["status"] == 1 else "reverted"
                self.journal.write(_with_state(entry, state, int(receipt["blockNumber"])))
                on_chain.append(entry)
                continue
            if entry.nonce < account_nonce:
                conflicts.append(
                    (
                        entry,
                        f"nonce {entry.nonce} of {entry.sender} was used by another "
                        "transaction; this one can never be mined as signed",
                    )
                )
                continue
            if entry.nonce > account_nonce:
                conflicts.append(
                    (
                        entry,
                        f"the account's next nonce is {account_nonce}: transactions "
                        f"{account_nonce}..{entry.nonce - 1} are in neither the chain nor "
                        "the journal",
                    )
                )
                continue
            pending = _Pending(_with_state(entry, "signed", None), Call(entry.function, ()))
            with self._rpc():
                try:
                    self.w3.eth.send_raw_transaction(entry.raw)
                except Web3RPCError as exc:
                    if "already known" not in str(exc):
                        conflicts.append((entry, f"the node refused it again: {exc}"))
                        continue
            receipt = self._wait(entry, entry.function)
            block = int(receipt["blockNumber"])
            account_nonce += 1
            if receipt["status"] == 1:
                self.journal.write(_with_state(entry, "confirmed", block))
                resent.append(entry)
            else:
                self.journal.write(_with_state(entry, "reverted", block))
                reverted.append((entry, self._explain_revert(pending, block, "when re-sent")))
        self._nonce = None
        return RecoveryReport(
            on_chain=tuple(on_chain),
            resent=tuple(resent),
            reverted=tuple(reverted),
            conflicts=tuple(conflicts),
            other_chains=tuple(other),
        )

    def _receipt(self, tx_hash: bytes) -> TxReceipt | None:
        with self._rpc():
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None


def _with_state(entry: JournalEntry, state: JournalState, block: int | None) -> JournalEntry:
    return JournalEntry(
        chain_id=entry.chain_id,
        sender=entry.sender,
        nonce=entry.nonce,
        tx_hash=entry.tx_hash,
        raw=entry.raw,
        function=entry.function,
        state=state,
        block=block,
    )
