"""Items: registering files (one transaction each, or one batch) and reading them back.

Input is checked before anything is pinned or sent: unknown community, a terms file that is
not valid terms of the acting community, a missing path, the same item twice in a batch, an
item the community already claims all raise a :class:`~ledger.errors.HeritageError` with
nothing sent. Files are added unpinned first and pinned only once every check has passed.
A batch is a ``StandardMerkleTree`` over (item, metadata, commitment) leaves, its manifest a
raw block the registry binds (see :mod:`ledger.registry.reader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ledger import consent
from ledger.chain import (
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    Call,
    Calls,
    batch_item_subject,
    batch_key,
    claim_key,
    content_key,
)
from ledger.documents import DEFAULT_IMPORT, MAX_DOCUMENT_BYTES, canonical_json, document_cid
from ledger.errors import DuplicateClaim, LimitExceeded, UsageError
from ledger.index import HistoryEntry
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from ledger.registry.inputs import check_paths, read_terms_document
from ledger.registry.results import (
    BatchRegistration,
    ItemRegistration,
    ItemView,
    TxView,
    to_hex,
)
from ledger.registry.signers import SignerKeys
from ledger.registry.staging import Progress
from ledger.registry.writer import Writer
from ledger.rights.description import Description

__all__ = ["Items"]

_ZERO32: Final = bytes(32)
_SEND_CHUNK: Final = 64  # single registrations sent back to back, then waited for
_KINDS: Final = {KIND_ITEM: "item", KIND_BATCH: "batch", KIND_DERIVATIVE: "derivative"}


def _check_descriptions(
    paths: Sequence[Path], descriptions: Sequence[Description | None] | None
) -> None:
    if descriptions is not None and len(descriptions) != len(paths):
        raise UsageError(
            f"{len(descriptions)} descriptions for {len(paths)} files",
            hint="one description (or none) per file; nothing was sent",
        )


class Items(Writer):
    """``heritage item register|show|history``."""

    def register(
        self,
        paths: Sequence[Path],
        community_id: bytes,
        terms: Path,
        keys: SignerKeys,
        *,
        options: ImportOptions = DEFAULT_IMPORT,
        progress: Progress | None = None,
        descriptions: Sequence[Description | None] | None = None,
    ) -> list[ItemRegistration]:
        """Register each file as an item of its own (one transaction each) under ``terms``;
        ``descriptions`` (one per path, or None) are bound into their metadata documents."""
        self.session.require_sender()
        files = check_paths(paths)
        _check_descriptions(files, descriptions)
        terms_document = read_terms_document(terms, community_id)
        community = self.session.community(community_id)
        signers = keys.pick(community, community.threshold, "registering")
        seal = self.sealing.seal_for(terms_document, community)
        prepared = self.staging.prepare(files, options, progress, seal, descriptions)
        others = self.staging.new_claims(community.id, prepared, "one item")
        terms_digest, _ = self.session.put_document(terms_document)
        metadata_cids = self.staging.pin_all(prepared)
        deadline = self.session.deadline()
        domain = self.session.client.domain()
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
            outcomes = self.session.client.transact_many(calls[start : start + _SEND_CHUNK])
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

    def register_batch(
        self,
        paths: Sequence[Path],
        community_id: bytes,
        terms: Path,
        keys: SignerKeys,
        *,
        options: ImportOptions = DEFAULT_IMPORT,
        progress: Progress | None = None,
        descriptions: Sequence[Description | None] | None = None,
    ) -> BatchRegistration:
        """Register the files as one batch (one transaction): a StandardMerkleTree over
        (item, metadata, commitment) leaves, under one terms document; ``descriptions`` (one
        per path, or None) are bound into their metadata documents, which the leaves name."""
        self.session.require_sender()
        files = check_paths(paths)
        _check_descriptions(files, descriptions)
        terms_document = read_terms_document(terms, community_id)
        community = self.session.community(community_id)
        signers = keys.pick(community, community.threshold, "registering a batch")
        seal = self.sealing.seal_for(terms_document, community)
        prepared = self.staging.prepare(files, options, progress, seal, descriptions)
        others = self.staging.new_claims(community.id, prepared, "one batch")
        values = [
            (content_key(bytes(p.entry.cid)), p.metadata_digest, p.commitment) for p in prepared
        ]
        tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
        if self.session.client.is_registered(batch_key(community.id, tree.root)):
            raise DuplicateClaim(
                f"this community already registered this batch (root {to_hex(tree.root)})",
                hint="nothing was sent",
            )
        # The manifest is built (and its size checked) before anything is pinned.
        terms_bytes = canonical_json(terms_document)
        terms_cid = Cid.for_block(terms_bytes, RAW)
        metadata_cids = [Cid.for_block(p.metadata, RAW) for p in prepared]
        manifest = {
            "type": "heritage/batch-manifest",
            "version": 1,
            "root": to_hex(tree.root),
            "community": to_hex(community.id),
            "terms_cid": str(terms_cid),
            # @openzeppelin/merkle-tree's StandardMerkleTree.dump(): load() reads it back and
            # gives every leaf's proof.
            "tree": {
                "format": "standard-v1",
                "leafEncoding": list(BATCH_LEAF_TYPES),
                "tree": [to_hex(n) for n in tree.tree],
                "values": [
                    {"value": [to_hex(v) for v in value], "treeIndex": tree.tree_index[i]}
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
        terms_digest, _ = self.session.put_document(terms_document)
        self.staging.pin_all(prepared)
        manifest_digest, manifest_cid = self.session.put_document(manifest)
        deadline = self.session.deadline()
        typed = consent.TypedData(
            self.session.client.domain(),
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
        registration = self.session.client.register_batch(
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

    def show(self, item: str, community: bytes | None = None) -> ItemView:
        """The registration, current terms and steward of ITEM (item, derivative, batch or
        an item of a batch); ``community`` picks among several claims."""
        resolved = self.reader.resolve(item, community)
        key = resolved.key
        if resolved.batch_root is not None:
            root = resolved.batch_root
            content = resolved.content_key()
            batch_record = self.session.client.find_record(root)
            membership, entry = self.reader.batch_entry(root, content)
            subject = batch_item_subject(root, content)
            own = self.session.client.terms_of(subject)
            whole = self.session.client.terms_of(root)
            terms_digest = whole.terms if whole.terms != _ZERO32 else batch_record.terms
            revoked = own.revoked or whole.revoked
            metadata_digest = bytes.fromhex(membership["metadata"][2:])
            return ItemView(
                key=key,
                kind="batch-item",
                registered_cid=str(entry.get("cid")),
                community=batch_record.community,
                steward=self.session.client.steward_of(root, batch_record),
                terms_cid=str(document_cid(terms_digest)),
                terms_version=whole.version,
                revoked=revoked,
                metadata_cid=str(document_cid(metadata_digest)),
                metadata=self.session.metadata(metadata_digest),
                registrant=batch_record.registrant,
                block=None,
                tx_hash=None,
                batch=membership,
            )
        record = self.session.client.find_record(key)
        state = self.session.client.terms_of(key)
        terms_digest = state.terms if state.terms != _ZERO32 else record.terms
        steward = self.session.client.steward_of(key, record)
        registered_cid: str | None = None
        block: int | None = None
        tx_hash: bytes | None = None
        method_cid: str | None = None
        ai: bool | None = None
        if record.kind != KIND_BATCH:
            with self.session.event_index() as index:
                indexed = index.item(key)
            registered_cid = indexed.cid_text or to_hex(indexed.cid)
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
            metadata=None if record.kind == KIND_BATCH else self.session.metadata(record.metadata),
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
        resolved = self.reader.resolve(item, community)
        with self.session.event_index() as index:
            if resolved.batch_root is None:
                return index.history(resolved.key)
            entries = index.history(resolved.batch_root) + index.history(
                batch_item_subject(resolved.batch_root, resolved.content_key())
            )
        return sorted(entries, key=lambda e: (e.block_number, e.log_index))

