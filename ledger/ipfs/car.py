"""CARv1 (Content Addressable aRchive) reading and writing.

Format: ``varint(len) dag-cbor{"roots": [CID…], "version": 1}`` then sections of
``varint(len) CID block``. The reader treats its input as hostile: it caps the header at
32 MiB and each section at 8 MiB (go-car's limits), caps the whole archive at a configured
size, checks every block against its CID, and checks that every root is in the archive.
It raises only :class:`ledger.errors.CarError` (or LimitExceeded for the size cap) and
never holds more than one section in memory.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

import cbor2

from ledger.errors import CarError, HeritageError, LimitExceeded
from ledger.ipfs.cid import IDENTITY, Cid, uvarint

__all__ = [
    "MAX_HEADER_SIZE",
    "MAX_SECTION_SIZE",
    "CarHeader",
    "CarReader",
    "encode_header",
    "write_car",
]

MAX_HEADER_SIZE: Final = 32 << 20
MAX_SECTION_SIZE: Final = 8 << 20
_CID_TAG: Final = 42
_READ_PIECE: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class CarHeader:
    roots: tuple[Cid, ...]


def encode_header(roots: Iterable[Cid]) -> bytes:
    """The varint-prefixed dag-cbor header of a CARv1 with ``roots``."""
    body = cbor2.dumps(
        {"roots": [cbor2.CBORTag(_CID_TAG, b"\x00" + bytes(r)) for r in roots], "version": 1}
    )
    return uvarint(len(body)) + body


def write_car(roots: Iterable[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> Iterator[bytes]:
    """The bytes of a CARv1, piece by piece (header, then one piece per section)."""
    yield encode_header(roots)
    for cid, data in blocks:
        raw_cid = bytes(cid)
        yield uvarint(len(raw_cid) + len(data)) + raw_cid
        yield data


def _decode_header(body: bytes) -> CarHeader:
    def tag_hook(tag: cbor2.CBORTag, _immutable: bool) -> object:
        if tag.tag != _CID_TAG:
            raise CarError(f"CAR header holds CBOR tag {tag.tag}; only tag 42 (CID) is allowed")
        value = tag.value
        if not isinstance(value, bytes) or not value.startswith(b"\x00"):
            raise CarError("CAR header has a malformed CID (tag 42 needs 0x00 + binary CID)")
        try:
            return Cid.from_bytes(value[1:])
        except HeritageError as exc:
            raise CarError(f"CAR header names an unusable root: {exc.message}") from None

    source = io.BytesIO(body)
    try:
        header = cbor2.CBORDecoder(source, tag_hook=tag_hook).decode()
    except CarError:
        raise
    except Exception as exc:  # cbor2 raises several types for hostile input
        raise CarError(f"CAR header is not valid dag-cbor: {exc}") from None
    if source.tell() != len(body):  # cbor2.loads would ignore them
        raise CarError(f"CAR header has {len(body) - source.tell()} bytes after its dag-cbor map")
    if not isinstance(header, dict) or set(header) != {"roots", "version"}:
        raise CarError(
            "CAR header must be a map with exactly the keys 'roots' and 'version'",
            hint="is this a CARv1 file? CARv2 files are not supported",
        )
    if type(header["version"]) is not int or header["version"] != 1:  # not 1.0, not True
        raise CarError(f"CAR version {header['version']!r} is not supported", hint="only CARv1 is")
    roots = header["roots"]
    if not isinstance(roots, list) or not all(isinstance(r, Cid) for r in roots):
        raise CarError("CAR header 'roots' must be a list of CIDs")
    if not roots:
        raise CarError("CAR header lists no roots", hint="a CARv1 needs at least one root")
    return CarHeader(tuple(roots))


class CarReader:
    """Reads a CARv1 from a stream, one verified block at a time.

    ``blocks()`` yields ``(cid, data)`` for sections whose bytes hash to their CID and raises
    CarError at the first problem; after it is exhausted, ``missing_roots()`` names the roots
    that never appeared. Iterate it fully before trusting anything it yielded.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        max_size: int | None = None,
        verify: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = stream
        self._max_size = max_size
        self._verify = verify
        self._on_bytes = on_bytes
        self.bytes_read = 0
        self._seen_roots: set[bytes] = set()
        self.block_count = 0
        length = self._read_varint("header length", allow_eof=False)
        if length is None or length == 0:
            raise CarError("CAR header is empty")
        if length > MAX_HEADER_SIZE:
            raise CarError(
                f"CAR header claims {length} bytes; at most {MAX_HEADER_SIZE} are accepted"
            )
        self.header = _decode_header(self._read_exact(length, "header"))
        self._root_keys = {r.multihash for r in self.header.roots}

    @property
    def roots(self) -> tuple[Cid, ...]:
        return self.header.roots

    def _read_exact(self, size: int, what: str) -> bytes:
        if self._max_size is not None and self.bytes_read + size > self._max_size:
            raise LimitExceeded(
                f"CAR file is larger than the limit of {self._max_size} bytes",
                hint="raise the import size limit in the settings, or split the archive",
            )
        # Read in bounded pieces: a file object's read(n) allocates n bytes up front, so a
        # few-byte file claiming a 32 MiB header would otherwise cost 32 MiB per attempt.
        parts: list[bytes] = []
        got = 0
        while got < size:
            piece = self._stream.read(min(size - got, _READ_PIECE))
            if not piece:
                raise CarError(
                    f"CAR file is truncated: its {what} needs {size} bytes, only {got} left"
                )
            parts.append(piece)
            got += len(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.bytes_read += size
        if self._on_bytes is not None:
            self._on_bytes(size)
        return data

    def _read_varint(self, what: str, *, allow_eof: bool) -> int | None:
        value = 0
        for i in range(9):
            byte = self._stream.read(1)
            if not byte:
                if i == 0 and allow_eof:
                    return None
                raise CarError(f"CAR file is truncated inside a varint ({what})")
            self.bytes_read += 1
            if self._max_size is not None and self.bytes_read > self._max_size:
                raise LimitExceeded(f"CAR file is larger than the limit of {self._max_size} bytes")
            b = byte[0]
            value |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                if b == 0 and i > 0:
                    raise CarError(f"CAR {what} varint is not minimally encoded")
                return value
        raise CarError(f"CAR {what} varint is longer than 9 bytes")

    def blocks(self) -> Iterator[tuple[Cid, bytes]]:
        while True:
            offset = self.bytes_read
            length = self._read_varint("section length", allow_eof=True)
            if length is None:
                return
            if length == 0:
                raise CarError(f"CAR section at byte {offset} is empty")
            if length > MAX_SECTION_SIZE:
                raise CarError(
                    f"CAR section at byte {offset} claims {length} bytes; "
                    f"at most {MAX_SECTION_SIZE} are accepted"
                )
            section = self._read_exact(length, f"section at byte {offset}")
            try:
                cid, end = Cid.read(section, 0)
            except HeritageError as exc:
                raise CarError(
                    f"CAR section at byte {offset} has a bad CID: {exc.message}"
                ) from None
            data = section[end:]
            if self._verify and not cid.matches(data):
                raise CarError(
                    f"CAR block {cid} at byte {offset} does not hash to its CID",
                    hint="the archive is corrupt or was tampered with; nothing was imported",
                )
            if cid.multihash in self._root_keys:
                self._seen_roots.add(cid.multihash)
            self.block_count += 1
            yield cid, data

    def missing_roots(self) -> list[Cid]:
        """Roots that no section carried (identity roots carry themselves)."""
        return [
            r
            for r in self.header.roots
            if r.multihash not in self._seen_roots and r.hash_code != IDENTITY
        ]
