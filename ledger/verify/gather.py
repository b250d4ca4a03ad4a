"""Gather :class:`~ledger.verify.evidence.Evidence` about items from the chain, the event
index and the IPFS node: the one place where verification does I/O against the registry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from ledger.chain import batch_item_subject
from ledger.errors import HeritageError
from ledger.index import EventIndex, HistoryEntry
from ledger.ipfs.cid import RAW, Cid
from ledger.registration import Registrar
from ledger.verify.evidence import BatchLeaf, ChainEvent, Evidence, ItemEvidence
from local_chain.deploy import chain_errors

__all__ = ["gather"]

_ITEM_EVENTS: Final = frozenset({"TermsSet", "TermsRevoked", "CustodyRecorded"})
_DOCUMENT_FIELDS: Final = ("metadata", "terms", "method", "document", "manifest")


class _Gatherer:
    def __init__(self, registrar: Registrar, index: EventIndex) -> None:
        self.registrar = registrar
        self.index = index
        self.raw: dict[bytes, bytes] = {}
        self.digests: set[bytes] = set()
        self.communities: set[bytes] = set()

    def event(self, entry: HistoryEntry) -> ChainEvent:
        if entry.tx_hash not in self.raw:
            with chain_errors(self.registrar.settings.rpc_url):
                raw = self.registrar.w3.eth.get_raw_transaction(HexBytes(entry.tx_hash))
            self.raw[entry.tx_hash] = bytes(raw)
        fields = {k: v for k, v in entry.fields.items() if k not in ("cid_text", "action_name")}
        for name in _DOCUMENT_FIELDS:
            value = fields.get(name)
            if isinstance(value, bytes) and len(value) == 32:
                self.digests.add(value)
        for name in ("community", "counterparty"):
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

    def item(self, item: str) -> ItemEvidence:
        resolved = self.registrar.resolve(item)
        key = resolved.key
        if resolved.batch_root is not None:
            root = resolved.batch_root
            membership = self.registrar.batch_membership(root, key)
            history = self.index.history(root) + self.index.history(batch_item_subject(root, key))
            history.sort(key=lambda e: (e.block_number, e.log_index))
            registration = next(e for e in history if e.event == "BatchRegistered")
            manifest = self.registrar.node.block_get(Cid.parse(membership["manifest_cid"]))
            cid = _cid_in_manifest(manifest, membership["position"])
            batch: BatchLeaf | None = BatchLeaf(
                root,
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                tuple(bytes.fromhex(p[2:]) for p in membership["proof"]),
            )
            self.digests.add(bytes.fromhex(membership["metadata"][2:]))
        else:
            history = self.index.history(key)
            registration = history[0]
            raw_cid = registration.fields["cid"]
            cid = str(Cid.from_bytes(raw_cid))
            batch = None
        return ItemEvidence(
            key=key,
            cid=cid,
            registration=self.event(registration),
            events=tuple(self.event(e) for e in history if e.event in _ITEM_EVENTS),
            batch=batch,
        )


def _cid_in_manifest(manifest: bytes, position: int) -> str:
    entry = json.loads(manifest)["items"][position]
    return str(entry["cid"])


def gather(registrar: Registrar, items: Sequence[str]) -> Evidence:
    """Evidence about ``items`` (CIDs or 0x keys) and the parents of any derivative among
    them. Raises :class:`~ledger.errors.NotFound` for an item that is not registered."""
    with registrar.event_index() as index:
        gatherer = _Gatherer(registrar, index)
        found: list[ItemEvidence] = []
        queue = list(items)
        while queue:
            evidence = gatherer.item(queue.pop(0))
            if any(e.key == evidence.key for e in found):
                continue
            found.append(evidence)
            if evidence.registration.event == "DerivativeRegistered":
                queue.append("0x" + evidence.registration.fields["parent"].hex())
        communities = {
            c: tuple(gatherer.event(e) for e in index.keyholder_history(c))
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
    with chain_errors(registrar.settings.rpc_url):
        head = registrar.w3.eth.get_block("latest")
    return Evidence(
        chain_id=registrar.client.chain_id(),
        registry=to_checksum_address(registrar.deployment.registry_address),
        snapshot_block=int(head["number"]),
        snapshot_hash=bytes(head["hash"]),
        items=tuple(found),
        communities=communities,
        documents=documents,
    )
