"""An independent cross-check of the default key wrapping: HPKE with the hybrid
ML-KEM-768 + X25519 KEM (``hpke.KEM.MLKEM768_X25519`` of ``cryptography`` 50).

What ``cryptography`` implements under that name (its Rust backend and the pull request that
added it, pyca/cryptography#14695): the KEM ``MLKEM768-X25519``, id 0x647A, of
draft-ietf-hpke-pq-04 (section 4; 2 March 2026), which takes the KEM from
draft-irtf-cfrg-concrete-hybrid-kems; that KEM is X-Wing (draft-connolly-cfrg-xwing-kem):

* public key ``pk = ek_M (ML-KEM-768 encapsulation key, 1184 bytes) ‖ pk_X (X25519, 32)``;
* ``enc = ct_M (ML-KEM-768 ciphertext, 1088 bytes) ‖ ct_X (ephemeral X25519 public key, 32)``;
* shared secret ``SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\\.//^\\")`` (the X-Wing / QSF
  combiner, label bytes 5c 2e 2f 2f 5e 5c), where ``ss_M = ML-KEM.Decaps(dk_M, ct_M)`` and
  ``ss_X = X25519(sk_X, ct_X)``;
* the draft's private key is a 32-byte seed; ``SHAKE256(seed, 96)`` gives the ML-KEM seed
  ``d ‖ z`` (bytes 0..64, FIPS 203 KeyGen_internal) and the X25519 private key (64..96);
* in HPKE the KEM's 32-byte shared secret enters RFC 9180's key schedule (section 5.1, base
  mode) as it is, with ``suite_id = "HPKE" ‖ 0x647A ‖ kdf_id ‖ aead_id``.

``cryptography``'s key object is built from the two component keys, not from the draft's
32-byte seed, so ``ledger.crypto`` stores a hybrid private key as the 64-byte ML-KEM seed
followed by the X25519 private key (96 bytes): the same KEM (public keys and ``enc`` are the
draft's), with a private-key serialization of the project's own.

Known answers come from the draft's Appendix A.5 (MLKEM768-X25519, HKDF-SHA256,
ChaCha20Poly1305) in two versions, draft-ietf-hpke-pq-04 (the JSON file of the draft's
repository at its tag; the version current when ``cryptography`` added the KEM) and
draft-ietf-hpke-pq-05 (6 July 2026; regenerated from other inputs, the KEM unchanged), kept in
``tests/vectors/hpke_pq_0{4,5}_mlkem768_x25519.json`` with their sources.
The independent implementation is written here from those texts: ML-KEM-768 from ``kyber-py``
(a pure-Python FIPS 203), X25519, SHA3-256, SHAKE256, AES-GCM and ChaCha20-Poly1305 as
primitives, and the RFC 9180 key schedule of ``tests/ledger/test_crypto.py`` (itself checked
there against RFC 9180 A.1.1). None of ``cryptography``'s HPKE or hybrid-KEM code takes part
in it. The vector pins the independent side first (key derivation, deterministic encapsulation,
decapsulation, combiner, key schedule); then it opens what ``ledger.crypto.wrap`` wrote, and
``ledger.crypto.unwrap`` opens what it wrote.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from eth_utils.crypto import keccak
from kyber_py.ml_kem import ML_KEM_768  # type: ignore[import-untyped]

from ledger.crypto import (
    KEM_HYBRID,
    EncryptionKeyPair,
    Envelope,
    Recipient,
    new_content_key,
    unwrap,
    wrap,
)
from ledger.documents import canonical_json
from ledger.errors import DecryptionFailed
from tests.ledger.test_crypto import hpke_key_schedule

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors"
VECTOR_FILES = {
    "draft-ietf-hpke-pq-04": VECTOR_DIR / "hpke_pq_04_mlkem768_x25519.json",
    "draft-ietf-hpke-pq-05": VECTOR_DIR / "hpke_pq_05_mlkem768_x25519.json",
}
DRAFTS = sorted(VECTOR_FILES)
# the draft-04 vector is the one the tests of ledger.crypto's own keys below use
DRAFT_04 = "draft-ietf-hpke-pq-04"

KEM_ID = 0x647A
KDF_HKDF_SHA256 = 0x0001
AEAD_AES_256_GCM = 0x0002
AEAD_CHACHA20_POLY1305 = 0x0003
XWING_LABEL = b"\\.//^\\"  # 5c 2e 2f 2f 5e 5c
MLKEM_EK = 1184
MLKEM_CT = 1088
ENC = MLKEM_CT + 32

ITEM = keccak(b"item-a")
OTHER_ITEM = keccak(b"item-b")
# The envelope's key id and HPKE info, spelled out from docs/encryption.md (not imported).
KEY_ID_DOMAIN = b"heritage-ledger/encryption-key-id/v1\x00"


def _info(item: bytes) -> bytes:
    return (
        b"heritage-ledger/envelope/v1\x00MLKEM768-X25519/HKDF-SHA256/AES-256-GCM/stream-v1\x00"
        + item
    )


# ---- the independent implementation ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HybridReceiverKey:
    """An X-Wing decapsulation key in component form: kyber-py's expanded ML-KEM-768
    decapsulation key, and the X25519 private key."""

    dk_m: bytes
    ek_m: bytes
    sk_x: x25519.X25519PrivateKey

    @classmethod
    def from_components(cls, mlkem_seed: bytes, x25519_secret: bytes) -> HybridReceiverKey:
        """From the 64-byte FIPS 203 seed ``d ‖ z`` and the 32-byte X25519 private key."""
        ek_m, dk_m = ML_KEM_768.key_derive(mlkem_seed)
        return cls(dk_m, ek_m, x25519.X25519PrivateKey.from_private_bytes(x25519_secret))

    @classmethod
    def from_xwing_seed(cls, seed: bytes) -> HybridReceiverKey:
        """The draft's 32-byte private key, expanded with SHAKE256 as X-Wing specifies."""
        expanded = hashlib.shake_256(seed).digest(96)
        return cls.from_components(expanded[:64], expanded[64:])

    @property
    def pk_x(self) -> bytes:
        return self.sk_x.public_key().public_bytes_raw()

    @property
    def public(self) -> bytes:
        return self.ek_m + self.pk_x


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


def xwing_decap(key: HybridReceiverKey, enc: bytes) -> bytes:
    """X-Wing decapsulation: ML-KEM-768 (kyber-py) and X25519, then the combiner."""
    assert len(enc) == ENC
    ct_m, ct_x = enc[:MLKEM_CT], enc[MLKEM_CT:]
    ss_m: bytes = ML_KEM_768.decaps(key.dk_m, ct_m)
    ss_x = key.sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    return _combine(ss_m, ss_x, ct_x, key.pk_x)


def xwing_encap(public: bytes, randomness: bytes | None = None) -> tuple[bytes, bytes]:
    """(shared secret, enc) for ``public``. ``randomness`` (64 bytes: the ML-KEM message m,
    then the ephemeral X25519 private key) makes it deterministic, as the draft's ``ikmE``;
    kyber-py's FIPS 203 Encaps_internal (Algorithm 17) takes m, its public encaps draws it."""
    ek_m, pk_x = public[:MLKEM_EK], public[MLKEM_EK:]
    if randomness is None:
        ss_m, ct_m = ML_KEM_768.encaps(ek_m)
        ephemeral = x25519.X25519PrivateKey.generate()
    else:
        ss_m, ct_m = ML_KEM_768._encaps_internal(ek_m, randomness[:32])
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(randomness[32:64])
    ct_x = ephemeral.public_key().public_bytes_raw()
    ss_x = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(pk_x))
    return _combine(ss_m, ss_x, ct_x, pk_x), ct_m + ct_x


def key_schedule(shared: bytes, info: bytes, aead_id: int, nk: int) -> tuple[bytes, bytes]:
    """RFC 9180 section 5.1, base mode, HKDF-SHA256, for this KEM: (key, base_nonce)."""
    return hpke_key_schedule(shared, info, KEM_ID, aead_id, nk)


def open_wrapped(key: HybridReceiverKey, wrapped: bytes, info: bytes) -> bytes:
    """Open HPKE ``enc ‖ ct`` (single shot, sequence 0, empty aad) for the suite that
    ledger.crypto uses: MLKEM768-X25519, HKDF-SHA256, AES-256-GCM. InvalidTag if it fails."""
    enc, ct = wrapped[:ENC], wrapped[ENC:]
    aes_key, nonce = key_schedule(xwing_decap(key, enc), info, AEAD_AES_256_GCM, 32)
    return AESGCM(aes_key).decrypt(nonce, ct, b"")


def seal_for(public: bytes, plaintext: bytes, info: bytes) -> bytes:
    """The sender's side of :func:`open_wrapped`: ``enc ‖ ct``."""
    shared, enc = xwing_encap(public)
    aes_key, nonce = key_schedule(shared, info, AEAD_AES_256_GCM, 32)
    return enc + AESGCM(aes_key).encrypt(nonce, plaintext, b"")


def receiver_key_of(pair: EncryptionKeyPair) -> HybridReceiverKey:
    """The keyholder's secret as docs/encryption.md lays it out: ML-KEM seed (64) ‖ X25519 (32)."""
    assert len(pair.secret) == 96
    return HybridReceiverKey.from_components(pair.secret[:64], pair.secret[64:])


def key_id(public: bytes) -> bytes:
    return hashlib.sha256(KEY_ID_DOMAIN + b"MLKEM768-X25519\x00" + public).digest()


# ---- the draft's vector ----------------------------------------------------------------------


def _vector(draft: str) -> dict[str, Any]:
    document = json.loads(VECTOR_FILES[draft].read_text(encoding="utf-8"))
    assert document["draft"].startswith(draft + " ")
    assert "hpkewg" in document["source"]  # the draft's own repository or its pages
    vector: dict[str, Any] = document["vector"]
    assert (vector["mode"], vector["kem_id"], vector["kdf_id"], vector["aead_id"]) == (
        0,
        KEM_ID,
        KDF_HKDF_SHA256,
        AEAD_CHACHA20_POLY1305,
    )
    return vector


def _hex(vector: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(vector[name])


@pytest.mark.parametrize("draft", DRAFTS)
def test_the_independent_implementation_reproduces_the_draft_vector(draft: str) -> None:
    v = _vector(draft)
    key = HybridReceiverKey.from_xwing_seed(_hex(v, "skRm"))
    assert key.public == _hex(v, "pkRm")
    assert len(key.public) == 1216
    # the sender's side, deterministic with the vector's ikmE
    shared, enc = xwing_encap(key.public, _hex(v, "ikmE"))
    assert enc == _hex(v, "enc")
    assert shared == _hex(v, "shared_secret")
    # the receiver's side
    assert xwing_decap(key, _hex(v, "enc")) == _hex(v, "shared_secret")
    chacha_key, base_nonce = key_schedule(
        _hex(v, "shared_secret"), _hex(v, "info"), AEAD_CHACHA20_POLY1305, 32
    )
    assert chacha_key == _hex(v, "key")
    assert base_nonce == _hex(v, "base_nonce")
    if "suite_id" in v:  # the JSON file has it, the draft's text does not print it
        assert _hex(v, "suite_id") == b"HPKE" + struct.pack(
            ">HHH", KEM_ID, KDF_HKDF_SHA256, AEAD_CHACHA20_POLY1305
        )
    aead = ChaCha20Poly1305(chacha_key)
    assert len(v["encryptions"]) >= 2
    for seq, encryption in enumerate(v["encryptions"]):
        # RFC 9180 section 5.2: nonce = base_nonce XOR I2OSP(seq, Nn)
        nonce = bytes(a ^ b for a, b in zip(base_nonce, seq.to_bytes(12, "big"), strict=True))
        assert nonce == _hex(encryption, "nonce")
        opened = aead.decrypt(nonce, _hex(encryption, "ct"), _hex(encryption, "aad"))
        assert opened == _hex(encryption, "pt")


def _cryptography_key(seed: bytes) -> hpke.MLKEM768X25519PrivateKey:
    # cryptography takes component keys; the draft's seed is expanded here as X-Wing says.
    expanded = hashlib.shake_256(seed).digest(96)
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


@pytest.mark.parametrize("draft", DRAFTS)
def test_cryptography_hpke_opens_the_draft_vector(draft: str) -> None:
    v = _vector(draft)
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    first = v["encryptions"][0]  # the one-shot API is sequence number 0
    private = _cryptography_key(_hex(v, "skRm"))
    # The public API has no aad (RFC 9180's single-shot form puts context in info); the
    # vector's first message has one, so the library's private aad variant opens it, as
    # test_crypto.py does for RFC 9180 A.1.1.
    opened = rust_openssl.hpke._decrypt_with_aad(
        suite, _hex(v, "enc") + _hex(first, "ct"), private, info=_hex(v, "info"),
        aad=_hex(first, "aad"),
    )
    assert opened == _hex(first, "pt")
    with pytest.raises(InvalidTag):
        rust_openssl.hpke._decrypt_with_aad(
            suite, _hex(v, "enc") + _hex(first, "ct"), private, info=b"another info",
            aad=_hex(first, "aad"),
        )
    # and the library derives the draft's public key from the same components
    expanded = hashlib.shake_256(_hex(v, "skRm")).digest(96)
    ek_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).public_key()
    assert ek_m.public_bytes_raw() == _hex(v, "pkRm")[:MLKEM_EK]


# ---- ledger.crypto against the independent implementation ------------------------------------


def test_the_independent_receiver_opens_keys_wrapped_by_ledger_crypto() -> None:
    holders = [EncryptionKeyPair.generate() for _ in range(3)]
    content_key = new_content_key()
    envelope = wrap(content_key, ITEM, [h.public for h in holders])
    # A third party reads the stored document, not our objects.
    document = json.loads(canonical_json(envelope.to_document()))
    entries = {entry["key_id"]: entry for entry in document["recipients"]}
    for holder in holders:
        receiver = receiver_key_of(holder)
        # kyber-py expands the stored 64-byte seed to the encapsulation key cryptography made
        assert receiver.public == holder.public.raw
        entry = entries["0x" + key_id(receiver.public).hex()]
        assert entry["kem"] == "MLKEM768-X25519"
        wrapped = base64.b64decode(entry["wrapped"])
        assert len(wrapped) == ENC + 32 + 16
        assert open_wrapped(receiver, wrapped, _info(ITEM)) == content_key


def _wrapped_for(holder: EncryptionKeyPair, item: bytes) -> tuple[bytes, bytes]:
    content_key = new_content_key()
    return content_key, wrap(content_key, item, [holder.public]).recipients[0].wrapped


def test_the_independent_receiver_refuses_a_wrap_for_another_item() -> None:
    holder = EncryptionKeyPair.generate()
    content_key, wrapped = _wrapped_for(holder, ITEM)
    receiver = receiver_key_of(holder)
    assert open_wrapped(receiver, wrapped, _info(ITEM)) == content_key
    with pytest.raises(InvalidTag):
        open_wrapped(receiver, wrapped, _info(OTHER_ITEM))


@pytest.mark.parametrize(
    ("where", "offset"),
    [
        ("ML-KEM ciphertext, first byte", 0),
        ("ML-KEM ciphertext, last byte", MLKEM_CT - 1),
        ("X25519 ephemeral key", MLKEM_CT + 5),
        ("AEAD ciphertext", ENC + 3),
        ("AEAD tag", ENC + 32 + 15),
    ],
)
def test_the_independent_receiver_refuses_a_flipped_byte(where: str, offset: int) -> None:
    holder = EncryptionKeyPair.generate()
    content_key, wrapped = _wrapped_for(holder, ITEM)
    receiver = receiver_key_of(holder)
    flipped = bytearray(wrapped)
    flipped[offset] ^= 0x01
    # ML-KEM's implicit rejection turns a bad ciphertext into a wrong secret, never an error
    # of its own: every flip must surface as the AEAD's refusal.
    with pytest.raises(InvalidTag):
        open_wrapped(receiver, bytes(flipped), _info(ITEM))
    assert open_wrapped(receiver, wrapped, _info(ITEM)) == content_key


def test_ledger_crypto_opens_a_key_wrapped_by_the_independent_sender() -> None:
    holder = EncryptionKeyPair.generate()
    content_key = os.urandom(32)
    wrapped = seal_for(holder.public.raw, content_key, _info(ITEM))
    recipient = {
        "key_id": "0x" + key_id(holder.public.raw).hex(),
        "kem": "MLKEM768-X25519",
        "wrapped": base64.b64encode(wrapped).decode("ascii"),
    }
    document: dict[str, Any] = {
        "type": "heritage/envelope",
        "version": 1,
        "item": "0x" + ITEM.hex(),
        "kdf": "HKDF-SHA256",
        "aead": "AES-256-GCM",
        "stream": "v1",
        "recipients": [recipient],
    }
    envelope = Envelope.from_document(document)
    assert envelope.key_ids() == {holder.public.key_id}
    assert unwrap(envelope, holder, ITEM) == content_key
    # sealed for another item: ledger.crypto refuses it under ITEM
    elsewhere = seal_for(holder.public.raw, content_key, _info(OTHER_ITEM))
    moved_recipient = {**recipient, "wrapped": base64.b64encode(elsewhere).decode("ascii")}
    moved = Envelope.from_document({**document, "recipients": [moved_recipient]})
    with pytest.raises(DecryptionFailed, match="does not open"):
        unwrap(moved, holder, ITEM)
    assert unwrap(moved, holder, OTHER_ITEM) == content_key


def test_a_wrap_for_the_draft_key_opens_in_both_implementations() -> None:
    """The draft's key pair, taken into ledger.crypto's private-key form (ML-KEM seed ‖ X25519
    key): a wrap by ledger.crypto opens in the independent receiver, and the other way round."""
    v = _vector(DRAFT_04)
    expanded = hashlib.shake_256(_hex(v, "skRm")).digest(96)
    holder = EncryptionKeyPair.from_secret(KEM_HYBRID, expanded)
    assert holder.public.raw == _hex(v, "pkRm")
    receiver = HybridReceiverKey.from_xwing_seed(_hex(v, "skRm"))
    content_key, wrapped = _wrapped_for(holder, ITEM)
    assert open_wrapped(receiver, wrapped, _info(ITEM)) == content_key
    sent = seal_for(_hex(v, "pkRm"), content_key, _info(ITEM))
    envelope = Envelope(ITEM, (Recipient(holder.public.key_id, KEM_HYBRID, sent),))
    assert unwrap(envelope, holder, ITEM) == content_key
