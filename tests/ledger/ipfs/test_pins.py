"""Pin-graph walks over a real blockstore: indirect pins are the blocks under recursive pins
that are not pinned themselves, each once, and a block's pin type names the pin that keeps it."""

from __future__ import annotations

from pathlib import Path

from ledger.ipfs.blockstore import Blockstore
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.pins import indirect_pins, pin_type
from ledger.ipfs.unixfs import ImportOptions, import_bytes, import_path


def test_indirect_pins_and_pin_types(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks", sync=False)
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a" * 10)
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 2000)  # several chunks
    entries = import_path(root, ImportOptions(), store)
    tree = entries[-1].cid
    a_txt = next(e.cid for e in entries if e.path == "site/a.txt")
    loose = import_bytes(b"loose", ImportOptions(), store).cid
    store.pin(tree)
    store.pin(a_txt, recursive=False)
    pins = store.pins()

    under = [cid for cid, _ in walk_dag(tree, store.get_block)]
    indirect = list(indirect_pins(pins, store.get_block))
    assert len(indirect) == len(set(indirect))
    assert set(indirect) == {cid for cid in under if cid not in (tree, a_txt)}

    sub = next(e.cid for e in entries if e.path == "site/sub")
    assert pin_type(tree, pins, "all", store.get_block) == "recursive"
    assert pin_type(a_txt, pins, "direct", store.get_block) == "direct"
    assert pin_type(a_txt, pins, "recursive", store.get_block) is None
    assert pin_type(sub, pins, "all", store.get_block) == f"indirect through {tree}"
    assert pin_type(sub, pins, "indirect", store.get_block) == f"indirect through {tree}"
    assert pin_type(sub, pins, "direct", store.get_block) is None
    assert pin_type(loose, pins, "all", store.get_block) is None
    store.close()
