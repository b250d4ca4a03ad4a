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

**Hashed once.** Reading an entry back hashes each output to check its CID: that is the one
time a build hashes a derived file. The cache notes each checked CID in its :class:`Hashes`
(:attr:`DerivationCache.hashes`) under the very bytes object that was hashed, and the later
stages (``proofs.json``, the synced site and the scan memo) ask it instead of hashing again. A
note answers only for that object, never for other bytes of the same name, size or time: a
changed file is always a new object, so it is hashed afresh.
"""

from __future__ import annotations

import functools
import hashlib
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

__all__ = ["CacheStats", "Derivation", "DerivationCache", "Hashes"]

#: A derivation's lineage and its files, in the record's order.
Derivation = tuple[DerivationRecord, tuple[DerivedFile, ...]]

_RECORD = "record.json"


@dataclass(slots=True)
class CacheStats:
    """What a cache did since it was opened: served entries, derivations, corrupt entries."""

    hits: int = 0
    misses: int = 0  # each miss is one call of the deriving function
    corrupt: int = 0  # entries found broken, deleted and derived again (also counted as misses)


class Hashes:
    """Digests of bytes objects hashed in this build, each kept with the object it was computed
    from: a lookup answers only when handed that very object (``bytes`` cannot change, and the
    reference held here keeps its ``id`` from being reused), so nothing is ever answered for
    other bytes, whatever their path, size or time.

    :meth:`cid` is a derived file's CID as computed from its bytes (:func:`file_cid`);
    :meth:`token` is what the synced site and the scan memo compare: ``cid:<CID>`` when the
    CID is known (as collision-resistant as SHA-256: a UnixFS DAG of SHA-256 hashes), else
    the SHA-256 (hex) of the bytes, computed once per object."""

    def __init__(self) -> None:
        self._cids: dict[int, tuple[bytes, Cid]] = {}
        self._sha256: dict[int, tuple[bytes, str]] = {}

    def note_cid(self, data: bytes, cid: Cid) -> None:
        """Note ``cid``, just computed from ``data`` itself (never from a record)."""
        if type(data) is bytes:  # a bytearray could change after the note
            self._cids[id(data)] = (data, cid)

    def cid(self, data: bytes) -> Cid:
        """The CID of ``data``: noted, or computed now."""
        entry = self._cids.get(id(data))
        if entry is not None and entry[0] is data:
            return entry[1]
        cid = file_cid(data)
        self.note_cid(data, cid)
        return cid

    def known_cid(self, data: bytes) -> Cid | None:
        """The CID noted for this very object, or None (nothing is computed)."""
        entry = self._cids.get(id(data))
        return entry[1] if entry is not None and entry[0] is data else None

    def token(self, data: bytes) -> str:
        """``cid:<CID>`` when noted, else the SHA-256 hex of ``data`` (computed once)."""
        cid = self.known_cid(data)
        if cid is not None:
            return f"cid:{cid}"
        entry = self._sha256.get(id(data))
        if entry is not None and entry[0] is data:
            return entry[1]
        digest = hashlib.sha256(data).hexdigest()
        if type(data) is bytes:
            self._sha256[id(data)] = (data, digest)
        return digest


@functools.lru_cache(maxsize=64)
def _digest_of(settings_json: str) -> str:
    return settings_digest(json.loads(settings_json))


def _settings_digest(settings: Mapping[str, Any]) -> str:
    """:func:`settings_digest`, computed once per distinct settings (every item of a kind
    shares them; the canonical JSON is dear): keyed by their exact JSON text."""
    try:
        text = json.dumps(settings, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return settings_digest(settings)
    return _digest_of(text)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in {".", "..", _RECORD} and "/" not in name and "\\" not in name


class DerivationCache:
    """Derived files under ``root``, keyed by master CID and settings digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stats = CacheStats()
        #: CIDs of the derived files read back (and checked) or stored by this cache.
        self.hashes = Hashes()

    def entry_dir(self, master_cid: Cid, settings: Mapping[str, Any]) -> Path:
        """Where the entry of this master under these settings lives (present or not)."""
        return self.root / str(master_cid) / _settings_digest(settings)

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
        digest = _settings_digest(settings)
        where = self.root / str(master_cid) / digest
        if not where.is_dir():
            return None
        derivation = self._read(where, master_cid, digest)
        if derivation is None:
            self.stats.corrupt += 1
            shutil.rmtree(where, ignore_errors=True)
        return derivation

    def _read(self, where: Path, master_cid: Cid, digest: str) -> Derivation | None:
        try:
            record = DerivationRecord.from_json(json.loads((where / _RECORD).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if record.master_cid != master_cid or _settings_digest(record.settings) != digest:
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
            if self.hashes.cid(data) != listed:
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
