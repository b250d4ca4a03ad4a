"""dag-pb and UnixFS ``Data``: the IPLD codec fixtures, strict (canonical-only) decoding,
and round-trip properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import MalformedBlock, UnsupportedCodec
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid, uvarint
from ledger.ipfs.dagpb import (
    PBLink,
    PBNode,
    UnixFSData,
    UnixFSType,
    decode_node,
    decode_unixfs,
    encode_node,
    encode_unixfs,
)
from tests.reaching import reached, reaches

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "dagpb-codec-fixtures.json").read_text()
)
UINT64_MAX = 2**64 - 1


def dag_json_bytes(value: dict[str, Any]) -> bytes:
    text = value["/"]["bytes"]
    return base64.b64decode(text + "=" * (-len(text) % 4))


# ---- ipld/codec-fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES["positive"], ids=lambda f: f["name"])
def test_codec_fixture(fixture: dict[str, Any]) -> None:
    block = bytes.fromhex(fixture["hex"])
    # The fixture's file name is the CIDv1 (sha2-256) of its bytes.
    assert str(Cid.for_block(block, DAG_PB)) == fixture["cid"]
    node = decode_node(block)
    expected = fixture["dag-json"]
    if "Data" in expected:
        assert node.data == dag_json_bytes(expected["Data"])
    else:
        assert node.data is None
    assert len(node.links) == len(expected["Links"])
    for link, want in zip(node.links, expected["Links"], strict=True):
        assert link.cid == Cid.parse(want["Hash"]["/"])
        assert link.name == want.get("Name")
        assert link.tsize == want.get("Tsize")
    # Strict decoding of canonical bytes: re-encoding gives the very same bytes.
    assert encode_node(node) == block


@pytest.mark.parametrize("fixture", FIXTURES["negative"], ids=lambda f: f["name"])
def test_codec_negative_fixture(fixture: dict[str, str]) -> None:
    with pytest.raises(MalformedBlock):
        decode_node(bytes.fromhex(fixture["hex"]))


def test_unixfs_data_inside_a_fixture() -> None:
    """dagpb_4namedlinks+data carries a UnixFS Directory; dagpb_7unnamedlinks+data a File."""
    by_name = {f["name"]: f for f in FIXTURES["positive"]}
    directory = decode_node(bytes.fromhex(by_name["dagpb_4namedlinks+data"]["hex"]))
    assert directory.data is not None
    assert decode_unixfs(directory.data) == UnixFSData(UnixFSType.DIRECTORY)
    file_node = decode_node(bytes.fromhex(by_name["dagpb_7unnamedlinks+data"]["hex"]))
    assert file_node.data is not None
    meta = decode_unixfs(file_node.data)
    assert meta.type == UnixFSType.FILE
    assert len(meta.blocksizes) == len(file_node.links) == 7
    assert meta.filesize == sum(meta.blocksizes)
    assert encode_unixfs(meta) == file_node.data


def test_kubo_hello_world_leaf() -> None:
    """The block behind Kubo's QmT78zSu… ("hello world\\n")."""
    block = bytes.fromhex("0a120802120c68656c6c6f20776f726c640a180c")
    assert str(Cid.for_block(block, DAG_PB, 0)) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    node = decode_node(block)
    assert node.links == ()
    assert node.data is not None
    meta = decode_unixfs(node.data)
    assert meta == UnixFSData(UnixFSType.FILE, data=b"hello world\n", filesize=12)
    assert encode_node(PBNode((), encode_unixfs(meta))) == block


# ---- non-canonical forms are rejected ------------------------------------------------------------

LINK = bytes(Cid.for_block(b"x", RAW))
LINK_FIELD = b"\x0a" + uvarint(len(LINK)) + LINK


def pb_link(body: bytes) -> bytes:
    return b"\x12" + uvarint(len(body)) + body


NON_CANONICAL = {
    "Data before Links": b"\x0a\x01x" + pb_link(LINK_FIELD),
    "Data twice": b"\x0a\x01x\x0a\x01y",
    "Links between Data": pb_link(LINK_FIELD) + b"\x0a\x00" + pb_link(LINK_FIELD),
    "Name before Hash": pb_link(b"\x12\x01a" + LINK_FIELD),
    "Tsize before Name": pb_link(LINK_FIELD + b"\x18\x01\x12\x01a"),
    "Hash twice": pb_link(LINK_FIELD + LINK_FIELD),
    "Name twice": pb_link(LINK_FIELD + b"\x12\x01a\x12\x01b"),
    "Tsize twice": pb_link(LINK_FIELD + b"\x18\x01\x18\x02"),
    "non-minimal length varint": b"\x0a\x81\x00x",
    "non-minimal key varint": b"\x8a\x00\x01x",
    "non-minimal Tsize varint": pb_link(LINK_FIELD + b"\x18\x81\x00"),
    "unknown node field": b"\x1a\x01x",
    "unknown link field": pb_link(LINK_FIELD + b"\x22\x01x"),
    "field number 0": b"\x02\x01x",
    "Data as a varint": b"\x08\x01",
    "Links as a varint": b"\x10\x01",
    "Tsize as bytes": pb_link(LINK_FIELD + b"\x1a\x01x"),
    "Hash as a varint": pb_link(b"\x08\x01"),
    "wire type 1 (64-bit)": b"\x09" + bytes(8),
    "wire type 5 (32-bit)": b"\x0d" + bytes(4),
    "group wire type": b"\x0b\x0c",
    "length past the end": b"\x0a\x05abc",
    "truncated varint": b"\x0a\x80",
    "Name not UTF-8": pb_link(LINK_FIELD + b"\x12\x01\xff"),
    "Hash with trailing bytes": pb_link(b"\x0a" + uvarint(len(LINK) + 1) + LINK + b"\x00"),
    "Hash truncated": pb_link(b"\x0a" + uvarint(len(LINK) - 1) + LINK[:-1]),
    "Tsize over 64 bits": pb_link(LINK_FIELD + b"\x18" + b"\xff" * 9 + b"\x02"),
    "trailing garbage": pb_link(LINK_FIELD) + b"\x00",
}


@pytest.mark.parametrize("block", list(NON_CANONICAL.values()), ids=list(NON_CANONICAL))
def test_non_canonical_forms_are_rejected(block: bytes) -> None:
    with pytest.raises(MalformedBlock):
        decode_node(block)


def test_link_to_an_unsupported_codec_says_so() -> None:
    dag_json = bytes.fromhex("01a90212 20".replace(" ", "")) + bytes(32)
    with pytest.raises(UnsupportedCodec):
        decode_node(pb_link(b"\x0a" + uvarint(len(dag_json)) + dag_json))


def test_largest_tsize_is_accepted() -> None:
    node = PBNode((PBLink(Cid.for_block(b"x", RAW), "n", UINT64_MAX),), None)
    assert decode_node(encode_node(node)) == node


# ---- round trips ---------------------------------------------------------------------------------

cids = st.one_of(
    st.builds(lambda d: Cid.from_digest(d, DAG_PB, 0), st.binary(min_size=32, max_size=32)),
    st.builds(
        lambda c, d: Cid.from_digest(d, c, 1),
        st.sampled_from([RAW, DAG_PB, DAG_CBOR]),
        st.binary(min_size=32, max_size=32),
    ),
)
links = st.builds(
    PBLink,
    cids,
    st.none() | st.text(max_size=20),
    st.none() | st.integers(min_value=0, max_value=UINT64_MAX),
)
nodes = st.builds(
    PBNode, st.lists(links, max_size=6).map(tuple), st.none() | st.binary(max_size=64)
)


@reaches(0.8)
@given(nodes)
def test_encode_decode_round_trip(node: PBNode) -> None:
    block = encode_node(node)
    assert decode_node(block) == node
    assert encode_node(decode_node(block)) == block
    reached()


@reaches(0.8)
@given(st.binary(max_size=200))
def test_decode_of_random_bytes(block: bytes) -> None:
    try:
        node = decode_node(block)
    except (MalformedBlock, UnsupportedCodec):
        reached("refused cleanly")
        return
    assert encode_node(node) == block  # only canonical bytes decode
    reached()


@reaches(0.8)
@given(nodes, st.data())
def test_decode_of_mutated_blocks(node: PBNode, data: st.DataObject) -> None:
    block = bytearray(encode_node(node))
    if not block:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(block) - 1))
        block[index] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_node(bytes(block))
    except (MalformedBlock, UnsupportedCodec):
        reached("refused cleanly")
        return
    assert encode_node(decoded) == bytes(block)
    reached()


unixfs_messages = st.builds(
    UnixFSData,
    st.sampled_from(list(UnixFSType)),
    st.none() | st.binary(max_size=40),
    st.none() | st.integers(min_value=0, max_value=UINT64_MAX),
    st.lists(st.integers(min_value=0, max_value=UINT64_MAX), max_size=8).map(tuple),
    st.none() | st.integers(min_value=0, max_value=UINT64_MAX),
    st.none() | st.integers(min_value=0, max_value=UINT64_MAX),
)


@reaches(0.8)
@given(unixfs_messages)
def test_unixfs_round_trip(message: UnixFSData) -> None:
    assert decode_unixfs(encode_unixfs(message)) == message
    reached()


@reaches(0.8)
@given(st.binary(max_size=100))
def test_unixfs_decode_of_random_bytes(payload: bytes) -> None:
    try:
        message = decode_unixfs(payload)
    except MalformedBlock:
        reached("refused cleanly")
        return
    assert isinstance(message.type, UnixFSType)
    reached()


def test_unixfs_rejects_missing_or_unknown_type() -> None:
    with pytest.raises(MalformedBlock, match="no Type"):
        decode_unixfs(b"\x18\x01")
    with pytest.raises(MalformedBlock, match="unknown UnixFS type"):
        decode_unixfs(b"\x08\x09")
    with pytest.raises(MalformedBlock):
        decode_unixfs(b"\x12\x05ab")  # Data claims more bytes than there are


def test_unixfs_mode_and_mtime_are_tolerated() -> None:
    """UnixFS 1.5 metadata (fields 7 and 8) may appear; this node ignores it."""
    payload = encode_unixfs(UnixFSData(UnixFSType.FILE, data=b"x", filesize=1))
    with_meta = payload + b"\x38\xa4\x03" + b"\x42\x02\x08\x01"
    assert decode_unixfs(with_meta) == decode_unixfs(payload)
