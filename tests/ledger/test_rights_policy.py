"""The display-policy compiler: deny by default, ALL protocols, windows, seasons, the table."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import NaiveDatetime
from ledger.rights import (
    POLICY_TABLE,
    decide,
    decide_document,
    parse_terms,
    requires_encryption,
)
from ledger.rights.policy import TABLE_BEGIN, TABLE_END, policy_table_markdown
from ledger.rights.vocabulary import LABELS, RIGHTS_STATEMENTS, SPDX_LICENSE_IDS
from tests.ledger.policy_expectations import EXPECTATIONS
from tests.reaching import reached, reaches
from tests.rights_support import public_terms, restricted_terms

COMMUNITY = bytes.fromhex("a5" * 32)
DOC = Path(__file__).resolve().parents[2] / "docs" / "display-policy.md"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INC = "http://rightsstatements.org/vocab/InC/1.0/"
GRANT = {"rights_holder": "Estate of the photographer", "date": "2026-03-01"}


def decision(at: datetime = NOW, **fields: Any) -> Any:
    return decide(parse_terms(public_terms(COMMUNITY, **fields)), at)


def codes(**fields: Any) -> list[str]:
    return [r.code for r in decision(**fields).reasons if r.denies]


# ---- the table: one source, documented, complete ----------------------------------------------


def test_the_documented_table_is_the_code_table() -> None:
    text = DOC.read_text("utf-8")
    block = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    assert block == "\n" + policy_table_markdown(), (
        "docs/display-policy.md is stale: run `.venv/bin/python -m ledger.rights.policy`"
    )
    # And the rows a reader looks for are there, as the issue states them.
    for row in [
        "| `tk:secret-sacred` | TK Secret/Sacred (TK SS) | denies |",
        "| `tk:community-use-only` | TK Community Use Only (TK CO) | denies |",
        "| `tk:men-restricted` | TK Men Restricted (TK MR) | denies |",
        "| `tk:women-restricted` | TK Women Restricted (TK WR) | denies |",
        "| `tk:seasonal` | TK Seasonal (TK S) | denies unless inside a season |",
        f"| `{INC}` | In Copyright | denies unless public_display_grant |",
        "| * | any other SPDX license id | denies |",
    ]:
        assert row in block, row


def test_every_vocabulary_entry_has_a_row() -> None:
    keyed = {(r.field, r.value) for r in POLICY_TABLE}
    assert {("labels", i) for i in LABELS} <= keyed
    assert {("rights_statement", s.uri) for s in RIGHTS_STATEMENTS} <= keyed
    assert {("access", p) for p in ("public", "community", "restricted")} <= keyed
    licenses = {r.value for r in POLICY_TABLE if r.field == "license"} - {"*"}
    assert licenses <= SPDX_LICENSE_IDS
    assert {"CC-BY-4.0", "CC0-1.0", "CC-BY-NC-ND-4.0", "CC-PDM-1.0"} <= licenses
    assert len(keyed) == len(POLICY_TABLE)  # no row twice


# ---- the rules the issue names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    ["tk:secret-sacred", "tk:community-use-only", "tk:men-restricted", "tk:women-restricted"],
)
def test_protocol_labels_deny(label: str) -> None:
    result = decision(labels=["tk:attribution", label])
    assert not result.allowed
    assert [(r.code, r.pointer) for r in result.denials] == [("label.denies", "/labels/1")]


def test_in_copyright_denies_unless_the_rights_holder_grants_public_display() -> None:
    assert codes(license=None, rights_statement=INC) == ["rights_statement.needs-grant"]
    granted = decision(license=None, rights_statement=INC, public_display_grant=GRANT)
    assert granted.allowed
    assert "Estate of the photographer" in granted.reasons[-1].message
    # The grant does not lift anything else: a secret/sacred label still denies.
    assert not decision(rights_statement=INC, public_display_grant=GRANT,
                        labels=["tk:secret-sacred"]).allowed  # fmt: skip


def test_copyright_must_be_stated_and_known() -> None:
    assert codes(license=None) == ["copyright.missing"]
    assert codes(license="MIT") == ["license.denies"]  # valid SPDX, not reviewed: denies
    assert codes(license="CC-BY-4.0", rights_statement=INC) == ["rights_statement.needs-grant"]
    no_known_copyright = "http://rightsstatements.org/vocab/NKC/1.0/"
    assert decision(license=None, rights_statement=no_known_copyright).allowed
    us_only = "http://rightsstatements.org/vocab/NoC-US/1.0/"  # public domain in the US only
    assert codes(license=None, rights_statement=us_only) == ["rights_statement.needs-grant"]


def test_tk_seasonal_needs_a_season_and_a_moment_inside_it() -> None:
    assert codes(labels=["tk:seasonal"]) == ["label.no-season"]
    winter = {"time_zone": "UTC", "seasons": [{"from": "06-01", "to": "08-31"}]}
    assert decision(labels=["tk:seasonal"], display=winter, at=NOW).allowed is False
    assert codes(labels=["tk:seasonal"], display=winter) == [
        "label.out-of-season", "window.out-of-season",
    ]  # fmt: skip
    july = datetime(2027, 7, 1, tzinfo=UTC)
    assert decision(labels=["tk:seasonal"], display=winter, at=july).allowed


def test_embargo_and_expiry_bound_the_window() -> None:
    window = {
        "time_zone": "Europe/Berlin",
        "embargo_until": "2027-01-01T00:00:00+01:00",
        "expires": "2028-01-01T00:00:00+01:00",
    }
    start = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)  # = the embargo's end, in UTC
    assert codes(display=window, at=start - timedelta(microseconds=1)) == ["window.embargoed"]
    assert decision(display=window, at=start).allowed
    end = datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
    assert decision(display=window, at=end - timedelta(microseconds=1)).allowed
    assert codes(display=window, at=end) == ["window.expired"]


def test_a_naive_moment_is_refused() -> None:
    terms = parse_terms(public_terms(COMMUNITY))
    with pytest.raises(NaiveDatetime) as caught:
        decide(terms, datetime(2026, 1, 1))
    assert caught.value.exit_code == 2 and caught.value.hint
    with pytest.raises(NaiveDatetime):
        decide_document(public_terms(COMMUNITY), datetime(2026, 1, 1))

    class NoOffset(tzinfo):  # a time zone that gives no UTC offset is no time zone
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

        def dst(self, dt: datetime | None) -> timedelta | None:
            return None

        def tzname(self, dt: datetime | None) -> str | None:
            return None

    with pytest.raises(NaiveDatetime):
        decide(terms, datetime(2026, 1, 1, tzinfo=NoOffset()))


def test_invalid_documents_are_denied_with_their_problems() -> None:
    result = decide_document({"type": "heritage/terms", "access": "public"}, NOW)
    assert not result.allowed
    assert {r.code for r in result.reasons} == {"terms.invalid"}
    assert all(r.denies for r in result.reasons) and result.denials == result.reasons
    assert "/access" in [r.pointer for r in result.reasons]
    assert decide_document(public_terms(COMMUNITY), NOW).allowed


def test_restricted_terms_are_denied_and_need_encryption() -> None:
    terms = parse_terms(restricted_terms(COMMUNITY))
    assert not decide(terms, NOW).allowed
    assert requires_encryption(terms)
    assert not requires_encryption(parse_terms(public_terms(COMMUNITY)))


def test_a_label_after_tk_seasonal_is_still_weighed() -> None:
    """In season, TK Seasonal stops denying; the labels after it must still be read."""
    november = {"time_zone": "UTC", "seasons": [{"from": "11-01", "to": "11-30"}]}
    assert decision(labels=["tk:seasonal"], display=november).allowed
    result = decision(labels=["tk:seasonal", "tk:secret-sacred"], display=november)
    assert not result.allowed
    assert [(r.code, r.pointer) for r in result.denials] == [("label.denies", "/labels/1")]


def test_reasons_say_which_rule_and_why() -> None:
    unreviewed = decision(license="MIT").denials
    assert [(r.code, r.pointer) for r in unreviewed] == [("license.denies", "/license")]
    assert unreviewed[0].message == "MIT: not reviewed for public display"
    mixed = decision(access=[{"protocol": "public"}, {"protocol": "community"}])
    assert "access.public" not in [r.code for r in mixed.reasons]
    assert [r.code for r in decision().reasons] == ["access.public", "license.allows"]
    assert decision().to_json() == {
        "allowed": True,
        "reasons": [
            {"code": "access.public", "pointer": "/access",
             "message": "every access protocol is public", "denies": False},
            {"code": "license.allows", "pointer": "/license",
             "message": "CC-BY-4.0: an open license that permits public display",
             "denies": False},
        ],
    }  # fmt: skip


def test_decisions_and_rules_are_frozen_values() -> None:
    import dataclasses

    result = decision()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.allowed = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reasons[0].denies = True
    with pytest.raises(dataclasses.FrozenInstanceError):
        POLICY_TABLE[0].value = "community"  # type: ignore[misc]


# ---- seasons across year ends and DST transitions (hand-computed from the tz rules) -----------


@pytest.mark.parametrize(
    ("zone", "season", "moment", "inside"),
    [
        # Pacific/Auckland in summer is UTC+13: local midnight of Dec 1 is 11:00 UTC Nov 30.
        ("Pacific/Auckland", ("12-01", "02-28"), "2026-11-30T10:59:59Z", False),
        ("Pacific/Auckland", ("12-01", "02-28"), "2026-11-30T11:00:00Z", True),
        ("Pacific/Auckland", ("12-01", "02-28"), "2027-01-01T00:00:00Z", True),
        ("Pacific/Auckland", ("12-01", "02-28"), "2027-02-28T10:59:59Z", True),
        ("Pacific/Auckland", ("12-01", "02-28"), "2027-02-28T11:00:00Z", False),
        # Sydney: DST starts Sun 2026-10-04 02:00 AEST (+10 -> +11).
        ("Australia/Sydney", ("10-04", "10-04"), "2026-10-03T13:59:59Z", False),
        ("Australia/Sydney", ("10-04", "10-04"), "2026-10-03T14:00:00Z", True),
        ("Australia/Sydney", ("10-04", "10-04"), "2026-10-04T12:59:59Z", True),  # +11 now
        ("Australia/Sydney", ("10-04", "10-04"), "2026-10-04T13:00:00Z", False),
        # Sydney: DST ends Sun 2026-04-05 03:00 AEDT (+11 -> +10).
        ("Australia/Sydney", ("04-01", "04-04"), "2026-04-04T12:59:59Z", True),
        ("Australia/Sydney", ("04-01", "04-04"), "2026-04-04T13:00:00Z", False),
        # New York: DST starts Sun 2026-03-08 (-5 -> -4); the day still ends at local midnight.
        ("America/New_York", ("03-08", "03-08"), "2026-03-08T04:59:59Z", False),
        ("America/New_York", ("03-08", "03-08"), "2026-03-08T05:00:00Z", True),
        ("America/New_York", ("03-08", "03-08"), "2026-03-09T03:59:59Z", True),
        ("America/New_York", ("03-08", "03-08"), "2026-03-09T04:00:00Z", False),
        # Feb 29 in a season that ends on it, in a common year: Feb 28 in, Mar 1 out.
        ("UTC", ("02-01", "02-29"), "2027-02-28T23:59:59Z", True),
        ("UTC", ("02-01", "02-29"), "2027-03-01T00:00:00Z", False),
        ("UTC", ("02-01", "02-29"), "2028-02-29T12:00:00Z", True),
    ],
)
def test_seasons_are_local_days(
    zone: str, season: tuple[str, str], moment: str, inside: bool
) -> None:
    display = {"time_zone": zone, "seasons": [{"from": season[0], "to": season[1]}]}
    at = datetime.fromisoformat(moment)
    result = decision(labels=["tk:seasonal"], display=display, at=at)
    assert result.allowed is inside
    # The same moment written with another offset is the same decision.
    assert decision(labels=["tk:seasonal"], display=display,
                    at=at.astimezone(timezone(timedelta(hours=-7)))).allowed is inside  # fmt: skip


# ---- properties ---------------------------------------------------------------------------------

# The sets come from the hand-written expectations (tests/ledger/policy_expectations.py), never
# from POLICY_TABLE: a wrong row in the code must not just move into the other set.
def _expected(field: str, effect: str) -> list[str]:
    return sorted(r.value for r in EXPECTATIONS if r.field == field and r.expected == effect)


ALLOWING_LABELS = _expected("labels", "allows")
DENYING_LABELS = _expected("labels", "denies")
ALLOWING_LICENSES = _expected("license", "allows")
UNREVIEWED_LICENSES = sorted(SPDX_LICENSE_IDS - set(ALLOWING_LICENSES))
ALLOWING_STATEMENTS = _expected("rights_statement", "allows")
GRANT_STATEMENTS = _expected("rights_statement", "needs a grant")
ZONES = ["UTC", "Pacific/Auckland", "Australia/Sydney", "America/New_York", "Europe/London",
         "Pacific/Chatham", "Australia/Lord_Howe", "America/St_Johns"]  # fmt: skip
MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
MONTH_DAYS = st.sampled_from(
    [f"{d.month:02}-{d.day:02}" for d in (date(2000, 1, 1) + timedelta(n) for n in range(366))]
)


@st.composite
def allowed_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid documents made only of allowing elements."""
    fields: dict[str, Any] = {
        "labels": draw(st.lists(st.sampled_from(ALLOWING_LABELS), unique=True, max_size=5)),
        "access": [{"protocol": "public"}] * draw(st.integers(1, 4)),
    }
    copyright_basis = draw(st.sampled_from(["license", "statement", "both", "granted"]))
    fields["license"] = (
        draw(st.sampled_from(ALLOWING_LICENSES)) if copyright_basis != "statement" else None
    )
    if copyright_basis in ("statement", "both"):
        fields["rights_statement"] = draw(st.sampled_from(ALLOWING_STATEMENTS))
    if copyright_basis == "granted":
        fields["rights_statement"] = draw(st.sampled_from(GRANT_STATEMENTS))
        fields["public_display_grant"] = GRANT
    return public_terms(COMMUNITY, **fields)


@st.composite
def denying_edits(draw: st.DrawFn, at: datetime) -> tuple[str, Any]:
    """One element that must deny at ``at``, as (field, value)."""
    kind = draw(st.sampled_from(
        ["label", "protocol", "statement", "license", "seasonal", "embargo", "expiry"]
    ))  # fmt: skip
    if kind == "label":
        return "labels", [draw(st.sampled_from(DENYING_LABELS))]
    if kind == "protocol":
        protocol = draw(st.sampled_from(["community", "restricted"]))
        entry: dict[str, Any] = {"protocol": protocol}
        if protocol == "restricted":
            entry["groups"] = [{"kind": "gender", "name": "women"}]
        return "access", [{"protocol": "public"}, entry]
    if kind == "statement":
        return "rights_statement", draw(st.sampled_from(GRANT_STATEMENTS))
    if kind == "license":
        return "license", draw(st.sampled_from(UNREVIEWED_LICENSES))
    if kind == "seasonal":
        return "labels", ["tk:seasonal"]
    offset = timedelta(seconds=draw(st.integers(0, 10**9)))
    if kind == "embargo":
        return "display", {"time_zone": "UTC",
                           "embargo_until": (at + offset + timedelta(seconds=1)).isoformat()}
    return "display", {"time_zone": "UTC", "expires": (at - offset).isoformat()}  # fmt: skip


@reaches(0.8)
@given(st.data(), MOMENTS)
def test_no_document_with_a_denying_element_is_ever_allowed(
    data: st.DataObject, at: datetime
) -> None:
    document = data.draw(allowed_documents())
    assert decide(parse_terms(document), at).allowed  # the base alone is allowed …
    field, value = data.draw(denying_edits(at))
    if field == "labels":
        value = [*document["labels"], *(v for v in value if v not in document["labels"])]
    if field == "rights_statement":
        document.pop("public_display_grant", None)
    document[field] = value
    result = decide(parse_terms(document), at)
    assert not result.allowed  # … and one denying element is enough
    assert result.denials
    reached()


@reaches(0.8)
@given(st.lists(st.sampled_from(["public", "community", "restricted"]), min_size=1, max_size=6))
def test_all_protocols_must_be_public_not_any(protocols: list[str]) -> None:
    access = [
        {"protocol": p, **({"groups": [{"kind": "role", "name": "elders"}]} if p == "restricted"
                           else {})}
        for p in protocols
    ]  # fmt: skip
    terms = parse_terms(public_terms(COMMUNITY, access=access))
    every = all(p == "public" for p in protocols)
    assert decide(terms, NOW).allowed is every
    assert requires_encryption(terms) is not every
    denied_at = {r.pointer for r in decide(terms, NOW).denials}
    assert denied_at == {f"/access/{i}" for i, p in enumerate(protocols) if p != "public"}
    reached()


def _season_days(start: str, end: str, year: int) -> set[date]:
    """Oracle: walk the calendar day by day from the season's start to its end."""
    def day(text: str, y: int) -> date:
        month, dom = int(text[:2]), int(text[3:])
        if (month, dom) == (2, 29) and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
            return date(y, 3, 1) if text == start else date(y, 2, 28)
        return date(y, month, dom)

    days: set[date] = set()
    for first_year in (year - 1, year):
        first = day(start, first_year)
        last_year = first_year if (start <= end) else first_year + 1
        last = day(end, last_year)
        current = first
        while current <= last:
            days.add(current)
            current += timedelta(days=1)
    return days


@reaches(0.8)
@given(MONTH_DAYS, MONTH_DAYS, st.sampled_from(ZONES), MOMENTS)
def test_seasons_match_a_day_by_day_calendar_walk(
    start: str, end: str, zone: str, at: datetime
) -> None:
    display = {"time_zone": zone, "seasons": [{"from": start, "to": end}]}
    local_day = at.astimezone(zoneinfo.ZoneInfo(zone)).date()
    expected = local_day in _season_days(start, end, local_day.year)
    assert decision(labels=["tk:seasonal"], display=display, at=at).allowed is expected
    reached("inside a season" if expected else "outside every season")
