"""A bounded cache of parsed UnixFS nodes, keyed by CID: what a gateway reads on every request.

A block named by a CID never changes, so neither does the node parsed from it: reading it from
disk, re-hashing it against its CID and parsing it once is enough. :class:`NodeCache` keeps
such nodes (directories, a file's inner nodes, small leaves; for a raw block only its length)
in least-recently-used order within a byte budget, so a path lookup
(``/ipfs/DIR/sub/name``) stops re-reading, re-hashing and re-parsing the directories it
walks through.

What can change is whether the store still holds the block (garbage collection, a deleted
file): every hit asks the store (:meth:`NodeStore.has_block`, a ``stat``) and a block gone
from it is dropped and fetched again, so it fails as it would have without the cache. Pins
and anything else mutable are never cached. File content is not served from here: the
bytes of a file are read (and verified) from the store when they are sent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final, Protocol

from ledger.ipfs.cid import Cid
from ledger.ipfs.files import UnixFSNode, parse_node, resolve_through

__all__ = ["DEFAULT_MAX_BYTES", "NodeCache", "NodeStore"]

DEFAULT_MAX_BYTES: Final = 32 << 20
MAX_KEPT_LEAF: Final = 64 << 10  # larger nodes without links (a dag-pb file chunk) pass by
_ENTRY_OVERHEAD: Final = 200  # bytes charged per node and per link beyond the block itself


class NodeStore(Protocol):
    """Where the cache reads blocks: each checked against its CID on the way."""

    def get_block(self, cid: Cid) -> bytes:
        """The block's bytes, verified; BlockNotFound or CorruptBlock if not."""
        ...

    def has_block(self, cid: Cid) -> bool:
        """Whether the store holds the block (without reading it)."""
        ...


class NodeCache:
    """Parsed UnixFS nodes by CID, least recently used first out, within ``max_bytes``.

    Safe to share between threads. ``hits`` and ``misses`` count lookups, ``reads`` the
    blocks fetched from the store.
    """

    def __init__(self, store: NodeStore, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._store = store
        self.max_bytes = max_bytes
        self._nodes: OrderedDict[Cid, tuple[UnixFSNode, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """What the kept nodes are charged: their blocks plus a little per node and link."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, cid: Cid) -> UnixFSNode:
        """The node at ``cid``, parsed from the store's verified block once."""
        with self._lock:
            kept = self._nodes.get(cid)
            if kept is not None:
                self._nodes.move_to_end(cid)
        if kept is not None:
            if self._store.has_block(cid):
                with self._lock:
                    self.hits += 1
                return kept[0]
            self._forget(cid)  # collected since: fetch again, and fail as the store fails
        node = parse_node(cid, self._store.get_block(cid))
        with self._lock:
            self.misses += 1
            if node.links or node.meta is None or node.block_size <= MAX_KEPT_LEAF:
                self._keep(cid, node)
        return node

    def resolve(self, root: Cid, path: str) -> Cid:
        """Follow ``path`` (``a/b/c``) through directories from ``root``, as
        :func:`ledger.ipfs.files.resolve_path` does, through this cache."""
        return resolve_through(self.node, root, path)

    def clear(self) -> None:
        with self._lock:
            self._nodes.clear()
            self._bytes = 0

    def _cost(self, node: UnixFSNode) -> int:
        if node.meta is None:  # a raw block: only its length is kept
            return _ENTRY_OVERHEAD
        return node.block_size + _ENTRY_OVERHEAD * (1 + len(node.links))

    def _keep(self, cid: Cid, node: UnixFSNode) -> None:
        """Add ``node`` (the caller holds the lock); drop the oldest beyond the budget."""
        cost = self._cost(node)
        if cost > self.max_bytes:
            return
        previous = self._nodes.pop(cid, None)
        if previous is not None:
            self._bytes -= previous[1]
        self._nodes[cid] = (node, cost)
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._nodes.popitem(last=False)
            self._bytes -= dropped

    def _forget(self, cid: Cid) -> None:
        with self._lock:
            kept = self._nodes.pop(cid, None)
            if kept is not None:
                self._bytes -= kept[1]
