"""The exhibit spec: the TOML file a curator writes to say what an exhibit shows and how.

Pure: :func:`parse_spec` turns TOML text into a frozen :class:`ExhibitSpec` or raises
:class:`~ledger.errors.InvalidExhibitSpec` (CLI exit 4) with one :class:`SpecProblem` per broken
rule, each naming the field (an RFC 6901 pointer into the document) and the rule. The shape is
checked by the published JSON Schema ``spec.schema.json`` beside this module; what a schema
cannot say (a CID that parses, a title in the default language, a room that selects within the
exhibit) is checked here and reported the same way. :func:`load_spec` only adds the file read.

:meth:`ExhibitSpec.to_json` is the canonical form (defaults filled in, language tags in their
canonical case, ids in lower case) and :attr:`ExhibitSpec.spec_id` its digest, so two files that
say the same thing are the same spec. The format is documented in docs/exhibit.md.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from jsonschema import ValidationError

from ledger.documents import canonical_json, parse_bytes32
from ledger.errors import InvalidCid, InvalidExhibitSpec, NoSuchFile
from ledger.ipfs.cid import Cid
from ledger.json_schema import json_pointer, schema_validator

__all__ = [
    "DEFAULT_ORDER",
    "DEFAULT_SCENE_VIEWER",
    "DEFAULT_THEME",
    "MAX_DEPTH",
    "MAX_SPEC_BYTES",
    "ORDERS",
    "SCHEMA_ID",
    "SCHEMA_RESOURCE",
    "THEMES",
    "ExhibitSpec",
    "ModelChoices",
    "Order",
    "Room",
    "Selection",
    "SpecProblem",
    "Text",
    "base_url_problem",
    "canonical_language_tag",
    "check_spec",
    "load_schema",
    "load_spec",
    "parse_spec",
]

SCHEMA_ID: Final = "https://heritage-ledger.org/schemas/exhibit-spec/1.json"
SCHEMA_RESOURCE: Final = "spec.schema.json"
#: A spec is a page of settings; anything larger is a mistake or an attack.
MAX_SPEC_BYTES: Final = 256 * 1024
#: How deeply arrays and tables may nest (a valid spec needs 4: room, a room, its title, a
#: language); deeper values are refused before validation, whose messages quote them whole.
MAX_DEPTH: Final = 16
#: The named orders of a room or of the whole exhibit (docs/exhibit.md).
ORDERS: Final = ("title", "date", "registered")
DEFAULT_ORDER: Final = "title"
#: The named themes (docs/exhibit.md describes each).
THEMES: Final = ("gallery", "night", "contrast")
DEFAULT_THEME: Final = "gallery"
#: Android Scene Viewer hands a model's URL to an app outside the browser, so it is an opt-in.
DEFAULT_SCENE_VIEWER: Final = False

#: Text per language, in the order of the spec's ``languages``: ``((tag, text), …)``.
Text = tuple[tuple[str, str], ...]
#: A named order (one of :data:`ORDERS`) or an explicit list of items shown first, in order.
Order = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One broken rule: where (RFC 6901 pointer, "" for the whole file), which rule, and why."""

    pointer: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class Selection:
    """Which items: those of ``communities`` (names as written, ids in lower case), narrowed
    to ``items`` (CIDs as written, item keys in lower case) and ``subjects`` when given."""

    communities: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        fields = (
            ("communities", self.communities),
            ("items", self.items),
            ("subjects", self.subjects),
        )
        return {name: list(values) for name, values in fields if values}


@dataclass(frozen=True, slots=True)
class Room:
    """A room of the gallery: its title, the items it takes from the exhibit, their order."""

    title: Text
    selection: Selection
    order: Order = DEFAULT_ORDER

    def to_json(self) -> dict[str, Any]:
        return {
            "title": dict(self.title),
            **self.selection.to_json(),
            "order": _order_json(self.order),
        }


@dataclass(frozen=True, slots=True)
class ModelChoices:
    """What a spec's ``[models]`` table (or one ``[models.item."ID"]`` entry) sets; None: the
    default of the model deriver (``exhibits.derive.models.ModelSettings``), or for an item
    entry, the exhibit's own choice. ``items`` is only set on the exhibit-wide value: each
    entry keyed by an item key (lower case) or a CID as written."""

    face_budget: int | None = None
    decimate: bool | None = None
    max_texture_px: int | None = None
    items: tuple[tuple[str, ModelChoices], ...] = ()

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            name: value
            for name, value in (
                ("face_budget", self.face_budget),
                ("decimate", self.decimate),
                ("max_texture_px", self.max_texture_px),
            )
            if value is not None
        }
        if self.items:
            document["item"] = {ref: choices.to_json() for ref, choices in self.items}
        return document

    def for_item(self, key: str, cid: str) -> ModelChoices:
        """The choices for one item (its ``0x`` key in lower case, its CID): an entry under
        its key wins over one under its CID, and either over the exhibit-wide values."""
        entries = dict(self.items)
        merged = ModelChoices(self.face_budget, self.decimate, self.max_texture_px)
        for ref in (cid, key):
            entry = entries.get(ref)
            if entry is not None:
                merged = ModelChoices(
                    entry.face_budget if entry.face_budget is not None else merged.face_budget,
                    entry.decimate if entry.decimate is not None else merged.decimate,
                    (
                        entry.max_texture_px
                        if entry.max_texture_px is not None
                        else merged.max_texture_px
                    ),
                )
        return merged


@dataclass(frozen=True, slots=True)
class ExhibitSpec:
    """A checked exhibit spec. ``languages[0]`` is the default language; every title holds
    text in it. ``rooms`` is empty when the spec has no ``[[room]]``."""

    title: Text
    languages: tuple[str, ...]
    selection: Selection
    order: Order = DEFAULT_ORDER
    rooms: tuple[Room, ...] = ()
    theme: str = DEFAULT_THEME
    scene_viewer: bool = DEFAULT_SCENE_VIEWER
    base_url: str | None = None  # "https://host/path/": where the site is served, if known
    # The interface's words translated (exhibits.ui_text): (language, ((key, text), …)) in the
    # order of ``languages``, keys sorted.
    ui: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    models: ModelChoices = ModelChoices()

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def to_json(self) -> dict[str, Any]:
        """The canonical form: a valid spec document itself, with every default written out."""
        document: dict[str, Any] = {
            "title": dict(self.title),
            "languages": list(self.languages),
            "select": {**self.selection.to_json(), "order": _order_json(self.order)},
        }
        if self.rooms:
            document["room"] = [room.to_json() for room in self.rooms]
        document["theme"] = self.theme
        document["ar"] = {"scene_viewer": self.scene_viewer}
        if self.base_url is not None:
            # Only when given, so specs written before the field keep their spec_id.
            document["base_url"] = self.base_url
        if self.ui:  # likewise
            document["ui"] = {language: dict(entries) for language, entries in self.ui}
        models = self.models.to_json()
        if models:
            # Likewise only when given: a spec without [models] keeps its spec_id.
            document["models"] = models
        return document

    @property
    def spec_id(self) -> str:
        """SHA-256 (hex) of the canonical JSON (RFC 8785) of :meth:`to_json`."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()


def _order_json(order: Order) -> str | list[str]:
    return order if isinstance(order, str) else list(order)


# ---- language tags ---------------------------------------------------------------------------


def canonical_language_tag(tag: str) -> str:
    """The case RFC 5646 §2.1.1 recommends for a well-formed tag: language subtags in lower
    case, four-letter script subtags in title case, two-letter region subtags in upper case,
    everything after a singleton (``x-``, ``u-``, …) in lower case. Tags are case-insensitive,
    so this only chooses one spelling."""
    out: list[str] = []
    after_singleton = False
    for position, subtag in enumerate(tag.split("-")):
        lower = subtag.lower()
        if position == 0 or after_singleton:
            out.append(lower)
            after_singleton = after_singleton or len(subtag) == 1
        elif len(subtag) == 1:
            out.append(lower)
            after_singleton = True
        elif len(subtag) == 2 and subtag.isalpha():
            out.append(subtag.upper())
        elif len(subtag) == 4 and subtag.isalpha():
            out.append(subtag.title())
        else:
            out.append(lower)
    return "-".join(out)


# ---- schema ----------------------------------------------------------------------------------


def load_schema() -> dict[str, Any]:
    """The published schema, read from the package data."""
    text = resources.files("exhibits").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    return schema_validator(
        load_schema(),
        pattern_message=lambda instance, _: f"{_shown(instance)} does not match the rule's pattern",
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_ONE_OF: Final = {
    "text": 'must be text, or a language map such as { en = "…", mi = "…" }',
    "order": f"must be one of {', '.join(ORDERS)}, or a list of items (CIDs or item keys)",
}


def _branch_errors(error: ValidationError) -> list[ValidationError]:
    # A oneOf's sub-errors come from every branch; keep those of the branch whose type fits
    # the value, so "title = ''" says "too short" instead of "not valid under any schema".
    # A type or enum error deeper down (an order list holding a number) is kept.
    kept = []
    for sub in error.context or ():
        here = list(sub.absolute_path) == list(error.absolute_path)
        if here and sub.validator == "type":
            continue
        if here and sub.validator == "enum" and not isinstance(sub.instance, str):
            continue
        kept.append(sub)
    return kept


def _schema_problems(document: Any) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    errors = list(_validator().iter_errors(document))
    while errors:
        error = errors.pop()
        where = json_pointer(error.absolute_path)
        rule = str(error.validator)
        instance = error.instance
        if rule == "required" and isinstance(instance, dict):
            for name in error.validator_value:
                if name not in instance:
                    problems.append(
                        SpecProblem(
                            where + json_pointer([name]), "required", f"{name!r} is required"
                        )
                    )
        elif rule == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            for name in instance:
                if name not in known:
                    problems.append(
                        SpecProblem(
                            where + json_pointer([name]),
                            "additionalProperties",
                            f"{_shown(name)} is not a field here (allowed: {', '.join(known)})",
                        )
                    )
        elif rule == "anyOf" and isinstance(instance, dict):  # a room's selection
            problems.append(
                SpecProblem(
                    where,
                    "room-selection",
                    "a room selects with at least one of communities, items, subjects",
                )
            )
        elif rule == "oneOf":
            branch = _branch_errors(error)
            if branch:
                errors.extend(branch)
            else:
                kind = "order" if where.endswith("/order") else "text"
                problems.append(SpecProblem(where, "oneOf", f"{_shown(instance)} {_ONE_OF[kind]}"))
        elif rule == "enum":
            allowed = ", ".join(str(v) for v in error.validator_value)
            problems.append(
                SpecProblem(where, "enum", f"{_shown(instance)} is not one of: {allowed}")
            )
        elif rule == "pattern" and "language" in str(error.schema.get("description", "")):
            # Under propertyNames the value is a key of the object at ``where``: name the key.
            if "propertyNames" in error.absolute_schema_path:
                where += json_pointer([instance])
            problems.append(
                SpecProblem(
                    where,
                    "language",
                    f"{_shown(instance)} is not a well-formed BCP 47 language tag (RFC 5646)",
                )
            )
        elif rule == "pattern":
            problems.append(SpecProblem(where, "pattern", f"{_shown(instance)} is blank"))
        elif rule == "uniqueItems":
            problems.append(SpecProblem(where, "uniqueItems", "an entry is listed twice"))
        else:
            message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
            problems.append(SpecProblem(where, rule, message))
    return problems


# ---- what the schema cannot say --------------------------------------------------------------


def _item_problem(where: str, text: str) -> SpecProblem | None:
    if text[:2] in ("0x", "0X"):
        if parse_bytes32(text) is None:
            return SpecProblem(
                where, "item-key", f"{_shown(text)} is not an item key (0x and 64 hex digits)"
            )
        return None
    try:
        Cid.parse(text)
    except InvalidCid as exc:
        return SpecProblem(where, "cid", f"{exc.message} (an item is a CID or an item key)")
    return None


def _community_problem(where: str, text: str) -> SpecProblem | None:
    if text[:2] in ("0x", "0X") and parse_bytes32(text) is None:
        return SpecProblem(
            where,
            "community-id",
            f"{_shown(text)} starts like an id but is not 0x and 64 hex digits; "
            "a community is a name or an id",
        )
    return None


def _text_problems(where: str, value: Any, languages: list[str]) -> list[SpecProblem]:
    if not isinstance(value, dict):
        return []
    problems: list[SpecProblem] = []
    seen: set[str] = set()
    for tag in value:
        canonical = canonical_language_tag(tag)
        if canonical in seen:
            problems.append(
                SpecProblem(
                    where + json_pointer([tag]),
                    "duplicate-language",
                    f"{tag!r} repeats a language of this map (tags ignore case)",
                )
            )
        seen.add(canonical)
        if canonical not in languages:
            problems.append(
                SpecProblem(
                    where + json_pointer([tag]),
                    "title-language",
                    f"{tag!r} is not one of the spec's languages ({', '.join(languages)})",
                )
            )
    if languages[0] not in seen:
        problems.append(
            SpecProblem(
                where,
                "default-language",
                f"the title has no text in the default language {languages[0]!r} "
                "(the first of languages)",
            )
        )
    return problems


def _selection_problems(where: str, table: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for i, name in enumerate(table.get("communities", ())):
        problems += filter(None, [_community_problem(f"{where}/communities/{i}", name)])
    for field in ("items", "order"):
        refs = table.get(field)
        if isinstance(refs, list):
            for i, ref in enumerate(refs):
                problems += filter(None, [_item_problem(f"{where}/{field}/{i}", ref)])
    for field in ("communities", "items", "order"):
        refs = table.get(field)
        if isinstance(refs, list):
            problems += _duplicate_refs(f"{where}/{field}", refs)
    return problems


def _normal_ref(text: str) -> str:
    return text.lower() if parse_bytes32(text) is not None else text


def _duplicate_refs(where: str, refs: list[str]) -> list[SpecProblem]:
    # "0xAB…" and "0xab…" are one id: uniqueItems compares strings exactly.
    seen: set[str] = set()
    problems = []
    for i, ref in enumerate(refs):
        normal = _normal_ref(ref)
        if normal in seen:
            problems.append(
                SpecProblem(f"{where}/{i}", "uniqueItems", f"{_shown(ref)} is listed twice")
            )
        seen.add(normal)
    return problems


def _room_problems(document: Mapping[str, Any]) -> list[SpecProblem]:
    select = document["select"]
    communities = {_normal_ref(c) for c in select["communities"]}
    items = {_normal_ref(i) for i in select.get("items", ())}
    problems: list[SpecProblem] = []
    for r, room in enumerate(document.get("room", ())):
        for i, name in enumerate(room.get("communities", ())):
            if _normal_ref(name) not in communities:
                problems.append(
                    SpecProblem(
                        f"/room/{r}/communities/{i}",
                        "room-within-select",
                        f"{_shown(name)} is not in [select] communities; a room shows "
                        "only what the exhibit selects (name it as [select] does)",
                    )
                )
        if items:
            for i, ref in enumerate(room.get("items", ())):
                if _normal_ref(ref) not in items:
                    problems.append(
                        SpecProblem(
                            f"/room/{r}/items/{i}",
                            "room-within-select",
                            f"{_shown(ref)} is not in [select] items; a room shows only "
                            "what the exhibit selects",
                        )
                    )
    return problems


def base_url_problem(text: str) -> str | None:
    """Why ``text`` cannot be a site's ``base_url`` (None when it can): an absolute http or
    https URL with a host, without user, query or fragment, since the sitemap protocol and IIIF
    need absolute URLs of the site's own pages and files."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        return f"{_shown(text)} is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{_shown(text)} is not an absolute http or https URL (https://host/path/)"
    if "@" in parts.netloc or parts.query or parts.fragment or text.endswith(("?", "#")):
        return f"{_shown(text)} has a user, query or fragment; a base URL has none"
    if any(c.isspace() or ord(c) < 0x20 for c in text) or "\\" in text:
        return f"{_shown(text)} holds white space, control characters or backslashes"
    return None


def _normal_base_url(text: str) -> str:
    return text if text.endswith("/") else text + "/"


def _models_problems(models: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    seen: dict[str, str] = {}
    for ref in models.get("item", {}):
        where = "/models/item/" + ref.replace("~", "~0").replace("/", "~1")
        problem = _item_problem(where, ref)
        if problem is not None:
            problems.append(problem)
            continue
        normal = _normal_ref(ref)
        if normal in seen:
            problems.append(
                SpecProblem(
                    where, "duplicate-item", f"{_shown(ref)} is also listed as {seen[normal]!r}"
                )
            )
        seen[normal] = ref
    return problems


def _semantic_problems(document: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if "base_url" in document:
        why = base_url_problem(document["base_url"])
        if why is not None:
            problems.append(SpecProblem("/base_url", "base-url", why))
    languages: list[str] = []
    for i, tag in enumerate(document["languages"]):
        canonical = canonical_language_tag(tag)
        if canonical in languages:
            problems.append(
                SpecProblem(
                    f"/languages/{i}",
                    "duplicate-language",
                    f"{tag!r} is listed twice (language tags ignore case)",
                )
            )
        languages.append(canonical)
    problems += _text_problems("/title", document["title"], languages)
    problems += _selection_problems("/select", document["select"])
    for r, room in enumerate(document.get("room", ())):
        problems += _text_problems(f"/room/{r}/title", room["title"], languages)
        problems += _selection_problems(f"/room/{r}", room)
    problems += _room_problems(document)
    problems += _models_problems(document.get("models", {}))
    problems += _ui_problems(document.get("ui", {}), languages)
    return problems


def _ui_problems(table: Mapping[str, Any], languages: list[str]) -> list[SpecProblem]:
    """Each ``[ui.<language>]`` is one of the exhibit's languages, and each of its keys one of
    the interface catalog's (:data:`exhibits.ui_text.UI_TEXT`), named when it is not."""
    from exhibits.ui_text import UI_TEXT

    problems: list[SpecProblem] = []
    seen: set[str] = set()
    for tag, entries in table.items():
        canonical = canonical_language_tag(tag)
        if canonical not in languages:
            problems.append(
                SpecProblem(
                    f"/ui/{tag}", "ui-language",
                    f"ui.{tag} translates the interface into {tag!r}, which is not one of the "
                    f"exhibit's languages ({', '.join(languages)})",
                )
            )  # fmt: skip
        elif canonical in seen:
            problems.append(
                SpecProblem(f"/ui/{tag}", "duplicate-language",
                            f"ui.{tag}: {canonical!r} is translated twice")
            )  # fmt: skip
        seen.add(canonical)
        for key in entries:
            if key not in UI_TEXT:
                problems.append(
                    SpecProblem(
                        f"/ui/{tag}/{key}", "ui-key",
                        f"ui.{tag}.{key}: {key!r} is not a key of the site's interface words "
                        "(the keys are listed in docs/exhibit.md, \"Interface words\")",
                    )
                )  # fmt: skip
    return problems


def check_spec(document: Any) -> tuple[SpecProblem, ...]:
    """Every problem of ``document`` (a parsed TOML table) as a spec; empty when valid."""
    problems = _schema_problems(document)
    if not problems:
        problems = _semantic_problems(document)
    return tuple(sorted(set(problems), key=lambda p: (p.pointer, p.rule, p.message)))


# ---- parsing ---------------------------------------------------------------------------------

_HINT: Final = "fix the field named; the format is in docs/exhibit.md"


def _invalid(where: str, problems: tuple[SpecProblem, ...]) -> InvalidExhibitSpec:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidExhibitSpec(
        f"{where} is not a valid exhibit spec: {first.pointer or '/'}: {first.message} "
        f"[rule: {first.rule}]{more}",
        problems=problems,
        hint=_HINT,
    )


def _text(value: str | dict[str, str], languages: tuple[str, ...]) -> Text:
    if isinstance(value, str):
        return ((languages[0], value),)
    by_tag = {canonical_language_tag(tag): text for tag, text in value.items()}
    return tuple((tag, by_tag[tag]) for tag in languages if tag in by_tag)


def _refs(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(_normal_ref(v) for v in values)


def _selection(table: Mapping[str, Any]) -> Selection:
    return Selection(
        communities=_refs(table.get("communities", ())),
        items=_refs(table.get("items", ())),
        subjects=tuple(table.get("subjects", ())),
    )


def _order(value: str | list[str] | None) -> Order:
    if value is None:
        return DEFAULT_ORDER
    return value if isinstance(value, str) else _refs(value)


def _build(document: Mapping[str, Any]) -> ExhibitSpec:
    languages = tuple(canonical_language_tag(tag) for tag in document["languages"])
    select = document["select"]
    return ExhibitSpec(
        title=_text(document["title"], languages),
        languages=languages,
        selection=_selection(select),
        order=_order(select.get("order")),
        rooms=tuple(
            Room(_text(room["title"], languages), _selection(room), _order(room.get("order")))
            for room in document.get("room", ())
        ),
        theme=document.get("theme", DEFAULT_THEME),
        scene_viewer=document.get("ar", {}).get("scene_viewer", DEFAULT_SCENE_VIEWER),
        base_url=_normal_base_url(document["base_url"]) if "base_url" in document else None,
        ui=_ui(document.get("ui", {}), languages),
        models=_models(document.get("models", {})),
    )


def _model_choices(table: Mapping[str, Any]) -> ModelChoices:
    return ModelChoices(
        table.get("face_budget"), table.get("decimate"), table.get("max_texture_px")
    )


def _models(table: Mapping[str, Any]) -> ModelChoices:
    entries = table.get("item", {})
    items = tuple((_normal_ref(ref), _model_choices(entries[ref])) for ref in sorted(entries))
    return ModelChoices(
        table.get("face_budget"), table.get("decimate"), table.get("max_texture_px"), items
    )


def _ui(table: Mapping[str, Any], languages: tuple[str, ...]) -> tuple[
    tuple[str, tuple[tuple[str, str], ...]], ...
]:
    by_tag = {canonical_language_tag(tag): entries for tag, entries in table.items()}
    return tuple(
        (tag, tuple(sorted((str(k), str(v)) for k, v in by_tag[tag].items())))
        for tag in languages
        if tag in by_tag
    )


def _too_deep(document: Any) -> str | None:
    """The pointer of the first value nested deeper than :data:`MAX_DEPTH`, if any."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return json_pointer(path[: MAX_DEPTH + 1])
        if isinstance(value, dict):
            stack += [(v, (*path, k)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, (*path, i)) for i, v in enumerate(value)]
    return None


def _syntax_error(where: str, rule: str, message: str) -> InvalidExhibitSpec:
    return _invalid(where, (SpecProblem("", rule, message),))


def parse_spec(text: str | bytes, where: str = "the exhibit spec") -> ExhibitSpec:
    """``text`` (TOML, UTF-8 when bytes) as an :class:`ExhibitSpec`, or
    :class:`~ledger.errors.InvalidExhibitSpec` naming each field and rule."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise _syntax_error(
            where, "max-size", f"the file is {size} bytes; a spec is at most {MAX_SPEC_BYTES}"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _syntax_error(
                where, "utf-8", f"byte {exc.start} is not UTF-8; TOML files are UTF-8 text"
            ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message ends "(at line L, column C)"; TOML forbids a table defined twice.
        raise _syntax_error(where, "toml-syntax", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise _syntax_error(
            where, "max-depth", "arrays or inline tables are nested too deeply to read"
        ) from None
    deep = _too_deep(document)
    if deep is not None:
        raise _invalid(
            where,
            (SpecProblem(deep, "max-depth", f"values nest deeper than {MAX_DEPTH} levels"),),
        )
    problems = check_spec(document)
    if problems:
        raise _invalid(where, problems)
    return _build(document)


def load_spec(path: Path) -> ExhibitSpec:
    """The spec in the TOML file at ``path`` (at most :data:`MAX_SPEC_BYTES`)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise NoSuchFile(
            f"no exhibit spec at {path}", hint="pass the path of a .toml file"
        ) from None
    except IsADirectoryError:
        raise NoSuchFile(f"{path} is a directory, not an exhibit spec") from None
    if len(data) > MAX_SPEC_BYTES:
        raise _syntax_error(
            str(path), "max-size", f"the file is over {MAX_SPEC_BYTES} bytes, a spec's limit"
        )
    return parse_spec(data, str(path))
