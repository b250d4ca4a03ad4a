"""Syncing the index from the chain: incremental from the last indexed block, rebuilt when
the chain no longer holds what was indexed.

Only blocks at least ``confirmations`` deep (number ≤ head − confirmations) are indexed.
Before reading on, the hash of the last indexed block is compared with the chain's: if it
changed, or the block is gone (a reorg, an ``evm_revert``, an anvil that restarted empty), or
the chain id or registry address differ from what the index was built from, the index is
rebuilt from the registry's deploy block. :meth:`IndexSync.rebuild` drops every row and reads
the registry's logs again, and the result equals what incremental syncs build.

The chain is reached through one seam, :class:`ChainReader` (:class:`Web3Reader` over a web3
client made by :func:`ledger.chain.connect`, on the project's one JSON-RPC transport).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import BlockNotFound
from web3.types import LogReceipt

from contracts import load_artifact
from ledger.chain.transport import chain_errors, endpoint_of
from ledger.errors import (
    ChainError,
    EventIndexError,
    UsageError,
)
from ledger.index.schema import (
    CID_EVENTS,
    DEFAULT_CHUNK_BLOCKS,
    EVENT_TABLES,
    IndexStore,
    Progress,
    cid_text,
    column_name,
    stored_value,
)

__all__ = [
    "BlockHeader",
    "ChainReader",
    "IndexSync",
    "IndexedHead",
    "SyncResult",
    "Web3Reader",
]


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


@dataclass(frozen=True, slots=True)
class Web3Reader:
    """:class:`ChainReader` over a web3 client made by :func:`ledger.chain.connect`: on the
    one transport, whose failures are :class:`ChainUnavailable`; node errors become
    :class:`ChainError`."""

    w3: Web3

    def chain_id(self) -> int:
        with chain_errors(endpoint_of(self.w3)):
            return int(self.w3.eth.chain_id)

    def head(self) -> int:
        with chain_errors(endpoint_of(self.w3)):
            return int(self.w3.eth.block_number)

    def block(self, number: int) -> BlockHeader | None:
        with chain_errors(endpoint_of(self.w3)):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
        block_hash = block.get("hash")
        if block_hash is None:
            return None
        return BlockHeader(number, bytes(block_hash), int(block["timestamp"]))

    def logs(self, address: str, from_block: int, to_block: int) -> list[LogReceipt]:
        with chain_errors(endpoint_of(self.w3)):
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




class IndexSync(IndexStore):
    """An index that reads on from the chain through ``reader``."""

    # Built on first use: building web3's event decoders costs milliseconds, and an
    # index that is only read (or finds nothing new on the chain) never needs them.
    _decoder: _EventDecoder | None = None

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
        self.reader = reader
        self.confirmations = confirmations
        self.chunk_blocks = chunk_blocks
        super().__init__(path, registry, start_block, recreate=recreate)

    def _events(self) -> _EventDecoder:
        if self._decoder is None:
            self._decoder = _EventDecoder()
        return self._decoder

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
            names.append(column_name(name))
            values.append(stored_value(args[name], kind))
        if event in CID_EVENTS:
            names.append("cid_text")
            values.append(cid_text(bytes(args["cid"])))
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
