"""`heritage terms check`, run as a real process: exit 0 allowed, 3 denied, 4 invalid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.rights import parse_terms
from tests.api.test_cli import run
from tests.rights_support import public_terms, restricted_terms, write_terms

COMMUNITY = bytes.fromhex("3c" * 32)
SEASONAL = {"time_zone": "Australia/Darwin", "seasons": [{"from": "05-01", "to": "09-30"}]}


def test_allowed_terms_exit_0_and_say_why(tmp_path: Path) -> None:
    terms = write_terms(tmp_path / "terms.json", public_terms(COMMUNITY))
    proc = run(tmp_path / "data", "terms", "check", str(terms))
    assert proc.stdout.startswith("ALLOWED: public display of ")
    assert "every access protocol is public" in proc.stdout and "CC-BY-4.0" in proc.stdout
    assert str(parse_terms(public_terms(COMMUNITY)).cid) in proc.stdout


def test_denied_terms_exit_3_with_every_reason(tmp_path: Path) -> None:
    terms = write_terms(tmp_path / "terms.json", restricted_terms(COMMUNITY))
    proc = run(tmp_path / "data", "terms", "check", str(terms), "--json", check=False)
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["valid"], report["allowed"], report["requires_encryption"]) == (
        True, False, True,
    )  # fmt: skip
    assert report["terms_cid"] == str(parse_terms(restricted_terms(COMMUNITY)).cid)
    assert [(r["code"], r["pointer"], r["denies"]) for r in report["reasons"]] == [
        ("access.not-public", "/access/0", True),
        ("rights_statement.needs-grant", "/rights_statement", True),
        ("label.denies", "/labels/0", True),
    ]
    text = run(tmp_path / "data", "terms", "check", str(terms), check=False)
    assert text.returncode == 3 and text.stdout.startswith("DENIED")
    assert "/labels/0" in text.stdout and "TK Community Use Only" in text.stdout


def test_at_decides_for_a_moment_with_an_offset(tmp_path: Path) -> None:
    document = public_terms(COMMUNITY, labels=["tk:seasonal"], display=SEASONAL)
    terms = write_terms(tmp_path / "seasonal.json", document)
    data = tmp_path / "data"
    # Darwin is UTC+09:30 all year: 30 Apr 14:30 UTC is local midnight of 1 May.
    assert run(data, "terms", "check", str(terms), "--at", "2027-04-30T14:29:59Z",
               check=False).returncode == 3  # fmt: skip
    inside = run(data, "terms", "check", str(terms), "--at", "2027-04-30T14:30:00Z", "--json")
    assert json.loads(inside.stdout)["at"] == "2027-04-30T14:30:00+00:00"
    assert json.loads(inside.stdout)["allowed"] is True
    naive = run(data, "terms", "check", str(terms), "--at", "2027-05-01T12:00:00", check=False)
    assert naive.returncode == 2
    assert naive.stderr.startswith("error[naive_datetime]") and "hint:" in naive.stderr
    garbage = run(data, "terms", "check", str(terms), "--at", "next tuesday", check=False)
    assert garbage.returncode == 2 and "error[usage_error]" in garbage.stderr


def test_an_invalid_document_exits_4_naming_the_field_and_rule(tmp_path: Path) -> None:
    document = public_terms(COMMUNITY, labels=["tk:attribution", "tk:sacred-secret"])
    terms = write_terms(tmp_path / "bad.json", document)
    before = terms.read_bytes()
    proc = run(tmp_path / "data", "terms", "check", str(terms), check=False)
    assert proc.returncode == 4
    assert proc.stdout == (
        f"INVALID: {terms}: 1 problem(s)\n"
        "  /labels/1  'tk:sacred-secret' is not in this field's vocabulary [rule: enum]\n"
    )
    assert proc.stderr.startswith("error[invalid_terms]")
    assert "/labels/1" in proc.stderr and "[rule: enum]" in proc.stderr
    assert "hint:" in proc.stderr
    as_json = run(tmp_path / "data", "terms", "check", str(terms), "--json", check=False)
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout) == {
        "file": str(terms),
        "valid": False,
        "problems": [
            {"pointer": "/labels/1", "rule": "enum",
             "message": "'tk:sacred-secret' is not in this field's vocabulary"},
        ],
    }  # fmt: skip
    assert terms.read_bytes() == before  # the input is left as it was


def test_text_mode_lists_every_problem(tmp_path: Path) -> None:
    document = public_terms(
        COMMUNITY, license="Not-A-License", labels=["tk:nope"], access=[{"protocol": "open"}]
    )
    document["colour"] = "blue"
    terms = write_terms(tmp_path / "bad.json", document)
    as_json = run(tmp_path / "data", "terms", "check", str(terms), "--json", check=False)
    problems = json.loads(as_json.stdout)["problems"]
    assert len(problems) >= 4
    proc = run(tmp_path / "data", "terms", "check", str(terms), check=False)
    assert proc.returncode == 4
    lines = proc.stdout.splitlines()
    assert lines[0] == f"INVALID: {terms}: {len(problems)} problem(s)"
    assert lines[1:] == [
        f"  {p['pointer'] or '/'}  {p['message']} [rule: {p['rule']}]" for p in problems
    ]
    assert "more" not in proc.stdout
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error[invalid_terms]")


def _deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"license: CC-BY-4.0\n", "json"),
        (b'["heritage/terms"]', "type"),
        (b'"just a string"', "type"),
        (b"null", "type"),
        (_deep(200).encode(), "maxDepth"),
        (b'{"pad": "' + b"x" * (1 << 20) + b'"}', "maxBytes"),
    ],
)
def test_a_file_that_is_no_json_object_is_an_invalid_document(
    tmp_path: Path, content: bytes, rule: str
) -> None:
    terms = tmp_path / "terms.json"
    terms.write_bytes(content)
    proc = run(tmp_path / "data", "terms", "check", str(terms), check=False)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error[invalid_terms]") and f"[rule: {rule}]" in proc.stderr
    as_json = run(tmp_path / "data", "terms", "check", str(terms), "--json", check=False)
    assert as_json.returncode == 4
    answer = json.loads(as_json.stdout)
    assert answer["file"] == str(terms) and answer["valid"] is False
    assert [(p["pointer"], p["rule"]) for p in answer["problems"]] == [("", rule)]


def test_a_path_that_names_no_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = run(tmp_path / "data", "terms", "check", str(tmp_path / "nope.json"), check=False)
    assert missing.returncode == 2 and "nope.json" in missing.stderr


def test_check_is_listed_under_terms(tmp_path: Path) -> None:
    proc = run(tmp_path / "data", "terms", "--help")
    assert "check" in proc.stdout and "set" in proc.stdout and "revoke" in proc.stdout
