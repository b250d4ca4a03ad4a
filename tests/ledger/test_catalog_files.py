"""Matching registered files to a catalog's rows (``ledger.registry.catalog_files``): pure,
given the descriptions a catalog reader returns by file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import UsageError
from ledger.registry import catalog_files
from ledger.rights.description import Description, description_from_json


def described(title: str) -> Description:
    return description_from_json(
        {"type": "heritage/description", "version": 1, "title": {"en": title}}
    )


def test_every_file_the_catalog_names_in_row_order_when_no_file_is_given(
    tmp_path: Path,
) -> None:
    entries = {"b.txt": described("B"), "sub/a.txt": described("A")}
    files, descriptions = catalog_files(tmp_path / "catalog.csv", entries, [])
    assert files == [tmp_path / "b.txt", tmp_path / "sub" / "a.txt"]
    assert descriptions == [entries["b.txt"], entries["sub/a.txt"]]


def test_files_given_are_found_by_their_path_relative_to_the_catalog(tmp_path: Path) -> None:
    entries = {"b.txt": described("B"), "sub/a.txt": described("A"), "c.txt": described("C")}
    given = [tmp_path / "sub" / "a.txt", tmp_path / "sub" / ".." / "b.txt"]
    files, descriptions = catalog_files(tmp_path / "catalog.csv", entries, given)
    assert files == given  # as given; rows of files not given are left out
    assert descriptions == [entries["sub/a.txt"], entries["b.txt"]]


def test_a_file_without_a_row_is_refused_naming_it(tmp_path: Path) -> None:
    entries = {"b.txt": described("B")}
    outside = tmp_path.parent / "b.txt"  # same name, outside the catalog's folder
    with pytest.raises(UsageError, match=r"no row for .*a\.txt, .*b\.txt") as caught:
        catalog_files(tmp_path / "catalog.csv", entries, [tmp_path / "a.txt", outside])
    assert "nothing was sent" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="names no files"):
        catalog_files(tmp_path / "catalog.csv", {}, [])
