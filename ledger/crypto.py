"""Envelope encryption of restricted items, and the salted commitment to their plaintext.

Three layers, each built from `cryptography` primitives (nothing home-made):

* **content**: a random 256-bit *content key* encrypts a file as a segmented AEAD stream in the
  STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015; as in age and Tink's streaming
  AEAD): AES-256-GCM over fixed-size segments, nonce = random prefix ‖ segment counter ‖
  last-segment flag, so truncation, reordering, duplication and extension are all detected,
  and memory stays bounded by one segment however large the file. The byte format is in
  ``docs/encryption.md``.
* **wrapping**: the content key is wrapped for each keyholder with HPKE (RFC 9180, base mode),
  by default ML-KEM-768 + X25519 (hybrid, post-quantum), HKDF-SHA256, AES-256-GCM; plain X25519
  is an option. HPKE's ``info`` names the item, so a wrapped key cannot be moved to another.
* **envelope**: the list of wrapped keys, one per recipient key id, as a JSON document.

The registry keys an encrypted item by its ciphertext's CID and records, in the record's
``commitment`` field, a salted commitment to the plaintext's CID: a keyholder who reveals the
salt proves which plaintext it is; without the salt the commitment says nothing about it.

Nothing here does I/O beyond the streams and paths a caller hands in. Secrets (content keys,
private keys, passphrases) never appear in a message, a ``repr`` or a log line, and failures
raised while one is in scope are re-raised ``from None``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from eth_utils.crypto import keccak

from ledger.errors import DecryptionFailed, UsageError, WrongPassphrase
from ledger.ipfs.cid import Cid
from ledger.kems import DEFAULT_KEM, KEM_HYBRID, KEM_X25519, Kem

__all__ = [
    "COMMITMENT_DOMAIN",
    "CONTENT_KEY_BYTES",
    "DEFAULT_KEM",
    "DEFAULT_SEGMENT_SIZE",
    "ENVELOPE_TYPE",
    "HEADER_BYTES",
    "KEM_HYBRID",
    "KEM_X25519",
    "SALT_BYTES",
    "STREAM_MAGIC",
    "TAG_BYTES",
    "EncryptionKeyPair",
    "EncryptionPublicKey",
    "Envelope",
    "Kem",
    "Purpose",
    "Recipient",
    "ciphertext_size",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "lock_keypair",
    "new_content_key",
    "open_bytes",
    "plaintext_commitment",
    "rewrap",
    "seal_bytes",
    "unlock_keypair",
    "unwrap",
    "wrap",
]

#: Domain tag of the commitment, so its preimage cannot be mistaken for any other hash input.
COMMITMENT_DOMAIN: Final = b"heritage-ledger/plaintext-commitment/v1"
SALT_BYTES: Final = 32


def plaintext_commitment(salt: bytes, plaintext: Cid) -> bytes:
    """``keccak256(COMMITMENT_DOMAIN ‖ salt ‖ binary CID)``: the record's ``commitment``."""
    if len(salt) != SALT_BYTES:
        raise UsageError(
            f"a commitment salt is {SALT_BYTES} bytes, not {len(salt)}",
            hint="use the salt written when the item was registered",
        )
    return keccak(COMMITMENT_DOMAIN + salt + bytes(plaintext))


# ---- the content stream (STREAM over AES-256-GCM) ---------------------------------------------

CONTENT_KEY_BYTES: Final = 32
STREAM_MAGIC: Final = b"HLSTREAM"
STREAM_VERSION: Final = 1
_PREFIX_BYTES: Final = 7  # nonce = 7-byte prefix ‖ 4-byte counter ‖ 1-byte flag (as Tink)
HEADER_BYTES: Final = len(STREAM_MAGIC) + 1 + 4 + _PREFIX_BYTES  # 20
TAG_BYTES: Final = 16
DEFAULT_SEGMENT_SIZE: Final = 1 << 16  # 64 KiB, as age
MIN_SEGMENT_SIZE: Final = 64  # small sizes exist so tests can cross many boundaries cheaply
MAX_SEGMENT_SIZE: Final = 1 << 24
_MAX_SEGMENTS: Final = 1 << 32  # the counter is 32 bits; 2**32 × 64 KiB = 256 TiB per stream
_STREAM_INFO: Final = b"heritage-ledger/stream/v1/"

#: What a stream holds; it is part of the stream key's derivation, so a metadata stream can
#: never be opened (or passed off) as content and the other way round.
Purpose = Literal["content", "metadata"]


def new_content_key() -> bytes:
    """A fresh random 256-bit content key (one per item), from the OS's CSPRNG."""
    return secrets.token_bytes(CONTENT_KEY_BYTES)


def _check_content_key(content_key: bytes) -> None:
    if not isinstance(content_key, bytes) or len(content_key) != CONTENT_KEY_BYTES:
        raise UsageError(f"a content key is {CONTENT_KEY_BYTES} bytes")


def _stream_key(content_key: bytes, prefix: bytes, purpose: Purpose) -> AESGCM:
    # A per-stream key (salted with the random prefix, as Tink derives one per stream from a
    # header salt): the content and metadata streams of an item share a content key but never
    # an AES key, so their nonces can never collide under one key.
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=prefix,
        info=_STREAM_INFO + purpose.encode("ascii"),
    ).derive(content_key)
    return AESGCM(derived)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _read_full(source: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream (reads may come short)."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        part = source.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def ciphertext_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """The exact ciphertext size of a plaintext of ``plaintext_size`` bytes."""
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_BYTES + plaintext_size + segments * TAG_BYTES


def encrypt_stream(
    content_key: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    *,
    purpose: Purpose = "content",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> int:
    """Encrypt ``source`` to ``sink``, one segment in memory at a time; the bytes written."""
    _check_content_key(content_key)
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise UsageError(
            f"segment size {segment_size} is not between {MIN_SEGMENT_SIZE} and "
            f"{MAX_SEGMENT_SIZE}",
            hint=f"use the default ({DEFAULT_SEGMENT_SIZE})",
        )
    prefix = secrets.token_bytes(_PREFIX_BYTES)
    header = STREAM_MAGIC + struct.pack(">BI", STREAM_VERSION, segment_size) + prefix
    aead = _stream_key(content_key, prefix, purpose)
    sink.write(header)
    written = len(header)
    counter = 0
    current = _read_full(source, segment_size)
    while True:
        # One segment of lookahead tells whether this one is the last.
        following = _read_full(source, segment_size) if len(current) == segment_size else b""
        last = not following
        if counter >= _MAX_SEGMENTS:
            raise UsageError("the file is too large for one stream (2**32 segments)")
        sealed = aead.encrypt(_nonce(prefix, counter, last), current, header)
        sink.write(sealed)
        written += len(sealed)
        if last:
            return written
        counter += 1
        current = following


def _fail(where: str, why: str) -> DecryptionFailed:
    return DecryptionFailed(
        f"{where} cannot be decrypted: {why}",
        hint="the ciphertext was altered, truncated or extended, or the key is not its key; "
        "nothing was written",
    )


def decrypt_stream(
    content_key: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    *,
    purpose: Purpose = "content",
    where: str = "the ciphertext",
) -> int:
    """Decrypt ``source`` to ``sink``; the plaintext bytes written.

    Each segment is authenticated before its plaintext is written, but a failure can come
    after earlier segments were written: callers that write to a path use
    :func:`decrypt_file`, which only ever renames a complete, authenticated plaintext into place.
    """
    _check_content_key(content_key)
    header = _read_full(source, HEADER_BYTES)
    if len(header) < HEADER_BYTES or not header.startswith(STREAM_MAGIC):
        raise _fail(where, "it does not start with a Heritage Ledger stream header")
    version, segment_size = struct.unpack(">BI", header[len(STREAM_MAGIC) : -_PREFIX_BYTES])
    if version != STREAM_VERSION:
        raise _fail(where, f"stream format version {version} is not supported")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise _fail(where, f"its header names an impossible segment size ({segment_size})")
    prefix = header[-_PREFIX_BYTES:]
    aead = _stream_key(content_key, prefix, purpose)
    chunk = segment_size + TAG_BYTES
    written = 0
    counter = 0
    current = _read_full(source, chunk)
    if len(current) < TAG_BYTES:
        raise _fail(where, "it ends before its first segment")
    while True:
        following = _read_full(source, chunk) if len(current) == chunk else b""
        last = not following
        if not last and len(following) < TAG_BYTES:
            # A stray tail shorter than a tag cannot be a segment: the stream was extended.
            raise _fail(where, f"it has {len(following)} stray bytes after segment {counter}")
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), current, header)
        except InvalidTag:
            raise _fail(where, f"segment {counter} does not authenticate") from None
        sink.write(plain)
        written += len(plain)
        if last:
            return written
        counter += 1
        if counter >= _MAX_SEGMENTS:
            raise _fail(where, "it has more segments than a stream can hold")
        current = following


def seal_bytes(
    content_key: bytes,
    data: bytes,
    *,
    purpose: Purpose = "metadata",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> bytes:
    """``data`` encrypted as one stream in memory (for small documents such as metadata)."""
    sink = io.BytesIO()
    encrypt_stream(content_key, io.BytesIO(data), sink, purpose=purpose, segment_size=segment_size)
    return sink.getvalue()


def open_bytes(
    content_key: bytes,
    sealed: bytes,
    *,
    purpose: Purpose = "metadata",
    where: str = "the sealed document",
) -> bytes:
    """The plaintext of a stream made by :func:`seal_bytes`, or :class:`DecryptionFailed`."""
    sink = io.BytesIO()
    decrypt_stream(content_key, io.BytesIO(sealed), sink, purpose=purpose, where=where)
    return sink.getvalue()


def _check_source(source: Path) -> None:
    if not source.is_file():
        raise UsageError(f"{source} does not exist or is not a file", hint="check the path")


def _temp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.partial")


def encrypt_file(
    content_key: bytes,
    source: Path,
    target: Path,
    *,
    purpose: Purpose = "content",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> int:
    """Encrypt the file ``source`` to ``target`` (temp file then rename); the bytes written."""
    _check_source(source)
    tmp = _temp_beside(target)
    try:
        with source.open("rb") as src, tmp.open("xb") as out:
            written = encrypt_stream(
                content_key, src, out, purpose=purpose, segment_size=segment_size
            )
        tmp.replace(target)
        return written
    finally:
        tmp.unlink(missing_ok=True)


def decrypt_file(
    content_key: bytes,
    source: Path,
    target: Path,
    *,
    purpose: Purpose = "content",
) -> int:
    """Decrypt ``source`` into ``target``, all or nothing: the plaintext goes to a private
    temp file beside ``target`` that is renamed into place only once every segment has
    authenticated, and removed otherwise. Refuses an existing ``target``."""
    _check_source(source)
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists", hint="choose a new output path")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    tmp = _temp_beside(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as out:
            written = decrypt_stream(content_key, src, out, purpose=purpose, where=str(source))
            out.flush()
            os.fsync(out.fileno())
        # link, not rename: never replace a file that appeared at target meanwhile
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise UsageError(f"{target} already exists", hint="choose a new output path") from None
        return written
    finally:
        tmp.unlink(missing_ok=True)


# ---- keyholder encryption keys (HPKE) ------------------------------------------------------

_KDF_NAME: Final = "HKDF-SHA256"
_AEAD_NAME: Final = "AES-256-GCM"
_SUITES: Final = {
    KEM_HYBRID: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    KEM_X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}
_MLKEM_PUBLIC: Final = 1184
_MLKEM_SEED: Final = 64
_X25519_BYTES: Final = 32
_PUBLIC_BYTES: Final = {KEM_HYBRID: _MLKEM_PUBLIC + _X25519_BYTES, KEM_X25519: _X25519_BYTES}
_SECRET_BYTES: Final = {KEM_HYBRID: _MLKEM_SEED + _X25519_BYTES, KEM_X25519: _X25519_BYTES}
_KEY_ID_DOMAIN: Final = b"heritage-ledger/encryption-key-id/v1\x00"


def _kem(name: object) -> Kem:
    if name == KEM_HYBRID:
        return KEM_HYBRID
    if name == KEM_X25519:
        return KEM_X25519
    raise UsageError(
        f"{name!r} is not a supported key encapsulation mechanism",
        hint=f"use {KEM_HYBRID!r} (the default) or {KEM_X25519!r}",
    )


@dataclass(frozen=True, slots=True)
class EncryptionPublicKey:
    """A keyholder's public encryption key: for the hybrid KEM, the ML-KEM-768 encapsulation
    key (1184 bytes) followed by the X25519 public key (32 bytes); for X25519, its 32 bytes."""

    kem: Kem
    raw: bytes

    def __post_init__(self) -> None:
        _kem(self.kem)
        if len(self.raw) != _PUBLIC_BYTES[self.kem]:
            raise UsageError(
                f"a {self.kem} public key is {_PUBLIC_BYTES[self.kem]} bytes, not {len(self.raw)}"
            )
        # A low-order X25519 point (all zeros, among others) gives every sender the all-zero
        # shared secret, which cryptography refuses only when wrapping, with a bare
        # ValueError: refuse the key where it is read instead.
        try:
            x25519.X25519PrivateKey.generate().exchange(
                x25519.X25519PublicKey.from_public_bytes(self.raw[-32:])
            )
        except ValueError:
            raise UsageError(
                f"the X25519 part of this {self.kem} public key is a low-order point, which "
                "gives no shared secret",
                hint="the key was damaged or forged: have the keyholder publish their key "
                "again (`heritage keys new-encryption`)",
            ) from None

    @property
    def key_id(self) -> bytes:
        """sha2-256 of a domain tag, the KEM name and the public key: names the recipient."""
        return hashlib.sha256(_KEY_ID_DOMAIN + self.kem.encode() + b"\x00" + self.raw).digest()

    def to_json(self) -> dict[str, str]:
        return {
            "kem": self.kem,
            "public_key": _b64(self.raw),
            "key_id": "0x" + self.key_id.hex(),
        }

    @classmethod
    def from_json(cls, value: object, where: str = "the public key") -> EncryptionPublicKey:
        """Read :meth:`to_json`'s form back; the key id, when present, must match."""
        if not isinstance(value, Mapping):
            raise UsageError(f"{where} is not a JSON object with kem and public_key")
        key = cls(_kem(value.get("kem")), _unb64(value.get("public_key"), where))
        claimed = value.get("key_id")
        if claimed is not None and claimed != "0x" + key.key_id.hex():
            raise UsageError(f"{where} names key id {claimed}, but its key's id differs")
        return key

    def _hpke(self) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
        try:
            if self.kem == KEM_X25519:
                return x25519.X25519PublicKey.from_public_bytes(self.raw)
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:_MLKEM_PUBLIC]),
                x25519.X25519PublicKey.from_public_bytes(self.raw[_MLKEM_PUBLIC:]),
            )
        except ValueError:
            raise UsageError(
                f"these {len(self.raw)} bytes are not a {self.kem} public key"
            ) from None


@dataclass(frozen=True, slots=True, repr=False)
class EncryptionKeyPair:
    """A keyholder's encryption key pair. ``secret`` is the ML-KEM-768 seed (64 bytes) followed
    by the X25519 private key (32), or the X25519 private key alone; never shown by ``repr``."""

    kem: Kem
    secret: bytes
    public: EncryptionPublicKey

    @classmethod
    def generate(cls, kem: Kem = DEFAULT_KEM) -> EncryptionKeyPair:
        """A new key pair from the OS's CSPRNG."""
        kem = _kem(kem)
        if kem == KEM_X25519:
            return cls.from_secret(kem, x25519.X25519PrivateKey.generate().private_bytes_raw())
        seed = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
        return cls.from_secret(kem, seed + x25519.X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_secret(cls, kem: Kem, secret: bytes) -> EncryptionKeyPair:
        """The key pair of ``secret`` (the form :attr:`secret` holds)."""
        kem = _kem(kem)
        if len(secret) != _SECRET_BYTES[kem]:
            raise UsageError(f"a {kem} private key is {_SECRET_BYTES[kem]} bytes")
        if kem == KEM_X25519:
            public = x25519.X25519PrivateKey.from_private_bytes(secret).public_key()
            return cls(kem, secret, EncryptionPublicKey(kem, public.public_bytes_raw()))
        ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:_MLKEM_SEED])
        xk = x25519.X25519PrivateKey.from_private_bytes(secret[_MLKEM_SEED:])
        raw = ml.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()
        return cls(kem, secret, EncryptionPublicKey(kem, raw))

    def __repr__(self) -> str:
        return f"EncryptionKeyPair(kem={self.kem!r}, key_id=0x{self.public.key_id.hex()})"

    def _hpke(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        if self.kem == KEM_X25519:
            return x25519.X25519PrivateKey.from_private_bytes(self.secret)
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.secret[:_MLKEM_SEED]),
            x25519.X25519PrivateKey.from_private_bytes(self.secret[_MLKEM_SEED:]),
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise UsageError(f"{where} is missing a base64 field")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise UsageError(f"{where} has a field that is not base64") from None


# ---- passphrase protection of a key pair at rest ---------------------------------------------

KEY_DOCUMENT_TYPE: Final = "heritage/encryption-key"
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


def _public_part(address: str, public: EncryptionPublicKey) -> dict[str, Any]:
    return {"type": KEY_DOCUMENT_TYPE, "version": 1, "address": address, **public.to_json()}


def _scrypt(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        passphrase.encode("utf-8")
    )


def lock_keypair(
    keypair: EncryptionKeyPair, address: str, passphrase: str, *, scrypt_n: int
) -> dict[str, Any]:
    """The at-rest document of ``keypair``: public part in clear, secret sealed with
    AES-256-GCM under scrypt(passphrase); the public part (owner address included) is the
    AEAD's associated data, so editing it makes the file fail to open."""
    if not passphrase:
        raise UsageError("the passphrase is empty", hint="choose a non-empty passphrase")
    public = _public_part(address, keypair.public)
    salt = secrets.token_bytes(32)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_scrypt(passphrase, salt, scrypt_n)).encrypt(
        nonce, keypair.secret, rfc8785.dumps(public)
    )
    return {
        **public,
        "crypto": {
            "kdf": "scrypt",
            "kdfparams": {"n": scrypt_n, "r": _SCRYPT_R, "p": _SCRYPT_P, "dklen": 32,
                          "salt": salt.hex()},
            "cipher": "aes-256-gcm",
            "nonce": nonce.hex(),
            "ciphertext": sealed.hex(),
        },
    }


def unlock_keypair(
    document: Mapping[str, Any], passphrase: str, *, where: str = "the encryption key file"
) -> tuple[str, EncryptionKeyPair]:
    """(owner address, key pair) from :func:`lock_keypair`'s document;
    :class:`WrongPassphrase` if the passphrase (or the file) does not open it."""
    try:
        public = EncryptionPublicKey.from_json(document, where)
        address = document["address"]
        crypto = document["crypto"]
        params = crypto["kdfparams"]
        if crypto["kdf"] != "scrypt" or crypto["cipher"] != "aes-256-gcm":
            raise UsageError(f"{where} uses an unknown kdf or cipher")
        n, salt = int(params["n"]), bytes.fromhex(params["salt"])
        if params["r"] != _SCRYPT_R or params["p"] != _SCRYPT_P or n < 2 or n & (n - 1):
            raise UsageError(f"{where} has unusable scrypt parameters")
        nonce, sealed = bytes.fromhex(crypto["nonce"]), bytes.fromhex(crypto["ciphertext"])
        if not isinstance(address, str):
            raise UsageError(f"{where} does not name its owner's address")
    except (KeyError, TypeError, ValueError, UsageError):
        raise UsageError(
            f"{where} is not a Heritage Ledger encryption key file",
            hint="restore it from a backup (`heritage keys export` includes it)",
        ) from None
    try:
        secret = AESGCM(_scrypt(passphrase, salt, n)).decrypt(
            nonce, sealed, rfc8785.dumps(_public_part(address, public))
        )
    except InvalidTag:
        raise WrongPassphrase(
            f"the passphrase does not decrypt {where}",
            hint="it is the passphrase of the keyholder's Ethereum key; or the file was edited",
        ) from None
    keypair = EncryptionKeyPair.from_secret(public.kem, secret)
    if keypair.public != public:
        raise WrongPassphrase(f"{where} holds a secret that does not match its public key")
    return address, keypair


# ---- envelopes: the content key wrapped per recipient ------------------------------------------

ENVELOPE_TYPE: Final = "heritage/envelope"
_WRAP_INFO: Final = b"heritage-ledger/envelope/v1\x00"


def _wrap_info(kem: Kem, item: bytes) -> bytes:
    # Binds the wrapped key to the suite, the stream format and the item it opens: moved into
    # another item's envelope, HPKE's key schedule differs and the wrap does not open.
    return (
        _WRAP_INFO
        + f"{kem}/{_KDF_NAME}/{_AEAD_NAME}/stream-v{STREAM_VERSION}".encode("ascii")
        + b"\x00"
        + item
    )


@dataclass(frozen=True, slots=True)
class Recipient:
    """One wrapped copy of the content key: for the key ``key_id``, HPKE ``enc ‖ ciphertext``."""

    key_id: bytes
    kem: Kem
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """The content key of ``item`` (32 bytes: the registry's item key) wrapped per recipient."""

    item: bytes
    recipients: tuple[Recipient, ...]

    def key_ids(self) -> frozenset[bytes]:
        return frozenset(r.key_id for r in self.recipients)

    def to_document(self) -> dict[str, Any]:
        """The JSON document (store it as canonical JSON, one raw block)."""
        return {
            "type": ENVELOPE_TYPE,
            "version": 1,
            "item": "0x" + self.item.hex(),
            "kdf": _KDF_NAME,
            "aead": _AEAD_NAME,
            "stream": f"v{STREAM_VERSION}",
            "recipients": [
                {"key_id": "0x" + r.key_id.hex(), "kem": r.kem, "wrapped": _b64(r.wrapped)}
                for r in sorted(self.recipients, key=lambda r: r.key_id)
            ],
        }

    @classmethod
    def from_document(cls, document: object, where: str = "the envelope") -> Envelope:
        """Read :meth:`to_document`'s form back, checking every field."""
        if not isinstance(document, Mapping) or document.get("type") != ENVELOPE_TYPE:
            raise UsageError(f"{where} is not a {ENVELOPE_TYPE} document")
        if (
            document.get("version") != 1
            or document.get("kdf") != _KDF_NAME
            or document.get("aead") != _AEAD_NAME
            or document.get("stream") != f"v{STREAM_VERSION}"
        ):
            raise UsageError(f"{where} uses a version or algorithm this program does not know")
        item = _hex32(document.get("item"), where)
        entries = document.get("recipients")
        if not isinstance(entries, list) or not entries:
            raise UsageError(f"{where} lists no recipients")
        recipients: list[Recipient] = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise UsageError(f"{where} has a recipient that is not an object")
            recipients.append(
                Recipient(
                    _hex32(entry.get("key_id"), where),
                    _kem(entry.get("kem")),
                    _unb64(entry.get("wrapped"), where),
                )
            )
        if len({r.key_id for r in recipients}) != len(recipients):
            raise UsageError(f"{where} lists a recipient twice")
        return cls(item, tuple(recipients))


def _hex32(value: object, where: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise UsageError(f"{where} has a field that is not 0x and 64 hex digits")


def wrap(
    content_key: bytes, item: bytes, recipients: Iterable[EncryptionPublicKey]
) -> Envelope:
    """Wrap ``content_key`` of ``item`` (its 32-byte item key) for each recipient."""
    _check_content_key(content_key)
    if len(item) != 32:
        raise UsageError("an item key is 32 bytes")
    unique = {r.key_id: r for r in recipients}
    if not unique:
        raise UsageError(
            "an encrypted item needs at least one recipient",
            hint="give the keyholders encryption keys (`heritage keys new-encryption`)",
        )
    wrapped = tuple(
        Recipient(key_id, key.kem, _SUITES[key.kem].encrypt(content_key, key._hpke(),
                                                             info=_wrap_info(key.kem, item)))
        for key_id, key in sorted(unique.items())
    )
    return Envelope(item, wrapped)


def unwrap(envelope: Envelope, keypair: EncryptionKeyPair, item: bytes) -> bytes:
    """The content key, opened with ``keypair``, for the item the caller expects (never the
    envelope's own claim): :class:`DecryptionFailed` if it is not a recipient or the wrapped
    key was made for another item."""
    key_id = keypair.public.key_id
    entry = next((r for r in envelope.recipients if r.key_id == key_id), None)
    if entry is None:
        raise DecryptionFailed(
            f"key 0x{key_id.hex()} is not a recipient of this envelope",
            hint="only the keyholders it was wrapped for can open it; after a rotation use "
            "a current keyholder's key",
        )
    if entry.kem != keypair.kem:
        raise DecryptionFailed(
            f"the wrapped key for 0x{key_id.hex()} is not for a {keypair.kem} key"
        )
    try:
        content_key = _SUITES[keypair.kem].decrypt(
            entry.wrapped, keypair._hpke(), info=_wrap_info(keypair.kem, item)
        )
    except (InvalidTag, ValueError):
        raise DecryptionFailed(
            f"the wrapped key for 0x{key_id.hex()} does not open for item 0x{item.hex()}",
            hint="the envelope was altered or belongs to another item",
        ) from None
    if len(content_key) != CONTENT_KEY_BYTES:
        raise DecryptionFailed("the wrapped key is not a content key")
    return content_key


def rewrap(
    envelope: Envelope,
    holder: EncryptionKeyPair,
    new_recipients: Sequence[EncryptionPublicKey],
    *,
    item: bytes,
) -> Envelope:
    """A new envelope of ``item``'s content key for ``new_recipients`` (a rotation, a custody
    move), opened with a current recipient's key pair ``holder``. ``item`` is the item the
    caller expects, as for :func:`unwrap`: an envelope that claims another item is refused, so
    a wrong envelope is never re-issued under the caller's item."""
    if envelope.item != item:
        raise DecryptionFailed(
            f"the envelope is for item 0x{envelope.item.hex()}, not for item 0x{item.hex()}",
            hint="the envelope named for this item belongs to another one; nothing was re-wrapped",
        )
    content_key = unwrap(envelope, holder, item)
    return wrap(content_key, item, new_recipients)
