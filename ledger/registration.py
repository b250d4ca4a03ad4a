"""The registry workflows behind ``heritage community|item|terms|custody|derivative``.

Each workflow checks its input, puts the documents it needs on IPFS, has keyholders sign the
action (EIP-712, :mod:`ledger.consent`) and relays it with a sender account that pays the gas
(:mod:`ledger.chain`). Nothing here knows about typer or rich: callers pass a
:data:`Progress` callback and format the returned values.

Documents (community, item metadata, terms, method, custody, batch manifest) are canonical
JSON (sorted keys, no spaces, UTF-8) stored as single raw blocks, so each is named by
``CIDv1(raw, sha2-256(document))`` and its digest is the ``bytes32`` the registry holds.

Items are keyed by ``keccak256`` of the binary CID that was registered. Registration uses
CIDv1 with raw leaves by default (``ImportOptions(cid_version=1)``); an ITEM given as a CID of
the other version (a CIDv0 ``Qm…`` of a dag-pb item, or its CIDv1 form) is tried too, and
results always say which binary CID is the registered one.

Input is checked before anything is pinned or sent: unknown community, a terms file that is
not valid terms of the acting community (:mod:`ledger.rights`), a missing path, the same item
twice in a batch, an item that is not registered all raise a
:class:`~ledger.errors.HeritageError` with nothing sent. Files are
added unpinned first and pinned only once every check has passed.

Batches: the registry stores the Merkle root, the count and the manifest's digest. The batch
manifest (the OpenZeppelin ``StandardMerkleTree`` dump — leaves and the tree every proof is
read from — plus each item's CID, name and metadata CID) is a raw block whose sha2-256 the
registry binds into the batch's record (its ``commitment`` field) and emits in
``BatchRegistered``. Which items are in which batch is therefore rebuilt from the chain: the
index lists every batch with its manifest digest, and the manifests are read from IPFS
(memoised per :class:`Registrar`). No local file records membership; every proof is checked
on chain (``isBatchItem``) when read.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import rfc8785
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from ledger import consent, crypto, strict_json
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    Call,
    Calls,
    Community,
    Deployment,
    Party,
    Record,
    RegistryClient,
    TxJournal,
    TxOutcome,
    batch_item_subject,
    batch_key,
    chain_errors,
    claim_key,
    connect,
    content_key,
    read_deployment,
)
from ledger.consent import (
    CUSTODY_NAMES,
    STEWARDSHIP_MOVES,
    CommunityHistory,
    ConsentRequest,
    ConsentSignature,
    ConsentStatus,
    build_custody_request,
    build_derivative_request,
    build_request,
    build_rotation_request,
    collect,
    custody_document,
    read_history,
)
from ledger.errors import (
    AmbiguousClaim,
    ChainError,
    ConsentIncomplete,
    ConsentMismatch,
    ConsentStale,
    DecryptionFailed,
    DuplicateClaim,
    DuplicateLeaves,
    HeritageError,
    LimitExceeded,
    NotFound,
    UsageError,
)
from ledger.index import (
    CUSTODY_ACTIONS,
    BatchRecord,
    EventIndex,
    HistoryEntry,
    ItemRecord,
    Web3Reader,
    index_path,
)
from ledger.ipfs.backend import EmbeddedNode, KuboNode, open_backend
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.unixfs import ImportedEntry, ImportOptions, import_path
from ledger.keys import (
    encryption_key_info,
    load_encryption_key,
    load_encryption_key_file,
    load_signer,
)
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from ledger.settings import Settings
from local_chain import anvil_dev_account, deployment_path, uses_outside_chain

__all__ = [
    "DEFAULT_IMPORT",
    "MAX_DOCUMENT_BYTES",
    "BatchRegistration",
    "CommunityView",
    "DecryptedItem",
    "ItemRegistration",
    "ItemView",
    "Progress",
    "Registrar",
    "SignerKeys",
    "TxView",
    "canonical_json",
    "community_salt",
    "document_cid",
    "metadata_document",
    "parse_community_id",
    "parse_json_document",
    "read_json_file",
]

#: ``progress(stage, done, total)``: stage is "adding" (files) or "registering" (items).
Progress = Callable[[str, int, int], None]
#: What registration uses unless told otherwise: CIDv1, raw leaves, 256 KiB chunks.
DEFAULT_IMPORT: Final = ImportOptions(cid_version=1)
#: A document is one raw block; IPFS nodes refuse blocks over 1 MiB from the network.
MAX_DOCUMENT_BYTES: Final = 1 << 20
DEADLINE_SECONDS: Final = 3600
#: How long an offline consent request stays signable unless told otherwise: a week, as
#: keyholders sign when they can; the deadline is in what they sign, so it cannot be extended.
CONSENT_REQUEST_SECONDS: Final = 7 * 24 * 3600
ANVIL_CHAIN_ID: Final = 31337
_ZERO32: Final = bytes(32)
_SEND_CHUNK: Final = 64  # single registrations sent back to back, then waited for
_COMMUNITY_DOMAIN: Final = b"heritage-ledger/community\x00"
_KINDS: Final = {KIND_ITEM: "item", KIND_BATCH: "batch", KIND_DERIVATIVE: "derivative"}


# ---- documents (pure) ------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The one byte form of a document: the JSON Canonicalization Scheme (RFC 8785)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise UsageError(
            f"this document has no canonical JSON form: {exc}",
            hint="numbers must be finite and integers within ±2**53 (I-JSON, RFC 7493)",
        ) from None


def parse_json_document(data: bytes, where: str) -> dict[str, Any]:
    """A JSON object from ``data`` (UTF-8, no NaN/Infinity), or :class:`UsageError`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise LimitExceeded(
            f"{where} is {len(data)} bytes; a document is one block of at most 1 MiB"
        )
    try:
        document = strict_json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{where} is not JSON: {exc}", hint="pass a UTF-8 JSON file") from None
    if not isinstance(document, dict):
        raise UsageError(
            f"{where} is JSON but not an object ({type(document).__name__})",
            hint='a document is a JSON object, e.g. {"license": "CC-BY-4.0"}',
        )
    return document


def read_json_file(path: Path) -> dict[str, Any]:
    """The JSON object in the file at ``path``."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    return parse_json_document(path.read_bytes(), str(path))


def document_cid(digest: bytes) -> Cid:
    """The CID of a document from its sha2-256 digest: CIDv1(raw, digest)."""
    return Cid.from_digest(digest, RAW)


def community_salt(name: str) -> bytes:
    """The salt a community named ``name`` is created with: keccak256 of a domain tag and the
    UTF-8 name. The registry derives the id from the salt and the initial keyholder set
    (:func:`ledger.chain.community_id`), so a name resolves through the salts on chain."""
    if not name.strip():
        raise UsageError("a community name cannot be empty")
    return keccak(_COMMUNITY_DOMAIN + name.encode("utf-8"))


def _parse_b32(text: str) -> bytes | None:
    body = text[2:] if text[:2] in ("0x", "0X") else None
    if body is None or len(body) != 64:
        return None
    try:
        return bytes.fromhex(body)
    except ValueError:
        return None


def parse_community_id(text: str) -> bytes | None:
    """The id in ``text`` if it is ``0x`` and 64 hex digits; None for a name."""
    key = _parse_b32(text)
    if key is None and text.startswith(("0x", "0X")):
        raise UsageError(
            f"{text!r} is not a 32-byte community id", hint="0x followed by 64 hex digits"
        )
    return key


def metadata_document(cid: Cid, name: str, size: int, options: ImportOptions) -> dict[str, Any]:
    """An item's metadata: enough to recompute its CID from the file (the import settings)."""
    media_type, _ = mimetypes.guess_type(name, strict=False)
    return {
        "type": "heritage/item-metadata",
        "version": 1,
        "cid": str(cid),
        "name": name,
        "size": size,
        "media_type": media_type or "application/octet-stream",
        "import": {
            "cid_version": options.cid_version,
            "raw_leaves": options.leaves_raw,
            "chunk_size": options.chunk_size,
            "chunker": f"size-{options.chunk_size}",
            "layout": "balanced",
            "max_links": 174,
            "hash": "sha2-256",
        },
    }


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _decryption_mismatch(message: str) -> DecryptionFailed:
    """A decryption whose result does not match what was registered: nothing is written."""
    return DecryptionFailed(message, hint="the stored item or its metadata was altered")


# ---- keyholder keys --------------------------------------------------------------------------


@dataclass
class SignerKeys:
    """Keyholder keys from ``<data>/keys``, unlocked on first use and kept for the command.

    ``addresses``: the keys the caller named (None: every keyholder of the community whose
    keystore is here, by increasing address). ``passphrase(address)`` returns the passphrase of
    one key (the CLI reads it from ``--password-file``: one file for every key, or one per
    ``--signer`` in order).
    """

    settings: Settings
    passphrase: Callable[[ChecksumAddress], str]
    addresses: tuple[str, ...] | None = None  # checksummed by __post_init__
    _unlocked: dict[str, LocalAccount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.addresses is not None:
            for address in self.addresses:
                if not is_address(address):
                    raise UsageError(f"signer {address!r} is not an Ethereum address")
            self.addresses = tuple(to_checksum_address(a) for a in self.addresses)

    def _available(self, keyholders: Sequence[ChecksumAddress]) -> list[ChecksumAddress]:
        if self.addresses is not None:
            return [a for a in keyholders if a in self.addresses]
        folder = self.settings.data_dir / "keys"
        return [a for a in keyholders if (folder / f"{a}.json").is_file()]

    def unlock(self, address: ChecksumAddress) -> LocalAccount:
        account = self._unlocked.get(address)
        if account is None:
            account = load_signer(self.settings, address, self.passphrase(address))
            self._unlocked[address] = account
        return account

    def pick(
        self, community: Community, needed: int, what: str, *, only_this: bool = True
    ) -> list[LocalAccount]:
        """``needed`` keyholders of ``community`` with a key here (lowest addresses first).
        ``only_this``: every named signer must be a keyholder of ``community`` (custody names
        the signers of two communities at once, and passes False)."""
        if self.addresses is not None and only_this:
            strangers = [a for a in self.addresses if a not in community.keyholders]
            if strangers:
                raise UsageError(
                    f"{', '.join(strangers)} is not a keyholder of community {_hex(community.id)}",
                    hint="--signer must name keyholders of the community that signs",
                )
        found = self._available(community.keyholders)
        if len(found) < needed:
            raise UsageError(
                f"{what} needs {needed} signatures of community {_hex(community.id)} "
                f"(keyholders {', '.join(community.keyholders)}); only {len(found)} of their "
                f"keys are available here",
                hint="import the keyholders' keys with `heritage keys import`, or name them "
                "with --signer",
            )
        return [self.unlock(a) for a in found[:needed]]

    def sign(self, typed: consent.TypedData, signers: Sequence[LocalAccount]) -> bytes:
        return consent.pack_signatures(
            (a.address, consent.sign(typed, bytes(a.key))) for a in signers
        )


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxView:
    tx_hash: bytes
    block: int
    gas_used: int

    @classmethod
    def of(cls, outcome: TxOutcome) -> TxView:
        return cls(outcome.tx_hash, outcome.block, outcome.gas_used)

    def to_json(self) -> dict[str, Any]:
        return {"tx_hash": _hex(self.tx_hash), "block": self.block, "gas_used": self.gas_used}


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
            "id": _hex(self.id),
            "keyholders": list(self.keyholders),
            "threshold": self.threshold,
            "document_cid": self.document_cid,
            "rotations": self.rotations,
            "created_block": self.created_block,
            "items": self.items,
            "tx": None if self.tx is None else self.tx.to_json(),
        }


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
            "item": _hex(self.key),
            "metadata_cid": str(self.metadata_cid),
            "size": self.size,
            "tx": None if self.tx is None else self.tx.to_json(),
            "other_claims": [c.to_json() for c in self.other_claims],
        }


@dataclass(frozen=True, slots=True)
class OtherClaim:
    """A claim another community already holds on content being registered."""

    key: bytes
    community: bytes
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"item": _hex(self.key), "community": _hex(self.community), "kind": self.kind}


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
            "root": _hex(self.root),
            "batch": _hex(self.batch),
            "manifest_cid": str(self.manifest_cid),
            "terms_cid": str(self.terms_cid),
            "community": _hex(self.community),
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
            "item": _hex(self.key),
            "kind": self.kind,
            "registered_cid": self.registered_cid,
            "community": _hex(self.community),
            "steward": _hex(self.steward),
            "terms_cid": self.terms_cid,
            "terms_version": self.terms_version,
            "revoked": self.revoked,
            "metadata_cid": self.metadata_cid,
            "metadata": None if self.metadata is None else dict(self.metadata),
            "registrant": self.registrant,
            "block": self.block,
            "tx_hash": None if self.tx_hash is None else _hex(self.tx_hash),
            "parent": None if self.parent is None else _hex(self.parent),
            "method_cid": self.method_cid,
            "ai_enhanced": self.ai_enhanced,
            "batch": None if self.batch is None else dict(self.batch),
        }


@dataclass(frozen=True, slots=True)
class _Prepared:
    path: Path
    entry: ImportedEntry
    metadata: bytes  # canonical document
    # restricted items (see "encryption of restricted items" below): the record's commitment,
    # and the raw blocks (envelope, sealed metadata) the metadata document names
    commitment: bytes = bytes(32)
    blocks: tuple[bytes, ...] = ()
    sealed: bool = False

    @property
    def metadata_digest(self) -> bytes:
        return hashlib.sha256(self.metadata).digest()


@dataclass(frozen=True, slots=True)
class _Seal:
    """Restricted items of one registration are sealed for these recipients (the keyholders'
    encryption keys named by the community's current, keyholder-signed document)."""

    community: bytes
    recipients: tuple[crypto.EncryptionPublicKey, ...]


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
            "item": _hex(self.key),
            "ciphertext_cid": self.ciphertext_cid,
            "plaintext_cid": self.plaintext_cid,
            "name": self.name,
            "size": self.size,
            "output": str(self.output),
            "envelope_cid": self.envelope_cid,
            "commitment_matches": self.commitment_matches,
        }


#: The public metadata document of a sealed (encrypted) item; see docs/encryption.md.
SEALED_ITEM_TYPE: Final = "heritage/sealed-item"
#: The envelopes re-wrapped by a keyholder rotation, named by the new community document.
ENVELOPE_INDEX_TYPE: Final = "heritage/envelope-index"


@dataclass(frozen=True, slots=True)
class _Content:
    """One file registered under a registry subject: the item or derivative itself, or one
    item of a batch (``key`` is then its leaf key, not the batch's root)."""

    key: bytes
    cid: Cid  # the registered (for a sealed item: ciphertext) CID
    metadata_cid: Cid
    metadata: Mapping[str, Any] | None  # None: the document is not on this node

    @property
    def sealed(self) -> bool:
        return self.metadata is not None and self.metadata.get("type") == SEALED_ITEM_TYPE


@dataclass(frozen=True, slots=True)
class _Resolved:
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


# ---- batch membership ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Manifest:
    """A batch manifest read back from IPFS: the item keys of its leaves, in leaf order."""

    cid: Cid
    document: Mapping[str, Any]
    keys: tuple[bytes, ...]


def _parse_manifest(data: bytes, cid: Cid, root: bytes) -> _Manifest | None:
    try:
        document = strict_json.loads(data)
        values = document["tree"]["values"]
        keys = tuple(bytes.fromhex(str(v["value"][0])[2:]) for v in values)
        ok = (
            isinstance(document, dict)
            and document.get("type") == "heritage/batch-manifest"
            and document.get("root") == _hex(root)
            and len(document["items"]) == len(keys)
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return _Manifest(cid, document, keys) if ok else None


def _content(resolved: _Resolved) -> bytes:
    """The content key of a resolved claim (a whole batch has none)."""
    if resolved.content is not None:
        return resolved.content
    if resolved.cid is not None:
        return content_key(resolved.cid)
    raise UsageError(f"{_hex(resolved.key)} is a whole batch, not one item of it")


@functools.cache
def _method_schema() -> Mapping[str, Any]:
    import json
    from importlib import resources

    text = resources.files("ledger").joinpath("schemas/derivative-method.schema.json")
    loaded: Mapping[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


def read_method_document(path: Path) -> dict[str, Any]:
    """A derivative's method document (``--method``), refused (UsageError naming the field
    and the rule) unless it follows ledger/schemas/derivative-method.schema.json."""
    import jsonschema

    document = read_json_file(path)
    errors = sorted(
        jsonschema.Draft202012Validator(_method_schema()).iter_errors(document),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        raise UsageError(
            f"{path} is not a method document: at {where}: {first.message[:200]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            hint='e.g. {"method": "photogrammetry", "software": "Meshroom 2023.3"}; '
            "see docs/derivatives.md",
        )
    return document


def _claim_of(record: ItemRecord) -> _Resolved:
    return _Resolved(
        record.item,
        record.cid,
        record.community,
        record.kind,
        record.content,
        block=record.block_number,
        log_index=record.log_index,
    )


def _missing_hint(missing: int) -> str:
    if not missing:
        return ""
    return (
        f"; {missing} registered batch manifest(s) are not on this IPFS node, so items of "
        "those batches cannot be found (import the manifests, e.g. from a CAR file)"
    )


# ---- the workflows ---------------------------------------------------------------------------


class Registrar:
    """Every registry workflow, wired from ``settings``: the deployment, the chain (relayed by
    ``sender``), the IPFS node, the event index and the batch manifests it reads. Close it
    when done."""

    def __init__(self, settings: Settings, *, sender: LocalAccount | None = None) -> None:
        self.settings = settings
        self.deployment: Deployment = read_deployment(deployment_path(settings))
        self.w3 = connect(settings.rpc_url)
        self._sender = sender
        self.client = RegistryClient(
            self.w3,
            self.deployment.registry_address,
            sender if sender is not None else Account.create(),  # views only
            TxJournal.in_data_dir(settings.data_dir, fsync=settings.fsync),
            from_block=self.deployment.deploy_block,
        )
        self._node: EmbeddedNode | KuboNode | None = None
        # (manifest digest, batch root) → the manifest read from IPFS (None: not a manifest of
        # that batch)
        self._manifests: dict[tuple[bytes, bytes], _Manifest | None] = {}
        # The event index's connection, kept open for the thread that made this Registrar
        # (SQLite connections belong to one thread): opening one costs more than a
        # verification's queries. (the index, the file's inode when it was opened)
        self._owner = threading.get_ident()
        self._kept_index: tuple[EventIndex, int] | None = None

    def use_sender(self, sender: LocalAccount) -> None:
        """Relay transactions from ``sender`` (it pays the gas)."""
        self._sender = sender
        self.client.sender = sender
        self.client.resync_nonce()

    def use_local_sender(self) -> None:
        """Relay from anvil's dev account when this is a local development chain: the local
        anvil of the data directory, or any chain with anvil's default id 31337."""
        if not uses_outside_chain(self.settings) or self.client.chain_id() == ANVIL_CHAIN_ID:
            self.use_sender(anvil_dev_account())

    def close(self) -> None:
        if self._kept_index is not None:
            self._kept_index[0].close()
            self._kept_index = None
        if self._node is not None:
            self._node.close()  # the embedded node's pin database, or a remote node's session
            self._node = None

    def __enter__(self) -> Registrar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def node(self) -> EmbeddedNode | KuboNode:
        if self._node is None:
            self._node = open_backend(self.settings)
        return self._node

    def _manifest(self, root: bytes, digest: bytes) -> _Manifest | None:
        """The manifest of batch ``root`` whose sha2-256 the chain holds, from IPFS; None when
        this node does not have it (or the block is not that batch's manifest)."""
        return self._manifest_read(root, digest)[1]

    def _manifest_read(self, root: bytes, digest: bytes) -> tuple[bool, _Manifest | None]:
        """(whether the node has the block, the manifest or None if it is not one)."""
        if (digest, root) not in self._manifests:
            cid = document_cid(digest)
            try:
                data = self.node.block_get(cid)
            except HeritageError:
                return False, None  # not on this node (yet): try again next time
            valid = hashlib.sha256(data).digest() == digest
            self._manifests[digest, root] = _parse_manifest(data, cid, root) if valid else None
        return True, self._manifests[digest, root]

    def _batches_of(
        self, key: bytes, *, sync: bool = True
    ) -> tuple[list[tuple[BatchRecord, _Manifest, int]], int]:
        """(batch, manifest, position) of every registered batch, of any community, whose
        manifest lists the content key ``key``, oldest first, from the index (each
        BatchRegistered event carries its manifest's digest) and the manifests on IPFS; and
        how many batch manifests were unavailable."""
        missing = 0
        with self._index(sync=sync) as index:
            batches = index.batches()
            # Each manifest is read from IPFS once per data directory: what it lists goes
            # into the index, and a batch's items are found there afterwards.
            for digest, root in index.manifests_unread([(b.manifest, b.root) for b in batches]):
                present, manifest = self._manifest_read(root, digest)
                if not present:
                    missing += 1
                    continue
                index.record_manifest(digest, root, None if manifest is None else manifest.keys)
            listing: dict[tuple[bytes, bytes], int] = {}
            for m, r, p in sorted(index.manifests_listing(key), key=lambda row: row[2]):
                listing.setdefault((m, r), p)  # a key listed twice: its first leaf
        found: list[tuple[BatchRecord, _Manifest, int]] = []
        for batch in batches:  # chain order
            position = listing.get((batch.manifest, batch.root))
            if position is None:
                continue
            manifest = self._manifest(batch.root, batch.manifest)
            if manifest is None or manifest.keys[position : position + 1] != (key,):
                missing += 1  # listed when it was read, but not on this node now
                continue
            found.append((batch, manifest, position))
        return found, missing

    def _require_sender(self) -> None:
        if self._sender is None:
            raise UsageError(
                "no sender account to pay for the transaction",
                hint="on a chain other than a local anvil, pass --sender ADDRESS (a key in "
                "the keystore) and its --sender-password-file",
            )

    @contextmanager
    def _index(self, *, sync: bool = True) -> Iterator[EventIndex]:
        keep = threading.get_ident() == self._owner
        with chain_errors(self.settings.rpc_url):
            index = self._kept() if keep else self._open_index()
            try:
                if sync:
                    index.sync()
                yield index
            finally:
                if not keep:
                    index.close()

    def _open_index(self) -> EventIndex:
        return EventIndex(
            index_path(self.settings),
            Web3Reader(self.w3),
            self.deployment.registry_address,
            self.deployment.deploy_block,
        )

    def _kept(self) -> EventIndex:
        """The owner thread's index, reopened when its file was replaced since."""
        path = index_path(self.settings)
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            inode = -1
        if self._kept_index is not None and self._kept_index[1] != inode:
            self._kept_index[0].close()
            self._kept_index = None
        if self._kept_index is None:
            index = self._open_index()
            self._kept_index = (index, path.stat().st_ino)
        return self._kept_index[0]

    @contextmanager
    def event_index(self, *, sync: bool = True) -> Iterator[EventIndex]:
        """The event index, synced with the chain (read-only use); ``sync=False``: as the
        last sync left it, for a caller that has just synced it."""
        with self._index(sync=sync) as index:
            yield index

    def community_history(self, community: bytes) -> CommunityHistory:
        """The keyholder history of ``community`` that proves its keyholders offline."""
        with self._index() as index:
            return read_history(index, self.client, community)

    def batch_membership(self, batch: bytes, content: bytes) -> dict[str, Any]:
        """The leaf of the content key ``content`` in the batch ``batch`` (by batch key):
        metadata, commitment, Merkle proof, manifest CID, with its proof checked on chain;
        NotFound if the manifest does not list it."""
        membership, _ = self._batch_membership(batch, content)
        return membership

    def _deadline(self) -> int:
        with chain_errors(self.settings.rpc_url):
            now = int(self.w3.eth.get_block("latest")["timestamp"])
        return now + DEADLINE_SECONDS

    def _put_document(self, document: Mapping[str, Any], *, pin: bool = True) -> tuple[bytes, Cid]:
        data = canonical_json(document)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise LimitExceeded(
                f"a {document.get('type', 'document')} of {len(data)} bytes does not fit in one "
                "1 MiB block",
                hint="split the batch into smaller ones",
            )
        cid = self.node.block_put(data, RAW)
        if pin:
            self.node.pin_add(cid, recursive=False)
        return hashlib.sha256(data).digest(), cid

    def community(self, community: bytes) -> Community:
        """The current configuration of ``community``, from the index, checked on chain."""
        if self.client.community_config(community) == _ZERO32:
            raise NotFound(
                f"community {_hex(community)} is not registered on this chain",
                hint="create it with `heritage community create`, or check the id or name",
            )
        with self._index() as index:
            record = index.community(community)
        current = Community.of(community, record.keyholders, record.threshold)
        if not self.client.community_matches(current):
            raise ChainError(
                f"the index's keyholders of {_hex(community)} are not the ones the registry holds",
                hint="run `heritage index rebuild`",
            )
        return current

    # -- communities ---------------------------------------------------------------------

    def resolve_community(self, text: str) -> bytes:
        """A community id from ``0x`` and 64 hex digits, or from a name: the community created
        with that name's salt (:func:`community_salt`), read from the synced index. A name
        that several communities were created with is ambiguous and refused, listing them."""
        key = parse_community_id(text)
        if key is not None:
            return key
        with self._index() as index:
            found = index.communities_with_salt(community_salt(text))
        if not found:
            raise NotFound(
                f"no community named {text!r} on this chain",
                hint="check the name, or give the community's 0x id",
            )
        if len(found) > 1:
            ids = ", ".join(_hex(f) for f in found)
            raise UsageError(
                f"{len(found)} communities are named {text!r}: {ids}",
                hint="give the 0x id of the one you mean (`heritage community show ID`)",
            )
        return found[0]

    def create_community(
        self,
        name: str,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        salt: bytes | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> CommunityView:
        """Create a community; every initial keyholder signs (their keys must be here)."""
        self._require_sender()
        for k in keyholders:
            if not is_address(k):
                raise UsageError(f"keyholder {k!r} is not an Ethereum address")
        if len({to_checksum_address(k) for k in keyholders}) != len(keyholders):
            raise UsageError("a keyholder is listed twice", hint="list each keyholder once")
        if not 1 <= threshold <= len(keyholders):
            raise UsageError(
                f"threshold {threshold} is not between 1 and the {len(keyholders)} keyholders"
            )
        salt = community_salt(name) if salt is None else salt
        community = Community.founded(salt, keyholders, threshold)
        if self.client.community_config(community.id) != _ZERO32:
            raise UsageError(
                f"community {_hex(community.id)} ({name}) already exists with these keyholders",
                hint="`heritage community show` it",
            )
        signers = keys.pick(community, len(community.keyholders), "creating a community")
        document = {
            **(extra or {}),
            "type": "heritage/community",
            "version": 1,
            "name": name,
            "keyholders": list(community.keyholders),
            "threshold": threshold,
            # each keyholder's encryption public key, signed with the rest of the document
            **self._encryption_keys_document(community.keyholders),
        }
        digest, cid = self._put_document(document)
        deadline = self._deadline()
        typed = consent.TypedData(
            self.client.domain(),
            "CreateCommunity",
            {
                "community": community.id,
                "keyholders": list(community.keyholders),
                "threshold": threshold,
                "document": digest,
                "deadline": deadline,
            },
        )
        outcome = self.client.create_community(
            community, salt, digest, deadline, keys.sign(typed, signers)
        )
        return CommunityView(
            community.id,
            community.keyholders,
            threshold,
            str(cid),
            0,
            outcome.block,
            0,
            TxView.of(outcome),
        )

    def show_community(self, community: bytes) -> CommunityView:
        self.community(community)  # NotFound unless it is on chain
        with self._index() as index:
            record = index.community(community)
        return CommunityView(
            community,
            record.keyholders,
            record.threshold,
            str(document_cid(record.document)),
            record.rotations,
            record.created_block,
            len(record.items),
        )

    def rotate_community(
        self,
        community_id: bytes,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> CommunityView:
        """Replace keyholders and threshold; k of the current keyholders sign."""
        self._require_sender()
        current = self.community(community_id)
        following = self._following(community_id, keyholders, threshold)
        signers = keys.pick(current, current.threshold, "rotating keyholders")
        nonce = self.client.community_nonce(community_id)
        document = self._rotation_document(
            community_id, following, nonce, [a.address for a in signers], keys, extra
        )
        digest, cid = self._put_document(document)
        deadline = self._deadline()
        typed = consent.TypedData(
            self.client.domain(),
            "RotateKeyholders",
            {
                "community": community_id,
                "keyholders": list(following.keyholders),
                "threshold": threshold,
                "document": digest,
                "nonce": nonce,
                "deadline": deadline,
            },
        )
        _, outcome = self.client.rotate_keyholders(
            current,
            following.keyholders,
            threshold,
            digest,
            nonce,
            deadline,
            keys.sign(typed, signers),
        )
        view = self.show_community(community_id)
        return CommunityView(
            view.id,
            view.keyholders,
            view.threshold,
            str(cid),
            view.rotations,
            view.created_block,
            view.items,
            TxView.of(outcome),
        )

    @staticmethod
    def _following(community_id: bytes, keyholders: Sequence[str], threshold: int) -> Community:
        """The keyholder set a rotation installs, checked as the registry will check it."""
        for k in keyholders:
            if not is_address(k):
                raise UsageError(f"keyholder {k!r} is not an Ethereum address")
        following = Community.of(community_id, keyholders, threshold)
        if len(set(following.keyholders)) != len(following.keyholders):
            raise UsageError("a keyholder is listed twice", hint="list each keyholder once")
        if not 1 <= threshold <= len(following.keyholders):
            raise UsageError(
                f"threshold {threshold} is not between 1 and the {len(keyholders)} keyholders"
            )
        return following

    def _rotation_document(
        self,
        community_id: bytes,
        following: Community,
        nonce: int,
        openers: Sequence[str],
        keys: SignerKeys,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """The community document a rotation publishes: the name kept, the keyholders that
        follow with their encryption public keys, and every sealed item the community stewards
        re-wrapped for them (opened with the encryption key of one of ``openers``, current
        keyholders whose keys are here; the envelopes are put and pinned)."""
        with self._index() as index:
            name = None
            old: Any = None
            try:
                old = strict_json.loads(
                    self.node.block_get(document_cid(index.community(community_id).document))
                )
                name = old.get("name") if isinstance(old, dict) else None
            except (HeritageError, ValueError):
                name = None
        previous = old if isinstance(old, dict) else None
        # The keys and envelopes are the ones computed here: a caller's document cannot name
        # others for the keyholders to sign.
        added = {
            k: v for k, v in (extra or {}).items() if k not in ("encryption_keys", "envelopes")
        }
        return {
            **added,
            "type": "heritage/community",
            "version": 1,
            "name": name,
            "keyholders": list(following.keyholders),
            "threshold": following.threshold,
            "rotation": nonce + 1,
            **self._encryption_keys_document(following.keyholders, previous),
            **self._rewrap_for_rotation(
                community_id, following.keyholders, keys, openers, previous
            ),
        }

    # -- encryption of restricted items -------------------------------------------------
    #
    # Terms that require encryption (ledger.rights.requires_encryption) make registration
    # encrypt each file to a temp file and add only that ciphertext to the node. The item is
    # keyed by the ciphertext's CID; the record's metadata digest names a public
    # "heritage/sealed-item" document (ciphertext CID, size and import settings, the envelope
    # CID, the sealed metadata CID); the commitment is plaintext_commitment(salt, plaintext
    # CID). The plaintext's metadata (name, size, media type, CID, salt) is sealed with the
    # item's content key. A rotation re-wraps every sealed item the community stewards (items,
    # derivatives, items of batches) for the new keyholders and names the new envelopes in the
    # new community document ("envelopes"); a transfer or repatriation re-wraps for the
    # receiver and names them in the custody document. _current_envelope picks among them.

    def _community_document(self, community_id: bytes) -> dict[str, Any]:
        with self._index() as index:
            digest = index.community(community_id).document
        document = self._metadata(digest)
        if document is None:
            raise NotFound(
                f"the document of community {_hex(community_id)} is not on this IPFS node",
                hint="import it (e.g. from a CAR file) from a node that has it",
            )
        return dict(document)

    def _encryption_keys_document(
        self, keyholders: Sequence[str], previous: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{"encryption_keys": [...]}``: each keyholder's public encryption key, from the
        keystore here or else from the ``previous`` community document (a keyholder whose
        keys live elsewhere keeps the key the keyholders signed before), for the community
        document (which the keyholders sign)."""
        earlier = {
            e.get("address"): e
            for e in (previous or {}).get("encryption_keys", [])
            if isinstance(e, dict)
        }
        entries: list[dict[str, Any]] = []
        for address in keyholders:
            try:
                info = encryption_key_info(self.settings, address)
            except NotFound:
                if address in earlier:
                    key = crypto.EncryptionPublicKey.from_json(earlier[address])
                    entries.append({"address": address, **key.to_json()})
                continue
            entries.append({"address": info.address, **info.public.to_json()})
        return {"encryption_keys": entries} if entries else {}

    def _recipients(
        self,
        community: Community,
        reason: str = "these terms require encryption",
        *,
        refused: str = "nothing was added",
    ) -> tuple[crypto.EncryptionPublicKey, ...]:
        """The encryption keys of ``community``'s keyholders that its current (signed) document
        lists; UsageError (``reason``, ``refused``) when it lists none."""
        entries = self._community_document(community.id).get("encryption_keys")
        found: list[crypto.EncryptionPublicKey] = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("address") in community.keyholders:
                found.append(
                    crypto.EncryptionPublicKey.from_json(
                        entry, f"an encryption key of community {_hex(community.id)}"
                    )
                )
        if not found:
            raise UsageError(
                f"{reason}, but the document of community {_hex(community.id)} names no "
                f"keyholder encryption key; {refused}",
                hint="create the keyholders' keys with `heritage keys new-encryption ADDRESS`, "
                "then publish them with `heritage community rotate` (same keyholders)",
            )
        return tuple(found)

    def _seal_for(self, terms_document: Mapping[str, Any], community: Community) -> _Seal | None:
        """How to seal items under these terms; None when they allow public access."""
        from ledger.rights import parse_terms, requires_encryption

        if not requires_encryption(parse_terms(terms_document)):
            return None
        return _Seal(community.id, self._recipients(community))

    def _temp_dir(self) -> Path:
        folder = self.settings.data_dir / "tmp"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def _prepare_sealed(self, path: Path, options: ImportOptions, seal: _Seal) -> _Prepared:
        """Encrypt ``path`` and add the ciphertext (unpinned); never the plaintext."""
        data_key = crypto.new_content_key()
        # Hashing only (no block sink): the plaintext's CID, computed without storing a block.
        plain = import_path(path, options)[-1]
        cipher_path = self._temp_dir() / f"{os.urandom(12).hex()}.sealed"
        try:
            crypto.encrypt_file(data_key, path, cipher_path)
            entry = self.node.add_path(cipher_path, options, pin=False)[-1]
        finally:
            cipher_path.unlink(missing_ok=True)
        salt = os.urandom(crypto.SALT_BYTES)
        commitment = crypto.plaintext_commitment(salt, plain.cid)
        private = {
            **metadata_document(plain.cid, path.name, plain.filesize, options),
            "commitment_salt": _hex(salt),
            "commitment": _hex(commitment),
        }
        sealed_metadata = crypto.seal_bytes(data_key, canonical_json(private))
        envelope = crypto.wrap(data_key, content_key(bytes(entry.cid)), seal.recipients)
        envelope_bytes = canonical_json(envelope.to_document())
        public = {
            "type": SEALED_ITEM_TYPE,
            "version": 1,
            "cid": str(entry.cid),
            "size": entry.filesize,
            "encryption": {"format": "heritage-stream-v1", "purpose": "content"},
            "import": metadata_document(entry.cid, "", entry.filesize, options)["import"],
            "envelope": str(Cid.for_block(envelope_bytes, RAW)),
            "sealed_metadata": str(Cid.for_block(sealed_metadata, RAW)),
        }
        return _Prepared(
            path,
            entry,
            canonical_json(public),
            commitment=commitment,
            blocks=(envelope_bytes, sealed_metadata),
            sealed=True,
        )

    def _sealed_item(self, key: bytes, metadata: bytes) -> dict[str, Any]:
        document = self._metadata(metadata)
        if document is None:
            raise NotFound(
                f"the metadata of item {_hex(key)} is not on this IPFS node",
                hint="import the item's blocks (e.g. from a CAR file)",
            )
        if document.get("type") != SEALED_ITEM_TYPE:
            raise UsageError(
                f"item {_hex(key)} is not encrypted", hint="`heritage ipfs get` its CID instead"
            )
        return dict(document)

    def _listed_envelope(self, listing_cid: object, key: bytes) -> Cid | None:
        """The envelope of ``key`` in the envelope index ``listing_cid`` names; None when it
        names none (or the index is not on this node, or is not an envelope index)."""
        if not isinstance(listing_cid, str):
            return None
        try:
            listing = strict_json.loads(self.node.block_get(Cid.parse(listing_cid)))
            named = listing.get("envelopes", {}).get(_hex(key))
            if listing.get("type") == ENVELOPE_INDEX_TYPE and isinstance(named, str):
                return Cid.parse(named)
        except (HeritageError, ValueError, AttributeError):
            pass
        return None

    def _last_move(self, subject: bytes) -> Mapping[str, Any] | None:
        """The custody document of the latest transfer or repatriation of ``subject`` (an item,
        derivative or batch root); None if it never moved or the document is not here."""
        with self._index() as index:
            history = index.history(subject)
        moves = [
            e
            for e in history
            if e.event == "CustodyRecorded"
            and e.fields["action"] in (CUSTODY_TRANSFER, CUSTODY_REPATRIATION)
        ]
        return self._metadata(moves[-1].fields["document"]) if moves else None

    def _current_envelope(
        self, key: bytes, subject: bytes, steward: bytes, sealed: Mapping[str, Any]
    ) -> Cid:
        """The envelope of ``key`` (under ``subject``: itself, or its batch's root) for the
        steward's current keyholders. Every envelope made after registration is wrapped for the
        set of keyholders that was current when it was made, so the first of these that names
        ``key`` is for the current set: the steward's latest rotation (the rotation re-wraps
        every sealed item the community stewards then), else the latest transfer or
        repatriation (re-wrapped for the receiver, which is the steward since), else the
        envelope made at registration (no move and no rotation since)."""
        try:
            rotated = self._community_document(steward).get("envelopes")
        except HeritageError:
            rotated = None
        found = self._listed_envelope(rotated, key)
        if found is None:
            moved = self._last_move(subject)
            if moved is not None:
                found = self._listed_envelope(moved.get("envelopes"), key)
        return found if found is not None else Cid.parse(str(sealed["envelope"]))

    def _envelope(self, cid: Cid) -> crypto.Envelope:
        data = self.node.block_get(cid)
        return crypto.Envelope.from_document(
            parse_json_document(data, f"envelope {cid}"), f"envelope {cid}"
        )

    def _contents(
        self, subject: bytes, record: Record, only: bytes | None = None
    ) -> list[_Content]:
        """The files registered under ``subject``: the item or derivative itself, or each item
        of a batch (``only``: that item of the batch alone), from the batch manifest."""
        if record.kind != KIND_BATCH:
            with self._index() as index:
                indexed = index.item(subject)
            return [
                _Content(
                    content_key(indexed.cid),
                    Cid.from_bytes(indexed.cid),
                    document_cid(record.metadata),
                    self._metadata(record.metadata),
                )
            ]
        with self._index() as index:
            root = index.batch(subject).root  # the record is under the batch key
        manifest = self._manifest(root, record.commitment)
        contents: list[_Content] = []
        for entry in manifest.document.get("items", []) if manifest is not None else []:
            cid = Cid.parse(str(entry["cid"]))
            key = content_key(bytes(cid))
            if only is None or key == only:
                meta = Cid.parse(str(entry["metadata_cid"]))
                contents.append(_Content(key, cid, meta, self._metadata(meta.digest)))
        return contents

    def _stewarded(self, community_id: bytes) -> list[tuple[bytes, Record]]:
        """Every item, derivative and batch that ``community_id`` stewards now: those it
        registered and those moved to it (candidates from the index, synced first), each
        kept only if the registry names the community its steward now (a later move may
        have passed it on)."""
        with self._index() as index:
            candidates = list(index.community(community_id).items)
            candidates += [b.batch for b in index.batches() if b.community == community_id]
            # Moved to it: looked up by counterparty in the index, which the chain cannot do
            # (not an indexed topic); the index reads logs in ranges capped chains accept.
            candidates += index.moved_to(community_id)
        stewarded: list[tuple[bytes, Record]] = []
        for subject in dict.fromkeys(candidates):  # once each, in chain order
            record = self.client.find_record(subject)
            if self.client.steward_of(subject, record) == community_id:
                stewarded.append((subject, record))
        return stewarded

    def _rewrap(
        self,
        sealed: Sequence[tuple[bytes, _Content]],
        steward: bytes,
        recipients: Sequence[crypto.EncryptionPublicKey],
        openers: Sequence[str],
        keys: SignerKeys,
        why: str,
    ) -> dict[str, str]:
        """Re-wrap the content key of each sealed ``(subject, content)`` of ``steward`` for
        ``recipients``, opened with the encryption key of a keyholder of ``openers`` that its
        current envelope is wrapped for: ``{item key: new envelope CID}`` (each envelope put
        and pinned)."""
        loaded: dict[str, crypto.EncryptionKeyPair | None] = {}
        envelopes: dict[str, str] = {}
        for subject, content in sealed:
            assert content.metadata is not None  # sealed
            current = self._envelope(
                self._current_envelope(content.key, subject, steward, content.metadata)
            )
            holder: crypto.EncryptionKeyPair | None = None
            for address in openers:
                if address not in loaded:
                    try:
                        loaded[address] = load_encryption_key(
                            self.settings, address, keys.passphrase(to_checksum_address(address))
                        )
                    except NotFound:
                        loaded[address] = None
                pair = loaded[address]
                if pair is not None and pair.public.key_id in current.key_ids():
                    holder = pair
                    break
            if holder is None:
                raise UsageError(
                    f"{why} re-wraps the encrypted item {_hex(content.key)}, which needs the "
                    f"encryption key of a signing keyholder it is wrapped for; none of "
                    f"{', '.join(openers) or 'the keyholders'} has one here; nothing was sent",
                    hint="run it where such a keyholder's encryption key is, naming that "
                    "keyholder with --signer (--opener for `heritage consent request`)",
                )
            fresh = crypto.rewrap(current, holder, recipients, item=content.key)
            _, cid = self._put_document(fresh.to_document())
            envelopes[_hex(content.key)] = str(cid)
        return envelopes

    def _envelope_index(self, community_id: bytes, envelopes: Mapping[str, str]) -> Cid:
        _, cid = self._put_document(
            {
                "type": ENVELOPE_INDEX_TYPE,
                "version": 1,
                "community": _hex(community_id),
                "envelopes": dict(envelopes),
            }
        )
        return cid

    def _rewrap_for_rotation(
        self,
        community_id: bytes,
        following: Sequence[str],
        keys: SignerKeys,
        openers: Sequence[str],
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Re-wrap every sealed item the community stewards (items, derivatives and the items
        of batches, registered by it or moved to it) for the keyholders that follow;
        ``{"envelopes": CID}`` of the new envelope index."""
        recipients: list[crypto.EncryptionPublicKey] = []
        listed = self._encryption_keys_document(following, previous)
        for entry in listed.get("encryption_keys", []):
            recipients.append(crypto.EncryptionPublicKey.from_json(entry))
        sealed = [
            (subject, content)
            for subject, record in self._stewarded(community_id)
            for content in self._contents(subject, record)
            if content.sealed
        ]
        if not sealed:
            return {}
        if not recipients:
            raise UsageError(
                "the community has encrypted items, but none of the new keyholders has an "
                "encryption key here, so nobody could open them after the rotation",
                hint="create them with `heritage keys new-encryption ADDRESS` first",
            )
        envelopes = self._rewrap(sealed, community_id, recipients, openers, keys, "the rotation")
        return {"envelopes": str(self._envelope_index(community_id, envelopes))}

    def _rewrap_for_move(
        self,
        key: bytes,
        record: Record,
        steward: bytes,
        receiver: Community,
        openers: Sequence[str],
        keys: SignerKeys,
        name: str,
    ) -> dict[str, Any]:
        """A transfer or repatriation of sealed content re-wraps it for the receiver's
        keyholders (opened by one of ``openers``, keyholders of the steward);
        ``{"envelopes": CID}`` for the custody document, which both communities sign."""
        sealed = [(key, c) for c in self._contents(key, record) if c.sealed]
        if not sealed:
            return {}
        recipients = self._recipients(
            receiver, f"{_hex(key)} is encrypted", refused="nothing was sent"
        )
        envelopes = self._rewrap(sealed, steward, recipients, openers, keys, f"the {name}")
        return {"envelopes": str(self._envelope_index(receiver.id, envelopes))}

    def _withdraw_public(
        self, subject: bytes, record: Record, only: bytes | None = None
    ) -> dict[str, Any]:
        """Stop serving the plaintext (not sealed) files under ``subject`` here, after a
        revocation or terms that no longer allow public access (``only``: one item of a
        batch): unpin them and their metadata blocks and collect garbage, on the embedded
        node or the remote one (there, Kubo's ``repo gc`` removes every block that no pin on
        that node reaches, not only these). Copies elsewhere cannot be recalled, and the
        result says so. Sealed files keep their ciphertext."""
        unpinned: list[str] = []
        failure: str | None = None
        # The chain already holds the new terms: a failure here is reported with them, never
        # raised as if the terms change had not happened.
        try:
            public = [c for c in self._contents(subject, record, only) if not c.sealed]
            if not public:
                return {}
            pins = self.node.pin_ls()
            for content in public:
                for cid in (content.cid, content.metadata_cid):
                    if cid in pins:
                        self.node.pin_rm(cid, recursive=pins[cid] == "recursive")
                        unpinned.append(str(cid))
        except HeritageError as exc:
            failure = f"unpinning: {exc.message}"
        if unpinned and failure is None:
            try:
                self.node.gc()
            except HeritageError as exc:
                failure = exc.message
        if failure is not None:
            warning = (
                f"the item's plaintext was public and withdrawing it here FAILED ({failure}): "
                "the node may still serve it; fix that, then unpin it (`heritage ipfs unpin`) "
                "and run `heritage ipfs gc`. Copies other nodes, gateways or people made "
                "before now cannot be recalled"
            )
            return {"unpinned": unpinned, "warning": warning, "gc_error": failure}
        warning = (
            "the item's plaintext was public: it is unpinned and collected here, but copies "
            "other nodes, gateways or people made before now cannot be recalled"
        )
        if isinstance(self.node, KuboNode):
            warning += (
                f"; collecting on the IPFS node at {self.node.api} removes every block that "
                "no pin there reaches, not only this item's"
            )
        return {"unpinned": unpinned, "warning": warning}

    def decrypt_item(
        self,
        item: str,
        holder: str,
        passphrase: str,
        output: Path,
        community: bytes | None = None,
    ) -> DecryptedItem:
        """Decrypt ITEM into ``output`` (all or nothing) with the encryption key of keyholder
        ``holder`` (an address whose key is in the keystore here, or the path of a file written
        by `heritage keys export`), then check the plaintext's CID against the sealed metadata
        and the record's commitment before the file appears at ``output``."""
        target = output.expanduser()
        if target.exists() or target.is_symlink():
            raise UsageError(f"{target} already exists", hint="choose a new output path")
        if not target.parent.is_dir():
            raise UsageError(f"{target.parent} is not a directory")
        resolved = self.resolve(item, community)
        key = resolved.key
        content = _content(resolved)
        if resolved.batch_root is not None:
            root = resolved.batch_root
            batch_record = self.client.find_record(root)
            membership, _ = self._batch_membership(root, content)
            metadata = bytes.fromhex(membership["metadata"][2:])
            commitment = bytes.fromhex(membership["commitment"][2:])
            steward = self.client.steward_of(root, batch_record)
            subject = root
        else:
            record = self.client.find_record(key)
            metadata, commitment = record.metadata, record.commitment
            if record.kind == KIND_DERIVATIVE:
                # the registry binds the derivation (method, AI flag) in place of a commitment
                commitment = _ZERO32
            steward = self.client.steward_of(key, record)
            subject = key
        sealed = self._sealed_item(key, metadata)
        # Envelopes are bound to (and listed by) the content key of the ciphertext's CID.
        envelope_cid = self._current_envelope(content, subject, steward, sealed)
        if is_address(holder):
            keypair = load_encryption_key(self.settings, holder, passphrase)
        elif Path(holder).expanduser().is_file():
            keypair = load_encryption_key_file(Path(holder).expanduser(), passphrase)
        else:
            raise UsageError(
                f"--key {holder!r} is neither an address nor a key file",
                hint="a keyholder's address (its key is here) or a `heritage keys export` file",
            )
        data_key = crypto.unwrap(self._envelope(envelope_cid), keypair, content)
        private = parse_json_document(
            crypto.open_bytes(
                data_key,
                self.node.block_get(Cid.parse(str(sealed["sealed_metadata"]))),
                where="the sealed metadata",
            ),
            "the sealed metadata",
        )
        imported = private.get("import", {})
        options = ImportOptions(
            cid_version=int(imported["cid_version"]),
            raw_leaves=bool(imported["raw_leaves"]),
            chunk_size=int(imported["chunk_size"]),
        )
        work = self._temp_dir()
        cipher_path = work / f"{os.urandom(12).hex()}.sealed"
        plain_path = target.with_name(f".{target.name}.{os.urandom(8).hex()}.partial")
        try:
            self.node.get(str(sealed["cid"]), cipher_path)
            crypto.decrypt_file(data_key, cipher_path, plain_path)
            plain_cid = import_path(plain_path, options)[-1].cid
            if str(plain_cid) != private.get("cid"):
                # no CID in the message: errors may end up in logs, and these name the plaintext
                raise _decryption_mismatch(
                    f"the decrypted plaintext of {item} is not the one its sealed metadata names"
                )
            matches: bool | None = None
            if commitment != _ZERO32:
                salt = bytes.fromhex(str(private["commitment_salt"])[2:])
                matches = crypto.plaintext_commitment(salt, plain_cid) == commitment
                if not matches:
                    raise _decryption_mismatch(
                        f"the plaintext of {item} does not match the commitment on chain"
                    )
            try:
                os.link(plain_path, target)
            except FileExistsError:
                raise UsageError(f"{target} already exists") from None
        finally:
            cipher_path.unlink(missing_ok=True)
            plain_path.unlink(missing_ok=True)
        return DecryptedItem(
            key,
            str(sealed["cid"]),
            str(plain_cid),
            str(private.get("name", "")),
            int(private.get("size", 0)),
            target,
            str(envelope_cid),
            matches,
        )

    # -- registration --------------------------------------------------------------------

    def _terms_document(self, terms: Path, community_id: bytes) -> dict[str, Any]:
        """The terms file as a document, refused (InvalidTerms: the field's JSON pointer and
        the rule) unless it is valid terms of ``community_id``: checked before anything is
        added, pinned or sent."""
        # Imported here: ledger.rights builds on this module's canonical_json and document_cid.
        from ledger.rights import parse_terms

        document = read_json_file(terms)
        parse_terms(document, where=str(terms), community=community_id)
        return document

    @staticmethod
    def _check_paths(paths: Sequence[Path]) -> list[Path]:
        if not paths:
            raise UsageError("no files to register")
        checked: list[Path] = []
        for path in paths:
            if not path.exists():
                raise UsageError(f"{path} does not exist", hint="check the path")
            if not path.is_file():
                raise UsageError(
                    f"{path} is not a regular file",
                    hint="register files one by one (a directory's files: pass them as PATH...)",
                )
            checked.append(path)
        return checked

    def _prepare(
        self,
        paths: Sequence[Path],
        options: ImportOptions,
        progress: Progress | None,
        seal: _Seal | None = None,
    ) -> list[_Prepared]:
        """Add each file (unpinned) and build its metadata document; with ``seal`` (terms that
        require encryption), only each file's ciphertext ever reaches the node."""
        prepared: list[_Prepared] = []
        for i, path in enumerate(paths):
            if seal is not None:
                prepared.append(self._prepare_sealed(path, options, seal))
                if progress is not None:
                    progress("adding", i + 1, len(paths))
                continue
            entries = self.node.add_path(path, options, pin=False)
            entry = entries[-1]
            meta = metadata_document(entry.cid, path.name, entry.filesize, options)
            prepared.append(_Prepared(path, entry, canonical_json(meta)))
            if progress is not None:
                progress("adding", i + 1, len(paths))
        return prepared

    def _pin_all(self, prepared: Sequence[_Prepared]) -> list[Cid]:
        metadata: list[Cid] = []
        for p in prepared:
            self.node.pin_add(p.entry.cid, recursive=True)
            for block in p.blocks:
                self.node.pin_add(self.node.block_put(block, RAW), recursive=False)
            cid = self.node.block_put(p.metadata, RAW)
            self.node.pin_add(cid, recursive=False)
            metadata.append(cid)
        return metadata

    def register(
        self,
        paths: Sequence[Path],
        community_id: bytes,
        terms: Path,
        keys: SignerKeys,
        *,
        options: ImportOptions = DEFAULT_IMPORT,
        progress: Progress | None = None,
    ) -> list[ItemRegistration]:
        """Register each file as an item of its own (one transaction each) under ``terms``."""
        self._require_sender()
        files = self._check_paths(paths)
        terms_document = self._terms_document(terms, community_id)
        community = self.community(community_id)
        signers = keys.pick(community, community.threshold, "registering")
        seal = self._seal_for(terms_document, community)
        prepared = self._prepare(files, options, progress, seal)
        others = self._new_claims(community.id, prepared, "one item")
        terms_digest, _ = self._put_document(terms_document)
        metadata_cids = self._pin_all(prepared)
        deadline = self._deadline()
        domain = self.client.domain()
        calls: list[Call] = []
        for p in prepared:
            cid = bytes(p.entry.cid)
            typed = consent.TypedData(
                domain,
                "RegisterItem",
                {
                    "community": community.id,
                    "cid": cid,
                    "metadata": p.metadata_digest,
                    "terms": terms_digest,
                    "commitment": p.commitment,
                    "deadline": deadline,
                },
            )
            calls.append(
                Calls.register_item(
                    community,
                    cid,
                    p.metadata_digest,
                    terms_digest,
                    p.commitment,
                    deadline,
                    keys.sign(typed, signers),
                )
            )
        results: list[ItemRegistration] = []
        for start in range(0, len(calls), _SEND_CHUNK):
            outcomes = self.client.transact_many(calls[start : start + _SEND_CHUNK])
            for p, meta_cid, outcome in zip(
                prepared[start : start + _SEND_CHUNK],
                metadata_cids[start : start + _SEND_CHUNK],
                outcomes,
                strict=True,
            ):
                results.append(
                    ItemRegistration(
                        str(p.path),
                        p.entry.cid,
                        claim_key(community.id, bytes(p.entry.cid)),
                        meta_cid,
                        p.entry.filesize,
                        TxView.of(outcome),
                        others[content_key(bytes(p.entry.cid))],
                    )
                )
            if progress is not None:
                progress("registering", len(results), len(calls))
        return results

    def _new_claims(
        self, community: bytes, prepared: Sequence[_Prepared], where: str
    ) -> dict[bytes, tuple[OtherClaim, ...]]:
        """Content key → the other communities' claims on it, for content ``community`` is
        about to claim; DuplicateLeaves for content given twice, DuplicateClaim (nothing sent)
        for content the community already claims, alone, in a batch or as a derivative."""
        seen: dict[bytes, Path] = {}
        others: dict[bytes, tuple[OtherClaim, ...]] = {}
        for p in prepared:
            cid = bytes(p.entry.cid)
            content = content_key(cid)
            if content in seen:
                raise DuplicateLeaves(
                    f"{p.path} and {seen[content]} are the same content ({p.entry.cid}) in "
                    f"{where}",
                    hint="each file may be registered once; remove the repeat; nothing was sent",
                )
            seen[content] = p.path
            claims, _ = self._claims_on(cid)
            for claim in claims:
                if claim.community == community:
                    raise DuplicateClaim(
                        f"{p.path} ({p.entry.cid}) is already claimed by this community, as "
                        f"{claim.kind} {_hex(claim.key)}",
                        hint="`heritage item show` it; nothing was sent",
                    )
            others[content] = tuple(OtherClaim(c.key, c.community, c.kind) for c in claims)
        return others

    def register_batch(
        self,
        paths: Sequence[Path],
        community_id: bytes,
        terms: Path,
        keys: SignerKeys,
        *,
        options: ImportOptions = DEFAULT_IMPORT,
        progress: Progress | None = None,
    ) -> BatchRegistration:
        """Register the files as one batch (one transaction): a StandardMerkleTree over
        (item, metadata, commitment) leaves, under one terms document."""
        self._require_sender()
        files = self._check_paths(paths)
        terms_document = self._terms_document(terms, community_id)
        community = self.community(community_id)
        signers = keys.pick(community, community.threshold, "registering a batch")
        seal = self._seal_for(terms_document, community)
        prepared = self._prepare(files, options, progress, seal)
        others = self._new_claims(community.id, prepared, "one batch")
        values = [
            (content_key(bytes(p.entry.cid)), p.metadata_digest, p.commitment) for p in prepared
        ]
        tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
        if self.client.is_registered(batch_key(community.id, tree.root)):
            raise DuplicateClaim(
                f"this community already registered this batch (root {_hex(tree.root)})",
                hint="nothing was sent",
            )
        # The manifest is built (and its size checked) before anything is pinned.
        terms_bytes = canonical_json(terms_document)
        terms_cid = Cid.for_block(terms_bytes, RAW)
        metadata_cids = [Cid.for_block(p.metadata, RAW) for p in prepared]
        manifest = {
            "type": "heritage/batch-manifest",
            "version": 1,
            "root": _hex(tree.root),
            "community": _hex(community.id),
            "terms_cid": str(terms_cid),
            # @openzeppelin/merkle-tree's StandardMerkleTree.dump(): load() reads it back and
            # gives every leaf's proof.
            "tree": {
                "format": "standard-v1",
                "leafEncoding": list(BATCH_LEAF_TYPES),
                "tree": [_hex(n) for n in tree.tree],
                "values": [
                    {"value": [_hex(v) for v in value], "treeIndex": tree.tree_index[i]}
                    for i, value in enumerate(tree.values)
                ],
            },
            "items": [
                # a sealed item's name stays inside its sealed metadata
                {
                    "cid": str(p.entry.cid),
                    "name": None if p.sealed else p.path.name,
                    "metadata_cid": str(m),
                }
                for p, m in zip(prepared, metadata_cids, strict=True)
            ],
        }
        manifest_bytes = canonical_json(manifest)
        if len(manifest_bytes) > MAX_DOCUMENT_BYTES:
            raise LimitExceeded(
                f"the manifest of a batch of {len(values)} items is {len(manifest_bytes)} bytes, "
                "more than one 1 MiB block",
                hint="split the files into smaller batches (a few thousand items each at most)",
            )
        terms_digest, _ = self._put_document(terms_document)
        self._pin_all(prepared)
        manifest_digest, manifest_cid = self._put_document(manifest)
        deadline = self._deadline()
        typed = consent.TypedData(
            self.client.domain(),
            "RegisterBatch",
            {
                "community": community.id,
                "root": tree.root,
                "count": len(values),
                "terms": terms_digest,
                "manifest": manifest_digest,
                "deadline": deadline,
            },
        )
        registration = self.client.register_batch(
            community,
            tree.root,
            len(values),
            terms_digest,
            manifest_digest,
            deadline,
            keys.sign(typed, signers),
        )
        if progress is not None:
            progress("registering", len(values), len(values))
        return BatchRegistration(
            tree.root,
            manifest_cid,
            terms_cid,
            community.id,
            tuple(
                ItemRegistration(
                    str(p.path),
                    p.entry.cid,
                    claim_key(community.id, bytes(p.entry.cid)),
                    m,
                    p.entry.filesize,
                    None,
                    others[v[0]],
                )
                for p, v, m in zip(prepared, values, metadata_cids, strict=True)
            ),
            TxView.of(registration.outcome),
        )

    # -- items ---------------------------------------------------------------------------

    def resolve(self, item: str, community: bytes | None = None) -> _Resolved:
        """ITEM (a CID of either version, a 0x claim key, batch key or batch root) → the one
        claim it names. With several claims on the content, ``community`` picks the claim
        that community made or now stewards; without it, AmbiguousClaim lists them."""
        claims, missing = self.claims(item)
        if community is not None:
            picked = [c for c in claims if community in (c.community, self._steward_of(c))]
            if not picked:
                listed = "; ".join(self._describe(c) for c in claims)
                raise NotFound(
                    f"community {_hex(community)} holds no claim on {item} (claims: {listed})",
                    hint="name the community that registered or now stewards it with -c",
                )
            claims = picked
        if len(claims) > 1:
            listed = "; ".join(self._describe(c) for c in claims)
            raise AmbiguousClaim(
                f"{len(claims)} claims on {item}: {listed}",
                hint="pick one with -c COMMUNITY, or pass its claim key (0x…)",
            )
        if claims:
            return claims[0]
        raise NotFound(
            f"item {item} is not registered",
            hint="check the CID or key, or register it with `heritage item register`"
            + _missing_hint(missing),
        )

    def _describe(self, claim: _Resolved) -> str:
        return f"{claim.kind} {_hex(claim.key)} by community {_hex(claim.community)}"

    def _steward_of(self, claim: _Resolved) -> bytes:
        """The current steward of a claim (a batch item's is its batch's), from the index."""
        with self._index(sync=False) as index:
            return index.steward(claim.batch or claim.key, claim.community)

    def claims(self, item: str, *, sync: bool = True) -> tuple[list[_Resolved], int]:
        """Every claim ITEM names, in chain order, and how many batch manifests were missing:
        for a CID, each community's claim on its content (alone, in a batch, as a
        derivative); for a 0x key, the claim, batch or batches (a Merkle root) it names.
        ``sync=False``: from the event index as the last sync left it."""
        key = _parse_b32(item)
        if key is not None:
            return self._claims_by_key(key, sync=sync)
        if item.startswith(("0x", "0X")):
            raise UsageError(
                f"{item!r} is not a 32-byte item key", hint="0x followed by 64 hex digits"
            )
        cid = Cid.parse(item)
        candidates = [cid]
        if cid.version == 0:
            candidates.append(cid.to_v1())
        elif cid.codec == DAG_PB and cid.multihash[:2] == b"\x12\x20":
            candidates.append(Cid(0, DAG_PB, cid.multihash))
        found: list[_Resolved] = []
        missing = 0
        for candidate in candidates:
            claims, missing = self._claims_on(bytes(candidate), sync=sync)
            found.extend(claims)
        found.sort(key=lambda c: (c.block, c.log_index))
        return found, missing

    def _claims_on(self, cid: bytes, *, sync: bool = True) -> tuple[list[_Resolved], int]:
        content = content_key(cid)
        with self._index(sync=sync) as index:
            claims = [_claim_of(record) for record in index.claims_on(content)]
        batches, missing = self._batches_of(content, sync=sync)
        for batch, _, _ in batches:
            claims.append(
                _Resolved(
                    claim_key(batch.community, cid),
                    cid,
                    batch.community,
                    "batch-item",
                    content,
                    batch.batch,
                    batch.root,
                    batch.block_number,
                    batch.log_index,
                )
            )
        return claims, missing

    def _claims_by_key(self, key: bytes, *, sync: bool = True) -> tuple[list[_Resolved], int]:
        with self._index(sync=sync) as index:
            try:
                return [_claim_of(index.item(key))], 0
            except NotFound:
                pass
            try:
                batches = [index.batch(key)]
            except NotFound:
                batches = index.batches_with_root(key)
            if batches:
                return [
                    _Resolved(b.batch, None, b.community, "batch", None, b.batch, b.root,
                              b.block_number, b.log_index)
                    for b in batches
                ], 0
        # A batch item's claim key: its content is found through the manifests read so far.
        _, missing = self._batches_of(bytes(32), sync=sync)  # reads any manifest not read yet
        with self._index(sync=False) as index:
            found = index.batch_claim(key)
        if found is None:
            return [], missing
        batch, content, _ = found
        manifest = self._manifest(batch.root, batch.manifest)
        cid: bytes | None = None
        if manifest is not None:
            for entry, listed in zip(manifest.document["items"], manifest.keys, strict=False):
                if listed == content:
                    cid = bytes(Cid.parse(str(entry["cid"])))
        return [
            _Resolved(key, cid, batch.community, "batch-item", content, batch.batch, batch.root,
                      batch.block_number, batch.log_index)
        ], missing

    def _metadata(self, digest: bytes) -> Mapping[str, Any] | None:
        try:
            document = strict_json.loads(self.node.block_get(document_cid(digest)))
        except (HeritageError, ValueError):
            return None  # not on this node: the digest on chain still names it
        return document if isinstance(document, dict) else None

    def _batch_membership(
        self, batch: bytes, key: bytes
    ) -> tuple[dict[str, Any], Mapping[str, Any]]:
        """The batch entry of the content key ``key`` in the manifest of the batch ``batch``
        (by batch key), with its proof checked on chain."""
        for record, found, position in self._batches_of(key)[0]:
            if record.batch != batch:
                continue
            root = record.root
            manifest = found.document
            manifest_cid = str(found.cid)
            dump = manifest["tree"]
            nodes = tuple(bytes.fromhex(n[2:]) for n in dump["tree"])
            values = dump["values"][position]
            tree_index = int(values["treeIndex"])
            leaf_values = [bytes.fromhex(v[2:]) for v in values["value"]]
            proof: list[bytes] = []
            node = tree_index
            while node > 0:
                proof.append(nodes[node - 1 if node % 2 == 0 else node + 1])
                node = (node - 1) // 2
            valid = self.client.is_batch_item(
                record.community, root, leaf_values[0], leaf_values[1], leaf_values[2], proof
            )
            entry = manifest["items"][position]
            return (
                {
                    "batch": _hex(batch),
                    "root": _hex(root),
                    "manifest_cid": manifest_cid,
                    "position": position,
                    "metadata": _hex(leaf_values[1]),
                    "commitment": _hex(leaf_values[2]),
                    "proof": [_hex(p) for p in proof],
                    "proof_valid_on_chain": valid,
                    "subject": _hex(batch_item_subject(batch, key)),
                },
                entry,
            )
        raise NotFound(
            f"item {_hex(key)} is not in the manifest of batch {_hex(batch)}",
            hint="is the batch manifest on this IPFS node?",
        )

    def show_item(self, item: str, community: bytes | None = None) -> ItemView:
        """The registration, current terms and steward of ITEM (item, derivative, batch or
        an item of a batch); ``community`` picks among several claims."""
        resolved = self.resolve(item, community)
        key = resolved.key
        if resolved.batch_root is not None:
            root = resolved.batch_root
            content = _content(resolved)
            batch_record = self.client.find_record(root)
            membership, entry = self._batch_membership(root, content)
            subject = batch_item_subject(root, content)
            own = self.client.terms_of(subject)
            whole = self.client.terms_of(root)
            terms_digest = whole.terms if whole.terms != _ZERO32 else batch_record.terms
            revoked = own.revoked or whole.revoked
            metadata_digest = bytes.fromhex(membership["metadata"][2:])
            return ItemView(
                key=key,
                kind="batch-item",
                registered_cid=str(entry.get("cid")),
                community=batch_record.community,
                steward=self.client.steward_of(root, batch_record),
                terms_cid=str(document_cid(terms_digest)),
                terms_version=whole.version,
                revoked=revoked,
                metadata_cid=str(document_cid(metadata_digest)),
                metadata=self._metadata(metadata_digest),
                registrant=batch_record.registrant,
                block=None,
                tx_hash=None,
                batch=membership,
            )
        record = self.client.find_record(key)
        state = self.client.terms_of(key)
        terms_digest = state.terms if state.terms != _ZERO32 else record.terms
        steward = self.client.steward_of(key, record)
        registered_cid: str | None = None
        block: int | None = None
        tx_hash: bytes | None = None
        method_cid: str | None = None
        ai: bool | None = None
        if record.kind != KIND_BATCH:
            with self._index() as index:
                indexed = index.item(key)
            registered_cid = indexed.cid_text or _hex(indexed.cid)
            block, tx_hash = indexed.block_number, indexed.tx_hash
            if indexed.method is not None:
                method_cid = str(document_cid(indexed.method))
            ai = indexed.ai_enhanced
        kind = _KINDS.get(record.kind, "unknown")
        return ItemView(
            key=key,
            kind=kind,
            registered_cid=registered_cid,
            community=record.community,
            steward=steward,
            terms_cid=str(document_cid(terms_digest)),
            terms_version=state.version,
            revoked=state.revoked,
            metadata_cid=None if record.kind == KIND_BATCH else str(document_cid(record.metadata)),
            metadata=None if record.kind == KIND_BATCH else self._metadata(record.metadata),
            registrant=record.registrant,
            block=block,
            tx_hash=tx_hash,
            parent=record.parent if record.kind == KIND_DERIVATIVE else None,
            method_cid=method_cid,
            ai_enhanced=ai,
            batch={
                "count": int.from_bytes(record.metadata, "big"),
                "manifest_cid": str(document_cid(record.commitment)),
            }
            if record.kind == KIND_BATCH
            else None,
        )

    def history(self, item: str, community: bytes | None = None) -> list[HistoryEntry]:
        """Every event about ITEM in chain order; for an item of a batch, the batch's events and
        those of the item's own terms subject."""
        resolved = self.resolve(item, community)
        with self._index() as index:
            if resolved.batch_root is None:
                return index.history(resolved.key)
            entries = index.history(resolved.batch_root) + index.history(
                batch_item_subject(resolved.batch_root, _content(resolved))
            )
        return sorted(entries, key=lambda e: (e.block_number, e.log_index))

    # -- terms ---------------------------------------------------------------------------

    def _subject(
        self, item: str, action: str, community: bytes | None = None
    ) -> tuple[bytes, Record, Community]:
        resolved = self.resolve(item, community)
        if resolved.batch_root is not None:
            root = _hex(resolved.batch_root)
            if action == "set":
                raise UsageError(
                    f"{item} is an item of batch {root}, whose terms are the batch's",
                    hint=f"set the batch's terms with ITEM = {root}, or revoke this item alone "
                    "with `heritage terms revoke`",
                )
            raise UsageError(
                f"{item} is an item of batch {root}; the registry holds a record of the batch, "
                f"not of the item, so it cannot {action} the item alone",
                hint=f"{action} the whole batch with ITEM = {root}, or register the item alone",
            )
        record = self.client.find_record(resolved.key)
        steward = self.community(self.client.steward_of(resolved.key, record))
        return resolved.key, record, steward

    def set_terms(
        self, item: str, terms: Path, keys: SignerKeys, community: bytes | None = None
    ) -> dict[str, Any]:
        """Set the next terms version of ITEM (an item, derivative or batch)."""
        self._require_sender()
        key, record, steward = self._subject(item, "set", community)
        document = self._terms_document(terms, steward.id)
        signers = keys.pick(steward, steward.threshold, "setting terms")
        version = self.client.terms_of(key).version + 1
        digest, cid = self._put_document(document)
        deadline = self._deadline()
        typed = consent.TypedData(
            self.client.domain(),
            "SetTerms",
            {
                "community": steward.id,
                "subject": key,
                "version": version,
                "terms": digest,
                "deadline": deadline,
            },
        )
        outcome = self.client.set_terms(
            key, record, steward, version, digest, deadline, keys.sign(typed, signers)
        )
        from ledger.rights import parse_terms, requires_encryption

        # Terms that no longer allow public access: the plaintext stops being served here.
        withdrawn = (
            self._withdraw_public(key, record) if requires_encryption(parse_terms(document)) else {}
        )
        return {
            "subject": _hex(key),
            "version": version,
            "terms_cid": str(cid),
            "tx": TxView.of(outcome).to_json(),
            **withdrawn,
        }

    def revoke_terms(
        self, item: str, keys: SignerKeys, community: bytes | None = None
    ) -> dict[str, Any]:
        """Revoke the current terms of ITEM; for an item of a batch, that item alone."""
        self._require_sender()
        resolved = self.resolve(item, community)
        deadline = self._deadline()
        domain = self.client.domain()
        if resolved.batch_root is not None:
            root = resolved.batch_root
            content = _content(resolved)
            batch_record = self.client.find_record(root)
            steward = self.community(self.client.steward_of(root, batch_record))
            membership, _ = self._batch_membership(root, content)
            subject = batch_item_subject(root, content)
            state = self.client.terms_of(subject)
            if state.revoked:
                raise UsageError(f"the terms of {item} in batch {_hex(root)} are already revoked")
            signers = keys.pick(steward, steward.threshold, "revoking terms")
            typed = consent.TypedData(
                domain,
                "RevokeTerms",
                {
                    "community": steward.id,
                    "subject": subject,
                    "version": state.version,
                    "deadline": deadline,
                },
            )
            outcome = self.client.revoke_batch_item(
                bytes.fromhex(membership["root"][2:]),
                batch_record,
                content,
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                [bytes.fromhex(p[2:]) for p in membership["proof"]],
                steward,
                state.version,
                deadline,
                keys.sign(typed, signers),
            )
            return {
                "subject": _hex(subject),
                "batch": _hex(root),
                "version": state.version,
                "revoked": True,
                "tx": TxView.of(outcome).to_json(),
                **self._withdraw_public(root, batch_record, content),
            }
        key, record, steward = self._subject(item, "revoke")
        state = self.client.terms_of(key)
        if state.revoked:
            raise UsageError(f"the terms of {item} (version {state.version}) are already revoked")
        signers = keys.pick(steward, steward.threshold, "revoking terms")
        typed = consent.TypedData(
            domain,
            "RevokeTerms",
            {
                "community": steward.id,
                "subject": key,
                "version": state.version,
                "deadline": deadline,
            },
        )
        outcome = self.client.revoke_terms(
            key, record, steward, state.version, deadline, keys.sign(typed, signers)
        )
        return {
            "subject": _hex(key),
            "version": state.version,
            "revoked": True,
            "tx": TxView.of(outcome).to_json(),
            **self._withdraw_public(key, record),
        }

    # -- offline consent (request, then signatures collected elsewhere, then submit) -------

    def consent_request(
        self,
        item: str,
        terms: Path | None,
        *,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        community: bytes | None = None,
    ) -> ConsentRequest:
        """A SetTerms request for ITEM (``terms`` given: the next version, the document put on
        IPFS and pinned) or a RevokeTerms request of its current terms (``terms`` None; an item
        of a batch: that item alone), for keyholders to sign offline. Sends nothing."""
        if valid_for < 60:
            raise UsageError(f"a request valid for {valid_for} s cannot be signed in time")
        with chain_errors(self.settings.rpc_url):
            now = int(self.w3.eth.get_block("latest")["timestamp"])
        domain = self.client.domain()
        if terms is None:
            resolved = self.resolve(item, community)
            batch: tuple[bytes, bytes] | None = None
            if resolved.batch_root is not None:
                root = resolved.batch_root
                content = _content(resolved)
                batch_record = self.client.find_record(root)
                steward = self.community(self.client.steward_of(root, batch_record))
                self._batch_membership(root, content)  # NotFound unless it is in the batch
                subject = batch_item_subject(root, content)
                batch = (root, content)
            else:
                subject, _, steward = self._subject(item, "revoke", community)
            state = self.client.terms_of(subject)
            if state.revoked:
                raise UsageError(
                    f"the terms of {item} (version {state.version}) are already revoked"
                )
            return build_request(
                domain,
                "RevokeTerms",
                steward,
                subject,
                state.version,
                now + valid_for,
                item=self._request_item(item, steward.id, community),
                created_at=now,
                history=self.community_history(steward.id),
                batch=batch,
            )
        key, _, steward = self._subject(item, "set", community)
        document = self._terms_document(terms, steward.id)
        version = self.client.terms_of(key).version + 1
        request = build_request(
            domain,
            "SetTerms",
            steward,
            key,
            version,
            now + valid_for,
            item=self._request_item(item, steward.id, community),
            created_at=now,
            history=self.community_history(steward.id),
            terms_document=document,
        )
        self._put_document(document)  # pinned, so the CID being signed can be fetched
        return request

    def derivative_request(
        self,
        parent: str,
        path: Path,
        community_id: bytes,
        terms: Path,
        method: Path,
        *,
        ai_enhanced: bool = False,
        parent_community: bytes | None = None,
        options: ImportOptions = DEFAULT_IMPORT,
        valid_for: int = CONSENT_REQUEST_SECONDS,
    ) -> ConsentRequest:
        """A ConsentDerivative request, for k keyholders of the parent claim's steward to sign
        offline: community ``community_id`` asks to register ``path`` as a derivative of
        ``parent``. The derivative's file, metadata, terms and method documents are added and
        pinned now, so that the request can be submitted where it was made. Sends nothing."""
        now = self._request_clock(valid_for)
        (file,) = self._check_paths([path])
        terms_document = self._terms_document(terms, community_id)
        method_document = read_method_document(method)
        resolved, _, holder = self._derivative_parent(parent, parent_community, ai_enhanced)
        community = self.community(community_id)
        (prepared,) = self._prepare(
            [file], options, None, self._seal_for(terms_document, community)
        )
        self._new_claims(community.id, [prepared], "one derivative")
        terms_digest, _ = self._put_document(terms_document)
        self._put_document(method_document)
        self._pin_all([prepared])
        return build_derivative_request(
            self.client.domain(),
            holder,
            resolved.key,
            community.id,
            bytes(prepared.entry.cid),
            method_document,
            ai_enhanced,
            now + valid_for,
            item=self._request_item(parent, holder.id, parent_community),
            created_at=now,
            history=self.community_history(holder.id),
            metadata=prepared.metadata_digest,
            terms=terms_digest,
            name="" if prepared.sealed else file.name,
        )

    def _submit_derivative(
        self, request: ConsentRequest, status: ConsentStatus, keys: SignerKeys
    ) -> dict[str, Any]:
        """Register the derivative a ConsentDerivative request asks for: the parent's steward
        must still be the community that signed, the parent's terms unrevoked (and consenting
        to AI enhancement, for an AI-enhanced one); k of the deriving community sign here."""
        message = request.typed.message
        parent, cid = request.subject, bytes(message["cid"])
        steward = request.steward()
        what = f"the derivative of {request.item} ({_hex(parent)})"
        if not self.client.community_matches(steward):
            raise ConsentStale(
                f"the keyholders or threshold of community {_hex(steward.id)} changed after the "
                f"request for {what} was made (a rotation); its signatures no longer count",
                hint="make a new request; nothing was sent",
            )
        record = self.client.find_record(parent)
        if self.client.steward_of(parent, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {_hex(steward.id)} "
                "(a custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        if self.client.terms_of(parent).revoked:
            raise ConsentStale(
                f"the terms of {request.item} were revoked after the request for {what} was "
                "made: no derivative may be made under them",
                hint="nothing was sent",
            )
        ai_enhanced = bool(message["aiEnhanced"])
        if ai_enhanced:
            self._check_ai_consent(request.item, parent, record)
        community = self.community(bytes(message["community"]))
        packed = status.packed()
        consent.check_signatures(request.digest, steward.keyholders, steward.threshold, packed)
        derivative = request.derivative or {}
        metadata = bytes.fromhex(str(derivative["metadata"])[2:])
        terms = bytes.fromhex(str(derivative["terms"])[2:])
        method = bytes(message["method"])
        for digest, name in ((metadata, "metadata"), (terms, "terms"), (method, "method")):
            if self._metadata(digest) is None:
                raise NotFound(
                    f"the derivative's {name} document {document_cid(digest)} is not on this "
                    "IPFS node",
                    hint="submit where the request was made; nothing was sent",
                )
        claims, _ = self._claims_on(cid)
        if any(c.community == community.id for c in claims):
            raise DuplicateClaim(
                f"community {_hex(community.id)} already claims the derivative's content",
                hint="nothing was sent",
            )
        signers = keys.pick(community, community.threshold, "registering a derivative")
        result = self._send_derivative(
            community,
            keys,
            signers,
            parent,
            record,
            Party(steward, packed),
            (cid, metadata, terms, method),
            ai_enhanced,
            request.deadline,
        )
        return {**result, "signers": [a for a, _ in status.signed[: steward.threshold]]}

    def _request_item(self, item: str, steward: bytes, community: bytes | None) -> str:
        """How a request file names ITEM so that it can be checked offline against the
        subject signed: the CID for the steward's own claim or an item of a batch, else the
        claim key."""
        resolved = self.resolve(item, community)
        if resolved.kind == "batch-item" and resolved.cid is not None:
            return str(Cid.from_bytes(resolved.cid))
        if resolved.community == steward and resolved.cid is not None:
            return item if not item.startswith(("0x", "0X")) else str(Cid.from_bytes(resolved.cid))
        return _hex(resolved.key)

    def submit_consent(
        self,
        request: ConsentRequest,
        signatures: Sequence[tuple[str, ConsentSignature]],
        keys: SignerKeys | None = None,
    ) -> dict[str, Any]:
        """Send ``request`` with signatures collected elsewhere (``(where, signature)``, one
        per keyholder), once k are there (k of each community, for a transfer or
        repatriation). The chain is re-read first: a request for another chain or registry, an
        expired one, or one made stale by a rotation, a custody move, another terms change or
        custody record, or (rotation) an encrypted item its re-wrap does not cover, is refused
        with nothing sent. A derivative's consent registers the derivative, k of the deriving
        community signing RegisterDerivative here with ``keys``."""
        self._require_sender()
        domain = self.client.domain()
        wanted = request.typed.domain
        if (domain.chain_id, domain.verifying_contract.lower()) != (
            wanted.chain_id,
            wanted.verifying_contract.lower(),
        ):
            raise ConsentMismatch(
                f"the request is for registry {wanted.verifying_contract} on chain "
                f"{wanted.chain_id}; this is registry {domain.verifying_contract} on chain "
                f"{domain.chain_id}",
                hint="submit it with HERITAGE_RPC_URL and HERITAGE_DEPLOYMENT of that chain",
            )
        with chain_errors(self.settings.rpc_url):
            now = int(self.w3.eth.get_block("latest")["timestamp"])
        status = collect(request, signatures, now=now)
        packed = status.packed()  # ConsentIncomplete, naming who is missing, below k
        if request.action == "RotateKeyholders":
            return self._submit_rotation(request, status)
        if request.action == "RecordCustody":
            return self._submit_custody(request, status)
        if request.action == "ConsentDerivative":
            if keys is None:
                raise UsageError(
                    "registering the derivative needs k signatures of the deriving community "
                    "too, made here",
                    hint="pass its keyholders' --signer and --password-file; nothing was sent",
                )
            return self._submit_derivative(request, status, keys)
        steward = request.steward()
        subject = request.subject
        from ledger.rights import parse_terms, requires_encryption

        # The request file may come from elsewhere: its terms pass the same check as a terms
        # file given to `heritage terms set` (InvalidTerms, nothing sent).
        restricts = request.terms_document is not None and requires_encryption(
            parse_terms(
                request.terms_document, where="the request's terms document", community=steward.id
            )
        )
        what = f"{request.action} of {request.item} ({_hex(subject)})"
        if not self.client.community_matches(steward):
            raise ConsentStale(
                f"the keyholders or threshold of community {_hex(steward.id)} changed after the "
                f"request for {what} was made (a rotation); its signatures no longer count",
                hint="make a new request and have the current keyholders sign it; nothing "
                "was sent",
            )
        root = request.batch_root if request.batch_root is not None else subject
        record = self.client.find_record(root)
        if self.client.steward_of(root, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {_hex(steward.id)} "
                "(a custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        state = self.client.terms_of(subject)
        if request.action == "SetTerms":
            stale = state.version + 1 != request.version
            current = f"the current version is {state.version}, so the next is {state.version + 1}"
        else:
            stale = state.version != request.version or state.revoked
            current = f"the current version is {state.version}" + (
                " and it is revoked" if state.revoked else ""
            )
        if stale:
            raise ConsentStale(
                f"the request for {what} is about terms version {request.version}, but "
                f"{current}: the terms changed after the request was made",
                hint="make a new request; nothing was sent",
            )
        # The registry's own check, run here first so a refusal costs no gas.
        consent.check_signatures(request.digest, steward.keyholders, steward.threshold, packed)
        result: dict[str, Any] = {
            "subject": _hex(subject),
            "version": request.version,
            "signers": [a for a, _ in status.signed[: request.threshold]],
        }
        if request.action == "SetTerms":
            assert request.terms_document is not None  # parse_request guarantees it
            digest, cid = self._put_document(request.terms_document)
            outcome = self.client.set_terms(
                subject, record, steward, request.version, digest, request.deadline, packed
            )
            result["terms_cid"] = str(cid)
            # As `terms set`: terms that no longer allow public access stop the plaintext
            # being served here.
            if restricts:
                result.update(self._withdraw_public(subject, record))
        elif request.batch_root is not None and request.batch_item is not None:
            membership, _ = self._batch_membership(request.batch_root, request.batch_item)
            outcome = self.client.revoke_batch_item(
                bytes.fromhex(membership["root"][2:]),
                record,
                request.batch_item,
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                [bytes.fromhex(p[2:]) for p in membership["proof"]],
                steward,
                request.version,
                request.deadline,
                packed,
            )
            result["batch"] = _hex(request.batch_root)
            result["revoked"] = True
            # As `terms revoke`: a revoked plaintext item is no longer served here.
            result.update(self._withdraw_public(request.batch_root, record, request.batch_item))
        else:
            outcome = self.client.revoke_terms(
                subject, record, steward, request.version, request.deadline, packed
            )
            result["revoked"] = True
            result.update(self._withdraw_public(subject, record))
        result["tx"] = TxView.of(outcome).to_json()
        return result

    def _request_clock(self, valid_for: int) -> int:
        """The chain's time now, for a request that ``valid_for`` seconds must cover."""
        if valid_for < 60:
            raise UsageError(f"a request valid for {valid_for} s cannot be signed in time")
        with chain_errors(self.settings.rpc_url):
            return int(self.w3.eth.get_block("latest")["timestamp"])

    def _openers(self, community: Community, keys: SignerKeys) -> list[str]:
        """The keyholders of ``community`` whose encryption key is in the keystore here (of
        those ``keys`` names, when it names some): who can open sealed items to re-wrap them.
        Their passphrases are asked for only when an item needs one."""
        found: list[str] = []
        for address in community.keyholders:
            if keys.addresses is not None and address not in keys.addresses:
                continue
            try:
                encryption_key_info(self.settings, address)
            except NotFound:
                continue
            found.append(address)
        return found

    def rotation_request(
        self,
        community_id: bytes,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        extra: Mapping[str, Any] | None = None,
        valid_for: int = CONSENT_REQUEST_SECONDS,
    ) -> ConsentRequest:
        """A RotateKeyholders request for k of the current keyholders to sign offline. The
        work a rotation does besides the chain call happens here, once: the new community
        document (the new keyholders' encryption public keys, and every sealed item the
        community stewards re-wrapped for them with the encryption key of a current keyholder
        here, ``keys`` giving its passphrase) is put and pinned, and its digest is what the
        keyholders sign. Sends nothing."""
        now = self._request_clock(valid_for)
        current = self.community(community_id)
        following = self._following(community_id, keyholders, threshold)
        nonce = self.client.community_nonce(community_id)
        document = self._rotation_document(
            community_id, following, nonce, self._openers(current, keys), keys, extra
        )
        request = build_rotation_request(
            self.client.domain(),
            current,
            following,
            document,
            nonce,
            now + valid_for,
            created_at=now,
            history=self.community_history(community_id),
        )
        self._put_document(document)  # pinned, so the CID being signed can be fetched
        return request

    def custody_request(
        self,
        item: str,
        action: int,
        counterparty: bytes | None,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        community: bytes | None = None,
    ) -> ConsentRequest:
        """A RecordCustody request for ITEM, for keyholders to sign offline: a transfer or
        repatriation to community ``counterparty`` (k of the steward and k of the receiver
        sign; sealed content is re-wrapped here for the receiver, with the encryption key of a
        steward's keyholder here), a loan to ``counterparty`` (any 32-byte id), or the return
        from the current borrower (``counterparty`` None). The custody document (``document``
        merged in) is put and pinned. Sends nothing."""
        if action not in CUSTODY_NAMES:
            raise UsageError(f"custody action {action} is not one the registry knows")
        now = self._request_clock(valid_for)
        extra = read_json_file(document) if document is not None else {}
        name = CUSTODY_NAMES[action]
        verb = {CUSTODY_LOAN: "lend", CUSTODY_REPATRIATION: "repatriate"}.get(action, name)
        key, record, steward = self._subject(item, verb, community)
        receiver: Community | None = None
        if action in STEWARDSHIP_MOVES:
            if counterparty is None:
                raise UsageError(f"a {name} needs the receiving community", hint="pass --to")
            receiver = self.community(counterparty)
            if receiver.id == steward.id:
                raise UsageError(f"{item} is already stewarded by {_hex(receiver.id)}")
            # As online: the envelopes are the ones made here, never a caller's.
            extra = {k: v for k, v in extra.items() if k != "envelopes"}
            extra.update(
                self._rewrap_for_move(
                    key, record, steward.id, receiver, self._openers(steward, keys), keys, name
                )
            )
        elif action == CUSTODY_LOAN:
            if counterparty is None or len(counterparty) != 32 or counterparty == _ZERO32:
                raise UsageError(
                    "the borrower is a community id or name, or a non-zero 32-byte id",
                    hint="pass --to, 0x followed by 64 hex digits",
                )
            if counterparty == steward.id:
                raise UsageError(
                    f"{item} is stewarded by {_hex(counterparty)}; it cannot borrow it"
                )
        else:
            if counterparty is not None:
                raise UsageError(
                    "a return is from the current borrower, which the chain names",
                    hint="leave out --to",
                )
            counterparty = self.current_borrower(key)
            if counterparty is None:
                raise UsageError(
                    f"{item} is not on loan: no loan of it is open, so there is nothing to "
                    "return",
                    hint="`heritage item history` lists its custody events; nothing was written",
                )
        nonce = self.client.custody_nonce(key)
        custody = custody_document(extra, action, key, steward.id, counterparty, nonce)
        request = build_custody_request(
            self.client.domain(),
            action,
            steward,
            key,
            counterparty,
            custody,
            nonce,
            now + valid_for,
            item=self._request_item(item, steward.id, community),
            created_at=now,
            history=self.community_history(steward.id),
            receiver=receiver,
            receiver_history=None if receiver is None else self.community_history(receiver.id),
        )
        self._put_document(custody)  # pinned, so the CID being signed can be fetched
        return request

    def _check_rewrap(
        self,
        listing: object,
        sealed: Sequence[bytes],
        allowed: frozenset[bytes],
        what: str,
    ) -> None:
        """Before a request that re-wrapped sealed items is sent: its envelope index
        (``listing``, the CID its document names) lists exactly the items ``sealed`` names now,
        and each envelope is here, is for its item and is wrapped for ``allowed`` keys only (the
        ones the signed documents list). Anything else: refused, nothing sent."""
        if listing is None and not sealed:
            return
        gone = "; submit where the request was made, or import its blocks (a CAR file) here"
        envelopes: Any = None
        if isinstance(listing, str):
            try:
                index_document = strict_json.loads(self.node.block_get(Cid.parse(listing)))
            except (HeritageError, ValueError):
                raise NotFound(
                    f"{what}: the envelope index {listing} that the request's document names "
                    "is not on this IPFS node",
                    hint=f"nothing was sent{gone}",
                ) from None
            if (
                isinstance(index_document, dict)
                and index_document.get("type") == ENVELOPE_INDEX_TYPE
            ):
                envelopes = index_document.get("envelopes")
            if not isinstance(envelopes, dict):
                raise ConsentMismatch(
                    f"{what}: {listing} is not an envelope index",
                    hint="the request was not made by heritage, or was edited; nothing was sent",
                )
        listed = set(envelopes or {})
        now = {_hex(k) for k in sealed}
        if listed != now:
            added, left = sorted(now - listed), sorted(listed - now)
            raise ConsentStale(
                f"{what}: the encrypted items (by content key) re-wrapped when the request was "
                "made are not the ones stewarded now"
                + (f"; not re-wrapped (registered or moved here since): {', '.join(added)}"
                   if added else "")
                + (f"; no longer stewarded: {', '.join(left)}" if left else ""),
                hint="make a new request, which re-wraps what is stewarded now; nothing was sent",
            )
        for key_hex, cid_text in (envelopes or {}).items():
            try:
                envelope = self._envelope(Cid.parse(str(cid_text)))
            except HeritageError:
                raise NotFound(
                    f"{what}: the envelope {cid_text!s:.80} of {key_hex} is not on this IPFS node "
                    "or does not parse",
                    hint=f"nothing was sent{gone}",
                ) from None
            if _hex(envelope.item) != key_hex or not envelope.key_ids() <= allowed:
                raise ConsentMismatch(
                    f"{what}: the envelope {cid_text} of {key_hex} is not wrapped for the keys "
                    "the signed document lists",
                    hint="the request was not made by heritage, or was edited; nothing was sent",
                )

    def _submit_rotation(self, request: ConsentRequest, status: ConsentStatus) -> dict[str, Any]:
        """The RotateKeyholders part of :meth:`submit_consent` (signatures collected)."""
        current = request.steward()
        what = f"the rotation of community {_hex(current.id)}"
        if not self.client.community_matches(current):
            raise ConsentStale(
                f"the keyholders or threshold of community {_hex(current.id)} changed after the "
                f"request for {what} was made (another rotation); its signatures no longer count",
                hint="make a new request and have the current keyholders sign it; nothing "
                "was sent",
            )
        nonce = self.client.community_nonce(current.id)
        if nonce != request.version:
            raise ConsentStale(
                f"{what} was requested at community nonce {request.version}, but the nonce is "
                f"now {nonce}: another rotation came first",
                hint="make a new request; nothing was sent",
            )
        document = request.document
        assert document is not None  # parse_request guarantees it
        message = request.typed.message
        following = Community.of(current.id, message["keyholders"], int(message["threshold"]))
        allowed = frozenset(
            crypto.EncryptionPublicKey.from_json(entry, "an encryption key of the document").key_id
            for entry in document.get("encryption_keys", [])
        )
        sealed = [
            content.key
            for subject, record in self._stewarded(current.id)
            for content in self._contents(subject, record)
            if content.sealed
        ]
        self._check_rewrap(document.get("envelopes"), sealed, allowed, what)
        packed = status.packed()
        # The registry's own check, run here first so a refusal costs no gas.
        consent.check_signatures(request.digest, current.keyholders, current.threshold, packed)
        digest, cid = self._put_document(document)  # the same bytes: pinned once, here too
        _, outcome = self.client.rotate_keyholders(
            current,
            following.keyholders,
            following.threshold,
            digest,
            nonce,
            request.deadline,
            packed,
        )
        return {
            "community": _hex(current.id),
            "nonce": nonce,
            "keyholders": list(following.keyholders),
            "threshold": following.threshold,
            "document_cid": str(cid),
            "signers": [a for a, _ in status.parties[0].signed[: current.threshold]],
            "tx": TxView.of(outcome).to_json(),
        }

    def _submit_custody(self, request: ConsentRequest, status: ConsentStatus) -> dict[str, Any]:
        """The RecordCustody part of :meth:`submit_consent` (signatures collected)."""
        steward = request.steward()
        key = request.subject
        action = request.custody_action
        assert action is not None and request.document is not None  # parse_request
        name = CUSTODY_NAMES[action]
        counterparty = bytes(request.typed.message["counterparty"])
        what = f"the custody {name} of {request.item} ({_hex(key)})"
        for role, community in request.parties():
            if not self.client.community_matches(community):
                side = "community" if role == "keyholders" else f"{role} community"
                raise ConsentStale(
                    f"the keyholders or threshold of the {side} {_hex(community.id)} changed "
                    f"after the request for {what} was made (a rotation); its signatures no "
                    "longer count",
                    hint="make a new request and have the current keyholders sign it; nothing "
                    "was sent",
                )
        record = self.client.find_record(key)
        if self.client.steward_of(key, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {_hex(steward.id)} (a "
                "custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        nonce = self.client.custody_nonce(key)
        if nonce != request.version:
            raise ConsentStale(
                f"{what} was requested at custody nonce {request.version}, but the item's nonce "
                f"is now {nonce}: another custody record came first",
                hint="make a new request; nothing was sent",
            )
        if action in STEWARDSHIP_MOVES:
            assert request.receiver is not None  # parse_request
            sealed = [c.key for c in self._contents(key, record) if c.sealed]
            allowed = (
                frozenset(
                    k.key_id
                    for k in self._recipients(
                        request.receiver, f"{_hex(key)} is encrypted", refused="nothing was sent"
                    )
                )
                if sealed
                else frozenset()
            )
            self._check_rewrap(request.document.get("envelopes"), sealed, allowed, what)
        packed = status.packed()
        receiver_packed = status.packed_receiver()
        for (_, community), signatures in zip(
            request.parties(), (packed, receiver_packed), strict=False
        ):
            assert signatures is not None
            consent.check_signatures(
                request.digest, community.keyholders, community.threshold, signatures
            )
        digest, cid = self._put_document(request.document)
        outcome = self.client.record_custody(
            key,
            record,
            action,
            counterparty,
            digest,
            nonce,
            request.deadline,
            Party(steward, packed),
            None
            if request.receiver is None or receiver_packed is None
            else Party(request.receiver, receiver_packed),
        )
        return {
            "item": _hex(key),
            "action": name,
            "steward": _hex(steward.id),
            "counterparty": _hex(counterparty),
            "from": request.document["from"],
            "to": request.document["to"],
            "nonce": nonce,
            "document_cid": str(cid),
            "signers": {
                party.role: [a for a, _ in party.signed[: party.community.threshold]]
                for party in status.parties
            },
            "tx": TxView.of(outcome).to_json(),
        }

    # -- custody and derivatives ---------------------------------------------------------

    def transfer_custody(
        self,
        item: str,
        to_community: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> dict[str, Any]:
        """Transfer stewardship of ITEM to ``to_community``: k of each community sign."""
        return self._move_stewardship(
            item, CUSTODY_TRANSFER, to_community, keys, document, community
        )

    def repatriate(
        self,
        item: str,
        to_community: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> dict[str, Any]:
        """Repatriate ITEM to ``to_community`` (stewardship moves): k of each community sign."""
        return self._move_stewardship(
            item, CUSTODY_REPATRIATION, to_community, keys, document, community
        )

    def loan_custody(
        self,
        item: str,
        borrower: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> dict[str, Any]:
        """Lend ITEM to ``borrower`` (a community or any 32-byte institution id): k of the
        steward sign; stewardship does not move."""
        self._require_sender()
        extra = read_json_file(document) if document is not None else {}
        if len(borrower) != 32 or borrower == _ZERO32:
            raise UsageError(
                "the borrower is a community id or name, or a non-zero 32-byte id",
                hint="0x followed by 64 hex digits",
            )
        key, record, steward = self._subject(item, "lend", community)
        if borrower == steward.id:
            raise UsageError(f"{item} is stewarded by {_hex(borrower)}; it cannot borrow it")
        signers = keys.pick(steward, steward.threshold, "a custody loan")
        return self._record_custody(
            key, record, CUSTODY_LOAN, steward, borrower, keys, signers, None, extra
        )

    def return_custody(
        self,
        item: str,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> dict[str, Any]:
        """Record the return of ITEM from its current borrower: k of the steward sign."""
        self._require_sender()
        extra = read_json_file(document) if document is not None else {}
        key, record, steward = self._subject(item, "return", community)
        borrower = self.current_borrower(key)
        if borrower is None:
            raise UsageError(
                f"{item} is not on loan: no loan of it is open, so there is nothing to return",
                hint="`heritage item history` lists its custody events; nothing was sent",
            )
        signers = keys.pick(steward, steward.threshold, "a custody return")
        return self._record_custody(
            key, record, CUSTODY_RETURN, steward, borrower, keys, signers, None, extra
        )

    def current_borrower(self, key: bytes) -> bytes | None:
        """The borrower of the open loan of ``key`` (the last loan not yet returned), from the
        index's custody history; None when no loan is open."""
        with self._index() as index:
            history = index.history(key)
        borrower: bytes | None = None
        for entry in history:
            if entry.event != "CustodyRecorded":
                continue
            if entry.fields["action"] == CUSTODY_LOAN:
                borrower = entry.fields["counterparty"]
            elif entry.fields["action"] == CUSTODY_RETURN:
                borrower = None
        return borrower

    def _move_stewardship(
        self,
        item: str,
        action: int,
        to_community: bytes,
        keys: SignerKeys,
        document: Path | None,
        community: bytes | None = None,
    ) -> dict[str, Any]:
        """A transfer or repatriation: k of the steward and k of the receiver sign."""
        self._require_sender()
        name = CUSTODY_ACTIONS[action]
        extra = read_json_file(document) if document is not None else {}
        key, record, steward = self._subject(
            item, "repatriate" if action == CUSTODY_REPATRIATION else "transfer", community
        )
        receiver = self.community(to_community)
        if receiver.id == steward.id:
            raise UsageError(f"{item} is already stewarded by {_hex(receiver.id)}")
        if keys.addresses is not None:
            both = set(steward.keyholders) | set(receiver.keyholders)
            strangers = [a for a in keys.addresses if a not in both]
            if strangers:
                raise UsageError(
                    f"{', '.join(strangers)} is a keyholder of neither community",
                    hint="--signer must name keyholders of the two communities",
                )
        steward_signers = keys.pick(
            steward, steward.threshold, f"a custody {name} (steward)", only_this=False
        )
        receiver_signers = keys.pick(
            receiver, receiver.threshold, f"a custody {name} (receiver)", only_this=False
        )
        # Stewardship moves reading with it: sealed content is re-wrapped for the receiver's
        # keyholders, and the custody document both communities sign names the new envelopes
        # (a caller's document cannot name others).
        extra = {k: v for k, v in extra.items() if k != "envelopes"}
        extra.update(
            self._rewrap_for_move(
                key, record, steward.id, receiver, [a.address for a in steward_signers], keys, name
            )
        )
        return self._record_custody(
            key,
            record,
            action,
            steward,
            receiver.id,
            keys,
            steward_signers,
            (receiver, receiver_signers),
            extra,
        )

    def _record_custody(
        self,
        key: bytes,
        record: Record,
        action: int,
        steward: Community,
        counterparty: bytes,
        keys: SignerKeys,
        steward_signers: Sequence[LocalAccount],
        receiver: tuple[Community, Sequence[LocalAccount]] | None,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Store the custody document (``extra`` merged in), have it signed and record it.
        ``from``/``to`` say where the item goes: a return goes from the borrower back to the
        steward, every other action from the steward to the counterparty."""
        name = CUSTODY_ACTIONS[action]
        source, destination = (
            (counterparty, steward.id) if action == CUSTODY_RETURN else (steward.id, counterparty)
        )
        nonce = self.client.custody_nonce(key)
        digest, cid = self._put_document(
            custody_document(extra, action, key, steward.id, counterparty, nonce)
        )
        deadline = self._deadline()
        typed = consent.TypedData(
            self.client.domain(),
            "RecordCustody",
            {
                "item": key,
                "action": action,
                "community": steward.id,
                "counterparty": counterparty,
                "document": digest,
                "nonce": nonce,
                "deadline": deadline,
            },
        )
        outcome = self.client.record_custody(
            key,
            record,
            action,
            counterparty,
            digest,
            nonce,
            deadline,
            Party(steward, keys.sign(typed, steward_signers)),
            None if receiver is None else Party(receiver[0], keys.sign(typed, receiver[1])),
        )
        return {
            "item": _hex(key),
            "action": name,
            "steward": _hex(steward.id),
            "counterparty": _hex(counterparty),
            "from": _hex(source),
            "to": _hex(destination),
            "nonce": nonce,
            "document_cid": str(cid),
            "tx": TxView.of(outcome).to_json(),
        }

    def add_derivative(
        self,
        parent: str,
        path: Path,
        community_id: bytes,
        terms: Path,
        method: Path,
        keys: SignerKeys,
        *,
        ai_enhanced: bool = False,
        options: ImportOptions = DEFAULT_IMPORT,
        parent_community: bytes | None = None,
        parent_keys: SignerKeys | None = None,
    ) -> dict[str, Any]:
        """Register ``path`` as community ``community_id``'s derivative of the claim
        ``parent`` with a method document. k of the deriving community sign
        RegisterDerivative; k of the parent's steward sign ConsentDerivative: with ``keys``
        when the steward is the deriving community, else only with ``parent_keys`` (keys
        named for it, never picked from the keystore unasked). ``ai_enhanced`` is refused,
        before anything is sent, unless the parent's current terms consent to AI
        enhancement."""
        self._require_sender()
        (file,) = self._check_paths([path])
        terms_document = self._terms_document(terms, community_id)
        method_document = read_method_document(method)
        resolved, parent_record, holder = self._derivative_parent(
            parent, parent_community, ai_enhanced
        )
        community = self.community(community_id)
        signers = keys.pick(community, community.threshold, "registering a derivative")
        if holder.id == community.id:
            holder_keys, holder_signers = keys, signers
        elif parent_keys is None:
            raise ConsentIncomplete(
                f"the parent {parent} is stewarded by community {_hex(holder.id)}, not "
                f"{_hex(community.id)}: k of its keyholders must consent to the derivative",
                hint="have them sign offline (`heritage consent request derivative`), or name "
                "their keys with --parent-signer; nothing was sent",
            )
        else:
            holder_keys = parent_keys
            holder_signers = parent_keys.pick(
                holder, holder.threshold, "consenting to a derivative (parent's steward)"
            )
        (prepared,) = self._prepare(
            [file], options, None, self._seal_for(terms_document, community)
        )
        cid = bytes(prepared.entry.cid)
        self._new_claims(community.id, [prepared], "one derivative")
        terms_digest, _ = self._put_document(terms_document)
        method_digest, _ = self._put_document(method_document)
        self._pin_all([prepared])
        deadline = self._deadline()
        consent_typed = consent.derivative_consent(
            self.client.domain(), resolved.key, community.id, cid, method_digest, ai_enhanced,
            deadline,
        )  # fmt: skip
        parent_party = Party(holder, holder_keys.sign(consent_typed, holder_signers))
        documents = (cid, prepared.metadata_digest, terms_digest, method_digest)
        return self._send_derivative(
            community, keys, signers, resolved.key, parent_record, parent_party, documents,
            ai_enhanced, deadline,
        )  # fmt: skip

    def _send_derivative(
        self,
        community: Community,
        keys: SignerKeys,
        signers: Sequence[LocalAccount],
        parent: bytes,
        parent_record: Record,
        parent_party: Party,
        documents: tuple[bytes, bytes, bytes, bytes],
        ai_enhanced: bool,
        deadline: int,
    ) -> dict[str, Any]:
        """Sign RegisterDerivative with ``signers`` of ``community`` and send it with the
        parent steward's consent (``parent_party``); ``documents``: the derivative's binary
        CID and the digests of its metadata, terms and method documents."""
        cid, metadata, terms, method = documents
        typed = consent.TypedData(
            self.client.domain(),
            "RegisterDerivative",
            {
                "community": community.id,
                "parent": parent,
                "cid": cid,
                "metadata": metadata,
                "terms": terms,
                "method": method,
                "aiEnhanced": ai_enhanced,
                "deadline": deadline,
            },
        )
        registration = self.client.register_derivative(
            community, parent, cid, metadata, terms, method, ai_enhanced, deadline,
            keys.sign(typed, signers), parent_record, parent_party,
        )  # fmt: skip
        return {
            "item": _hex(registration.key),
            "cid": str(Cid.from_bytes(cid)),
            "parent": _hex(parent),
            "parent_steward": _hex(parent_party.community.id),
            "metadata_cid": str(document_cid(metadata)),
            "terms_cid": str(document_cid(terms)),
            "method_cid": str(document_cid(method)),
            "ai_enhanced": ai_enhanced,
            "tx": TxView.of(registration.outcome).to_json(),
        }

    def _derivative_parent(
        self, parent: str, community: bytes | None, ai_enhanced: bool
    ) -> tuple[_Resolved, Record, Community]:
        """The claim PARENT names (``community`` picks among several), its record and its
        current steward; refused before anything is sent when it cannot be a parent, or (for
        an AI-enhanced derivative) when its terms do not consent to AI enhancement."""
        resolved = self.resolve(parent, community)
        if resolved.kind in ("batch", "batch-item"):
            raise UsageError(
                f"{parent} is a {resolved.kind.replace('-', ' ')}; the registry links "
                "derivatives to items and derivatives registered alone",
                hint="a derivative's parent is a claim with a record of its own",
            )
        record = self.client.find_record(resolved.key)
        holder = self.community(self.client.steward_of(resolved.key, record))
        if ai_enhanced:
            self._check_ai_consent(parent, resolved.key, record)
        return resolved, record, holder

    def _check_ai_consent(self, parent: str, key: bytes, record: Record) -> None:
        """UsageError unless the parent's current terms say ``ai_use.enhancement: true``."""
        state = self.client.terms_of(key)
        if state.revoked:
            raise UsageError(
                f"the terms of the parent {parent} are revoked: no derivative may be made under "
                "them",
                hint="nothing was sent",
            )
        digest = state.terms if state.terms != _ZERO32 else record.terms
        document = self._metadata(digest)
        if document is None:
            raise NotFound(
                f"the current terms of the parent {parent} ({document_cid(digest)}) are not on "
                "this IPFS node, so its consent to AI enhancement cannot be read",
                hint="import the terms document; nothing was sent",
            )
        ai_use = document.get("ai_use")
        if not isinstance(ai_use, dict) or ai_use.get("enhancement") is not True:
            raise UsageError(
                f"the parent {parent}'s terms do not consent to AI enhancement "
                '(`"ai_use": {"enhancement": true}` is not in them)',
                hint="register it without --ai-enhanced only if no AI was used, or ask the "
                "parent's community to change its terms; nothing was sent",
            )
