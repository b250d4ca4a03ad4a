"""``decide`` held to the hand-written expectations of tests/ledger/policy_expectations.py.

The expectations come from the published meaning of each entry, not from POLICY_TABLE; a row
where code and table disagree fails here until a person changes one of them on purpose.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.rights import POLICY_TABLE, Effect, decide, parse_terms
from ledger.rights.policy import TABLE_BEGIN, TABLE_END
from ledger.rights.vocabulary import LABELS, RIGHTS_STATEMENTS, SPDX_LICENSE_IDS
from tests.ledger.policy_expectations import (
    ACCESS,
    EXPECTATIONS,
    LICENSES,
    STATEMENTS,
    UNREVIEWED_LICENSES,
    Expectation,
)
from tests.ledger.policy_expectations import LABELS as LABEL_ROWS
from tests.rights_support import public_terms

COMMUNITY = bytes.fromhex("c3" * 32)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GRANT = {"rights_holder": "The photographer's estate", "date": "2026-03-01"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "display-policy.md"
WORDS = {
    Effect.ALLOWS: "allows",
    Effect.DENIES: "denies",
    Effect.DENIES_UNLESS_GRANTED: "needs a grant",
    Effect.DENIES_OUTSIDE_SEASON: "needs a season",
}


def _allowed(at: datetime = NOW, **fields: Any) -> bool:
    return decide(parse_terms(public_terms(COMMUNITY, **fields)), at).allowed


def _denial_codes(**fields: Any) -> list[str]:
    result = decide(parse_terms(public_terms(COMMUNITY, **fields)), NOW)
    return [r.code for r in result.denials]


# ---- the table is complete and sourced --------------------------------------------------------


def test_every_entry_of_the_vocabularies_has_an_expectation() -> None:
    assert {r.value for r in LABEL_ROWS} == set(LABELS)
    assert {r.value for r in STATEMENTS} == {s.uri for s in RIGHTS_STATEMENTS}
    assert {r.value for r in ACCESS} == {"public", "community", "restricted"}
    # Every license the code reviews is expected, and nothing else is: a license added to the
    # code (or to the SPDX list, for a CC license) fails here until someone reviews it by hand.
    reviewed = {r.value for r in POLICY_TABLE if r.field == "license" and r.value != "*"}
    assert {r.value for r in LICENSES} == reviewed
    assert {r.value for r in (*LICENSES, *UNREVIEWED_LICENSES)} <= SPDX_LICENSE_IDS
    keys = [(r.field, r.value) for r in EXPECTATIONS]
    assert len(keys) == len(set(keys)), "a row appears twice"


def test_every_row_names_its_source() -> None:
    for row in EXPECTATIONS:
        assert re.search(r"https?://|docs/[a-z-]+\.md", row.source), row
        assert len(row.source) > 40, row  # a clause, not just an address


# ---- the code agrees with the table, row by row ------------------------------------------------


def test_the_code_table_gives_each_entry_its_expected_effect() -> None:
    code = {(r.field, r.value): WORDS[r.effect] for r in POLICY_TABLE}
    disagreements = [
        f"{row.field} {row.value}: expected {row.expected!r} ({row.source}); "
        f"the code says {code.get((row.field, row.value), 'denies (no row)')!r}"
        for row in EXPECTATIONS
        if code.get((row.field, row.value), "denies") != row.expected
    ]
    assert not disagreements, "\n".join(disagreements)


def test_the_published_table_gives_each_entry_its_expected_effect() -> None:
    """docs/display-policy.md is what curators read: it must say what the table expects."""
    block = DOC.read_text("utf-8").split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    documented = {
        value: effect
        for value, effect in re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|", block, re.M)
    }
    words = {"denies unless public_display_grant": "needs a grant",
             "denies unless inside a season": "needs a season"}  # fmt: skip
    for row in (*ACCESS, *LICENSES, *STATEMENTS, *LABEL_ROWS):
        effect = documented[row.value].strip()
        assert words.get(effect, effect) == row.expected, row


@pytest.mark.parametrize("row", EXPECTATIONS, ids=lambda r: f"{r.field}:{r.value}")
def test_decide_does_what_the_published_meaning_says(row: Expectation) -> None:
    if row.field == "access":
        entry: dict[str, Any] = {"protocol": row.value}
        if row.value == "restricted":
            entry["groups"] = [{"kind": "gender", "name": "women"}]
        assert _allowed(access=[entry]) is (row.expected == "allows")
        assert _allowed(access=[{"protocol": "public"}, entry]) is (row.expected == "allows")
    elif row.field == "license":
        # alone, as the only copyright basis; a grant changes nothing for a license
        assert _allowed(license=row.value) is (row.expected == "allows")
        assert _allowed(license=row.value, public_display_grant=GRANT) is (
            row.expected == "allows"
        )
        if row.expected == "denies":
            assert _denial_codes(license=row.value) == ["license.denies"]
    elif row.field == "rights_statement":
        alone: dict[str, Any] = {"license": None, "rights_statement": row.value}
        assert _allowed(**alone) is (row.expected == "allows")
        assert _allowed(**alone, public_display_grant=GRANT) is (
            row.expected in ("allows", "needs a grant")
        )
        if row.expected == "needs a grant":
            assert _denial_codes(**alone) == ["rights_statement.needs-grant"]
        # beside an allowing license, the statement still has its say
        assert _allowed(license="CC-BY-4.0", rights_statement=row.value) is (
            row.expected == "allows"
        )
    else:
        assert row.field == "labels"
        assert _allowed(labels=[row.value]) is (row.expected == "allows")
        with_open = ["tk:attribution", row.value] if row.value != "tk:attribution" else [row.value]
        assert _allowed(labels=with_open) is (row.expected == "allows")
        if row.expected == "denies":
            assert _denial_codes(labels=[row.value]) == ["label.denies"]
        season = {"time_zone": "UTC", "seasons": [{"from": "11-01", "to": "11-30"}]}
        in_season = _allowed(labels=[row.value], display=season, at=NOW)
        out_of_season = datetime(2026, 12, 1, tzinfo=UTC)
        assert in_season is (row.expected in ("allows", "needs a season"))
        assert not _allowed(labels=[row.value], display=season, at=out_of_season)
        if row.expected == "needs a season":
            assert _denial_codes(labels=[row.value]) == ["label.no-season"]
