"""Content identifiers: parse, encode, and compute for a block.

Only what the project needs: CIDv0 (dag-pb, sha2-256, base58btc) and CIDv1 (any multibase on
input, base32 on output) over the codecs raw, dag-pb and dag-cbor, with sha2-256 or identity
multihashes. Pure functions; no I/O. The text this project writes and reads most (CIDv0 in
base58btc, CIDv1 in base32) is encoded and decoded here with the standard library; any other
multibase is left to ``multiformats``, imported only then (it takes longer to import than a
small file takes to hash: ``heritage cid`` would start slower with it).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from typing import Final

from ledger.errors import InvalidCid, UnsupportedCodec

__all__ = [
    "DAG_CBOR",
    "DAG_PB",
    "IDENTITY",
    "RAW",
    "SHA2_256",
    "Cid",
    "read_uvarint",
    "uvarint",
]

RAW: Final = 0x55
DAG_PB: Final = 0x70
DAG_CBOR: Final = 0x71
SHA2_256: Final = 0x12
IDENTITY: Final = 0x00

CODEC_NAMES: Final = {RAW: "raw", DAG_PB: "dag-pb", DAG_CBOR: "dag-cbor"}
HASH_NAMES: Final = {SHA2_256: "sha2-256", IDENTITY: "identity"}
# An identity CID inlines its block; cap it so a CID cannot smuggle a large payload.
MAX_IDENTITY_DIGEST: Final = 128
MAX_CID_STRING: Final = 512
_ONE_BYTE_VARINTS: Final = tuple(bytes((i,)) for i in range(0x80))
_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # Bitcoin's
_B58_VALUES: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}


def uvarint(value: int) -> bytes:
    """Unsigned LEB128 (multiformats unsigned-varint / protobuf varint)."""
    if 0 <= value < 0x80:
        return _ONE_BYTE_VARINTS[value]  # most calls: field keys, codes, short lengths
    if value < 0:
        raise ValueError("uvarint cannot encode a negative number")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_uvarint(data: bytes | memoryview, pos: int, *, max_bytes: int = 9) -> tuple[int, int]:
    """Decode a minimal unsigned varint at ``pos``; return (value, next position).

    Raises ValueError on truncation, on more than ``max_bytes`` bytes, or on a non-minimal
    encoding (a trailing zero byte), as the multiformats spec requires.
    """
    value = 0
    shift = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and i > 0:
                raise ValueError("varint is not minimally encoded")
            return value, pos + i + 1
        shift += 7
    raise ValueError(f"varint longer than {max_bytes} bytes")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _b58(data: bytes) -> str:
    """base58btc without the multibase prefix: the number in base 58, one ``1`` per leading
    zero byte."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_B58_ALPHABET[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


@functools.lru_cache(maxsize=4096)
def _text(version: int, codec: int, multihash: bytes) -> str:
    """A CID's canonical text (memoised: base32 is encoded in pure Python, and verification
    names the same few CIDs many times)."""
    if version == 0:
        return _b58(multihash)
    return "b" + _b32(uvarint(1) + uvarint(codec) + multihash)


@functools.lru_cache(maxsize=4096)
def _b58_decode(text: str) -> bytes | None:
    """base58btc text (no multibase prefix) as bytes, or None for text that is not in its
    canonical form (multiformats then parses it and says why)."""
    number = 0
    for char in text:
        value = _B58_VALUES.get(char)
        if value is None:
            return None
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    raw = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    return raw if _b58(raw) == text else None


@functools.lru_cache(maxsize=4096)
def _b32_decode(text: str) -> bytes | None:
    """Multibase ``b`` (RFC 4648 base32, lower case, no padding) text as bytes, or None for
    text that is not in its canonical form (multiformats then parses it and says why). The
    common case, CIDv1 as this project writes them, without multiformats' slower decoder."""
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:  # binascii.Error: a character outside the alphabet, a bad length
        return None
    return raw if _b32(raw) == text else None


@dataclass(frozen=True, slots=True)
class Cid:
    """A parsed CID. ``multihash`` holds the whole multihash (code, length, digest)."""

    version: int
    codec: int
    multihash: bytes

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int, version: int = 1) -> Cid:
        """The sha2-256 CID of ``data`` under ``codec``."""
        return cls.from_digest(hashlib.sha256(data).digest(), codec, version)

    @classmethod
    def from_digest(cls, digest: bytes, codec: int, version: int = 1) -> Cid:
        """A CID for a sha2-256 ``digest`` already computed."""
        if version == 0 and codec != DAG_PB:
            raise UnsupportedCodec(
                f"CIDv0 can only name dag-pb blocks, not {CODEC_NAMES.get(codec, hex(codec))}",
                hint="use CID version 1",
            )
        return cls(version, codec, b"\x12\x20" + digest)

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse a CID string: CIDv0 (``Qm…``) or CIDv1 in any multibase."""
        if not isinstance(text, str) or not text:
            raise InvalidCid("empty CID", hint="pass a CID such as Qm… or bafy…")
        shown = text if len(text) <= 80 else text[:77] + "..."
        if len(text) > MAX_CID_STRING:
            raise InvalidCid(f"CID string is too long ({len(text)} characters): {shown!r}")
        v0_text = len(text) == 46 and text.startswith("Qm")
        raw: bytes | None = None
        if v0_text:
            raw = _b58_decode(text)
        elif text[0] == "b":
            raw = _b32_decode(text[1:])
        if raw is None:  # another multibase, or text the shortcuts do not vouch for
            from multiformats import multibase

            try:
                if v0_text:
                    raw = bytes(multibase.decode("z" + text))
                else:
                    raw = bytes(multibase.decode(text))
            except Exception as exc:  # multiformats raises several unrelated types
                raise InvalidCid(
                    f"{shown!r} is not a CID: {exc}",
                    hint="a CID looks like Qm… (v0) or bafy…/bafk… (v1)",
                ) from None
        if raw[:1] == b"\x12" and not v0_text:
            # The CID spec: a CIDv0 is never multibase-encoded, and there is no CIDv18.
            raise InvalidCid(
                f"{shown!r} is a multibase-encoded CIDv0, which the CID spec does not allow",
                hint="write a CIDv0 as plain base58 (Qm…), or convert it to CIDv1",
            )
        return cls.from_bytes(raw, shown=shown)

    @classmethod
    def from_bytes(cls, raw: bytes, *, shown: str | None = None) -> Cid:
        """Parse the binary form of a CID, which must be consumed exactly."""
        cid, end = cls.read(raw, 0, shown=shown)
        if end != len(raw):
            label = shown if shown is not None else raw.hex()[:80]
            raise InvalidCid(f"{label!r} has {len(raw) - end} trailing bytes after the CID")
        return cid

    @classmethod
    def read(
        cls, raw: bytes | memoryview, pos: int, *, shown: str | None = None
    ) -> tuple[Cid, int]:
        """Read one binary CID starting at ``pos``; return it and the position after it."""
        label = shown if shown is not None else bytes(raw[pos : pos + 40]).hex()
        try:
            if len(raw) - pos >= 2 and raw[pos] == 0x12 and raw[pos + 1] == 0x20:
                end = pos + 34
                if end > len(raw):
                    raise ValueError("truncated CIDv0 multihash")
                return cls(0, DAG_PB, bytes(raw[pos:end])), end
            version, p = read_uvarint(raw, pos)
            if version != 1:
                raise ValueError(f"unsupported CID version {version}")
            codec, p = read_uvarint(raw, p)
            mh_start = p
            hash_code, p = read_uvarint(raw, p)
            length, p = read_uvarint(raw, p)
        except ValueError as exc:
            raise InvalidCid(f"{label!r} is not a valid binary CID: {exc}") from None
        if codec not in CODEC_NAMES:
            raise UnsupportedCodec(
                f"CID {label!r} uses codec 0x{codec:x}, which this node does not handle",
                hint="supported codecs: raw, dag-pb, dag-cbor",
            )
        if hash_code == SHA2_256:
            if length != 32:
                raise InvalidCid(f"CID {label!r} has a sha2-256 digest of {length} bytes, not 32")
        elif hash_code == IDENTITY:
            if length > MAX_IDENTITY_DIGEST:
                raise InvalidCid(
                    f"CID {label!r} inlines {length} bytes; at most {MAX_IDENTITY_DIGEST} allowed"
                )
        else:
            raise UnsupportedCodec(
                f"CID {label!r} uses hash function 0x{hash_code:x}, "
                "which this node does not handle",
                hint="supported: sha2-256 and identity",
            )
        end = p + length
        if end > len(raw):
            raise InvalidCid(f"{label!r} is truncated: its digest needs {length} bytes")
        return cls(1, codec, bytes(raw[mh_start:end])), end

    # ---- views --------------------------------------------------------------------------
    @property
    def hash_code(self) -> int:
        return self.multihash[0]

    @property
    def digest(self) -> bytes:
        """The digest inside the multihash (after its code and length)."""
        _, p = read_uvarint(self.multihash, 0)
        _, p = read_uvarint(self.multihash, p)
        return self.multihash[p:]

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return uvarint(1) + uvarint(self.codec) + self.multihash

    def __str__(self) -> str:
        return _text(self.version, self.codec, self.multihash)

    def __repr__(self) -> str:
        return f"Cid({self!s})"

    def to_v1(self) -> Cid:
        return Cid(1, self.codec, self.multihash)

    def matches(self, data: bytes | memoryview) -> bool:
        """Whether ``data`` is the block this CID names."""
        if self.hash_code == IDENTITY:
            return self.digest == bytes(data)
        return hashlib.sha256(data).digest() == self.multihash[2:]
