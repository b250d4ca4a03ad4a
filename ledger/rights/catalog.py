"""The catalog CSV: descriptions of many files at once, from the spreadsheet a curator keeps.

One row per file: a ``file`` column (the file's path relative to the CSV's folder) and one
column per description field, ``title@mi``-style suffixes naming languages. The column names
of CollectionBuilder's metadata template are read where they mean a description field
(``filename``, ``subject``, ``location``, ``latitude``, ``longitude``, ``image_alt_text``) and
its other columns are passed over, and Dublin Core's names as Omeka writes them
(``dcterms:title``, ``Dublin Core:Title``) are read too, so an existing sheet needs few or no
edits. docs/catalog.md
is the format: every column and every rule.

Every row becomes a document that :func:`~ledger.rights.description.description_from_json`
checks, so a catalog row is exactly as valid as the same description written as JSON. Every
problem of the whole file (header, rows, cells, files) is gathered first and raised once as
:class:`~ledger.errors.InvalidCatalog`, each naming its row (the header is row 1, as in a
spreadsheet), its column as written and its rule, so a curator fixes the sheet in one pass.

:func:`parse_catalog_text` is pure; :func:`parse_catalog` reads the file (UTF-8, with or
without a byte-order mark, at most :data:`MAX_CATALOG_BYTES`) and also checks that each named
file is a regular file inside the CSV's folder.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ledger.errors import InvalidCatalog, InvalidDescription, LimitExceeded, NoSuchFile, UsageError
from ledger.json_schema import json_pointer
from ledger.rights.description import (
    DESCRIPTION_TYPE,
    LANGUAGE_FIELDS,
    Description,
    DescriptionProblem,
    description_from_json,
    is_well_formed_language_tag,
)

__all__ = [
    "IGNORED_COLUMNS",
    "MAX_CATALOG_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "SUBJECT_SEPARATOR",
    "CatalogProblem",
    "parse_catalog",
    "parse_catalog_text",
]

#: The largest catalog file read (bytes of UTF-8; for text, characters).
MAX_CATALOG_BYTES: Final = 16 << 20
#: The most rows a catalog holds, the header and blank rows included.
MAX_ROWS: Final = 50_000
#: The most columns a header names (64 languages of five fields, and room for other tools).
MAX_COLUMNS: Final = 1_000
#: What separates subjects in one cell: CollectionBuilder's convention (``waka; carving``).
SUBJECT_SEPARATOR: Final = ";"
#: Columns of CollectionBuilder's metadata templates that describe the web page or the
#: object's own data rather than the label; kept in the sheet for that tool, not read here.
#: ``language`` is among them: in Dublin Core it is the language *of the item* (a song sung
#: in Maori), not the language its title is written in.
IGNORED_COLUMNS: Final = frozenset(
    {
        "display_template",
        "format",
        "identifier",
        "image_small",
        "image_thumb",
        "language",
        "object_download",
        "object_location",
        "objectid",
        "parentid",
        "rights",
        "rightsstatement",
        "source",
        "type",
        "youtubeid",
    }
)
#: Header name (lower case) -> the field it fills; language fields also take ``@tag``.
_FIELD_OF: Final = {
    **{field: field for field in LANGUAGE_FIELDS},
    "image_alt_text": "alt_text",
    "file": "file",
    "filename": "file",
    "creator": "creator",
    "date": "date",
    "subjects": "subjects",
    "subject": "subjects",
    "place": "place",
    "location": "place",
    "lat": "lat",
    "latitude": "lat",
    "lon": "lon",
    "longitude": "lon",
    # Dublin Core's names, as Omeka S (dcterms:) and Omeka Classic (Dublin Core:) write them.
    **{
        f"{prefix}:{term}": field
        for prefix in ("dcterms", "dublin core")
        for term, field in (
            ("title", "title"),
            ("description", "description"),
            ("creator", "creator"),
            ("date", "date"),
            ("subject", "subjects"),
        )
    },
    "dcterms:spatial": "place",
}
#: Decimal degrees as spreadsheets write them: no comma decimals, no NaN, no infinity.
_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z", re.ASCII)
#: A URL scheme or a Windows drive at the start of a file name (``https:``, ``C:``).
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_NAME_BYTES: Final = 255  # the longest file name of common file systems
_HINT: Final = "fix the rows and columns named and try again; the format is in docs/catalog.md"


@dataclass(frozen=True, slots=True)
class CatalogProblem:
    """One reason a catalog is not valid: where (row and column as a spreadsheet shows them;
    the header is row 1, and ``line`` is the file's line where the row starts), which rule,
    and why. ``row`` is None for a problem of the file as a whole (its encoding), ``column``
    for one of a whole row."""

    row: int | None
    column: str | None
    rule: str
    message: str
    line: int | None = None

    @property
    def pointer(self) -> str:
        """An RFC 6901 pointer, ``/<row>/<column>``, for code that reads every document
        problem alike (:class:`~ledger.errors.InvalidDocument`)."""
        parts: list[Any] = [] if self.row is None else [self.row]
        return json_pointer(parts if self.column is None else [*parts, self.column])

    def where(self) -> str:
        """Row and column in words: ``row 4, column title@mi``."""
        parts = []
        if self.row is not None:
            parts.append(f"row {self.row}")
            if self.line is not None and self.line != self.row:
                parts[-1] += f" (line {self.line})"
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts) or "the catalog"

    def text(self) -> str:
        """The problem in one line, as a command lists each of an error's ``problems``:
        ``row 4, column title@mi: … [rule: language-tag]``."""
        return f"{self.where()}: {self.message} [rule: {self.rule}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "line": self.line,
            "column": self.column,
            "pointer": self.pointer,
            "rule": self.rule,
            "message": self.message,
        }


def _invalid(where: str, problems: Sequence[CatalogProblem]) -> InvalidCatalog:
    problems = sorted(problems, key=lambda p: p.row or 0)  # stable: in the order found
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidCatalog(
        f"{where} is not a valid catalog: {first.text()}{more}",
        problems=tuple(problems),
        hint=_HINT,
    )


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


# ---- the header ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    """A column this module reads: where it is, its header as written, the field it fills
    and, for a language field, the tag."""

    index: int
    header: str
    field: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class _Header:
    columns: tuple[_Column, ...]
    unnamed: tuple[int, ...]  # columns without a name: they must stay empty
    width: int
    dropped: frozenset[str] = frozenset()  # fields with a column refused above


#: What to do with a column of another tool that holds words a description could carry.
_RENAMES: Final = {
    "object_transcript": "rename it transcript@<tag> (transcript@en) if it holds the words: "
    "CollectionBuilder also takes a path to a text file there, which is not read",
}


def _suggestion(name: str) -> str:
    if name in _RENAMES:
        return "; " + _RENAMES[name]
    known = sorted({*_FIELD_OF, *IGNORED_COLUMNS})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _read_header(
    cells: Sequence[str], language: str | None
) -> tuple[_Header, list[CatalogProblem]]:
    problems: list[CatalogProblem] = []
    columns: list[_Column] = []
    unnamed: list[int] = []
    seen: dict[tuple[str, str | None], str] = {}

    def problem(header: str, rule: str, message: str) -> None:
        problems.append(CatalogProblem(1, header, rule, message, 1))

    if len(cells) == 1 and any(sep in cells[0] for sep in ";\t"):
        separator = "semicolon" if ";" in cells[0] else "tab"
        problem(
            cells[0],
            "delimiter",
            f"the header is one cell holding {separator}s: the file looks {separator}-"
            "separated; save it as comma-separated CSV (UTF-8)",
        )
        return _Header((), (), len(cells)), problems
    dropped: set[str] = set()
    for index, written in enumerate(cells):
        name = written.strip()
        if not name:
            unnamed.append(index)
            continue
        if name.startswith("_"):
            continue  # the curator's own column, kept for other tools
        base, at, tag = name.partition("@")
        base, tag = base.strip().lower(), tag.strip()
        field = _FIELD_OF.get(base)
        if field is None:
            if base in IGNORED_COLUMNS and not at:
                continue
            problem(
                written,
                "unknown-column",
                f"{_short(written)} is not a column of a catalog{_suggestion(base)} (start "
                "its name with _ to keep it for another tool)",
            )
            continue
        column_language: str | None = None
        if field in LANGUAGE_FIELDS:
            if at:
                if not is_well_formed_language_tag(tag):
                    problem(
                        written,
                        "language-tag",
                        f"{_short(tag)} is not a well-formed BCP 47 language tag (RFC 5646), "
                        "e.g. en, mi, en-NZ, zh-Hant",
                    )
                    dropped.add(field)
                    continue
                column_language = tag
            elif language is None:
                problem(
                    written,
                    "language-missing",
                    f"{_short(written)} names no language: write {field}@en (any BCP 47 "
                    "tag), or give the catalog's language (--language)",
                )
                dropped.add(field)
                continue
            else:
                column_language = language
        elif at:
            problem(
                written,
                "language-not-allowed",
                f"{_short(base)} takes no language: it is the same in every language",
            )
            continue
        key = (field, None if column_language is None else column_language.lower())
        if key in seen:
            what = field if column_language is None else f"{field} in {column_language!r}"
            problem(
                written,
                "column-duplicate",
                f"{_short(written)} gives {what} again (column {_short(seen[key])} gives it "
                "too); keep one",
            )
            continue
        seen[key] = written
        columns.append(_Column(index, written, field, column_language))
    if not any(column.field == "file" for column in columns):
        problems.append(
            CatalogProblem(
                1,
                "file",
                "file-column",
                "no column names the files: add a 'file' column (CollectionBuilder's "
                "'filename' is read as well) with each file's path relative to the CSV",
                1,
            )
        )
    return _Header(tuple(columns), tuple(unnamed), len(cells), frozenset(dropped)), problems


# ---- the cells -------------------------------------------------------------------------------


def _text(cell: str) -> str | None:
    """A cell's text as written, line breaks as LF (the same sheet saved on Windows and on
    Unix gives the same document), or None when it holds nothing but white space."""
    text = cell.replace("\r\n", "\n").replace("\r", "\n")
    return None if not text.strip() else text


def _file_key(value: str) -> tuple[str | None, str, str]:
    """The normalized relative path of a ``file`` cell, or (None, rule, message)."""
    if not value:
        return None, "file-empty", "the row names no file: fill the file column"
    if value != value.strip():
        return None, "file-space", f"{_short(value)} starts or ends with white space"
    if _CONTROL.search(value) or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return (
            None,
            "file-control",
            f"{_short(value)} holds a control character or a lone surrogate",
        )
    if "\\" in value:
        return (
            None,
            "file-backslash",
            f"{_short(value)} holds a backslash: write folders with / (photos/a.jpg)",
        )
    if value.startswith("/") or _SCHEME.match(value):
        return (
            None,
            "file-absolute",
            f"{_short(value)} is an absolute path, a drive or a URL: name the file relative "
            "to the catalog's folder",
        )
    if value.endswith("/"):
        return None, "file-folder", f"{_short(value)} names a folder, not a file"
    parts: list[str] = []
    for part in value.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return (
                    None,
                    "file-outside",
                    f"{_short(value)} leads out of the catalog's folder",
                )
            parts.pop()
            continue
        if len(part.encode("utf-8", "surrogatepass")) > _NAME_BYTES:
            return None, "file-name-long", f"a name in {_short(value)} is over 255 bytes"
        parts.append(part)
    if not parts:
        return None, "file-folder", f"{_short(value)} names the catalog's folder, not a file"
    return "/".join(parts), "", ""


def _degrees(cell: str) -> float | None:
    text = cell.strip()
    if _NUMBER.match(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _subjects(cell: str) -> list[str]:
    return [s for s in (part.strip() for part in cell.split(SUBJECT_SEPARATOR)) if s]


@dataclass(frozen=True, slots=True)
class _RowDocument:
    document: dict[str, Any]
    columns: dict[str, str]  # JSON pointer -> the header that filled it
    problems: tuple[CatalogProblem, ...]


def _row_document(header: _Header, cells: Sequence[str], row: int, line: int) -> _RowDocument:
    document: dict[str, Any] = {"type": DESCRIPTION_TYPE, "version": 1}
    columns: dict[str, str] = {}
    problems: list[CatalogProblem] = []
    place: dict[str, Any] = {}
    coordinates: dict[str, tuple[str, str]] = {}
    for column in header.columns:
        if column.field == "file":
            continue
        columns.setdefault("/" + column.field, column.header)
        text = _text(cells[column.index]) if column.index < len(cells) else None
        if column.field in ("lat", "lon"):
            columns["/place/" + column.field] = column.header
        if text is None:
            continue
        if column.language is not None:
            document.setdefault(column.field, {})[column.language] = text
            columns[json_pointer([column.field, column.language])] = column.header
        elif column.field in ("creator", "date"):
            document[column.field] = text
        elif column.field == "subjects":
            subjects = _subjects(text)
            repeated = sorted({s for s in subjects if subjects.count(s) > 1})
            if repeated:
                problems.append(
                    CatalogProblem(
                        row,
                        column.header,
                        "uniqueItems",
                        f"the subject {_short(repeated[0])} is given twice; give each once",
                        line,
                    )
                )
            elif subjects:
                document["subjects"] = subjects
        elif column.field == "place":
            place["name"] = text
            columns["/place/name"] = column.header
        else:
            coordinates[column.field] = (column.header, text)
    for field, (written, text) in sorted(coordinates.items()):
        degrees = _degrees(text)
        if degrees is None:
            problems.append(
                CatalogProblem(
                    row,
                    written,
                    "number",
                    f"{_short(text.strip())} is not a number of degrees: write decimal "
                    "degrees with a point, e.g. -38.6623",
                    line,
                )
            )
        else:
            place[field] = degrees
    if any(p.rule == "number" for p in problems):
        # A bad coordinate drops both: the other alone would only add a second problem.
        place.pop("lat", None)
        place.pop("lon", None)
    if place:
        document["place"] = place
    return _RowDocument(document, columns, tuple(problems))


def _catalog_problem(
    problem: DescriptionProblem, columns: Mapping[str, str], row: int, line: int
) -> CatalogProblem:
    """A description problem of a row, named by the column that holds the field."""
    pointer = problem.pointer
    column = None
    for prefix in sorted(columns, key=len, reverse=True):
        if pointer == prefix or pointer.startswith(prefix + "/"):
            column = columns[prefix]
            break
    message = problem.message
    if problem.rule == "required" and pointer == "/title":
        column = column or "title"
        message = "the row has no title: fill a title column (title@en, title@mi, ...)"
    elif problem.rule == "required" and pointer == "/place/name":
        column = column or "place"
        message = "coordinates need a place name: fill the place (or location) column"
    elif problem.rule == "dependentRequired":
        have, need = ("longitude", "latitude") if pointer.endswith("/lat") else (
            "latitude", "longitude")  # fmt: skip
        column = columns.get(pointer, need)
        message = f"a {have} needs a {need}: give both coordinates or neither"
    if column is None:
        message = f"{pointer}: {message}"
    return CatalogProblem(row, column, problem.rule, message, line)


# ---- the file --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    row: int
    line: int
    column: str
    key: str
    description: Description


def _records(text: str, where: str) -> Iterator[tuple[int, int, list[str]]]:
    """(row, first line, cells) of each record, RFC 4180 quoting, CRLF, LF or CR."""
    if csv.field_size_limit() < MAX_CATALOG_BYTES:
        # The csv module's own cap (128 Ki characters) is below a transcript's 200,000; the
        # file's size cap bounds every cell anyway. The setting is process-wide, and only
        # ever raised here, so no other reader loses anything by it.
        csv.field_size_limit(MAX_CATALOG_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = CatalogProblem(
                None,
                None,
                "csv-syntax",
                f"the CSV quoting is broken ({exc}): a quote inside a cell is written twice "
                '(""), and a cell holding quotes, commas or line breaks is quoted',
                reader.line_num,
            )
            raise _invalid(where, [problem]) from None
        row += 1
        if row > MAX_ROWS:
            raise LimitExceeded(
                f"the catalog has more than {MAX_ROWS:,} rows",
                hint="split it into several catalogs",
            )
        yield row, line, cells
        line = reader.line_num + 1


def _read(text: str, where: str, language: str | None) -> tuple[list[_Entry], list[CatalogProblem]]:
    if language is not None and not is_well_formed_language_tag(language):
        raise UsageError(
            f"{language!r} is not a well-formed BCP 47 language tag",
            hint="give the catalog's language as a tag such as en, mi or en-NZ",
        )
    if len(text) > MAX_CATALOG_BYTES:
        raise LimitExceeded(
            f"{where} is over {MAX_CATALOG_BYTES >> 20} MiB", hint="split it into several"
        )
    nul = text.find("\x00")
    if nul >= 0:
        problem = CatalogProblem(
            None,
            None,
            "nul",
            "the file holds a NUL character, which no CSV text holds: is it a spreadsheet "
            "file (.xlsx, .ods) or UTF-16 text? Save it as CSV UTF-8",
            text.count("\n", 0, nul) + 1,
        )
        raise _invalid(where, [problem])
    if text.startswith("\ufeff"):
        text = text[1:]
    records = _records(text, where)
    first = next(records, None)
    if first is None or not any(cell.strip() for cell in first[2]):
        problem = CatalogProblem(
            1, None, "header", "the first row must name the columns (file, title@en, ...)", 1
        )
        raise _invalid(where, [problem])
    if len(first[2]) > MAX_COLUMNS:
        raise LimitExceeded(
            f"{where} names {len(first[2]):,} columns; a catalog has at most {MAX_COLUMNS:,}"
        )
    header, problems = _read_header(first[2], language)
    if any(problem.rule == "delimiter" for problem in problems):
        raise _invalid(where, problems)  # every row would only repeat it
    entries = _rows(header, records, problems)
    if not entries and not problems:
        problems.append(
            CatalogProblem(None, None, "no-rows", "the catalog has a header but no rows")
        )
    return entries, problems


def _rows(
    header: _Header, records: Iterator[tuple[int, int, list[str]]], problems: list[CatalogProblem]
) -> list[_Entry]:
    file_column = next((c for c in header.columns if c.field == "file"), None)
    entries: list[_Entry] = []
    rows_of: dict[str, int] = {}
    for row, line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue  # a blank row, as spreadsheets export below the data
        row_problems: list[CatalogProblem] = []
        extra = [cell for cell in cells[header.width :] if cell.strip()]
        if extra:
            row_problems.append(
                CatalogProblem(
                    row,
                    None,
                    "extra-cells",
                    f"the row has {len(cells)} cells but the header names {header.width} "
                    "columns: a value lies outside every column (a comma too many, or a "
                    "cell that needed quotes?)",
                    line,
                )
            )
        for index in header.unnamed:
            if index < len(cells) and cells[index].strip():
                row_problems.append(
                    CatalogProblem(
                        row,
                        f"#{index + 1}",
                        "unnamed-column",
                        f"column {index + 1} has no name in the header but holds "
                        f"{_short(cells[index])}: name the column",
                        line,
                    )
                )
        key: str | None = None
        if file_column is not None:
            value = cells[file_column.index] if file_column.index < len(cells) else ""
            key, rule, message = _file_key(value)
            if key is None:
                row_problems.append(CatalogProblem(row, file_column.header, rule, message, line))
            elif key in rows_of:
                row_problems.append(
                    CatalogProblem(
                        row,
                        file_column.header,
                        "file-duplicate",
                        f"{_short(key)} is described in row {rows_of[key]} already; give each "
                        "file one row",
                        line,
                    )
                )
                key = None
            else:
                rows_of[key] = row
        built = _row_document(header, cells, row, line)
        row_problems += built.problems
        try:
            description = description_from_json(built.document, where=f"row {row}")
        except InvalidDescription as exc:
            row_problems += [
                _catalog_problem(p, built.columns, row, line)
                for p in exc.problems
                # A row without a title because the header's title column was refused: the
                # header's problem says it once, not once per row.
                if not (
                    p.rule == "required" and p.pointer == "/title" and "title" in header.dropped
                )
            ]
            description = None
        problems += row_problems
        if key is not None and description is not None and file_column is not None:
            entries.append(_Entry(row, line, file_column.header, key, description))
    return entries


def parse_catalog_text(
    text: str, where: str, *, language: str | None = None
) -> dict[str, Description]:
    """The description of each file a catalog's ``text`` names, keyed by the file's path
    relative to the catalog's folder (``/``-separated, ``.`` and ``..`` resolved), in row
    order. ``language`` is the BCP 47 tag of the columns that name none (``title`` rather
    than ``title@en``); without it such columns are an error. Pure: no file is looked at.

    Raises :class:`~ledger.errors.InvalidCatalog` with every problem of the catalog,
    :class:`~ledger.errors.LimitExceeded` past :data:`MAX_CATALOG_BYTES` or :data:`MAX_ROWS`.
    """
    entries, problems = _read(text, where, language)
    if problems:
        raise _invalid(where, problems)
    return {entry.key: entry.description for entry in entries}


def _decode(data: bytes, where: str) -> str:
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            problem = CatalogProblem(
                None,
                None,
                "utf-8",
                f"the file is {name} text (Excel's 'Unicode text'); a catalog is UTF-8: "
                "save it as CSV UTF-8",
                1,
            )
            raise _invalid(where, [problem])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex().upper()
        problem = CatalogProblem(
            None,
            None,
            "utf-8",
            f"byte 0x{bad} is not UTF-8 (the file may be Windows-1252 or Latin-1): save it "
            "as CSV UTF-8",
            data.count(b"\n", 0, exc.start) + 1,
        )
        raise _invalid(where, [problem]) from None


def _file_problem(root: Path, key: str) -> tuple[str, str]:
    """(rule, message) of what is wrong with the file ``key`` under ``root``, or ("", "")."""
    path = root / key
    try:
        if not path.exists():  # a dangling link and a link loop do not exist either
            return "file-missing", f"there is no file {_short(key)} beside the CSV"
        if not path.resolve().is_relative_to(root):
            return "file-outside", f"{_short(key)} is a link that leads out of the catalog's folder"
        if not path.is_file():
            return "file-not-regular", f"{_short(key)} is not a regular file"
    except (OSError, RuntimeError) as exc:  # no permission; a loop met while resolving
        return "file-missing", f"{_short(key)} cannot be looked at: {exc}"
    return "", ""


def _file_problems(folder: Path, entries: Sequence[_Entry]) -> list[CatalogProblem]:
    """Each named file must be a regular file inside ``folder``, symbolic links followed."""
    problems: list[CatalogProblem] = []
    root = folder.resolve()
    for entry in entries:
        rule, message = _file_problem(root, entry.key)
        if rule:
            problems.append(CatalogProblem(entry.row, entry.column, rule, message, entry.line))
    return problems


def parse_catalog(path: Path, *, language: str | None = None) -> dict[str, Description]:
    """The description of each file the catalog CSV at ``path`` names, keyed by the file's
    path relative to ``path``'s folder, in row order; every file must exist there. See
    :func:`parse_catalog_text` for ``language`` and the errors, and docs/catalog.md."""
    if not path.is_file():
        raise NoSuchFile(f"{path} does not exist or is not a file", hint="pass the catalog CSV")
    with path.open("rb") as handle:
        data = handle.read(MAX_CATALOG_BYTES + 1)
    if len(data) > MAX_CATALOG_BYTES:
        raise LimitExceeded(
            f"{path} is over {MAX_CATALOG_BYTES >> 20} MiB", hint="split it into several"
        )
    where = str(path)
    entries, problems = _read(_decode(data, where), where, language)
    problems += _file_problems(path.parent, entries)
    if problems:
        raise _invalid(where, problems)
    return {entry.key: entry.description for entry in entries}
