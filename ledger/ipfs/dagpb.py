"""The dag-pb codec and the UnixFS v1 ``Data`` message, per the IPLD dag-pb and UnixFS specs.

dag-pb is protobuf with a canonical form: a node's ``Links`` (field 2) come before its
``Data`` (field 1), and each link writes ``Hash`` (1), ``Name`` (2), ``Tsize`` (3) in that
order. The decoder is strict: it accepts only that canonical form, so a block has exactly
one meaning. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from ledger.errors import InvalidCid, MalformedBlock
from ledger.ipfs.cid import Cid, read_uvarint, uvarint

__all__ = [
    "PBLink",
    "PBNode",
    "UnixFSData",
    "UnixFSType",
    "decode_node",
    "decode_unixfs",
    "encode_node",
    "encode_unixfs",
]

_WIRE_VARINT: Final = 0
_WIRE_BYTES: Final = 2
_UINT64_MAX: Final = 2**64 - 1


class UnixFSType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: Cid
    name: str | None
    tsize: int | None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: UnixFSType
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default_factory=tuple)
    hash_type: int | None = None
    fanout: int | None = None


def _key(field_no: int, wire: int) -> bytes:
    return uvarint((field_no << 3) | wire)


def _bytes_field(field_no: int, payload: bytes) -> bytes:
    return _key(field_no, _WIRE_BYTES) + uvarint(len(payload)) + payload


def encode_link(link: PBLink) -> bytes:
    body = _bytes_field(1, bytes(link.cid))
    if link.name is not None:
        body += _bytes_field(2, link.name.encode("utf-8"))
    if link.tsize is not None:
        body += _key(3, _WIRE_VARINT) + uvarint(link.tsize)
    return body


def encode_node(node: PBNode) -> bytes:
    """Canonical dag-pb bytes of ``node``."""
    out = bytearray()
    for link in node.links:
        out += _bytes_field(2, encode_link(link))
    if node.data is not None:
        out += _bytes_field(1, node.data)
    return bytes(out)


def encode_unixfs(msg: UnixFSData) -> bytes:
    """UnixFS ``Data`` protobuf (proto2: repeated fields are not packed)."""
    out = bytearray(_key(1, _WIRE_VARINT) + uvarint(int(msg.type)))
    if msg.data is not None:
        out += _bytes_field(2, msg.data)
    if msg.filesize is not None:
        out += _key(3, _WIRE_VARINT) + uvarint(msg.filesize)
    for size in msg.blocksizes:
        out += _key(4, _WIRE_VARINT) + uvarint(size)
    if msg.hash_type is not None:
        out += _key(5, _WIRE_VARINT) + uvarint(msg.hash_type)
    if msg.fanout is not None:
        out += _key(6, _WIRE_VARINT) + uvarint(msg.fanout)
    return bytes(out)


# ---- decoding ------------------------------------------------------------------------------


def _read_field(buf: bytes, pos: int) -> tuple[int, int, int | bytes, int]:
    """Read one protobuf field: (field number, wire type, value, next position)."""
    key, pos = read_uvarint(buf, pos)
    field_no, wire = key >> 3, key & 7
    if wire == _WIRE_VARINT:
        value, pos = read_uvarint(buf, pos, max_bytes=10)
        if value > _UINT64_MAX:  # the fields are uint64; protobuf decoders refuse more
            raise ValueError(f"field {field_no} holds a varint beyond 64 bits")
        return field_no, wire, value, pos
    if wire == _WIRE_BYTES:
        length, pos = read_uvarint(buf, pos)
        end = pos + length
        if end > len(buf):
            raise ValueError(f"field {field_no} claims {length} bytes past the end")
        return field_no, wire, buf[pos:end], end
    raise ValueError(f"unsupported protobuf wire type {wire} for field {field_no}")


def _decode_link(buf: bytes) -> PBLink:
    pos = 0
    cid: Cid | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    while pos < len(buf):
        no, wire, value, pos = _read_field(buf, pos)
        if no <= last:
            raise ValueError("link fields out of canonical order or repeated")
        last = no
        if no == 1 and isinstance(value, bytes):
            try:
                cid = Cid.from_bytes(value)
            except InvalidCid as exc:  # a codec we lack stays UnsupportedCodec
                raise ValueError(f"link Hash is not a CID: {exc.message}") from None
        elif no == 2 and isinstance(value, bytes):
            try:
                name = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("link name is not UTF-8") from None
        elif no == 3 and isinstance(value, int):
            tsize = value
        else:
            raise ValueError(f"unexpected link field {no} (wire type {wire})")
    if cid is None:
        raise ValueError("link has no Hash")
    return PBLink(cid, name, tsize)


def decode_node(block: bytes) -> PBNode:
    """Decode canonical dag-pb bytes; raise MalformedBlock on anything else."""
    try:
        pos = 0
        links: list[PBLink] = []
        data: bytes | None = None
        while pos < len(block):
            no, wire, value, pos = _read_field(block, pos)
            if no == 2 and isinstance(value, bytes):
                if data is not None:
                    raise ValueError("Links after Data is not canonical dag-pb")
                links.append(_decode_link(value))
            elif no == 1 and isinstance(value, bytes):
                if data is not None:
                    raise ValueError("Data appears twice")
                data = value
            else:
                raise ValueError(f"unexpected node field {no} (wire type {wire})")
        return PBNode(tuple(links), data)
    except ValueError as exc:
        raise MalformedBlock(f"not a valid dag-pb block: {exc}") from None


def decode_unixfs(payload: bytes) -> UnixFSData:
    """Decode a UnixFS ``Data`` message; raise MalformedBlock if it is not one."""
    try:
        pos = 0
        kind: int | None = None
        data: bytes | None = None
        filesize: int | None = None
        blocksizes: list[int] = []
        hash_type: int | None = None
        fanout: int | None = None
        while pos < len(payload):
            no, _wire, value, pos = _read_field(payload, pos)
            if no == 1 and isinstance(value, int):
                kind = value
            elif no == 2 and isinstance(value, bytes):
                data = value
            elif no == 3 and isinstance(value, int):
                filesize = value
            elif no == 4 and isinstance(value, int):
                blocksizes.append(value)
            elif no == 5 and isinstance(value, int):
                hash_type = value
            elif no == 6 and isinstance(value, int):
                fanout = value
            elif no in (7, 8):
                continue  # mode and mtime: metadata this node does not use
            else:
                raise ValueError(f"unexpected UnixFS field {no}")
        if kind is None:
            raise ValueError("UnixFS Data has no Type")
        try:
            unixfs_type = UnixFSType(kind)
        except ValueError:
            raise ValueError(f"unknown UnixFS type {kind}") from None
        return UnixFSData(unixfs_type, data, filesize, tuple(blocksizes), hash_type, fanout)
    except ValueError as exc:
        raise MalformedBlock(f"not valid UnixFS data: {exc}") from None
