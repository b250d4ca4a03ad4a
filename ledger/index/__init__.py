"""An SQLite mirror of the registry's events at ``<data dir>/index.sqlite``.

The index holds nothing that the chain does not: :meth:`EventIndex.rebuild` drops every row
and reads the registry's logs again, and the result equals what incremental
:meth:`EventIndex.sync` calls build (a test compares table dumps).

- :mod:`~ledger.index.schema`: one table per event kind, the schema version, the open store.
- :mod:`~ledger.index.sync`: reading on from the chain through :class:`ChainReader`
  (:class:`Web3Reader`, on the project's one JSON-RPC transport), reorg and reset detection.
- :mod:`~ledger.index.queries`: :class:`EventIndex`, histories, records, batches, communities.
- :mod:`~ledger.index.listing`: the index read whole in one query, for listings.
"""

from ledger.index.queries import (
    BatchRecord,
    CommunityRecord,
    EventIndex,
    HistoryEntry,
    ItemRecord,
)
from ledger.index.schema import (
    CUSTODY_ACTIONS,
    DEFAULT_CHUNK_BLOCKS,
    EVENT_TABLES,
    SCHEMA_VERSION,
    Progress,
    index_path,
)
from ledger.index.sync import (
    BlockHeader,
    ChainReader,
    IndexedHead,
    SyncResult,
    Web3Reader,
)

__all__ = [
    "CUSTODY_ACTIONS",
    "DEFAULT_CHUNK_BLOCKS",
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
