"""Gather :class:`~ledger.verify.evidence.Evidence` about items from the chain, the event
index and the IPFS node: the one place where verification does I/O against the registry.

Round trips are few. :func:`open_chain` does what does not depend on the item: it reads the
live chain id and head block (one batch request) and syncs the event index unless it already
stands at that very block; the index's last block (the head, its hash checked or just read)
becomes the snapshot. ``heritage verify`` runs it while the file is hashed. Then the index
names every claim on the content (every community's: alone, in a batch, as a derivative;
:meth:`Registrar.claims` from the index as the sync left it) and every event the evidence
needs, and so every transaction: each claim's, its parents', and the keyholder events of
every community they involve (claimants, custody counterparties, consenting parent
stewards). Those raw transactions and the registry's stored record digests, pinned to the
snapshot block, come back in one JSON-RPC batch request. Only what the index cannot foresee
(an item of a batch, found through its manifest on IPFS) is read one call at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.address import to_checksum_address

from ledger import strict_json
from ledger.chain import ChainHead, ChainReads, batch_item_subject, chain_errors
from ledger.errors import ChainError, EvidenceInvalid, HeritageError, NotFound, UsageError
from ledger.index import EventIndex, HistoryEntry
from ledger.ipfs.cid import RAW, Cid
from ledger.registry import Claim as _Resolved
from ledger.registry import RegistryReader as Registrar
from ledger.verify.evidence import BatchLeaf, ChainEvent, Evidence, ItemEvidence

__all__ = ["ChainView", "Gathered", "gather", "gather_on", "open_chain", "open_chain_begin"]

_ITEM_EVENTS: Final = frozenset({"TermsSet", "TermsRevoked", "CustodyRecorded"})
_DOCUMENT_FIELDS: Final = ("metadata", "terms", "method", "document", "manifest")
_COMMUNITY_FIELDS: Final = ("community", "counterparty", "parentSteward")
_MAX_LINEAGE: Final = 64  # as ledger.verify.evidence: deeper lineages are refused there


@dataclass(frozen=True, slots=True)
class ChainView:
    """The chain as one verification sees it: the event index synced up to ``block``."""

    chain_id: int  # the live chain id (the index is of that chain: checked, or rebuilt)
    registry: str  # checksummed
    block: int  # the snapshot: the last indexed block, the head when the index was synced
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class Gathered:
    """Evidence, and the record digests the registry stores at the snapshot block (the ones
    read with it: each item's and each parent's key)."""

    evidence: Evidence
    _stored: Callable[[], Mapping[bytes, bytes]]

    def stored(self) -> Mapping[bytes, bytes]:
        """The stored digests; when every transaction was known already, their request went
        out with the gathering and its answer is read here (once: later calls return what it
        read): the node worked on it while the evidence was checked."""
        return self._stored()


def open_chain(registrar: Registrar, index: EventIndex) -> ChainView:
    """Sync ``index`` (opened with ``registrar.event_index(sync=False)``) and fix the
    snapshot: everything that does not depend on the item, so that it can run while a file is
    hashed."""
    return _opened_chain(registrar, index, registrar.client.head)


def open_chain_begin(registrar: Registrar, index: EventIndex) -> Callable[[], ChainView]:
    """:func:`open_chain` with the head request sent now and its answer read (and the index
    synced, if the chain has moved) when the returned function is called: the node answers
    while the caller hashes, with no second thread."""
    return functools.partial(_opened_chain, registrar, index, registrar.client.head_begin())


def _opened_chain(
    registrar: Registrar, index: EventIndex, live_head: Callable[[], ChainHead]
) -> ChainView:
    with chain_errors(registrar.settings.rpc_url):
        live = live_head()
        # Most verifications find the chain where the last one left it: then one round trip
        # (chain id and head, batched) replaces the sync's three.
        if not index.is_current(live.chain_id, live.number, live.hash):
            index.sync()
    head = index.indexed_head()
    if head is None:
        raise ChainError(
            f"the chain at {registrar.settings.rpc_url} has no block since the registry's "
            f"deployment in block {registrar.deployment.deploy_block}",
            hint="HERITAGE_RPC_URL must name the chain the deployment was made on",
        )
    return ChainView(
        chain_id=head.chain_id,
        registry=to_checksum_address(registrar.deployment.registry_address),
        block=head.block_number,
        block_hash=head.block_hash,
    )


def _claims(registrar: Registrar, view: ChainView, item: str) -> list[_Resolved]:
    """Every claim ``item`` (a CID or a 0x claim key) names, in chain order, up to the
    snapshot, from the index as :func:`open_chain` left it. NotFound when there is none; a
    whole batch (its key or root) is a usage error: verification is of one item."""
    found, missing = registrar.claims(item, sync=False)
    claims = [c for c in found if c.block <= view.block]
    if claims and all(c.kind == "batch" for c in claims):
        raise UsageError(
            f"{item} names a whole batch, not one item of it",
            hint="verify a file of the batch, its CID or its claim key",
        )
    claims = [c for c in claims if c.kind != "batch"]
    if not claims:
        raise NotFound(
            f"item {item} is not registered",
            hint="check the CID or key" + (
                f"; {missing} batch manifest(s) are not on this IPFS node" if missing else ""
            ),
        )
    return claims


def _record_key(claim: _Resolved) -> bytes:
    """The key the registry stores ``claim``'s record under: a batch item's is its batch's."""
    if claim.kind == "batch-item":
        assert claim.batch is not None
        return claim.batch
    return claim.key


class _Gatherer:
    def __init__(self, registrar: Registrar, index: EventIndex, view: ChainView) -> None:
        self.registrar = registrar
        self.index = index
        self.view = view
        self.stored: dict[bytes, bytes] = {}
        self.raw: dict[bytes, bytes] = {}
        self.digests: set[bytes] = set()
        self.communities: set[bytes] = set()
        self._histories: dict[bytes, list[HistoryEntry]] = {}
        self.records_later: Callable[[], ChainReads] | None = None
        self._keyholders: dict[bytes, list[HistoryEntry]] = {}

    def prefetch(self, claims: Sequence[_Resolved]) -> None:
        """Read, in one JSON-RPC batch, the stored records and the raw transactions that the
        evidence about ``claims`` needs as far as the index knows: each claim (a batch item:
        its batch) and its parents, their events, and the keyholder events of every
        community those name."""
        keys: list[bytes] = []
        transactions: dict[bytes, None] = {}
        communities: dict[bytes, None] = {}
        queue = [_record_key(c) for c in claims]
        subjects = [
            batch_item_subject(c.batch, c.content)
            for c in claims
            if c.kind == "batch-item" and c.batch is not None and c.content is not None
        ]
        for subject in subjects:
            for entry in self.history(subject):
                transactions[entry.tx_hash] = None
        while queue and len(keys) <= len(claims) + _MAX_LINEAGE:
            key = queue.pop(0)
            if key in keys:
                continue
            keys.append(key)
            for entry in self.history(key):
                transactions[entry.tx_hash] = None
                for name in _COMMUNITY_FIELDS:
                    if isinstance(entry.fields.get(name), bytes):
                        communities[entry.fields[name]] = None
                if entry.event == "DerivativeRegistered":
                    queue.append(entry.fields["parent"])
        for community in communities:
            for entry in self.keyholder_history(community):
                transactions[entry.tx_hash] = None
        client = self.registrar.client
        known = {h: client.known_raw_transaction(h) for h in transactions}
        if all(raw is not None for raw in known.values()):
            # Every transaction is in memory: only the stored digests are asked for, and
            # their answer is read when the evidence has been checked (Gathered.stored).
            self.raw.update({h: raw for h, raw in known.items() if raw is not None})
            self.records_later = client.read_many_begin(keys, [], block=self.view.block)
            return
        with chain_errors(self.registrar.settings.rpc_url):
            reads = client.read_many(keys, list(transactions), block=self.view.block)
        self.stored.update(reads.records)
        self.raw.update(reads.raw_transactions)

    def stored_digests(self) -> Mapping[bytes, bytes]:
        if self.records_later is not None:
            with chain_errors(self.registrar.settings.rpc_url):
                self.stored.update(self.records_later().records)
            self.records_later = None
        return self.stored

    def event(self, entry: HistoryEntry) -> ChainEvent:
        if entry.tx_hash not in self.raw:
            # Not foreseen by the plan (an item of a batch): one call.
            with chain_errors(self.registrar.settings.rpc_url):
                reads = self.registrar.client.read_many([], [entry.tx_hash], block=self.view.block)
            if entry.tx_hash not in reads.raw_transactions:
                raise ChainError(
                    f"the chain at {self.registrar.settings.rpc_url} has no transaction "
                    f"0x{entry.tx_hash.hex()}, which the event index names",
                    hint="run `heritage index rebuild` (the chain may have reorganised)",
                )
            self.raw.update(reads.raw_transactions)
        fields = {k: v for k, v in entry.fields.items() if k not in ("cid_text", "action_name")}
        for name in _DOCUMENT_FIELDS:
            value = fields.get(name)
            if isinstance(value, bytes) and len(value) == 32:
                self.digests.add(value)
        for name in _COMMUNITY_FIELDS:
            if isinstance(fields.get(name), bytes):
                self.communities.add(fields[name])
        return ChainEvent(
            event=entry.event,
            fields=fields,
            block_number=entry.block_number,
            block_hash=entry.block_hash,
            log_index=entry.log_index,
            timestamp=entry.timestamp,
            tx_hash=entry.tx_hash,
            raw_tx=self.raw[entry.tx_hash],
        )

    def history(self, key: bytes) -> list[HistoryEntry]:
        """The index's events of ``key`` up to the snapshot (another process may have synced
        the index further since)."""
        if key not in self._histories:
            entries = self.index.history(key)
            self._histories[key] = [e for e in entries if e.block_number <= self.view.block]
        return list(self._histories[key])

    def keyholder_history(self, community: bytes) -> list[HistoryEntry]:
        if community not in self._keyholders:
            entries = self.index.keyholder_history(community)
            self._keyholders[community] = [
                e for e in entries if e.block_number <= self.view.block
            ]
        return list(self._keyholders[community])

    def parent(self, key: bytes) -> _Resolved:
        """A derivative's parent claim (a single item or a derivative), from the index."""
        try:
            record = self.index.item(key)
        except NotFound:
            raise EvidenceInvalid(
                f"the event index has no registration of parent claim 0x{key.hex()}",
                hint="run `heritage index rebuild`, then verify again",
            ) from None
        return _Resolved(record.item, record.cid, record.community, record.kind,
                         record.content, block=record.block_number,
                         log_index=record.log_index)

    def item(self, claim: _Resolved) -> ItemEvidence:
        key = claim.key
        if claim.kind == "batch-item":
            assert claim.batch is not None and claim.content is not None
            batch_key = claim.batch
            membership = self.registrar.batch_membership(batch_key, claim.content)
            history = self.history(batch_key) + self.history(
                batch_item_subject(batch_key, claim.content)
            )
            history.sort(key=lambda e: (e.block_number, e.log_index))
            registration = next((e for e in history if e.event == "BatchRegistered"), None)
            if claim.cid is not None:
                cid = str(Cid.from_bytes(claim.cid))
            else:
                manifest = self.registrar.node.block_get(Cid.parse(membership["manifest_cid"]))
                cid = _cid_in_manifest(manifest, membership["position"])
            batch: BatchLeaf | None = BatchLeaf(
                bytes.fromhex(membership["root"][2:]),
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                tuple(bytes.fromhex(p[2:]) for p in membership["proof"]),
            )
            self.digests.add(bytes.fromhex(membership["metadata"][2:]))
        else:
            history = self.history(key)
            registration = history[0] if history else None
            cid = "" if registration is None else str(Cid.from_bytes(registration.fields["cid"]))
            batch = None
        if registration is None:
            raise EvidenceInvalid(
                f"the registry holds 0x{_record_key(claim).hex()} but the event index has no "
                f"registration of it up to block {self.view.block}",
                hint="run `heritage index rebuild`, then verify again",
            )
        return ItemEvidence(
            key=key,
            cid=cid,
            registration=self.event(registration),
            events=tuple(self.event(e) for e in history if e.event in _ITEM_EVENTS),
            batch=batch,
        )


def _cid_in_manifest(manifest: bytes, position: int) -> str:
    entry = strict_json.loads(manifest)["items"][position]
    return str(entry["cid"])


def gather(registrar: Registrar, items: Sequence[str]) -> Evidence:
    """Evidence about every claim ``items`` (CIDs or 0x claim keys) name — for a CID, every
    community's claim on its content — and the parents of any derivative among them.
    Raises :class:`~ledger.errors.NotFound` for an item that is not registered."""
    with registrar.event_index(sync=False) as index:
        return gather_on(registrar, index, open_chain(registrar, index), items).evidence


def gather_on(
    registrar: Registrar, index: EventIndex, view: ChainView, items: Sequence[str]
) -> Gathered:
    """:func:`gather` from ``index`` as :func:`open_chain` synced it, at its snapshot."""
    gatherer = _Gatherer(registrar, index, view)
    claims: list[_Resolved] = []
    for item in items:
        claims += [c for c in _claims(registrar, view, item) if c not in claims]
    gatherer.prefetch(claims)
    found: list[ItemEvidence] = []
    queue = list(claims)
    while queue and len(found) <= len(claims) + _MAX_LINEAGE:
        claim = queue.pop(0)
        if any(e.key == claim.key for e in found):
            continue
        gathered = gatherer.item(claim)
        found.append(gathered)
        if gathered.registration.event == "DerivativeRegistered":
            queue.append(gatherer.parent(gathered.registration.fields["parent"]))
    communities = {
        c: tuple(gatherer.event(e) for e in gatherer.keyholder_history(c))
        for c in sorted(gatherer.communities)
    }
    communities = {c: events for c, events in communities.items() if events}
    for events in communities.values():
        for event in events:
            gatherer.digests.add(event.fields["document"])
    documents: dict[str, bytes] = {}
    for digest in sorted(gatherer.digests):
        cid = Cid.from_digest(digest, RAW)
        try:
            documents[str(cid)] = registrar.node.block_get(cid)
        except HeritageError:
            continue  # not on this node: the digest on chain still names it
    evidence = Evidence(
        chain_id=view.chain_id,
        registry=view.registry,
        snapshot_block=view.block,
        snapshot_hash=view.block_hash,
        items=tuple(found),
        communities=communities,
        documents=documents,
        claims=tuple(dict.fromkeys(c.key for c in claims)),
    )
    return Gathered(evidence, gatherer.stored_digests)
