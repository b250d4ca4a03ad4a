"""Gather: the claims an exhibit spec selects, as the chain, the index and IPFS say they stand.

:func:`gather` turns a spec's ``[select]`` into :class:`~exhibits.model.Candidate` values, one
per claim, at a build moment:

- communities named (a name resolves through the index; an unknown name or id is an error
  that says which);
- every claim those communities made, from the event index: items, derivatives, and items of
  their batches (through the batch manifests on the IPFS node), narrowed to ``items`` when the
  spec lists some (a CID names the claims on that content by the selected communities, an
  item key names one claim);
- for each, and for every other claim on the same content (a second community's claim makes
  the content disputed), the facts verification establishes: the evidence is gathered and
  checked by :mod:`ledger.verify` (:func:`~ledger.verify.gather.gather_on`,
  :func:`~ledger.verify.assess.assess`: registration, every terms version and revocation with
  its signatures, custody, lineage), never re-read here. A claim whose evidence does not hold
  (a signature that fails, a contradiction) keeps its place with no terms, so it is excluded.

**The build moment.** Claims registered after ``at`` do not exist yet, and terms versions and
revocations after ``at`` have not happened: the evidence is cut at ``at`` before it is
assessed, so a past ``--at`` sees the terms then in force. What cannot be told for a past
moment is refused (:class:`~ledger.errors.UsageError`): which description was current, when an
item's description was corrected since registration (the record keeps the latest).

**Sealed items** (restricted terms: registered as ciphertext) are candidates like any other,
so the report names them and the leak scan looks for them, but nothing of them is decrypted:
their file name and media type stay unknown, their description is not read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exhibits.gather_cache import GatherCache, Pending, candidate_to_json, event_map, fingerprint
from exhibits.model import Candidate, ChainRef, Lineage
from exhibits.select import content_matches
from exhibits.spec import ExhibitSpec, Selection
from ledger import strict_json
from ledger.chain import batch_item_subject
from ledger.documents import SEALED_ITEM_TYPE, parse_bytes32, parse_community_id
from ledger.errors import EvidenceInvalid, HeritageError, NotFound, UsageError
from ledger.ipfs.cid import Cid
from ledger.registry.descriptions import latest_description
from ledger.registry.reader import RegistryReader
from ledger.registry.results import Claim, to_hex
from ledger.rights.claims import ClaimTerms
from ledger.rights.model import Terms, parse_terms
from ledger.verify.assess import Assessment, CheckCache, assess
from ledger.verify.evidence import Evidence
from ledger.verify.gather import ChainView, gather_on, open_chain

__all__ = ["Gathering", "gather", "resolve_communities"]

_UNKNOWN_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Gathering:
    """What :func:`gather` found: the candidates (in chain order), the chain they are on, and
    each community of the spec as written (a name or an id) with its id."""

    candidates: tuple[Candidate, ...]
    chain: ChainRef
    communities: Mapping[str, bytes]
    snapshot_block: int
    #: The cache the candidates were read through (None: gathered without one), and the
    #: candidates gathered afresh, by claim key, for the build to write once it has decided
    #: them (:meth:`commit`).
    cache: GatherCache | None = None
    pending: Mapping[bytes, Pending] = field(default_factory=dict)

    def commit(self, shown: Iterable[bytes], excluded: Iterable[bytes]) -> None:
        """Write the fresh candidates that are ``shown`` into the cache and delete the
        entries of the ``excluded`` (nothing of an excluded item is kept there)."""
        if self.cache is None:
            return
        for key in shown:
            if key in self.pending:
                self.cache.store(key, self.pending[key])
        self.cache.forget(excluded)


def resolve_communities(reader: RegistryReader, refs: Iterable[str]) -> dict[str, bytes]:
    """Each community of the spec as written → its id. A name resolves through the synced
    index (:meth:`RegistryReader.resolve_community`: an unknown or ambiguous name is refused
    with what to do); an id must be a community on this chain."""
    found: dict[str, bytes] = {}
    for ref in refs:
        community = reader.resolve_community(ref)
        if parse_community_id(ref) is not None:
            with reader.event_index(sync=False) as index:
                try:
                    index.community(community)
                except NotFound:
                    raise NotFound(
                        f"the exhibit spec selects community {ref}, which this chain does not "
                        "have",
                        hint="check the id (`heritage community show ID`), or give its name",
                    ) from None
        found[ref] = community
    return found


def _selected_claims(
    reader: RegistryReader, communities: Sequence[bytes], selection: Selection, block: int
) -> tuple[list[Claim], dict[bytes, list[Claim]]]:
    """The claims of ``communities`` that ``selection.items`` keeps (all when it lists none),
    in chain order, and for each content key every claim on that content (up to ``block``)."""
    contents: dict[bytes, None] = {}  # binary CIDs, in the order found
    with reader.event_index(sync=False) as index:
        for community in communities:
            for key in index.community(community).items:
                contents[index.item(key).cid] = None
        batches = [b for b in index.batches() if b.community in communities]
    for batch in batches:
        manifest = reader.manifest(batch.root, batch.manifest)
        if manifest is None:
            raise NotFound(
                f"the manifest of batch {to_hex(batch.batch)} is not on this IPFS node",
                hint="import it (e.g. from a CAR file) from a node that has it",
            )
        for entry in manifest.document.get("items", []):
            contents[bytes(Cid.parse(str(entry["cid"])))] = None
    wanted = set(communities)
    keys = {k for k in (parse_bytes32(r) for r in selection.items) if k is not None}
    cids = [Cid.parse(r) for r in selection.items if parse_bytes32(r) is None]
    selected: list[Claim] = []
    on_content: dict[bytes, list[Claim]] = {}
    claims_on = reader.claims_on_many(list(contents), sync=False)
    for cid in contents:
        claims = sorted(
            (c for c in claims_on[cid] if c.block <= block), key=lambda c: (c.block, c.log_index)
        )
        ours = [c for c in claims if c.community in wanted]
        if selection.items:
            content = Cid.from_bytes(cid)
            named = any(content_matches(ref, content) for ref in cids)
            ours = [c for c in ours if named or c.key in keys]
        if ours and ours[0].content is not None:
            on_content[ours[0].content] = claims
            selected += ours
    selected.sort(key=lambda c: (c.block, c.log_index, c.key))
    return selected, on_content


def _until(evidence: Evidence, at: datetime) -> tuple[Evidence, set[bytes]]:
    """The evidence as it stood at ``at``: each item's events up to then, and the claims
    registered by then."""
    moment = at.timestamp()
    items = []
    for item in evidence.items:
        if item.registration.timestamp > moment:
            continue
        events = tuple(e for e in item.events if e.timestamp <= moment)
        items.append(dataclasses.replace(item, events=events))
    registered = {item.key for item in items}
    return dataclasses.replace(evidence, items=tuple(items)), registered


def _terms(evidence: Evidence, assessment: Assessment) -> Terms | None:
    """The assessed current terms document, parsed; None when it is not at hand or invalid."""
    data = evidence.documents.get(assessment.terms_cid)
    if data is None:
        return None
    try:
        return parse_terms(strict_json.loads(data), where=f"terms {assessment.terms_cid}")
    except (HeritageError, ValueError):
        return None


def _document(evidence: Evidence, cid: str | None) -> Mapping[str, Any] | None:
    data = None if cid is None else evidence.documents.get(cid)
    if data is None:
        return None
    try:
        value = strict_json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _lineage(evidence: Evidence, assessment: Assessment) -> tuple[Lineage, ...]:
    found: list[Lineage] = []
    node = assessment
    while node.parent is not None:
        parent = node.parent
        found.append(
            Lineage(
                parent_key=parent.key,
                parent_cid=Cid.parse(parent.cid) if parent.cid else None,
                method=_document(evidence, node.method_cid),
                ai_enhanced=bool(node.ai_enhanced),
            )
        )
        node = parent
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Assessed:
    claim: Claim
    assessment: Assessment | None  # None: the evidence does not hold
    terms: Terms | None
    timestamp: int
    block: int
    tx_hash: bytes | None

    def claim_terms(self) -> ClaimTerms:
        a = self.assessment
        return ClaimTerms(
            claim=self.claim.key,
            community=self.claim.community,
            terms=self.terms,
            revoked=a is not None and a.revoked,
            parent_revoked=a is not None and a.ancestor_revoked is not None,
        )


def _assess_all(
    evidence: Evidence, claims: Iterable[Claim], registered: set[bytes]
) -> dict[bytes, _Assessed]:
    cache = CheckCache()
    found: dict[bytes, _Assessed] = {}
    for claim in claims:
        item = evidence.item(claim.key)
        if claim.key not in registered or item is None:
            continue  # registered after the build moment: not there yet
        reg = item.registration
        assessment: Assessment | None
        try:
            assessment, problems = assess(evidence, claim.key, cache)
        except EvidenceInvalid:
            assessment, problems = None, ("the evidence contradicts itself",)
        terms = None if assessment is None or problems else _terms(evidence, assessment)
        found[claim.key] = _Assessed(
            claim, assessment, terms, reg.timestamp, reg.block_number, reg.tx_hash
        )
    return found


def _candidate(
    reader: RegistryReader,
    evidence: Evidence,
    mine: _Assessed,
    others: Sequence[_Assessed],
    names: Mapping[bytes, str],
) -> Candidate:
    claim, a = mine.claim, mine.assessment
    metadata: Mapping[str, Any] = (a.metadata if a is not None else None) or {}
    sealed = (a is not None and a.encrypted) or metadata.get("type") == SEALED_ITEM_TYPE
    assert claim.cid is not None  # claims found on content always carry it
    cid = Cid.from_bytes(claim.cid)
    description = None if sealed else latest_description(reader, claim)
    size = metadata.get("size")
    imported = metadata.get("import")
    return Candidate(
        key=claim.key,
        cid=cid,
        community=claim.community,
        community_name=names.get(claim.community),
        kind=claim.kind,
        file_name="" if sealed else str(metadata.get("name") or ""),
        media_type=_UNKNOWN_MEDIA_TYPE
        if sealed
        else str(metadata.get("media_type") or _UNKNOWN_MEDIA_TYPE),
        size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
        description=None if description is None else description[0],
        description_version=0 if description is None else description[1],
        terms=mine.terms,
        terms_cid=None if a is None else Cid.parse(a.terms_cid),
        terms_version=0 if a is None else a.terms_version,
        revoked=a is not None and a.revoked,
        claims=tuple(o.claim_terms() for o in others),
        registered_at=datetime.fromtimestamp(mine.timestamp, UTC),
        block=mine.block,
        transaction=None if mine.tx_hash is None else to_hex(mine.tx_hash),
        lineage=() if a is None else _lineage(evidence, a),
        import_settings=dict(imported) if isinstance(imported, Mapping) and not sealed else None,
        sealed=sealed,
    )


def _fresh(
    reader: RegistryReader,
    view: ChainView,
    claims: Sequence[Claim],
    on_content: Mapping[bytes, list[Claim]],
    names: Mapping[bytes, str],
    at: datetime | None,
    past: bool,
) -> tuple[dict[bytes, Candidate], dict[bytes, str | None], Mapping[str, bytes]]:
    """Gather and check ``claims`` (and every other claim on their content): their candidates
    by claim key, each assessed claim's terms CID, and the documents read."""
    contents = dict.fromkeys(c.content for c in claims if c.content is not None)
    everything = [c for content in contents for c in on_content[content]]
    if not everything:
        return {}, {}, {}
    with reader.event_index(sync=False) as index:
        gathered = gather_on(
            reader, index, view, list(dict.fromkeys(to_hex(c.key) for c in everything))
        )
    evidence = gathered.evidence
    registered = {item.key for item in evidence.items}
    if at is not None:
        evidence, registered = _until(evidence, at)
    assessed = _assess_all(evidence, everything, registered)
    found: dict[bytes, Candidate] = {}
    for claim in claims:
        mine = assessed.get(claim.key)
        if mine is None or claim.content is None:
            continue
        others = [assessed[c.key] for c in on_content[claim.content] if c.key in assessed]
        candidate = _candidate(reader, evidence, mine, others, names)
        if past and at is not None and candidate.description_version > 1:
            raise UsageError(
                f"--at {at.isoformat()} is in the past, and the description of item "
                f"{candidate.item_id} was corrected since it was registered: which version was "
                "current then cannot be told from the record",
                hint="build without --at (now), or with a moment from now on",
            )
        found[claim.key] = candidate
    terms_cids = {
        key: None if a.assessment is None or a.terms is None else a.assessment.terms_cid
        for key, a in assessed.items()
    }
    return found, terms_cids, evidence.documents


def _gather_at(
    reader: RegistryReader,
    view: ChainView,
    spec: ExhibitSpec,
    communities: Mapping[str, bytes],
    at: datetime | None,
    past: bool,
    cache: GatherCache | None,
) -> tuple[tuple[Candidate, ...], dict[bytes, Pending]]:
    ids = list(dict.fromkeys(communities.values()))
    selected, on_content = _selected_claims(reader, ids, spec.selection, view.block)
    names = {cid: ref for ref, cid in communities.items() if parse_community_id(ref) is None}
    # The cache holds the record as it stands: a build as of a moment gathers afresh.
    cached = cache if cache is not None and at is None else None
    hits: dict[bytes, Candidate] = {}
    prints: dict[bytes, str] = {}  # content key → fingerprint
    if cached is not None:
        with reader.event_index(sync=False) as index:
            events = event_map(index, view.block)
        cached.sweep(events, [c.key for c in selected])
        chain = ChainRef(chain_id=view.chain_id, registry=view.registry)
        for claim in selected:
            if claim.content is None:
                continue
            if claim.content not in prints:
                prints[claim.content] = fingerprint(events, on_content[claim.content], chain)
            found = cached.load(claim.key, prints[claim.content])
            if found is not None:
                hits[claim.key] = dataclasses.replace(
                    found, community_name=names.get(found.community)
                )
    missing = [c for c in selected if c.key not in hits]
    fresh, terms_cids, documents = _fresh(reader, view, missing, on_content, names, at, past)
    pending: dict[bytes, Pending] = {}
    if cached is not None:
        for key, candidate in fresh.items():
            content = next(c.content for c in missing if c.key == key)
            if content is None or content not in prints or candidate.sealed:
                continue
            try:
                entry = candidate_to_json(candidate, terms_cids, documents)
            except KeyError:
                continue  # a document not at hand: gathered again next time
            claim = next(c for c in missing if c.key == key)
            watch = [claim.key] + ([] if claim.batch is None else [claim.batch])
            if claim.batch is not None and claim.content is not None:
                watch.append(batch_item_subject(claim.batch, claim.content))
            pending[key] = Pending(prints[content], entry, tuple(watch), view.block)
    candidates = [hits.get(c.key) or fresh.get(c.key) for c in selected]
    return tuple(c for c in candidates if c is not None), pending


def gather(
    reader: RegistryReader,
    spec: ExhibitSpec,
    at: datetime | None = None,
    *,
    now: datetime | None = None,
    cache_dir: Path | None = None,
) -> Gathering:
    """The candidates ``spec`` selects, read through ``reader``: the event index is synced
    with the chain first (a chain that does not answer is
    :class:`~ledger.errors.ChainUnavailable`). With ``at`` (aware), as the record stood at
    that moment: claims, terms versions and revocations after it are left out. Without it,
    as the record stands now (whatever the chain's clock says). ``now`` (default: the clock)
    says whether ``at`` is in the past. ``cache_dir``: the gather cache's folder
    (:mod:`exhibits.gather_cache`): claims on which nothing happened since they were last
    gathered (and shown) are read from it; the caller commits the rest
    (:meth:`Gathering.commit`) once it has decided them."""
    if at is not None and at.tzinfo is None:
        raise UsageError("the build moment has no time zone", hint="give --at with one (Z)")
    current = now if now is not None else datetime.now(UTC)
    with reader.event_index(sync=False) as index:
        view = open_chain(reader, index)
    chain = ChainRef(chain_id=view.chain_id, registry=view.registry)
    cache = None if cache_dir is None else GatherCache(cache_dir, chain)
    communities = resolve_communities(reader, spec.selection.communities)
    candidates, pending = _gather_at(
        reader, view, spec, communities, at, at is not None and at < current, cache
    )
    return Gathering(
        candidates=candidates,
        chain=chain,
        communities=communities,
        snapshot_block=view.block,
        cache=cache,
        pending=pending,
    )
