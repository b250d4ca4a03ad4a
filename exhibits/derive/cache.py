"""The derivation cache: derived files kept under the data directory, by master CID and settings.

An unchanged master under unchanged settings is never derived twice. An entry lives in
``<root>/<master CID>/<settings digest>/``: ``record.json`` (the canonical JSON of its
:class:`~exhibits.derive.records.DerivationRecord`) and one file per output. The build passes
``settings.data_dir / "derived"`` as the root.

The cache trusts nothing it reads back: an entry is served only if its record parses, names this
master and these settings, and every output file hashes to the CID the record lists. Anything
else (a flipped byte, a missing file, a truncated record) counts in :attr:`CacheStats.corrupt`,
is deleted, and the caller derives afresh. Entries are written to a temporary directory and
renamed into place, so a crash leaves no half entry.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exhibits.derive.records import DerivationRecord, DerivedFile, file_cid, settings_digest
from ledger.documents import canonical_json
from ledger.ipfs.cid import Cid

__all__ = ["CacheStats", "Derivation", "DerivationCache"]

#: A derivation's lineage and its files, in the record's order.
Derivation = tuple[DerivationRecord, tuple[DerivedFile, ...]]

_RECORD = "record.json"


@dataclass(slots=True)
class CacheStats:
    """What a cache did since it was opened: served entries, derivations, corrupt entries."""

    hits: int = 0
    misses: int = 0  # each miss is one call of the deriving function
    corrupt: int = 0  # entries found broken, deleted and derived again (also counted as misses)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in {".", "..", _RECORD} and "/" not in name and "\\" not in name


class DerivationCache:
    """Derived files under ``root``, keyed by master CID and settings digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stats = CacheStats()

    def entry_dir(self, master_cid: Cid, settings: Mapping[str, Any]) -> Path:
        """Where the entry of this master under these settings lives (present or not)."""
        return self.root / str(master_cid) / settings_digest(settings)

    def get_or_derive(
        self,
        master_cid: Cid,
        settings: Mapping[str, Any],
        derive: Callable[[], Derivation],
    ) -> Derivation:
        """The cached derivation of this master under these settings, or ``derive()``'s, stored.

        ``derive`` runs only on a miss; if it raises, nothing is stored."""
        found = self.load(master_cid, settings)
        if found is not None:
            self.stats.hits += 1
            return found
        self.stats.misses += 1
        derivation = derive()
        self.store(derivation)
        return derivation

    def load(self, master_cid: Cid, settings: Mapping[str, Any]) -> Derivation | None:
        """The intact entry, or ``None`` (a broken entry is deleted and counted as corrupt)."""
        where = self.entry_dir(master_cid, settings)
        if not where.is_dir():
            return None
        derivation = self._read(where, master_cid, settings)
        if derivation is None:
            self.stats.corrupt += 1
            shutil.rmtree(where, ignore_errors=True)
        return derivation

    def _read(self, where: Path, master_cid: Cid, settings: Mapping[str, Any]) -> Derivation | None:
        try:
            record = DerivationRecord.from_json(json.loads((where / _RECORD).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if record.master_cid != master_cid or record.settings_digest != settings_digest(settings):
            return None
        files: list[DerivedFile] = []
        for output in record.outputs:
            try:
                name, media_type = str(output["name"]), str(output["media_type"])
                listed = Cid.parse(str(output["cid"]))
                if not _plain_name(name):
                    return None
                data = (where / name).read_bytes()
            except (OSError, ValueError, KeyError):
                return None
            if file_cid(data) != listed:
                return None
            width, height = output.get("width"), output.get("height")
            files.append(DerivedFile(
                name, media_type, data, listed,
                width if isinstance(width, int) else None,
                height if isinstance(height, int) else None,
            ))  # fmt: skip
        return record, tuple(files)

    def store(self, derivation: Derivation) -> None:
        """Write an entry atomically (a temporary directory renamed into place)."""
        record, files = derivation
        target = self.entry_dir(record.master_cid, record.settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            for file in files:
                if not _plain_name(file.name):
                    raise ValueError(f"derived file name {file.name!r} is not a plain name")
                (staging / file.name).write_bytes(file.data)
            (staging / _RECORD).write_bytes(canonical_json(record.to_json()))
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
