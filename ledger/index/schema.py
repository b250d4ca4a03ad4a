"""The index's SQLite schema and store: one table per registry event (the event's fields
plus where it happened: block number, block hash, block timestamp, transaction hash and log
index), a schema version, and :class:`IndexStore`, the open database.

The database carries a schema version; a file of another version is refused with
:class:`IndexSchemaMismatch` unless the caller asks for a rebuild, which recreates it (the
index is derived data, so rebuilding is the migration).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Self

from eth_utils.address import to_checksum_address

from ledger.errors import (
    EventIndexError,
    HeritageError,
    IndexSchemaMismatch,
)
from ledger.ipfs.cid import Cid
from ledger.settings import Settings

__all__ = [
    "CID_EVENTS",
    "COL_ADDR",
    "COL_ADDRS",
    "COL_B32",
    "COL_BOOL",
    "COL_BYTES",
    "COL_INT",
    "CUSTODY_ACTIONS",
    "DEFAULT_CHUNK_BLOCKS",
    "EVENT_TABLES",
    "MANIFEST_TABLES",
    "SCHEMA_VERSION",
    "STEWARDSHIP_MOVES",
    "IndexStore",
    "Progress",
    "cid_text",
    "column_name",
    "index_path",
    "schema_statements",
    "stored_value",
]


#: 4: CustodyRecorded's ``counterparty`` became a lookup column, for :meth:`EventIndex.moved_to`.
#: 5: claims: registrations carry their content key (or batch key and root), derivatives the
#: parent steward that consented.
#: 6: DescriptionSet (corrected descriptions of items and derivatives).
SCHEMA_VERSION: Final = 6
#: ``progress(blocks_done, blocks_total)``, called after each chunk of blocks is indexed.
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_BLOCKS: Final = 2000

# Column kinds: how an event argument is stored.
COL_B32: Final = "bytes32"
COL_BYTES: Final = "bytes"
COL_INT: Final = "int"
COL_BOOL: Final = "bool"
COL_ADDR: Final = "address"
COL_ADDRS: Final = "addrs"
_SQL_TYPES: Final = {
    COL_B32: "BLOB",
    COL_BYTES: "BLOB",
    COL_INT: "INTEGER",
    COL_BOOL: "INTEGER",
    COL_ADDR: "TEXT",
    COL_ADDRS: "TEXT",
}

#: event name → (table, ((argument, kind), ...)); item CIDs also get a ``cid_text`` column.
EVENT_TABLES: Final[Mapping[str, tuple[str, tuple[tuple[str, str], ...]]]] = {
    "CommunityCreated": (
        "community_created",
        (
            ("community", COL_B32),
            ("salt", COL_B32),
            ("keyholders", COL_ADDRS),
            ("threshold", COL_INT),
            ("document", COL_B32),
        ),
    ),
    "KeyholdersRotated": (
        "keyholders_rotated",
        (
            ("community", COL_B32),
            ("nonce", COL_INT),
            ("keyholders", COL_ADDRS),
            ("threshold", COL_INT),
            ("document", COL_B32),
        ),
    ),
    "ItemRegistered": (
        "item_registered",
        (
            ("item", COL_B32),
            ("community", COL_B32),
            ("content", COL_B32),
            ("cid", COL_BYTES),
            ("metadata", COL_B32),
            ("terms", COL_B32),
            ("commitment", COL_B32),
            ("registrant", COL_ADDR),
        ),
    ),
    "BatchRegistered": (
        "batch_registered",
        (
            ("batch", COL_B32),
            ("community", COL_B32),
            ("root", COL_B32),
            ("count", COL_INT),
            ("terms", COL_B32),
            ("manifest", COL_B32),
            ("registrant", COL_ADDR),
        ),
    ),
    "DerivativeRegistered": (
        "derivative_registered",
        (
            ("item", COL_B32),
            ("parent", COL_B32),
            ("content", COL_B32),
            ("community", COL_B32),
            ("parentSteward", COL_B32),
            ("cid", COL_BYTES),
            ("metadata", COL_B32),
            ("terms", COL_B32),
            ("method", COL_B32),
            ("aiEnhanced", COL_BOOL),
            ("registrant", COL_ADDR),
        ),
    ),
    "TermsSet": (
        "terms_set",
        (("subject", COL_B32), ("community", COL_B32), ("version", COL_INT), ("terms", COL_B32)),
    ),
    "TermsRevoked": (
        "terms_revoked",
        (("subject", COL_B32), ("community", COL_B32), ("version", COL_INT)),
    ),
    "DescriptionSet": (
        "description_set",
        (
            ("subject", COL_B32),
            ("steward", COL_B32),
            ("version", COL_INT),
            ("description", COL_B32),
        ),
    ),
    "CustodyRecorded": (
        "custody_recorded",
        (
            ("item", COL_B32),
            ("action", COL_INT),
            ("community", COL_B32),
            ("counterparty", COL_B32),
            ("document", COL_B32),
            ("nonce", COL_INT),
        ),
    ),
}
CID_EVENTS: Final = frozenset({"ItemRegistered", "DerivativeRegistered"})
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
STEWARDSHIP_MOVES: Final = (1, 4)


def index_path(settings: Settings) -> Path:
    """``<data dir>/index.sqlite``."""
    return settings.data_dir / "index.sqlite"


def column_name(name: str) -> str:
    return {"aiEnhanced": "ai_enhanced", "parentSteward": "parent_steward"}.get(name, name)


def schema_statements() -> list[str]:
    statements = [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE sync_state (id INTEGER PRIMARY KEY CHECK (id = 1), chain_id INTEGER NOT "
        "NULL, registry TEXT NOT NULL, start_block INTEGER NOT NULL, last_block INTEGER, "
        "last_hash BLOB)",
    ]
    for event, (table, args) in EVENT_TABLES.items():
        columns = [f"{column_name(n)} {_SQL_TYPES[k]} NOT NULL" for n, k in args]
        if event in CID_EVENTS:
            columns.append("cid_text TEXT")  # NULL: bytes that are not a CID we can parse
        statements.append(
            f"CREATE TABLE {table} ({_COMMON}, {', '.join(columns)}, "
            "PRIMARY KEY (block_number, log_index))"
        )
        for name, _ in args:
            if name in _LOOKUP_COLUMNS:
                statements.append(f"CREATE INDEX {table}_{name} ON {table} ({name})")
    return statements + list(MANIFEST_TABLES)


# What batch manifests list, learnt from IPFS as they are first read: a batch's items are
# found with one lookup instead of reading every manifest again. Keyed by the manifest's
# digest (named on chain) and the batch root it was read for, so it holds whatever chain the
# rest of the index follows; added to an index of this schema version where it is missing.
MANIFEST_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS manifests_read (manifest BLOB NOT NULL, root BLOB NOT NULL, "
    "usable INTEGER NOT NULL, PRIMARY KEY (manifest, root))",
    "CREATE TABLE IF NOT EXISTS manifest_items (manifest BLOB NOT NULL, root BLOB NOT NULL, "
    "item BLOB NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (manifest, root, position))",
    "CREATE INDEX IF NOT EXISTS manifest_items_item ON manifest_items (item)",
)



def stored_value(value: Any, kind: str) -> Any:
    if kind in (COL_B32, COL_BYTES):
        return bytes(value)
    if kind in (COL_INT, COL_BOOL):
        return int(value)
    if kind == COL_ADDR:
        return to_checksum_address(value)
    return json.dumps([to_checksum_address(a) for a in value])


def cid_text(raw: bytes) -> str | None:
    try:
        return str(Cid.from_bytes(raw))
    except HeritageError:
        return None  # the registry takes any non-empty bytes; the index keeps them as they are



class IndexStore:
    """An open index database of the registry at ``registry`` read from ``start_block``:
    its schema checked (or created), its sync state, and transactions on it."""

    def __init__(
        self, path: Path, registry: str, start_block: int, *, recreate: bool = False
    ) -> None:
        self.path = path
        self.registry = to_checksum_address(registry)
        self.start_block = start_block
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

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
                    for statement in MANIFEST_TABLES:
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
            for statement in schema_statements():
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
