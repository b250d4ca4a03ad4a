"""ledger.crypto: the STREAM content format, HPKE key wrapping, envelopes, keys at rest.

Known answers come from RFC 9180 (Appendix A.1.1), never from this module's own output; the
tamper tests build each attack from the documented byte format (docs/encryption.md).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import crypto
from ledger.crypto import (
    HEADER_BYTES,
    KEM_HYBRID,
    KEM_X25519,
    TAG_BYTES,
    EncryptionKeyPair,
    Envelope,
    ciphertext_size,
    decrypt_file,
    encrypt_stream,
    lock_keypair,
    new_content_key,
    open_bytes,
    rewrap,
    seal_bytes,
    unlock_keypair,
    unwrap,
    wrap,
)
from ledger.documents import canonical_json
from ledger.errors import DecryptionFailed, UsageError, WrongPassphrase
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.keys import LIGHT_SCRYPT_N
from tests.reaching import reached, reaches

SEG = 64  # the smallest segment size: many boundaries in little data
CHUNK = SEG + TAG_BYTES


def _encrypt(key: bytes, data: bytes, segment_size: int = SEG) -> bytes:
    out = io.BytesIO()
    written = encrypt_stream(key, io.BytesIO(data), out, segment_size=segment_size)
    assert written == len(out.getvalue())
    return out.getvalue()


def _decrypt(key: bytes, data: bytes) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(key, io.BytesIO(data), out)
    return out.getvalue()


def _segments(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    body = ciphertext[HEADER_BYTES:]
    return ciphertext[:HEADER_BYTES], [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]


# ---- the commitment (formula fixed by the registry's design) ---------------------------------


def test_plaintext_commitment_is_the_documented_keccak() -> None:
    salt = bytes(range(32))
    cid = Cid.parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    # keccak256("") is the well-known c5d2…a470; the preimage here is spelled out by hand.
    assert keccak(b"").hex().startswith("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b")
    expected = keccak(b"heritage-ledger/plaintext-commitment/v1" + salt + bytes(cid))
    assert crypto.plaintext_commitment(salt, cid) == expected
    with pytest.raises(UsageError, match="32 bytes"):
        crypto.plaintext_commitment(b"short", cid)


# ---- the stream: round trips and size --------------------------------------------------------


BOUNDARY_SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 2 * SEG + 1, 5 * SEG]


@reaches(0.8)
@settings(max_examples=150, deadline=None)
@given(
    size=st.one_of(st.sampled_from(BOUNDARY_SIZES), st.integers(0, 12 * SEG)),
    seed=st.binary(min_size=1, max_size=16),
)
def test_round_trip_around_segment_boundaries(size: int, seed: bytes) -> None:
    data = (hashlib.shake_256(seed).digest(size)) if size else b""
    key = new_content_key()
    sealed = _encrypt(key, data)
    assert len(sealed) == ciphertext_size(size, SEG)
    segments = max(1, -(-size // SEG))
    assert len(sealed) == HEADER_BYTES + size + segments * TAG_BYTES
    assert _decrypt(key, sealed) == data
    reached()


def test_header_is_laid_out_as_documented() -> None:
    sealed = _encrypt(new_content_key(), b"x" * 100, segment_size=SEG)
    assert sealed[:8] == b"HLSTREAM"
    assert sealed[8] == 1
    assert struct.unpack(">I", sealed[9:13])[0] == SEG
    assert HEADER_BYTES == 20


def _documented_decrypt(content_key: bytes, sealed: bytes, purpose: bytes) -> bytes:
    """docs/encryption.md, written again with bare primitives: K = HKDF-SHA256(content key,
    salt = P, info = "heritage-ledger/stream/v1/" ‖ purpose); segment i is AES-256-GCM under
    nonce P ‖ i (uint32 BE) ‖ f (1 on the last segment), with the header as associated data."""
    header, body = sealed[:20], sealed[20:]
    prefix, size = header[13:20], struct.unpack(">I", header[9:13])[0] + 16
    prk = hmac.new(prefix, content_key, hashlib.sha256).digest()  # RFC 5869 extract
    key = hmac.new(prk, b"heritage-ledger/stream/v1/" + purpose + b"\x01",
                   hashlib.sha256).digest()  # expand, one block  # fmt: skip
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return b"".join(
        AESGCM(key).decrypt(prefix + struct.pack(">IB", i, i == len(chunks) - 1), chunk, header)
        for i, chunk in enumerate(chunks)
    )


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 17])
def test_the_stream_is_the_documented_format(size: int) -> None:
    key, data = new_content_key(), os.urandom(size)
    assert _documented_decrypt(key, _encrypt(key, data), b"content") == data
    sealed = crypto.seal_bytes(key, data, segment_size=SEG)  # metadata, by default
    assert _documented_decrypt(key, sealed, b"metadata") == data


def test_default_segment_round_trip_of_a_few_segments() -> None:
    data = os.urandom(3 * crypto.DEFAULT_SEGMENT_SIZE + 17)
    key = new_content_key()
    sealed = _encrypt(key, data, segment_size=crypto.DEFAULT_SEGMENT_SIZE)
    assert _decrypt(key, sealed) == data


def test_encryption_memory_is_bounded_by_a_segment(tmp_path: Path) -> None:
    source = tmp_path / "big"
    with source.open("wb") as out:
        for _ in range(16):
            out.write(os.urandom(1 << 20))  # 16 MiB
    key = new_content_key()
    tracemalloc.start()
    try:
        crypto.encrypt_file(key, source, tmp_path / "big.enc")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a few 64 KiB segments in flight, never the file
    assert peak < 2 << 20, peak
    tracemalloc.start()
    try:
        decrypt_file(key, tmp_path / "big.enc", tmp_path / "big.out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, peak
    assert (tmp_path / "big.out").read_bytes() == source.read_bytes()


def test_same_plaintext_twice_gives_different_ciphertexts_and_cids() -> None:
    data = os.urandom(1000)
    key = new_content_key()
    first, second = _encrypt(key, data), _encrypt(key, data)
    assert first != second
    third = _encrypt(new_content_key(), data)
    cids = {
        import_bytes(c, ImportOptions(cid_version=1)).cid for c in (first, second, third)
    }
    assert len(cids) == 3
    assert import_bytes(data, ImportOptions(cid_version=1)).cid not in cids


def test_metadata_and_content_purposes_do_not_mix() -> None:
    key = new_content_key()
    sealed = seal_bytes(key, b'{"name": "secret.obj"}')
    assert open_bytes(key, sealed) == b'{"name": "secret.obj"}'
    with pytest.raises(DecryptionFailed):
        open_bytes(key, sealed, purpose="content")


# ---- the stream: every tamper class ----------------------------------------------------------


def _tamper_cases(sealed: bytes) -> dict[str, bytes]:
    header, segs = _segments(sealed)
    assert len(segs) == 4 and len(segs[-1]) < CHUNK  # 3 full + 1 partial
    flipped = bytearray(sealed)
    flipped[HEADER_BYTES + CHUNK + 5] ^= 0x01
    header_flip = bytearray(sealed)
    header_flip[HEADER_BYTES - 1] ^= 0x80  # the nonce prefix
    size_edit = header[:9] + struct.pack(">I", SEG * 2) + header[13:]
    return {
        "bit flip in a segment": bytes(flipped),
        "bit flip in the tag": sealed[:-1] + bytes([sealed[-1] ^ 1]),
        "bit flip in the header": bytes(header_flip),
        "segment size edited": size_edit + b"".join(segs),
        "truncated at a segment boundary": header + b"".join(segs[:3]),
        "truncated at the first boundary": header + segs[0],
        "truncated off a boundary": sealed[: HEADER_BYTES + 2 * CHUNK + 7],
        "truncated inside the last tag": sealed[:-3],
        "header only": header,
        "segments swapped": header + segs[1] + segs[0] + segs[2] + segs[3],
        "segment duplicated": header + segs[0] + segs[0] + segs[1] + segs[2] + segs[3],
        "segment dropped": header + segs[0] + segs[2] + segs[3],
        "data appended": sealed + b"\x00" * 40,
        "a full segment appended": sealed + segs[0],
        "a few bytes appended": sealed + b"\x01",
        "empty": b"",
        "not a stream": b"PK\x03\x04" + bytes(100),
    }


@pytest.mark.parametrize("case", sorted(_tamper_cases(
    _encrypt(bytes(32), bytes(3 * SEG + 10))
)))
def test_every_tamper_class_is_detected_and_nothing_is_written(
    case: str, tmp_path: Path
) -> None:
    key = new_content_key()
    sealed = _encrypt(key, os.urandom(3 * SEG + 10))
    bad = _tamper_cases(sealed)[case]
    source = tmp_path / "item.enc"
    source.write_bytes(bad)
    target = tmp_path / "out" / "item"
    target.parent.mkdir()
    with pytest.raises(DecryptionFailed) as info:
        decrypt_file(key, source, target)
    assert info.value.code == "decryption_failed"
    assert "nothing was written" in str(info.value)
    # no output and no partial temp file: not even the segments that did authenticate
    assert list(target.parent.iterdir()) == []


def test_wrong_key_is_detected_and_nothing_is_written(tmp_path: Path) -> None:
    sealed = _encrypt(new_content_key(), os.urandom(500))
    (tmp_path / "c").write_bytes(sealed)
    with pytest.raises(DecryptionFailed, match="segment 0 does not authenticate"):
        decrypt_file(new_content_key(), tmp_path / "c", tmp_path / "p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_decrypt_file_refuses_an_existing_target(tmp_path: Path) -> None:
    key = new_content_key()
    (tmp_path / "c").write_bytes(_encrypt(key, b"data"))
    (tmp_path / "p").write_bytes(b"keep me")
    with pytest.raises(UsageError, match="already exists"):
        decrypt_file(key, tmp_path / "c", tmp_path / "p")
    assert (tmp_path / "p").read_bytes() == b"keep me"
    decrypt_file(key, tmp_path / "c", tmp_path / "q")
    assert (tmp_path / "q").read_bytes() == b"data"
    assert (tmp_path / "q").stat().st_mode & 0o777 == 0o600


def test_missing_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        crypto.encrypt_file(new_content_key(), tmp_path / "none", tmp_path / "c")
    with pytest.raises(UsageError, match="does not exist"):
        decrypt_file(new_content_key(), tmp_path / "none", tmp_path / "p")
    assert list(tmp_path.iterdir()) == []


def test_bad_parameters_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="content key"):
        _encrypt(b"short", b"")
    with pytest.raises(UsageError, match="segment size"):
        _encrypt(new_content_key(), b"", segment_size=8)


def test_salts_and_content_keys_are_exactly_32_bytes() -> None:
    cid = import_bytes(b"x").cid
    for size in (0, 31, 33, 64):
        with pytest.raises(UsageError, match="32 bytes"):
            crypto.plaintext_commitment(bytes(size), cid)
        with pytest.raises(UsageError, match="content key"):
            _encrypt(bytes(size), b"")
        with pytest.raises(UsageError, match="content key"):
            _decrypt(bytes(size), _encrypt(bytes(32), b""))


def test_decrypt_file_refuses_a_target_taken_by_a_dangling_link_first(tmp_path: Path) -> None:
    source = tmp_path / "sealed"
    source.write_bytes(_encrypt(new_content_key(), b"secret"))
    target = tmp_path / "taken"
    target.symlink_to(tmp_path / "nowhere")
    # refused for the target before any decryption (with a wrong key, that would fail later)
    with pytest.raises(UsageError, match="already exists"):
        crypto.decrypt_file(new_content_key(), source, target)
    assert target.is_symlink() and not target.exists()


def test_a_wrapped_key_that_is_not_32_bytes_is_refused() -> None:
    """An envelope made with bare HPKE (docs/encryption.md's suite and info) around 33 bytes."""
    holder = EncryptionKeyPair.generate(KEM_X25519)
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    info = (b"heritage-ledger/envelope/v1\x00" + b"X25519/HKDF-SHA256/AES-256-GCM/stream-v1"
            + b"\x00" + ITEM)  # fmt: skip
    public = x25519.X25519PublicKey.from_public_bytes(holder.public.raw)
    for length in (31, 33):
        wrapped = suite.encrypt(bytes(length), public, info=info)
        envelope = Envelope(ITEM, (crypto.Recipient(holder.public.key_id, KEM_X25519, wrapped),))
        with pytest.raises(DecryptionFailed, match="not a content key"):
            unwrap(envelope, holder, ITEM)
    honest = suite.encrypt(bytes(32), public, info=info)  # and 32 bytes open: the info is right
    envelope = Envelope(ITEM, (crypto.Recipient(holder.public.key_id, KEM_X25519, honest),))
    assert unwrap(envelope, holder, ITEM) == bytes(32)


def test_another_stream_format_version_is_refused() -> None:
    key = new_content_key()
    sealed = bytearray(_encrypt(key, b"x" * 10))
    for version in (0, 2, 255):
        sealed[8] = version  # the byte after the magic
        with pytest.raises(DecryptionFailed, match=f"format version {version} is not supported"):
            _decrypt(key, bytes(sealed))


def test_a_stream_cut_inside_its_header_is_no_stream() -> None:
    sealed = _encrypt(new_content_key(), b"x" * 10)
    for cut in range(HEADER_BYTES):  # the magic alone, the magic and part of the rest …
        with pytest.raises(DecryptionFailed, match="does not start with a Heritage Ledger"):
            _decrypt(bytes(32), sealed[:cut])


def test_the_streams_report_the_bytes_they_wrote() -> None:
    key, data = new_content_key(), os.urandom(3 * SEG + 5)
    sink = io.BytesIO()
    written = crypto.encrypt_stream(key, io.BytesIO(data), sink, segment_size=SEG)
    assert written == len(sink.getvalue()) == crypto.ciphertext_size(len(data), SEG)
    plain = io.BytesIO()
    assert crypto.decrypt_stream(key, io.BytesIO(sink.getvalue()), plain) == len(data)
    assert plain.getvalue() == data


def test_segment_sizes_from_64_bytes_to_16_mib_are_the_documented_range() -> None:
    """docs/encryption.md: the segment size is 64 … 16 MiB; one more or one less is refused,
    when encrypting and when a header names it."""
    key = new_content_key()
    for size in (64, 1 << 24):
        assert _decrypt(key, _encrypt(key, b"x" * 100, segment_size=size)) == b"x" * 100
    for size in (63, (1 << 24) + 1):
        with pytest.raises(UsageError, match="segment size"):
            _encrypt(key, b"", segment_size=size)
        sealed = bytearray(_encrypt(key, b"x" * 100))
        sealed[9:13] = struct.pack(">I", size)  # the header's segment size
        with pytest.raises(DecryptionFailed, match="impossible segment size"):
            _decrypt(key, bytes(sealed))


class _Trickle(io.RawIOBase):
    """A stream that hands out at most a few bytes per read, as pipes and sockets may."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._turn = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._turn += 1
        take = min(1 + self._turn % 5, len(self._data) if size < 0 else size)
        piece, self._data = bytes(self._data[:take]), self._data[take:]
        return piece


def test_short_reads_give_the_same_stream() -> None:
    key, data = new_content_key(), os.urandom(5 * SEG + 7)
    sink = io.BytesIO()
    crypto.encrypt_stream(key, _Trickle(data), sink, segment_size=SEG)  # type: ignore[arg-type]
    sealed = sink.getvalue()
    assert len(sealed) == crypto.ciphertext_size(len(data), SEG)
    plain = io.BytesIO()
    crypto.decrypt_stream(key, _Trickle(sealed), plain)  # type: ignore[arg-type]
    assert plain.getvalue() == data


def test_a_stray_tail_is_named_as_such() -> None:
    key = new_content_key()
    sealed = _encrypt(key, os.urandom(3 * SEG))
    for extra in (1, TAG_BYTES - 1):
        with pytest.raises(DecryptionFailed, match=f"{extra} stray bytes after segment"):
            _decrypt(key, sealed + b"\x00" * extra)


# ---- HPKE wrapping and envelopes ---------------------------------------------------------------

ITEM = keccak(b"item-a")
OTHER_ITEM = keccak(b"item-b")


@pytest.mark.parametrize("kem", [KEM_HYBRID, KEM_X25519])
def test_wrap_unwrap_and_document_round_trip(kem: crypto.Kem) -> None:
    holders = [EncryptionKeyPair.generate(kem) for _ in range(3)]
    key = new_content_key()
    envelope = wrap(key, ITEM, [h.public for h in holders])
    document = canonical_json(envelope.to_document())
    back = Envelope.from_document(json.loads(document))
    assert back == envelope
    for holder in holders:
        assert unwrap(back, holder, ITEM) == key
    sizes = {len(r.wrapped) for r in envelope.recipients}
    # enc (1120 hybrid / 32 X25519) + 32-byte key + 16-byte tag
    assert sizes == {(1120 if kem == KEM_HYBRID else 32) + 32 + 16}


# RFC 7748 section 6.1 / the libsodium blocklist: X25519 points of small order, for which
# every shared secret is zero.
_LOW_ORDER_X25519 = (
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
)


@pytest.mark.parametrize("kem", [KEM_HYBRID, KEM_X25519])
@pytest.mark.parametrize("point", _LOW_ORDER_X25519)
def test_a_low_order_x25519_public_key_is_refused_where_it_is_read(
    kem: crypto.Kem, point: bytes
) -> None:
    public = EncryptionKeyPair.generate(kem).public
    forged = public.raw[:-32] + point
    with pytest.raises(UsageError, match="low-order point"):
        crypto.EncryptionPublicKey(kem, forged)
    document = {**public.to_json(), "public_key": crypto._b64(forged)}
    del document["key_id"]
    with pytest.raises(UsageError, match="low-order point"):
        crypto.EncryptionPublicKey.from_json(document)


def test_key_ids_are_sha256_of_the_tagged_public_key() -> None:
    pair = EncryptionKeyPair.generate(KEM_X25519)
    expected = hashlib.sha256(
        b"heritage-ledger/encryption-key-id/v1\x00X25519\x00" + pair.public.raw
    ).digest()
    assert pair.public.key_id == expected
    hybrid = EncryptionKeyPair.generate()
    assert len(hybrid.public.raw) == 1184 + 32
    assert EncryptionKeyPair.from_secret(KEM_HYBRID, hybrid.secret).public == hybrid.public
    assert hybrid.secret.hex() not in repr(hybrid)


def test_wrapped_key_moved_to_another_item_does_not_open() -> None:
    holder = EncryptionKeyPair.generate()
    envelope = wrap(new_content_key(), ITEM, [holder.public])
    moved = Envelope(OTHER_ITEM, envelope.recipients)
    with pytest.raises(DecryptionFailed, match="does not open"):
        unwrap(moved, holder, OTHER_ITEM)
    # the caller names the item it expects; the envelope's own claim is not trusted
    with pytest.raises(DecryptionFailed):
        unwrap(envelope, holder, OTHER_ITEM)


def test_a_non_recipient_and_a_tampered_wrap_fail_clearly() -> None:
    holder, stranger = EncryptionKeyPair.generate(), EncryptionKeyPair.generate()
    envelope = wrap(new_content_key(), ITEM, [holder.public])
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        unwrap(envelope, stranger, ITEM)
    entry = envelope.recipients[0]
    # The last byte flipped (set to 0 it was unchanged one time in 256).
    flipped = entry.wrapped[:-1] + bytes([entry.wrapped[-1] ^ 0x01])
    bad = crypto.Recipient(entry.key_id, entry.kem, flipped)
    with pytest.raises(DecryptionFailed):
        unwrap(Envelope(ITEM, (bad,)), holder, ITEM)


def test_rewrap_drops_a_removed_keyholder() -> None:
    a, b, c = (EncryptionKeyPair.generate() for _ in range(3))
    key = new_content_key()
    old = wrap(key, ITEM, [a.public, b.public])
    new = rewrap(old, a, [a.public, c.public], item=ITEM)
    assert new.item == ITEM
    assert unwrap(new, c, ITEM) == key
    assert unwrap(new, a, ITEM) == key
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        unwrap(new, b, ITEM)
    with pytest.raises(DecryptionFailed):
        rewrap(new, b, [b.public], item=ITEM)  # a removed holder cannot re-add itself


def test_rewrap_refuses_an_envelope_of_another_item() -> None:
    holder, newcomer = EncryptionKeyPair.generate(KEM_X25519), EncryptionKeyPair.generate()
    other_item = bytes(range(32))
    assert other_item != ITEM
    other = wrap(new_content_key(), other_item, [holder.public])
    # the holder could open it, but it is not the envelope of the item being re-wrapped
    assert unwrap(other, holder, other_item)
    with pytest.raises(DecryptionFailed, match="not for item"):
        rewrap(other, holder, [newcomer.public], item=ITEM)
    # and the other way round (item keys compare as bytes: both orders are refused)
    mine = wrap(new_content_key(), ITEM, [holder.public])
    with pytest.raises(DecryptionFailed, match="not for item"):
        rewrap(mine, holder, [newcomer.public], item=other_item)
    # the envelope's claim re-labelled to ITEM: its wrapped key does not open for ITEM
    relabelled = Envelope(ITEM, other.recipients)
    with pytest.raises(DecryptionFailed, match="does not open for item"):
        rewrap(relabelled, holder, [newcomer.public], item=ITEM)


def test_envelope_documents_are_checked() -> None:
    holder = EncryptionKeyPair.generate(KEM_X25519)
    document = wrap(new_content_key(), ITEM, [holder.public]).to_document()
    for field, value in [("type", "x"), ("aead", "AES-128-GCM"), ("item", "0x12"),
                         ("recipients", [])]:
        with pytest.raises(UsageError):
            Envelope.from_document({**document, field: value})
    # each named algorithm and format, with values sorting before and after the right one
    for field, value in [("type", "heritage/envelopa"), ("type", "heritage/envelopz"),
                         ("kdf", "HKDF-SHA255"), ("kdf", "HKDF-SHA512"),
                         ("aead", "AES-128-GCM"), ("aead", "CHACHA20-POLY1305"),
                         ("stream", "v0"), ("stream", "v2")]:  # fmt: skip
        with pytest.raises(UsageError, match=r"is not a heritage/envelope|version or algorithm"):
            Envelope.from_document({**document, field: value})
    for version in (0, 2, "1", None):
        with pytest.raises(UsageError, match="version or algorithm"):
            Envelope.from_document({**document, "version": version})
    for item in (document["item"] + "00", document["item"][:-2], "0x" + "g" * 64):
        with pytest.raises(UsageError, match="0x and 64 hex digits"):
            Envelope.from_document({**document, "item": item})
    twice = {**document, "recipients": document["recipients"] * 2}
    with pytest.raises(UsageError, match="twice"):
        Envelope.from_document(twice)


@pytest.mark.parametrize(("made_for", "claimed"), [(KEM_X25519, KEM_HYBRID),
                                                    (KEM_HYBRID, KEM_X25519)])  # fmt: skip
def test_a_wrapped_key_claiming_another_kem_is_refused(
    made_for: crypto.Kem, claimed: crypto.Kem
) -> None:
    holder = EncryptionKeyPair.generate(made_for)
    envelope = wrap(new_content_key(), ITEM, [holder.public])
    (entry,) = envelope.recipients
    relabelled = Envelope(ITEM, (crypto.Recipient(entry.key_id, claimed, entry.wrapped),))
    with pytest.raises(DecryptionFailed, match=f"is not for a {made_for} key"):
        unwrap(relabelled, holder, ITEM)
    with pytest.raises(UsageError, match="at least one recipient"):
        wrap(new_content_key(), ITEM, [])


# ---- keys at rest ------------------------------------------------------------------------------

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_lock_and_unlock_a_key_pair() -> None:
    pair = EncryptionKeyPair.generate()
    document = lock_keypair(pair, ADDRESS, "correct horse", scrypt_n=LIGHT_SCRYPT_N)
    text = canonical_json(document).decode()
    assert pair.secret.hex() not in text and pair.secret[:16].hex() not in text
    address, back = unlock_keypair(document, "correct horse")
    assert address == ADDRESS and back.secret == pair.secret
    with pytest.raises(WrongPassphrase):
        unlock_keypair(document, "wrong")
    # the public part is authenticated: a swapped owner or public key fails to open
    with pytest.raises(WrongPassphrase):
        unlock_keypair({**document, "address": "0x" + "11" * 20}, "correct horse")
    other = EncryptionKeyPair.generate().public.to_json()
    with pytest.raises(WrongPassphrase):
        unlock_keypair({**document, **other}, "correct horse")
    with pytest.raises(UsageError, match="not a Heritage Ledger encryption key"):
        unlock_keypair({"kem": "X25519", "public_key": ""}, "x")


# ---- interoperability with RFC 9180 -----------------------------------------------------------
#
# cryptography's one-shot HPKE API draws its ephemeral key at random, so RFC 9180's
# deterministic vectors cannot be produced with it. Instead: (1) the library's HPKE opens the
# RFC's own A.1.1 ciphertext (its private `_decrypt_with_aad` takes the vector's aad); (2) an
# independent base-mode HPKE receiver written here from RFC 9180 sections 4, 5.1 and 7.1
# (over raw X25519, HMAC-SHA256 and AES-GCM) reproduces the RFC's key, nonce and plaintext,
# and then opens a key wrapped by `ledger.crypto.wrap` (X25519 option, AES-256-GCM) with the
# documented `info`: so the wraps are standard HPKE, readable by any RFC 9180 implementation.
# The hybrid ML-KEM-768 + X25519 KEM is cross-checked in test_crypto_hybrid_interop.py (the
# draft's vectors, and a receiver over kyber-py's ML-KEM).

A11 = {
    "skRm": "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    "enc": "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "key": "4531685d41d65f03dc48f6b8302c05b0",
    "base_nonce": "56d890e5accaaf011cff4b7d",
    "aad": "436f756e742d30",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "ct": "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
    "6d8770ac83d07bea87e13c512a",
}


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    return _expand(prk, struct.pack(">H", n) + b"HPKE-v1" + suite + label + info, n)


def _rfc9180_receiver(
    sk_r: bytes, enc: bytes, info: bytes, aead_id: int, nk: int
) -> tuple[bytes, bytes]:
    """(key, base_nonce) for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, base mode."""
    private = x25519.X25519PrivateKey.from_private_bytes(sk_r)
    dh = private.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    kem_suite = b"KEM" + struct.pack(">H", 0x0020)
    kem_context = enc + private.public_key().public_bytes_raw()
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", kem_context, 32)
    return hpke_key_schedule(shared, info, 0x0020, aead_id, nk)


def hpke_key_schedule(
    shared: bytes, info: bytes, kem_id: int, aead_id: int, nk: int
) -> tuple[bytes, bytes]:
    """RFC 9180 section 5.1, base mode, HKDF-SHA256: (key, base_nonce) from a KEM's shared
    secret."""
    suite = b"HPKE" + struct.pack(">HHH", kem_id, 0x0001, aead_id)
    psk_id_hash = _labeled_extract(suite, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite, shared, b"secret", b"")
    return (
        _labeled_expand(suite, secret, b"key", context, nk),
        _labeled_expand(suite, secret, b"base_nonce", context, 12),
    )


def test_cryptography_hpke_opens_the_rfc9180_a11_vector() -> None:
    v = {k: bytes.fromhex(x) for k, x in A11.items()}
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    private = x25519.X25519PrivateKey.from_private_bytes(v["skRm"])
    opened = rust_openssl.hpke._decrypt_with_aad(
        suite, v["enc"] + v["ct"], private, info=v["info"], aad=v["aad"]
    )
    assert opened == v["pt"]


def test_independent_rfc9180_receiver_matches_the_rfc_and_opens_our_wraps() -> None:
    v = {k: bytes.fromhex(x) for k, x in A11.items()}
    key, nonce = _rfc9180_receiver(v["skRm"], v["enc"], v["info"], 0x0001, 16)
    assert key == v["key"] and nonce == v["base_nonce"]
    assert AESGCM(key).decrypt(nonce, v["ct"], v["aad"]) == v["pt"]

    holder = EncryptionKeyPair.generate(KEM_X25519)
    content_key = new_content_key()
    entry = wrap(content_key, ITEM, [holder.public]).recipients[0]
    info = (
        b"heritage-ledger/envelope/v1\x00X25519/HKDF-SHA256/AES-256-GCM/stream-v1\x00" + ITEM
    )
    key, nonce = _rfc9180_receiver(holder.secret, entry.wrapped[:32], info, 0x0002, 32)
    assert AESGCM(key).decrypt(nonce, entry.wrapped[32:], b"") == content_key
