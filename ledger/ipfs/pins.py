"""Pin-graph walks: which blocks the pins keep, and through which pin a block is kept.

A recursive pin keeps its whole DAG; the blocks under it that are not pinned themselves are
pinned *indirectly* (Kubo's ``pin ls --type=indirect``). Pure walks over a pin table and a
``get`` callable: pin state is read by the caller, once per question, never cached here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from ledger.ipfs.blockstore import PinKind
from ledger.ipfs.cid import Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.files import GetBlock

__all__ = ["PinQuery", "indirect_pins", "pin_type"]

PinQuery = Literal["all", "recursive", "direct", "indirect"]


def indirect_pins(pins: Mapping[Cid, PinKind], get: GetBlock) -> Iterator[Cid]:
    """Blocks under recursive pins that are not pinned themselves, each once."""
    seen: set[bytes] = set()
    for root, pin_kind in pins.items():
        if pin_kind != "recursive":
            continue
        for cid, _ in walk_dag(root, get):
            if cid.multihash not in seen and cid != root and cid not in pins:
                yield cid
            seen.add(cid.multihash)


def pin_type(cid: Cid, pins: Mapping[Cid, PinKind], wanted: str, get: GetBlock) -> str | None:
    """How ``cid`` is pinned, if it is pinned the ``wanted`` way (one of :data:`PinQuery`):
    ``recursive``, ``direct``, or ``indirect through <root>``; None if it is not."""
    direct = pins.get(cid)
    if direct is not None and wanted in ("all", direct):
        return direct
    if wanted in ("all", "indirect"):
        for root, pin_kind in pins.items():
            if pin_kind != "recursive" or root == cid:
                continue
            if any(c.multihash == cid.multihash for c, _ in walk_dag(root, get)):
                return f"indirect through {root}"
    return None
