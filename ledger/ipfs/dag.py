"""Links between blocks, for the codecs the node handles (raw, dag-pb, dag-cbor).

Pure functions over bytes plus one walker that pulls blocks through a ``get`` callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cbor2

from ledger.errors import MalformedBlock
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid
from ledger.ipfs.dagpb import decode_node

__all__ = ["block_links", "walk_dag"]

_CBOR_CID_TAG = 42


def _cbor_links(data: bytes) -> list[Cid]:
    found: list[Cid] = []

    def tag_hook(tag: cbor2.CBORTag, _immutable: bool) -> Any:
        if tag.tag != _CBOR_CID_TAG:
            raise MalformedBlock(f"dag-cbor allows only tag 42, found tag {tag.tag}")
        value = tag.value
        if not isinstance(value, bytes) or not value or value[0] != 0:
            raise MalformedBlock("dag-cbor tag 42 must hold 0x00 followed by a binary CID")
        found.append(Cid.from_bytes(value[1:]))
        return None

    try:
        cbor2.loads(data, tag_hook=tag_hook)
    except MalformedBlock:
        raise
    except Exception as exc:  # cbor2 raises several types for bad input
        raise MalformedBlock(f"not a valid dag-cbor block: {exc}") from None
    return found


def block_links(cid: Cid, data: bytes) -> list[Cid]:
    """The CIDs that the block ``data`` (named by ``cid``) links to, in order."""
    if cid.codec == RAW:
        return []
    if cid.codec == DAG_PB:
        return [link.cid for link in decode_node(data).links]
    if cid.codec == DAG_CBOR:
        return _cbor_links(data)
    raise MalformedBlock(f"cannot read links of codec 0x{cid.codec:x}")


def walk_dag(root: Cid, get: Callable[[Cid], bytes]) -> Iterator[tuple[Cid, bytes]]:
    """Every block of the DAG under ``root``, depth first, each distinct block once.

    Depth-first pre-order with links in order is the order Kubo's ``dag export`` writes.
    """
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.multihash in seen:
            continue
        seen.add(cid.multihash)
        data = get(cid)
        yield cid, data
        stack.extend(reversed(block_links(cid, data)))
