"""Terms documents: the published schema, the vocabularies, validation with pointer + rule."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.documents import canonical_json
from ledger.errors import InvalidTerms, UsageError
from ledger.rights import check_terms, load_schema, parse_terms
from ledger.rights.model import SEMANTIC_RULES
from ledger.rights.schema import build_schema, schema_text
from ledger.rights.vocabulary import (
    BC_LABELS,
    LABELS,
    LOCAL_CONTEXTS_NOTICES,
    RIGHTS_STATEMENTS,
    SPDX_LICENSE_IDS,
    TK_LABELS,
)
from tests.hypothesis_profiles import examples
from tests.kubo_reference import run_kubo_reference
from tests.reaching import reached, reaches
from tests.rights_support import public_terms, restricted_terms, write_terms

COMMUNITY = bytes.fromhex("4f" * 32)
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "ledger" / "rights" / "terms.schema.json"


def problems_of(document: Any) -> list[tuple[str, str]]:
    return [(p.pointer, p.rule) for p in check_terms(document)]


# ---- the published schema and the vocabularies -----------------------------------------------


def test_the_published_schema_is_current_and_a_valid_2020_12_schema() -> None:
    assert SCHEMA_FILE.read_text("utf-8") == schema_text(build_schema()), (
        "run `.venv/bin/python -m ledger.rights.schema` and commit terms.schema.json"
    )
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_vocabularies_are_complete() -> None:
    # Counts and names as Local Contexts and RightsStatements.org publish them.
    assert len(TK_LABELS) == 20 and len(BC_LABELS) == 10 and len(LOCAL_CONTEXTS_NOTICES) == 4
    assert {label.name for label in TK_LABELS} >= {
        "TK Secret/Sacred", "TK Community Use Only", "TK Men Restricted",
        "TK Women Restricted", "TK Seasonal", "TK Open to Collaboration",
    }  # fmt: skip
    assert len(LABELS) == 34  # ids are unique across TK, BC and Notices
    assert [s.id for s in RIGHTS_STATEMENTS] == [
        "InC", "InC-OW-EU", "InC-EDU", "InC-NC", "InC-RUU", "NoC-CR", "NoC-NC", "NoC-OKLR",
        "NoC-US", "CNE", "UND", "NKC",
    ]  # fmt: skip
    assert RIGHTS_STATEMENTS[0].uri == "http://rightsstatements.org/vocab/InC/1.0/"
    # The SPDX list, Creative Commons included.
    assert {"CC-BY-4.0", "CC0-1.0", "CC-BY-NC-ND-4.0", "MIT", "Apache-2.0"} <= SPDX_LICENSE_IDS
    assert "CC-BY-5.0" not in SPDX_LICENSE_IDS


def test_the_support_documents_are_valid() -> None:
    assert check_terms(public_terms(COMMUNITY)) == ()
    assert check_terms(restricted_terms(COMMUNITY)) == ()
    assert parse_terms(restricted_terms(COMMUNITY)).community == COMMUNITY


def test_terms_cid_is_the_raw_cid_kubo_gives_the_canonical_bytes(tmp_path: Path) -> None:
    document = public_terms(COMMUNITY, attribution="Ngā mihi — «taonga»")
    written = write_terms(tmp_path / "terms.json", document)
    terms = parse_terms(json.loads(written.read_text("utf-8")))
    # JCS of a document without floats is sorted keys, no whitespace, UTF-8 (RFC 8785 §3.2).
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert terms.canonical == expected.encode("utf-8") == canonical_json(document)
    assert terms.digest == hashlib.sha256(terms.canonical).digest()
    block = tmp_path / "canonical.bin"
    block.write_bytes(terms.canonical)
    # Kubo's `ipfs add --cid-version 1` of a one-chunk file is the raw block's CID.
    assert run_kubo_reference(["--cid-version", "1"], [block]) == [str(terms.cid)]


# ---- invalid documents: the field (JSON pointer) and the rule ---------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"license": "CC-BY-5.0"}, [("/license", "enum")]),
        ({"license": "MIT OR Apache-2.0"}, [("/license", "enum")]),
        ({"rights_statement": "http://rightsstatements.org/vocab/InC/2.0/"},
         [("/rights_statement", "enum")]),
        ({"labels": ["tk:attribution", "tk:sacred"]}, [("/labels/1", "enum")]),
        ({"labels": ["tk:seasonal", "tk:seasonal"]}, [("/labels", "uniqueItems")]),
        ({"access": []}, [("/access", "minItems")]),
        ({"access": None}, [("/access", "required")]),
        ({"access": [{"protocol": "secret"}]}, [("/access/0/protocol", "enum")]),
        ({"access": [{"protocol": "public", "groups": [{"kind": "role", "name": "elders"}]}]},
         [("/access/0/groups", "not")]),
        ({"access": [{"protocol": "restricted"}]}, [("/access/0/groups", "required")]),
        ({"access": [{"protocol": "restricted", "groups": [{"kind": "gender", "name": "women"},
                                                           {"kind": "rank", "name": "x"}]}]},
         [("/access/0/groups/1/kind", "enum")]),
        ({"community": "0x" + "AB" * 32}, [("/community", "pattern")]),
        ({"community": "0x" + "ab" * 32 + "\n"}, [("/community", "pattern")]),
        ({"type": "heritage/item-metadata"}, [("/type", "const")]),
        ({"version": 2}, [("/version", "const")]),
        ({"licence": "CC-BY-4.0"}, [("/licence", "additionalProperties")]),
        ({"display": {"time_zone": "Mars/Olympus"}}, [("/display/time_zone", "time-zone")]),
        ({"display": {"embargo_until": "2027-01-01T00:00:00+00:00"}},
         [("/display/time_zone", "required")]),
        ({"display": {"time_zone": "UTC", "embargo_until": "2027-01-01T00:00:00"}},
         [("/display/embargo_until", "pattern")]),
        ({"display": {"time_zone": "UTC", "expires": "2027-02-30T00:00:00Z"}},
         [("/display/expires", "date-time")]),
        ({"display": {"time_zone": "UTC", "embargo_until": "2027-01-01T00:00:00Z",
                      "expires": "2027-01-01T00:00:00+00:00"}},
         [("/display/expires", "embargo-before-expiry")]),
        ({"display": {"time_zone": "UTC", "seasons": [{"from": "02-30", "to": "03-01"}]}},
         [("/display/seasons/0/from", "month-day")]),
        ({"display": {"time_zone": "UTC", "seasons": [{"from": "13-01", "to": "03-01"}]}},
         [("/display/seasons/0/from", "pattern")]),
        ({"public_display_grant": {"rights_holder": "A. Artist", "date": "2026-02-30"}},
         [("/public_display_grant/date", "date")]),
        ({"public_display_grant": {"rights_holder": "A. Artist"}},
         [("/public_display_grant/date", "required")]),
        ({"ai_use": {"training": "yes", "enhancement": False}}, [("/ai_use/training", "type")]),
        ({"location": {"precision": "coarsened"}}, [("/location/distance_m", "required")]),
        ({"location": {"precision": "exact", "distance_m": 10}},
         [("/location/distance_m", "not")]),
        ({"location": {"precision": "coarsened", "distance_m": 0}},
         [("/location/distance_m", "minimum")]),
        ({"languages": ["en", "english_UK"]}, [("/languages/1", "pattern")]),
        ({"languages": ["en\n"]}, [("/languages/0", "pattern")]),
        ({"contact": {"name": "Desk"}}, [("/contact", "anyOf")]),
        ({"attribution": ""}, [("/attribution", "minLength")]),
    ],
)
def test_each_invalid_field_is_named_with_its_rule(
    edit: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    document = public_terms(COMMUNITY)
    for field, value in edit.items():  # (a loop: "community" is public_terms' own argument)
        if value is None:
            del document[field]
        else:
            document[field] = value
    assert problems_of(document) == expected
    with pytest.raises(InvalidTerms) as caught:
        parse_terms(document, where="t.json")
    assert caught.value.exit_code == 4 and caught.value.code == "invalid_terms"
    assert isinstance(caught.value, UsageError)
    assert expected[0][0] in caught.value.message and "t.json" in caught.value.message
    assert caught.value.hint is not None and "terms check" in caught.value.hint


def test_every_problem_is_reported_not_only_the_first() -> None:
    document = {"type": "heritage/terms", "community": "0x12", "labels": ["x"], "extra": 1}
    assert problems_of(document) == [
        ("/access", "required"),
        ("/community", "pattern"),
        ("/extra", "additionalProperties"),
        ("/labels/0", "enum"),
        ("/version", "required"),
    ]
    assert problems_of([]) == [("", "type")]
    assert problems_of(None) == [("", "type")]


def test_well_formed_bcp47_tags_are_accepted() -> None:
    # Examples from RFC 5646 Appendix A.
    tags = ["de", "zh-Hant", "zh-cmn-Hans-CN", "sr-Latn-RS", "sl-rozaj-biske", "de-CH-1901",
            "hy-Latn-IT-arevela", "es-419", "en-US-x-twain", "x-whatever", "i-klingon",
            "zh-min-nan", "en-a-myext-b-another", "mi-NZ", "qaa-Qaaa-QM-x-southern"]  # fmt: skip
    assert check_terms(public_terms(COMMUNITY, languages=tags)) == ()
    for bad in ["", "a", "de-419-DE-", "en--US", "toolonglanguage", "en-a"]:
        assert problems_of(public_terms(COMMUNITY, languages=[bad])) == [
            ("/languages/0", "pattern")
        ], bad


def test_terms_of_another_community_are_refused() -> None:
    other = bytes.fromhex("11" * 32)
    assert parse_terms(public_terms(other)).community == other
    with pytest.raises(InvalidTerms) as caught:
        parse_terms(public_terms(other), where="t.json", community=COMMUNITY)
    assert [(p.pointer, p.rule) for p in caught.value.problems] == [
        ("/community", "registering-community")
    ]
    assert ("0x" + other.hex()) in caught.value.message


# ---- arbitrary JSON never crashes the validator -----------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip
KNOWN_RULES = set(SEMANTIC_RULES) | {
    "type", "required", "additionalProperties", "enum", "const", "pattern", "minItems",
    "maxItems", "uniqueItems", "minLength", "maxLength", "minimum", "maximum", "anyOf", "not",
}  # fmt: skip
FIELDS = ["type", "version", "community", "license", "rights_statement", "labels", "access",
          "display", "public_display_grant", "ai_use", "location", "attribution", "languages",
          "contact", "unknown"]  # fmt: skip


def _resolves(document: Any, pointer: str) -> bool:
    """The pointer names a value in the document, or a missing member of an object in it."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = document
    for index, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return index == len(parts) - 1 and isinstance(node, dict)
    return True


def _assert_answer(document: Any) -> None:
    problems = check_terms(document)
    for problem in problems:
        assert problem.rule in KNOWN_RULES, problem
        assert problem.message
        assert _resolves(document, problem.pointer), problem
    if not problems:
        parse_terms(document)  # a valid answer means it parses


@reaches(0.8)
@settings(max_examples=examples(300))
@given(JSON)
def test_arbitrary_json_gets_an_answer(document: Any) -> None:
    _assert_answer(document)
    reached()


@reaches(0.8)
@settings(max_examples=examples(300))
@given(st.sampled_from(FIELDS), JSON, st.booleans())
def test_a_valid_document_with_any_field_replaced_gets_an_answer(
    field: str, value: Any, nested: bool
) -> None:
    document = public_terms(COMMUNITY)
    if nested:  # one level down, where the objects are
        document["display"] = {"time_zone": "UTC", field: value}
    else:
        document[field] = value
    _assert_answer(document)
    reached()
