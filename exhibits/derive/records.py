"""Derivation records: what a derived file is, and which master and settings made it.

Every derived file an exhibit serves is listed with its master's CID and the settings that made
it (issue 12). A :class:`DerivationRecord` is that listing for one master under one set of
settings; :class:`DerivedFile` is one output with its bytes and CID. Pure values; CIDs are the
ones ``heritage cid`` prints for the same bytes under the project's default import settings
(:data:`ledger.documents.DEFAULT_IMPORT`: CIDv1, raw leaves, 256 KiB chunks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ledger.documents import DEFAULT_IMPORT, canonical_json
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import import_bytes

__all__ = [
    "DERIVATION_TYPE",
    "DerivationRecord",
    "DerivedFile",
    "file_cid",
    "settings_digest",
]

#: The ``type`` of a derivation record's JSON form.
DERIVATION_TYPE: Final = "heritage/derivation"


def file_cid(data: bytes) -> Cid:
    """The CID of ``data`` as one file under the project's default import settings."""
    return import_bytes(data, DEFAULT_IMPORT).cid


def settings_digest(settings: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a derivation's settings: a cache key part."""
    return hashlib.sha256(canonical_json(dict(settings))).hexdigest()


@dataclass(frozen=True, slots=True)
class DerivedFile:
    """One derived file: its name (relative, no directories), media type, bytes and CID."""

    name: str
    media_type: str
    data: bytes
    cid: Cid
    width: int | None = None  # pixels, for images
    height: int | None = None

    @classmethod
    def of(
        cls,
        name: str,
        media_type: str,
        data: bytes,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> DerivedFile:
        """The file of these bytes, its CID computed."""
        return cls(name, media_type, data, file_cid(data), width, height)

    def entry(self) -> dict[str, Any]:
        """This file's line in a derivation record (everything but the bytes)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "media_type": self.media_type,
            "cid": str(self.cid),
            "size": len(self.data),
        }
        if self.width is not None and self.height is not None:
            entry["width"] = self.width
            entry["height"] = self.height
        return entry


@dataclass(frozen=True, slots=True)
class DerivationRecord:
    """The lineage of one derivation: its kind, the master's CID, the settings, the outputs."""

    kind: str  # "image", later "mesh", "audio" ...
    master_cid: Cid
    settings: Mapping[str, Any]  # JSON values: what made the outputs
    outputs: tuple[Mapping[str, Any], ...]  # DerivedFile.entry() of each output, in order

    @property
    def settings_digest(self) -> str:
        """The digest of :attr:`settings` (see :func:`settings_digest`)."""
        return settings_digest(self.settings)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON document (``canonical_json`` of it is its stored form)."""
        return {
            "type": DERIVATION_TYPE,
            "version": 1,
            "kind": self.kind,
            "master": str(self.master_cid),
            "settings": dict(self.settings),
            "outputs": [dict(output) for output in self.outputs],
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DerivationRecord:
        """Read back :meth:`to_json`; ``ValueError``/``KeyError``/``TypeError`` if it is not one."""
        if value.get("type") != DERIVATION_TYPE or value.get("version") != 1:
            raise ValueError("not a version 1 derivation record")
        outputs = value["outputs"]
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise TypeError("outputs must be a list of objects")
        settings = value["settings"]
        if not isinstance(settings, dict):
            raise TypeError("settings must be an object")
        return cls(
            kind=str(value["kind"]),
            master_cid=Cid.parse(str(value["master"])),
            settings=settings,
            outputs=tuple(outputs),
        )
