"""The catalog CSV: the shapes curators keep (CollectionBuilder's column names), every rule's
error naming row, column and rule, hostile bytes and names, and a round trip from any
description through a CSV row written by the csv module."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.errors import (
    ExitCode,
    InvalidCatalog,
    InvalidDocument,
    LimitExceeded,
    NoSuchFile,
    UsageError,
)
from ledger.rights import catalog as catalog_module
from ledger.rights.catalog import (
    IGNORED_COLUMNS,
    MAX_CATALOG_BYTES,
    MAX_ROWS,
    parse_catalog,
    parse_catalog_text,
)
from ledger.rights.description import (
    LANGUAGE_FIELDS,
    Description,
    LocalText,
    Place,
    description_from_json,
)
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches


def _problems(text: str, **kwargs: Any) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text(text, "c.csv", **kwargs)
    return [(p.row, p.column, p.rule) for p in caught.value.problems]


def _one(text: str, **kwargs: Any) -> Description:
    (description,) = parse_catalog_text(text, "c.csv", **kwargs).values()
    return description


DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def test_the_docs_name_every_rule_and_column_and_their_example_is_what_is_read() -> None:
    text = DOCS.read_text("utf-8")
    source = Path(catalog_module.__file__).read_text("utf-8")
    rules = set(
        re.findall(r'"((?:file|language|column|csv|unknown|unnamed|extra|no)-[a-z-]+)"', source)
    )
    rules |= {"utf-8", "nul", "header", "delimiter", "number", "uniqueItems", "required"}
    assert len(rules) >= 25
    for rule in sorted(rules):
        assert f"`{rule}`" in text, rule
    for column in (*LANGUAGE_FIELDS, *IGNORED_COLUMNS, "file", "filename", "image_alt_text",
                   "creator", "date", "subjects", "subject", "place", "location", "lat",
                   "latitude", "lon", "longitude"):  # fmt: skip
        assert f"`{column}" in text, column
    example = re.search(r"```csv\n(.*?)```", text, re.DOTALL)
    document = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    assert example and document
    catalog = parse_catalog_text(example.group(1), "docs/catalog.md")
    assert list(catalog) == ["paddle.glb", "songs/tide.mp3"]
    assert catalog["paddle.glb"] == description_from_json(json.loads(document.group(1)))


# ---- the shapes curators keep -----------------------------------------------------------------

# The column names of CollectionBuilder-GH's metadata template, in its order (objectid,
# filename, title, creator, date, description, subject, location, latitude, longitude, source,
# identifier, type, format, language, rights, rightsstatement); the values are our own.
COLLECTIONBUILDER_GH = (
    "objectid,filename,title,creator,date,description,subject,location,latitude,longitude,"
    "source,identifier,type,format,language,rights,rightsstatement\r\n"
    'reef001,reef001.jpg,"Fish trap, woven",Unknown weaver,c. 1900,"A trap of split cane; '
    'the mouth faces the current.",fishing; weaving; ,"Nukuʻalofa, Tonga",-21.1393,-175.2049,'
    '"Private collection",R-001,Image;StillImage,image/jpeg,ton,,'
    "http://rightsstatements.org/vocab/InC/1.0/\r\n"
    "reef002,reef002.mp3,Song for the tide,,1962-03-04,,songs,,,,,R-002,Sound,audio/mpeg,"
    "ton,,\r\n"
)


def test_a_collectionbuilder_sheet_reads_as_it_is_with_the_catalogs_language() -> None:
    catalog = parse_catalog_text(COLLECTIONBUILDER_GH, "metadata.csv", language="en")
    assert list(catalog) == ["reef001.jpg", "reef002.mp3"]  # row order
    assert catalog["reef001.jpg"] == Description(
        title=(LocalText("en", "Fish trap, woven"),),
        description=(LocalText("en", "A trap of split cane; the mouth faces the current."),),
        creator="Unknown weaver",
        date="c. 1900",
        subjects=("fishing", "weaving"),  # ";"-separated, trimmed, the empty last one dropped
        place=Place("Nukuʻalofa, Tonga", -21.1393, -175.2049),
    )
    assert catalog["reef002.mp3"] == Description(
        title=(LocalText("en", "Song for the tide"),), date="1962-03-04", subjects=("songs",)
    )


def test_collectionbuilders_language_column_is_the_items_language_not_the_titles() -> None:
    # The sheet says "ton" (the song is in Tongan); its title is written in English.
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text(COLLECTIONBUILDER_GH, "metadata.csv")
    problems = caught.value.problems
    assert {(p.row, p.column, p.rule) for p in problems} == {
        (1, "title", "language-missing"),
        (1, "description", "language-missing"),
    }  # said once in the header, not again in each row that has no title left
    assert "title@en" in problems[0].message and "--language" in problems[0].message


# The column names of CollectionBuilder-CSV's demo metadata (objectid, title, creator, date,
# description, subject, location, latitude, longitude, source, identifier, type, format,
# language, rights, rightsstatement, display_template, object_location, image_small,
# image_thumb, image_alt_text, object_transcript), plus the file column it does not have.
CB_CSV_HEADER = (
    "objectid,title,creator,date,description,subject,location,latitude,longitude,source,"
    "identifier,type,format,language,rights,rightsstatement,display_template,object_location,"
    "image_small,image_thumb,image_alt_text,object_transcript,file"
)
CB_CSV_ROW = (
    "k001,Carved paddle,,1880s,,carving,Gisborne,-38.6623,178.0176,,,Image;StillImage,"
    "image/jpeg,eng,,,image,/objects/k001.jpg,/objects/small/k001_sm.jpg,,"
    '"a long paddle, spirals on the blade","[waiata]\n\nE rere ra",paddle.jpg'
)


def test_a_collectionbuilder_csv_sheet_names_its_transcript_column_for_a_rename() -> None:
    text = CB_CSV_HEADER + "\n" + CB_CSV_ROW + "\n"
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text(text, "c.csv", language="en")
    (problem,) = caught.value.problems
    assert (problem.row, problem.column, problem.rule) == (1, "object_transcript", "unknown-column")
    assert "rename it transcript@<tag>" in problem.message
    # Its transcript may be words or a path to a text file: renamed, it is read as words.
    renamed = text.replace("object_transcript", "transcript@mi")
    assert _one(renamed, language="en") == Description(
        title=(LocalText("en", "Carved paddle"),),
        alt_text=(LocalText("en", "a long paddle, spirals on the blade"),),
        transcript=(LocalText("mi", "[waiata]\n\nE rere ra"),),
        date="1880s",
        subjects=("carving",),
        place=Place("Gisborne", -38.6623, 178.0176),
    )
    kept = text.replace("object_transcript", "_object_transcript")
    assert _one(kept, language="en").transcript == ()


def test_languages_by_column_suffix_and_the_other_spellings() -> None:
    text = (
        "File,Title@en,title@mi,TITLE@en-NZ,description@mi, context@en ,alt_text@en,"
        "transcript@x-reef,subjects,place,lat,lon\n"
        "a.glb,Paddle,Hoe,Paddle (NZ),He hoe,Ours,A paddle,[song],waka,Gisborne,-38.5,178\n"
    )
    described = _one(text)
    assert described.title == (
        LocalText("en", "Paddle"),
        LocalText("en-NZ", "Paddle (NZ)"),
        LocalText("mi", "Hoe"),
    )
    assert described.description == (LocalText("mi", "He hoe"),)
    assert described.context == (LocalText("en", "Ours"),)
    assert described.transcript == (LocalText("x-reef", "[song]"),)
    assert described.place == Place("Gisborne", -38.5, 178.0)
    # The catalog's language fills plain columns; a suffix always wins.
    assert _one("file,title,title@mi\na.jpg,Paddle,Hoe\n", language="en").title == (
        LocalText("en", "Paddle"),
        LocalText("mi", "Hoe"),
    )


def test_dublin_core_names_as_omeka_writes_them() -> None:
    text = (
        "file,dcterms:title@mi,Dublin Core:Title,dcterms:subject,Dublin Core:Creator,"
        "dcterms:date,dcterms:spatial,dcterms:description@en\n"
        "a.jpg,Hoe,Paddle,waka;carving,A carver,1880,Gisborne,Carved\n"
    )
    assert _one(text, language="en") == Description(
        title=(LocalText("en", "Paddle"), LocalText("mi", "Hoe")),
        description=(LocalText("en", "Carved"),),
        creator="A carver",
        date="1880",
        subjects=("waka", "carving"),
        place=Place("Gisborne"),
    )
    assert _problems("file,dcterms:title@en,dcterms:rights\na.jpg,A,x\n") == [
        (1, "dcterms:rights", "unknown-column")
    ]


def test_text_is_taken_as_written_markup_and_formulas_included() -> None:
    hostile = [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "{{7*7}} {% raw %}",
        '=HYPERLINK("http://example.invalid")',
        "  spaced  ",
        "עברית and ltr \u202e mixed",
        "e\u0301 👩🏽‍🎨",
    ]
    rows = "".join(f'{i}.jpg,"{h.replace(chr(34), chr(34) * 2)}"\n' for i, h in enumerate(hostile))
    catalog = parse_catalog_text("file,title@en\n" + rows, "c.csv")
    assert [d.title[0].text for d in catalog.values()] == hostile


def test_blank_rows_short_rows_and_line_breaks_inside_cells() -> None:
    text = (
        "file,title@en,description@en,,\r\n"  # two trailing unnamed columns, empty
        ",,,,\r\n"  # a blank row as spreadsheets export them
        'a.jpg,A,"one\r\ntwo\rthree"\r\n'  # a short row: the rest is empty
        "\r\n"
        "b.jpg,B,   ,,\r\n"  # white space alone is an empty cell
    )
    catalog = parse_catalog_text(text, "c.csv")
    assert catalog["a.jpg"].description == (LocalText("en", "one\ntwo\nthree"),)
    assert catalog["b.jpg"].description == ()


def test_a_long_transcript_fits_and_one_over_the_limit_is_named() -> None:
    words = "ā" * 200_000  # past the csv module's own default cap of 131,072 characters
    assert _one(f"file,title@en,transcript@mi\na.wav,Song,{words}\n").transcript[0].text == words
    assert _problems(f"file,title@en,transcript@mi\na.wav,Song,{words}ā\n") == [
        (2, "transcript@mi", "maxLength")
    ]


# ---- the header -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("file,title@en,titel@mi", [(1, "titel@mi", "unknown-column")]),
        ("file,title@en,notes", [(1, "notes", "unknown-column")]),
        ("file,title@en,title@EN", [(1, "title@EN", "column-duplicate")]),
        ("file,title@en,title", [(1, "title", "column-duplicate")]),
        ("file,title@en,subject,subjects", [(1, "subjects", "column-duplicate")]),
        ("file,filename,title@en", [(1, "filename", "column-duplicate")]),
        ("file,title@en,lat,latitude", [(1, "latitude", "column-duplicate")]),
        ("file,title@en_NZ", [(1, "title@en_NZ", "language-tag")]),
        ("file,title@en,title@", [(1, "title@", "language-tag")]),
        ("file,title@en,creator@en", [(1, "creator@en", "language-not-allowed")]),
        ("title@en,subjects", [(1, "file", "file-column")]),
    ],
)
def test_header_problems_are_named_once_at_row_1(
    header: str, expected: list[tuple[int, str, str]]
) -> None:
    text = f"{header}\n" + ",".join(["a.jpg", "A"] + [""] * (header.count(",") - 1)) + "\n"
    found = _problems(text, language="en")
    assert [p for p in found if p[0] == 1] == expected


def test_an_unknown_column_suggests_the_near_name_and_the_underscore() -> None:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text("file,titel\na.jpg,A\n", "c.csv")
    message = caught.value.problems[0].message
    assert "did you mean 'title'?" in message and "start its name with _" in message
    assert _one("file,title@en,_notes, _x ,rights\na.jpg,A,anything,y,z\n").title == (
        LocalText("en", "A"),
    )


def test_a_semicolon_separated_file_is_recognised() -> None:
    assert _problems("file;title@en\na.jpg;A\n") == [(1, "file;title@en", "delimiter")]


@pytest.mark.parametrize(
    ("text", "rule"),
    [("", "header"), ("\n\n", "header"), (",,\n", "header"), ("file,title@en\n", "no-rows")],
)
def test_an_empty_catalog_is_refused(text: str, rule: str) -> None:
    assert [r for _, _, r in _problems(text)] == [rule]


# ---- rows and cells -------------------------------------------------------------------------


def test_every_problem_of_the_file_is_reported_at_once() -> None:
    text = (
        "file,title@en,subjects,place,latitude,longitude,,notes\n"
        "a.jpg,A,waka; waka,,,,,\n"  # row 2
        "b.jpg,,,,,,,\n"  # row 3: no title
        "a.jpg,A again,,,,,,\n"  # row 4: a second row for a.jpg
        'c.jpg,"C\nover two lines",,,91,10,x,\n'  # row 5 (line 5): data in an unnamed column
        'd.jpg,D,,Here,"1,5",10,,,extra\n'  # row 6 (line 7)
        "../e.jpg,E,,There,10,,,\n"  # row 7 (line 8)
    )
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text(text, "catalog.csv")
    error = caught.value
    assert [(p.row, p.column, p.rule) for p in error.problems] == [
        (1, "notes", "unknown-column"),
        (2, "subjects", "uniqueItems"),
        (3, "title@en", "required"),
        (4, "file", "file-duplicate"),
        (5, "#7", "unnamed-column"),
        (5, "latitude", "maximum"),
        (5, "place", "required"),
        (6, None, "extra-cells"),
        (6, "latitude", "number"),
        (7, "file", "file-outside"),
        (7, "longitude", "dependentRequired"),
    ]
    assert [p.line for p in error.problems][4:] == [5, 5, 5, 7, 7, 8, 8]
    assert (
        error.problems[3].message == "'a.jpg' is described in row 2 already; give each file one row"
    )
    assert error.problems[8].where() == "row 6 (line 7), column latitude"
    assert error.problems[8].text() == (
        "row 6 (line 7), column latitude: '1,5' is not a number of degrees: write decimal "
        "degrees with a point, e.g. -38.6623 [rule: number]"
    )
    assert error.message.startswith(
        "catalog.csv is not a valid catalog: row 1, column notes: 'notes' is not a column"
    )
    assert error.message.endswith("[rule: unknown-column] (and 10 more)")
    assert isinstance(error, InvalidDocument) and error.code == "invalid_catalog"
    assert error.exit_code == ExitCode.CATALOG_INVALID
    assert int(error.exit_code) == 4
    assert error.hint and "docs/catalog.md" in error.hint
    assert error.problems[7].pointer == "/6" and error.problems[8].pointer == "/6/latitude"
    assert error.problems[8].to_json()["column"] == "latitude"


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        ("-38.6623", "178.0176", (-38.6623, 178.0176)),
        (" +38 ", "-1e2", (38.0, -100.0)),
        (".5", "5.", (0.5, 5.0)),
        ("", "", None),
    ],
)
def test_coordinates_in_decimal_degrees(
    latitude: str, longitude: str, expected: tuple[float, float] | None
) -> None:
    place = _one(f"file,title@en,place,lat,lon\na.jpg,A,Here,{latitude},{longitude}\n").place
    assert place is not None
    assert (None if place.lat is None else (place.lat, place.lon)) == expected


@pytest.mark.parametrize(
    "value", ["1,5", "nan", "inf", "-Infinity", "1e400", "12°", "0x10", "½", "٣٨"]
)
def test_what_is_not_decimal_degrees_is_refused(value: str) -> None:
    text = f'file,title@en,place,lat,lon\na.jpg,A,Here,"{value}",5\n'
    assert _problems(text) == [(2, "lat", "number")]


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("a.jpg", "a.jpg"),
        ("./a.jpg", "a.jpg"),
        ("photos//b.jpg", "photos/b.jpg"),
        ("x/../c.jpg", "c.jpg"),
        ("Ngā taonga/ō.glb", "Ngā taonga/ō.glb"),
    ],
)
def test_file_names_are_relative_paths_normalized(value: str, key: str) -> None:
    assert list(parse_catalog_text(f'file,title@en\n"{value}",A\n', "c.csv")) == [key]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "file-empty"),
        (" a.jpg", "file-space"),
        ("a.jpg ", "file-space"),
        ("a\tb.jpg", "file-control"),
        ("a\nb.jpg", "file-control"),
        ("photos\\a.jpg", "file-backslash"),
        ("/etc/passwd", "file-absolute"),
        ("C:x.jpg", "file-absolute"),
        ("https://example.org/a.jpg", "file-absolute"),
        ("file:///etc/passwd", "file-absolute"),
        ("../a.jpg", "file-outside"),
        ("a/../../b.jpg", "file-outside"),
        ("photos/", "file-folder"),
        (".", "file-folder"),
        ("a/..", "file-folder"),
        ("x" * 256 + ".jpg", "file-name-long"),
    ],
)
def test_file_names_that_could_escape_or_mislead_are_refused(value: str, rule: str) -> None:
    assert _problems(f'file,title@en\n"{value}",A\n') == [(2, "file", rule)]


@pytest.mark.parametrize(
    "text",
    [
        'file,title@en\na.jpg,"unterminated\n',
        'file,title@en\na.jpg,"quoted"trailing\n',
    ],
)
def test_broken_quoting_is_refused_with_its_line(text: str) -> None:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text(text, "c.csv")
    (problem,) = caught.value.problems
    assert (problem.row, problem.rule, problem.line) == (None, "csv-syntax", 2)


def test_a_nul_character_is_refused() -> None:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog_text("file,title@en\na.jpg,A\x00B\n", "c.csv")
    assert [(p.rule, p.line) for p in caught.value.problems] == [("nul", 2)]


def test_a_bad_catalog_language_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a well-formed BCP 47"):
        parse_catalog_text("file,title\na.jpg,A\n", "c.csv", language="english please")


def test_too_many_rows_or_columns_or_characters() -> None:
    with pytest.raises(LimitExceeded, match="rows"):
        parse_catalog_text("file,title@en\n" + "\n" * MAX_ROWS, "c.csv")
    with pytest.raises(LimitExceeded, match="columns"):
        parse_catalog_text(",".join(f"_{i}" for i in range(1_001)) + "\n", "c.csv")
    with pytest.raises(LimitExceeded, match="MiB"):
        parse_catalog_text("x" * (MAX_CATALOG_BYTES + 1), "c.csv")


# ---- the file on disk -----------------------------------------------------------------------


def _folder(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"master bytes")
    return tmp_path


def test_a_catalog_file_with_a_bom_crlf_and_subfolders(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "photos/a.jpg", "b.glb")
    path = folder / "catalog.csv"
    path.write_bytes("file,title@mi\r\nphotos/a.jpg,Hoe\r\n./b.glb,Waka\r\n".encode("utf-8-sig"))
    assert parse_catalog(path) == {
        "photos/a.jpg": Description(title=(LocalText("mi", "Hoe"),)),
        "b.glb": Description(title=(LocalText("mi", "Waka"),)),
    }


def test_files_must_be_regular_files_inside_the_catalogs_folder(tmp_path: Path) -> None:
    outside = _folder(tmp_path / "elsewhere", "secret.jpg")
    folder = _folder(tmp_path / "exhibit", "a.jpg")
    (folder / "photos").mkdir()
    os.symlink(outside / "secret.jpg", folder / "link.jpg")
    os.symlink(folder / "a.jpg", folder / "inner.jpg")  # a link that stays inside is fine
    os.symlink("loop.jpg", folder / "loop.jpg")
    path = folder / "catalog.csv"
    path.write_text(
        "file,title@en\na.jpg,A\nmissing.jpg,M\nlink.jpg,L\nphotos/..//photos/.,P\n"
        "inner.jpg,I\nloop.jpg,O\n",
        "utf-8",
    )
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(path)
    assert [(p.row, p.column, p.rule) for p in caught.value.problems] == [
        (3, "file", "file-missing"),
        (4, "file", "file-outside"),
        (5, "file", "file-not-regular"),
        (7, "file", "file-missing"),
    ]
    assert str(path) in caught.value.message


def test_a_missing_catalog_is_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(NoSuchFile):
        parse_catalog(tmp_path / "absent.csv")
    with pytest.raises(NoSuchFile):
        parse_catalog(tmp_path)


@pytest.mark.parametrize(
    ("data", "line", "says"),
    [
        (b"file,title@en\r\na.jpg,Caf\xe9\r\n", 2, "0xE9 is not UTF-8"),
        (b"file,title@en\na.jpg,\xc3\n", 2, "0xC3 is not UTF-8"),  # a truncated sequence
        (b"file,title@en\na.jpg,\xed\xa0\x80\n", 2, "0xED is not UTF-8"),  # a UTF-8 surrogate
        ("file,title@en\na.jpg,A\n".encode("utf-16"), 1, "UTF-16"),
        ("file,title@en\na.jpg,A\n".encode("utf-32"), 1, "UTF-32"),
    ],
)
def test_text_that_is_not_utf_8_is_refused_with_its_line(
    tmp_path: Path, data: bytes, line: int, says: str
) -> None:
    path = _folder(tmp_path, "a.jpg") / "catalog.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(path)
    (problem,) = caught.value.problems
    assert (problem.rule, problem.line) == ("utf-8", line)
    assert says in problem.message and "CSV UTF-8" in problem.message


def test_utf_16_without_a_bom_is_caught_by_its_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes("file,title@en\na.jpg,A\n".encode("utf-16-le"))
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(path)
    assert [p.rule for p in caught.value.problems] == ["nul"]


def test_a_file_over_the_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    with path.open("wb") as handle:  # sparse: nothing is written but the size
        handle.truncate(MAX_CATALOG_BYTES + 1)
    with pytest.raises(LimitExceeded, match="16 MiB"):
        parse_catalog(path)


# ---- round trip -----------------------------------------------------------------------------

TAGS = st.sampled_from(["en", "mi", "en-NZ", "zh-Hant", "ton", "x-reef", "sgn-BE-FR", "de-1901"])
# What a cell keeps exactly: any text but NUL and CR (line breaks are read as LF), not white
# space alone (an empty cell); hypothesis draws no lone surrogates.
TEXT = st.text(
    st.characters(blacklist_characters="\x00\r", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")
SUBJECT = TEXT.map(lambda text: text.replace(";", " ").strip()).filter(bool)
DEGREES = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def descriptions(draw: st.DrawFn) -> Description:
    def language_map(required: bool) -> tuple[LocalText, ...]:
        tags = draw(st.lists(TAGS, min_size=1 if required else 0, max_size=3, unique=True))
        return tuple(LocalText(tag, draw(TEXT)) for tag in sorted(tags))

    place = None
    if draw(st.booleans()):
        if draw(st.booleans()):
            place = Place(draw(TEXT), draw(DEGREES.map(lambda d: math.fmod(d, 90))), draw(
                DEGREES.map(lambda d: math.fmod(d, 180))))  # fmt: skip
        else:
            place = Place(draw(TEXT))
    return Description(
        title=language_map(True),
        **{field: language_map(False) for field in LANGUAGE_FIELDS[1:]},
        creator=draw(st.none() | TEXT),
        date=draw(st.none() | TEXT),
        subjects=tuple(draw(st.lists(SUBJECT, max_size=4, unique=True))),
        place=place,
    )


def _cells(description: Description) -> dict[str, str]:
    cells: dict[str, str] = {}
    for field in LANGUAGE_FIELDS:
        for entry in getattr(description, field):
            cells[f"{field}@{entry.language}"] = entry.text
    cells["creator"] = description.creator or ""
    cells["date"] = description.date or ""
    cells["subject"] = "; ".join(description.subjects)
    if description.place is not None:
        cells["location"] = description.place.name
        if description.place.lat is not None:
            cells["latitude"] = repr(description.place.lat)
            cells["longitude"] = repr(description.place.lon)
    return cells


@reaches(0.8)
@settings(max_examples=examples(300))
@given(
    st.lists(descriptions(), min_size=1, max_size=4),
    st.sampled_from(["\r\n", "\n"]),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    st.booleans(),
    st.none() | TAGS,
    st.randoms(use_true_random=False),
)
def test_any_description_round_trips_through_a_csv_row(
    described: list[Description],
    newline: str,
    quoting: Any,
    bom: bool,
    language: str | None,
    order: Any,
) -> None:
    """Written by the csv module in either line ending and quoting, with or without a BOM, in
    any column order, and with the catalog's language written as bare column names."""
    rows = [{"file": f"items/{i}.bin", **_cells(d)} for i, d in enumerate(described)]
    if language is not None:
        rows = [{name.removesuffix(f"@{language}"): v for name, v in row.items()} for row in rows]
    columns = sorted({name for row in rows for name in row})
    order.shuffle(columns)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, columns, restval="", lineterminator=newline, quoting=quoting)
    writer.writeheader()
    writer.writerows(rows)
    text = ("\ufeff" if bom else "") + out.getvalue()
    catalog = parse_catalog_text(text, "c.csv", language=language)
    assert catalog == {f"items/{i}.bin": d for i, d in enumerate(described)}
    assert [d.to_document() for d in catalog.values()] == [d.to_document() for d in described]
    reached()


CSV_TEXT = st.lists(
    st.sampled_from([*',"\r\n;@ \t\x00\ufeff_./\\:', "file", "title", "@en", "a.jpg", "é"])
    | st.characters(),
    max_size=80,
).map("".join)
CATALOG_TEXT = CSV_TEXT | CSV_TEXT.map(lambda text: "file,title@en\n" + text)


@reaches(0.8)
@settings(max_examples=examples(500))
@given(CATALOG_TEXT, st.none() | st.just("en"))
def test_any_text_gives_a_catalog_or_a_catalog_error(text: str, language: str | None) -> None:
    """Fuzzed bytes of CSV's own characters: never an exception other than the documented
    ones, and every problem names a rule and says something."""
    try:
        catalog = parse_catalog_text(text, "fuzz.csv", language=language)
    except InvalidCatalog as exc:
        assert exc.problems and exc.message.startswith("fuzz.csv is not a valid catalog: ")
        for problem in exc.problems:
            assert problem.rule and problem.message and problem.text()
            assert problem.row is None or problem.row >= 1
    else:
        event("a catalog")
        assert catalog and all(isinstance(d, Description) for d in catalog.values())
        for key in catalog:
            assert key and not key.startswith("/") and ".." not in key.split("/")
    reached()
