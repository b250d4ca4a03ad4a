"""Queries of the index: an item's history and record, claims on content, batches,
communities and their keyholder history, and the batch manifests read so far.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eth_utils.crypto import keccak

from ledger.errors import (
    NotFound,
    UsageError,
)
from ledger.index.schema import (
    CID_EVENTS,
    COL_ADDRS,
    COL_B32,
    COL_BOOL,
    COL_BYTES,
    CUSTODY_ACTIONS,
    EVENT_TABLES,
    STEWARDSHIP_MOVES,
    column_name,
)
from ledger.index.sync import IndexSync
from ledger.ipfs.cid import RAW, Cid

__all__ = [
    "BatchRecord",
    "CommunityRecord",
    "EventIndex",
    "HistoryEntry",
    "ItemRecord",
]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event about an item, with where it happened."""

    event: str
    block_number: int
    log_index: int
    block_hash: bytes
    tx_hash: bytes
    timestamp: int
    fields: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "block_number": self.block_number,
            "log_index": self.log_index,
            "block_hash": "0x" + self.block_hash.hex(),
            "tx_hash": "0x" + self.tx_hash.hex(),
            "timestamp": self.timestamp,
            "fields": {k: _json_value(v) for k, v in self.fields.items()},
        }


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item or derivative as the index knows it: its registration and current state."""

    item: bytes  # the claim key
    kind: str  # "item" or "derivative"
    community: bytes  # the registering (claiming) community
    steward: bytes  # the current steward (after transfers and repatriations)
    cid: bytes
    cid_text: str | None
    metadata: bytes
    terms: bytes  # current terms digest
    terms_version: int  # 1 = as registered
    revoked: bool
    commitment: bytes | None  # items only
    parent: bytes | None  # derivatives only
    method: bytes | None
    ai_enhanced: bool | None
    registrant: str
    block_number: int
    timestamp: int
    tx_hash: bytes
    log_index: int = 0
    content: bytes = b""  # keccak256 of the CID
    parent_steward: bytes | None = None  # derivatives: the parent's steward that consented

    @property
    def terms_cid(self) -> str:
        """The terms document's CID: CIDv1(raw, sha2-256), as the registry names documents."""
        return str(Cid.from_digest(self.terms, RAW))

    def to_json(self) -> dict[str, Any]:
        out = {name: _json_value(getattr(self, name)) for name in self.__slots__}
        out["terms_cid"] = self.terms_cid
        return out


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A registered batch: its key (``batchOf(community, root)``), Merkle root and the
    sha2-256 of its manifest document (the manifest's CID is ``CIDv1(raw, manifest)``)."""

    batch: bytes
    root: bytes
    community: bytes
    count: int
    terms: bytes
    manifest: bytes
    registrant: str
    block_number: int
    tx_hash: bytes
    log_index: int = 0

    @property
    def manifest_cid(self) -> str:
        return str(Cid.from_digest(self.manifest, RAW))


@dataclass(frozen=True, slots=True)
class CommunityRecord:
    community: bytes
    keyholders: tuple[str, ...]  # current
    threshold: int  # current
    document: bytes  # current
    rotations: int  # = the next rotation nonce
    created_block: int
    created_at: int
    items: tuple[bytes, ...] = field(default=())  # items and derivatives it registered

    def to_json(self) -> dict[str, Any]:
        return {name: _json_value(getattr(self, name)) for name in self.__slots__}


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


# One statement over every table the listing needs, in chain order: the columns each event
# kind keeps under common names (a, b, c …), so the rows fold in a single pass.
_REGISTRY_QUERY: Final = """
SELECT 'item', block_number, log_index, timestamp, item, community, content, cid, cid_text,
       metadata, terms, NULL, NULL, NULL, registrant FROM item_registered
UNION ALL
SELECT 'derivative', block_number, log_index, timestamp, item, community, content, cid,
       cid_text, metadata, terms, parent, ai_enhanced, NULL, registrant FROM derivative_registered
UNION ALL
SELECT 'batch', block_number, log_index, timestamp, batch, community, root, NULL, NULL,
       manifest, terms, NULL, NULL, count, registrant FROM batch_registered
UNION ALL
SELECT 'terms', block_number, log_index, timestamp, subject, community, NULL, NULL, NULL,
       NULL, terms, NULL, NULL, version, NULL FROM terms_set
UNION ALL
SELECT 'revoked', block_number, log_index, timestamp, subject, community, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, version, NULL FROM terms_revoked
UNION ALL
SELECT 'described', block_number, log_index, timestamp, subject, steward, NULL, NULL, NULL,
       description, NULL, NULL, NULL, version, NULL FROM description_set
UNION ALL
SELECT 'custody', block_number, log_index, timestamp, item, community, counterparty, NULL, NULL,
       NULL, NULL, NULL, NULL, action, NULL FROM custody_recorded
UNION ALL
SELECT 'created', block_number, log_index, timestamp, community, NULL, NULL, NULL, NULL,
       document, NULL, NULL, NULL, threshold, keyholders FROM community_created
UNION ALL
SELECT 'rotated', block_number, log_index, timestamp, community, NULL, NULL, NULL, NULL,
       document, NULL, NULL, NULL, threshold, keyholders FROM keyholders_rotated
ORDER BY 2, 3
"""


class EventIndex(IndexSync):
    """The event index of one registry, in one SQLite file.

    ``EventIndex(path, reader, registry, start_block)`` opens (creating if needed) the file;
    a file of another schema version raises :class:`IndexSchemaMismatch` unless
    ``recreate=True``. Use it as a context manager, or call :meth:`close`.
    """

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every event table's rows in (block, log index) order: for comparing two indexes."""
        return {
            table: self._db.execute(
                f"SELECT * FROM {table} ORDER BY block_number, log_index"  # noqa: S608
            ).fetchall()
            for table, _ in EVENT_TABLES.values()
        }

    def registry_rows(self) -> list[tuple[Any, ...]]:
        """Every registration, terms change, revocation, description correction, custody
        event, community creation and rotation, in chain order, from one statement: each row
        ``(kind, block, log index, timestamp, key, …)`` with the columns each event kind keeps
        under common names (:func:`ledger.index.listing.read_registry` folds them)."""
        return [tuple(row) for row in self._db.execute(_REGISTRY_QUERY).fetchall()]

    def community_ids(self) -> list[bytes]:
        """Every community created, in chain order."""
        return [
            bytes(row[0])
            for row in self._db.execute(
                "SELECT community FROM community_created ORDER BY block_number, log_index"
            )
        ]

    def events_after(self, block: int, log_index: int, limit: int) -> list[HistoryEntry]:
        """The first ``limit`` events of every kind after (``block``, ``log_index``), in chain
        order (ask for one more than a page holds to learn whether another page follows)."""
        if limit < 0:
            raise UsageError(f"limit {limit} is negative", hint="ask for 0 or more events")
        found: list[HistoryEntry] = []
        for event in EVENT_TABLES:
            rows = self._rows(
                event,
                "block_number > ? OR (block_number = ? AND log_index > ?)",
                (block, block, log_index),
                limit=limit,
            )
            found += [_entry(event, row) for row in rows]
        found.sort(key=lambda e: (e.block_number, e.log_index))
        return found[:limit]

    def _rows(
        self, event: str, where: str, args: Sequence[Any], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        # Table names and `where` come from this module's constants; values are bound.
        table, _ = EVENT_TABLES[event]
        cut = "" if limit is None else " LIMIT ?"
        cursor = self._db.execute(
            f"SELECT * FROM {table} WHERE ({where}) ORDER BY block_number, log_index{cut}",  # noqa: S608
            (*args,) if limit is None else (*args, limit),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def history(self, item: bytes) -> list[HistoryEntry]:
        """Registration, terms changes, revocations, description corrections and custody
        events of ``item`` (a claim
        key of an item or derivative, a batch key, or the terms subject of one item of a
        batch: the registry's ``batchItemSubject(batch, item)``), in chain order."""
        _check_key(item)
        entries: list[HistoryEntry] = []
        for event, where in (
            ("ItemRegistered", "item = ?"),
            ("DerivativeRegistered", "item = ?"),
            ("BatchRegistered", "batch = ?"),
            ("TermsSet", "subject = ?"),
            ("TermsRevoked", "subject = ?"),
            ("DescriptionSet", "subject = ?"),
            ("CustodyRecorded", "item = ?"),
        ):
            for row in self._rows(event, where, (item,)):
                entries.append(_entry(event, row))
        entries.sort(key=lambda e: (e.block_number, e.log_index))
        return entries

    def item(self, item: bytes) -> ItemRecord:
        """An item or derivative with its current terms and steward; NotFound if unknown."""
        _check_key(item)
        rows = self._rows("ItemRegistered", "item = ?", (item,))
        kind = "item"
        if not rows:
            rows = self._rows("DerivativeRegistered", "item = ?", (item,))
            kind = "derivative"
        if not rows:
            raise NotFound(
                f"item 0x{item.hex()} is not in the index",
                hint="`heritage index sync` reads new events; check the item key or CID",
            )
        reg = rows[0]
        terms, version, revoked = bytes(reg["terms"]), 1, False
        steward = bytes(reg["community"])
        for entry in self.history(item):
            if entry.event == "TermsSet":
                terms, version, revoked = entry.fields["terms"], entry.fields["version"], False
            elif entry.event == "TermsRevoked":
                version, revoked = entry.fields["version"], True
            elif entry.event == "CustodyRecorded" and entry.fields["action"] in STEWARDSHIP_MOVES:
                steward = entry.fields["counterparty"]
        derivative = kind == "derivative"
        return ItemRecord(
            item=item,
            kind=kind,
            community=bytes(reg["community"]),
            steward=steward,
            cid=bytes(reg["cid"]),
            cid_text=reg["cid_text"],
            metadata=bytes(reg["metadata"]),
            terms=terms,
            terms_version=version,
            revoked=revoked,
            commitment=None if derivative else bytes(reg["commitment"]),
            parent=bytes(reg["parent"]) if derivative else None,
            method=bytes(reg["method"]) if derivative else None,
            ai_enhanced=bool(reg["ai_enhanced"]) if derivative else None,
            registrant=str(reg["registrant"]),
            block_number=int(reg["block_number"]),
            timestamp=int(reg["timestamp"]),
            tx_hash=bytes(reg["tx_hash"]),
            log_index=int(reg["log_index"]),
            content=bytes(reg["content"]),
            parent_steward=bytes(reg["parent_steward"]) if derivative else None,
        )

    def descriptions(self, subject: bytes) -> list[HistoryEntry]:
        """Every DescriptionSet of ``subject`` (corrections: version 2 on), in chain order."""
        _check_key(subject)
        return [
            _entry("DescriptionSet", row)
            for row in self._rows("DescriptionSet", "subject = ?", (subject,))
        ]

    def claims_on(self, content: bytes) -> list[ItemRecord]:
        """Every single-item and derivative claim on the content key ``content`` (any
        community), in chain order. Claims inside batches are found through their manifests
        (:meth:`manifests_listing`)."""
        _check_key(content)
        rows = [
            (int(row["block_number"]), int(row["log_index"]), bytes(row["item"]))
            for event in ("ItemRegistered", "DerivativeRegistered")
            for row in self._rows(event, "content = ?", (content,))
        ]
        return [self.item(key) for _, _, key in sorted(rows)]

    def steward(self, subject: bytes, registrant: bytes) -> bytes:
        """The current steward of a claim or batch registered by ``registrant``: the last
        community a transfer or repatriation moved it to, else the registrant."""
        _check_key(subject)
        rows = self._rows(
            "CustodyRecorded", "item = ? AND action IN (?, ?)", (subject, *STEWARDSHIP_MOVES)
        )
        return bytes(rows[-1]["counterparty"]) if rows else registrant

    def batches_with_root(self, root: bytes) -> list[BatchRecord]:
        """The batches (of any community) with Merkle root ``root``, in chain order."""
        _check_key(root)
        return [_batch_record(row) for row in self._rows("BatchRegistered", "root = ?", (root,))]

    def batch_claim(self, claim: bytes) -> tuple[BatchRecord, bytes, int] | None:
        """(batch, content key, leaf position) of the batch item whose claim key is
        ``claim``, among the manifests read so far; None when none is."""
        _check_key(claim)
        listed: dict[tuple[bytes, bytes], list[tuple[bytes, int]]] = {}
        for m, r, item, position in self._db.execute(
            "SELECT manifest, root, item, position FROM manifest_items ORDER BY position"
        ).fetchall():
            listed.setdefault((bytes(m), bytes(r)), []).append((bytes(item), int(position)))
        for batch in self.batches():
            for content, position in listed.get((batch.manifest, batch.root), ()):
                if keccak(batch.community + content) == claim:
                    return batch, content, position
        return None

    def batch(self, batch: bytes) -> BatchRecord:
        """A batch by its key; NotFound if unknown."""
        _check_key(batch)
        rows = self._rows("BatchRegistered", "batch = ?", (batch,))
        if not rows:
            raise NotFound(f"batch 0x{batch.hex()} is not in the index")
        return _batch_record(rows[0])

    def batches(self) -> list[BatchRecord]:
        """Every registered batch, in chain order."""
        return [_batch_record(row) for row in self._rows("BatchRegistered", "1 = 1", ())]

    def keyholder_history(self, community: bytes) -> list[HistoryEntry]:
        """The CommunityCreated and KeyholdersRotated events of ``community``, in chain order:
        every keyholder set it has had, with where each was set (empty: unknown community)."""
        _check_key(community)
        entries = [
            _entry(event, row)
            for event in ("CommunityCreated", "KeyholdersRotated")
            for row in self._rows(event, "community = ?", (community,))
        ]
        return sorted(entries, key=lambda e: (e.block_number, e.log_index))

    def moved_to(self, community: bytes) -> list[bytes]:
        """Subjects (claim keys of items and derivatives, batch keys) transferred or repatriated to
        ``community`` at some time, once each, in the chain order of their first such move.
        Whether the community still stewards each is for the caller to check: a later move
        may have passed it on."""
        _check_key(community)
        rows = self._rows(
            "CustodyRecorded",
            "counterparty = ? AND action IN (?, ?)",
            (community, *STEWARDSHIP_MOVES),
        )
        return list(dict.fromkeys(bytes(row["item"]) for row in rows))

    def manifests_unread(self, batches: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Of ``batches`` ((manifest digest, root) pairs), those whose manifest has not been
        read into the index yet, in the order given."""
        read = {
            (bytes(m), bytes(r))
            for m, r in self._db.execute("SELECT manifest, root FROM manifests_read").fetchall()
        }
        return [pair for pair in batches if pair not in read]

    def record_manifest(self, manifest: bytes, root: bytes, items: Sequence[bytes] | None) -> None:
        """What the manifest ``manifest`` of batch ``root`` lists, in leaf order (None: the
        block under that digest is not a manifest of that batch)."""
        _check_key(manifest)
        _check_key(root)
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO manifests_read (manifest, root, usable) VALUES (?, ?, ?)",
                (manifest, root, int(items is not None)),
            )
            self._db.execute(
                "DELETE FROM manifest_items WHERE manifest = ? AND root = ?", (manifest, root)
            )
            self._db.executemany(
                "INSERT INTO manifest_items (manifest, root, item, position) VALUES (?, ?, ?, ?)",
                [(manifest, root, item, i) for i, item in enumerate(items or ())],
            )

    def manifests_listing(self, item: bytes) -> list[tuple[bytes, bytes, int]]:
        """(manifest digest, root, position) of each manifest read so far that lists
        ``item``."""
        _check_key(item)
        rows = self._db.execute(
            "SELECT manifest, root, position FROM manifest_items WHERE item = ?", (item,)
        ).fetchall()
        return [(bytes(m), bytes(r), int(p)) for m, r, p in rows]

    def communities_with_salt(self, salt: bytes) -> list[bytes]:
        """Ids of the communities created with ``salt``, oldest first (names resolve here)."""
        _check_key(salt)
        rows = self._rows("CommunityCreated", "salt = ?", (salt,))
        return [bytes(row["community"]) for row in rows]

    def community(self, community: bytes) -> CommunityRecord:
        """A community's current keyholders and threshold; NotFound if unknown."""
        _check_key(community)
        created = self._rows("CommunityCreated", "community = ?", (community,))
        if not created:
            raise NotFound(f"community 0x{community.hex()} is not in the index")
        current = created[0]
        rotations = self._rows("KeyholdersRotated", "community = ?", (community,))
        latest = rotations[-1] if rotations else current
        items = [
            bytes(row["item"])
            for event in ("ItemRegistered", "DerivativeRegistered")
            for row in self._rows(event, "community = ?", (community,))
        ]
        return CommunityRecord(
            community=community,
            keyholders=tuple(json.loads(latest["keyholders"])),
            threshold=int(latest["threshold"]),
            document=bytes(latest["document"]),
            rotations=len(rotations),
            created_block=int(current["block_number"]),
            created_at=int(current["timestamp"]),
            items=tuple(items),
        )


def _batch_record(row: Mapping[str, Any]) -> BatchRecord:
    return BatchRecord(
        batch=bytes(row["batch"]),
        root=bytes(row["root"]),
        community=bytes(row["community"]),
        count=int(row["count"]),
        terms=bytes(row["terms"]),
        manifest=bytes(row["manifest"]),
        registrant=str(row["registrant"]),
        block_number=int(row["block_number"]),
        tx_hash=bytes(row["tx_hash"]),
        log_index=int(row["log_index"]),
    )


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != 32:
        raise UsageError("an item, batch or community key is 32 bytes", hint="e.g. 0x + 64 hex")


def _entry(event: str, row: Mapping[str, Any]) -> HistoryEntry:
    _, spec = EVENT_TABLES[event]
    fields: dict[str, Any] = {}
    for name, kind in spec:
        value = row[column_name(name)]
        if kind == COL_ADDRS:
            value = tuple(json.loads(value))
        elif kind == COL_BOOL:
            value = bool(value)
        elif kind in (COL_B32, COL_BYTES):
            value = bytes(value)
        fields[name] = value
    if event in CID_EVENTS:
        fields["cid_text"] = row["cid_text"]
    if event == "CustodyRecorded":
        fields["action_name"] = CUSTODY_ACTIONS.get(int(row["action"]), "unknown")
    return HistoryEntry(
        event=event,
        block_number=int(row["block_number"]),
        log_index=int(row["log_index"]),
        block_hash=bytes(row["block_hash"]),
        tx_hash=bytes(row["tx_hash"]),
        timestamp=int(row["timestamp"]),
        fields=fields,
    )
