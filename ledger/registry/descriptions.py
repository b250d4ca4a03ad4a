"""Item descriptions on the record: the one given at registration, and every correction since.

Version 1 of a claim's description is the description document bound into its metadata
document at registration (``"description"`` in the item metadata; inside the sealed metadata
for a restricted item), so the registration's k-of-n signatures over the metadata digest cover
it. A correction is the registry's ``setDescription`` (k of the current steward's n; version
= current + 1), whose ``DescriptionSet`` event names the new document by its sha2-256 digest;
the document itself is a raw block on IPFS, ``CIDv1(raw, digest)`` (docs/description.md).

An encrypted (restricted) item's correction is sealed with the item's content key, as its
metadata is (:func:`seal_description`): only the sealed bytes are stored, and the registry's
digest names them, so nothing of the text is public.

The read side (:func:`latest_description`, :func:`description_history`) never shows a sealed
item's description: an exhibit never shows sealed items, and nothing outside the keyholders
may read what is sealed. A latest version whose document is not on this node or does not
parse gives no description at all rather than an older one the community has replaced.
:class:`Descriptions` is the write side: ``heritage item describe`` and its offline request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ledger import consent, crypto
from ledger.chain import Community, Record, batch_item_subject
from ledger.consent import ConsentRequest, ConsentStatus
from ledger.documents import MAX_DOCUMENT_BYTES, SEALED_ITEM_TYPE, document_cid
from ledger.errors import (
    ConsentStale,
    HeritageError,
    InvalidDescription,
    LimitExceeded,
    UsageError,
)
from ledger.index import EventIndex, HistoryEntry
from ledger.ipfs.cid import RAW, Cid
from ledger.registry.inputs import read_description
from ledger.registry.reader import RegistryReader
from ledger.registry.results import Claim, TxView, to_hex
from ledger.registry.sealing import Sealing
from ledger.registry.session import CONSENT_REQUEST_SECONDS, RegistrySession
from ledger.registry.signers import SignerKeys
from ledger.rights.description import Description, description_from_json, parse_description

__all__ = [
    "DescriptionSet",
    "DescriptionVersion",
    "Descriptions",
    "description_history",
    "description_subject",
    "latest_description",
    "registered_description",
    "seal_description",
    "unseal_description",
]

_CORRECTABLE: Final = ("item", "derivative", "batch-item")


def description_subject(claim: Claim) -> bytes:
    """The registry subject of ``claim``'s description: its claim key, or for an item of a
    batch the registry's ``batchItemSubject(batch, content key)`` (as its terms' subject)."""
    if claim.kind == "batch-item" and claim.batch is not None:
        return batch_item_subject(claim.batch, claim.content_key())
    return claim.key


@dataclass(frozen=True, slots=True)
class _Target:
    """What a correction is about: the description ``subject``, the ``record`` the registry
    checks (the claim's, or for an item of a batch the batch's, with ``leaf`` and ``proof``),
    its steward and whether it is sealed."""

    subject: bytes
    record: Record
    steward: Community
    sealed: bool
    batch: bytes | None = None  # an item of a batch: the batch key
    root: bytes | None = None  # … its Merkle root
    leaf: tuple[bytes, bytes, bytes] | None = None  # … (content key, metadata, commitment)
    proof: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class DescriptionVersion:
    """One version of a claim's description: 1 from the registration, then one per
    DescriptionSet. ``description`` is None when the item is sealed, or when the document is
    not on this node or is not a valid description (``problem`` says which)."""

    version: int
    digest: bytes | None  # sha2-256 of the description document (None: sealed)
    description: Description | None
    sealed: bool = False
    block: int | None = None  # the correction's block (None: the registration's)
    tx_hash: bytes | None = None
    steward: bytes | None = None  # who signed the correction
    problem: str | None = None

    @property
    def cid(self) -> Cid | None:
        """Where the document is: ``CIDv1(raw, digest)`` (version 1 lives inside the metadata
        document, so this names a block only if someone stored the document on its own)."""
        return None if self.digest is None else document_cid(self.digest)

    @property
    def title(self) -> str | None:
        text = None if self.description is None else self.description.text("title")
        return None if text is None else text.text

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "digest": None if self.digest is None else to_hex(self.digest),
            "cid": None if self.cid is None else str(self.cid),
            "sealed": self.sealed,
            "block": self.block,
            "tx_hash": None if self.tx_hash is None else to_hex(self.tx_hash),
            "steward": None if self.steward is None else to_hex(self.steward),
            "description": None if self.description is None else self.description.to_json(),
            "problem": self.problem,
        }


@dataclass(frozen=True, slots=True)
class DescriptionSet:
    """`heritage item describe` (or a SetDescription request submitted): the next description
    version of an item or derivative."""

    subject: bytes
    version: int
    description_cid: str
    tx: TxView
    signers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": to_hex(self.subject),
            "version": self.version,
            "description_cid": self.description_cid,
        }
        if self.signers:
            out["signers"] = list(self.signers)
        return out | {"tx": self.tx.to_json()}


# ---- reading -------------------------------------------------------------------------------


def registered_description(metadata: Mapping[str, Any] | None) -> DescriptionVersion | None:
    """Version 1 from an item's public metadata document: None when the document has no
    description (or is not here); sealed (no text) for a sealed item's metadata."""
    if metadata is None:
        return None
    if metadata.get("type") == SEALED_ITEM_TYPE:
        return DescriptionVersion(1, None, None, sealed=True)
    value = metadata.get("description")
    if value is None:
        return None
    try:
        description = description_from_json(value, where="the registered description")
    except InvalidDescription as exc:
        return DescriptionVersion(1, None, None, problem=exc.message)
    digest = hashlib.sha256(description.to_document()).digest()
    return DescriptionVersion(1, digest, description)


def _metadata_of(
    reader: RegistryReader, index: EventIndex, claim: Claim
) -> Mapping[str, Any] | None:
    """The claim's public metadata document (None: a whole batch, or not on this node). An
    item of a batch: the metadata digest of its leaf in the batch manifest, a document the
    community signed (its digest is in the signed RegisterBatch)."""
    if claim.kind == "batch":
        return None
    if claim.batch_root is not None:
        for batch, manifest, position in reader.batches_of(claim.content_key(), sync=False)[0]:
            if batch.batch == claim.batch_root:
                leaf = manifest.document["tree"]["values"][position]["value"]
                return reader.session.metadata(bytes.fromhex(str(leaf[1])[2:]))
        return None
    return reader.session.metadata(index.item(claim.key).metadata)


def _correction(reader: RegistryReader, entry: HistoryEntry, sealed: bool) -> DescriptionVersion:
    """A DescriptionSet as a version, its document read from this node and checked."""
    digest = bytes(entry.fields["description"])
    version = int(entry.fields["version"])
    description: Description | None = None
    problem: str | None = None
    if not sealed:
        cid = document_cid(digest)
        try:
            data = reader.node.block_get(cid)
            if hashlib.sha256(data).digest() != digest:  # a remote node's word is re-checked
                raise UsageError(f"the block {cid} is not the document of its digest")
            description = parse_description(data, f"description version {version} ({cid})")
        except HeritageError as exc:
            problem = exc.message
    return DescriptionVersion(
        version,
        digest,
        description,
        sealed=sealed,
        block=entry.block_number,
        tx_hash=entry.tx_hash,
        steward=bytes(entry.fields["steward"]),
        problem=problem,
    )


def description_history(
    reader: RegistryReader,
    claim: Claim,
    *,
    sync: bool = True,
    until_block: int | None = None,
) -> tuple[DescriptionVersion, ...]:
    """Every version of ``claim``'s description, oldest first: the registration's (when it
    had one) and each DescriptionSet (``until_block``: those made in that block or before).
    A sealed item's versions carry no text, and whether its registration bound a
    description is sealed too (it is not listed). ``sync=False``: the event index as the
    caller's last sync left it (a build that synced once)."""
    with reader.event_index(sync=sync) as index:
        metadata = _metadata_of(reader, index, claim)
        correctable = claim.kind in _CORRECTABLE
        entries = index.descriptions(description_subject(claim)) if correctable else []
    if until_block is not None:
        entries = [e for e in entries if e.block_number <= until_block]
    sealed = metadata is not None and metadata.get("type") == SEALED_ITEM_TYPE
    first = None if sealed else registered_description(metadata)
    versions: list[DescriptionVersion] = [] if first is None else [first]
    versions += [_correction(reader, e, sealed) for e in entries]
    return tuple(versions)


def latest_description(
    reader: RegistryReader,
    claim: Claim,
    *,
    sync: bool = True,
    until_block: int | None = None,
) -> tuple[Description, int] | None:
    """The claim's current description and its version (1: given at registration, then one
    per correction), or None when it has none; ``until_block``: the one current after that
    block (an exhibit built as of a past moment). Sealed (restricted) items: None. A current
    version whose document is missing or invalid: None (never an older, replaced one)."""
    versions = description_history(reader, claim, sync=sync, until_block=until_block)
    if not versions:
        return None
    current = versions[-1]
    if current.sealed or current.description is None:
        return None
    return current.description, current.version


# ---- sealed descriptions (pure) ---------------------------------------------------------------


def seal_description(description: Description, data_key: bytes) -> bytes:
    """A sealed item's corrected description: its canonical JSON encrypted with the item's
    content key, as the item's sealed metadata is (the bytes the registry's digest names)."""
    return crypto.seal_bytes(data_key, description.to_document(), purpose="metadata")


def unseal_description(data: bytes, data_key: bytes, where: str) -> Description:
    """The description in sealed bytes (:func:`seal_description`), for a keyholder who holds
    the item's content key; DecryptionFailed when they are not sealed with it."""
    return parse_description(
        crypto.open_bytes(data_key, data, purpose="metadata", where=where), where
    )


# ---- writing -------------------------------------------------------------------------------


class Descriptions:
    """``heritage item describe`` and ``heritage consent request describe``."""

    def __init__(self, session: RegistrySession, reader: RegistryReader, sealing: Sealing) -> None:
        self.session = session
        self.reader = reader
        self.sealing = sealing

    def _subject(self, item: str, community: bytes | None) -> _Target:
        resolved = self.reader.resolve(item, community)
        if resolved.kind == "batch":
            raise UsageError(
                f"{item} is a whole batch; each item of a batch has a description of its own",
                hint="name one item of the batch (its CID or claim key); nothing was sent",
            )
        if resolved.kind == "batch-item" and resolved.batch is not None:
            return self._batch_item(resolved)
        key, record, steward = self.reader.subject(item, "describe", community)
        metadata = self.session.metadata(record.metadata)
        sealed = metadata is not None and metadata.get("type") == SEALED_ITEM_TYPE
        return _Target(key, record, steward, sealed)

    def _batch_item(self, claim: Claim) -> _Target:
        """An item of a batch: corrected by its leaf, proven against the batch's root, by k
        of the batch's steward."""
        assert claim.batch is not None
        client = self.session.client
        content = claim.content_key()
        batch_record = client.find_record(claim.batch)
        steward = self.session.community(client.steward_of(claim.batch, batch_record))
        membership = self.reader.batch_membership(claim.batch, content)
        metadata_digest = bytes.fromhex(str(membership["metadata"])[2:])
        leaf = (content, metadata_digest, bytes.fromhex(str(membership["commitment"])[2:]))
        metadata = self.session.metadata(metadata_digest)
        sealed = metadata is not None and metadata.get("type") == SEALED_ITEM_TYPE
        return _Target(
            batch_item_subject(claim.batch, content), batch_record, steward, sealed,
            batch=claim.batch, root=bytes.fromhex(str(membership["root"])[2:]), leaf=leaf,
            proof=tuple(bytes.fromhex(str(p)[2:]) for p in membership["proof"]),
        )  # fmt: skip

    def _send(
        self, target: _Target, version: int, digest: bytes, deadline: int, signatures: bytes
    ) -> Any:
        client = self.session.client
        if target.leaf is not None and target.root is not None:
            return client.set_batch_item_description(
                target.root, target.record, target.leaf, target.proof, target.steward,
                version, digest, deadline, signatures,
            )  # fmt: skip
        return client.set_description(
            target.subject, target.record, target.steward, version, digest, deadline, signatures
        )

    def describe(
        self,
        item: str,
        description: Path | Description,
        keys: SignerKeys,
        community: bytes | None = None,
    ) -> DescriptionSet:
        """Publish the next description version of ITEM (an item or derivative), signed by k
        of its steward's keyholders: the document is pinned here, its digest sent. An
        encrypted item's is sealed with the item's content key (opened with a signing
        keyholder's encryption key here) and only the sealed bytes are stored and named."""
        document = (
            description if isinstance(description, Description) else read_description(description)
        )
        self.session.require_sender()
        client = self.session.client
        target = self._subject(item, community)
        steward = target.steward
        signers = keys.pick(steward, steward.threshold, "correcting a description")
        version = client.description_version(target.subject) + 1
        if target.sealed:
            data_key = self.sealing.content_key_of(
                target.batch or target.subject, target.record, steward, keys,
                "correcting its description", only=None if target.leaf is None else target.leaf[0],
            )  # fmt: skip
            digest, cid = self._put_block(seal_description(document, data_key))
        else:
            digest, cid = self.session.put_document(document.to_json())
        deadline = self.session.deadline()
        typed = consent.set_description(
            client.domain(), steward.id, target.subject, version, digest, deadline
        )
        outcome = self._send(target, version, digest, deadline, keys.sign(typed, signers))
        return DescriptionSet(target.subject, version, str(cid), TxView.of(outcome))

    def request(
        self,
        item: str,
        description: Path,
        *,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        community: bytes | None = None,
        keys: SignerKeys | None = None,
    ) -> ConsentRequest:
        """A SetDescription request for ITEM's next description version, for keyholders to
        sign offline; the document is put on IPFS and pinned. Sends nothing. An item of a
        batch is named by its leaf (the request's ``batch``). An encrypted item's correction
        is sealed now with its content key, opened with the encryption key of a keyholder
        ``keys`` names (``--opener``): the request carries only the sealed bytes and the
        item's envelope, which each signer opens with their own key to read what they sign;
        nothing of the text is stored anywhere."""
        document = read_description(description)
        now = self.session.request_clock(valid_for)
        target = self._subject(item, community)
        steward = target.steward
        version = self.session.client.description_version(target.subject) + 1
        signed: Mapping[str, Any] = document.to_json()
        if target.sealed:
            if keys is None:
                raise UsageError(
                    f"{item} is encrypted (restricted terms): its corrected description is "
                    "sealed with it now, with the content key a keyholder's encryption key "
                    "here opens",
                    hint="name that keyholder with --opener ADDR and its passphrase with "
                    "--password-file; nothing was written",
                )
            data_key, envelope, item_key = self.sealing.open_envelope(
                target.batch or target.subject, target.record, steward, keys,
                "a request for a correction of an encrypted item's description",
                only=None if target.leaf is None else target.leaf[0],
            )  # fmt: skip
            sealed = seal_description(document, data_key)
            if len(sealed) > MAX_DOCUMENT_BYTES:
                raise LimitExceeded(
                    f"the sealed description is {len(sealed)} bytes, more than one 1 MiB block",
                    hint="shorten it; nothing was written",
                )
            signed = consent.sealed_description_document(
                sealed, envelope.to_document(), item_key
            )
        request = consent.build_description_request(
            self.session.client.domain(),
            steward,
            target.subject,
            version,
            signed,
            now + valid_for,
            item=self.reader.request_item(item, steward.id, community),
            created_at=now,
            history=self.session.community_history(steward.id),
            batch=None if target.batch is None or target.leaf is None
            else (target.batch, target.leaf[0]),
        )  # fmt: skip
        if target.sealed:
            self._put_block(consent.sealed_description_parts(signed, "the request")[0])
        else:
            self.session.put_document(document.to_json())
        return request

    def _submitted_target(self, request: ConsentRequest) -> _Target:
        """The subject of a request as the chain has it now (its batch leaf re-read)."""
        client = self.session.client
        if request.batch_root is not None and request.batch_item is not None:
            claim = Claim(
                request.subject, None, request.community, "batch-item", request.batch_item,
                request.batch_root,
            )  # fmt: skip
            return self._batch_item(claim)
        record = client.find_record(request.subject)
        steward = self.session.community(client.steward_of(request.subject, record))
        return _Target(request.subject, record, steward, request.sealed)

    def _put_block(self, data: bytes) -> tuple[bytes, Cid]:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise LimitExceeded(
                f"the sealed description is {len(data)} bytes, more than one 1 MiB block",
                hint="shorten it; nothing was sent",
            )
        node = self.session.node
        cid = node.block_put(data, RAW)
        node.pin_add(cid, recursive=False)
        return hashlib.sha256(data).digest(), cid

    def submit(self, request: ConsentRequest, status: ConsentStatus) -> DescriptionSet:
        """Send a signed SetDescription request once the chain still agrees with it: the same
        keyholders, the same steward, and the version still the next one."""
        client = self.session.client
        steward = request.steward()
        subject = request.subject
        what = f"SetDescription of {request.item} ({to_hex(subject)})"
        if not client.community_matches(steward):
            raise ConsentStale(
                f"the keyholders or threshold of community {to_hex(steward.id)} changed after "
                f"the request for {what} was made (a rotation); its signatures no longer count",
                hint="make a new request and have the current keyholders sign it; nothing was "
                "sent",
            )
        target = self._submitted_target(request)
        if target.steward.id != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {to_hex(steward.id)} "
                "(a custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        current = client.description_version(subject)
        if current + 1 != request.version:
            raise ConsentStale(
                f"the request for {what} is about description version {request.version}, but "
                f"the current version is {current}, so the next is {current + 1}: the "
                "description changed after the request was made",
                hint="make a new request; nothing was sent",
            )
        packed = status.packed()
        consent.check_signatures(request.digest, steward.keyholders, steward.threshold, packed)
        assert request.document is not None  # parse_request guarantees it
        if request.sealed:  # only the sealed bytes are stored: never the text
            sealed, _, _ = consent.sealed_description_parts(request.document, "the request")
            digest, cid = self._put_block(sealed)
        else:
            digest, cid = self.session.put_document(request.document)
        outcome = self._send(target, request.version, digest, request.deadline, packed)
        signers = tuple(a for a, _ in status.signed[: request.threshold])
        return DescriptionSet(subject, request.version, str(cid), TxView.of(outcome), signers)
