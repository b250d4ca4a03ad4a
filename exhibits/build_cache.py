"""What a rebuild keeps under the data directory besides the derivations: which derivation
each shown item got (so its master is not fetched again), and which output files were already
scanned clean against the same secrets (so they are not scanned again).

:class:`FilesMemo` maps a shown item (its registered CID, kind, file name, media type and the
derivation settings) to the derivation records that made its files. A rebuild reads the files
from :class:`~exhibits.derive.cache.DerivationCache` by those records, which checks every file
against its CID: the master is neither fetched nor re-hashed (its CID is the key; the outputs
are checked by their own CIDs). A memo entry that does not parse, fails its check digest, or
names a derivation the cache no longer holds intact is a miss: the item is fetched, checked and
derived (or read from the cache) as in a first build.

:class:`ScanMemo` holds the SHA-256 of each file found clean against one set of secrets
(:func:`secrets_digest`: the kinds and values of the secrets, not their labels). The build
scans only the files whose bytes are not in it (:func:`scan_new`); another set of secrets
starts afresh. A damaged memo is ignored (everything is scanned).

Neither holds any text of an item: derivation records (CIDs, settings, derived file names
and sizes), digests of files and of secret sets.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from exhibits.derive.cache import DerivationCache, Hashes
from exhibits.derive.records import DerivationRecord, DerivedFile
from exhibits.model import Candidate, ItemFiles, Kind
from exhibits.scan import Secret, check_clean

__all__ = ["FilesMemo", "ScanMemo", "scan_new", "secrets_digest"]

_FORMAT: Final = 1
_MAX_BYTES: Final = 64 << 20


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` atomically (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(json.dumps(value, sort_keys=True).encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _read_json(path: Path) -> Any:
    """The JSON at ``path`` whose ``check`` matches its ``body``; None otherwise."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("format") != _FORMAT:
        return None
    if value.get("check") != _digest(value.get("body")):
        return None
    return value.get("body")


@dataclass(slots=True)
class MemoStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0


class FilesMemo:
    """Which derivations a shown item's files came from, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stats = MemoStats()

    def _path(self, candidate: Candidate, kind: Kind, settings: object) -> Path:
        key = _digest([_FORMAT, str(candidate.cid), kind, candidate.file_name,
                       candidate.media_type, settings])  # fmt: skip
        return self.root / key[:2] / f"{key}.json"

    def load(
        self, candidate: Candidate, kind: Kind, settings: object, cache: DerivationCache
    ) -> ItemFiles | None:
        """The item's files as its last derivation made them, read (and checked) from
        ``cache``; None when unknown or no longer intact there."""
        path = self._path(candidate, kind, settings)
        body = _read_json(path)
        if body is None:
            if path.exists():
                self.stats.corrupt += 1
                with contextlib.suppress(OSError):
                    path.unlink()
            self.stats.misses += 1
            return None
        try:
            records = tuple(DerivationRecord.from_json(r) for r in body["records"])
            wanted = [(int(i), str(name)) for i, name in body["files"]]
            if body["kind"] != kind or body["cid"] != str(candidate.cid):
                raise ValueError("another item's entry")
        except (ValueError, KeyError, TypeError):
            self.stats.corrupt += 1
            self.stats.misses += 1
            return None
        found: list[dict[str, DerivedFile]] = []
        for record in records:
            derivation = cache.load(record.master_cid, record.settings)
            if derivation is None or derivation[0].to_json() != record.to_json():
                self.stats.misses += 1
                return None
            found.append({f.name: f for f in derivation[1]})
        try:
            files = tuple(found[i][name] for i, name in wanted)
        except (IndexError, KeyError):
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return ItemFiles(kind=kind, files=files, records=records)

    def store(self, candidate: Candidate, kind: Kind, settings: object, files: ItemFiles) -> None:
        """Remember which records made ``files`` (each file by its record and name)."""
        where: list[list[Any]] = []
        for derived in files.files:
            index = next(
                (i for i, r in enumerate(files.records)
                 if any(o.get("name") == derived.name and o.get("cid") == str(derived.cid)
                        for o in r.outputs)),
                None,
            )  # fmt: skip
            if index is None:
                return  # a file no record lists: not remembered, derived through the cache
            where.append([index, derived.name])
        body = {
            "cid": str(candidate.cid),
            "kind": kind,
            "records": [r.to_json() for r in files.records],
            "files": where,
        }
        _write_json(self._path(candidate, kind, settings),
                    {"format": _FORMAT, "body": body, "check": _digest(body)})  # fmt: skip


def secrets_digest(secrets: Iterable[Secret]) -> str:
    """The digest of a set of secrets: their kinds and values (labels only name them)."""
    values = sorted({(s.kind, str(s.value) if not isinstance(s.value, bytes) else s.value.hex())
                     for s in secrets})  # fmt: skip
    return _digest([_FORMAT, values])


class ScanMemo:
    """The SHA-256 digests of files found clean against one set of secrets, under ``root``."""

    def __init__(self, root: Path, secrets: Iterable[Secret]) -> None:
        self.root = root
        self.digest = secrets_digest(secrets)
        self.path = root / f"{self.digest}.json"
        body = _read_json(self.path)
        clean = body.get("clean") if isinstance(body, dict) else None
        self.clean: set[str] = (
            {c for c in clean if isinstance(c, str)} if isinstance(clean, list) else set()
        )

    def save(self, clean: Iterable[str]) -> None:
        """Keep ``clean`` (this set's clean digests) as the only memo: another set's is
        removed, so the memo does not grow with every change of the excluded set."""
        keep = set(clean)
        if keep == self.clean and self.path.is_file():
            return  # as it stands
        body = {"secrets": self.digest, "clean": sorted(keep)}
        _write_json(self.path, {"format": _FORMAT, "body": body, "check": _digest(body)})
        for other in self.root.glob("*.json"):
            if other != self.path:
                with contextlib.suppress(OSError):
                    other.unlink()


def _files(site: Path) -> dict[str, Path] | None:
    """Every regular file under ``site`` by relative path; None when there is anything else
    (a link, a special file: the full scan says what)."""
    found: dict[str, Path] = {}
    folders = [(site, "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink():
                    return None
                if entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), f"{prefix}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    found[prefix + entry.name] = Path(entry.path)
                else:
                    return None
    return found


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def scan_new(
    site: Path,
    secrets: list[Secret],
    memo: ScanMemo | None,
    digests: Mapping[str, str] | None = None,
    fixed: Mapping[str, bytes] | None = None,
    hashes: Hashes | None = None,
) -> int:
    """:func:`exhibits.scan.check_clean` of ``site`` against ``secrets``, skipping the files
    whose bytes ``memo`` holds as clean against the same secrets: the others are linked into
    a folder of their own beside the site (same relative paths) and scanned there. Returns how
    many files were scanned; a hit raises as :func:`check_clean` does. ``digests``: the
    SHA-256 of files the caller has just written or checked (others are read and hashed).
    ``fixed``: the vendored files every site holds (:func:`exhibits.scan.scan`'s ``fixed``:
    searched for ids only); the memo tells such a file's clean bytes at that path apart from
    the same bytes elsewhere, which are searched for everything. ``hashes``: the build's
    digests of bytes already hashed (``digests`` are its tokens, :meth:`Hashes.token`)."""
    files = _files(site) if memo is not None else None
    if memo is None or files is None:
        check_clean(site, secrets, fixed=fixed)
        return -1
    known = digests or {}
    digests = {name: known.get(name) or _sha256(path) for name, path in files.items()}
    book = hashes if hashes is not None else Hashes()
    vendored = {name: book.token(data) for name, data in (fixed or {}).items()}
    tokens = {
        name: f"{digest}@{name}" if vendored.get(name) == digest else digest
        for name, digest in digests.items()
    }
    fresh = {name: path for name, path in files.items() if tokens[name] not in memo.clean}
    if not fresh:
        pass  # every file's bytes were scanned clean against these very secrets
    elif len(fresh) * 4 > len(files):
        # Much is new: the site itself, rather than a folder of links made and removed for it.
        check_clean(site, secrets, fixed=fixed)
    else:
        mirror = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".scan", dir=site.parent))
        try:
            for name, path in fresh.items():
                target = mirror / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copyfile(path, target)
            check_clean(mirror, secrets, fixed=fixed)
        finally:
            shutil.rmtree(mirror, ignore_errors=True)
    memo.save(tokens.values())
    return len(fresh)
