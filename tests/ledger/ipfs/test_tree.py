"""``ipfs add -r`` of streamed parts: the tree equals importing the same folder from disk,
in Kubo's output order, and names that cannot be a tree are refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ledger.errors import UnsafePath, UsageError
from ledger.ipfs.tree import AddTree
from ledger.ipfs.unixfs import ImportOptions, import_bytes, import_path


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"a" * 10)
    (root / "sub" / "b.txt").write_bytes(b"b" * 300_000)  # two chunks
    (root / "sub" / "deeper" / "c").write_bytes(b"")
    return root


@pytest.mark.parametrize("options", [ImportOptions(), ImportOptions(cid_version=1)])
def test_streamed_parts_make_the_tree_a_folder_makes(
    tmp_path: Path, options: ImportOptions
) -> None:
    root = folder(tmp_path)
    expected = import_path(root, options, None)
    tree = AddTree(options, None)
    tree.add_directory("site")
    for path in sorted(root.rglob("*")):
        name = "site/" + path.relative_to(root).as_posix()
        if path.is_dir():
            tree.add_directory(name)
        else:
            tree.add_file(name, io.BytesIO(path.read_bytes()))
    entries, roots = tree.finish(wrap=False)
    assert {(e.path, e.cid) for e in entries} == {(e.path, e.cid) for e in expected}
    assert [e.cid for e in roots] == [expected[-1].cid]
    files = [
        e.path for e in entries if e.path in {"site/a.txt", "site/sub/b.txt", "site/sub/deeper/c"}
    ]
    assert files == [e.path for e in tree.files]  # files first, in arrival order
    assert entries[-1].path == "site"  # then folders, the outermost last


def test_wrapping_and_unnamed_content(tmp_path: Path) -> None:
    options = ImportOptions()
    tree = AddTree(options, None)
    tree.add_file("", io.BytesIO(b"stdin"))
    entries, roots = tree.finish(wrap=True)
    stdin = import_bytes(b"stdin", options).cid
    assert entries[0].path == str(stdin) and entries[0].cid == stdin
    assert roots == [entries[-1]] and entries[-1].path == ""
    again = AddTree(options, None)
    again.add_file("", io.BytesIO(b"stdin"))
    with pytest.raises(UsageError, match="sent twice"):
        again.add_file("", io.BytesIO(b"stdin"))


def test_names_that_cannot_be_a_tree_are_refused() -> None:
    tree = AddTree(ImportOptions(), None)
    assert tree.empty
    tree.add_file("d/x", io.BytesIO(b"x"))
    with pytest.raises(UsageError, match="sent twice"):
        tree.add_file("d/x", io.BytesIO(b"y"))
    with pytest.raises(UsageError, match="used as a directory"):
        tree.add_directory("d/x/y")
    for hostile in ("d/../x", "d//x", "/x", "d/./x", "a\\b"):
        with pytest.raises(UnsafePath):
            tree.add_file(hostile, io.BytesIO(b"z"))
