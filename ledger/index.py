"""An SQLite mirror of the registry's events at ``<data dir>/index.sqlite``.

The index holds nothing that the chain does not: :meth:`EventIndex.rebuild` drops every row
and reads the registry's logs again, and the result equals what incremental :meth:`sync`
calls build (a test compares table dumps). Each event kind has a table of its own with the
event's fields plus where it happened: block number, block hash, block timestamp,
transaction hash and log index.

Sync is incremental from the last indexed block, and only blocks at least ``confirmations``
deep (number ≤ head − confirmations) are indexed. Before reading on, the hash of the last
indexed block is compared with the chain's: if it changed, or the block is gone (a reorg, an
``evm_revert``, an anvil that restarted empty), or the chain id or registry address differ
from what the index was built from, the index is rebuilt from the registry's deploy block.

The database carries a schema version; a file of another version is refused with
:class:`IndexSchemaMismatch` unless the caller asks for a rebuild, which recreates it (the
index is derived data, so rebuilding is the migration).

The chain is reached through one seam, :class:`ChainReader` (``Web3Reader`` over web3.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import requests
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import BlockNotFound, Web3Exception
from web3.types import LogReceipt

from contracts import load_artifact
from ledger.errors import (
    ChainError,
    ChainUnavailable,
    EventIndexError,
    HeritageError,
    IndexSchemaMismatch,
    NotFound,
    UsageError,
)
from ledger.ipfs.cid import RAW, Cid
from ledger.settings import Settings

__all__ = [
    "EVENT_TABLES",
    "SCHEMA_VERSION",
    "BatchRecord",
    "BlockHeader",
    "ChainReader",
    "CommunityRecord",
    "EventIndex",
    "HistoryEntry",
    "IndexedHead",
    "ItemRecord",
    "Progress",
    "SyncResult",
    "Web3Reader",
    "index_path",
]

#: 4: CustodyRecorded's ``counterparty`` became a lookup column, for :meth:`EventIndex.moved_to`.
#: 5: claims: registrations carry their content key (or batch key and root), derivatives the
#: parent steward that consented.
SCHEMA_VERSION: Final = 5
#: ``progress(blocks_done, blocks_total)``, called after each chunk of blocks is indexed.
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_BLOCKS: Final = 2000

# Column kinds: how an event argument is stored.
_B32, _BYTES, _INT, _BOOL, _ADDR, _ADDRS = "bytes32", "bytes", "int", "bool", "address", "addrs"
_SQL_TYPES: Final = {
    _B32: "BLOB",
    _BYTES: "BLOB",
    _INT: "INTEGER",
    _BOOL: "INTEGER",
    _ADDR: "TEXT",
    _ADDRS: "TEXT",
}

#: event name → (table, ((argument, kind), ...)); item CIDs also get a ``cid_text`` column.
EVENT_TABLES: Final[Mapping[str, tuple[str, tuple[tuple[str, str], ...]]]] = {
    "CommunityCreated": (
        "community_created",
        (
            ("community", _B32),
            ("salt", _B32),
            ("keyholders", _ADDRS),
            ("threshold", _INT),
            ("document", _B32),
        ),
    ),
    "KeyholdersRotated": (
        "keyholders_rotated",
        (
            ("community", _B32),
            ("nonce", _INT),
            ("keyholders", _ADDRS),
            ("threshold", _INT),
            ("document", _B32),
        ),
    ),
    "ItemRegistered": (
        "item_registered",
        (
            ("item", _B32),
            ("community", _B32),
            ("content", _B32),
            ("cid", _BYTES),
            ("metadata", _B32),
            ("terms", _B32),
            ("commitment", _B32),
            ("registrant", _ADDR),
        ),
    ),
    "BatchRegistered": (
        "batch_registered",
        (
            ("batch", _B32),
            ("community", _B32),
            ("root", _B32),
            ("count", _INT),
            ("terms", _B32),
            ("manifest", _B32),
            ("registrant", _ADDR),
        ),
    ),
    "DerivativeRegistered": (
        "derivative_registered",
        (
            ("item", _B32),
            ("parent", _B32),
            ("content", _B32),
            ("community", _B32),
            ("parentSteward", _B32),
            ("cid", _BYTES),
            ("metadata", _B32),
            ("terms", _B32),
            ("method", _B32),
            ("aiEnhanced", _BOOL),
            ("registrant", _ADDR),
        ),
    ),
    "TermsSet": (
        "terms_set",
        (("subject", _B32), ("community", _B32), ("version", _INT), ("terms", _B32)),
    ),
    "TermsRevoked": (
        "terms_revoked",
        (("subject", _B32), ("community", _B32), ("version", _INT)),
    ),
    "CustodyRecorded": (
        "custody_recorded",
        (
            ("item", _B32),
            ("action", _INT),
            ("community", _B32),
            ("counterparty", _B32),
            ("document", _B32),
            ("nonce", _INT),
        ),
    ),
}
_CID_EVENTS: Final = frozenset({"ItemRegistered", "DerivativeRegistered"})
_COMMON: Final = (
    "block_number INTEGER NOT NULL, log_index INTEGER NOT NULL, block_hash BLOB NOT NULL, "
    "tx_hash BLOB NOT NULL, timestamp INTEGER NOT NULL"
)
_LOOKUP_COLUMNS: Final = (
    "item",
    "subject",
    "community",
    "content",
    "batch",
    "root",
    "parent",
    "salt",
    "counterparty",
)
CUSTODY_ACTIONS: Final = {1: "transfer", 2: "loan", 3: "return", 4: "repatriation"}
#: The custody actions that make the counterparty the steward (the others lend and return).
_STEWARDSHIP_MOVES: Final = (1, 4)


def index_path(settings: Settings) -> Path:
    """``<data dir>/index.sqlite``."""
    return settings.data_dir / "index.sqlite"


def _column(name: str) -> str:
    return {"aiEnhanced": "ai_enhanced", "parentSteward": "parent_steward"}.get(name, name)


def _schema() -> list[str]:
    statements = [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE sync_state (id INTEGER PRIMARY KEY CHECK (id = 1), chain_id INTEGER NOT "
        "NULL, registry TEXT NOT NULL, start_block INTEGER NOT NULL, last_block INTEGER, "
        "last_hash BLOB)",
    ]
    for event, (table, args) in EVENT_TABLES.items():
        columns = [f"{_column(n)} {_SQL_TYPES[k]} NOT NULL" for n, k in args]
        if event in _CID_EVENTS:
            columns.append("cid_text TEXT")  # NULL: bytes that are not a CID we can parse
        statements.append(
            f"CREATE TABLE {table} ({_COMMON}, {', '.join(columns)}, "
            "PRIMARY KEY (block_number, log_index))"
        )
        for name, _ in args:
            if name in _LOOKUP_COLUMNS:
                statements.append(f"CREATE INDEX {table}_{name} ON {table} ({name})")
    return statements + list(_MANIFEST_TABLES)


# What batch manifests list, learnt from IPFS as they are first read: a batch's items are
# found with one lookup instead of reading every manifest again. Keyed by the manifest's
# digest (named on chain) and the batch root it was read for, so it holds whatever chain the
# rest of the index follows; added to an index of this schema version where it is missing.
_MANIFEST_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS manifests_read (manifest BLOB NOT NULL, root BLOB NOT NULL, "
    "usable INTEGER NOT NULL, PRIMARY KEY (manifest, root))",
    "CREATE TABLE IF NOT EXISTS manifest_items (manifest BLOB NOT NULL, root BLOB NOT NULL, "
    "item BLOB NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (manifest, root, position))",
    "CREATE INDEX IF NOT EXISTS manifest_items_item ON manifest_items (item)",
)


# ---- the chain seam ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: bytes
    timestamp: int


class ChainReader(Protocol):
    """What the index needs from a chain."""

    def chain_id(self) -> int: ...

    def head(self) -> int: ...

    def block(self, number: int) -> BlockHeader | None:
        """The block at ``number``, or None when the chain has no such block (yet)."""
        ...

    def logs(self, address: str, from_block: int, to_block: int) -> list[LogReceipt]: ...


@contextmanager
def _chain_errors(w3: Web3) -> Iterator[None]:
    try:
        yield
    except requests.RequestException as exc:
        raise ChainUnavailable(
            f"no chain answers at {_endpoint(w3)} ({type(exc).__name__})",
            hint="start the local chain with `heritage chain up`, or check HERITAGE_RPC_URL",
        ) from None
    except Web3Exception as exc:
        raise ChainError(f"the chain at {_endpoint(w3)} failed: {exc}") from None


def _endpoint(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", None) or "the configured RPC URL")


@dataclass(frozen=True, slots=True)
class Web3Reader:
    """:class:`ChainReader` over a web3.py client; transport failures become
    :class:`ChainUnavailable`, node errors :class:`ChainError`."""

    w3: Web3

    def chain_id(self) -> int:
        with _chain_errors(self.w3):
            return int(self.w3.eth.chain_id)

    def head(self) -> int:
        with _chain_errors(self.w3):
            return int(self.w3.eth.block_number)

    def block(self, number: int) -> BlockHeader | None:
        with _chain_errors(self.w3):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
        block_hash = block.get("hash")
        if block_hash is None:
            return None
        return BlockHeader(number, bytes(block_hash), int(block["timestamp"]))

    def logs(self, address: str, from_block: int, to_block: int) -> list[LogReceipt]:
        with _chain_errors(self.w3):
            return list(
                self.w3.eth.get_logs(
                    {
                        "address": to_checksum_address(address),
                        "fromBlock": from_block,
                        "toBlock": to_block,
                    }
                )
            )


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    from_block: int  # first block read by this call
    to_block: int  # last block indexed (head − confirmations); from_block − 1 if none
    events: int  # events added by this call
    rebuilt: bool  # True when the index was dropped and read again
    reason: str | None  # why it was rebuilt

    def to_json(self) -> dict[str, Any]:
        return {
            "from_block": self.from_block,
            "to_block": self.to_block,
            "events": self.events,
            "rebuilt": self.rebuilt,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class IndexedHead:
    """How far the index has read: the chain it was read from (its live id at the last
    sync) and the last indexed block, whose hash the last sync checked or read."""

    chain_id: int
    block_number: int
    block_hash: bytes


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


# ---- the index -----------------------------------------------------------------------------


class EventIndex:
    """The event index of one registry, in one SQLite file.

    ``EventIndex(path, reader, registry, start_block)`` opens (creating if needed) the file;
    a file of another schema version raises :class:`IndexSchemaMismatch` unless
    ``recreate=True``. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: Path,
        reader: ChainReader,
        registry: str,
        start_block: int,
        *,
        confirmations: int = 0,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
        recreate: bool = False,
    ) -> None:
        if confirmations < 0:
            raise UsageError(f"confirmations must be 0 or more, not {confirmations}")
        if chunk_blocks < 1:
            raise UsageError(f"chunk_blocks must be 1 or more, not {chunk_blocks}")
        self.path = path
        self.reader = reader
        self.registry = to_checksum_address(registry)
        self.start_block = start_block
        self.confirmations = confirmations
        self.chunk_blocks = chunk_blocks
        # Built on first use: building web3's event decoders costs milliseconds, and an
        # index that is only read (or finds nothing new on the chain) never needs them.
        self._decoder: _EventDecoder | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._open_schema(recreate)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise EventIndexError(
                f"{path} is not a usable index database: {exc}",
                hint="remove it or run `heritage index rebuild`",
            ) from None
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> EventIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _events(self) -> _EventDecoder:
        if self._decoder is None:
            self._decoder = _EventDecoder()
        return self._decoder

    # ---- schema ----------------------------------------------------------------------

    def _tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {str(r[0]) for r in rows}

    def _open_schema(self, recreate: bool) -> None:
        tables = self._tables()
        if not tables:
            self._create()
            return
        version: int | None = None
        if "schema_version" in tables:
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            version = None if row is None else int(row[0])
        if version == SCHEMA_VERSION:
            if "manifest_items" not in tables:
                with self._transaction():
                    for statement in _MANIFEST_TABLES:
                        self._db.execute(statement)
            return
        if recreate:
            self._drop_all()
            self._create()
            return
        found = "no schema version" if version is None else f"schema version {version}"
        raise IndexSchemaMismatch(
            f"{self.path} has {found}; this program reads version {SCHEMA_VERSION}",
            hint="`heritage index rebuild` recreates it from the chain",
        )

    def _create(self) -> None:
        with self._transaction():
            for statement in _schema():
                self._db.execute(statement)
            self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _drop_all(self) -> None:
        with self._transaction():
            for name in self._tables():
                if not name.startswith("sqlite_"):
                    self._db.execute(f'DROP TABLE "{name}"')

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- sync ------------------------------------------------------------------------

    def _state(self) -> tuple[int, str, int, int | None, bytes | None] | None:
        row = self._db.execute(
            "SELECT chain_id, registry, start_block, last_block, last_hash FROM sync_state"
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), str(row[1]), int(row[2]), row[3], row[4]

    def _clear(self, chain_id: int) -> None:
        for table, _ in EVENT_TABLES.values():
            self._db.execute(f"DELETE FROM {table}")  # noqa: S608 (names are constants)
        self._db.execute("DELETE FROM sync_state")
        self._db.execute(
            "INSERT INTO sync_state (id, chain_id, registry, start_block, last_block, last_hash) "
            "VALUES (1, ?, ?, ?, NULL, NULL)",
            (chain_id, self.registry, self.start_block),
        )

    def _stale(self, chain_id: int) -> str | None:
        """Why the indexed rows no longer describe this chain, or None."""
        state = self._state()
        if state is None:
            return "the index is empty"
        indexed_chain, registry, start, last_block, last_hash = state
        if indexed_chain != chain_id:
            return f"it was built from chain {indexed_chain}; this chain is {chain_id}"
        if registry != self.registry or start != self.start_block:
            return (
                f"it was built for the registry at {registry} from block {start}, not the one "
                f"at {self.registry} from block {self.start_block}"
            )
        if last_block is None:
            return None
        block = self.reader.block(int(last_block))
        if block is None:
            return f"block {last_block} is no longer on the chain"
        if block.hash != last_hash:
            return f"block {last_block} has changed (a reorganisation or a reset chain)"
        return None

    def sync(self, progress: Progress | None = None) -> SyncResult:
        """Index every block from the last indexed one up to head − confirmations; rebuild
        first if the chain no longer holds what was indexed. ``progress(done, total)`` is
        called with block counts after each chunk."""
        chain_id = self.reader.chain_id()
        reason = self._stale(chain_id)
        rebuilt = reason is not None and reason != "the index is empty"
        if reason is not None:
            with self._transaction():
                self._clear(chain_id)
        return self._read_on(progress, rebuilt=rebuilt, reason=reason if rebuilt else None)

    def rebuild(self, progress: Progress | None = None) -> SyncResult:
        """Drop every indexed event and read them all again from the chain alone."""
        chain_id = self.reader.chain_id()
        with self._transaction():
            self._clear(chain_id)
        return self._read_on(progress, rebuilt=True, reason="asked for a rebuild")

    def _read_on(
        self, progress: Progress | None, *, rebuilt: bool, reason: str | None
    ) -> SyncResult:
        state = self._state()
        assert state is not None  # written by _clear or a previous sync
        last_block = state[3]
        first = self.start_block if last_block is None else int(last_block) + 1
        target = self.reader.head() - self.confirmations
        added = 0
        start = first
        while start <= target:
            end = min(target, start + self.chunk_blocks - 1)
            added += self._index_range(start, end)
            if progress is not None:
                progress(end - first + 1, target - first + 1)
            start = end + 1
        return SyncResult(
            from_block=first,
            to_block=max(target, first - 1),
            events=added,
            rebuilt=rebuilt,
            reason=reason,
        )

    def _index_range(self, start: int, end: int) -> int:
        logs = self.reader.logs(self.registry, start, end)
        end_block = self.reader.block(end)
        if end_block is None:
            raise ChainError(f"block {end} vanished while indexing; run the sync again")
        headers: dict[int, BlockHeader] = {end: end_block}
        rows: list[tuple[str, tuple[Any, ...]]] = []
        for log in logs:
            number = int(log["blockNumber"])
            header = headers.get(number)
            if header is None:
                header = self.reader.block(number)
                if header is None:
                    raise ChainError(f"block {number} vanished while indexing; run the sync again")
                headers[number] = header
            if bytes(log["blockHash"]) != header.hash:
                raise ChainError(
                    f"block {number} changed while indexing (a reorganisation); run the sync again"
                )
            decoded = self._events().decode(log)
            if decoded is None:
                continue  # an event this index does not keep
            rows.append(self._row(decoded, log, header))
        with self._transaction():
            for sql, values in rows:
                self._db.execute(sql, values)
            self._db.execute(
                "UPDATE sync_state SET last_block = ?, last_hash = ? WHERE id = 1",
                (end, end_block.hash),
            )
        return len(rows)

    def _row(
        self, decoded: tuple[str, Mapping[str, Any]], log: LogReceipt, header: BlockHeader
    ) -> tuple[str, tuple[Any, ...]]:
        event, args = decoded
        table, spec = EVENT_TABLES[event]
        names = ["block_number", "log_index", "block_hash", "tx_hash", "timestamp"]
        values: list[Any] = [
            header.number,
            int(log["logIndex"]),
            header.hash,
            bytes(log["transactionHash"]),
            header.timestamp,
        ]
        for name, kind in spec:
            names.append(_column(name))
            values.append(_store(args[name], kind))
        if event in _CID_EVENTS:
            names.append("cid_text")
            values.append(_cid_text(bytes(args["cid"])))
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
        return sql, tuple(values)

    # ---- queries ---------------------------------------------------------------------

    def last_indexed_block(self) -> int | None:
        state = self._state()
        return None if state is None or state[3] is None else int(state[3])

    def is_current(self, chain_id: int, head: int, head_hash: bytes) -> bool:
        """Whether :meth:`sync` would find nothing to do on a chain with ``chain_id`` whose
        head is block ``head`` with hash ``head_hash``: the index was read from this chain
        and registry, up to that very block (a caller that read the head anyway saves the
        sync's own round trips)."""
        state = self._state()
        if state is None or self.confirmations:
            return False  # with confirmations, only a sync can check the last block's hash
        indexed_chain, registry, start, last_block, last_hash = state
        return (
            indexed_chain == chain_id
            and registry == self.registry
            and start == self.start_block
            and last_block is not None
            and int(last_block) == head
            and last_hash == head_hash
        )

    def indexed_head(self) -> IndexedHead | None:
        """The chain id and last block of the last sync (None: nothing indexed yet). Right
        after :meth:`sync` with no confirmations, that block is the chain's head."""
        state = self._state()
        if state is None or state[3] is None or state[4] is None:
            return None
        return IndexedHead(state[0], int(state[3]), bytes(state[4]))

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every event table's rows in (block, log index) order: for comparing two indexes."""
        return {
            table: self._db.execute(
                f"SELECT * FROM {table} ORDER BY block_number, log_index"  # noqa: S608
            ).fetchall()
            for table, _ in EVENT_TABLES.values()
        }

    def _rows(self, event: str, where: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        # Table names and `where` come from this module's constants; values are bound.
        table, _ = EVENT_TABLES[event]
        cursor = self._db.execute(
            f"SELECT * FROM {table} WHERE {where} ORDER BY block_number, log_index",  # noqa: S608
            tuple(args),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def history(self, item: bytes) -> list[HistoryEntry]:
        """Registration, terms changes, revocations and custody events of ``item`` (a claim
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
            elif entry.event == "CustodyRecorded" and entry.fields["action"] in _STEWARDSHIP_MOVES:
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
            "CustodyRecorded", "item = ? AND action IN (?, ?)", (subject, *_STEWARDSHIP_MOVES)
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
            (community, *_STEWARDSHIP_MOVES),
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
        value = row[_column(name)]
        if kind == _ADDRS:
            value = tuple(json.loads(value))
        elif kind == _BOOL:
            value = bool(value)
        elif kind in (_B32, _BYTES):
            value = bytes(value)
        fields[name] = value
    if event in _CID_EVENTS:
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


def _store(value: Any, kind: str) -> Any:
    if kind in (_B32, _BYTES):
        return bytes(value)
    if kind in (_INT, _BOOL):
        return int(value)
    if kind == _ADDR:
        return to_checksum_address(value)
    return json.dumps([to_checksum_address(a) for a in value])


def _cid_text(raw: bytes) -> str | None:
    try:
        return str(Cid.from_bytes(raw))
    except HeritageError:
        return None  # the registry takes any non-empty bytes; the index keeps them as they are


class _EventDecoder:
    """Decodes registry logs with web3's event ABI, by their first topic."""

    def __init__(self) -> None:
        abi = list(load_artifact("ProvenanceRegistry").abi)
        contract = Web3().eth.contract(abi=abi)
        self._by_topic: dict[bytes, Any] = {}
        for name in EVENT_TABLES:
            event = contract.events[name]()
            self._by_topic[bytes.fromhex(event.topic.removeprefix("0x"))] = event

    def decode(self, log: LogReceipt) -> tuple[str, Mapping[str, Any]] | None:
        topics = log.get("topics") or []
        if not topics:
            return None
        event = self._by_topic.get(bytes(topics[0]))
        if event is None:
            return None
        try:
            data = event.process_log(log)
        except Exception as exc:  # web3 raises several types for undecodable logs
            raise EventIndexError(
                f"a {event.event_name} log in transaction 0x{bytes(log['transactionHash']).hex()}"
                f" does not decode: {exc}"
            ) from None
        return str(data["event"]), data["args"]
