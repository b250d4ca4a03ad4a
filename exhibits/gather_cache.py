"""The gather cache: candidates as the chain stood when they were last gathered, kept under the
data directory, so that a rebuild gathers and checks only the claims on which something
happened since.

What a claim's :class:`~exhibits.model.Candidate` says (its registration, metadata, terms
versions, revocations, lineage, batch membership, the other claims on its content) changes
only when a new event touches the claim, its content (another claim on it), its batch, a
parent, or a community involved (keyholder rotation). :func:`event_map` reads every event of
the synced index once; :func:`fingerprint` names, for the claims on one content, every event
that bears on them (by block, log index and block hash, so a reorganised chain changes it too)
and the claims themselves. An entry is used only under the same fingerprint, chain and
registry: any such event makes it a miss, and the claim is gathered and checked again.

Only chain facts are kept. The policy is not: :func:`exhibits.select.select` decides every
candidate at every build's moment (windows and seasons move with time). The documents a
candidate carries (its terms, the other claims' terms) are stored with their bytes and checked
against their CIDs when read back.

**Trust.** An entry is served only when it parses, its check digest matches its body, it names
this claim and fingerprint, and every document in it gives its CID. Anything else counts in
:attr:`GatherCacheStats.corrupt`, is deleted, and the claim is gathered afresh.

**Privacy.** Only shown candidates are written (the build commits them after the decision),
and a claim that is excluded (or sealed) has its entry deleted: nothing of an excluded item is
kept here, even of one that was shown before; and every build sweeps the entries of claims it
does not select on which an event happened since (:meth:`GatherCache.sweep`), so an item another
spec showed does not stay here once it is withdrawn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from exhibits.model import Candidate, ChainRef, Lineage
from ledger import strict_json
from ledger.chain import batch_item_subject
from ledger.errors import HeritageError
from ledger.index import EVENT_TABLES, EventIndex
from ledger.ipfs.cid import RAW, Cid
from ledger.registry.results import Claim
from ledger.rights.claims import ClaimTerms
from ledger.rights.description import description_from_json
from ledger.rights.model import Terms, parse_terms

__all__ = [
    "ENTRY_TYPE",
    "EventMap",
    "GatherCache",
    "GatherCacheStats",
    "Pending",
    "candidate_from_json",
    "candidate_to_json",
    "event_map",
    "fingerprint",
]

ENTRY_TYPE: Final = "heritage/exhibit-gather-cache"
#: Bumped whenever what a candidate holds or how it is gathered changes: old entries miss.
FORMAT: Final = 1
_MAX_ENTRY_BYTES: Final = 16 << 20
_KEYHOLDER_EVENTS: Final = frozenset({"CommunityCreated", "KeyholdersRotated"})
_COMMUNITY_FIELDS: Final = ("community", "counterparty", "parentSteward")
#: The candidate fields the codec knows; a candidate with others is never cached (a field
#: added to the model would otherwise be read back as its default).
_FIELDS: Final = frozenset(
    {
        "key", "cid", "community", "community_name", "kind", "file_name", "media_type", "size",
        "description", "description_version", "terms", "terms_cid", "terms_version", "revoked",
        "claims", "registered_at", "block", "transaction", "lineage", "import_settings",
        "sealed",
    }
)  # fmt: skip


def _codec_fits() -> bool:
    return {f.name for f in dataclasses.fields(Candidate)} == _FIELDS


# ---- fingerprints ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventMap:
    """Every indexed event, by the 32-byte values it names (keyholder events by their
    community), with the communities and parents each names."""

    by_value: Mapping[bytes, tuple[str, ...]]
    keyholders: Mapping[bytes, tuple[str, ...]]
    communities: Mapping[str, tuple[bytes, ...]]
    parents: Mapping[str, bytes]


def event_map(index: EventIndex, up_to_block: int) -> EventMap:
    """Every event of ``index`` up to ``up_to_block``, read in one pass over its tables."""
    by_value: dict[bytes, list[str]] = {}
    keyholders: dict[bytes, list[str]] = {}
    communities: dict[str, tuple[bytes, ...]] = {}
    parents: dict[str, bytes] = {}
    tables = {table: (event, spec) for event, (table, spec) in EVENT_TABLES.items()}
    for table, rows in index.dump().items():
        event, spec = tables[table]
        for row in rows:
            if int(row[0]) > up_to_block:
                continue
            # SELECT * order: block_number, log_index, block_hash, tx_hash, timestamp, then
            # the event's arguments in EVENT_TABLES order.
            eid = f"{event}:{int(row[0])}:{int(row[1])}:{bytes(row[2]).hex()}"
            fields = {name: row[5 + i] for i, (name, _) in enumerate(spec)}
            if event in _KEYHOLDER_EVENTS:
                keyholders.setdefault(bytes(fields["community"]), []).append(eid)
                continue
            for value in fields.values():
                if isinstance(value, bytes) and len(value) == 32:
                    by_value.setdefault(value, []).append(eid)
            communities[eid] = tuple(
                bytes(fields[n]) for n in _COMMUNITY_FIELDS if isinstance(fields.get(n), bytes)
            )
            if isinstance(fields.get("parent"), bytes):
                parents[eid] = bytes(fields["parent"])
    return EventMap(
        by_value={k: tuple(v) for k, v in by_value.items()},
        keyholders={k: tuple(v) for k, v in keyholders.items()},
        communities=communities,
        parents=parents,
    )


def _claim_values(claim: Claim) -> list[bytes]:
    values = [claim.key]
    if claim.content is not None:
        values.append(claim.content)
    if claim.batch is not None:
        values.append(claim.batch)
        if claim.content is not None:
            values.append(batch_item_subject(claim.batch, claim.content))
    return values


def fingerprint(events: EventMap, claims: Sequence[Claim], chain: ChainRef) -> str:
    """The digest of everything that bears on the claims on one content (``claims``: all of
    them): the claims, and every event on them, their content, batch and parents, and the
    keyholder events of every community those events name."""
    queue = [v for claim in claims for v in _claim_values(claim)]
    seen_values: set[bytes] = set()
    found: set[str] = set()
    communities: set[bytes] = set()
    while queue:
        value = queue.pop()
        if value in seen_values:
            continue
        seen_values.add(value)
        for eid in events.by_value.get(value, ()):
            if eid in found:
                continue
            found.add(eid)
            communities.update(events.communities.get(eid, ()))
            parent = events.parents.get(eid)
            if parent is not None:
                queue.append(parent)
    for claim in claims:
        communities.add(claim.community)
    for community in communities:
        found.update(events.keyholders.get(community, ()))
    described = sorted(
        [c.key.hex(), c.kind, c.community.hex(), (c.batch or b"").hex(), c.block]
        for c in claims
    )
    body = [FORMAT, chain.chain_id, chain.registry.lower(), described, sorted(found)]
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


# ---- the candidate codec -----------------------------------------------------------------------


def _terms_json(
    cid: Cid | str | None, terms: Terms | None, documents: Mapping[str, bytes]
) -> dict[str, Any] | None:
    if terms is None or cid is None:
        return None
    data = documents.get(str(cid))
    if data is None:
        raise KeyError(str(cid))  # not at hand: the candidate is not cached
    return {"cid": str(cid), "document": data.decode("utf-8")}


def candidate_to_json(
    candidate: Candidate, terms_cids: Mapping[bytes, str | None], documents: Mapping[str, bytes]
) -> dict[str, Any]:
    """``candidate`` as JSON values, its terms (and every other claim's, ``terms_cids`` by
    claim key) with their documents' text from ``documents`` (by CID). KeyError when a
    document is not at hand."""
    c = candidate
    return {
        "key": c.key.hex(),
        "cid": str(c.cid),
        "community": c.community.hex(),
        "kind": c.kind,
        "file_name": c.file_name,
        "media_type": c.media_type,
        "size": c.size,
        "description": None if c.description is None else c.description.to_json(),
        "description_version": c.description_version,
        "terms": _terms_json(c.terms_cid, c.terms, documents),
        "terms_cid": None if c.terms_cid is None else str(c.terms_cid),
        "terms_version": c.terms_version,
        "revoked": c.revoked,
        "claims": [
            {
                "claim": t.claim.hex(),
                "community": t.community.hex(),
                "terms": _terms_json(terms_cids.get(t.claim), t.terms, documents),
                "revoked": t.revoked,
                "parent_revoked": t.parent_revoked,
            }
            for t in c.claims
        ],
        "registered_at": int(c.registered_at.timestamp()),
        "block": c.block,
        "transaction": c.transaction,
        "lineage": [
            {
                "parent_key": line.parent_key.hex(),
                "parent_cid": None if line.parent_cid is None else str(line.parent_cid),
                "method": None if line.method is None else dict(line.method),
                "ai_enhanced": line.ai_enhanced,
            }
            for line in c.lineage
        ],
        "import_settings": None if c.import_settings is None else dict(c.import_settings),
        "sealed": c.sealed,
    }


class _Terms:
    """Terms documents read back, each checked against its CID and parsed once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], Terms] = {}

    def read(self, value: Any) -> Terms | None:
        if value is None:
            return None
        cid, text = str(value["cid"]), str(value["document"])
        if (cid, text) not in self._parsed:
            data = text.encode("utf-8")
            if str(Cid.from_digest(hashlib.sha256(data).digest(), RAW)) != cid:
                raise ValueError("a terms document does not give its CID")
            self._parsed[cid, text] = parse_terms(strict_json.loads(data), where=f"terms {cid}")
        return self._parsed[cid, text]


def _bytes32(value: Any) -> bytes:
    data = bytes.fromhex(str(value))
    if len(data) != 32:
        raise ValueError("not 32 bytes")
    return data


def candidate_from_json(value: Mapping[str, Any], terms: _Terms | None = None) -> Candidate:
    """The candidate :func:`candidate_to_json` wrote (ValueError, KeyError or TypeError when
    it is not one; a terms document that does not give its CID is a ValueError)."""
    reader = terms or _Terms()
    description = value["description"]
    return Candidate(
        key=_bytes32(value["key"]),
        cid=Cid.parse(str(value["cid"])),
        community=_bytes32(value["community"]),
        community_name=None,
        kind=str(value["kind"]),
        file_name=str(value["file_name"]),
        media_type=str(value["media_type"]),
        size=int(value["size"]),
        description=None if description is None else description_from_json(description),
        description_version=int(value["description_version"]),
        terms=reader.read(value["terms"]),
        terms_cid=None if value["terms_cid"] is None else Cid.parse(str(value["terms_cid"])),
        terms_version=int(value["terms_version"]),
        revoked=bool(value["revoked"]),
        claims=tuple(
            ClaimTerms(
                claim=_bytes32(t["claim"]),
                community=_bytes32(t["community"]),
                terms=reader.read(t["terms"]),
                revoked=bool(t["revoked"]),
                parent_revoked=bool(t["parent_revoked"]),
            )
            for t in value["claims"]
        ),
        registered_at=datetime.fromtimestamp(int(value["registered_at"]), UTC),
        block=int(value["block"]),
        transaction=None if value["transaction"] is None else str(value["transaction"]),
        lineage=tuple(
            Lineage(
                parent_key=_bytes32(line["parent_key"]),
                parent_cid=None
                if line["parent_cid"] is None
                else Cid.parse(str(line["parent_cid"])),
                method=line["method"],
                ai_enhanced=bool(line["ai_enhanced"]),
            )
            for line in value["lineage"]
        ),
        import_settings=value["import_settings"],
        sealed=bool(value["sealed"]),
    )


# ---- the store ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """A candidate gathered afresh, not yet written: the build writes it once it is shown."""

    fingerprint: str
    entry: Mapping[str, Any]  # candidate_to_json's value
    #: The claim's own 32-byte values (key, batch, batch-item subject) and the snapshot block:
    #: an event on one of them after that block makes the entry stale (:meth:`sweep`).
    watch: tuple[bytes, ...] = ()
    block: int = 0


@dataclass(slots=True)
class GatherCacheStats:
    """What a cache did since it was opened."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0  # entries found broken, deleted (also counted as misses)
    written: int = 0
    forgotten: int = 0


def _check(fingerprint: str, candidate: Mapping[str, Any]) -> str:
    body = json.dumps([fingerprint, candidate], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class GatherCache:
    """Gathered candidates of one chain and registry under ``root``, one file per claim."""

    def __init__(self, root: Path, chain: ChainRef) -> None:
        self.folder = root / f"{chain.chain_id}-{chain.registry.lower()}"
        self.stats = GatherCacheStats()
        self.enabled = _codec_fits()
        self._terms = _Terms()

    def path(self, key: bytes) -> Path:
        return self.folder / f"{key.hex()}.json"

    def load(self, key: bytes, fingerprint: str) -> Candidate | None:
        """The candidate of claim ``key`` gathered under ``fingerprint``, or None (absent, of
        another fingerprint, or broken: a broken entry is deleted)."""
        path = self.path(key)
        if not self.enabled or not path.is_file():
            self.stats.misses += 1
            return None
        try:
            if path.stat().st_size > _MAX_ENTRY_BYTES:
                raise ValueError("too large")
            entry = json.loads(path.read_bytes())
            if entry.get("type") != ENTRY_TYPE or entry.get("format") != FORMAT:
                raise ValueError("not an entry of this format")
            if entry.get("fingerprint") != fingerprint:
                self.stats.misses += 1  # something happened on the chain: gathered again
                return None
            if entry.get("check") != _check(fingerprint, entry["candidate"]):
                raise ValueError("the check digest does not match")
            candidate = candidate_from_json(entry["candidate"], self._terms)
            if candidate.key != key:
                raise ValueError("the entry is of another claim")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, HeritageError):
            self.stats.corrupt += 1
            self.stats.misses += 1
            self._remove(path)
            return None
        self.stats.hits += 1
        return candidate

    def store(self, key: bytes, pending: Pending) -> None:
        """Write the entry of claim ``key`` (atomically: a temporary file renamed)."""
        if not self.enabled:
            return
        entry = {
            "type": ENTRY_TYPE,
            "format": FORMAT,
            "fingerprint": pending.fingerprint,
            "candidate": pending.entry,
            "check": _check(pending.fingerprint, pending.entry),
            "watch": [w.hex() for w in pending.watch],
            "block": pending.block,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".entry-", dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(json.dumps(entry, sort_keys=True).encode("utf-8"))
            os.replace(temporary, self.path(key))
        except BaseException:
            self._remove(Path(temporary))
            raise
        self.stats.written += 1

    def sweep(self, events: EventMap, current: Iterable[bytes]) -> None:
        """Delete the entries of claims other than ``current`` (this build's) on which an event
        happened since they were written (a revocation, new terms, a custody move): another
        spec's shown item that has since been withdrawn leaves nothing here either."""
        if not self.folder.is_dir():
            return
        skip = {f"{key.hex()}.json" for key in current}
        for path in self.folder.glob("*.json"):
            if path.name in skip:
                continue
            try:
                entry = json.loads(path.read_bytes())
                watch = [bytes.fromhex(str(w)) for w in entry["watch"]]
                block = int(entry["block"])
            except (OSError, ValueError, KeyError, TypeError):
                self._remove(path)  # not an entry we can vouch for
                self.stats.forgotten += 1
                continue
            later = any(
                int(eid.split(":")[1]) > block
                for value in watch
                for eid in events.by_value.get(value, ())
            )
            if later:
                self._remove(path)
                self.stats.forgotten += 1

    def forget(self, keys: Iterable[bytes]) -> None:
        """Delete the entries of ``keys`` (excluded claims: nothing of them is kept)."""
        for key in keys:
            path = self.path(key)
            if path.exists():
                self._remove(path)
                self.stats.forgotten += 1

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
