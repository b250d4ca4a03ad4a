"""CIDs and unsigned varints against the multiformats specs, with the ``multiformats``
package (an independent implementation) as the oracle for property tests."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID as OracleCid
from multiformats import multibase, multihash

from ledger.errors import InvalidCid, UnsupportedCodec
from ledger.ipfs.cid import (
    DAG_CBOR,
    DAG_PB,
    IDENTITY,
    MAX_IDENTITY_DIGEST,
    RAW,
    SHA2_256,
    Cid,
    _b32_decode,
    read_uvarint,
    uvarint,
)
from tests.reaching import reached, reaches

CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb", DAG_CBOR: "dag-cbor"}
HELLO_WORLD_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # Kubo, "hello world\n"


def b32(data: bytes) -> str:
    return "b" + base64.b32encode(data).decode().rstrip("=").lower()


# ---- unsigned varints (multiformats/unsigned-varint) ---------------------------------------------

SPEC_VARINTS = [
    (1, "01"),
    (127, "7f"),
    (128, "8001"),
    (255, "ff01"),
    (300, "ac02"),
    (16384, "808001"),
    (0, "00"),
]


@pytest.mark.parametrize(("value", "encoded"), SPEC_VARINTS)
def test_varint_spec_examples(value: int, encoded: str) -> None:
    assert uvarint(value).hex() == encoded
    assert read_uvarint(bytes.fromhex(encoded), 0) == (value, len(encoded) // 2)


@reaches(0.8)
@given(st.integers(min_value=0, max_value=2**63 - 1), st.binary(max_size=4))
def test_varint_round_trip(value: int, tail: bytes) -> None:
    encoded = uvarint(value)
    assert len(encoded) <= 9
    assert read_uvarint(encoded + tail, 0) == (value, len(encoded))
    reached()


@pytest.mark.parametrize("raw", ["8000", "ff00", "808000", "8100"])
def test_varint_rejects_non_minimal(raw: str) -> None:
    with pytest.raises(ValueError, match="minimal"):
        read_uvarint(bytes.fromhex(raw), 0)


def test_varint_rejects_more_than_nine_bytes_and_truncation() -> None:
    with pytest.raises(ValueError, match="longer"):
        read_uvarint(b"\x80" * 9 + b"\x01", 0)
    with pytest.raises(ValueError, match="truncated"):
        read_uvarint(b"\x80\x80", 0)
    with pytest.raises(ValueError):
        uvarint(-1)


# ---- known answers -------------------------------------------------------------------------------


def test_spec_example_cid() -> None:
    """multiformats/cid README: the "human readable CID" example."""
    cid = Cid.parse("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA")
    assert (cid.version, cid.codec, cid.hash_code) == (1, RAW, SHA2_256)
    assert cid.digest.hex() == "6e6ff7950a36187a801613426e858dce686cd7d7e3c0fc42ee0330072d245c95"
    # Output is base32; it names the same CID.
    assert str(cid).startswith("bafkrei")
    assert Cid.parse(str(cid)) == cid


def test_cidv0_known_answer() -> None:
    cid = Cid.parse(HELLO_WORLD_V0)
    assert (cid.version, cid.codec, cid.hash_code) == (0, DAG_PB, SHA2_256)
    assert len(bytes(cid)) == 34 and bytes(cid)[:2] == b"\x12\x20"
    assert str(cid) == HELLO_WORLD_V0
    block = bytes.fromhex("0a120802120c") + b"hello world\n" + bytes.fromhex("180c")
    assert cid.matches(block)
    assert Cid.for_block(block, DAG_PB, 0) == cid
    assert str(cid.to_v1()) == str(OracleCid.decode(HELLO_WORLD_V0).set(version=1, base="base32"))


def test_cidv1_of_identity_multihash() -> None:
    raw = bytes.fromhex("01550005") + b"\x00\x01\x02\x03\x04"  # codec-fixtures' link CID
    cid = Cid.from_bytes(raw)
    assert (cid.version, cid.codec, cid.hash_code) == (1, RAW, IDENTITY)
    assert cid.digest == b"\x00\x01\x02\x03\x04"
    assert cid.matches(b"\x00\x01\x02\x03\x04") and not cid.matches(b"\x00")
    assert bytes(cid) == raw


# ---- round trips against the oracle --------------------------------------------------------------

sha_cids = st.builds(
    lambda version, codec, digest: Cid.from_digest(
        digest, DAG_PB if version == 0 else codec, version
    ),
    st.sampled_from([0, 1]),
    st.sampled_from([RAW, DAG_PB, DAG_CBOR]),
    st.binary(min_size=32, max_size=32),
)
identity_cids = st.builds(
    lambda codec, digest: Cid(1, codec, bytes([IDENTITY]) + uvarint(len(digest)) + digest),
    st.sampled_from([RAW, DAG_PB, DAG_CBOR]),
    st.binary(max_size=MAX_IDENTITY_DIGEST),
)
any_cid = st.one_of(sha_cids, identity_cids)


@reaches(0.8)
@given(any_cid)
def test_round_trips_and_agrees_with_oracle(cid: Cid) -> None:
    assert Cid.parse(str(cid)) == cid
    assert Cid.from_bytes(bytes(cid)) == cid
    oracle = OracleCid.decode(bytes(cid))
    assert oracle.version == cid.version
    assert oracle.codec.name == CODEC_NAMES[cid.codec]
    assert bytes(oracle.digest) == cid.multihash  # the whole multihash in this library
    expected = str(oracle) if cid.version == 0 else oracle.encode("base32")
    assert str(cid) == expected
    reached()


@reaches(0.8)
@given(
    any_cid,
    st.sampled_from(
        ["base32", "base32upper", "base58btc", "base64", "base16", "base36", "base64url"]
    ),
)
def test_parses_any_multibase(cid: Cid, base: str) -> None:
    if cid.version == 0:
        cid = cid.to_v1()
    text = multibase.encode(bytes(cid), base)
    assert Cid.parse(text) == cid
    reached()


@reaches(0.8)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_for_block_and_matches(digest: bytes, data: bytes) -> None:
    cid = Cid.for_block(data, RAW)
    assert cid.digest == hashlib.sha256(data).digest()
    assert cid.matches(data)
    assert not cid.matches(data + b"\x00")
    other = Cid.from_digest(digest, RAW)
    assert other.matches(data) == (digest == hashlib.sha256(data).digest())
    reached()


@reaches(0.8)
@given(st.binary(max_size=80))
def test_from_bytes_never_raises_anything_else(raw: bytes) -> None:
    try:
        cid = Cid.from_bytes(raw)
    except (InvalidCid, UnsupportedCodec):
        reached("refused cleanly")
        return
    assert bytes(cid) == raw  # what parses re-encodes to the same bytes (canonical)
    reached()


@reaches(0.8)
@given(st.text(max_size=120))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        cid = Cid.parse(text)
    except (InvalidCid, UnsupportedCodec):
        reached("refused cleanly")
        return
    assert Cid.parse(str(cid)) == cid
    reached()


@reaches(0.8)
@given(any_cid, st.data())
def test_mutated_binary_cids_never_raise_anything_else(cid: Cid, data: st.DataObject) -> None:
    raw = bytearray(bytes(cid))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        parsed = Cid.from_bytes(bytes(raw))
    except (InvalidCid, UnsupportedCodec):
        reached("refused cleanly")
        return
    assert parsed != cid
    reached()


# ---- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Qm",
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5O0",
        "not a cid",
        "b!!!!",
        "bafy",
        "zzzzzz",
        "Qm" + "1" * 44,
        "x" * 600,
        "\u00e9bafy",
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidCid):
        Cid.parse(text)


def test_parse_rejects_multibase_encoded_cidv0() -> None:
    """The CID spec: a multibase string whose first decoded byte is 0x12 is an error."""
    v0 = bytes(Cid.parse(HELLO_WORLD_V0))
    for text in ("z" + HELLO_WORLD_V0, b32(v0), multibase.encode(v0, "base16")):
        with pytest.raises(InvalidCid):
            Cid.parse(text)


@pytest.mark.parametrize(
    ("prefix", "what"),
    [("0129", "dag-json codec"), ("0178", "git-raw codec"), ("01f001", "unknown codec")],
)
def test_unknown_codec_is_unsupported(prefix: str, what: str) -> None:
    raw = bytes.fromhex(prefix) + b"\x12\x20" + bytes(32)
    with pytest.raises(UnsupportedCodec):
        Cid.from_bytes(raw)
    with pytest.raises(UnsupportedCodec):
        Cid.parse(b32(raw))


@pytest.mark.parametrize("hash_prefix", ["1340", "a0e40220", "1b20", "1620"])
def test_unknown_hash_function_is_unsupported(hash_prefix: str) -> None:
    digest_len = 64 if hash_prefix == "1340" else 32
    raw = bytes.fromhex("0155" + hash_prefix) + bytes(digest_len)
    with pytest.raises(UnsupportedCodec):
        Cid.from_bytes(raw)


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_sha256_digest_must_be_32_bytes(length: int) -> None:
    raw = bytes.fromhex("0155") + b"\x12" + uvarint(length) + bytes(length)
    with pytest.raises(InvalidCid, match="32"):
        Cid.from_bytes(raw)


def test_truncated_and_trailing_bytes() -> None:
    good = bytes(Cid.for_block(b"x", RAW))
    for cut in range(len(good)):
        with pytest.raises((InvalidCid, UnsupportedCodec)):
            Cid.from_bytes(good[:cut])
    with pytest.raises(InvalidCid, match="trailing"):
        Cid.from_bytes(good + b"\x00")
    v0 = bytes(Cid.parse(HELLO_WORLD_V0))
    with pytest.raises(InvalidCid, match="trailing"):
        Cid.from_bytes(v0 + b"\x01")
    # read() is the streaming form: it stops at the end of the CID.
    assert Cid.read(good + b"rest", 0) == (Cid.from_bytes(good), len(good))


@pytest.mark.parametrize("version", [0, 2, 3, 18])
def test_other_versions_are_rejected(version: int) -> None:
    raw = uvarint(version) + bytes.fromhex("55") + b"\x12\x20" + bytes(32)
    with pytest.raises(InvalidCid):
        Cid.from_bytes(raw)


def test_non_minimal_varints_in_a_cid_are_rejected() -> None:
    raw = bytes.fromhex("8100") + bytes.fromhex("55") + b"\x12\x20" + bytes(32)
    with pytest.raises(InvalidCid):
        Cid.from_bytes(raw)
    raw = bytes.fromhex("01d500") + b"\x12\x20" + bytes(32)
    with pytest.raises(InvalidCid):
        Cid.from_bytes(raw)


def test_identity_digest_is_capped() -> None:
    ok = bytes.fromhex("0155") + b"\x00" + uvarint(MAX_IDENTITY_DIGEST) + bytes(MAX_IDENTITY_DIGEST)
    assert Cid.from_bytes(ok).hash_code == IDENTITY
    too_long = bytes.fromhex("0155") + b"\x00" + uvarint(MAX_IDENTITY_DIGEST + 1)
    with pytest.raises(InvalidCid):
        Cid.from_bytes(too_long + bytes(MAX_IDENTITY_DIGEST + 1))


def test_cidv0_names_only_dag_pb() -> None:
    with pytest.raises(UnsupportedCodec):
        Cid.from_digest(bytes(32), RAW, 0)
    assert Cid.from_digest(bytes(32), DAG_PB, 0).version == 0


def test_oracle_and_our_hashing_agree_on_a_block() -> None:
    data = b"heritage"
    ours = Cid.for_block(data, RAW)
    oracle = OracleCid("base32", 1, "raw", multihash.digest(data, "sha2-256"))
    assert str(ours) == oracle.encode("base32")


@reaches(0.8)
@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=40).map(lambda b: base64.b32encode(b).decode().rstrip("=").lower()),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789=", max_size=40),
    )
)
def test_fast_base32_reading_agrees_with_multiformats(text: str) -> None:
    """Parse's shortcut for ``b…`` text answers only for canonical base32 (else multiformats
    decides), and what it answers is what multiformats, an independent decoder, reads."""
    fast = _b32_decode(text)
    if fast is not None:
        assert bytes(multibase.decode("b" + text)) == fast
    reached()
