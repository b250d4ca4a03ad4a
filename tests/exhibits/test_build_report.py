"""exhibits.report: the private build report and what changed since the last build of the same
spec. Pure units over hand-made choices."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exhibits.model import ChainRef, Choice
from exhibits.report import (
    REPORT_TYPE,
    build_report,
    changes_since,
    read_previous,
    report_path_for,
    write_report,
)
from exhibits.select import select
from exhibits.spec import parse_spec
from ledger.errors import UsageError
from tests.exhibits.test_select import COMMUNITIES, NOW, candidate

CHAIN = ChainRef(31337, "0x" + "12" * 20)
SELECT = '\nlanguages = ["en"]\n[select]\ncommunities = ["Reef People"]\n'
SPEC = parse_spec('title = "Reef"' + SELECT)
OTHER_SPEC = parse_spec('title = "Hill"' + SELECT)


def choice_of(*candidates: object) -> Choice:
    return select(SPEC, list(candidates), NOW, COMMUNITIES)  # type: ignore[arg-type]


def report(choice: Choice, previous: dict[str, object] | None = None) -> dict[str, object]:
    return build_report(SPEC, choice, CHAIN, built_at=NOW, at=NOW, previous=previous)


A, B = candidate("a", title="Anchor"), candidate("b", title="Bowl")
B_REVOKED = candidate("b", title="Bowl", revoked=True)
C = candidate("c", title="Canoe")


def test_the_report_lists_every_selected_item_with_its_cid_and_reasons() -> None:
    first = report(choice_of(A, B_REVOKED))
    assert first["type"] == REPORT_TYPE and first["spec_id"] == SPEC.spec_id
    assert first["counts"] == {"selected": 2, "shown": 1, "excluded": 1}
    assert first["built_at"] == first["at"] == "2026-12-03T12:00:00Z"
    items = {i["id"]: i for i in first["items"]}  # type: ignore[attr-defined]
    assert items[B.item_id]["cid"] == str(B.cid) and items[B.item_id]["shown"] is False
    assert [r["code"] for r in items[B.item_id]["reasons"]] == ["claim.revoked"]
    assert items[A.item_id]["shown"] is True
    assert first["changes"] is None
    json.dumps(first)  # JSON values only


def test_changes_say_what_was_added_and_removed_and_why() -> None:
    first = report(choice_of(A, B))
    second = report(choice_of(A, B_REVOKED, C), previous=first)
    changes = second["changes"]
    assert changes == {
        "since": "2026-12-03T12:00:00Z",
        "added": [{"id": C.item_id, "cid": str(C.cid), "why": [
            {"code": "change.selected", "pointer": "",
             "message": "newly selected (registered, or named by the spec)", "denies": False}]}],
        "removed": [{"id": B.item_id, "cid": str(B.cid), "why": [
            {"code": "claim.revoked", "pointer": f"/claims/{B.item_id}",
             "message": "its terms are revoked", "denies": True}]}],
    }  # fmt: skip
    third = report(choice_of(A, B), previous=second)
    assert [(a["id"], a["why"][0]["code"]) for a in third["changes"]["added"]] == [  # type: ignore[index]
        (B.item_id, "change.allowed")
    ]
    assert "claim.revoked" in third["changes"]["added"][0]["why"][0]["message"]  # type: ignore[index]
    assert [r["id"] for r in third["changes"]["removed"]] == [C.item_id]  # type: ignore[index]
    assert third["changes"]["removed"][0]["why"][0]["code"] == "change.deselected"  # type: ignore[index]


def test_a_report_of_another_spec_is_not_compared() -> None:
    other = build_report(OTHER_SPEC, choice_of(B), CHAIN, built_at=NOW, at=NOW)
    assert report(choice_of(A), previous=other)["changes"] is None
    assert changes_since(None, []) is None


def test_the_report_path_is_beside_the_site_never_inside(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert report_path_for(site) == tmp_path / "site.report.json"
    assert report_path_for(site, tmp_path / "private" / "r.json") == tmp_path / "private/r.json"
    for inside in (site / "report.json", site, site / "a" / ".." / "r.json"):
        with pytest.raises(UsageError, match="inside the site"):
            report_path_for(site, inside)
    site.mkdir()
    (tmp_path / "link").symlink_to(site)
    with pytest.raises(UsageError, match="inside the site"):
        report_path_for(site, tmp_path / "link" / "r.json")


def test_a_missing_or_damaged_previous_report_only_loses_the_changes(tmp_path: Path) -> None:
    path = tmp_path / "site.report.json"
    assert read_previous(path) is None
    path.write_text("{not json")
    assert read_previous(path) is None
    path.write_text(json.dumps({"type": "something else"}))
    assert read_previous(path) is None
    document = report(choice_of(A))
    write_report(path, document)
    assert read_previous(path) == document
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    assert datetime.fromisoformat(str(document["built_at"])) == NOW.astimezone(UTC)
