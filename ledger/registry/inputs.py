"""Inputs: the caller's files a workflow reads, checked before anything is added or sent.

The files to register, a terms file (valid terms of the acting community,
:mod:`ledger.rights`), a description file (:mod:`ledger.rights.description`) and a
derivative's method document (its JSON schema).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ledger.documents import read_json_file
from ledger.errors import UsageError
from ledger.rights import parse_terms
from ledger.rights.description import Description, parse_description

__all__ = [
    "catalog_files",
    "check_paths",
    "read_description",
    "read_method_document",
    "read_terms_document",
]


def check_paths(paths: Sequence[Path]) -> list[Path]:
    """The files to register, each an existing regular file; UsageError otherwise."""
    if not paths:
        raise UsageError("no files to register")
    checked: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist", hint="check the path")
        if not path.is_file():
            raise UsageError(
                f"{path} is not a regular file",
                hint="register files one by one (a directory's files: pass them as PATH...)",
            )
        checked.append(path)
    return checked


def read_terms_document(terms: Path, community_id: bytes) -> dict[str, Any]:
    """The terms file as a document, refused (InvalidTerms: the field's JSON pointer and
    the rule) unless it is valid terms of ``community_id``: checked before anything is
    added, pinned or sent."""
    document = read_json_file(terms)
    parse_terms(document, where=str(terms), community=community_id)
    return document


def read_description(path: Path) -> Description:
    """The description file at ``path``, refused (InvalidDescription: every field's JSON
    pointer and rule) unless it is a valid description document: checked before anything is
    added, pinned or sent."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file", hint="check the path")
    return parse_description(path.read_bytes(), str(path))


def _catalog_key(catalog_folder: str, path: Path) -> str | None:
    """``path`` as a catalog names it: relative to the catalog's folder, ``/``-separated,
    ``.`` and ``..`` resolved (None: outside that folder)."""
    relative = os.path.relpath(os.path.normpath(os.path.abspath(path)), catalog_folder)
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return None
    return relative.replace(os.sep, "/")


def catalog_files(
    catalog: Path, entries: Mapping[str, Description], paths: Sequence[Path]
) -> tuple[list[Path], list[Description]]:
    """The files to register with a catalog (``entries``: its descriptions by file, as
    :func:`ledger.rights.catalog.parse_catalog` reads them) and each file's description:
    every file the catalog names, in row order, when ``paths`` is empty; else each path
    given, which must have a row (UsageError naming those that have none: nothing sent)."""
    folder = os.path.normpath(os.path.abspath(catalog.parent))
    if not paths:
        if not entries:
            raise UsageError(f"{catalog} names no files", hint="add a row per file")
        named = list(entries)
        return [Path(folder, *key.split("/")) for key in named], [entries[k] for k in named]
    missing: list[str] = []
    descriptions: list[Description] = []
    for path in paths:
        key = _catalog_key(folder, path)
        if key is None or key not in entries:
            missing.append(str(path))
        else:
            descriptions.append(entries[key])
    if missing:
        raise UsageError(
            f"{catalog} has no row for {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
            hint="add a row per file (its `file` column relative to the catalog's folder), or "
            "leave the files out to register every file the catalog names; nothing was sent",
        )
    return list(paths), descriptions


@functools.cache
def _method_schema() -> Mapping[str, Any]:
    text = resources.files("ledger").joinpath("schemas/derivative-method.schema.json")
    loaded: Mapping[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


def read_method_document(path: Path) -> dict[str, Any]:
    """A derivative's method document (``--method``), refused (UsageError naming the field
    and the rule) unless it follows ledger/schemas/derivative-method.schema.json."""
    import jsonschema  # only derivatives need it

    document = read_json_file(path)
    errors = sorted(
        jsonschema.Draft202012Validator(_method_schema()).iter_errors(document),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        raise UsageError(
            f"{path} is not a method document: at {where}: {first.message[:200]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            hint='e.g. {"method": "photogrammetry", "software": "Meshroom 2023.3"}; '
            "see docs/derivatives.md",
        )
    return document
