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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from ledger import strict_json
from ledger.chain import chain_errors
from ledger.crypto import EncryptionKeyPair
from ledger.documents import DEFAULT_IMPORT, community_salt, parse_community_id
from ledger.errors import EvidenceInvalid, HeritageError, NotFound, UsageError
from ledger.index import EventIndex
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.verify.assess import Assessment, CheckCache, assess
from ledger.verify.content import (
    KUBO_DEFAULT,
    ContentCheck,
    cid_settings,
    compute_cid,
    import_options,
    same_content,
)
from ledger.verify.evidence import Evidence
from ledger.verify.gather import (
    ChainView,
    ClaimReader,
    Gathered,
    gather_on,
    open_chain,
    open_chain_begin,
)
from ledger.verify.sealed import SealedReader, verify_sealed

__all__ = [
    "Claim",
    "Report",
    "Status",
    "community_in",
    "community_names",
    "judge",
    "names_an_item",
    "report_for",
    "verify_offline",
    "verify_online",
]

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
    #: Two or more communities claim the content and no --community said whose to judge.
    DISPUTED = "disputed"
    #: A derivative whose parent (or an earlier ancestor) claim has revoked terms.
    PARENT_REVOKED = "parent-revoked"
    #: Claims exist, but none stewarded by the community the verifier named (exit 13).
    NO_CLAIM = "no-claim"

    @property
    def exit_code(self) -> int:
        return _EXIT[self]


_EXIT: Final = {
    Status.VERIFIED: 0,
    Status.KEYHOLDERS_CHANGED: 10,
    Status.REVOKED: 11,
    Status.TAMPERED: 12,
    Status.UNKNOWN: 13,
    Status.NO_CLAIM: 13,
    Status.SIGNATURE_FAILURE: 14,
    Status.DISPUTED: 15,
    Status.PARENT_REVOKED: 16,
}


@dataclass(frozen=True, slots=True)
class Claim:
    """One community's claim on the content, assessed: its own verdict (bytes aside)."""

    assessment: Assessment
    problems: tuple[str, ...]
    status: Status

    @classmethod
    def of(cls, assessment: Assessment, problems: tuple[str, ...]) -> Claim:
        return cls(assessment, problems, _claim_status(assessment, problems))

    @property
    def key(self) -> bytes:
        return self.assessment.key


def _claim_status(a: Assessment, problems: tuple[str, ...]) -> Status:
    if problems:
        return Status.SIGNATURE_FAILURE
    if a.revoked:
        return Status.REVOKED
    if a.ancestor_revoked is not None:
        return Status.PARENT_REVOKED
    if a.keyholders_changed:
        return Status.KEYHOLDERS_CHANGED
    return Status.VERIFIED


@dataclass(frozen=True, slots=True)
class Report:
    status: Status
    source: str  # "chain", "proofs" or "bag"
    content: ContentCheck | None = None
    assessment: Assessment | None = None  # the claim the verdict is about
    problems: tuple[str, ...] = ()
    snapshot_block: int | None = None
    claims: tuple[Claim, ...] = ()  # every claim found on the content, in chain order
    expected: tuple[bytes, ...] = ()  # the communities the verifier named (--community)
    names: Mapping[bytes, str] = field(default_factory=dict)  # community → its name

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    @property
    def other_claims(self) -> tuple[Claim, ...]:
        """The claims the verdict is not about (every one, for a dispute)."""
        subject = None if self.assessment is None else self.assessment.key
        return tuple(c for c in self.claims if c.key != subject)

    def _who(self, community: bytes) -> str:
        name = self.names.get(community)
        return _h(community) + (f" ({name})" if name else "")

    def _listed(self, claims: tuple[Claim, ...]) -> str:
        return "; ".join(
            f"{c.assessment.kind} by {self._who(c.assessment.community)}"
            + (
                f" (stewarded by {self._who(c.assessment.steward)})"
                if c.assessment.steward != c.assessment.community
                else ""
            )
            + f" in block {c.assessment.events[0].block_number}, {c.status.value}"
            for c in claims
        )

    def claim_lines(self) -> list[str]:
        """One line per claim found, in chain order, the one the verdict is about marked."""
        subject = None if self.assessment is None else self.assessment.key
        lines = []
        for claim in self.claims:
            a = claim.assessment
            line = (
                f"claim {'*' if a.key == subject else '-'} {_h(a.key)}: {a.kind} by "
                f"{self._who(a.community)}, block {a.events[0].block_number}, terms version "
                f"{a.terms_version} ({a.terms_cid}){' revoked' if a.revoked else ''}, steward "
                f"{self._who(a.steward)}: {claim.status.value}"
            )
            if a.parent is not None:
                line += f"; derivative of claim {_h(a.parent.key)}"
            lines.append(line)
        return lines

    def summary(self) -> str:
        """The verdict in plain words."""
        if self.status is Status.UNKNOWN:
            return "unknown"
        if self.status is Status.TAMPERED and self.content is not None:
            return (
                f"tampered: {self.content.path} gives CID {self.content.computed_cid}, not the "
                f"expected {self.content.expected_cid} (from {self.content.expected_from})"
            )
        if self.status is Status.DISPUTED:
            claimants = list(dict.fromkeys(c.assessment.community for c in self.claims))
            first = self.claims[0].assessment
            return (
                f"disputed: {first.cid} is claimed by {len(claimants)} communities, first by "
                f"{self._who(first.community)} in block {first.events[0].block_number}; "
                f"claims: {self._listed(self.claims)}; name the community you expect with "
                "--community"
            )
        if self.status is Status.NO_CLAIM:
            expected = ", ".join(self._who(c) for c in self.expected)
            return (
                f"no claim by {expected}: {self.claims[0].assessment.cid} is claimed only by "
                f"others: {self._listed(self.claims)}"
            )
        a = self.assessment
        assert a is not None
        what = {"item": "an item", "derivative": "a derivative", "batch-item": "an item of a batch"}
        text = (
            f"{a.cid} is registered as {what.get(a.kind, a.kind)} by community "
            f"{self._who(a.community)} (claim {_h(a.key)})"
        )
        if a.steward != a.community:
            text += f", now stewarded by {self._who(a.steward)}"
        if a.parent is not None:
            ai = "an AI-enhanced " if a.ai_enhanced else "a "
            text += f"; it is {ai}derivative of {a.parent.cid} (claim {_h(a.parent.key)} by "
            text += f"{self._who(a.parent.community)}"
            if a.parent_steward is not None:
                text += f", consented by its steward {self._who(a.parent_steward)}"
            text += f", method {a.method_cid})"
            origin = a.parent
            while origin.parent is not None:
                origin = origin.parent
            if origin is not a.parent:
                text += f" (original: {origin.cid})"
        if a.encrypted:
            text += "; the registered bytes are ciphertext of a committed plaintext"
        others = self.other_claims
        if others:
            text += f"; {len(others)} other claim(s) on these bytes: {self._listed(others)}"
        if self.status is Status.SIGNATURE_FAILURE:
            return "signature failure: " + "; ".join(self.problems)
        terms = f"terms version {a.terms_version} ({a.terms_cid})"
        if self.status is Status.REVOKED:
            return f"revoked: {text}; its {terms} are revoked, nothing may be shown under them"
        if self.status is Status.PARENT_REVOKED:
            gone = a.ancestor_revoked
            assert gone is not None
            return (
                f"parent revoked: {text}; the terms of its parent claim {_h(gone.key)} "
                f"({gone.cid}) are revoked, so the derivative may not be shown either"
            )
        signed = (
            f"{terms} signed by {len(a.signed_by)} of the {len(a.signing_set.keyholders)} "
            f"keyholders ({a.signing_set.threshold} required)"
        )
        if self.status is Status.KEYHOLDERS_CHANGED:
            return (
                f"verified, but the keyholders have changed since signing: {text}; {signed}, a "
                f"set replaced in block {a.current_set.event.block_number}"
            )
        checked = ""
        if self.content is not None:
            checked = (
                " and the plaintext matches the commitment on chain"
                if self.content.expected_from == "commitment"
                else " and the bytes match"
            )
        return f"verified: {text}; {signed}; not revoked{checked}"

    def to_json(self) -> dict[str, Any]:
        unknown = self.status is Status.UNKNOWN
        return {
            "type": "heritage/verify-report",
            "version": 2,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "source": self.source,
            "snapshot_block": None if unknown else self.snapshot_block,
            "content": None if unknown or self.content is None else self.content.to_json(),
            "item": None if unknown or self.assessment is None else _item(self.assessment),
            "claims": [] if unknown else [self._claim(c) for c in self.claims],
            "other_claims": [] if unknown else [self._claim(c) for c in self.other_claims],
            "expected_communities": [] if unknown else [_h(c) for c in self.expected],
            "problems": [] if unknown else list(self.problems),
        }

    def _claim(self, claim: Claim) -> dict[str, Any]:
        a = claim.assessment
        reg = a.events[0]
        parent = a.parent
        return {
            "item": _h(a.key),
            "cid": a.cid,
            "kind": a.kind,
            "community": _h(a.community),
            "community_name": self.names.get(a.community),
            "steward": _h(a.steward),
            "steward_name": self.names.get(a.steward),
            "block_number": reg.block_number,
            "log_index": reg.log_index,
            "tx_hash": _h(reg.tx_hash),
            "terms": {"cid": a.terms_cid, "version": a.terms_version, "revoked": a.revoked},
            "status": claim.status.value,
            "parent": None if parent is None else {
                "item": _h(parent.key),
                "cid": parent.cid,
                "community": _h(parent.community),
                "consented_by": None if a.parent_steward is None else _h(a.parent_steward),
                "revoked": parent.revoked,
            },
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
        "batch": None
        if a.batch_root is None
        else {"root": _h(a.batch_root), "batch": _h(a.record_key)},
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
            "parent_steward": None if a.parent_steward is None else _h(a.parent_steward),
            "parent_revoked": a.parent.revoked,
            "parent": _item(a.parent, depth + 1),
        }
    return out


def community_names(evidence: Evidence) -> dict[bytes, str]:
    """Each community's name, as its latest community document in the evidence gives it,
    kept only when it is the name the community was created with (its creation's salt is
    that name's, as ``heritage -c NAME`` resolves names). A name is not unique: anyone may
    create a community under any name with keys of their own, so reports print the id beside
    it."""
    names: dict[bytes, str] = {}
    for community, events in evidence.communities.items():
        if not events or events[0].event != "CommunityCreated":
            continue
        data = evidence.documents.get(str(Cid.from_digest(events[-1].fields["document"], RAW)))
        try:
            document = strict_json.loads(data) if data is not None else None
        except ValueError:
            continue
        name = document.get("name") if isinstance(document, dict) else None
        if (
            isinstance(name, str)
            and 0 < len(name) <= 200
            and name.isprintable()
            and community_salt(name) == events[0].fields["salt"]
        ):
            names[community] = name
    return names


def community_in(evidence: Evidence, text: str) -> bytes:
    """A community named on the command line, among those a proofs file holds: its 0x id,
    or a name, resolved as online (the community created with that name's salt; refused
    when several were)."""
    key = parse_community_id(text)
    if key is not None:
        return key
    salt = community_salt(text)
    found = [
        c
        for c, events in evidence.communities.items()
        if events and events[0].event == "CommunityCreated" and events[0].fields["salt"] == salt
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(
            f"no community named {text!r} in the proofs",
            hint="give the community's 0x id",
        )
    raise UsageError(
        f"{len(found)} communities in the proofs are named {text!r}: "
        + ", ".join("0x" + f.hex() for f in found),
        hint="give the 0x id of the one you mean",
    )


# ---- verdicts --------------------------------------------------------------------------------


#: ``content(assessment)``: the content check against the claim a verdict is about.
ContentFor = Callable[[Assessment], "ContentCheck | None"]
_Assessed = tuple[Assessment, tuple[str, ...]]


def judge(
    evidence: Evidence,
    keys: Sequence[bytes],
    source: str,
    content: ContentFor | None = None,
    *,
    expected: Sequence[bytes] = (),
    pick: bytes | None = None,
    assessed: Mapping[bytes, _Assessed] | None = None,
    cache: CheckCache | None = None,
) -> Report:
    """The verdict on the claims ``keys`` (every claim found on some content) from
    ``evidence``: about the claim ``pick`` when given; else about the claim that one of the
    ``expected`` communities stewards now (none: :attr:`Status.NO_CLAIM`); else, when one
    community makes every claim, about its claim, and when several do, :attr:`Status.DISPUTED`.
    Never silently one of several communities' claims. ``assessed``: :func:`assess`'s answers
    the caller already has; ``cache``: the checks made before (see :class:`CheckCache`)."""
    known = assessed or {}
    checks = CheckCache() if cache is None else cache
    claims = sorted(
        (Claim.of(*(known.get(k) or assess(evidence, k, checks))) for k in dict.fromkeys(keys)),
        key=lambda c: c.assessment.events[0].position,
    )
    names = community_names(evidence)

    def report(
        status: Status,
        about: Claim | None = None,
        check: ContentCheck | None = None,
    ) -> Report:
        return Report(
            status,
            source,
            check,
            None if about is None else about.assessment,
            () if about is None else about.problems,
            evidence.snapshot_block,
            tuple(claims),
            tuple(expected),
            names,
        )

    if not claims:
        return _unknown(source)
    if pick is not None:
        subjects = [c for c in claims if c.key == pick]
    elif expected:
        subjects = [c for c in claims if c.assessment.steward in expected]
    else:
        subjects = claims
    if not subjects:
        return report(Status.NO_CLAIM)
    # Whose claims these are: by steward when the verifier named whom it expects (a claim
    # moved to that community is its claim now), else by claimant.
    holders = {c.assessment.steward if expected else c.assessment.community for c in subjects}
    subject = subjects[0]
    check = content(subject.assessment) if content is not None else None
    if check is not None and not check.matches:
        # The bytes are not the claimed ones, whoever claims them.
        return report(Status.TAMPERED, subject if len(holders) == 1 else None, check)
    if len(holders) > 1:
        return report(Status.DISPUTED, check=check)
    return report(subject.status, subject, check)


def report_for(
    evidence: Evidence,
    key: bytes,
    source: str,
    content: ContentCheck | None = None,
    assessed: _Assessed | None = None,
    cache: CheckCache | None = None,
) -> Report:
    """The verdict on the one claim ``key`` from ``evidence`` (and the content check, if
    any); ``assessed``: :func:`assess`'s answer for ``key`` when the caller already has it."""
    return judge(
        evidence,
        [key],
        source,
        lambda _: content,
        pick=key,
        assessed=None if assessed is None else {key: assessed},
        cache=cache,
    )


def _unknown(source: str) -> Report:
    return Report(Status.UNKNOWN, source)


def verify_online(
    reader: SealedReader,
    target: str,
    *,
    expect: str | None = None,
    chunk_size: int | None = None,
    communities: Sequence[bytes] = (),
    holders: Sequence[tuple[str, EncryptionKeyPair]] = (),
    cache: CheckCache | None = None,
) -> Report:
    """Verify a file (a path) or a CID against the chain: every claim on the content, the
    verdict about the one stewarded by one of ``communities`` (see :func:`judge`).

    A bare file is hashed with the registration default (CIDv1, raw leaves), then Kubo's
    (CIDv0) when the first CID is not registered, with 256 KiB chunks or ``chunk_size``;
    when neither is, and ``holders`` (keyholders' opened encryption keys) are given, it is
    checked against the sealed items of their communities as a restricted original.

    A file is hashed in a second thread while this one does the chain work that does not
    need its CID: the index sync and the snapshot (:func:`open_chain`) for a bare file, the
    whole gathering with ``expect``. An error there is raised once the hashing has finished,
    never lost. ``cache``: the checks of earlier verifications to reuse (a verifier that
    keeps running passes the same one each time); none: this verification's own."""
    if target == "":
        raise UsageError("give a file, a bag or a CID to verify, not an empty argument")
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
    if not path.exists() and not names_an_item(target):
        raise UsageError(
            f"{target} does not exist, and it is not a CID or a 0x claim key",
            hint="check the path" if _looks_like_path(target) else "check the CID",
        )
    tries = (
        (DEFAULT_IMPORT, KUBO_DEFAULT)
        if chunk_size is None
        else (
            ImportOptions(cid_version=1, chunk_size=chunk_size),
            ImportOptions(cid_version=0, chunk_size=chunk_size),
        )
    )
    judged = _Judged(tuple(communities), CheckCache() if cache is None else cache)
    with ExitStack() as stack:

        def index_here() -> EventIndex:
            # Opened by the thread that uses it: a SQLite connection belongs to one thread.
            return stack.enter_context(reader.event_index(sync=False))

        def opened() -> tuple[EventIndex, ChainView]:
            index = index_here()
            return index, open_chain(reader, index)

        if not path.exists():
            index, view = opened()
            try:
                gathered = gather_on(reader, index, view, [target])
            except NotFound:
                return _unknown("chain")
            pick = gathered.evidence.claims[0] if target.startswith(("0x", "0X")) else None
            return _checked_on_chain(reader, gathered, judged, None, pick)
        if expect is not None:
            return _verify_expected(reader, opened, path, Cid.parse(expect), expect, judged)
        report = _verify_file(reader, index_here, opened, path, tries, judged)
        if report.status is Status.UNKNOWN and holders:
            index, view = opened()
            found = verify_sealed(reader, index, view, path, holders, judged.cache)
            if found is not None:
                gathered, key, check = found
                return _checked_on_chain(reader, gathered, judged, lambda _: check, key)
        return report
    raise AssertionError("unreachable")  # every branch above returns or raises


def names_an_item(text: str) -> bool:
    """Whether ``text`` reads as a CID or a 0x key (not as a path)."""
    if text.startswith(("0x", "0X")):
        return len(text) == 66
    try:
        Cid.parse(text)
    except HeritageError:
        return False
    return True


def _looks_like_path(text: str) -> bool:
    return "/" in text or "." in text or text.startswith("~")


@dataclass(frozen=True, slots=True)
class _Judged:
    """How the verifier asked to judge: the communities it expects, and the checks made
    before."""

    expected: tuple[bytes, ...]
    cache: CheckCache


def _nearby(reader: ClaimReader) -> bool:
    """Whether the chain answers quickly: this process's last head request took less than
    :data:`OVERLAP_ABOVE_SECONDS`, or, before any, its RPC URL names this machine."""
    last = reader.client.head_seconds
    if last is not None:
        return last < OVERLAP_ABOVE_SECONDS
    host = urlsplit(reader.settings.rpc_url).hostname or ""
    return host == "localhost" or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _verify_file(
    reader: ClaimReader,
    index_here: Callable[[], EventIndex],
    opened: Callable[[], tuple[EventIndex, ChainView]],
    path: Path,
    tries: tuple[ImportOptions, ...],
    judged: _Judged,
) -> Report:
    """A bare file: hashed with the first of ``tries`` while the index syncs (unless the
    chain is close by, see :data:`OVERLAP_ABOVE_SECONDS`), then with each other until a CID
    is registered."""
    if _nearby(reader):
        # The head request goes out, this thread hashes, and the answer waits in the socket.
        index = index_here()
        view_later = open_chain_begin(reader, index)
        computed = compute_cid(path, tries[0])
        view = view_later()
    else:
        (index, view), computed = _alongside(opened, lambda: compute_cid(path, tries[0]))
    for options in tries:
        if options is not tries[0]:
            computed = compute_cid(path, options)
        try:
            gathered = gather_on(reader, index, view, [str(computed)])
        except NotFound:
            continue
        return _checked_on_chain(reader, gathered, judged, _against(path, computed, "chain"))
    return _unknown("chain")


def _verify_expected(
    reader: ClaimReader,
    opened: Callable[[], tuple[EventIndex, ChainView]],
    path: Path,
    expected: Cid,
    expect: str,
    judged: _Judged,
) -> Report:
    """``verify FILE --expect CID``: the evidence about CID is gathered while the file is
    hashed with the settings CID implies; hashed again only when the item's metadata records
    other settings (another chunk size)."""

    def gathered_or_none() -> Gathered | None:
        index, view = opened()
        try:
            return gather_on(reader, index, view, [expect])
        except NotFound:
            return None

    guess = import_options(None, expected)
    gathered, computed = _alongside(gathered_or_none, lambda: compute_cid(path, guess))
    if gathered is None:
        return _unknown("chain")
    key = gathered.evidence.claims[0]
    item = gathered.evidence.item(key)
    assert item is not None
    assessed = assess(gathered.evidence, key, judged.cache)
    options = import_options(assessed[0].metadata, Cid.parse(item.cid))
    if cid_settings(options) != cid_settings(guess):
        computed = compute_cid(path, options)
    check = ContentCheck(
        str(path), str(computed), str(expected), "--expect", same_content(computed, expected)
    )
    return _checked_on_chain(reader, gathered, judged, lambda _: check, None, {key: assessed})


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
    reader: ClaimReader,
    gathered: Gathered,
    judged: _Judged,
    content: ContentFor | None,
    pick: bytes | None = None,
    assessed: Mapping[bytes, _Assessed] | None = None,
) -> Report:
    evidence = gathered.evidence
    report = judge(
        evidence, evidence.claims, "chain", content, expected=judged.expected, pick=pick,
        assessed=assessed, cache=judged.cache,
    )
    # The evidence came through the index; the registry's own stored digests (at the
    # snapshot block, read with the evidence when the keys were foreseen) have the last word,
    # for every claim reported and every parent.
    checked: dict[bytes, Assessment] = {}
    for claim in report.claims:
        a: Assessment | None = claim.assessment
        while a is not None:
            checked.setdefault(a.record_key, a)
            a = a.parent
    stored = dict(gathered.stored())
    missing = [k for k in checked if k not in stored]
    if missing:
        with chain_errors(reader.settings.rpc_url):
            reads = reader.client.read_many(missing, [], block=evidence.snapshot_block)
        stored.update(reads.records)
    for key, a in checked.items():
        if stored.get(key) != a.record.digest():
            raise EvidenceInvalid(
                f"the event index's record of claim {_h(a.key)} is not the one the registry "
                "stores",
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
    communities: Sequence[bytes] = (),
    cache: CheckCache | None = None,
) -> Report:
    """Verify a file and/or a CID against evidence alone (no chain, no network): every claim
    the evidence holds on that content, judged as :func:`judge` does; ``cache`` as
    :func:`verify_online` takes it."""
    cache = CheckCache() if cache is None else cache
    if path is None:
        if cid is None:
            raise UsageError("give a file or a CID to verify against the proofs")
        keys, pick = _keys_in(evidence, cid)
        if not keys:
            return _unknown(source)
        return judge(evidence, keys, source, expected=communities, pick=pick, cache=cache)
    if expect is not None or cid is not None:
        wanted = expect if expect is not None else cid
        assert wanted is not None
        keys, pick = _keys_in(evidence, wanted)
        if not keys:
            return _unknown(source)
        first = evidence.item(pick or keys[0])
        assert first is not None
        answers = {k: assess(evidence, k, cache) for k in keys}
        options = import_options(answers[first.key][0].metadata, Cid.parse(first.cid))
        computed = compute_cid(path, options)
        expected = Cid.parse(first.cid if wanted.startswith(("0x", "0X")) else wanted)
        frm = "--expect" if expect is not None else source
        check = ContentCheck(
            str(path), str(computed), str(expected), frm, same_content(computed, expected)
        )
        return judge(evidence, keys, source, lambda _: check, expected=communities, pick=pick,
                     assessed=answers, cache=cache)
    # A bare file: try each claim's settings, the registration default first, hashing once
    # per distinct setting. A file that gives none of the claims' CIDs is not one of them:
    # unknown, as a file the chain does not know.
    by_options: dict[ImportOptions, list[bytes]] = {}
    answers = {}
    for key in evidence.claim_keys:
        item = evidence.item(key)
        assert item is not None
        answers[key] = assess(evidence, key, cache)
        options = import_options(answers[key][0].metadata, Cid.parse(item.cid))
        by_options.setdefault(options, []).append(key)
    ordered = sorted(by_options, key=lambda o: o != DEFAULT_IMPORT)
    for options in ordered:
        computed = compute_cid(path, options)
        matched = [
            k for k in evidence.claim_keys if same_content(computed, Cid.parse(_cid(evidence, k)))
        ]
        if matched:
            return judge(evidence, matched, source, _against(path, computed, source),
                         expected=communities, assessed=answers, cache=cache)
    return _unknown(source)


def _against(path: Path, computed: Cid, source: str) -> ContentFor:
    """The content check of a file that gave ``computed``, against a claim's CID."""

    def check(a: Assessment) -> ContentCheck:
        matches = same_content(computed, Cid.parse(a.cid))
        return ContentCheck(str(path), str(computed), a.cid, source, matches)

    return check


def _cid(evidence: Evidence, key: bytes) -> str:
    item = evidence.item(key)
    assert item is not None
    return item.cid


def _keys_in(evidence: Evidence, text: str) -> tuple[list[bytes], bytes | None]:
    """The claims in the evidence on the content ``text`` names (a CID of either version,
    or a 0x claim key: then that claim is picked too), in the evidence's order."""
    if text.startswith(("0x", "0X")):
        try:
            key = bytes.fromhex(text[2:])
        except ValueError:
            raise UsageError(f"{text!r} is not a 0x claim key or a CID") from None
        item = evidence.item(key)
        if item is None:
            return [], None
        same = [k for k in evidence.claim_keys if _cid(evidence, k) == item.cid]
        return (same if key in same else [key, *same]), key
    cid = Cid.parse(text)  # InvalidCid (a usage error) for anything else
    keys = [k for k in evidence.claim_keys if same_content(cid, Cid.parse(_cid(evidence, k)))]
    return keys, None
