"""The leak scan: a built site's own files, searched for every form an excluded item's CIDs,
keys, titles and file names could take in them.

An exhibit build ends with :func:`check_clean` on its output folder; a hit fails the build
(:class:`ledger.errors.LeakFound`, exit 1). A :class:`Hit` names the file, the offset, the
secret's caller-given label and the form that matched, never the secret's value: the report may
be shown to people who must not see it. docs/exhibit.md ("The leak scan") says what is searched.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import re
import unicodedata
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final, Protocol

from ledger.errors import LeakFound, NoSuchFile, UsageError
from ledger.ipfs.cid import SHA2_256, Cid

__all__ = [
    "MIN_TEXT_LENGTH",
    "Form",
    "Hit",
    "Secret",
    "check_clean",
    "forbidden_forms",
    "scan",
]

#: Titles and file names shorter than this (in characters, after trimming white space) are not
#: searched: "Map" or "IMG" would hit half the site's HTML by chance.
MIN_TEXT_LENGTH: Final = 4
#: Bytes read from a file at a time (plus an overlap of the longest form minus one).
CHUNK_SIZE: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_Trie = dict[bytes, "_Trie"]


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


def _text_forms(text: str) -> list[Form]:
    text = text.strip()
    if len(unicodedata.normalize("NFC", text)) < MIN_TEXT_LENGTH:
        return []
    found: dict[bytes, str] = {}
    for norm in ("NFC", "NFD"):
        t = unicodedata.normalize(norm, text)
        json_ascii = json.dumps(t, ensure_ascii=True)[1:-1]
        json_utf8 = json.dumps(t, ensure_ascii=False)[1:-1]
        encodings = (
            ("text", t),
            ("HTML-escaped", html.escape(t, quote=True)),
            ("HTML-escaped (decimal quotes)", _decimal_quotes(html.escape(t, quote=True))),
            ("HTML-escaped (text node)", html.escape(t, quote=False)),
            ("JSON-escaped", json_ascii),
            ("JSON-escaped (UTF-8)", json_utf8),
            ("JSON-escaped (script-safe)", _script_safe(json_ascii)),
            ("JSON-escaped (UTF-8, script-safe)", _script_safe(json_utf8)),
            ("URL-encoded", urllib.parse.quote(t, safe="")),
            ("URL-encoded (path)", urllib.parse.quote(t)),
            ("URL-encoded (form)", urllib.parse.quote_plus(t)),
            ("URL-encoded (lower-case escapes)", _lower_escapes(urllib.parse.quote(t))),
            ("URL-encoded (form, lower-case escapes)", _lower_escapes(urllib.parse.quote_plus(t))),
        )
        for name, value in encodings:
            for codec, suffix in (("utf-8", ""), ("utf-16-le", ", UTF-16-LE")):
                found.setdefault(value.encode(codec), f"{name} {norm}{suffix}")
    return [Form(name, pattern) for pattern, name in found.items()]


def _decimal_quotes(escaped: str) -> str:
    """``&quot;``/``&#x27;`` as ``&#34;``/``&#39;``: how jinja2 (markupsafe) escapes quotes."""
    return escaped.replace("&quot;", "&#34;").replace("&#x27;", "&#39;")


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


class _Matcher:
    """All forms of all secrets as two compiled regexes, each a trie of its patterns (so a
    position of a file is skipped unless its byte starts some form, and then tries only the
    branches that byte starts): the exact forms searched in the bytes as they are, the forms
    whose case does not matter searched in the bytes lower-cased (ASCII only, so offsets stay).
    And the way back from a match to its secret's label and form."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self.exact: dict[bytes, tuple[str, str]] = {}
        self.folded: dict[bytes, tuple[str, str]] = {}
        for secret in secrets:
            for form in forbidden_forms(secret):
                table, key = (
                    (self.folded, form.pattern.lower())
                    if form.ignore_case
                    else (self.exact, form.pattern)
                )
                table.setdefault(key, (secret.label, form.name))
        self.longest = max((len(k) for k in (*self.exact, *self.folded)), default=0)
        self.regex_exact = _compile(self.exact)
        self.regex_folded = _compile(self.folded)

    def _matches(self, buffer: bytes) -> Iterator[tuple[int, int, tuple[str, str]]]:
        if self.regex_exact is not None:
            for m in self.regex_exact.finditer(buffer):
                yield m.start(), m.end(), self.exact[m.group()]
        if self.regex_folded is not None:
            for m in self.regex_folded.finditer(buffer.lower()):
                yield m.start(), m.end(), self.folded[m.group()]

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
            found = [
                Hit(name, base + start, label, form)
                for start, end, (label, form) in self._matches(buffer)
                if end > len(tail)  # else wholly in the overlap: found the round before
            ]
            yield from sorted(found, key=lambda hit: hit.offset)
            tail = buffer[-overlap:] if overlap else b""
            base += len(buffer) - len(tail)


def _compile(patterns: Iterable[bytes]) -> re.Pattern[bytes] | None:
    trie: _Trie = {}
    for pattern in patterns:
        node = trie
        for byte in pattern:
            node = node.setdefault(re.escape(bytes((byte,))), {})
        node[b""] = {}
    return re.compile(_trie_regex(trie), re.DOTALL) if trie else None


def _trie_regex(node: _Trie) -> bytes:
    """The regex of a trie: at each node its branches, longest first where a form ends."""
    end = b"" in node
    branches = [token + _trie_regex(child) for token, child in node.items() if token]
    if not branches:
        return b""
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    if end:
        return b"(?:" + body + b")?"
    return body


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


def _members(matcher: _Matcher, name: str, path: Path, magic: bytes) -> Iterator[Hit]:
    """Hits inside a gzip file's content or a zip file's members."""
    try:
        if magic.startswith(_GZIP_MAGIC):
            with gzip.open(path, "rb") as stream:
                yield from matcher.search(name + "!", stream)
        elif magic.startswith(_ZIP_MAGIC):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        with archive.open(info) as stream:
                            yield from matcher.search(f"{name}!{info.filename}", stream)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError) as exc:
        raise LeakFound(
            f"{name} starts as a compressed file but cannot be decompressed ({exc}), so the "
            "scan cannot see inside it",
            hits=(),
            hint="write only whole, readable gzip and zip files into the site",
        ) from exc


def scan(folder: str | os.PathLike[str], secrets: Iterable[Secret]) -> list[Hit]:
    """Every form of every secret in the files under ``folder``: the plain bytes of each file
    and the content of gzip and zip files, in path order. Raises :class:`LeakFound` for what the
    scan cannot check (a symbolic link, a special file, a compressed file that does not
    decompress) and :class:`NoSuchFile` when ``folder`` is not a folder."""
    root = Path(folder)
    if not root.is_dir() or root.is_symlink():
        raise NoSuchFile(f"{root} is not a folder to scan", hint="pass the folder the build wrote")
    matcher = _Matcher(secrets)
    hits: list[Hit] = []
    for path in _walk(root, root):
        name = path.relative_to(root).as_posix()
        with path.open("rb") as stream:
            magic = stream.read(4)
            stream.seek(0)
            hits.extend(matcher.search(name, stream))
        hits.extend(_members(matcher, name, path, magic))
    return hits


def check_clean(folder: str | os.PathLike[str], secrets: Iterable[Secret]) -> None:
    """Raise :class:`LeakFound` (exit 1) naming every hit (labels only) unless ``folder``
    holds no form of any secret."""
    hits = scan(folder, secrets)
    if hits:
        shown = "; ".join(str(h) for h in hits[:20])
        more = f"; and {len(hits) - 20} more" if len(hits) > 20 else ""
        raise LeakFound(
            f"the site leaks {len(hits)} form(s) of excluded items: {shown}{more}",
            hits=tuple(hits),
            hint="remove those items from what the build writes, then build again",
        )
