"""The leak scan: a built site's own files, searched for every form an excluded item's CIDs,
keys, titles and file names could take in them.

An exhibit build ends with :func:`check_clean` on its output folder; a hit fails the build
(:class:`ledger.errors.LeakFound`, exit 1). A :class:`Hit` names the file, the offset, the
secret's caller-given label and the form that matched, never the secret's value: the report may
be shown to people who must not see it. docs/exhibit.md ("The leak scan") says what is searched.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import html
import io
import json
import lzma
import os
import re
import unicodedata
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Final, Protocol, cast

import ahocorasick

from ledger.errors import LeakFound, NoSuchFile, UsageError
from ledger.ipfs.cid import SHA2_256, Cid

__all__ = [
    "MAX_EXPANDED",
    "MAX_NESTING",
    "MIN_TEXT_LENGTH",
    "Form",
    "Hit",
    "Secret",
    "check_clean",
    "forbidden_forms",
    "scan",
    "text_key",
]

#: Titles and file names shorter than this (in characters, after trimming white space) are not
#: searched: "Map" or "IMG" would hit half the site's HTML by chance.
MIN_TEXT_LENGTH: Final = 4
#: Bytes read from a file at a time (plus an overlap of the longest form minus one).
CHUNK_SIZE: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


_B36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # Bitcoin's


@dataclass(frozen=True, slots=True)
class Secret:
    """One thing of an excluded item that must not reach the site. ``label`` is what a hit shows
    (an item key, "excluded item 3"); the value is never shown (not even by ``repr``)."""

    label: str
    kind: str  # "cid", "key" or "text"
    value: Cid | bytes | str = field(repr=False)

    @classmethod
    def cid(cls, label: str, cid: Cid | str) -> Secret:
        return cls(label, "cid", Cid.parse(cid) if isinstance(cid, str) else cid)

    @classmethod
    def key(cls, label: str, key: bytes) -> Secret:
        """An item key: 32 bytes."""
        if len(key) != 32:
            raise UsageError(
                f"the item key of secret {label!r} has {len(key)} bytes, not 32",
                hint="pass the item key as its 32 raw bytes",
            )
        return cls(label, "key", bytes(key))

    @classmethod
    def text(cls, label: str, text: str) -> Secret:
        """A title or any other text: searched when at least :data:`MIN_TEXT_LENGTH`
        characters long after trimming."""
        return cls(label, "text", text)

    @classmethod
    def file_name(cls, label: str, name: str) -> list[Secret]:
        """A master's file name: its last path part and that part without its extension (a
        derivative is often named after its master's stem)."""
        base = PurePosixPath(name.replace("\\", "/")).name
        stem = PurePosixPath(base).stem
        return [cls.text(label, t) for t in dict.fromkeys((base, stem)) if t]


@dataclass(frozen=True, slots=True)
class Form:
    """One way a secret could be written in a site's bytes. ``name`` says which (it never holds
    the value); ``ignore_case`` for ASCII forms whose case a site may change (hex, base32)."""

    name: str
    pattern: bytes = field(repr=False)
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """A form of a secret found in the site: ``path`` relative to the folder (``a.zip!x/y`` or
    ``a.gz!`` for a compressed member, with ``offset`` inside the decompressed bytes)."""

    path: str
    offset: int
    label: str
    form: str

    def __str__(self) -> str:
        return f"{self.path} at byte {self.offset}: {self.label} ({self.form})"


def _b36(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, digit = divmod(number, 36)
        digits.append(_B36[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "0" * zeros + "".join(reversed(digits))


def _b58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_B58[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def _cid_forms(cid: Cid) -> list[Form]:
    v1 = cid.to_v1()
    raw = bytes(v1)
    forms = [
        Form("CIDv1 base32", str(v1).encode(), ignore_case=True),
        Form("CIDv1 base58btc", b"z" + _b58(raw).encode()),
        Form("CIDv1 base36", b"k" + _b36(raw).encode(), ignore_case=True),
        Form("CID binary multihash", v1.multihash),
    ]
    if v1.hash_code == SHA2_256:
        # The v0 text is base58btc of the multihash alone: the same whatever the codec.
        forms.append(Form("CIDv0", _b58(v1.multihash).encode()))
        forms.append(Form("sha2-256 digest hex", v1.digest.hex().encode(), ignore_case=True))
    return forms


def _key_forms(key: bytes) -> list[Form]:
    return [
        Form("0x hex", b"0x" + key.hex().encode(), ignore_case=True),
        Form("hex", key.hex().encode(), ignore_case=True),
        Form("base64", base64.b64encode(key).rstrip(b"=")),
        Form("base64url", base64.urlsafe_b64encode(key).rstrip(b"=")),
        Form("raw bytes", key),
    ]


#: The Unicode normalisations a text is searched in: NFC and NFD (how editors and file systems
#: write it) and NFKC and NFKD (what a slug or search-key maker writes: "ﬁ" as "fi", full-width
#: letters as ASCII).
_NORMS: Final = ("NFC", "NFD", "NFKC", "NFKD")


def text_key(text: str) -> str:
    """The text as the scan tells texts apart: trimmed, compatibility-normalised (NFKC) and
    case-folded. Two texts with the same key are one text to the scan, since it searches
    every text in every normalisation and case (:func:`forbidden_forms`); so a text of an
    excluded item is exempt from the scan when a shown item carries a text with the same key
    (:func:`exhibits.build.secrets_of`), and only then."""
    folded = unicodedata.normalize("NFKC", text.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def _cases(text: str) -> dict[str, str]:
    """The text as written, all lower case and all upper case (full Unicode mappings: "Ā" and
    "ā" too; the search itself also ignores ASCII case, so mixtures of those are found)."""
    return {text: "", text.lower(): " lower case", text.upper(): " upper case"}


def _encodings(t: str) -> tuple[tuple[str, str], ...]:
    json_ascii = json.dumps(t, ensure_ascii=True)[1:-1]
    json_utf8 = json.dumps(t, ensure_ascii=False)[1:-1]
    escaped = html.escape(t, quote=True)
    return (
        ("text", t),
        ("HTML-escaped", escaped),
        ("HTML-escaped (decimal quotes)", _decimal_quotes(escaped)),
        ("HTML-escaped (XML quotes)", _xml_quotes(escaped)),
        ("HTML-escaped (text node)", html.escape(t, quote=False)),
        ("HTML character references (hex)", _char_refs(t, "&#x{:x};")),
        ("HTML character references (decimal)", _char_refs(t, "&#{:d};")),
        ("JSON-escaped", json_ascii),
        ("JSON-escaped (UTF-8)", json_utf8),
        ("JSON-escaped (script-safe)", _script_safe(json_ascii)),
        ("JSON-escaped (UTF-8, script-safe)", _script_safe(json_utf8)),
        ("JSON-escaped (escaped solidus)", json_ascii.replace("/", "\\/")),
        ("JSON-escaped (UTF-8, escaped solidus)", json_utf8.replace("/", "\\/")),
        ("URL-encoded", urllib.parse.quote(t, safe="")),
        ("URL-encoded (path)", urllib.parse.quote(t)),
        ("URL-encoded (form)", urllib.parse.quote_plus(t)),
        ("URL-encoded (lower-case escapes)", _lower_escapes(urllib.parse.quote(t))),
        ("URL-encoded (form, lower-case escapes)", _lower_escapes(urllib.parse.quote_plus(t))),
    )


def _text_forms(text: str) -> list[Form]:
    text = text.strip()
    if len(unicodedata.normalize("NFC", text)) < MIN_TEXT_LENGTH:
        return []
    found: dict[bytes, str] = {}
    for norm in _NORMS:
        for cased, case_name in _cases(unicodedata.normalize(norm, text)).items():
            for name, value in _encodings(cased):
                for codec, suffix in (("utf-8", ""), ("utf-16-le", ", UTF-16-LE")):
                    pattern = value.encode(codec, "surrogatepass")
                    found.setdefault(pattern, f"{name} {norm}{case_name}{suffix}")
    # ignore_case: a site may write a title in another case (a slug, a heading's source text);
    # a form found in another case is still that secret (docs/exhibit.md, "The leak scan").
    return [Form(name, pattern, ignore_case=True) for pattern, name in found.items()]


def _decimal_quotes(escaped: str) -> str:
    """``&quot;``/``&#x27;`` as ``&#34;``/``&#39;``: how jinja2 (markupsafe) escapes quotes."""
    return escaped.replace("&quot;", "&#34;").replace("&#x27;", "&#39;")


def _xml_quotes(escaped: str) -> str:
    """``&#x27;`` as ``&apos;``: how XML writers (``xml.sax.saxutils``, a sitemap) escape it."""
    return escaped.replace("&#x27;", "&apos;")


def _char_refs(text: str, form: str) -> str:
    """The text as an ASCII-only HTML/XML writer writes it: markup characters and every
    character outside ASCII as numeric references (``&#xe9;`` or ``&#233;``)."""
    return "".join(form.format(ord(c)) if ord(c) > 0x7E or c in "&<>\"'" else c for c in text)


#: What a JSON writer that is safe inside ``<script>`` (jinja2's ``tojson``, the site's JSON-LD)
#: writes instead of these characters.
_SCRIPT_SAFE: Final = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027",
                       "\u2028": "\\u2028", "\u2029": "\\u2029"}  # fmt: skip


def _script_safe(encoded: str) -> str:
    return "".join(_SCRIPT_SAFE.get(c, c) for c in encoded)


def _lower_escapes(encoded: str) -> str:
    """``%C3%A9`` as ``%c3%a9``: both are the same URL, and some encoders write the latter."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)


def forbidden_forms(secret: Secret) -> list[Form]:
    """Every form ``secret`` could take in a site's bytes (none for a text shorter than
    :data:`MIN_TEXT_LENGTH`): see docs/exhibit.md, "The leak scan"."""
    if isinstance(secret.value, Cid):
        return _cid_forms(secret.value)
    if isinstance(secret.value, bytes):
        return _key_forms(secret.value)
    return _text_forms(secret.value)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A form as the matcher holds it: its pattern as written, and whether another case of it
    counts too."""

    pattern: bytes
    ignore_case: bool
    label: str
    form: str


class _Matcher:
    """All forms of all secrets in one Aho–Corasick automaton (:mod:`ahocorasick`), searched
    over each buffer once: the automaton holds every pattern ASCII-lower-cased and runs over
    the buffer lower-cased (offsets stay: one byte for one byte, read as Latin-1 so each byte is
    one character); a match of a form whose case matters is then kept only when the buffer's
    own bytes there are the pattern's. Matches are rare, so that check costs nothing measurable;
    one pass over the bytes is what costs (bench/leak_scan.py)."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        table: dict[bytes, list[_Entry]] = {}
        for secret in secrets:
            for form in forbidden_forms(secret):
                entries = table.setdefault(form.pattern.lower(), [])
                entry = _Entry(form.pattern, form.ignore_case, secret.label, form.name)
                if entry not in entries:
                    entries.append(entry)
        self.longest = max(map(len, table), default=0)
        self.automaton = ahocorasick.Automaton()
        for key, entries in table.items():
            self.automaton.add_word(key.decode("latin-1"), (len(key), tuple(entries)))
        if table:
            self.automaton.make_automaton()

    def _matches(self, buffer: bytes) -> list[tuple[int, int, str, str]]:
        """The matches in ``buffer`` as a regex would find them: leftmost first, the longest
        form at a position, none overlapping a match kept before it."""
        found: list[tuple[int, int, str, str]] = []
        for last, (length, entries) in self.automaton.iter(buffer.lower().decode("latin-1")):
            start = last + 1 - length
            written = buffer[start : last + 1]
            exact = next((e for e in entries if e.pattern == written), None)
            entry = exact or next((e for e in entries if e.ignore_case), None)
            if entry is None:
                continue  # a form whose case matters, here in another case
            form = entry.form if exact is not None else entry.form + ", in another case"
            found.append((start, last + 1, entry.label, form))
        found.sort(key=lambda m: (m[0], -m[1]))
        kept: list[tuple[int, int, str, str]] = []
        for match in found:
            if not kept or match[0] >= kept[-1][1]:
                kept.append(match)
        return kept

    def search(self, name: str, stream: _Readable) -> Iterator[Hit]:
        """The hits in ``stream`` in offset order, read in chunks that overlap by the longest
        form minus one."""
        if not self.longest:
            return
        overlap = self.longest - 1
        tail = b""
        base = 0  # the stream offset of buffer[0]
        while chunk := stream.read(CHUNK_SIZE):
            buffer = tail + chunk
            for start, end, label, form in self._matches(buffer):
                if end > len(tail):  # else wholly in the overlap: found the round before
                    yield Hit(name, base + start, label, form)
            tail = buffer[-overlap:] if overlap else b""
            base += len(buffer) - len(tail)


def _walk(folder: Path, here: Path) -> Iterator[Path]:
    with os.scandir(here) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            path = Path(entry.path)
            relative = path.relative_to(folder).as_posix()
            if entry.is_symlink():
                raise LeakFound(
                    f"the site holds a symbolic link, {relative}: the scan cannot vouch for "
                    "what it publishes",
                    hits=(),
                    hint="write real files into the site, never links to files outside it",
                )
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(folder, path)
            elif entry.is_file(follow_symlinks=False):
                yield path
            else:
                raise LeakFound(
                    f"the site holds {relative}, which is neither a file nor a folder",
                    hits=(),
                    hint="a site holds only regular files and folders",
                )


#: The most bytes the content of one of a site's files may expand to, over all its
#: compressed layers and members together: a gzip or zip bomb fails the scan (closed) at
#: this many bytes instead of filling memory or running for hours.
MAX_EXPANDED: Final = 256 << 20
#: The most archives nested in one another (a zip in a gzip in a zip …) that are opened.
MAX_NESTING: Final = 4
_XZ_MAGIC: Final = b"\xfd7zXZ\x00"
_BZIP2_MAGIC: Final = b"BZh"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_MAGICS: Final = (_GZIP_MAGIC, _ZIP_MAGIC, _XZ_MAGIC, _BZIP2_MAGIC, _ZSTD_MAGIC)
_HEAD: Final = 6  # bytes that tell every magic above


def _compressed(head: bytes) -> bool:
    return head.startswith(_MAGICS)


def _unchecked(name: str, why: str, hint: str) -> LeakFound:
    """The error for content the scan could not check: it fails closed, as a hit would."""
    return LeakFound(
        f"{name} {why}: it could not be checked, so the scan cannot vouch for it",
        hits=(),
        hint=hint,
    )


class _Budget:
    """The bytes the content of one site file may still expand to (:data:`MAX_EXPANDED`)."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.left = limit

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _unchecked(
                self.name,
                f"expands to more than {self.limit} bytes when decompressed (a compression "
                "bomb, or content too big to search)",
                "write no archive that expands that far into the site",
            )


class _Capped:
    """A decompressing stream that spends the budget on every byte it gives."""

    def __init__(self, stream: _Readable, budget: _Budget) -> None:
        self.stream = stream
        self.budget = budget

    def read(self, size: int = -1, /) -> bytes:
        # Never more than a chunk at once, so a bomb is stopped before it is in memory.
        data = self.stream.read(CHUNK_SIZE if size < 0 or size > CHUNK_SIZE else size)
        self.budget.spend(len(data))
        return data


class _Prefixed:
    """``head`` (already read) and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: _Readable) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int = -1, /) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            return data
        return self.stream.read(size)


def _read_all(stream: _Readable) -> bytes:
    parts = []
    while part := stream.read(CHUNK_SIZE):
        parts.append(part)
    return b"".join(parts)


def _member(
    matcher: _Matcher, name: str, stream: _Readable, budget: _Budget, depth: int
) -> Iterator[Hit]:
    """Hits in one decompressed member, and inside it when it is itself compressed (then it
    is held in memory, within the budget, to be read twice)."""
    head = stream.read(_HEAD)
    if not _compressed(head):
        yield from matcher.search(name, _Prefixed(head, stream))
        return
    data = head + _read_all(stream)
    yield from matcher.search(name, io.BytesIO(data))
    yield from _inside(matcher, name, io.BytesIO(data), budget, depth + 1)


def _decompressing(name: str, head: bytes, source: IO[bytes]) -> IO[bytes]:
    """A reader of the content of the gzip, xz or bzip2 stream ``source`` that starts with
    ``head``."""
    if head.startswith(_GZIP_MAGIC):
        return cast(IO[bytes], gzip.GzipFile(fileobj=source, mode="rb"))
    if head.startswith(_XZ_MAGIC):
        return lzma.LZMAFile(source, "rb")
    if head.startswith(_BZIP2_MAGIC):
        return bz2.BZ2File(source, "rb")
    raise _unchecked(
        name, "is Zstandard-compressed and this scan has no reader for that",
        "write the file uncompressed (the server may compress it when serving)",
    )  # fmt: skip


def _inside(
    matcher: _Matcher,
    name: str,
    source: IO[bytes],
    budget: _Budget,
    depth: int,
) -> Iterator[Hit]:
    """Hits inside the compressed file ``source`` (seekable, at its start): a gzip, xz or
    bzip2 stream's content, each member of a zip file. Raises :class:`LeakFound` for what
    cannot be checked: a format without a reader here (zstd), an archive that does not
    decompress or is encrypted, one nested too deep, one that expands past the budget."""
    if depth > MAX_NESTING:
        raise _unchecked(
            name, f"holds archives nested more than {MAX_NESTING} deep",
            "write no nested archives into the site",
        )  # fmt: skip
    head = source.read(_HEAD)
    source.seek(0)
    try:
        if head.startswith(_ZIP_MAGIC):
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    if info.file_size > budget.left:
                        budget.spend(info.file_size)  # declared too big: fails before reading
                    with archive.open(info) as stream:
                        yield from _member(
                            matcher, f"{name}!{info.filename}", _Capped(stream, budget),
                            budget, depth,
                        )  # fmt: skip
            return
        with _decompressing(name, head, source) as opened:
            yield from _member(matcher, name + "!", _Capped(opened, budget), budget, depth)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
            NotImplementedError, RuntimeError, ValueError) as exc:  # fmt: skip
        raise _unchecked(
            name,
            f"starts as a compressed file but cannot be decompressed ({exc})",
            "write only whole, readable, unencrypted gzip and zip files into the site",
        ) from exc


def _file(matcher: _Matcher, root: Path, path: Path, max_expanded: int) -> Iterator[Hit]:
    name = path.relative_to(root).as_posix()
    with path.open("rb") as stream:
        head = stream.read(_HEAD)
        stream.seek(0)
        yield from matcher.search(name, stream)
        if matcher.longest and _compressed(head):
            stream.seek(0)
            yield from _inside(matcher, name, stream, _Budget(name, max_expanded), 1)


def scan(
    folder: str | os.PathLike[str],
    secrets: Iterable[Secret],
    *,
    max_expanded: int = MAX_EXPANDED,
    fixed: Mapping[str, bytes] | None = None,
) -> list[Hit]:
    """Every form of every secret in the files under ``folder``: the plain bytes of each file
    and the content of compressed files (gzip, xz, bzip2, and zip members; nested up to
    :data:`MAX_NESTING` deep), in path order. Raises :class:`LeakFound` for what the scan
    cannot check (a symbolic link, a special file, a compressed file that does not decompress,
    whose format has no reader here, or whose content expands past ``max_expanded`` bytes)
    and :class:`NoSuchFile` when ``folder`` is not a folder.

    ``fixed`` maps paths (relative, ``/``-separated) to the bytes every site holds there (the
    vendored libraries: :func:`exhibits.site.assets.asset_files`). A file whose bytes are
    exactly those cannot hold anything of an item, so it is searched for CIDs and keys only:
    an excluded title that is a common word ("Light", "Scene") would otherwise hit three.js
    and fail every build. A file at such a path with any other bytes is searched for all."""
    root = Path(folder)
    if not root.is_dir() or root.is_symlink():
        raise NoSuchFile(f"{root} is not a folder to scan", hint="pass the folder the build wrote")
    secrets = list(secrets)
    matcher = _Matcher(secrets)
    ids_only = _Matcher(s for s in secrets if s.kind != "text") if fixed else matcher
    vendored = fixed or {}
    hits: list[Hit] = []
    for path in _walk(root, root):
        name = path.relative_to(root).as_posix()
        known = vendored.get(name)
        plain = known is not None and _same(path, known)
        hits.extend(_file(ids_only if plain else matcher, root, path, max_expanded))
    return hits


def _same(path: Path, data: bytes) -> bool:
    """Whether the file holds exactly ``data`` (compared byte for byte: nothing is hashed)."""
    if path.stat().st_size != len(data):
        return False
    return path.read_bytes() == data


def check_clean(
    folder: str | os.PathLike[str],
    secrets: Iterable[Secret],
    *,
    max_expanded: int = MAX_EXPANDED,
    fixed: Mapping[str, bytes] | None = None,
) -> None:
    """Raise :class:`LeakFound` (exit 1) naming every hit (labels only) unless ``folder``
    holds no form of any secret (and everything in it could be checked: :func:`scan`)."""
    hits = scan(folder, secrets, max_expanded=max_expanded, fixed=fixed)
    if hits:
        shown = "; ".join(str(h) for h in hits[:20])
        more = f"; and {len(hits) - 20} more" if len(hits) > 20 else ""
        raise LeakFound(
            f"the site leaks {len(hits)} form(s) of excluded items: {shown}{more}",
            hits=tuple(hits),
            hint="remove those items from what the build writes, then build again",
        )
