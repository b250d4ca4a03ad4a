"""The terms document: validation against the published schema, and the typed value it becomes.

:func:`check_terms` takes any JSON value and always answers: a tuple of
:class:`TermsProblem` (empty when the document is valid), each naming the field as a JSON
pointer (RFC 6901) and the rule it breaks. :func:`parse_terms` turns a valid document into
:class:`Terms` or raises :class:`~ledger.errors.InvalidTerms` carrying those problems.

A :class:`Terms` keeps the document's canonical bytes (RFC 8785, the form the registry binds),
so its :attr:`Terms.cid` is exactly the CID that registration stores and signs.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Final

from ledger.documents import canonical_json, document_cid
from ledger.errors import InvalidTerms
from ledger.ipfs.cid import Cid
from ledger.json_schema import json_pointer, schema_validator
from ledger.rights.schema import load_schema
from ledger.rights.vocabulary import SPDX_LIST_VERSION

__all__ = [
    "AccessProtocol",
    "AiUse",
    "Contact",
    "DisplayWindow",
    "Location",
    "ProtocolGroup",
    "PublicDisplayGrant",
    "Season",
    "Terms",
    "TermsProblem",
    "check_terms",
    "parse_terms",
]


@dataclass(frozen=True, slots=True)
class TermsProblem:
    """One reason a document is not valid terms: where (JSON pointer), which rule, and why."""

    pointer: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class ProtocolGroup:
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class AccessProtocol:
    """``public``, ``community`` or ``restricted``, with the sub-groups it is open to."""

    protocol: str
    groups: tuple[ProtocolGroup, ...] = ()


@dataclass(frozen=True, slots=True)
class Season:
    """Whole local days ``start``..``end`` inclusive, as (month, day); start > end wraps."""

    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, month_day: tuple[int, int]) -> bool:
        if self.start <= self.end:
            return self.start <= month_day <= self.end
        return month_day >= self.start or month_day <= self.end


@dataclass(frozen=True, slots=True)
class DisplayWindow:
    """When public display may happen: after the embargo, before expiry, inside a season."""

    time_zone: str
    embargo_until: datetime | None = None
    expires: datetime | None = None
    seasons: tuple[Season, ...] = ()


@dataclass(frozen=True, slots=True)
class PublicDisplayGrant:
    """The rights holder's explicit permission for public display (what In Copyright needs)."""

    rights_holder: str
    date: date
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AiUse:
    """Consent for AI use; absent from a document means neither is consented to."""

    training: bool = False
    enhancement: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    """How precisely a location may be shown; absent from a document means ``hidden``."""

    precision: str = "hidden"
    distance_m: int | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """A valid terms document, typed. Build it with :func:`parse_terms`."""

    canonical: bytes  # the RFC 8785 bytes of the document: what the registry binds
    community: bytes
    access: tuple[AccessProtocol, ...]
    license: str | None = None
    rights_statement: str | None = None
    labels: tuple[str, ...] = ()
    display: DisplayWindow | None = None
    public_display_grant: PublicDisplayGrant | None = None
    ai_use: AiUse = AiUse()
    location: Location = Location()
    attribution: str | None = None
    languages: tuple[str, ...] = ()
    contact: Contact | None = None

    @property
    def digest(self) -> bytes:
        """sha2-256 of the canonical bytes: the ``bytes32`` the registry holds."""
        return hashlib.sha256(self.canonical).digest()

    @property
    def cid(self) -> Cid:
        """CIDv1(raw, sha2-256) of the canonical bytes."""
        return document_cid(self.digest)

    def document(self) -> dict[str, Any]:
        """The document as a JSON value (a fresh copy)."""
        value: dict[str, Any] = json.loads(self.canonical)
        return value


# ---- validation (pure) -----------------------------------------------------------------------


@cache
def _validator() -> Any:
    return schema_validator(load_schema())


def _schema_problems(document: Any) -> list[TermsProblem]:
    problems: list[TermsProblem] = []
    for error in _validator().iter_errors(document):
        where = json_pointer(error.absolute_path)
        rule = str(error.validator)
        instance = error.instance
        if rule == "required" and isinstance(instance, dict):
            for name in error.validator_value:
                if name not in instance:
                    problems.append(
                        TermsProblem(
                            where + json_pointer([name]), "required", f"{name!r} is required"
                        )
                    )
        elif rule == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            for name in instance:
                if name not in known:
                    problems.append(
                        TermsProblem(
                            where + json_pointer([name]),
                            "additionalProperties",
                            f"{name!r} is not a field of this object",
                        )
                    )
        elif rule == "not" and isinstance(error.validator_value, dict) and isinstance(
            instance, dict
        ):
            # Our only "not" forbids a field: name it ("groups" on public, "distance_m").
            names = error.validator_value.get("required", [])
            for name in names:
                problems.append(
                    TermsProblem(
                        where + json_pointer([name]), "not", f"{name!r} is not allowed here"
                    )
                )
        elif rule == "enum" and where == "/license":
            problems.append(
                TermsProblem(
                    where,
                    "enum",
                    f"{instance!r} is not an SPDX license id (SPDX License List "
                    f"{SPDX_LIST_VERSION}, https://spdx.org/licenses/)",
                )
            )
        elif rule == "enum":
            problems.append(
                TermsProblem(where, "enum", f"{instance!r} is not in this field's vocabulary")
            )
        else:
            problems.append(TermsProblem(where, rule, _short(error.message)))
    return problems


def _short(message: str) -> str:
    # jsonschema quotes the whole enum (800 SPDX ids) in its message; keep reports readable.
    return message if len(message) <= 200 else message[:197] + "..."


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _month_day(text: str) -> tuple[int, int] | None:
    month, day = int(text[:2]), int(text[3:])
    if day > calendar.monthrange(2000, month)[1]:  # 2000: a leap year, so 02-29 is a day
        return None
    return month, day


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _semantic_problems(document: dict[str, Any]) -> list[TermsProblem]:
    """What the schema cannot say: real zones, real dates, ordered windows. Runs only on a
    document the schema accepted, so every field read here has its schema shape."""
    problems: list[TermsProblem] = []
    display = document.get("display")
    if display is not None:
        if _zone(display["time_zone"]) is None:
            problems.append(
                TermsProblem(
                    "/display/time_zone",
                    "time-zone",
                    f"{display['time_zone']!r} is not an IANA time zone (e.g. Pacific/Auckland)",
                )
            )
        moments: dict[str, datetime] = {}
        for name in ("embargo_until", "expires"):
            if name in display:
                moment = _moment(display[name])
                if moment is None:
                    problems.append(
                        TermsProblem(
                            f"/display/{name}",
                            "date-time",
                            f"{display[name]!r} is not an RFC 3339 date-time with an offset",
                        )
                    )
                else:
                    moments[name] = moment
        if len(moments) == 2 and moments["embargo_until"] >= moments["expires"]:
            problems.append(
                TermsProblem(
                    "/display/expires",
                    "embargo-before-expiry",
                    "the display window ends before it begins (expires <= embargo_until)",
                )
            )
        for index, season in enumerate(display.get("seasons", ())):
            for end in ("from", "to"):
                if _month_day(season[end]) is None:
                    problems.append(
                        TermsProblem(
                            f"/display/seasons/{index}/{end}",
                            "month-day",
                            f"{season[end]!r} is not a day of the year (MM-DD)",
                        )
                    )
    grant = document.get("public_display_grant")
    if grant is not None:
        try:
            date.fromisoformat(grant["date"])
        except ValueError:
            problems.append(
                TermsProblem(
                    "/public_display_grant/date", "date", f"{grant['date']!r} is not a date"
                )
            )
    return problems


def check_terms(document: Any) -> tuple[TermsProblem, ...]:
    """Every problem of ``document`` as terms (any JSON value); empty when it is valid."""
    problems = _schema_problems(document)
    if not problems:
        problems = _semantic_problems(document)
    return tuple(sorted(set(problems), key=lambda p: (p.pointer, p.rule, p.message)))


# ---- parsing ---------------------------------------------------------------------------------


def _invalid(where: str, problems: tuple[TermsProblem, ...]) -> InvalidTerms:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidTerms(
        f"{where} is not a valid terms document: {first.pointer or '/'}: {first.message} "
        f"[rule: {first.rule}]{more}",
        problems=problems,
        hint="fix the field and check again with `heritage terms check`; the format is in "
        "docs/terms.md",
    )


def _parsed_month_day(text: str) -> tuple[int, int]:
    # Only called on checked documents, where every MM-DD is a day of the (leap) year.
    return int(text[:2]), int(text[3:])


def _build(document: dict[str, Any], canonical: bytes) -> Terms:
    display = document.get("display")
    window = None
    if display is not None:
        window = DisplayWindow(
            time_zone=display["time_zone"],
            embargo_until=_moment(display["embargo_until"]) if "embargo_until" in display else None,
            expires=_moment(display["expires"]) if "expires" in display else None,
            seasons=tuple(
                Season(_parsed_month_day(s["from"]), _parsed_month_day(s["to"]))
                for s in display.get("seasons", ())
            ),
        )
    grant = document.get("public_display_grant")
    contact = document.get("contact")
    ai = document.get("ai_use")
    location = document.get("location")
    return Terms(
        canonical=canonical,
        community=bytes.fromhex(document["community"][2:]),
        access=tuple(
            AccessProtocol(
                p["protocol"],
                tuple(ProtocolGroup(g["kind"], g["name"]) for g in p.get("groups", ())),
            )
            for p in document["access"]
        ),
        license=document.get("license"),
        rights_statement=document.get("rights_statement"),
        labels=tuple(document.get("labels", ())),
        display=window,
        public_display_grant=None
        if grant is None
        else PublicDisplayGrant(
            grant["rights_holder"], date.fromisoformat(grant["date"]), grant.get("note")
        ),
        ai_use=AiUse() if ai is None else AiUse(ai["training"], ai["enhancement"]),
        location=Location()
        if location is None
        else Location(location["precision"], location.get("distance_m")),
        attribution=document.get("attribution"),
        languages=tuple(document.get("languages", ())),
        contact=None
        if contact is None
        else Contact(contact["name"], contact.get("email"), contact.get("url")),
    )


def parse_terms(
    document: Any, *, where: str = "the terms document", community: bytes | None = None
) -> Terms:
    """``document`` as :class:`Terms`, or :class:`InvalidTerms` naming each field and rule.

    With ``community``, the document must also belong to that community (the one registering
    or holding the item): terms are signed by a community about its own items.
    """
    problems = check_terms(document)
    if problems:
        raise _invalid(where, problems)
    terms = _build(document, canonical_json(document))
    if community is not None and terms.community != community:
        raise _invalid(
            where,
            (
                TermsProblem(
                    "/community",
                    "registering-community",
                    f"the terms belong to community 0x{terms.community.hex()}, not to "
                    f"0x{community.hex()} that is acting on the item",
                ),
            ),
        )
    return terms


#: The rules this module adds to the schema's keywords (for docs/terms.md).
SEMANTIC_RULES: Final = (
    "time-zone",
    "date-time",
    "embargo-before-expiry",
    "month-day",
    "date",
    "registering-community",
)
