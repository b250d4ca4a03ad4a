"""Listing what is registered: every community, and every claim (item, derivative, item of a
batch) with its community's name, its terms in force, and its title — filtered, searched and
paged.

Reading is one query of the synced event index (:func:`ledger.index.listing.read_registry`)
and reads of the documents the index names (community documents, terms, item metadata,
description corrections, batch manifests), each read from the IPFS node once per
:class:`Listing` and kept parsed by digest (documents are immutable: a digest never names
other bytes). Terms documents are shared by many items, so a listing of thousands reads a
handful; item metadata and descriptions are read only for the page shown, or, with a search,
for the claims whose text may be shown at all.

**What is never shown.** A claim's text (title, file name, media type, description) comes
from its metadata and descriptions and is given only when all of these hold: its metadata is
not sealed (restricted and community-only content is registered encrypted), its current terms
are ``public`` in every access protocol, and they stand (not revoked). Anything else is listed
with its key, CID, community and terms only, and says why its text is withheld
(:attr:`ListedItem.withheld`); a search never matches it. The parsed documents are kept in
memory only, by the object that read them: nothing of an item outlives the listing on disk
(a withdrawal unpins and collects its metadata here; a cache file would keep it).

Statuses: ``revoked`` (the latest terms version was revoked; for an item of a batch, the
batch's or the item's own), ``withdrawn`` (registered under public terms, now under terms that
are not: its public plaintext was withdrawn from this node), else ``current``. Access: the
most restrictive protocol of the current terms (``restricted`` > ``community`` > ``public``),
``unknown`` when the terms document is not on this node.

Search matches every word of the query (split at white space) inside the shown text of a claim
(titles, descriptions, text alternatives, context, creator, date, subjects and place in every
language, and the file name), ignoring case (Unicode case folding: ``Straße`` = ``STRASSE``)
and accents (``maori`` finds ``Māori``); a word may be part of a longer one, so languages
written without spaces (``縄文``) match inside a title.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ledger import strict_json
from ledger.chain import batch_item_subject, claim_key
from ledger.documents import SEALED_ITEM_TYPE, document_cid
from ledger.errors import HeritageError, InvalidDescription, NotFound, UsageError
from ledger.index.listing import RegistrationRow, RegistrySnapshot, read_registry
from ledger.ipfs.cid import Cid
from ledger.registry.reader import RegistryReader
from ledger.registry.results import to_hex
from ledger.rights.description import (
    LANGUAGE_FIELDS,
    Description,
    description_from_json,
    is_well_formed_language_tag,
)
from ledger.rights.model import Terms, parse_terms
from ledger.rights.vocabulary import LABELS

__all__ = [
    "ACCESS_LEVELS",
    "STATUSES",
    "DocumentCache",
    "ItemPage",
    "ItemQuery",
    "ListedCommunity",
    "ListedItem",
    "Listing",
    "NamedId",
    "item_query",
    "search_key",
]

#: ``--access`` values, least restrictive first.
ACCESS_LEVELS: Final = ("public", "community", "restricted")
#: ``--status`` values.
STATUSES: Final = ("current", "revoked", "withdrawn")
_RANK: Final = {name: rank for rank, name in enumerate(ACCESS_LEVELS)}


# ---- the query -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """Which claims to list: each filter narrows (empty: no narrowing); several values of one
    filter are alternatives, except labels, which must all be on the item. ``limit`` None: all."""

    communities: tuple[bytes, ...] = ()
    access: frozenset[str] = frozenset()
    status: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    search: str | None = None
    limit: int | None = None
    offset: int = 0
    languages: tuple[str, ...] = ()  # the title's language, most wanted first (BCP 47)


def _choices(values: Iterable[str], allowed: Sequence[str], option: str) -> frozenset[str]:
    chosen = frozenset(v.strip().lower() for v in values)
    wrong = sorted(chosen - set(allowed))
    if wrong:
        raise UsageError(
            f"{option} {wrong[0]!r} is not one of {', '.join(allowed)}",
            hint=f"pass {option} " + " or ".join(allowed) + " (repeatable)",
        )
    return chosen


def item_query(
    *,
    communities: Sequence[bytes] = (),
    access: Iterable[str] = (),
    status: Iterable[str] = (),
    labels: Iterable[str] = (),
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    languages: Sequence[str] = (),
) -> ItemQuery:
    """An :class:`ItemQuery` from values as a user typed them, each checked: UsageError names
    the value and what is accepted."""
    wanted_labels = frozenset(label.strip().lower() for label in labels)
    unknown = sorted(wanted_labels - set(LABELS))
    if unknown:
        near = sorted(k for k in LABELS if k.split(":")[0] == unknown[0].split(":")[0])
        raise UsageError(
            f"--label {unknown[0]!r} is not a Local Contexts Label or Notice id",
            hint="ids look like tk:attribution, bc:provenance, notice:tk"
            + (f"; this family has {', '.join(near)}" if near else ""),
        )
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit} lists nothing", hint="pass --limit 1 or more")
    if offset < 0:
        raise UsageError(f"--offset {offset} is negative", hint="pass --offset 0 or more")
    for tag in languages:
        if not is_well_formed_language_tag(tag):
            raise UsageError(
                f"--language {tag!r} is not a BCP 47 language tag", hint="e.g. en, mi, de-CH"
            )
    text = None if search is None else search.strip()
    if search is not None and not text:
        raise UsageError("--search needs some text", hint="pass the words to look for")
    return ItemQuery(
        communities=tuple(dict.fromkeys(communities)),
        access=_choices(access, ACCESS_LEVELS, "--access"),
        status=_choices(status, STATUSES, "--status"),
        labels=wanted_labels,
        search=text,
        limit=limit,
        offset=offset,
        languages=tuple(languages),
    )


def search_key(text: str) -> str:
    """``text`` as search compares it: compatibility-decomposed, accents (combining marks)
    dropped, case-folded, recomposed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare.casefold())


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamedId:
    """A community's id with the name its community document gives (None: not on this node)."""

    id: bytes
    name: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": to_hex(self.id), "name": self.name}


@dataclass(frozen=True, slots=True)
class ListedItem:
    """One claim as the listing shows it. ``title``, ``file_name`` and ``media_type`` are None
    whenever ``withheld`` says why: ``revoked``, ``withdrawn``, ``sealed``, ``not-public``
    (current terms not public in every protocol, or not on this node), ``unavailable`` (the
    metadata is not on this node)."""

    key: bytes
    kind: str  # "item", "derivative" or "batch-item"
    cid: str | None
    community: NamedId
    steward: NamedId
    access: str  # one of ACCESS_LEVELS, or "unknown"
    status: str  # one of STATUSES
    sealed: bool | None  # None: the metadata is not on this node
    labels: tuple[str, ...]
    license: str | None
    terms_cid: str
    terms_version: int
    block: int
    log_index: int
    position: int | None  # items of a batch: the leaf
    registered_at: int
    batch: bytes | None = None
    parent: bytes | None = None
    ai_enhanced: bool | None = None
    disputed: bool = False  # other communities claim the same content too
    title: str | None = None
    title_language: str | None = None
    titles: Mapping[str, str] | None = None
    file_name: str | None = None
    media_type: str | None = None
    size: int | None = None
    description_version: int | None = None
    withheld: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": to_hex(self.key),
            "kind": self.kind,
            "cid": self.cid,
            "community": self.community.to_json(),
            "steward": self.steward.to_json(),
            "batch": None if self.batch is None else to_hex(self.batch),
            "parent": None if self.parent is None else to_hex(self.parent),
            "ai_enhanced": self.ai_enhanced,
            "disputed": self.disputed,
            "access": self.access,
            "status": self.status,
            "sealed": self.sealed,
            "labels": list(self.labels),
            "license": self.license,
            "terms_cid": self.terms_cid,
            "terms_version": self.terms_version,
            "title": self.title,
            "title_language": self.title_language,
            "titles": None if self.titles is None else dict(self.titles),
            "file_name": self.file_name,
            "media_type": self.media_type,
            "size": self.size,
            "description_version": self.description_version,
            "withheld": self.withheld,
            "block": self.block,
            "log_index": self.log_index,
            "position": self.position,
            "registered_at": _iso(self.registered_at),
        }


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of a listing: its items, how many matched in all, and how many registered
    batches could not be listed (their manifest is not on this node)."""

    items: tuple[ListedItem, ...]
    total: int
    offset: int
    limit: int | None
    missing_manifests: int = 0


@dataclass(frozen=True, slots=True)
class ListedCommunity:
    """A community with its name, current keyholders and how many claims it made and
    stewards now."""

    id: bytes
    name: str | None
    keyholders: tuple[str, ...]
    threshold: int
    rotations: int
    document_cid: str
    claims: int  # items, derivatives and items of batches it registered
    stewards: int  # of all claims, those it stewards now
    block: int
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": to_hex(self.id),
            "name": self.name,
            "keyholders": list(self.keyholders),
            "threshold": self.threshold,
            "rotations": self.rotations,
            "document_cid": self.document_cid,
            "claims": self.claims,
            "stewards": self.stewards,
            "block": self.block,
            "created_at": _iso(self.created_at),
        }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- documents -----------------------------------------------------------------------------


class DocumentCache:
    """JSON documents by sha2-256 digest, each read from the node once and kept parsed, in
    memory only. A document that is not on the node (or is not a JSON object, or whose bytes
    do not hash to the digest) is None, and asked for again on the next :meth:`read`."""

    def __init__(self, reader: RegistryReader) -> None:
        self._reader = reader
        self._parsed: dict[bytes, Mapping[str, Any]] = {}

    def read(self, digests: Iterable[bytes]) -> None:
        """Read every document of ``digests`` not read yet (once each, whatever the repeats)."""
        node = self._reader.node
        for digest in dict.fromkeys(d for d in digests if d not in self._parsed):
            try:
                data = node.block_get(document_cid(digest))
            except HeritageError:
                continue
            if hashlib.sha256(data).digest() != digest:  # a remote node's word is re-checked
                continue
            try:
                document = strict_json.loads(data)
            except (HeritageError, ValueError):
                continue
            if isinstance(document, dict):
                self._parsed[digest] = document

    def get(self, digest: bytes) -> Mapping[str, Any] | None:
        """The document read under ``digest`` (read it with :meth:`read` first), or None."""
        return self._parsed.get(digest)


# ---- claims --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    """A claim with what the index says of it (documents not read yet)."""

    key: bytes | None  # an item of a batch: made from its CID when listed (a keccak each)
    kind: str
    cid: str | None
    content: bytes  # the content key (keccak256 of the CID): claims on the same bytes share it
    community: bytes
    steward: bytes
    metadata: bytes  # digest of its metadata document
    terms: bytes  # current terms digest
    registered_terms: bytes
    terms_version: int
    revoked: bool
    correction: tuple[int, bytes] | None  # latest DescriptionSet: (version, digest)
    block: int
    log_index: int
    position: int | None
    timestamp: int
    batch: bytes | None = None
    parent: bytes | None = None
    ai_enhanced: bool | None = None
    file_name: str | None = None  # an item of a batch: as its manifest names it


@dataclass(frozen=True, slots=True)
class _Terms:
    access: str
    labels: tuple[str, ...]
    license: str | None
    public: bool


_UNKNOWN_TERMS: Final = _Terms("unknown", (), None, public=False)


class Listing:
    """Listings of one registry, through ``reader``; the documents it reads are kept for the
    object's life (make one per command, or per request batch of a server)."""

    def __init__(self, reader: RegistryReader) -> None:
        self.reader = reader
        self.documents = DocumentCache(reader)
        self._terms: dict[bytes, _Terms] = {}
        # digest of a correction, or of the metadata holding the registered description →
        # the description parsed and checked (None: none, or not valid)
        self._descriptions: dict[bytes, Description | None] = {}

    # -- communities -------------------------------------------------------------------------

    def _snapshot(self) -> RegistrySnapshot:
        with self.reader.event_index() as index:
            return read_registry(index)

    def _names(self, snapshot: RegistrySnapshot) -> dict[bytes, str | None]:
        self.documents.read(c.document for c in snapshot.communities.values())
        names: dict[bytes, str | None] = {}
        for community, row in snapshot.communities.items():
            document = self.documents.get(row.document)
            name = None if document is None else document.get("name")
            names[community] = name if isinstance(name, str) else None
        return names

    def communities(self) -> tuple[ListedCommunity, ...]:
        """Every community on the registry, oldest first, with its name."""
        snapshot = self._snapshot()
        names = self._names(snapshot)
        claims, _ = self._claims(snapshot)
        registered: dict[bytes, int] = {}
        stewarded: dict[bytes, int] = {}
        for claim in claims:
            registered[claim.community] = registered.get(claim.community, 0) + 1
            stewarded[claim.steward] = stewarded.get(claim.steward, 0) + 1
        rows = sorted(snapshot.communities.values(), key=lambda r: (r.block_number, r.log_index))
        return tuple(
            ListedCommunity(
                id=row.community,
                name=names[row.community],
                keyholders=row.keyholders,
                threshold=row.threshold,
                rotations=row.rotations,
                document_cid=str(document_cid(row.document)),
                claims=registered.get(row.community, 0),
                stewards=stewarded.get(row.community, 0),
                block=row.block_number,
                created_at=row.timestamp,
            )
            for row in rows
        )

    # -- items -------------------------------------------------------------------------------

    def _claims(self, snapshot: RegistrySnapshot) -> tuple[list[_Claim], int]:
        """Every claim in chain order (a batch's items in leaf order), and how many batches
        could not be opened (their manifest is not on this node)."""
        claims: list[_Claim] = []
        missing = 0
        # Subjects revoked that no registration has: items of batches revoked alone (the
        # registry's batchItemSubject); without any, no leaf needs its subject computed.
        alone = {s for s, t in snapshot.terms.items() if t.revoked}
        alone -= {r.key for r in snapshot.registrations}
        for row in snapshot.registrations:
            if row.kind == "batch":
                opened = self._batch_claims(snapshot, row, alone)
                if opened is None:
                    missing += 1
                else:
                    claims += opened
                continue
            terms = snapshot.terms.get(row.key)
            described = snapshot.descriptions.get(row.key)
            claims.append(
                _Claim(
                    key=row.key,
                    kind=row.kind,
                    cid=row.cid_text,
                    content=row.content,
                    community=row.community,
                    steward=snapshot.stewards.get(row.key, row.community),
                    metadata=row.metadata,
                    terms=row.terms if terms is None or terms.terms is None else terms.terms,
                    registered_terms=row.terms,
                    terms_version=1 if terms is None else terms.version,
                    revoked=terms is not None and terms.revoked,
                    correction=None
                    if described is None
                    else (described.version, described.description),
                    block=row.block_number,
                    log_index=row.log_index,
                    position=None,
                    timestamp=row.timestamp,
                    parent=row.parent,
                    ai_enhanced=row.ai_enhanced,
                )
            )
        return claims, missing

    def _batch_claims(
        self, snapshot: RegistrySnapshot, row: RegistrationRow, alone: set[bytes]
    ) -> list[_Claim] | None:
        manifest = self.reader.manifest(row.content, row.metadata)
        if manifest is None:
            return None
        terms = snapshot.terms.get(row.key)
        current = row.terms if terms is None or terms.terms is None else terms.terms
        steward = snapshot.stewards.get(row.key, row.community)
        values = manifest.document["tree"]["values"]
        claims: list[_Claim] = []
        for position, (entry, content) in enumerate(
            zip(manifest.document["items"], manifest.keys, strict=True)
        ):
            revoked_alone = bool(alone) and batch_item_subject(row.key, content) in alone
            name = entry.get("name")
            claims.append(
                _Claim(
                    key=None,
                    kind="batch-item",
                    cid=str(entry["cid"]),
                    content=content,
                    community=row.community,
                    steward=steward,
                    metadata=bytes.fromhex(str(values[position]["value"][1])[2:]),
                    terms=current,
                    registered_terms=row.terms,
                    terms_version=1 if terms is None else terms.version,
                    revoked=(terms is not None and terms.revoked) or revoked_alone,
                    correction=None,
                    block=row.block_number,
                    log_index=row.log_index,
                    position=position,
                    timestamp=row.timestamp,
                    batch=row.key,
                    file_name=name if isinstance(name, str) else None,
                )
            )
        return claims

    def _terms_of(self, digest: bytes) -> _Terms:
        if digest not in self._terms:
            document = self.documents.get(digest)
            try:
                terms: Terms | None = None if document is None else parse_terms(dict(document))
            except HeritageError:
                terms = None
            if terms is None:
                return _UNKNOWN_TERMS  # asked again next time: the document may arrive
            protocols = [p.protocol for p in terms.access] or ["restricted"]
            access = max(protocols, key=lambda p: _RANK.get(p, len(ACCESS_LEVELS)))
            self._terms[digest] = _Terms(
                access, terms.labels, terms.license, public=all(p == "public" for p in protocols)
            )
        return self._terms[digest]

    def items(self, query: ItemQuery = ItemQuery()) -> ItemPage:
        """The claims ``query`` selects, in chain order (registration block, log index, leaf),
        one page of them, with the total that matched."""
        snapshot = self._snapshot()
        names = self._names(snapshot)
        claims, missing = self._claims(snapshot)
        claimed: dict[bytes, int] = {}
        for claim in claims:
            claimed[claim.content] = claimed.get(claim.content, 0) + 1
        if query.communities:
            wanted = set(query.communities)
            for community in query.communities:
                if community not in snapshot.communities:
                    raise NotFound(
                        f"community {to_hex(community)} is not registered on this chain",
                        hint="`heritage community list` names every community",
                    )
            claims = [c for c in claims if c.community in wanted or c.steward in wanted]
        self.documents.read(d for c in claims for d in (c.terms, c.registered_terms))
        kept: list[tuple[_Claim, _Terms, str]] = []
        for claim in claims:
            terms = self._terms_of(claim.terms)
            status = self._status(claim, terms)
            if query.status and status not in query.status:
                continue
            if query.access and terms.access not in query.access:
                continue
            if not query.labels <= set(terms.labels):
                continue
            kept.append((claim, terms, status))
        if query.search is not None:
            shown = [k for k in kept if k[1].public and k[2] == "current"]
            self._read_text_documents([c for c, _, _ in shown])
            words = search_key(query.search).split()
            kept = [
                k
                for k in shown
                if (text := self._search_text(k[0])) is not None
                and all(word in text for word in words)
            ]
        end = None if query.limit is None else query.offset + query.limit
        page = kept[query.offset : end]
        self._read_text_documents([c for c, _, _ in page])
        return ItemPage(
            items=tuple(
                self._listed(c, t, s, names, query.languages, claimed[c.content] > 1)
                for c, t, s in page
            ),
            total=len(kept),
            offset=query.offset,
            limit=query.limit,
            missing_manifests=missing,
        )

    def _status(self, claim: _Claim, terms: _Terms) -> str:
        if claim.revoked:
            return "revoked"
        unknown = terms.access == "unknown"
        if not unknown and not terms.public and self._terms_of(claim.registered_terms).public:
            return "withdrawn"
        return "current"

    def _read_text_documents(self, claims: Sequence[_Claim]) -> None:
        self.documents.read(c.metadata for c in claims)
        self.documents.read(c.correction[1] for c in claims if c.correction is not None)

    def _text_of(self, claim: _Claim) -> tuple[Mapping[str, Any] | None, str | None]:
        """(the metadata, None) when the claim's text may be shown; else (metadata, why not).
        Only for claims whose terms are public and stand (the caller checks)."""
        metadata = self.documents.get(claim.metadata)
        if metadata is None:
            return None, "unavailable"
        if metadata.get("type") == SEALED_ITEM_TYPE:
            return metadata, "sealed"
        return metadata, None

    def _description(
        self, claim: _Claim, metadata: Mapping[str, Any]
    ) -> tuple[Description | None, int | None]:
        if claim.correction is not None:
            version, digest = claim.correction
            document = self.documents.get(digest)
            if document is None:
                return None, None  # never an older description the community replaced
        else:
            version, digest, document = 1, claim.metadata, metadata.get("description")
        if digest not in self._descriptions:
            try:
                parsed = None if document is None else description_from_json(document)
            except InvalidDescription:
                parsed = None
            self._descriptions[digest] = parsed
        parsed = self._descriptions[digest]
        return parsed, None if parsed is None else version

    def _search_text(self, claim: _Claim) -> str | None:
        metadata, withheld = self._text_of(claim)
        if withheld is not None or metadata is None:
            return None
        description, _ = self._description(claim, metadata)
        parts = [_file_name(claim, metadata) or ""]
        if description is not None:
            for field in LANGUAGE_FIELDS:
                parts += [entry.text for entry in getattr(description, field)]
            parts += [description.creator or "", description.date or "", *description.subjects]
            if description.place is not None:
                parts.append(description.place.name)
        return search_key("\n".join(parts))

    def _listed(
        self,
        claim: _Claim,
        terms: _Terms,
        status: str,
        names: Mapping[bytes, str | None],
        languages: Sequence[str] = (),
        disputed: bool = False,
    ) -> ListedItem:
        metadata = self.documents.get(claim.metadata)
        sealed = None if metadata is None else metadata.get("type") == SEALED_ITEM_TYPE
        if status in ("revoked", "withdrawn"):
            withheld: str | None = status
        elif sealed:
            withheld = "sealed"
        elif not terms.public:
            withheld = "not-public"
        else:
            _, withheld = self._text_of(claim)
        text: dict[str, Any] = {}
        if withheld is None and metadata is not None:
            description, version = self._description(claim, metadata)
            title = None if description is None else description.text("title", languages)
            size = metadata.get("size")
            media = metadata.get("media_type")
            text = {
                "title": None if title is None else title.text,
                "title_language": None if title is None else title.language,
                "titles": None
                if description is None
                else {e.language: e.text for e in description.title},
                "file_name": _file_name(claim, metadata),
                "media_type": media if isinstance(media, str) else None,
                "size": size if isinstance(size, int) else None,
                "description_version": version,
            }
        key = claim.key
        if key is None:  # an item of a batch: its claim key from its CID
            key = claim_key(claim.community, bytes(Cid.parse(str(claim.cid))))
        return ListedItem(
            key=key,
            kind=claim.kind,
            cid=claim.cid,
            community=NamedId(claim.community, names.get(claim.community)),
            steward=NamedId(claim.steward, names.get(claim.steward)),
            access=terms.access,
            status=status,
            sealed=sealed,
            labels=terms.labels,
            license=terms.license,
            terms_cid=str(document_cid(claim.terms)),
            terms_version=claim.terms_version,
            block=claim.block,
            log_index=claim.log_index,
            position=claim.position,
            registered_at=claim.timestamp,
            batch=claim.batch,
            parent=claim.parent,
            ai_enhanced=claim.ai_enhanced,
            disputed=disputed,
            withheld=withheld,
            **text,
        )


def _file_name(claim: _Claim, metadata: Mapping[str, Any]) -> str | None:
    name = metadata.get("name", claim.file_name)
    return name if isinstance(name, str) else None
