"""The exhibit build: spec → gather → select → fetch → derive → render → scan → report.

:func:`choose` decides what an exhibit shows (gather and select, against the chain);
:func:`build_exhibit` builds the site:

1. the output folder is checked (:func:`check_out`): never the data directory or a folder
   around it, never a folder that is not an earlier build (a build writes a marker file,
   ``.heritage-exhibit``, and replaces only folders that carry it);
2. each shown item's master is read from the IPFS node and its CID recomputed with the import
   settings it was registered with: bytes that do not give the registered CID fail the build
   before anything is written;
3. derived files come from the cache under ``<data dir>/derived`` (:mod:`exhibits.derive`);
4. the site is rendered (:func:`exhibits.site.render.render_site`, from the shown items only)
   into a new folder beside the output, which is then scanned for every form of every
   excluded item (:func:`exhibits.scan.check_clean`: CID, item key, title in every language,
   file name; a sealed item by its CID and key alone, nothing of it is decrypted): a hit fails
   the build and the new folder is deleted;
5. the new folder replaces the output (renames: a reader sees the old site or the new one),
   and the private report (:mod:`exhibits.report`) is written beside it.

**Moments.** Items are decided at ``at``, on the record as it stood then (claims, terms
versions and revocations after ``at`` left out); without ``at``, on the record as it stands,
at the present moment. The site's ``built_at`` is ``at``
when given, else ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now: the same
inputs give the same folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from exhibits.build_cache import FilesMemo, ScanMemo, scan_new
from exhibits.derive.cache import DerivationCache, Hashes
from exhibits.derive.dispatch import DeriveSettings, derive_item, kind_of, settings_json
from exhibits.gather import gather
from exhibits.model import Candidate, ChainRef, Choice, Exhibited, ItemFiles, RoomPlan
from exhibits.report import build_report, read_previous, report_path_for, write_report
from exhibits.scan import Secret, text_key
from exhibits.select import select
from exhibits.site_sync import discard, forget, swap, write_synced
from exhibits.spec import ExhibitSpec, ModelChoices
from ledger.errors import BlockNotFound, HeritageError, IpfsError, NotFound, UsageError
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.registry import Registry
from ledger.registry.reader import RegistryReader
from ledger.settings import Settings, load_settings

__all__ = [
    "MARKER",
    "BuildResult",
    "Progress",
    "Render",
    "build_exhibit",
    "build_moment",
    "check_master",
    "check_out",
    "choose",
    "secrets_of",
]

#: The file that marks a folder as a site the build wrote (and may therefore replace).
MARKER: Final = ".heritage-exhibit"
_MARKER_TEXT: Final = "A site built by `heritage exhibit build`; rebuilding replaces this folder.\n"

#: ``progress(stage, done, total)``: stages "gathering", "deriving", "rendering", "scanning".
Progress = Callable[[str, int, int], None]


class Render(Protocol):
    """The renderer's signature (:func:`exhibits.site.render.render_site`)."""

    def __call__(
        self,
        spec: ExhibitSpec,
        rooms: Sequence[RoomPlan],
        items: Sequence[Exhibited],
        chain: ChainRef,
        out: Path,
        *,
        built_at: datetime,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A finished build: where it is, what it shows, what it excluded, and the report."""

    out: Path
    report_path: Path
    choice: Choice
    chain: ChainRef
    built_at: datetime
    at: datetime
    report: Mapping[str, Any]
    derived: int  # items derived now (cache misses)
    reused: int  # items whose derived files came from the cache
    fetched: int = 0  # masters read from the IPFS node (the others' derivations were known)
    recalled: int = 0  # candidates read from the gather cache (nothing happened to them)
    scanned: int = -1  # files scanned (the others were scanned clean before); -1: all
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)  # seconds per stage


def build_moment(at: datetime | None, environ: Mapping[str, str] | None = None) -> datetime:
    """The site's ``built_at``: ``at``, else ``SOURCE_DATE_EPOCH`` (whole seconds since the
    epoch, reproducible-builds.org), else now; aware, UTC."""
    if at is not None:
        return at.astimezone(UTC)
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch != "":
        if not epoch.isdigit():
            raise UsageError(
                f"SOURCE_DATE_EPOCH is {epoch!r}, not a whole number of seconds",
                hint="set it to e.g. the last commit's time: `git log -1 --format=%ct`",
            )
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def _choose(
    reader: RegistryReader, spec: ExhibitSpec, at: datetime | None, cache_dir: Path | None = None
) -> tuple[Choice, ChainRef, datetime, int]:
    """(the choice, the chain, the decision moment, how many candidates came from the gather
    cache)."""
    found = gather(reader, spec, at, cache_dir=cache_dir)
    moment = at if at is not None else datetime.now(UTC)
    choice = select(spec, found.candidates, moment, found.communities)
    found.commit(
        [s.candidate.key for s in choice.shown if not s.candidate.sealed],
        [e.candidate.key for e in choice.excluded]
        + [s.candidate.key for s in choice.shown if s.candidate.sealed],
    )
    return choice, found.chain, moment, 0 if found.cache is None else found.cache.stats.hits


def choose(
    spec: ExhibitSpec, settings: Settings | None = None, at: datetime | None = None
) -> tuple[Choice, ChainRef]:
    """What ``spec`` shows on the chain and node of ``settings``: the shown items in order
    with their rooms, the excluded with the reasons, and the chain. With ``at`` (aware), as
    the record stood then and decided at that moment; without, as it stands, decided now.
    ``settings`` default to the environment's (:func:`ledger.settings.load_settings`)."""
    with Registry(settings if settings is not None else load_settings()) as registry:
        choice, chain, _, _ = _choose(registry.reader, spec, at)
    return choice, chain


def _texts(candidate: Candidate) -> list[str]:
    """The texts of a candidate that the scan looks for: title and alt text in every language,
    and the file name (its last part and that part's stem, as :meth:`Secret.file_name`)."""
    texts: list[str] = []
    if candidate.description is not None:
        for field in ("title", "alt_text"):
            texts += [entry.text for entry in getattr(candidate.description, field)]
    if candidate.file_name:
        texts += [s.value for s in Secret.file_name("", candidate.file_name)
                  if isinstance(s.value, str)]  # fmt: skip
    return texts


def secrets_of(excluded: Sequence[Candidate], shown: Sequence[Candidate] = ()) -> list[Secret]:
    """Everything of the ``excluded`` candidates that the site must not hold: CID, item key,
    title and alt text in every language, file name. A sealed candidate has only its CID and
    key: nothing else of it is read. A text that a ``shown`` item carries as its own (two
    items titled "Untitled", two masters named ``IMG_0001.jpg``) is not searched: the site
    shows it for the shown item, and it tells nothing of the excluded one. Texts are compared
    as the scan compares them (:func:`exhibits.scan.text_key`: any case, any Unicode
    normalisation), so "UNTITLED" shown exempts "Untitled" excluded."""
    public = {text_key(text) for candidate in shown for text in _texts(candidate)}
    secrets: list[Secret] = []
    for number, candidate in enumerate(excluded, 1):
        label = f"excluded item {number} ({candidate.item_id})"
        secrets += [Secret.cid(label, candidate.cid), Secret.key(label, candidate.key)]
        for text in dict.fromkeys(_texts(candidate)):
            if text_key(text) not in public:
                secrets.append(Secret.text(label, text))
    return secrets


def check_master(candidate: Candidate, data: bytes) -> None:
    """Raise unless ``data`` gives the candidate's registered CID, imported with the settings
    it was registered with (its metadata's ``import``; CIDv1 raw leaves defaults)."""
    settings = candidate.import_settings or {}
    chunk = settings.get("chunk_size")
    raw = settings.get("raw_leaves")
    options = ImportOptions(
        cid_version=candidate.cid.version,
        raw_leaves=raw if isinstance(raw, bool) else None,
        chunk_size=chunk if isinstance(chunk, int) and not isinstance(chunk, bool) else 262144,
    )
    got = import_bytes(data, options).cid
    if bytes(got) != bytes(candidate.cid):
        raise IpfsError(
            f"item {candidate.item_id}: the bytes the IPFS node returned give CID {got}, not "
            f"the registered {candidate.cid}; nothing was built",
            hint="run `heritage ipfs verify`, then restore the item from a good copy",
        )


def _fetch(registry: Registry, candidate: Candidate, *, as_of: bool) -> bytes:
    """The master of a shown item from the IPFS node (its blocks re-hashed as they are read)."""
    try:
        return b"".join(registry.node.cat(str(candidate.cid)))
    except BlockNotFound:
        since = (
            " (a build as of --at shows items as they stood then: this one's plaintext may "
            "have been withdrawn from the node since, when its terms were revoked or restricted)"
            if as_of
            else ""
        )
        raise NotFound(
            f"item {candidate.item_id}: its master {candidate.cid} is not on this IPFS node"
            + since,
            hint="import it (e.g. from a CAR file) from a node that has it, or build without it",
        ) from None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out(out: Path, settings: Settings) -> Path:
    """The output folder, absolute, once it is safe to replace: not the data directory, not
    inside it or around it, not a symbolic link or a file, and empty or an earlier build."""
    site = Path(os.path.abspath(out))
    real = site.resolve()
    data = settings.data_dir.resolve()
    if _inside(real, data) or _inside(data, real):
        raise UsageError(
            f"the exhibit folder {site} is the data directory {data}, or inside or around it",
            hint="build the site in a folder of its own, outside the data directory",
        )
    if site.is_symlink() or (site.exists() and not site.is_dir()):
        raise UsageError(
            f"{site} exists and is not a folder", hint="give a new folder or an earlier build"
        )
    if site.is_dir() and any(site.iterdir()) and not (site / MARKER).is_file():
        raise UsageError(
            f"{site} is not empty and is not a site built by `heritage exhibit build`: it is "
            "not replaced",
            hint="give a new or empty folder (a build replaces only its own earlier output)",
        )
    return site


def _replace(new: Path, site: Path) -> None:
    """Put the finished folder ``new`` in place of ``site`` (renames on one file system)."""
    if not site.exists():
        os.rename(new, site)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".old", dir=site.parent))
    os.rename(site, old / "site")
    os.rename(new, site)
    shutil.rmtree(old, ignore_errors=True)


def _default_render() -> Render:
    from exhibits.site.render import render_site

    return render_site


def _with_model_choices(
    settings: DeriveSettings, models: ModelChoices, candidate: Candidate
) -> DeriveSettings:
    """``settings`` with what the spec's ``[models]`` says of this item (its own entry, by
    key or CID, over the exhibit-wide values) laid over its model settings."""
    choices = models.for_item("0x" + candidate.key.hex(), str(candidate.cid))
    given = {
        name: value
        for name, value in (
            ("face_budget", choices.face_budget),
            ("decimate", choices.decimate),
            ("max_texture_px", choices.max_texture_px),
        )
        if value is not None
    }
    if not given:
        return settings
    from exhibits.derive.models import ModelSettings

    model = dataclasses.replace(settings.model or ModelSettings(), **given)
    return dataclasses.replace(settings, model=model)


def _named_by_claim(files: ItemFiles, candidate: Candidate) -> ItemFiles:
    """``files`` with each derivation record naming its master by the CID the item is
    registered under. Derivers name a master by its bytes' CIDv1 (raw leaves, 256 KiB chunks:
    their cache's key); an item registered with other import settings (CIDv0, another chunk
    size) has another CID for the same bytes, which :func:`check_master` has just proved."""
    if all(record.master_cid == candidate.cid for record in files.records):
        return files
    records = tuple(
        dataclasses.replace(record, master_cid=candidate.cid) for record in files.records
    )
    return dataclasses.replace(files, records=records)


def _exhibited(
    registry: Registry,
    choice: Choice,
    cache: DerivationCache,
    memo: FilesMemo | None,
    derive_settings: DeriveSettings | None,
    *,
    as_of: bool,
    tick: Progress,
    models: ModelChoices,
) -> tuple[list[Exhibited], int]:
    """Each shown item with its derived files, and how many masters were fetched: an item
    whose derivation the memo knows is read from the cache without its master."""
    exhibited: list[Exhibited] = []
    fetched = 0
    total = len(choice.shown)
    resolved = derive_settings or DeriveSettings()
    for done, shown in enumerate(choice.shown):
        tick("deriving", done, total)
        candidate = shown.candidate
        kind = kind_of(candidate.media_type, candidate.file_name)
        item_settings = (
            _with_model_choices(resolved, models, candidate) if kind == "model" else resolved
        )
        settings_key = None if memo is None else settings_json(kind, item_settings)
        files = None
        if memo is not None and settings_key is not None:
            files = memo.load(candidate, kind, settings_key, cache)
        if files is None:
            master = _fetch(registry, candidate, as_of=as_of)
            fetched += 1
            check_master(candidate, master)
            files = _named_by_claim(
                derive_item(
                    kind, master, candidate.file_name, candidate.media_type, cache, item_settings
                ),
                candidate,
            )
            if memo is not None and settings_key is not None:
                memo.store(candidate, kind, settings_key, files)
        exhibited.append(Exhibited(shown, files))
    tick("deriving", total, total)
    return exhibited, fetched


def _site_files(
    spec: ExhibitSpec,
    choice: Choice,
    exhibited: Sequence[Exhibited],
    chain: ChainRef,
    built_at: datetime,
    vendored: Mapping[str, bytes],
    hashes: Hashes,
) -> dict[str, bytes]:
    """Every file :func:`exhibits.site.render.render_site` writes (its pages and data, and
    the vendored assets), by path, and the marker: what a synced rebuild writes. ``hashes``:
    the CIDs of derived files this build has computed (proofs.json needs them again)."""
    from exhibits.proofs import proofs_document
    from exhibits.site.render import site_files

    proofs = functools.partial(proofs_document, hashes=hashes)
    files = site_files(spec, choice.rooms, exhibited, chain, built_at=built_at, proofs=proofs)
    files.update(vendored)  # what copy_assets writes
    files[MARKER] = _MARKER_TEXT.encode("utf-8")
    return files


def _vendored(*, required: bool) -> dict[str, bytes]:
    """The vendored assets every site holds (the leak scan checks them for ids only); with a
    renderer of the caller's, none when they cannot be found (then every file is searched for
    everything)."""
    from exhibits.site.assets import asset_files

    try:
        return asset_files()
    except HeritageError:
        if required:
            raise
        return {}


def _render_and_scan(
    renderer: Render,
    spec: ExhibitSpec,
    choice: Choice,
    exhibited: Sequence[Exhibited],
    chain: ChainRef,
    site: Path,
    built_at: datetime,
    secrets: list[Secret],
    memo: ScanMemo | None,
    tick: Progress,
    lap: Callable[[str], None],
) -> int:
    """Render into a new folder beside ``site``, scan it, put it in place (a custom renderer,
    or a build without caches); returns how many files were scanned (-1: all)."""
    building = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".building", dir=site.parent))
    try:
        tick("rendering", 0, 1)
        renderer(spec, choice.rooms, exhibited, chain, building, built_at=built_at)
        tick("rendering", 1, 1)
        (building / MARKER).write_text(_MARKER_TEXT, "utf-8")
        lap("render")
        tick("scanning", 0, 1)
        scanned = scan_new(building, secrets, memo, fixed=_vendored(required=False))
        tick("scanning", 1, 1)
        lap("scan")
        _replace(building, site)
        lap("replace")
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(building)
        raise
    return scanned


def build_exhibit(
    spec: ExhibitSpec,
    out: Path,
    *,
    settings: Settings,
    at: datetime | None = None,
    report_path: Path | None = None,
    progress: Progress | None = None,
    render: Render | None = None,
    derive_settings: DeriveSettings | None = None,
    caches: bool = True,
) -> BuildResult:
    """Build the site of ``spec`` in ``out`` as of ``at`` (aware; default now), replacing an
    earlier build there; write the report to ``report_path`` (default ``<out>.report.json``
    beside it). ``render`` defaults to :func:`exhibits.site.render.render_site`.

    ``caches`` (default on): what a rebuild need not do again is kept under
    ``<data dir>/exhibit-cache`` (:mod:`exhibits.gather_cache`: claims nothing happened to;
    :mod:`exhibits.build_cache`: which derivation an item got, which files were scanned clean
    against the same secrets). Derivations are cached under ``<data dir>/derived`` always."""
    if at is not None and at.tzinfo is None:
        raise UsageError("--at has no time zone", hint="add one, e.g. 2026-12-01T00:00:00Z")
    built_at = build_moment(at)
    site = check_out(out, settings)
    report_file = report_path_for(site, report_path)
    tick = progress or (lambda _stage, _done, _total: None)
    renderer = render if render is not None else _default_render()
    cache = DerivationCache(settings.data_dir / "derived")
    kept = settings.data_dir / "exhibit-cache"
    memo = FilesMemo(kept / "items") if caches else None
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 4)
        clock = now

    with Registry(settings) as registry:
        lap("open")
        tick("gathering", 0, 1)
        choice, chain, moment, recalled = _choose(
            registry.reader, spec, at, kept / "gather" if caches else None
        )
        tick("gathering", 1, 1)
        lap("gather")
        exhibited, fetched = _exhibited(
            registry,
            choice,
            cache,
            memo,
            derive_settings,
            as_of=at is not None,
            tick=tick,
            models=spec.models,
        )
        lap("derive")
    site.parent.mkdir(parents=True, exist_ok=True)
    secrets = secrets_of(
        [e.candidate for e in choice.excluded], [s.candidate for s in choice.shown]
    )
    if render is None and caches:
        tick("rendering", 0, 1)
        vendored = _vendored(required=True)
        files = _site_files(spec, choice, exhibited, chain, built_at, vendored, cache.hashes)
        synced = write_synced(site, files, kept / "sites", cache.hashes)
        tick("rendering", 1, 1)
        lap("render")
        tick("scanning", 0, 1)
        try:
            scanned = scan_new(
                synced.folder, secrets, ScanMemo(kept / "scan", secrets), synced.digests,
                fixed=vendored, hashes=cache.hashes,
            )  # fmt: skip
        except BaseException:
            discard(synced, site, kept / "sites")
            raise
        tick("scanning", 1, 1)
        lap("scan")
        swap(site, synced, kept / "sites")
        lap("replace")
    else:
        scanned = _render_and_scan(
            renderer, spec, choice, exhibited, chain, site, built_at, secrets,
            ScanMemo(kept / "scan", secrets) if caches else None, tick, lap,
        )  # fmt: skip
        forget(site, kept / "sites")  # a copy of the site it replaced would be out of date
    report = build_report(
        spec, choice, chain, built_at=built_at, at=moment, previous=read_previous(report_file)
    )
    write_report(report_file, report)
    lap("report")
    return BuildResult(
        out=site,
        report_path=report_file,
        choice=choice,
        chain=chain,
        built_at=built_at,
        at=moment,
        report=report,
        derived=cache.stats.misses,
        reused=cache.stats.hits + (memo.stats.hits if memo is not None else 0),
        fetched=fetched,
        recalled=recalled,
        scanned=scanned,
        timings=timings,
    )
