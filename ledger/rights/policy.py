"""The display-policy compiler: may this item be shown publicly at this moment? Deny by default.

:func:`decide` is pure: a :class:`~ledger.rights.model.Terms` and an aware datetime in, a
:class:`DisplayDecision` out, with every reason, allowing or denying. An item is shown only if

- every access protocol is ``public`` (ALL, never ANY: Mukurtu #1012);
- a license or a rights statement is present and none of them denies (In Copyright and the
  other "ask the rights holder" statements deny unless the terms carry the rights holder's
  ``public_display_grant``; an SPDX license that nobody here has reviewed for public display
  denies);
- no Local Contexts Label or Notice denies (TK Seasonal denies unless the moment is inside one
  of the terms' seasonal windows);
- the moment is inside the display window (after the embargo, before the expiry, inside a
  season when seasons are given).

:data:`POLICY_TABLE` is THE table: ``docs/display-policy.md`` carries its rendering
(:func:`policy_table_markdown`) and a test fails when the two differ. Regenerate the doc's
table with ``.venv/bin/python -m ledger.rights.policy``.
"""

from __future__ import annotations

import sys
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from ledger.errors import InvalidTerms, NaiveDatetime
from ledger.rights.model import DisplayWindow, Terms, parse_terms
from ledger.rights.vocabulary import LABELS, RIGHTS_STATEMENTS, SPDX_LICENSE_IDS

__all__ = [
    "OTHER_LICENSES",
    "POLICY_TABLE",
    "DisplayDecision",
    "Effect",
    "PolicyRule",
    "Reason",
    "decide",
    "decide_document",
    "policy_table_markdown",
    "requires_encryption",
]


class Effect(StrEnum):
    """What one license, statement, label or protocol does to public display."""

    ALLOWS = "allows"
    DENIES = "denies"
    DENIES_UNLESS_GRANTED = "denies unless public_display_grant"
    DENIES_OUTSIDE_SEASON = "denies unless inside a season"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One row of the display-policy table."""

    field: str  # "access", "license", "rights_statement" or "labels"
    value: str  # the protocol, SPDX id, statement URI or label id ("*": any other)
    name: str
    effect: Effect
    why: str


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision went the way it did: a stable code, the field, and a sentence."""

    code: str
    pointer: str
    message: str
    denies: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "pointer": self.pointer,
            "message": self.message,
            "denies": self.denies,
        }


@dataclass(frozen=True, slots=True)
class DisplayDecision:
    """The answer: ``allowed`` only when nothing denies and the basics (access, copyright)
    positively allow; ``reasons`` lists both kinds, in document order."""

    allowed: bool
    reasons: tuple[Reason, ...]

    @property
    def denials(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.denies)

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": [r.to_json() for r in self.reasons]}


# ---- the table -------------------------------------------------------------------------------

_A, _D = Effect.ALLOWS, Effect.DENIES
_G, _S = Effect.DENIES_UNLESS_GRANTED, Effect.DENIES_OUTSIDE_SEASON

_ACCESS: Final = (
    ("public", "Public", _A, "open to everyone"),
    ("community", "Community", _D, "for the community only; a public exhibit cannot restrict"),
    ("restricted", "Restricted", _D, "for named sub-groups only (role, gender, clan …)"),
)

# Licenses reviewed for public display: every Creative Commons license and dedication (each
# permits verbatim, non-commercial display, which is what an exhibit is), and the Open Data
# Commons public-domain and attribution licenses. Every other SPDX id denies until reviewed.
_REVIEWED_OPEN: Final = ("PDDL-1.0", "ODC-By-1.0", "ODbL-1.0")
_LICENSES_ALLOWED: Final = tuple(
    sorted(i for i in SPDX_LICENSE_IDS if i.startswith(("CC-", "CC0-"))) + list(_REVIEWED_OPEN)
)

_STATEMENTS: Final = {
    "InC": (_G, "only the rights holder can permit public display"),
    "InC-OW-EU": (_G, "orphan work: permits some uses by EU institutions, not a public site"),
    "InC-EDU": (_G, "educational use only; public display needs the rights holder"),
    "InC-NC": (_A, "the rights holder permits non-commercial use, which an exhibit is"),
    "InC-RUU": (_G, "in copyright, rights holder unknown: no one has permitted display"),
    "NoC-CR": (_G, "no copyright, but a contract restricts use"),
    "NoC-NC": (_A, "no copyright; non-commercial use only, which an exhibit is"),
    "NoC-OKLR": (_G, "no copyright, but other laws (e.g. cultural heritage law) restrict use"),
    "NoC-US": (_G, "public domain in the US only; a public site reaches every country"),
    "CNE": (_G, "copyright not evaluated: unknown means no"),
    "UND": (_G, "copyright undetermined: unknown means no"),
    "NKC": (_A, "no known copyright restrictions"),
}

_LABEL_EFFECTS: Final = {
    "tk:attribution": (_A, "asks for correct attribution, which the exhibit shows"),
    "tk:clan": (_D, "use and circulation follow clan membership"),
    "tk:family": (_D, "shared within a family; use needs the family's permission"),
    "tk:multiple-communities": (_D, "several communities decide; one community's keys do not"),
    "tk:community-voice": (_A, "the community's own voice and context, meant to be heard"),
    "tk:creative": (_A, "names the community's creative relationship to the material"),
    "tk:verified": (_A, "the community approves of how the material is displayed"),
    "tk:non-verified": (_D, "the community has not verified or approved its circulation"),
    "tk:seasonal": (_S, "may be heard or seen only at certain times of year"),
    "tk:women-general": (_D, "gendered protocol: a public exhibit cannot limit who looks"),
    "tk:men-general": (_D, "gendered protocol: a public exhibit cannot limit who looks"),
    "tk:men-restricted": (_D, "for initiated or authorized men only"),
    "tk:women-restricted": (_D, "for initiated or authorized women only"),
    "tk:culturally-sensitive": (_D, "culturally sensitive: use needs the community's permission"),
    "tk:secret-sacred": (_D, "secret or sacred: never for public display"),
    "tk:open-to-commercialization": (_A, "open to commercial use, so to display"),
    "tk:non-commercial": (_A, "non-commercial use only, which an exhibit is"),
    "tk:community-use-only": (_D, "for use within the community only"),
    "tk:outreach": (_A, "shared for educational outreach"),
    "tk:open-to-collaboration": (_A, "invites collaboration; no access limit"),
    "bc:provenance": (_A, "names the community of origin, which the exhibit shows"),
    "bc:multiple-communities": (_D, "several communities decide; one community's keys do not"),
    "bc:clan": (_D, "use follows clan membership"),
    "bc:consent-verified": (_A, "the community verified consent for use"),
    "bc:consent-non-verified": (_D, "no verified consent for use"),
    "bc:research-use": (_D, "for research use, not public display"),
    "bc:open-to-collaboration": (_A, "invites collaboration; no access limit"),
    "bc:open-to-commercialization": (_A, "open to commercial use, so to display"),
    "bc:outreach": (_A, "shared for educational outreach"),
    "bc:non-commercial": (_A, "non-commercial use only, which an exhibit is"),
    "notice:tk": (_D, "an institution's placeholder: the community has not yet set its Labels"),
    "notice:bc": (_D, "an institution's placeholder: the community has not yet set its Labels"),
    "notice:attribution-incomplete": (_A, "says the record's attribution is incomplete"),
    "notice:open-to-collaborate": (_A, "an institution's commitment to collaborate"),
}

#: The row for every SPDX license id that is not reviewed above.
OTHER_LICENSES: Final = PolicyRule(
    "license", "*", "any other SPDX license id", _D, "not reviewed for public display"
)


def _table() -> tuple[PolicyRule, ...]:
    rows = [PolicyRule("access", v, n, e, w) for v, n, e, w in _ACCESS]
    rows += [
        PolicyRule("license", i, i, _A, "an open license that permits public display")
        for i in _LICENSES_ALLOWED
    ]
    rows.append(OTHER_LICENSES)
    for statement in RIGHTS_STATEMENTS:
        effect, why = _STATEMENTS[statement.id]
        rows.append(PolicyRule("rights_statement", statement.uri, statement.title, effect, why))
    for label_id, label in LABELS.items():
        effect, why = _LABEL_EFFECTS[label_id]
        name = f"{label.name} ({label.code})" if label.code else label.name
        rows.append(PolicyRule("labels", label_id, name, effect, why))
    return tuple(rows)


#: THE display-policy table (docs/display-policy.md is its rendering).
POLICY_TABLE: Final[tuple[PolicyRule, ...]] = _table()
_BY_KEY: Final = {(r.field, r.value): r for r in POLICY_TABLE}


def _rule(field: str, value: str) -> PolicyRule:
    # Anything missing from the table denies: a new vocabulary entry is shut until reviewed.
    return _BY_KEY.get(
        (field, value),
        OTHER_LICENSES
        if field == "license"
        else PolicyRule(field, value, value, _D, "not in the policy table"),
    )


# ---- deciding (pure) -------------------------------------------------------------------------


def _in_season(window: DisplayWindow, at: datetime) -> bool:
    local = at.astimezone(zoneinfo.ZoneInfo(window.time_zone))
    return any(s.contains((local.month, local.day)) for s in window.seasons)


def _copyright(terms: Terms) -> list[Reason]:
    reasons: list[Reason] = []
    if terms.license is None and terms.rights_statement is None:
        return [
            Reason(
                "copyright.missing",
                "/license",
                "neither a license nor a rights statement: nothing permits public display",
                True,
            )
        ]
    granted = terms.public_display_grant is not None
    for field, value in (("license", terms.license), ("rights_statement", terms.rights_statement)):
        if value is None:
            continue
        rule = _rule(field, value)
        pointer = f"/{field}"
        if rule.effect is Effect.ALLOWS:
            reasons.append(Reason(f"{field}.allows", pointer, f"{value}: {rule.why}", False))
        elif rule.effect is Effect.DENIES_UNLESS_GRANTED and granted:
            holder = terms.public_display_grant.rights_holder if terms.public_display_grant else ""
            reasons.append(
                Reason(
                    f"{field}.granted",
                    "/public_display_grant",
                    f"{rule.name}: public display granted by {holder}",
                    False,
                )
            )
        elif rule.effect is Effect.DENIES_UNLESS_GRANTED:
            reasons.append(
                Reason(
                    f"{field}.needs-grant",
                    pointer,
                    f"{rule.name}: {rule.why}; no public_display_grant",
                    True,
                )
            )
        else:
            reasons.append(Reason(f"{field}.denies", pointer, f"{value}: {rule.why}", True))
    return reasons


def _labels(terms: Terms, at: datetime) -> list[Reason]:
    reasons: list[Reason] = []
    for index, label_id in enumerate(terms.labels):
        rule = _rule("labels", label_id)
        pointer = f"/labels/{index}"
        if rule.effect is Effect.ALLOWS:
            continue  # an allowing label decides nothing; only denials are reasons
        if rule.effect is Effect.DENIES_OUTSIDE_SEASON:
            window = terms.display
            if window is None or not window.seasons:
                reasons.append(
                    Reason(
                        "label.no-season",
                        pointer,
                        f"{rule.name}: {rule.why}, and the terms give no seasonal window",
                        True,
                    )
                )
            elif not _in_season(window, at):
                reasons.append(
                    Reason("label.out-of-season", pointer, f"{rule.name}: out of season", True)
                )
            else:
                reasons.append(
                    Reason("label.in-season", pointer, f"{rule.name}: inside a season", False)
                )
            continue
        reasons.append(Reason("label.denies", pointer, f"{rule.name}: {rule.why}", True))
    return reasons


def _window(terms: Terms, at: datetime) -> list[Reason]:
    window = terms.display
    if window is None:
        return []
    reasons: list[Reason] = []
    if window.embargo_until is not None and at < window.embargo_until:
        reasons.append(
            Reason(
                "window.embargoed",
                "/display/embargo_until",
                f"embargoed until {window.embargo_until.isoformat()}",
                True,
            )
        )
    if window.expires is not None and at >= window.expires:
        reasons.append(
            Reason(
                "window.expired",
                "/display/expires",
                f"display expired at {window.expires.isoformat()}",
                True,
            )
        )
    if window.seasons and not _in_season(window, at):
        local = at.astimezone(zoneinfo.ZoneInfo(window.time_zone))
        reasons.append(
            Reason(
                "window.out-of-season",
                "/display/seasons",
                f"{local.date().isoformat()} in {window.time_zone} is in none of the seasons",
                True,
            )
        )
    return reasons


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetime(
            f"the moment {at.isoformat()} has no UTC offset",
            hint="pass an aware datetime, e.g. 2026-11-25T12:00:00+00:00",
        )


def decide(terms: Terms, at: datetime) -> DisplayDecision:
    """May an item under ``terms`` be shown publicly at ``at``? Deny by default."""
    _require_aware(at)
    reasons: list[Reason] = []
    not_public = [
        (index, p.protocol) for index, p in enumerate(terms.access) if p.protocol != "public"
    ]
    for index, protocol in not_public:
        rule = _rule("access", protocol)
        reasons.append(
            Reason("access.not-public", f"/access/{index}", f"{rule.name}: {rule.why}", True)
        )
    if terms.access and not not_public:
        reasons.append(Reason("access.public", "/access", "every access protocol is public", False))
    reasons += _copyright(terms)
    reasons += _labels(terms, at)
    reasons += _window(terms, at)
    basics = {r.code.split(".")[0] for r in reasons if not r.denies}
    allowed = (
        not any(r.denies for r in reasons)
        and "access" in basics
        and bool(basics & {"license", "rights_statement"})
    )
    return DisplayDecision(allowed, tuple(reasons))


def decide_document(document: Any, at: datetime) -> DisplayDecision:
    """:func:`decide` for a raw JSON value: an invalid document is denied, with its problems."""
    _require_aware(at)
    try:
        terms = parse_terms(document)
    except InvalidTerms as exc:
        return DisplayDecision(
            False,
            tuple(
                Reason("terms.invalid", p.pointer, f"{p.message} [rule: {p.rule}]", True)
                for p in exc.problems
            ),
        )
    return decide(terms, at)


def requires_encryption(terms: Terms) -> bool:
    """True unless every access protocol is ``public``: such items are stored encrypted."""
    return not terms.access or any(p.protocol != "public" for p in terms.access)


# ---- the documented table --------------------------------------------------------------------

_FIELD_TITLES: Final = {
    "access": "Access protocols (`access[].protocol`; ALL must allow)",
    "license": "Licenses (`license`, SPDX ids)",
    "rights_statement": "RightsStatements.org statements (`rights_statement`)",
    "labels": "Local Contexts Labels and Notices (`labels[]`)",
}


def policy_table_markdown() -> str:
    """The markdown rendering of :data:`POLICY_TABLE` that docs/display-policy.md carries."""
    lines: list[str] = []
    for field, title in _FIELD_TITLES.items():
        lines += [f"### {title}", "", "| value | name | effect | why |", "|---|---|---|---|"]
        for rule in POLICY_TABLE:
            if rule.field == field:
                value = "*" if rule.value == "*" else f"`{rule.value}`"
                lines.append(f"| {value} | {rule.name} | {rule.effect.value} | {rule.why} |")
        lines.append("")
    return "\n".join(lines)


TABLE_BEGIN: Final = "<!-- BEGIN generated display-policy table -->"
TABLE_END: Final = "<!-- END generated display-policy table -->"


if __name__ == "__main__":  # rewrite the table in docs/display-policy.md
    doc = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/display-policy.md")
    text = doc.read_text("utf-8")
    head, _, rest = text.partition(TABLE_BEGIN)
    _, _, tail = rest.partition(TABLE_END)
    doc.write_text(f"{head}{TABLE_BEGIN}\n{policy_table_markdown()}{TABLE_END}{tail}", "utf-8")
    sys.stdout.write(f"wrote {doc}\n")
