"""bench/soak.py's own judgement: what it counts as a temporary file left behind (the soak
fails on one), on folders made here with the names the code's writers use."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _soak() -> ModuleType:
    sys.path.insert(0, str(REPO / "bench"))  # as `python bench/soak.py` runs it
    try:
        spec = importlib.util.spec_from_file_location("bench_soak", REPO / "bench" / "soak.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "bench"))


def test_the_soak_finds_each_kind_of_temporary_file(tmp_path: Path) -> None:
    data, sites = tmp_path / "data", tmp_path / "sites"
    (data / "blocks" / ".tmp").mkdir(parents=True)  # the blockstore's standing staging folder
    (data / "blocks" / "AF" / "CIQA.data").parent.mkdir(parents=True)
    (data / "blocks" / "AF" / "CIQA.data").write_bytes(b"a block")
    (data / "keys").mkdir()
    (data / "keys" / "0xab.json").write_text("{}")
    (sites / "soak").mkdir(parents=True)
    (sites / "soak" / "index.html").write_text("<p>")
    soak = _soak()
    assert soak.leftovers(data, sites) == []  # nothing temporary: nothing found

    left = {
        data / "blocks" / ".tmp" / ".tmp-k2j3",  # a block write cut short
        data / "keys" / ".0xab.json.5f1e.tmp",  # a key file's atomic write
        data / "chain" / ".journal.json.tmp",
        sites / ".soak.x1.building",  # a build's folder not renamed into place
        sites / ".soak.x2.old",
        data / "exhibit-cache" / ".entry-99",
    }
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".building", ".old"):
            path.mkdir()
        else:
            path.write_text("x")
    staged = data / "derived" / ".staging-7" / "thumb.jpg"  # a file inside a staging folder
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"jpg")
    found = set(soak.leftovers(data, sites))
    assert found == left | {staged, staged.parent}
