"""Description documents: the published schema, BCP 47 tags, hostile input, round trips, and
the precision at which a place may be shown."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.documents import canonical_json
from ledger.errors import InvalidDescription, LimitExceeded, UsageError
from ledger.rights.description import (
    LANGUAGE_FIELDS,
    METRES_PER_DEGREE,
    Description,
    LocalText,
    Place,
    build_schema,
    check_description,
    is_well_formed_language_tag,
    load_schema,
    parse_description,
    place_for_display,
    schema_text,
)
from ledger.rights.model import Location
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "ledger" / "schemas" / "description.schema.json"
MINIMAL: dict[str, Any] = {
    "type": "heritage/description",
    "version": 1,
    "title": {"en": "Carved paddle"},
}
FULL: dict[str, Any] = {
    "type": "heritage/description",
    "version": 1,
    "title": {"en": "Carved paddle", "mi": "Hoe whakairo"},
    "description": {"en": "A steering paddle, carved on both faces."},
    "alt_text": {"en": "A long wooden paddle with spiral carving on the blade."},
    "context": {"mi": "Nā ō mātou tūpuna tēnei hoe.", "en": "Our ancestors made this paddle."},
    "transcript": {"en-NZ": "[waiata]"},
    "creator": "Unknown carver of Ngāti Example",
    "date": "c. 1880",
    "subjects": ["waka", "carving"],
    "place": {"name": "Tūranganui-a-Kiwa", "lat": -38.6623, "lon": 178.0176},
}


def _bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _with(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, **fields}


def _problems(document: Any) -> list[tuple[str, str]]:
    return [(p.pointer, p.rule) for p in check_description(document)]


# ---- the published schema --------------------------------------------------------------------


def test_the_published_schema_is_current_and_a_valid_2020_12_schema() -> None:
    assert SCHEMA_FILE.read_text("utf-8") == schema_text(build_schema()), (
        "run `.venv/bin/python -m ledger.rights.description` and commit the schema"
    )
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False  # unknown fields are invalid


def test_the_docs_name_every_field_and_rule() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "description.md").read_text()
    for field in (*LANGUAGE_FIELDS, "creator", "date", "subjects", "place"):
        assert f"`{field}`" in text, field
    for rule in ("language-tag", "language-duplicate", "unicode", "dependentRequired"):
        assert f"`{rule}`" in text, rule
    assert "description.schema.json" in text


# ---- valid documents -------------------------------------------------------------------------


def test_a_minimal_document_parses() -> None:
    described = parse_description(_bytes(MINIMAL), "minimal.json")
    assert described.title == (LocalText("en", "Carved paddle"),)
    assert described.description == () and described.subjects == () and described.place is None
    assert described.to_document() == canonical_json(MINIMAL)
    assert described.to_document() == (
        b'{"title":{"en":"Carved paddle"},"type":"heritage/description","version":1}'
    )


def test_a_full_document_parses_and_gives_its_canonical_bytes_back() -> None:
    described = parse_description(_bytes(FULL), "full.json")
    assert described.languages("title") == ("en", "mi")
    assert described.languages("context") == ("en", "mi")  # canonical order, not file order
    assert described.creator == FULL["creator"] and described.date == "c. 1880"
    assert described.subjects == ("waka", "carving")  # a list keeps its order
    assert described.place == Place("Tūranganui-a-Kiwa", -38.6623, 178.0176)
    assert described.to_document() == canonical_json(FULL)
    assert parse_description(described.to_document(), "stored") == described


def test_integer_coordinates_are_numbers_and_keep_their_canonical_form() -> None:
    document = _with(place={"name": "Equator", "lat": 0, "lon": 12})
    described = parse_description(_bytes(document), "d.json")
    assert described.place == Place("Equator", 0.0, 12.0)
    assert described.to_document() == canonical_json(document)


def test_a_place_may_be_a_name_only() -> None:
    described = parse_description(_bytes(_with(place={"name": "Up the coast"})), "d.json")
    assert described.place == Place("Up the coast")


MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</script><script>alert(1)</script>",
    "{{7*7}} {% raw %} ${7*7}",
    "&lt;b&gt; &amp; <b>bold</b> <!-- comment -->",
    "line\nbreak\ttab \u0000 nul \u202e rtl \U0001f30a",
]


@pytest.mark.parametrize("text", MARKUP)
def test_markup_is_accepted_as_written_and_survives_a_round_trip(text: str) -> None:
    document = _with(
        **{field: {"en": text, "mi": text} for field in LANGUAGE_FIELDS},
        creator=text,
        date=text,
        subjects=[text],
        place={"name": text},
    )
    described = parse_description(_bytes(document), "markup.json")
    for field in LANGUAGE_FIELDS:
        found = described.text(field, ["mi"])
        assert found is not None and found.text == text
    assert described.creator == text and described.subjects == (text,)
    assert described.place is not None and described.place.name == text
    stored = described.to_document()
    assert stored == canonical_json(document)
    assert json.loads(stored)["title"]["en"] == text
    assert parse_description(stored, "stored") == described


# ---- choosing a language ---------------------------------------------------------------------


def test_text_picks_the_requested_language_in_order_then_the_documents_first() -> None:
    described = parse_description(
        _bytes(_with(title={"mi": "Hoe", "en": "Paddle", "de-CH-1901": "Paddel"})), "d.json"
    )
    assert described.text("title", ["mi", "en"]) == LocalText("mi", "Hoe")
    assert described.text("title", ["fr", "en"]) == LocalText("en", "Paddle")
    assert described.text("title", ["EN"]) == LocalText("en", "Paddle")  # tags ignore case
    # RFC 4647 lookup: a more specific request finds the less specific tag.
    assert described.text("title", ["en-NZ"]) == LocalText("en", "Paddle")
    assert described.text("title", ["mi-x-private"]) == LocalText("mi", "Hoe")
    assert described.text("title", ["de-CH-1901"]) == LocalText("de-CH-1901", "Paddel")
    # Nothing requested matches: the document's first language (canonical order).
    assert described.text("title", ["fr"]) == LocalText("de-CH-1901", "Paddel")
    assert described.text("title") == LocalText("de-CH-1901", "Paddel")
    assert described.text("transcript", ["en"]) is None  # the field is absent


def test_text_of_a_field_that_is_no_language_map_is_refused() -> None:
    described = parse_description(_bytes(MINIMAL), "d.json")
    with pytest.raises(UsageError, match="'creator' is not a language field"):
        described.text("creator", ["en"])


# ---- BCP 47 tags: RFC 5646 appendix A --------------------------------------------------------

# RFC 5646 appendix A, "Some Valid Tags" (every one is well-formed).
RFC_5646_VALID = [
    "de", "fr", "ja", "i-enochian", "zh-Hant", "zh-Hans", "sr-Cyrl", "sr-Latn",
    "zh-cmn-Hans-CN", "cmn-Hans-CN", "zh-yue-HK", "yue-HK", "zh-Hans-CN", "sr-Latn-RS",
    "sl-rozaj", "sl-rozaj-biske", "sl-nedis", "de-CH-1901", "sl-IT-nedis",
    "hy-Latn-IT-arevela", "de-DE", "en-US", "es-419", "de-CH-x-phonebk",
    "az-Arab-x-AZE-derbend", "x-whatever", "qaa-Qaaa-QM-x-southern", "de-Qaaa", "sr-Latn-QM",
    "sr-Qaaa-RS", "en-US-u-islamcal", "zh-CN-a-myext-x-private", "en-a-myext-b-another",
]  # fmt: skip
# RFC 5646 appendix A, "Some Invalid Tags": two regions, a singleton as the language, and two
# extensions with the same singleton; section 2.2.5's example of a repeated variant; and shapes
# the ABNF excludes (empty subtags, a subtag over 8 characters, a space, a final newline).
RFC_5646_INVALID = [
    "de-419-DE", "a-DE", "ar-a-aaa-b-bbb-a-ccc", "de-DE-1901-1901", "", "en-", "-en",
    "en--US", "abcdefghi", "en-US-abcdefghi", "en US", "en\n", "x", "en-x", "en-a", "123",
]  # fmt: skip


@pytest.mark.parametrize("tag", RFC_5646_VALID)
def test_the_rfc_5646_example_tags_are_well_formed(tag: str) -> None:
    assert is_well_formed_language_tag(tag)
    assert check_description(_with(title={tag: "t"})) == ()


@pytest.mark.parametrize("tag", RFC_5646_INVALID)
def test_ill_formed_or_repeating_tags_are_refused_with_the_field_named(tag: str) -> None:
    assert not is_well_formed_language_tag(tag)
    assert _problems(_with(title={tag: "t"})) == [("/title/" + tag, "language-tag")]


def test_tags_are_case_insensitive_grandfathered_ones_included() -> None:
    # RFC 5646 2.1.1: "All subtags, including extension and private use subtags, use
    # US-ASCII letters and digits, and the matching is case insensitive."
    for tag in ("EN-us", "I-ENOCHIAN", "Sgn-be-FR", "X-WHATEVER", "ZH-HANT-tw"):
        assert is_well_formed_language_tag(tag), tag
        assert check_description(_with(title={tag: "t"})) == ()


def test_one_language_given_twice_in_different_case_is_refused() -> None:
    problems = check_description(_with(title={"en": "a", "EN": "b"}))
    assert [(p.pointer, p.rule) for p in problems] == [("/title/EN", "language-duplicate")]
    assert "give each language once" in problems[0].message


# ---- invalid shapes: each names the field and the rule ---------------------------------------

INVALID = [
    ({"version": 1, "title": {"en": "t"}}, [("/type", "required")]),
    (_with(type="heritage/terms"), [("/type", "const")]),
    (_with(version=2), [("/version", "const")]),
    ({"type": "heritage/description", "version": 1}, [("/title", "required")]),
    (_with(colour="red"), [("/colour", "additionalProperties")]),
    (_with(title="Carved paddle"), [("/title", "type")]),
    (_with(title={}), [("/title", "minProperties")]),
    (_with(title={"en": ""}), [("/title/en", "minLength")]),
    (_with(title={"en": 5}), [("/title/en", "type")]),
    (_with(title={"en": None}), [("/title/en", "type")]),
    (_with(title={"en": ["a"]}), [("/title/en", "type")]),
    (_with(title={"en": {"mi": "a"}}), [("/title/en", "type")]),
    (_with(title={"en": "x" * 501}), [("/title/en", "maxLength")]),
    (_with(alt_text={"en": "x" * 2001}), [("/alt_text/en", "maxLength")]),
    (_with(transcript={"en": "x" * 200_001}), [("/transcript/en", "maxLength")]),
    (_with(description={"english": "a"}), []),  # a 7-letter language subtag is well-formed
    (_with(description={"en_US": "a"}), [("/description/en_US", "language-tag")]),
    (_with(context=["en", "text"]), [("/context", "type")]),
    (_with(creator=""), [("/creator", "minLength")]),
    (_with(creator={"en": "a"}), [("/creator", "type")]),
    (_with(date=1897), [("/date", "type")]),
    (_with(subjects="waka"), [("/subjects", "type")]),
    (_with(subjects=[]), [("/subjects", "minItems")]),
    (_with(subjects=["waka", "waka"]), [("/subjects", "uniqueItems")]),
    (_with(subjects=["waka", 3]), [("/subjects/1", "type")]),
    (_with(place="Gisborne"), [("/place", "type")]),
    (_with(place={"lat": 1, "lon": 2}), [("/place/name", "required")]),
    (_with(place={"name": "p", "lat": 1}), [("/place/lon", "dependentRequired")]),
    (_with(place={"name": "p", "lon": 1}), [("/place/lat", "dependentRequired")]),
    (_with(place={"name": "p", "lat": 90.5, "lon": 0}), [("/place/lat", "maximum")]),
    (_with(place={"name": "p", "lat": -90.5, "lon": 0}), [("/place/lat", "minimum")]),
    (_with(place={"name": "p", "lat": 0, "lon": 180.1}), [("/place/lon", "maximum")]),
    (_with(place={"name": "p", "lat": 0, "lon": -181}), [("/place/lon", "minimum")]),
    (_with(place={"name": "p", "lat": "1", "lon": 2}), [("/place/lat", "type")]),
    (_with(place={"name": "p", "lat": True, "lon": 2}), [("/place/lat", "type")]),
    (_with(place={"name": "p", "alt": 3}), [("/place/alt", "additionalProperties")]),
    (_with(title={"en": "\ud800"}), [("/title/en", "unicode")]),
    (_with(subjects=["\udfff"]), [("/subjects/0", "unicode")]),
]


@pytest.mark.parametrize(("document", "expected"), INVALID)
def test_every_invalid_shape_names_the_field_and_the_rule(
    document: Any, expected: list[tuple[str, str]]
) -> None:
    assert _problems(document) == expected
    if expected:
        with pytest.raises(InvalidDescription) as raised:
            parse_description(json.dumps(document).encode(), "d.json")
        first = expected[0]
        assert f"{first[0] or '/'}:" in raised.value.message
        assert f"[rule: {first[1]}]" in raised.value.message
        assert raised.value.hint is not None and "docs/description.md" in raised.value.hint
        assert [(p.pointer, p.rule) for p in raised.value.problems] == expected


def test_a_value_that_is_no_object_is_a_type_problem_at_the_root() -> None:
    assert _problems([MINIMAL]) == [("", "type")]
    assert _problems(None) == [("", "type")]


def test_several_problems_are_all_reported() -> None:
    document = _with(title={"en": 5}, creator="", place={"name": "p", "lat": 99}, extra=1)
    assert _problems(document) == [
        ("/creator", "minLength"),
        ("/extra", "additionalProperties"),
        ("/place/lat", "maximum"),
        ("/place/lon", "dependentRequired"),
        ("/title/en", "type"),
    ]
    with pytest.raises(InvalidDescription, match=r"\(and 4 more\)"):
        parse_description(_bytes(document), "d.json")


# ---- hostile input ---------------------------------------------------------------------------


def test_deep_nesting_is_refused_before_it_is_parsed() -> None:
    data = b'{"type":"heritage/description","version":1,"title":{"en":' + b"[" * 100_000
    with pytest.raises(UsageError, match=r"d\.json is not JSON: it nests"):
        parse_description(data, "d.json")


def test_nesting_within_the_limit_is_a_shape_error() -> None:
    document = _with(title={"en": json.loads("[" * 40 + "]" * 40)})
    assert _problems(document) == [("/title/en", "type")]


def test_duplicate_keys_are_refused() -> None:
    data = b'{"type":"heritage/description","version":1,"title":{"en":"a","en":"b"}}'
    with pytest.raises(UsageError, match="the key 'en' appears twice"):
        parse_description(data, "d.json")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xff\xfe{}", "is not JSON"),
        (b'{"type": NaN}', "NaN is not JSON"),
        (b"[1, 2]", "JSON but not an object"),
        (b"", "is not JSON"),
    ],
)
def test_what_is_not_a_json_object_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(UsageError, match=match) as raised:
        parse_description(data, "d.json")
    assert not isinstance(raised.value, InvalidDescription)


def test_a_number_too_large_for_a_float_is_out_of_range() -> None:
    data = _bytes(_with(place={"name": "p", "lat": 0, "lon": 0})).replace(
        b'"lat": 0', b'"lat": 1e400'
    )
    with pytest.raises(InvalidDescription) as raised:
        parse_description(data, "d.json")
    assert [(p.pointer, p.rule) for p in raised.value.problems] == [("/place/lat", "maximum")]


def test_a_document_over_one_block_is_refused_by_size() -> None:
    document = _with(transcript={f"x-{n:04d}": "y" * 190_000 for n in range(6)})
    with pytest.raises(LimitExceeded, match="a document is one block of at most 1 MiB"):
        parse_description(_bytes(document), "d.json")


# ---- round trips (property) ------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40) | (
    st.sampled_from(MARKUP)
)
LANGUAGE_MAP = st.dictionaries(st.sampled_from(RFC_5646_VALID), TEXT, min_size=1, max_size=4)
COORDINATE = st.floats(allow_nan=False, allow_infinity=False)
PLACE = st.builds(
    lambda name, lat, lon, has: {"name": name, "lat": lat, "lon": lon} if has else {"name": name},
    TEXT,
    st.floats(-90, 90) | st.integers(-90, 90),
    st.floats(-180, 180) | st.integers(-180, 180),
    st.booleans(),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"type": "heritage/description", "version": 1}
    document["title"] = draw(LANGUAGE_MAP)
    for field in LANGUAGE_FIELDS[1:]:
        if draw(st.booleans()):
            document[field] = draw(LANGUAGE_MAP)
    for field in ("creator", "date"):
        if draw(st.booleans()):
            document[field] = draw(TEXT)
    if draw(st.booleans()):
        document["subjects"] = draw(st.lists(TEXT, min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        document["place"] = draw(PLACE)
    return document


@reaches(0.8)
@settings(max_examples=examples(300))
@given(documents())
def test_any_valid_document_round_trips_through_its_canonical_bytes(
    document: dict[str, Any],
) -> None:
    described = parse_description(_bytes(document), "d.json")
    stored = described.to_document()
    assert stored == canonical_json(document)
    assert parse_description(stored, "stored") == described
    assert parse_description(stored, "stored").to_document() == stored
    for field in LANGUAGE_FIELDS:
        entries: tuple[LocalText, ...] = getattr(described, field)
        assert {e.language: e.text for e in entries} == document.get(field, {})
    reached()


JSON = st.recursive(  # what a JSON file can hold: no infinities (1e400 is tested apart)
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip
FIELDS = [*LANGUAGE_FIELDS, "type", "version", "creator", "date", "subjects", "place", "other"]


@reaches(0.8)
@settings(max_examples=examples(300))
@given(st.sampled_from(FIELDS), JSON)
def test_a_valid_document_with_any_field_replaced_gets_an_answer(field: str, value: Any) -> None:
    document = {**FULL, field: value}
    problems = check_description(document)
    for problem in problems:
        assert problem.pointer.startswith("/" + field) and problem.rule and problem.message
    if not problems:
        assert isinstance(parse_description(_bytes(document), "d.json"), Description)
    else:
        with pytest.raises(InvalidDescription):
            parse_description(_bytes(document), "d.json")
    reached()


# ---- place precision -------------------------------------------------------------------------

PLACE_AT = Place("Te Tairāwhiti", -38.662_345_678, 178.017_612_345)
EARTH_RADIUS_M = 6_371_008.8  # the IUGG mean radius


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@pytest.mark.parametrize("location", [None, Location(), Location("hidden")])
def test_an_absent_or_hidden_location_shows_no_coordinates(location: Location | None) -> None:
    assert place_for_display(PLACE_AT, location) == Place("Te Tairāwhiti")


def test_a_location_precision_this_version_does_not_know_shows_no_coordinates() -> None:
    assert place_for_display(PLACE_AT, Location("street-level")) == Place("Te Tairāwhiti")


def test_an_exact_location_shows_at_most_five_decimals() -> None:
    assert place_for_display(PLACE_AT, Location("exact")) == Place(
        "Te Tairāwhiti", -38.66235, 178.01761
    )


def test_a_place_without_coordinates_stays_without() -> None:
    assert place_for_display(Place("Inland"), Location("exact")) == Place("Inland")


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        # N = 111,320 m: bands 1 degree tall; at the equator cells are 1 degree wide, counted
        # east from -180, so (0.3, 0.3) is in the cell [0, 1) x [0, 1), centre (0.5, 0.5).
        (0.3, 0.3, (0.5, 0.5)),
        (-0.3, -0.3, (-0.5, -0.5)),
        (0.0, 0.0, (0.5, 0.5)),
        # Band [60, 61): its edge nearest the equator is 60, cos 60 = 1/2, so cells are 2
        # degrees wide: 10.3 is in [10, 12), centre 11.
        (60.2, 10.3, (60.5, 11.0)),
        (-60.2, 10.3, (-60.5, 11.0)),
        # At a pole the band [89, 90] has edge 89: cos 89 = 0.01745, cells 57.3 degrees wide.
        (90.0, -180.0, (89.5, -180 + 0.5 / math.cos(math.radians(89)))),
    ],
)
def test_a_coarsened_location_is_the_centre_of_its_grid_cell(
    lat: float, lon: float, expected: tuple[float, float]
) -> None:
    shown = place_for_display(Place("p", lat, lon), Location("coarsened", 111_320))
    assert shown.name == "p" and shown.lat is not None and shown.lon is not None
    assert shown.lat == pytest.approx(expected[0], abs=1e-7)
    assert shown.lon == pytest.approx(expected[1], abs=1e-7)


def test_a_band_narrower_than_one_cell_is_one_cell_with_longitude_zero() -> None:
    # N = 1,000,000 m: bands 8.983 degrees tall; 89.9 is in band 10 (from 89.83, cos 0.00296),
    # where a cell would be 3,035 degrees wide. Its centre, 94.3, is past the pole: 90.
    shown = place_for_display(Place("p", 89.9, 170.0), Location("coarsened", 1_000_000))
    assert (shown.lat, shown.lon) == (90.0, 0.0)


@reaches(0.9)
@settings(max_examples=examples(500))
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.integers(1, 20_037_508) | st.sampled_from([1, 10, 100, 1000, 5000, 50_000]),
)
def test_a_snapped_place_is_within_n_sqrt_2_metres_of_the_original(
    lat: float, lon: float, distance_m: int
) -> None:
    shown = place_for_display(Place("p", lat, lon), Location("coarsened", distance_m))
    assert shown.lat is not None and shown.lon is not None
    assert -90 <= shown.lat <= 90 and -180 < shown.lon <= 180
    distance = _haversine_m(lat, lon, shown.lat, shown.lon)
    assert distance <= distance_m * math.sqrt(2)
    # The tighter bound docs/description.md gives: N/2 along the meridian plus N/2 along the
    # parallel, with a centimetre for the 7-decimal rounding.
    assert distance <= distance_m + 0.02
    reached()


@reaches(0.8)
@settings(max_examples=examples(500))
@given(
    st.sampled_from([1, 7, 100, 1000, 25_000, 111_320, 1_000_000]),
    st.sampled_from([-1, 1]),
    st.floats(0, 1, exclude_max=True),
    st.floats(0, 1, exclude_max=True),
    st.tuples(st.floats(0.01, 0.99), st.floats(0.01, 0.99)),
    st.tuples(st.floats(0.01, 0.99), st.floats(0.01, 0.99)),
)
def test_every_point_of_one_grid_cell_is_shown_the_same(
    distance_m: int,
    hemisphere: int,
    band_share: float,
    cell_share: float,
    first: tuple[float, float],
    second: tuple[float, float],
) -> None:
    # The grid as docs/description.md defines it, independently of the code: a whole band
    # and a whole cell in it, and two points inside that cell.
    lat_step = distance_m / METRES_PER_DEGREE
    band = math.floor(band_share * math.floor(90 / lat_step))
    lon_step = distance_m / (METRES_PER_DEGREE * math.cos(math.radians(band * lat_step)))
    whole_cells = math.floor(360 / lon_step)
    assume(whole_cells >= 1)
    cell = math.floor(cell_share * whole_cells)
    shown = {
        place_for_display(
            Place(
                "p",
                hemisphere * (band + fraction_lat) * lat_step,
                -180 + (cell + fraction_lon) * lon_step,
            ),
            Location("coarsened", distance_m),
        )
        for fraction_lat, fraction_lon in (first, second)
    }
    assert len(shown) == 1
    reached()


@reaches(0.9)
@settings(max_examples=examples(300))
@given(st.floats(-90, 90), st.floats(-180, 180))
def test_an_exact_place_has_at_most_five_decimals(lat: float, lon: float) -> None:
    shown = place_for_display(Place("p", lat, lon), Location("exact"))
    assert shown.lat is not None and shown.lon is not None
    for before, after in ((lat, shown.lat), (lon, shown.lon)):
        assert round(after, 5) == after and abs(after - before) <= 5e-6 + 1e-12
    reached()
