"""The exhibit spec: TOML in, a frozen ExhibitSpec out, every bad input named by field and rule."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exhibits import ExhibitSpec, Room, Selection, check_spec, load_spec, parse_spec
from exhibits.spec import (
    MAX_SPEC_BYTES,
    ORDERS,
    SCHEMA_ID,
    THEMES,
    ModelChoices,
    canonical_language_tag,
    load_schema,
)
from ledger.documents import canonical_json
from ledger.errors import ExitCode, InvalidExhibitSpec, NoSuchFile
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

ROOT = Path(__file__).resolve().parents[2]
CID_V1 = str(Cid.for_block(b"a reef song", RAW))
CID_V0 = str(Cid.for_block(b"a carved paddle", DAG_PB, version=0))
KEY = "0x" + "ab" * 32
COMMUNITY_ID = "0x" + "1f" * 32

MINIMAL = """\
title = "Voices of the Reef"
languages = ["en"]
[select]
communities = ["Reef People"]
"""

FULL = f"""\
title = {{ en = "Voices of the Reef", mi = "Ngā Reo o te Toka" }}
languages = ["en", "mi"]
theme = "night"

[select]
communities = ["Reef People", "{COMMUNITY_ID.upper().replace("0X", "0x")}"]
items = ["{CID_V1}", "{CID_V0}", "{KEY}"]
subjects = ["songs", "carving"]
order = "date"

[[room]]
title = "Songs"
communities = ["Reef People"]
subjects = ["songs"]
order = "registered"

[[room]]
title = {{ en = "Carving", mi = "Whakairo" }}
items = ["{CID_V0}", "{KEY}"]
order = ["{KEY}", "{CID_V0}"]

[ar]
scene_viewer = true
"""


def _invalid(text: str) -> InvalidExhibitSpec:
    with pytest.raises(InvalidExhibitSpec) as caught:
        parse_spec(text)
    return caught.value


def _rules(error: InvalidExhibitSpec) -> set[tuple[str, str]]:
    return {(p.pointer, p.rule) for p in error.problems}


# ---- valid specs -----------------------------------------------------------------------------


def test_the_minimal_spec_of_the_issue() -> None:
    spec = parse_spec(MINIMAL)
    assert spec == ExhibitSpec(
        title=(("en", "Voices of the Reef"),),
        languages=("en",),
        selection=Selection(communities=("Reef People",)),
    )
    assert spec.default_language == "en"
    assert spec.order == "title" and spec.rooms == () and spec.theme == "gallery"
    assert spec.scene_viewer is False  # Android Scene Viewer is an opt-in


def test_a_full_spec() -> None:
    spec = parse_spec(FULL)
    assert spec.title == (("en", "Voices of the Reef"), ("mi", "Ngā Reo o te Toka"))
    assert spec.languages == ("en", "mi")
    assert spec.selection == Selection(
        communities=("Reef People", COMMUNITY_ID),  # ids in lower case
        items=(CID_V1, CID_V0, KEY),
        subjects=("songs", "carving"),
    )
    assert spec.order == "date" and spec.theme == "night" and spec.scene_viewer is True
    assert spec.rooms == (
        Room((("en", "Songs"),), Selection(("Reef People",), (), ("songs",)), "registered"),
        Room(
            (("en", "Carving"), ("mi", "Whakairo")),
            Selection((), (CID_V0, KEY), ()),
            (KEY, CID_V0),
        ),
    )


def test_load_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "reef.toml"
    path.write_text(FULL, encoding="utf-8")
    assert load_spec(path) == parse_spec(FULL)
    with pytest.raises(NoSuchFile):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(NoSuchFile):
        load_spec(tmp_path)
    path.write_text('theme = "pink"\n' + MINIMAL, encoding="utf-8")
    with pytest.raises(InvalidExhibitSpec) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path} is not a valid exhibit spec: /theme: ")
    assert [p.to_json() for p in caught.value.problems] == [
        {
            "pointer": "/theme",
            "rule": "enum",
            "message": "'pink' is not one of: gallery, night, contrast",
        }
    ]


def test_the_error_is_the_exit_4_category() -> None:
    assert InvalidExhibitSpec.exit_code == ExitCode.SPEC_INVALID
    assert int(ExitCode.SPEC_INVALID) == 4
    assert InvalidExhibitSpec.code == "invalid_exhibit_spec"
    error = _invalid(MINIMAL.replace('"Reef People"', '"0x12"'))
    assert "/select/communities/0" in str(error) and "[rule: community-id]" in str(error)
    assert "docs/exhibit.md" in str(error)


# ---- the canonical form ----------------------------------------------------------------------


def test_to_json_is_a_valid_spec_with_defaults_written_out() -> None:
    document = parse_spec(MINIMAL).to_json()
    assert document == {
        "title": {"en": "Voices of the Reef"},
        "languages": ["en"],
        "select": {"communities": ["Reef People"], "order": "title"},
        "theme": "gallery",
        "ar": {"scene_viewer": False},
    }
    assert check_spec(document) == ()
    assert check_spec(parse_spec(FULL).to_json()) == ()


def test_the_spec_id_is_the_sha256_of_the_canonical_json() -> None:
    spec = parse_spec(FULL)
    assert spec.spec_id == hashlib.sha256(canonical_json(spec.to_json())).hexdigest()
    assert len(spec.spec_id) == 64


def test_specs_that_say_the_same_thing_have_one_id() -> None:
    same = [
        MINIMAL,
        MINIMAL.replace('"Voices of the Reef"', '{ EN = "Voices of the Reef" }').replace(
            '["en"]', '["En"]'
        ),
        MINIMAL + 'order = "title"\n',
        'theme = "gallery"\n' + MINIMAL + "[ar]\nscene_viewer = false\n",
    ]
    assert len({parse_spec(text).spec_id for text in same}) == 1
    different = [MINIMAL, MINIMAL + 'order = "date"\n', MINIMAL.replace("Reef People", "Reef")]
    assert len({parse_spec(text).spec_id for text in different}) == 3


@pytest.mark.parametrize(
    ("tag", "canonical"),
    # RFC 5646 §2.1.1's own examples, and its rules for each kind of subtag.
    [
        ("mn-cyrl-mn", "mn-Cyrl-MN"),
        ("MN-CYRL-MN", "mn-Cyrl-MN"),
        ("en-CA-x-ca", "en-CA-x-ca"),
        ("EN-ca-X-CA", "en-CA-x-ca"),
        ("sgn-be-fr", "sgn-BE-FR"),
        ("az-latn-x-latn", "az-Latn-x-latn"),
        ("es-419", "es-419"),
        ("x-Reef", "x-reef"),
        ("de-CH-1901", "de-CH-1901"),
    ],
)
def test_language_tags_take_the_case_rfc_5646_recommends(tag: str, canonical: str) -> None:
    assert canonical_language_tag(tag) == canonical


# ---- the schema ------------------------------------------------------------------------------


def _objects(schema: Any) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _objects(value)
    return found


def test_the_schema_is_a_2020_12_schema_closed_everywhere() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID
    assert schema["properties"]["theme"]["enum"] == list(THEMES)
    assert schema["$defs"]["order"]["oneOf"][0]["enum"] == list(ORDERS)
    objects = _objects(schema)
    assert len(objects) >= 4
    for table in objects:  # a language map's values are checked, its keys are tags
        assert table.get("additionalProperties") is False or "propertyNames" in table


def test_the_schema_is_package_data_and_documented() -> None:
    assert 'exhibits = ["*.schema.json"]' in (ROOT / "pyproject.toml").read_text()
    page = (ROOT / "docs" / "exhibit.md").read_text()
    for word in ("gallery", "night", "contrast", "scene_viewer", "registered", "spec.schema.json"):
        assert word in page


# ---- invalid shapes, each named by field and rule --------------------------------------------

SELECT = '[select]\ncommunities = ["Reef People"]\n'
HEAD = 'title = "T"\nlanguages = ["en"]\n'


@pytest.mark.parametrize(
    ("text", "pointer", "rule"),
    [
        ('languages = ["en"]\n' + SELECT, "/title", "required"),
        ('title = "T"\n' + SELECT, "/languages", "required"),
        (HEAD, "/select", "required"),
        (HEAD + "[select]\n", "/select/communities", "required"),
        ('title = ""\nlanguages = ["en"]\n' + SELECT, "/title", "minLength"),
        ('title = "   "\nlanguages = ["en"]\n' + SELECT, "/title", "pattern"),
        ('title = 7\nlanguages = ["en"]\n' + SELECT, "/title", "oneOf"),
        ('title = {}\nlanguages = ["en"]\n' + SELECT, "/title", "minProperties"),
        ('title = { "e n" = "T" }\nlanguages = ["en"]\n' + SELECT, "/title/e n", "language"),
        ('title = { mi = "T" }\nlanguages = ["en"]\n' + SELECT, "/title", "default-language"),
        ('title = { en = "T", fr = "L" }\nlanguages = ["en"]\n' + SELECT, "/title/fr",
         "title-language"),
        ('title = { en = "T", EN = "U" }\nlanguages = ["en"]\n' + SELECT, "/title/EN",
         "duplicate-language"),
        ('title = "T"\nlanguages = []\n' + SELECT, "/languages", "minItems"),
        ('title = "T"\nlanguages = "en"\n' + SELECT, "/languages", "type"),
        ('title = "T"\nlanguages = ["english!"]\n' + SELECT, "/languages/0", "language"),
        ('title = "T"\nlanguages = ["en", "en"]\n' + SELECT, "/languages", "uniqueItems"),
        ('title = "T"\nlanguages = ["en", "EN"]\n' + SELECT, "/languages/1",
         "duplicate-language"),
        (HEAD + "[select]\ncommunities = []\n", "/select/communities", "minItems"),
        (HEAD + '[select]\ncommunities = [" "]\n', "/select/communities/0", "pattern"),
        (HEAD + '[select]\ncommunities = ["0xab"]\n', "/select/communities/0", "community-id"),
        (HEAD + f'[select]\ncommunities = ["{COMMUNITY_ID}", "{COMMUNITY_ID.upper()[2:]}"]\n',
         "", ""),  # a name may be anything that is not 0x-like: this one is valid
        (HEAD + f'[select]\ncommunities = ["{KEY}", "0x{"AB" * 32}"]\n',
         "/select/communities/1", "uniqueItems"),
        (HEAD + SELECT + 'items = ["not-a-cid"]\n', "/select/items/0", "cid"),
        (HEAD + SELECT + 'items = ["0x1234"]\n', "/select/items/0", "item-key"),
        (HEAD + SELECT + f'items = ["{CID_V1}", "{CID_V1}"]\n', "/select/items", "uniqueItems"),
        (HEAD + SELECT + "items = [1]\n", "/select/items/0", "type"),
        (HEAD + SELECT + "subjects = []\n", "/select/subjects", "minItems"),
        (HEAD + SELECT + 'order = "random"\n', "/select/order", "enum"),
        (HEAD + SELECT + "order = []\n", "/select/order", "minItems"),
        (HEAD + SELECT + "order = 3\n", "/select/order", "oneOf"),
        (HEAD + SELECT + 'order = ["bafy"]\n', "/select/order/0", "cid"),
        (HEAD + SELECT + "order = [1]\n", "/select/order/0", "type"),
        ('title = { en = 1 }\nlanguages = ["en"]\n' + SELECT, "/title/en", "type"),
        ('title = { en = "" }\nlanguages = ["en"]\n' + SELECT, "/title/en", "minLength"),
        (HEAD + SELECT + 'colour = "red"\n', "/select/colour", "additionalProperties"),
        ('colour = "red"\n' + HEAD + SELECT, "/colour", "additionalProperties"),
        ('theme = "pink"\n' + HEAD + SELECT, "/theme", "enum"),
        (HEAD + SELECT + '[ar]\nscene_viewer = "yes"\n', "/ar/scene_viewer", "type"),
        (HEAD + SELECT + "[ar]\nquick_look = true\n", "/ar/quick_look", "additionalProperties"),
        (HEAD + SELECT + '[[room]]\ncommunities = ["Reef People"]\n', "/room/0/title",
         "required"),
        (HEAD + SELECT + '[[room]]\ntitle = "R"\n', "/room/0", "room-selection"),
        (HEAD + SELECT + '[[room]]\ntitle = "R"\nsubjects = ["s"]\nlight = 1\n',
         "/room/0/light", "additionalProperties"),
        (HEAD + SELECT + '[[room]]\ntitle = { mi = "R" }\nsubjects = ["s"]\n', "/room/0/title",
         "default-language"),
        (HEAD + SELECT + '[[room]]\ntitle = "R"\ncommunities = ["Others"]\n',
         "/room/0/communities/0", "room-within-select"),
        (HEAD + SELECT + f'items = ["{KEY}"]\n[[room]]\ntitle = "R"\nitems = ["{CID_V1}"]\n',
         "/room/0/items/0", "room-within-select"),
        (HEAD + SELECT + '[[room]]\ntitle = "R"\nitems = ["Qm"]\n', "/room/0/items/0", "cid"),
        (HEAD + SELECT + '[[room]]\ntitle = "R"\nsubjects = ["s"]\norder = "size"\n',
         "/room/0/order", "enum"),
        (HEAD + "room = []\n" + SELECT, "/room", "minItems"),
        (HEAD + SELECT + "when = 2026-01-01T00:00:00Z\n", "/select/when", "additionalProperties"),
        (HEAD + SELECT + "subjects = [2026-01-01]\n", "/select/subjects/0", "type"),
        (HEAD + SELECT + "[models]\nface_budget = 3\n", "/models/face_budget", "minimum"),
        (HEAD + SELECT + "[models]\nface_budget = 5000001\n", "/models/face_budget", "maximum"),
        (HEAD + SELECT + "[models]\nface_budget = 1.5\n", "/models/face_budget", "type"),
        (HEAD + SELECT + '[models]\ndecimate = "no"\n', "/models/decimate", "type"),
        (HEAD + SELECT + "[models]\nmax_texture_px = 8193\n", "/models/max_texture_px",
         "maximum"),
        (HEAD + SELECT + "[models]\nlod = 2\n", "/models/lod", "additionalProperties"),
        (HEAD + SELECT + '[models.item."Qm"]\nface_budget = 10\n', "/models/item/Qm", "cid"),
        (HEAD + SELECT + '[models.item."0x12"]\nface_budget = 10\n', "/models/item/0x12",
         "item-key"),
        (HEAD + SELECT + f'[models.item."{KEY}"]\n', f"/models/item/{KEY}", "minProperties"),
        (HEAD + SELECT + f'[models.item."{KEY}"]\nfaces = 9\n', f"/models/item/{KEY}/faces",
         "additionalProperties"),
        (HEAD + SELECT + f'[models.item."{KEY}"]\nface_budget = 9\n'
         f'[models.item."0x{"AB" * 32}"]\nface_budget = 8\n', f"/models/item/0x{'AB' * 32}",
         "duplicate-item"),
    ],
)  # fmt: skip
def test_every_invalid_shape_names_its_field_and_rule(text: str, pointer: str, rule: str) -> None:
    if not rule:
        parse_spec(text)
        return
    error = _invalid(text)
    assert (pointer, rule) in _rules(error), error.problems
    assert (pointer or "/") in str(error) or len(error.problems) > 1


def test_problems_are_all_reported_in_a_stable_order() -> None:
    error = _invalid('colour = 1\ntitle = 2\nlanguages = ["en"]\ntheme = "x"\n')
    assert [(p.pointer, p.rule) for p in error.problems] == [
        ("/colour", "additionalProperties"),
        ("/select", "required"),
        ("/theme", "enum"),
        ("/title", "oneOf"),
    ]
    assert str(error).count("[rule: ") == 1 and "(and 3 more)" in str(error)


# ---- hostile input ---------------------------------------------------------------------------


def test_a_huge_spec_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    text = MINIMAL + "# " + "x" * MAX_SPEC_BYTES + "\n"
    assert _rules(_invalid(text)) == {("", "max-size")}
    path = tmp_path / "huge.toml"
    with path.open("wb") as file:  # sparse where the file system allows: 1 GiB of zeros
        file.truncate(1 << 30)
    with pytest.raises(InvalidExhibitSpec) as caught:
        load_spec(path)
    assert _rules(caught.value) == {("", "max-size")}


def test_deep_nesting_is_refused_clearly() -> None:
    # Too deep for the TOML reader itself: refused as a whole.
    error = _invalid("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert _rules(error) == {("", "max-depth")}
    assert "nested too deeply" in str(error)
    # Deep, but readable: refused with the place where it gets too deep, before any message
    # quotes the value whole.
    error = _invalid("title = " + "{ en = " * 20_000 + "1" + " }" * 20_000 + "\n")
    assert _rules(error) == {("/title" + "/en" * 16, "max-depth")}
    error = _invalid(HEAD + SELECT + "items = " + "[" * 500 + "]" * 500 + "\n")
    assert _rules(error) == {("/select/items" + "/0" * 15, "max-depth")}


def test_moderate_nesting_is_an_unknown_field() -> None:
    error = _invalid(HEAD + SELECT + "deep = " + "[" * 10 + "]" * 10 + "\n")
    assert _rules(error) == {("/select/deep", "additionalProperties")}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (MINIMAL + "[select]\n", 5),  # a table defined twice: TOML forbids it
        (MINIMAL + 'communities = ["Other"]\n', 5),  # a key defined twice
        (MINIMAL + "[[room]]\n[room]\n", 6),  # an array of tables redefined as a table
        ('title = "T\n', 1),  # an unterminated string
    ],
)
def test_toml_syntax_errors_say_where(text: str, line: int) -> None:
    error = _invalid(text)
    assert _rules(error) == {("", "toml-syntax")}
    assert f"line {line}, column" in str(error)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(InvalidExhibitSpec) as caught:
        parse_spec(MINIMAL.encode() + b"# \xff\n")
    assert _rules(caught.value) == {("", "utf-8")}
    assert f"byte {len(MINIMAL) + 2}" in str(caught.value)


def test_markup_in_a_title_is_text() -> None:
    # Escaping is the renderer's job: the spec keeps the curator's words as written.
    title = "<script>alert(1)</script> {{7*7}} \" ' &amp;"
    spec = parse_spec(f"title = {json.dumps(title)}\n" + 'languages = ["en"]\n' + SELECT)
    assert spec.title == (("en", title),)


# ---- property: any valid spec parses and round-trips -----------------------------------------

_TAGS = ["en", "mi", "fr", "de-CH", "zh-Hant-TW", "haw", "sgn-BE-FR", "en-x-reef", "es-419"]
_LINE = st.text(min_size=1, max_size=30).filter(lambda s: any(not c.isspace() for c in s))


def _toml_string(value: str) -> str:
    # A TOML basic string: JSON's escapes, plus DEL, which TOML wants escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return (
        "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    )


def _is_table(key: str, value: Any) -> bool:
    if key == "room":
        return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)
    return key in ("select", "ar") and isinstance(value, dict)


def to_toml(document: Mapping[str, Any]) -> str:
    """A spec document as TOML: top-level keys, then [select], [[room]]s and [ar] (as tables
    where they have a table's shape)."""
    lines = [
        f"{_toml_string(k)} = {_toml_value(v)}" for k, v in document.items() if not _is_table(k, v)
    ]
    for name in ("select", "ar"):
        if _is_table(name, document.get(name)):
            lines.append(f"[{name}]")
            lines += [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in document[name].items()]
    if _is_table("room", document.get("room")):
        for room in document["room"]:
            lines.append("[[room]]")
            lines += [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in room.items()]
    return "\n".join(lines) + "\n"


@st.composite
def _recased(draw: st.DrawFn, tag: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in tag)


@st.composite
def _item_refs(draw: st.DrawFn) -> list[str]:
    ref = st.one_of(
        st.binary(min_size=1, max_size=8).map(lambda b: str(Cid.for_block(b, RAW))),
        st.binary(min_size=1, max_size=8).map(lambda b: str(Cid.for_block(b, DAG_PB, 0))),
        st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
    )
    return draw(st.lists(ref, min_size=1, max_size=4, unique_by=str.lower))


@st.composite
def valid_specs(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid spec document and its default language's title."""
    tags = draw(st.lists(st.sampled_from(_TAGS), min_size=1, max_size=4, unique=True))
    languages = [draw(_recased(tag)) for tag in tags]

    def text() -> Any:
        if draw(st.booleans()):
            return draw(_LINE)
        chosen = [languages[0], *draw(st.lists(st.sampled_from(languages[1:] or ["-"])))]
        return {draw(_recased(t)): draw(_LINE) for t in dict.fromkeys(chosen) if t != "-"}

    title = text()
    name = _LINE.filter(lambda s: s[:2].lower() != "0x")
    community = st.one_of(name, st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()))
    communities = draw(st.lists(community, min_size=1, max_size=3, unique_by=str.lower))
    select: dict[str, Any] = {"communities": communities}
    if draw(st.booleans()):
        select["items"] = draw(_item_refs())
    if draw(st.booleans()):
        select["subjects"] = draw(st.lists(_LINE, min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        select["order"] = draw(st.sampled_from(["title", "date", "registered"]) | _item_refs())
    document: dict[str, Any] = {"title": title, "languages": languages, "select": select}
    rooms = []
    for _ in range(draw(st.integers(0, 3))):
        room: dict[str, Any] = {"title": text()}
        which = draw(st.sets(st.sampled_from(["communities", "items", "subjects"]), min_size=1))
        if "communities" in which:
            room["communities"] = draw(st.lists(st.sampled_from(communities), min_size=1,
                                                unique=True))  # fmt: skip
        if "items" in which:
            pool = select.get("items")
            room["items"] = (
                draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
                if pool
                else draw(_item_refs())
            )
        if "subjects" in which:
            room["subjects"] = draw(st.lists(_LINE, min_size=1, max_size=2, unique=True))
        if draw(st.booleans()):
            room["order"] = draw(st.sampled_from(["title", "date", "registered"]))
        rooms.append(room)
    if rooms:
        document["room"] = rooms
    if draw(st.booleans()):
        document["theme"] = draw(st.sampled_from(["gallery", "night", "contrast"]))
    if draw(st.booleans()):
        document["ar"] = {"scene_viewer": draw(st.booleans())}
    default_title = title if isinstance(title, str) else next(iter(title.values()))
    return document, default_title


@reaches(0.9)
@settings(max_examples=examples(300), deadline=None)
@given(valid_specs())
def test_any_valid_spec_parses_and_round_trips_through_to_json(
    drawn: tuple[dict[str, Any], str],
) -> None:
    document, default_title = drawn
    spec = parse_spec(to_toml(document))
    assert spec.title[0] == (spec.default_language, default_title)
    assert spec.default_language == canonical_language_tag(document["languages"][0])
    canonical = spec.to_json()
    assert check_spec(canonical) == ()
    again = parse_spec(to_toml(canonical))
    assert again == spec
    assert again.to_json() == canonical
    assert canonical_json(again.to_json()) == canonical_json(canonical)
    assert again.spec_id == spec.spec_id
    reached()


def test_the_toml_writer_of_these_tests_round_trips_the_full_spec() -> None:
    spec = parse_spec(FULL)
    assert parse_spec(to_toml(spec.to_json())) == spec


_TOML_VALUES = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20) | _LINE,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*path, i))
    return found


@reaches(0.8)
@settings(max_examples=examples(300), deadline=None)
@given(valid_specs(), st.data())
def test_a_broken_spec_gives_only_the_invalid_spec_error(
    drawn: tuple[dict[str, Any], str], data: st.DataObject
) -> None:
    document, _ = drawn
    path = data.draw(st.sampled_from(_paths(document)[1:]), label="path")
    *parents, last = path
    holder: Any = document
    for part in parents:
        holder = holder[part]
    if data.draw(st.booleans(), label="delete") and isinstance(holder, dict):
        del holder[last]
    else:
        holder[last] = data.draw(_TOML_VALUES, label="value")
    text = to_toml(document)
    problems = check_spec(document)
    if problems:
        with pytest.raises(InvalidExhibitSpec) as caught:
            parse_spec(text)
        assert caught.value.problems  # each names a pointer and a rule
        assert all(p.rule and p.message for p in caught.value.problems)
        assert caught.value.exit_code == 4
    else:
        assert check_spec(parse_spec(text).to_json()) == ()
    reached()


@reaches(0.9)
@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_is_a_spec_or_the_invalid_spec_error(text: str | bytes) -> None:
    try:
        parse_spec(text)
    except InvalidExhibitSpec as error:
        assert error.problems
    reached()


def test_model_choices_reach_each_item_by_key_over_cid_over_the_exhibit() -> None:
    spec = parse_spec(
        HEAD
        + SELECT
        + "[models]\nface_budget = 20000\ndecimate = false\n"
        + f'[models.item."{CID_V1}"]\nface_budget = 30000\nmax_texture_px = 512\n'
        + f'[models.item."0x{"AB" * 32}"]\nface_budget = 40000\n'
    )
    other = "0x" + "cd" * 32
    assert spec.models.for_item(other, "bafyother") == ModelChoices(20000, False, None)
    # Its CID's entry over the exhibit's values; its key's entry over both (key in lower case).
    assert spec.models.for_item(other, CID_V1) == ModelChoices(30000, False, 512)
    assert spec.models.for_item(KEY, CID_V1) == ModelChoices(40000, False, 512)
    document = spec.to_json()
    assert document["models"] == {
        "face_budget": 20000,
        "decimate": False,
        "item": {
            CID_V1: {"face_budget": 30000, "max_texture_px": 512},
            KEY: {"face_budget": 40000},
        },
    }
    assert parse_spec(to_toml(document)).spec_id == spec.spec_id


def test_a_spec_without_models_keeps_its_form_and_id() -> None:
    plain = parse_spec(HEAD + SELECT)
    assert "models" not in plain.to_json()
    assert plain.models == ModelChoices()
    assert parse_spec(HEAD + SELECT + "[models]\nface_budget = 9\n").spec_id != plain.spec_id
