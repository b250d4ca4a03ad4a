"""Writing a rebuilt site by changing only what changed, and still replacing it in one swap.

A rebuild of 1,000 items rewrites thousands of files and folders that are byte for byte what
they were; making and deleting the folders alone costs more than everything else a rebuild
does. So the build keeps a second copy of the site, made of hard links to the site's own files
(it holds exactly what the site holds, nothing more: no item the site no longer shows), with a
manifest of it: each file's SHA-256, size, modification time and inode. Both live under the
data directory (``exhibit-cache/sites/<SHA-256 of the site's path>.site`` and ``….json``),
never beside the site, where a web server that serves the site's parent folder would serve a
copy of an older site too. Hard links need one file system: when the data directory is on
another file system than the site, no copy is kept (:func:`kept_copy` is None) and every build
writes the whole site afresh into a new folder beside it.

A rebuild (:func:`write_synced`) brings that copy up to the new site: a file whose bytes are
unchanged (its digest equal and its size, time and inode as recorded, so nobody touched it) is
left alone; a changed or new file is written to a temporary name and renamed over (a linked
file is never written into, so the live site is never touched); files the new site does not
have are deleted. The build scans it (only the files not scanned clean before), then
:func:`swap` renames it into place and the old site into the copy's name, and makes the copy
mirror the new site again (the few files that differ are linked anew, the others removed): once
a build is done, nothing the new site does not hold is in the copy.

Anything unexpected (no manifest, a copy that is not ours, a file not as recorded) falls back
to writing that file, or the whole site, afresh: the copy is never trusted beyond its manifest.
A copy that earlier builds kept beside the site (``.<name>.heritage-previous``) is deleted.

**What the file times are, and are not.** Whether a file of the copy holds the bytes the
manifest says is decided without reading it: its size, modification time, inode *and change
time* (``st_ctime_ns``) as recorded. Size, modification time and inode alone are a hint
anybody can forge (write in place and set the time back with ``touch``); the change time is
set by the kernel on every write, time change, rename-over or link, and no unprivileged call
sets it back, so a file whose change time is as recorded has not been touched since (short of
root or a clock set back, who could as well change the served site after the build). Even so
the times decide only *whether to rewrite a file of the copy*; nothing that vouches for bytes
rests on them: every derived file's CID in ``proofs.json`` is computed from the bytes read out
of the derivation cache in this build, and the digests the scan memo compares are of the bytes
the build holds in memory (:class:`exhibits.derive.cache.Hashes`), never of a file's times.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from exhibits.derive.cache import Hashes

__all__ = [
    "PREVIOUS_SUFFIX",
    "SyncedSite",
    "discard",
    "forget",
    "kept_copy",
    "previous_of",
    "swap",
    "write_synced",
]

PREVIOUS_SUFFIX: Final = ".heritage-previous"
_FORMAT: Final = 2  # 2: digest tokens (exhibits.derive.cache.Hashes.token) and change times

#: path → (digest token, size, mtime_ns, inode, ctime_ns)
Manifest = dict[str, tuple[str, int, int, int, int]]
#: (size, mtime_ns, inode, ctime_ns)
Stat = tuple[int, int, int, int]


def previous_of(site: Path) -> Path:
    """Where builds before this one kept their copy: beside ``site`` (deleted when found)."""
    return site.with_name(f".{site.name}{PREVIOUS_SUFFIX}")


def _key(site: Path) -> str:
    return hashlib.sha256(str(site).encode("utf-8")).hexdigest()


def _manifest_path(cache: Path, site: Path) -> Path:
    return cache / (_key(site) + ".json")


def _device(path: Path) -> int:
    """The file system of ``path``, or of its nearest existing parent folder."""
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            return os.stat(folder).st_dev
    return -1  # not reached: "/" exists


def kept_copy(site: Path, cache: Path) -> Path | None:
    """Where the copy of ``site`` is kept: under ``cache`` (the data directory's
    ``exhibit-cache/sites``), named by the site's path; None when ``cache`` is on another
    file system than the site's parent folder (no hard links between them: no copy)."""
    if _device(cache) != _device(site.parent):
        return None
    return cache / (_key(site) + ".site")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def forget(site: Path, cache: Path) -> None:
    """Delete the copy of ``site`` and its manifest (and a copy kept beside the site by
    earlier builds): a build that replaces the site without them leaves no older copy."""
    with contextlib.suppress(FileNotFoundError):
        _remove(previous_of(site))
    with contextlib.suppress(OSError):
        _manifest_path(cache, site).unlink()
    copy = kept_copy(site, cache)
    if copy is not None:
        with contextlib.suppress(FileNotFoundError):
            _remove(copy)


def _entry(value: list[object]) -> tuple[str, int, int, int, int]:
    digest, size, mtime, inode, ctime = value
    return str(digest), int(str(size)), int(str(mtime)), int(str(inode)), int(str(ctime))


def _load_manifest(cache: Path, site: Path) -> Manifest:
    path = _manifest_path(cache, site)
    try:
        value = json.loads(path.read_bytes())
        if value.get("format") != _FORMAT or value.get("site") != str(site):
            return {}
        body = value["files"]
        check = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if value.get("check") != check:
            return {}
        return {str(k): _entry(v) for k, v in body.items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}


def _save_manifest(cache: Path, site: Path, manifest: Manifest) -> None:
    body = {k: list(v) for k, v in sorted(manifest.items())}
    check = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    path = _manifest_path(cache, site)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"format": _FORMAT, "site": str(site), "files": body,
                                     "check": check}))  # fmt: skip
    os.replace(temporary, path)


def _stat(path: Path) -> Stat | None:
    """(size, modification time, inode, change time) of a regular file (not a link); None
    otherwise."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return found.st_size, found.st_mtime_ns, found.st_ino, found.st_ctime_ns


def _put(folder: Path, relative: str, data: bytes) -> None:
    """Write ``data`` at ``relative`` under ``folder`` by a new file renamed over the old name
    (the old name may be a hard link of the live site's file: its bytes are never changed)."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".w-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".l-{os.getpid()}-{target.name}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _prune(folder: Path, keep: set[str]) -> None:
    """Delete every file under ``folder`` not in ``keep``, and the folders that hold none of
    them (only those: removing a folder is dear on some file systems, even a failed try)."""
    kept_dirs = {"/".join(p.split("/")[:i]) for p in keep for i in range(1, p.count("/") + 1)}
    for here, dirs, names in os.walk(folder, topdown=False):
        base = Path(here)
        prefix = base.relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for name in names:
            if prefix + name not in keep:
                (base / name).unlink()
        for name in dirs:
            path = base / name
            if path.is_symlink():
                path.unlink()
            elif prefix + name not in kept_dirs:
                shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class SyncedSite:
    """A new site written into ``folder`` (to be scanned, then swapped in): each file's
    digest, which files were written now, and whether the copy was reused."""

    folder: Path
    digests: Mapping[str, str]
    written: frozenset[str]
    reused: bool
    unchanged: Mapping[str, tuple[str, int, int, int, int]]  # manifest entries of the others


def write_synced(
    site: Path, files: Mapping[str, bytes], cache: Path, hashes: Hashes | None = None
) -> SyncedSite:
    """Write the site ``files`` (path → bytes, every file of it) into the copy of ``site``
    kept under ``cache``, changing only what differs from its manifest; a new folder (under
    ``cache``, or beside the site when there is no copy) when there is no copy to reuse.
    ``hashes``: the build's digests of bytes it has hashed already (each file's digest token
    is taken from it, else computed)."""
    with contextlib.suppress(FileNotFoundError):
        _remove(previous_of(site))  # an earlier build's copy beside the site
    cache.mkdir(parents=True, exist_ok=True)
    copy = kept_copy(site, cache)
    manifest = _load_manifest(cache, site) if copy is not None else {}
    reused = copy is not None and bool(manifest) and copy.is_dir() and not copy.is_symlink()
    if copy is not None and reused:
        folder = copy
    else:
        if copy is not None:
            with contextlib.suppress(FileNotFoundError):
                _remove(copy)
        home = cache if copy is not None else site.parent
        folder = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".building", dir=home))
    digests: dict[str, str] = {}
    written: set[str] = set()
    unchanged: Manifest = {}
    book = hashes if hashes is not None else Hashes()
    for relative in sorted(files):
        data = files[relative]
        digest = book.token(data)
        digests[relative] = digest
        known = manifest.get(relative) if reused else None
        if known is not None and known[0] == digest and _stat(folder / relative) == known[1:]:
            unchanged[relative] = known  # as recorded: the same bytes, untouched
            continue
        _put(folder, relative, data)
        written.add(relative)
    if reused:
        _prune(folder, set(files))
    return SyncedSite(folder, digests, frozenset(written), reused, unchanged)


def swap(site: Path, synced: SyncedSite, cache: Path) -> None:
    """Put the scanned ``synced`` folder in place of ``site`` (renames), keep the old site as
    the copy, and make the copy mirror the new site (hard links) with its manifest saved. With
    no copy (another file system), the old site is deleted and no manifest is kept."""
    copy = kept_copy(site, cache)
    manifest: Manifest = {}
    if copy is None:
        with contextlib.suppress(OSError):
            _manifest_path(cache, site).unlink()
        if site.exists():
            parked = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".old",
                                           dir=site.parent))  # fmt: skip
            os.rename(site, parked / "site")
            os.rename(synced.folder, site)
            shutil.rmtree(parked)
        else:
            os.rename(synced.folder, site)
        return
    if site.exists():
        parked = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".old", dir=cache))
        os.rename(site, parked / "site")
        os.rename(synced.folder, site)
        with contextlib.suppress(FileNotFoundError):
            _remove(copy)  # only when the copy was not reused (then it is gone)
        os.rename(parked / "site", copy)
        parked.rmdir()
        # The old site: make it the new site's mirror (only what differs is touched).
        for relative, digest in synced.digests.items():
            known = synced.unchanged.get(relative)
            if known is not None and _stat(copy / relative) == known[1:]:
                manifest[relative] = known  # the old site's file is the new site's: linked
                continue
            if _stat(site / relative) is None:
                continue
            _link(site / relative, copy / relative)
            found = _stat(copy / relative)  # after the link: linking sets the change time
            if found is not None:
                manifest[relative] = (digest, *found)
        _prune(copy, set(synced.digests))
    else:
        os.rename(synced.folder, site)
        for relative, digest in synced.digests.items():
            if _stat(site / relative) is not None:
                _link(site / relative, copy / relative)
                found = _stat(copy / relative)  # after the link (see above)
                if found is not None:
                    manifest[relative] = (digest, *found)
    _save_manifest(cache, site, manifest)


def discard(synced: SyncedSite, site: Path, cache: Path) -> None:
    """A build that failed (a leak found): its folder is deleted, and with it the copy's
    manifest (the copy was the folder, or is gone)."""
    shutil.rmtree(synced.folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        _manifest_path(cache, site).unlink()
