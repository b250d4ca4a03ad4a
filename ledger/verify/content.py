"""The content check: a file's bytes, hashed into a CID with the import settings an item
records, against the CID they should give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ledger.errors import UsageError
from ledger.ipfs.cid import DAG_PB, Cid
from ledger.ipfs.unixfs import ImportOptions, import_file

__all__ = [
    "KUBO_DEFAULT",
    "ContentCheck",
    "cid_settings",
    "compute_cid",
    "import_options",
    "same_content",
]

#: Kubo's default import settings (``ipfs add``: CIDv0, 256 KiB chunks).
KUBO_DEFAULT: Final = ImportOptions(cid_version=0)


@dataclass(frozen=True, slots=True)
class ContentCheck:
    """The bytes checked against the CID they should give."""

    path: str
    computed_cid: str
    expected_cid: str
    expected_from: str  # "--expect", "chain", "proofs", "bag", "commitment"
    matches: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "computed_cid": self.computed_cid,
            "expected_cid": self.expected_cid,
            "expected_from": self.expected_from,
            "matches": self.matches,
        }


def import_options(metadata: Mapping[str, Any] | None, cid: Cid) -> ImportOptions:
    """The import settings an item's metadata records (else those its CID implies)."""
    settings = metadata.get("import") if metadata is not None else None
    if isinstance(settings, dict):
        try:
            return ImportOptions(
                cid_version=int(settings["cid_version"]),
                raw_leaves=bool(settings["raw_leaves"]),
                chunk_size=int(settings["chunk_size"]),
            )
        except (KeyError, TypeError, ValueError, UsageError):
            pass  # a metadata document we cannot read settings from: use the CID's own
    if cid.version == 0:
        return KUBO_DEFAULT
    return ImportOptions(cid_version=1, raw_leaves=cid.codec != DAG_PB or None)


def compute_cid(path: Path, options: ImportOptions) -> Cid:
    """The CID of the file at ``path`` with ``options`` (hash only: nothing is stored)."""
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file", hint="verify one file at a time")
    return import_file(path, options).cid


def cid_settings(options: ImportOptions) -> tuple[int, bool, int]:
    """What of ``options`` decides a file's CID (not the worker count; leaves resolved)."""
    return options.cid_version, options.leaves_raw, options.chunk_size


def same_content(a: Cid, b: Cid) -> bool:
    """Equal CIDs, or the CIDv0 and CIDv1 names of one dag-pb root."""
    return a.codec == b.codec and a.multihash == b.multihash
