"""The registry's read side: which claims an ITEM names, and what is registered under them.

Items are keyed by ``keccak256`` of the binary CID that was registered. Registration uses
CIDv1 with raw leaves by default; an ITEM given as a CID of the other version (a CIDv0
``Qm…`` of a dag-pb item, or its CIDv1 form) is tried too, and results always say which
binary CID is the registered one.

Batches: the registry stores the Merkle root, the count and the manifest's digest. The batch
manifest (the OpenZeppelin ``StandardMerkleTree`` dump, plus each item's CID, name and
metadata CID) is a raw block whose sha2-256 the registry binds into the batch's record and
emits in ``BatchRegistered``. Which items are in which batch is therefore rebuilt from the
chain: the index lists every batch with its manifest digest, and the manifests are read from
IPFS (memoised by the reader). No local file records membership; every proof is checked on
chain (``isBatchItem``) when read.

:class:`RegistryReader` is what verification takes: it reads and never sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ledger import crypto, strict_json
from ledger.chain import (
    CUSTODY_REPATRIATION,
    CUSTODY_TRANSFER,
    KIND_BATCH,
    Community,
    Deployment,
    Record,
    RegistryClient,
    batch_item_subject,
    claim_key,
    content_key,
)
from ledger.consent import CommunityHistory
from ledger.documents import (
    ENVELOPE_INDEX_TYPE,
    community_salt,
    document_cid,
    parse_bytes32,
    parse_community_id,
    parse_json_document,
)
from ledger.errors import AmbiguousClaim, HeritageError, NotFound, UsageError
from ledger.index import BatchRecord, EventIndex, ItemRecord
from ledger.ipfs.backend import EmbeddedNode, KuboNode
from ledger.ipfs.cid import DAG_PB, Cid
from ledger.registry.results import Claim, Content, to_hex
from ledger.registry.session import RegistrySession
from ledger.settings import Settings

__all__ = ["Manifest", "RegistryReader"]

@dataclass(frozen=True, slots=True)
class Manifest:
    """A batch manifest read back from IPFS: the item keys of its leaves, in leaf order."""

    cid: Cid
    document: Mapping[str, Any]
    keys: tuple[bytes, ...]


def _parse_manifest(data: bytes, cid: Cid, root: bytes) -> Manifest | None:
    try:
        document = strict_json.loads(data)
        values = document["tree"]["values"]
        keys = tuple(bytes.fromhex(str(v["value"][0])[2:]) for v in values)
        ok = (
            isinstance(document, dict)
            and document.get("type") == "heritage/batch-manifest"
            and document.get("root") == to_hex(root)
            and len(document["items"]) == len(keys)
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return Manifest(cid, document, keys) if ok else None


def _claim_of(record: ItemRecord) -> Claim:
    return Claim(
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


class RegistryReader:
    """Claims, batch membership, stewardship and envelopes, read through ``session``."""

    def __init__(self, session: RegistrySession) -> None:
        self.session = session
        # (manifest digest, batch root) → the manifest read from IPFS (None: not a manifest of
        # that batch)
        self._manifests: dict[tuple[bytes, bytes], Manifest | None] = {}

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def client(self) -> RegistryClient:
        return self.session.client

    @property
    def deployment(self) -> Deployment:
        return self.session.deployment

    @property
    def node(self) -> EmbeddedNode | KuboNode:
        return self.session.node

    def event_index(self, *, sync: bool = True) -> AbstractContextManager[EventIndex]:
        """The event index, synced with the chain (read-only use); ``sync=False``: as the
        last sync left it, for a caller that has just synced it."""
        return self.session.event_index(sync=sync)

    def community_history(self, community: bytes) -> CommunityHistory:
        """The keyholder history of ``community`` that proves its keyholders offline."""
        return self.session.community_history(community)

    # -- batch manifests ---------------------------------------------------------------------

    def manifest(self, root: bytes, digest: bytes) -> Manifest | None:
        """The manifest of batch ``root`` whose sha2-256 the chain holds, from IPFS; None when
        this node does not have it (or the block is not that batch's manifest)."""
        return self._manifest_read(root, digest)[1]

    def _manifest_read(self, root: bytes, digest: bytes) -> tuple[bool, Manifest | None]:
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

    def batches_of(
        self, key: bytes, *, sync: bool = True
    ) -> tuple[list[tuple[BatchRecord, Manifest, int]], int]:
        """(batch, manifest, position) of every registered batch, of any community, whose
        manifest lists the content key ``key``, oldest first, from the index (each
        BatchRegistered event carries its manifest's digest) and the manifests on IPFS; and
        how many batch manifests were unavailable."""
        missing = 0
        with self.session.event_index(sync=sync) as index:
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
        found: list[tuple[BatchRecord, Manifest, int]] = []
        for batch in batches:  # chain order
            position = listing.get((batch.manifest, batch.root))
            if position is None:
                continue
            manifest = self.manifest(batch.root, batch.manifest)
            if manifest is None or manifest.keys[position : position + 1] != (key,):
                missing += 1  # listed when it was read, but not on this node now
                continue
            found.append((batch, manifest, position))
        return found, missing

    def batch_membership(self, batch: bytes, content: bytes) -> dict[str, Any]:
        """The leaf of the content key ``content`` in the batch ``batch`` (by batch key):
        metadata, commitment, Merkle proof, manifest CID, with its proof checked on chain;
        NotFound if the manifest does not list it."""
        membership, _ = self.batch_entry(batch, content)
        return membership

    def batch_entry(self, batch: bytes, key: bytes) -> tuple[dict[str, Any], Mapping[str, Any]]:
        """The batch entry of the content key ``key`` in the manifest of the batch ``batch``
        (by batch key), with its proof checked on chain, and its manifest item."""
        for record, found, position in self.batches_of(key)[0]:
            if record.batch != batch:
                continue
            root = record.root
            manifest = found.document
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
                    "batch": to_hex(batch),
                    "root": to_hex(root),
                    "manifest_cid": str(found.cid),
                    "position": position,
                    "metadata": to_hex(leaf_values[1]),
                    "commitment": to_hex(leaf_values[2]),
                    "proof": [to_hex(p) for p in proof],
                    "proof_valid_on_chain": valid,
                    "subject": to_hex(batch_item_subject(batch, key)),
                },
                entry,
            )
        raise NotFound(
            f"item {to_hex(key)} is not in the manifest of batch {to_hex(batch)}",
            hint="is the batch manifest on this IPFS node?",
        )

    # -- names -------------------------------------------------------------------------------

    def resolve_community(self, text: str) -> bytes:
        """A community id from ``0x`` and 64 hex digits, or from a name: the community created
        with that name's salt (:func:`community_salt`), read from the synced index. A name
        that several communities were created with is ambiguous and refused, listing them."""
        key = parse_community_id(text)
        if key is not None:
            return key
        with self.session.event_index() as index:
            found = index.communities_with_salt(community_salt(text))
        if not found:
            raise NotFound(
                f"no community named {text!r} on this chain",
                hint="check the name, or give the community's 0x id",
            )
        if len(found) > 1:
            ids = ", ".join(to_hex(f) for f in found)
            raise UsageError(
                f"{len(found)} communities are named {text!r}: {ids}",
                hint="give the 0x id of the one you mean (`heritage community show ID`)",
            )
        return found[0]

    def resolve(self, item: str, community: bytes | None = None) -> Claim:
        """ITEM (a CID of either version, a 0x claim key, batch key or batch root) → the one
        claim it names. With several claims on the content, ``community`` picks the claim
        that community made or now stewards; without it, AmbiguousClaim lists them."""
        claims, missing = self.claims(item)
        if community is not None:
            picked = [c for c in claims if community in (c.community, self._steward_of(c))]
            if not picked:
                listed = "; ".join(self._describe(c) for c in claims)
                raise NotFound(
                    f"community {to_hex(community)} holds no claim on {item} (claims: {listed})",
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

    @staticmethod
    def _describe(claim: Claim) -> str:
        return f"{claim.kind} {to_hex(claim.key)} by community {to_hex(claim.community)}"

    def _steward_of(self, claim: Claim) -> bytes:
        """The current steward of a claim (a batch item's is its batch's), from the index."""
        with self.session.event_index(sync=False) as index:
            return index.steward(claim.batch or claim.key, claim.community)

    def subject(
        self, item: str, action: str, community: bytes | None = None
    ) -> tuple[bytes, Record, Community]:
        """The record key, record and current steward of an ITEM that has a record of its
        own (an item, derivative or whole batch): ``action`` says what refuses an item of a
        batch."""
        resolved = self.resolve(item, community)
        if resolved.batch_root is not None:
            root = to_hex(resolved.batch_root)
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
        steward = self.session.community(self.client.steward_of(resolved.key, record))
        return resolved.key, record, steward

    def request_item(self, item: str, steward: bytes, community: bytes | None) -> str:
        """How a request file names ITEM so that it can be checked offline against the
        subject signed: the CID for the steward's own claim or an item of a batch, else the
        claim key."""
        resolved = self.resolve(item, community)
        if resolved.kind == "batch-item" and resolved.cid is not None:
            return str(Cid.from_bytes(resolved.cid))
        if resolved.community == steward and resolved.cid is not None:
            return item if not item.startswith(("0x", "0X")) else str(Cid.from_bytes(resolved.cid))
        return to_hex(resolved.key)

    # -- claims ------------------------------------------------------------------------------

    def claims(self, item: str, *, sync: bool = True) -> tuple[list[Claim], int]:
        """Every claim ITEM names, in chain order, and how many batch manifests were missing:
        for a CID, each community's claim on its content (alone, in a batch, as a
        derivative); for a 0x key, the claim, batch or batches (a Merkle root) it names.
        ``sync=False``: from the event index as the last sync left it."""
        key = parse_bytes32(item)
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
        found: list[Claim] = []
        missing = 0
        for candidate in candidates:
            claims, missing = self.claims_on(bytes(candidate), sync=sync)
            found.extend(claims)
        found.sort(key=lambda c: (c.block, c.log_index))
        return found, missing

    def claims_on(self, cid: bytes, *, sync: bool = True) -> tuple[list[Claim], int]:
        """Every community's claim on the binary CID ``cid`` (alone, in a batch, as a
        derivative), and how many batch manifests were missing."""
        content = content_key(cid)
        with self.session.event_index(sync=sync) as index:
            claims = [_claim_of(record) for record in index.claims_on(content)]
        batches, missing = self.batches_of(content, sync=sync)
        for batch, _, _ in batches:
            claims.append(
                Claim(
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

    def claims_on_many(
        self, cids: Sequence[bytes], *, sync: bool = True
    ) -> dict[bytes, list[Claim]]:
        """:meth:`claims_on` for many binary CIDs at once (each one's claims in the same
        order): the index opened once and each batch manifest walked once, instead of once
        per CID. Manifests missing from the node are skipped, as :meth:`claims_on` does."""
        wanted = {cid: content_key(cid) for cid in cids}
        by_content: dict[bytes, list[bytes]] = {}
        for cid, content in wanted.items():
            by_content.setdefault(content, []).append(cid)
        found: dict[bytes, list[Claim]] = {cid: [] for cid in wanted}
        with self.session.event_index(sync=sync) as index:
            for cid, content in wanted.items():
                found[cid] = [_claim_of(record) for record in index.claims_on(content)]
            batches = index.batches()
            for digest, root in index.manifests_unread([(b.manifest, b.root) for b in batches]):
                present, manifest = self._manifest_read(root, digest)
                if present:
                    index.record_manifest(
                        digest, root, None if manifest is None else manifest.keys
                    )
        for batch in batches:  # chain order
            manifest = self.manifest(batch.root, batch.manifest)
            if manifest is None:
                continue
            seen: set[bytes] = set()
            for key in manifest.keys:
                if key in seen or key not in by_content:
                    continue  # a key listed twice: its first leaf, as batches_of
                seen.add(key)
                for cid in by_content[key]:
                    found[cid].append(
                        Claim(claim_key(batch.community, cid), cid, batch.community,
                              "batch-item", key, batch.batch, batch.root,
                              batch.block_number, batch.log_index)
                    )  # fmt: skip
        return found

    def _claims_by_key(self, key: bytes, *, sync: bool = True) -> tuple[list[Claim], int]:
        with self.session.event_index(sync=sync) as index:
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
                    Claim(b.batch, None, b.community, "batch", None, b.batch, b.root,
                          b.block_number, b.log_index)
                    for b in batches
                ], 0
        # A batch item's claim key: its content is found through the manifests read so far.
        _, missing = self.batches_of(bytes(32), sync=sync)  # reads any manifest not read yet
        with self.session.event_index(sync=False) as index:
            found = index.batch_claim(key)
        if found is None:
            return [], missing
        batch, content, _ = found
        manifest = self.manifest(batch.root, batch.manifest)
        cid: bytes | None = None
        if manifest is not None:
            for entry, listed in zip(manifest.document["items"], manifest.keys, strict=False):
                if listed == content:
                    cid = bytes(Cid.parse(str(entry["cid"])))
        return [
            Claim(key, cid, batch.community, "batch-item", content, batch.batch, batch.root,
                  batch.block_number, batch.log_index)
        ], missing

    # -- what a community stewards -----------------------------------------------------------

    def contents(self, subject: bytes, record: Record, only: bytes | None = None) -> list[Content]:
        """The files registered under ``subject``: the item or derivative itself, or each item
        of a batch (``only``: that item of the batch alone), from the batch manifest."""
        metadata = self.session.metadata
        if record.kind != KIND_BATCH:
            with self.session.event_index() as index:
                indexed = index.item(subject)
            return [
                Content(
                    content_key(indexed.cid),
                    Cid.from_bytes(indexed.cid),
                    document_cid(record.metadata),
                    metadata(record.metadata),
                )
            ]
        with self.session.event_index() as index:
            root = index.batch(subject).root  # the record is under the batch key
        manifest = self.manifest(root, record.commitment)
        contents: list[Content] = []
        for entry in manifest.document.get("items", []) if manifest is not None else []:
            cid = Cid.parse(str(entry["cid"]))
            key = content_key(bytes(cid))
            if only is None or key == only:
                meta = Cid.parse(str(entry["metadata_cid"]))
                contents.append(Content(key, cid, meta, metadata(meta.digest)))
        return contents

    def stewarded(self, community_id: bytes) -> list[tuple[bytes, Record]]:
        """Every item, derivative and batch that ``community_id`` stewards now: those it
        registered and those moved to it (candidates from the index, synced first), each
        kept only if the registry names the community its steward now (a later move may
        have passed it on)."""
        with self.session.event_index() as index:
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

    # -- envelopes of sealed items -----------------------------------------------------------

    def community_document(self, community_id: bytes) -> dict[str, Any]:
        """The current (keyholder-signed) document of ``community_id``, from this node."""
        with self.session.event_index() as index:
            digest = index.community(community_id).document
        document = self.session.metadata(digest)
        if document is None:
            raise NotFound(
                f"the document of community {to_hex(community_id)} is not on this IPFS node",
                hint="import it (e.g. from a CAR file) from a node that has it",
            )
        return dict(document)

    def _listed_envelope(self, listing_cid: object, key: bytes) -> Cid | None:
        """The envelope of ``key`` in the envelope index ``listing_cid`` names; None when it
        names none (or the index is not on this node, or is not an envelope index)."""
        if not isinstance(listing_cid, str):
            return None
        try:
            listing = strict_json.loads(self.node.block_get(Cid.parse(listing_cid)))
            named = listing.get("envelopes", {}).get(to_hex(key))
            if listing.get("type") == ENVELOPE_INDEX_TYPE and isinstance(named, str):
                return Cid.parse(named)
        except (HeritageError, ValueError, AttributeError):
            pass
        return None

    def _last_move(self, subject: bytes) -> Mapping[str, Any] | None:
        """The custody document of the latest transfer or repatriation of ``subject`` (an item,
        derivative or batch root); None if it never moved or the document is not here."""
        with self.session.event_index() as index:
            history = index.history(subject)
        moves = [
            e
            for e in history
            if e.event == "CustodyRecorded"
            and e.fields["action"] in (CUSTODY_TRANSFER, CUSTODY_REPATRIATION)
        ]
        return self.session.metadata(moves[-1].fields["document"]) if moves else None

    def current_envelope(
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
            rotated = self.community_document(steward).get("envelopes")
        except HeritageError:
            rotated = None
        found = self._listed_envelope(rotated, key)
        if found is None:
            moved = self._last_move(subject)
            if moved is not None:
                found = self._listed_envelope(moved.get("envelopes"), key)
        return found if found is not None else Cid.parse(str(sealed["envelope"]))

    def envelope(self, cid: Cid) -> crypto.Envelope:
        """The envelope stored under ``cid``."""
        data = self.node.block_get(cid)
        return crypto.Envelope.from_document(
            parse_json_document(data, f"envelope {cid}"), f"envelope {cid}"
        )

