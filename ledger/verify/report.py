"""Verdicts: a file, a CID, a bag or a proofs file → one plainly worded :class:`Report`.

Exit statuses (the CLI's, also in every JSON report as ``exit_code``)::

    0   verified
    10  verified, but the keyholder set that signed has changed since
    11  revoked
    12  tampered: the bytes do not give the expected CID
    13  unknown (nothing else is said about an unknown item)
    14  signature failure

Content is hashed once: with the import settings the item's metadata records when the item
is known first, else with the registration default (CIDv1, raw leaves), falling back to
Kubo's CIDv0 default only when the first CID is not registered.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from ledger.chain import content_key
from ledger.errors import EvidenceInvalid, NotFound, UsageError
from ledger.index import EventIndex
from ledger.ipfs.cid import DAG_PB, Cid
from ledger.ipfs.unixfs import ImportOptions, import_file
from ledger.registration import DEFAULT_IMPORT, Registrar
from ledger.verify.evidence import Assessment, Evidence, assess
from ledger.verify.gather import ChainView, Gathered, gather_on, open_chain, open_chain_begin
from local_chain.deploy import chain_errors

__all__ = [
    "ContentCheck",
    "Report",
    "Status",
    "compute_cid",
    "import_options",
    "report_for",
    "verify_offline",
    "verify_online",
]

_KUBO_DEFAULT: Final = ImportOptions(cid_version=0)

#: A bare file is hashed in a second thread while this one asks for the chain's head and
#: syncs the index, unless the chain is near (:func:`_nearby`: this process's last head
#: request came back sooner than this, or, before any, the RPC URL is a loopback address).
#: For a near chain the head request is sent, the file hashed in this thread and the answer
#: read afterwards, since a second thread and its GIL hand-offs with the hashing workers
#: cost more than they hide (bench/verify.py); a remote chain, whose index sync may take
#: long, uses the thread.
OVERLAP_ABOVE_SECONDS: Final = 0.002
_T = TypeVar("_T")
_U = TypeVar("_U")


class Status(enum.Enum):
    VERIFIED = "verified"
    KEYHOLDERS_CHANGED = "keyholders-changed"
    REVOKED = "revoked"
    TAMPERED = "tampered"
    UNKNOWN = "unknown"
    SIGNATURE_FAILURE = "signature-failure"

    @property
    def exit_code(self) -> int:
        return _EXIT[self]


_EXIT: Final = {
    Status.VERIFIED: 0,
    Status.KEYHOLDERS_CHANGED: 10,
    Status.REVOKED: 11,
    Status.TAMPERED: 12,
    Status.UNKNOWN: 13,
    Status.SIGNATURE_FAILURE: 14,
}


@dataclass(frozen=True, slots=True)
class ContentCheck:
    """The bytes checked against the CID they should give."""

    path: str
    computed_cid: str
    expected_cid: str
    expected_from: str  # "--expect", "chain", "proofs", "bag"
    matches: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "computed_cid": self.computed_cid,
            "expected_cid": self.expected_cid,
            "expected_from": self.expected_from,
            "matches": self.matches,
        }


@dataclass(frozen=True, slots=True)
class Report:
    status: Status
    source: str  # "chain", "proofs" or "bag"
    content: ContentCheck | None = None
    assessment: Assessment | None = None
    problems: tuple[str, ...] = ()
    snapshot_block: int | None = None

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def summary(self) -> str:
        """The verdict in plain words."""
        if self.status is Status.UNKNOWN:
            return "unknown"
        a = self.assessment
        if self.status is Status.TAMPERED and self.content is not None:
            return (
                f"tampered: {self.content.path} gives CID {self.content.computed_cid}, not the "
                f"expected {self.content.expected_cid} (from {self.content.expected_from})"
            )
        assert a is not None
        what = {"item": "an item", "derivative": "a derivative", "batch-item": "an item of a batch"}
        text = f"{a.cid} is registered as {what.get(a.kind, a.kind)} by community {_h(a.community)}"
        if a.steward != a.community:
            text += f", now stewarded by {_h(a.steward)}"
        if a.parent is not None:
            ai = "an AI-enhanced " if a.ai_enhanced else "a "
            text += f"; it is {ai}derivative of {a.parent.cid}"
            origin = a.parent
            while origin.parent is not None:
                origin = origin.parent
            if origin is not a.parent:
                text += f" (original: {origin.cid})"
        if a.encrypted:
            text += "; the registered bytes are ciphertext of a committed plaintext"
        if self.status is Status.SIGNATURE_FAILURE:
            return "signature failure: " + "; ".join(self.problems)
        terms = f"terms version {a.terms_version} ({a.terms_cid})"
        if self.status is Status.REVOKED:
            return f"revoked: {text}; its {terms} are revoked, nothing may be shown under them"
        signed = (
            f"{terms} signed by {len(a.signed_by)} of the {len(a.signing_set.keyholders)} "
            f"keyholders ({a.signing_set.threshold} required)"
        )
        if self.status is Status.KEYHOLDERS_CHANGED:
            return (
                f"verified, but the keyholders have changed since signing: {text}; {signed}, a "
                f"set replaced in block {a.current_set.event.block_number}"
            )
        checked = " and the bytes match" if self.content is not None else ""
        return f"verified: {text}; {signed}; not revoked{checked}"

    def to_json(self) -> dict[str, Any]:
        unknown = self.status is Status.UNKNOWN
        return {
            "type": "heritage/verify-report",
            "version": 1,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "source": self.source,
            "snapshot_block": None if unknown else self.snapshot_block,
            "content": None if unknown or self.content is None else self.content.to_json(),
            "item": None if unknown or self.assessment is None else _item(self.assessment),
            "problems": [] if unknown else list(self.problems),
        }


def _h(value: bytes) -> str:
    return "0x" + value.hex()


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(a: Assessment, depth: int = 0) -> dict[str, Any]:
    reg = a.events[0]
    out: dict[str, Any] = {
        "item": _h(a.key),
        "cid": a.cid,
        "kind": a.kind,
        "community": _h(a.community),
        "steward": _h(a.steward),
        "registered": {
            "block_number": reg.block_number,
            "block_hash": _h(reg.block_hash),
            "timestamp": reg.timestamp,
            "time": _when(reg.timestamp),
            "tx_hash": _h(reg.tx_hash),
            "registrant": a.record.registrant,
        },
        "terms": {"cid": a.terms_cid, "version": a.terms_version, "revoked": a.revoked},
        "encrypted": a.encrypted,
        "signatures": {
            "signers": list(a.signed_by),
            "keyholders": list(a.signing_set.keyholders),
            "threshold": a.signing_set.threshold,
            "set_in_block": a.signing_set.event.block_number,
            "current_keyholders": list(a.current_set.keyholders),
            "current_threshold": a.current_set.threshold,
            "keyholders_changed": a.keyholders_changed,
        },
        "custody": [c.to_json() for c in a.custody],
        "batch": None if a.batch_root is None else {"root": _h(a.batch_root)},
        "history": [
            {
                "event": e.event,
                "block_number": e.block_number,
                "time": _when(e.timestamp),
                "tx_hash": _h(e.tx_hash),
            }
            for e in a.events
        ],
        "derivation": None,
    }
    if a.parent is not None:
        out["derivation"] = {
            "ai_enhanced": bool(a.ai_enhanced),
            "method_cid": a.method_cid,
            "parent": _item(a.parent, depth + 1),
        }
    return out


# ---- content ---------------------------------------------------------------------------------


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
        return _KUBO_DEFAULT
    return ImportOptions(cid_version=1, raw_leaves=cid.codec != DAG_PB or None)


def compute_cid(path: Path, options: ImportOptions) -> Cid:
    """The CID of the file at ``path`` with ``options`` (hash only: nothing is stored)."""
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file", hint="verify one file at a time")
    return import_file(path, options).cid


def _cid_settings(options: ImportOptions) -> tuple[int, bool, int]:
    """What of ``options`` decides a file's CID (not the worker count; leaves resolved)."""
    return options.cid_version, options.leaves_raw, options.chunk_size


def _same_content(a: Cid, b: Cid) -> bool:
    """Equal CIDs, or the CIDv0 and CIDv1 names of one dag-pb root."""
    return a.codec == b.codec and a.multihash == b.multihash


# ---- verdicts --------------------------------------------------------------------------------


def report_for(
    evidence: Evidence,
    key: bytes,
    source: str,
    content: ContentCheck | None = None,
    assessed: tuple[Assessment, tuple[str, ...]] | None = None,
) -> Report:
    """The verdict on item ``key`` from ``evidence`` (and the content check, if any);
    ``assessed``: :func:`assess`'s answer for ``key`` when the caller already has it."""
    assessment, problems = assessed if assessed is not None else assess(evidence, key)
    if content is not None and not content.matches:
        status = Status.TAMPERED
    elif problems:
        status = Status.SIGNATURE_FAILURE
    elif assessment.revoked:
        status = Status.REVOKED
    elif assessment.keyholders_changed:
        status = Status.KEYHOLDERS_CHANGED
    else:
        status = Status.VERIFIED
    return Report(status, source, content, assessment, problems, evidence.snapshot_block)


def _unknown(source: str) -> Report:
    return Report(Status.UNKNOWN, source)


def verify_online(
    registrar: Registrar,
    target: str,
    *,
    expect: str | None = None,
    chunk_size: int | None = None,
) -> Report:
    """Verify a file (a path) or a CID against the chain.

    A bare file is hashed with the registration default (CIDv1, raw leaves), then Kubo's
    (CIDv0) when the first CID is not registered, with 256 KiB chunks or ``chunk_size``.

    A file is hashed in a second thread while this one does the chain work that does not
    need its CID: the index sync and the snapshot (:func:`open_chain`) for a bare file, the
    whole gathering with ``expect``. An error there is raised once the hashing has finished,
    never lost."""
    path = Path(target)
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} is not a regular file", hint="verify one file at a time")
    if expect is not None and not path.exists():
        raise UsageError("--expect checks a file's bytes; pass the file, not a CID")
    if chunk_size is not None and (expect is not None or not path.exists()):
        raise UsageError(
            "--chunk-size is for a bare file: with --expect the item's recorded settings are "
            "used, and a CID is not hashed"
        )
    tries = (
        (DEFAULT_IMPORT, _KUBO_DEFAULT)
        if chunk_size is None
        else (
            ImportOptions(cid_version=1, chunk_size=chunk_size),
            ImportOptions(cid_version=0, chunk_size=chunk_size),
        )
    )
    with ExitStack() as stack:

        def index_here() -> EventIndex:
            # Opened by the thread that uses it: a SQLite connection belongs to one thread.
            return stack.enter_context(registrar.event_index(sync=False))

        def opened() -> tuple[EventIndex, ChainView]:
            index = index_here()
            return index, open_chain(registrar, index)

        if not path.exists():
            index, view = opened()
            try:
                gathered = gather_on(registrar, index, view, [target])
            except NotFound:
                return _unknown("chain")
            return _checked_on_chain(registrar, gathered, gathered.evidence.items[0].key, None)
        if expect is not None:
            return _verify_expected(registrar, opened, path, Cid.parse(expect), expect)
        return _verify_file(registrar, index_here, opened, path, tries)
    raise AssertionError("unreachable")  # every branch above returns or raises


def _nearby(registrar: Registrar) -> bool:
    """Whether the chain answers quickly: this process's last head request took less than
    :data:`OVERLAP_ABOVE_SECONDS`, or, before any, its RPC URL names this machine."""
    last = registrar.client.head_seconds
    if last is not None:
        return last < OVERLAP_ABOVE_SECONDS
    host = urlsplit(registrar.settings.rpc_url).hostname or ""
    return host == "localhost" or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _verify_file(
    registrar: Registrar,
    index_here: Callable[[], EventIndex],
    opened: Callable[[], tuple[EventIndex, ChainView]],
    path: Path,
    tries: tuple[ImportOptions, ...],
) -> Report:
    """A bare file: hashed with the first of ``tries`` while the index syncs (unless the
    chain is close by, see :data:`OVERLAP_ABOVE_SECONDS`), then with each other until a CID
    is registered."""
    if _nearby(registrar):
        # The head request goes out, this thread hashes, and the answer waits in the socket.
        index = index_here()
        view_later = open_chain_begin(registrar, index)
        computed = compute_cid(path, tries[0])
        view = view_later()
    else:
        (index, view), computed = _alongside(opened, lambda: compute_cid(path, tries[0]))
    for options in tries:
        if options is not tries[0]:
            computed = compute_cid(path, options)
        try:
            gathered = gather_on(registrar, index, view, [str(computed)])
        except NotFound:
            continue
        item = gathered.evidence.items[0]
        content = ContentCheck(
            str(path),
            str(computed),
            item.cid,
            "chain",
            _same_content(computed, Cid.parse(item.cid)),
        )
        return _checked_on_chain(registrar, gathered, item.key, content)
    return _unknown("chain")


def _verify_expected(
    registrar: Registrar,
    opened: Callable[[], tuple[EventIndex, ChainView]],
    path: Path,
    expected: Cid,
    expect: str,
) -> Report:
    """``verify FILE --expect CID``: the evidence about CID is gathered while the file is
    hashed with the settings CID implies; hashed again only when the item's metadata records
    other settings (another chunk size)."""

    def gathered_or_none() -> Gathered | None:
        index, view = opened()
        try:
            return gather_on(registrar, index, view, [expect])
        except NotFound:
            return None

    guess = import_options(None, expected)
    gathered, computed = _alongside(gathered_or_none, lambda: compute_cid(path, guess))
    if gathered is None:
        return _unknown("chain")
    item = gathered.evidence.items[0]
    assessed = assess(gathered.evidence, item.key)
    options = import_options(assessed[0].metadata, Cid.parse(item.cid))
    if _cid_settings(options) != _cid_settings(guess):
        computed = compute_cid(path, options)
    content = ContentCheck(
        str(path), str(computed), str(expected), "--expect", _same_content(computed, expected)
    )
    return _checked_on_chain(registrar, gathered, item.key, content, assessed)


def _alongside(chain: Callable[[], _T], hashing: Callable[[], _U]) -> tuple[_T, _U]:
    """Run ``hashing`` in a second thread while ``chain`` runs in this one (the event index's
    SQLite connection belongs to this thread); both results. Both have finished when this
    returns or raises: ``chain``'s error first (the hashing's, if any, as a note on it), else
    the hashing's."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="heritage-hash") as pool:
        pending = pool.submit(hashing)
        try:
            result = chain()
        except BaseException as exc:
            failure = pending.exception()  # waits: nothing is left running
            if failure is not None:
                exc.add_note(f"hashing the file failed too: {failure}")
            raise
        return result, pending.result()


def _checked_on_chain(
    registrar: Registrar,
    gathered: Gathered,
    key: bytes,
    content: ContentCheck | None,
    assessed: tuple[Assessment, tuple[str, ...]] | None = None,
) -> Report:
    evidence = gathered.evidence
    report = report_for(evidence, key, "chain", content, assessed)
    assert report.assessment is not None
    a = report.assessment
    # The evidence came through the index; the registry's own stored digest (at the snapshot
    # block, read with the evidence when the key was foreseen) has the last word.
    stored = gathered.stored().get(a.record_key)
    if stored is None:
        with chain_errors(registrar.settings.rpc_url):
            reads = registrar.client.read_many([a.record_key], [], block=evidence.snapshot_block)
        stored = reads.records[a.record_key]
    if stored != a.record.digest():
        raise EvidenceInvalid(
            f"the event index's record of {a.cid} is not the one the registry stores",
            hint="run `heritage index rebuild`",
        )
    return report


def verify_offline(
    evidence: Evidence,
    *,
    path: Path | None = None,
    cid: str | None = None,
    expect: str | None = None,
    source: str = "proofs",
) -> Report:
    """Verify a file and/or a CID against evidence alone (no chain, no network)."""
    if path is None:
        if cid is None:
            raise UsageError("give a file or a CID to verify against the proofs")
        key = _key_in(evidence, cid)
        return _unknown(source) if key is None else report_for(evidence, key, source)
    if expect is not None or cid is not None:
        wanted = expect if expect is not None else cid
        assert wanted is not None
        key = _key_in(evidence, wanted)
        if key is None:
            return _unknown(source)
        item = evidence.item(key)
        assert item is not None
        assessed = assess(evidence, key)
        computed = compute_cid(path, import_options(assessed[0].metadata, Cid.parse(item.cid)))
        expected = Cid.parse(item.cid if wanted.startswith(("0x", "0X")) else wanted)
        frm = "--expect" if expect is not None else source
        content = ContentCheck(
            str(path), str(computed), str(expected), frm, _same_content(computed, expected)
        )
        return report_for(evidence, key, source, content, assessed)
    # A bare file: try each item's settings, the registration default first, hashing once per
    # distinct setting.
    by_options: dict[ImportOptions, list[bytes]] = {}
    answers: dict[bytes, tuple[Assessment, tuple[str, ...]]] = {}
    for item in evidence.items:
        answers[item.key] = assess(evidence, item.key)
        options = import_options(answers[item.key][0].metadata, Cid.parse(item.cid))
        by_options.setdefault(options, []).append(item.key)
    ordered = sorted(by_options, key=lambda o: o != DEFAULT_IMPORT)
    computed_first: Cid | None = None
    for options in ordered:
        computed = compute_cid(path, options)
        computed_first = computed_first or computed
        for key in by_options[options]:
            item = evidence.item(key)
            assert item is not None
            if _same_content(computed, Cid.parse(item.cid)):
                content = ContentCheck(str(path), str(computed), item.cid, source, True)
                return report_for(evidence, key, source, content, answers[key])
    first = evidence.items[0]
    assert computed_first is not None
    content = ContentCheck(str(path), str(computed_first), first.cid, source, False)
    return report_for(evidence, first.key, source, content, answers[first.key])


def _key_in(evidence: Evidence, text: str) -> bytes | None:
    """The key of the item ``text`` (CID of either version, or 0x key) in the evidence."""
    if text.startswith(("0x", "0X")):
        try:
            key = bytes.fromhex(text[2:])
        except ValueError:
            raise UsageError(f"{text!r} is not a 0x item key or a CID") from None
        return key if evidence.item(key) is not None else None
    cid = Cid.parse(text)  # InvalidCid (a usage error) for anything else
    for item in evidence.items:
        if _same_content(cid, Cid.parse(item.cid)) or content_key(bytes(cid)) == item.key:
            return item.key
    return None
