"""Keystore v3 files under ``<data dir>/keys/``: create, import, list, export, and load a signer.

Each key is one file ``keys/<checksum address>.json``, encrypted with eth-account
(``Account.encrypt``: scrypt, AES-128-CTR, keccak MAC), mode 0600 in a 0700 directory, with an
optional ``label`` stored beside the standard fields. Key material and passphrases never
appear in a message, an exception, a log line or any other file; exceptions raised while a
key or passphrase is in scope are re-raised ``from None`` so no traceback carries them.

Beside each Ethereum key a keyholder may hold an *encryption* key pair (HPKE, see
:mod:`ledger.crypto`) for restricted items: ``keys/encryption/<checksum address>.json``,
sealed with the same passphrase (scrypt + AES-256-GCM), mode 0600. ``export_key`` writes it
into the exported keystore file under ``heritage_encryption_key`` (still encrypted; keystore v3
readers ignore the extra field) and ``import_keystore`` restores it from there.

Scrypt parameters are eth-account's defaults (n = 2**18, r = 8, p = 1: about half a second
and 256 MiB per encryption or decryption) unless a caller passes ``unsafe_light_kdf=True``,
which uses n = 2**10. That exists so that test suites can create many keys quickly; the CLI
only exposes it as a hidden ``--unsafe-light-kdf`` flag, and nothing ever turns it on by
default. A file made that way still decrypts with any keystore v3 reader.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keyfile.exceptions import EthKeyfileException
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from ledger import strict_json
from ledger.crypto import (
    DEFAULT_KEM,
    EncryptionKeyPair,
    EncryptionPublicKey,
    Kem,
    lock_keypair,
    unlock_keypair,
)
from ledger.errors import (
    KeyExists,
    KeystoreError,
    NoSuchFile,
    NotFound,
    UsageError,
    WrongPassphrase,
)
from ledger.settings import Settings

__all__ = [
    "DEFAULT_SCRYPT_N",
    "ENCRYPTION_EXPORT_FIELD",
    "LIGHT_SCRYPT_N",
    "EncryptionKeyInfo",
    "KeyInfo",
    "encryption_key_info",
    "encryption_keys_dir",
    "export_key",
    "import_keystore",
    "import_private_key",
    "keys_dir",
    "list_encryption_keys",
    "list_keys",
    "load_encryption_key",
    "load_encryption_key_file",
    "load_keystore_file",
    "load_signer",
    "new_encryption_key",
    "new_key",
    "parse_private_key",
    "read_passphrase_file",
]

DEFAULT_SCRYPT_N: Final = 2**18  # eth-account's (eth-keyfile's) default work factor
LIGHT_SCRYPT_N: Final = 2**10  # tests only: see unsafe_light_kdf
_MAX_KEYSTORE_BYTES: Final = 64 * 1024
_MAX_LABEL: Final = 200
_HEX_KEY: Final = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The field of an exported keystore file that carries the (still sealed) encryption key.
ENCRYPTION_EXPORT_FIELD: Final = "heritage_encryption_key"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key in the keystore, without its secret: what `heritage keys list` shows."""

    address: ChecksumAddress
    label: str | None
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "label": self.label, "path": str(self.path)}


def keys_dir(settings: Settings) -> Path:
    """``<data dir>/keys``."""
    return settings.data_dir / "keys"


def _ensure_dir(settings: Settings) -> Path:
    folder = keys_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask; an older dir may be wider
    return folder


def _address(text: str) -> ChecksumAddress:
    if not isinstance(text, str) or not is_address(text):
        raise UsageError(f"{text!r} is not an Ethereum address", hint="e.g. 0x followed by 40 hex")
    return to_checksum_address(text)


def _key_path(settings: Settings, address: ChecksumAddress) -> Path:
    return keys_dir(settings) / f"{address}.json"


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or passphrase == "":
        raise UsageError("the passphrase is empty", hint="choose a non-empty passphrase")


def _check_label(label: str | None) -> None:
    if label is None:
        return
    if not label.strip() or len(label) > _MAX_LABEL or any(ord(c) < 32 for c in label):
        raise UsageError(
            f"label {label[:40]!r} is empty, longer than {_MAX_LABEL} characters, "
            "or has control characters",
            hint="use a short, printable label",
        )


def _write_private(path: Path, data: bytes, *, fsync: bool, exclusive: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600: temp file, fsync, then link (``exclusive``:
    refuse an existing ``path``) or rename, then fsync the directory."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # O_CREAT's mode is filtered by the umask too
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyExists(
                    f"{path} already exists", hint="choose another path or remove it first"
                ) from None
        else:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    if fsync:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _store(
    settings: Settings, address: ChecksumAddress, document: dict[str, Any], label: str | None
) -> KeyInfo:
    folder = _ensure_dir(settings)
    path = folder / f"{address}.json"
    if path.exists():
        raise KeyExists(
            f"the keystore already holds {address} ({path})",
            hint="`heritage keys list` shows it; remove the file first to replace it",
        )
    stored = dict(document)
    stored.pop("label", None)
    if label is not None:
        stored["label"] = label
    data = (json.dumps(stored, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        _write_private(path, data, fsync=settings.fsync, exclusive=True)
    except KeyExists:
        raise KeyExists(
            f"the keystore already holds {address} ({path})",
            hint="`heritage keys list` shows it; remove the file first to replace it",
        ) from None
    return KeyInfo(address=address, label=label, path=path)


def _encrypt(private_key: bytes, passphrase: str, unsafe_light_kdf: bool) -> dict[str, Any]:
    n = LIGHT_SCRYPT_N if unsafe_light_kdf else DEFAULT_SCRYPT_N
    try:
        return Account.encrypt(private_key, passphrase, kdf="scrypt", iterations=n)
    except (EthKeyfileException, ValueError, TypeError):
        raise KeystoreError("the private key could not be encrypted") from None


def new_key(
    settings: Settings,
    passphrase: str,
    *,
    label: str | None = None,
    unsafe_light_kdf: bool = False,
    encryption: Kem | None = None,
) -> KeyInfo:
    """Generate a key (from the OS's CSPRNG), encrypt it with ``passphrase`` and store it;
    with ``encryption`` (a KEM name), also an encryption key pair of that KEM beside it."""
    _check_passphrase(passphrase)
    _check_label(label)
    account = Account.create()
    document = _encrypt(bytes(account.key), passphrase, unsafe_light_kdf)
    info = _store(settings, account.address, document, label)
    if encryption is not None:
        keypair = EncryptionKeyPair.generate(encryption)
        _store_encryption(
            settings, info.address, lock_keypair(
                keypair, info.address, passphrase, scrypt_n=_scrypt_n(unsafe_light_kdf)
            )
        )
    return info


def parse_private_key(text: str | bytes) -> bytes:
    """A 32-byte secp256k1 private key from hex text (``0x`` optional, whitespace around it
    ignored). The message of a failure never repeats the input."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError("the private key is not hex text") from None
    match = _HEX_KEY.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            "the private key is not 64 hex digits (optionally 0x-prefixed)",
            hint="the key file or prompt must hold exactly one hex private key",
        )
    key = bytes.fromhex(match.group(1))
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_N:
        raise UsageError("the private key is outside the secp256k1 key range")
    return key


def import_private_key(
    settings: Settings,
    private_key: bytes,
    passphrase: str,
    *,
    label: str | None = None,
    unsafe_light_kdf: bool = False,
) -> KeyInfo:
    """Encrypt an existing raw private key with ``passphrase`` and store it."""
    _check_passphrase(passphrase)
    _check_label(label)
    if len(private_key) != 32:
        raise UsageError("a private key is 32 bytes")
    try:
        address = Account.from_key(private_key).address
    except (ValueError, TypeError):
        raise UsageError("the private key is outside the secp256k1 key range") from None
    document = _encrypt(private_key, passphrase, unsafe_light_kdf)
    return _store(settings, address, document, label)


def _decrypt(document: dict[str, Any], passphrase: str, where: str) -> bytes:
    try:
        return bytes(Account.decrypt(document, passphrase))
    except EthKeyfileException as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassphrase(
                f"the passphrase does not decrypt {where}",
                hint="check the passphrase (or the --password-file) and try again",
            ) from None
        raise KeystoreError(f"{where} is not a usable keystore v3 file") from None
    except (ValueError, TypeError, KeyError):
        raise KeystoreError(f"{where} is not a usable keystore v3 file") from None


def _parse_keystore(text: str | bytes, where: str) -> dict[str, Any]:
    if len(text) > _MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"{where} is too large to be a keystore file")
    try:
        document = strict_json.loads(text)
    except ValueError as exc:
        raise KeystoreError(
            f"{where} is not JSON ({exc}), so not a keystore v3 file"
        ) from None
    if not isinstance(document, dict) or document.get("version") != 3:
        raise KeystoreError(f'{where} is not a keystore v3 file (no "version": 3)')
    if not isinstance(document.get("crypto", document.get("Crypto")), dict):
        raise KeystoreError(f"{where} is not a keystore v3 file (no crypto section)")
    return document


def import_keystore(
    settings: Settings,
    keystore: str | bytes,
    passphrase: str,
    *,
    label: str | None = None,
    where: str = "the keystore file",
) -> KeyInfo:
    """Store an existing keystore v3 document as it is (still encrypted), after checking that
    ``passphrase`` opens it and that it holds the address it claims."""
    _check_label(label)
    document = _parse_keystore(keystore, where)
    key = _decrypt(document, passphrase, where)
    address = Account.from_key(key).address
    claimed = document.get("address")
    if isinstance(claimed, str) and claimed and _normal(claimed) != address.lower():
        raise KeystoreError(
            f"{where} claims address {claimed} but its key belongs to {address}",
            hint="the file was edited or corrupted; do not use it",
        )
    if label is None and isinstance(document.get("label"), str):
        label = document["label"]
        _check_label(label)
    # An export of `export_key` carries the encryption key too: check it opens with the same
    # passphrase and belongs to this address before anything is stored.
    sealed = document.pop(ENCRYPTION_EXPORT_FIELD, None)
    if sealed is not None:
        owner, _ = unlock_keypair(sealed, passphrase, where=f"the encryption key in {where}")
        if _normal(owner) != address.lower():
            raise KeystoreError(
                f"the encryption key in {where} belongs to {owner}, not {address}",
                hint="the file was edited; do not use it",
            )
        if _encryption_path(settings, address).exists():
            raise KeyExists(f"the keystore already holds an encryption key for {address}")
    info = _store(settings, address, document, label)
    if sealed is not None:
        _store_encryption(settings, address, dict(sealed))
    return info


def _normal(address: str) -> str:
    text = address.lower()
    return text if text.startswith("0x") else "0x" + text


def _read_stored(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no keystore file at {path}") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
    return _parse_keystore(text, str(path))


def _info(path: Path) -> KeyInfo:
    document = _read_stored(path)
    claimed = document.get("address")
    if not isinstance(claimed, str) or not is_address(_normal(claimed)):
        raise KeystoreError(f"{path} does not name its address", hint="re-import the key")
    address = to_checksum_address(_normal(claimed))
    if path.name != f"{address}.json":
        raise KeystoreError(
            f"{path} holds the key of {address}; its name says otherwise",
            hint=f"rename it to {address}.json",
        )
    label = document.get("label")
    return KeyInfo(address=address, label=label if isinstance(label, str) else None, path=path)


def list_keys(settings: Settings) -> list[KeyInfo]:
    """Every key in the keystore, sorted by address. Reads no secret."""
    folder = keys_dir(settings)
    if not folder.is_dir():
        return []
    entries = [
        _info(path)
        for path in folder.iterdir()
        if path.suffix == ".json" and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(entries, key=lambda info: int(info.address, 16))


def _find(settings: Settings, address: str) -> Path:
    checksum = _address(address)
    path = _key_path(settings, checksum)
    if not path.is_file():
        raise NotFound(
            f"no key for {checksum} in {keys_dir(settings)}",
            hint="`heritage keys list` shows the keys there; `heritage keys import` adds one",
        )
    return path


def export_key(settings: Settings, address: str, output: Path) -> Path:
    """Copy the (encrypted) keystore file of ``address`` to ``output``, mode 0600, with its
    encryption key (still sealed) under ``heritage_encryption_key`` when it has one; refuses
    to overwrite an existing file."""
    path = _find(settings, address)
    data = path.read_bytes()
    document = _parse_keystore(data, str(path))
    encryption = _encryption_path(settings, _address(address))
    if encryption.is_file():
        document[ENCRYPTION_EXPORT_FIELD] = _read_encryption(encryption)
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    target = output.expanduser()
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists", hint="choose a new output path")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    try:
        _write_private(target, data, fsync=settings.fsync, exclusive=True)
    except KeyExists:
        raise UsageError(f"{target} already exists", hint="choose a new output path") from None
    return target


def load_signer(settings: Settings, address: str, passphrase: str) -> LocalAccount:
    """Decrypt the key of ``address`` for signing; :class:`WrongPassphrase` if it does not open."""
    path = _find(settings, address)
    document = _read_stored(path)
    key = _decrypt(document, passphrase, str(path))
    account: LocalAccount = Account.from_key(key)
    if account.address != _address(address):
        raise KeystoreError(
            f"{path} decrypts to the key of {account.address}, not {_address(address)}",
            hint="the file was renamed or edited; do not use it",
        )
    return account


def load_keystore_file(path: Path, passphrase: str) -> LocalAccount:
    """The key in a keystore v3 file anywhere on disk (a keyholder's own, not necessarily in
    the data directory); :class:`WrongPassphrase` if it does not open. The key never appears
    in an error."""
    try:
        with path.open("rb") as stream:
            data = stream.read(_MAX_KEYSTORE_BYTES + 1)
    except FileNotFoundError:
        raise NoSuchFile(f"no such file: {path}", hint="pass the keystore file's path") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a keystore file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > _MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"{path} is too large to be a keystore file")
    try:
        document = strict_json.loads(data)
    except ValueError:
        raise KeystoreError(f"{path} is not a usable keystore v3 file") from None
    if not isinstance(document, dict) or document.get("version") != 3:
        raise KeystoreError(f"{path} is not a usable keystore v3 file")
    account: LocalAccount = Account.from_key(_decrypt(document, passphrase, str(path)))
    return account


def read_passphrase_file(path: Path) -> str:
    """The passphrase in ``path``: its text without one trailing newline (as geth reads it)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the password file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the password file {path} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise UsageError(f"the password file {path} is empty")
    return text


# ---- encryption key pairs (HPKE) beside the Ethereum keys ---------------------------------


@dataclass(frozen=True, slots=True)
class EncryptionKeyInfo:
    """A keyholder's encryption key, without its secret: its owner, public key and file."""

    address: ChecksumAddress
    public: EncryptionPublicKey
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "path": str(self.path), **self.public.to_json()}


def encryption_keys_dir(settings: Settings) -> Path:
    """``<data dir>/keys/encryption``."""
    return keys_dir(settings) / "encryption"


def _encryption_path(settings: Settings, address: ChecksumAddress) -> Path:
    return encryption_keys_dir(settings) / f"{address}.json"


def _scrypt_n(unsafe_light_kdf: bool) -> int:
    return LIGHT_SCRYPT_N if unsafe_light_kdf else DEFAULT_SCRYPT_N


def _store_encryption(
    settings: Settings, address: ChecksumAddress, document: dict[str, Any]
) -> EncryptionKeyInfo:
    _ensure_dir(settings)
    folder = encryption_keys_dir(settings)
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    path = _encryption_path(settings, address)
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        _write_private(path, data, fsync=settings.fsync, exclusive=True)
    except KeyExists:
        raise KeyExists(
            f"the keystore already holds an encryption key for {address} ({path})",
            hint="`heritage keys list` shows it; remove the file first to replace it",
        ) from None
    return _encryption_info(path)


def _read_encryption(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
    if len(text) > _MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"{path} is too large to be an encryption key file")
    try:
        document = strict_json.loads(text)
    except ValueError as exc:
        raise KeystoreError(f"{path} is not JSON ({exc}), so not an encryption key file") from None
    if not isinstance(document, dict):
        raise KeystoreError(f"{path} is not an encryption key file")
    return document


def _encryption_info(path: Path) -> EncryptionKeyInfo:
    document = _read_encryption(path)
    claimed = document.get("address")
    if not isinstance(claimed, str) or not is_address(claimed):
        raise KeystoreError(f"{path} does not name its owner's address", hint="restore it")
    address = to_checksum_address(claimed)
    if path.name != f"{address}.json":
        raise KeystoreError(f"{path} holds the encryption key of {address}; its name differs")
    try:
        public = EncryptionPublicKey.from_json(document, str(path))
    except UsageError:
        raise KeystoreError(f"{path} is not a usable encryption key file") from None
    return EncryptionKeyInfo(address, public, path)


def new_encryption_key(
    settings: Settings,
    address: str,
    passphrase: str,
    *,
    kem: Kem = DEFAULT_KEM,
    unsafe_light_kdf: bool = False,
) -> EncryptionKeyInfo:
    """Generate an encryption key pair for the keyholder ``address`` (whose Ethereum key must
    be here and open with ``passphrase``: the two share it) and store it sealed."""
    account = load_signer(settings, address, passphrase)
    keypair = EncryptionKeyPair.generate(kem)
    document = lock_keypair(
        keypair, account.address, passphrase, scrypt_n=_scrypt_n(unsafe_light_kdf)
    )
    return _store_encryption(settings, account.address, document)


def encryption_key_info(settings: Settings, address: str) -> EncryptionKeyInfo:
    """The encryption key of ``address`` (public part only); :class:`NotFound` if none."""
    checksum = _address(address)
    path = _encryption_path(settings, checksum)
    if not path.is_file():
        raise NotFound(
            f"{checksum} has no encryption key in {encryption_keys_dir(settings)}",
            hint=f"create one with `heritage keys new-encryption {checksum}`",
        )
    return _encryption_info(path)


def list_encryption_keys(settings: Settings) -> list[EncryptionKeyInfo]:
    """Every encryption key here, sorted by owner address. Reads no secret."""
    folder = encryption_keys_dir(settings)
    if not folder.is_dir():
        return []
    entries = [
        _encryption_info(path)
        for path in folder.iterdir()
        if path.suffix == ".json" and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(entries, key=lambda info: int(info.address, 16))


def load_encryption_key(settings: Settings, address: str, passphrase: str) -> EncryptionKeyPair:
    """Unseal the encryption key pair of ``address``; :class:`WrongPassphrase` if it does not
    open with ``passphrase``."""
    info = encryption_key_info(settings, address)
    owner, keypair = unlock_keypair(_read_encryption(info.path), passphrase, where=str(info.path))
    if _normal(owner) != info.address.lower() or keypair.public != info.public:
        raise KeystoreError(f"{info.path} does not hold the key it names", hint="restore it")
    return keypair


def load_encryption_key_file(path: Path, passphrase: str) -> EncryptionKeyPair:
    """Unseal the encryption key pair in a file outside the keystore: an export of
    :func:`export_key` (keystore v3 with ``heritage_encryption_key``) or an encryption key
    file itself; :class:`WrongPassphrase` if it does not open."""
    document = _read_encryption(path)
    sealed = document.get(ENCRYPTION_EXPORT_FIELD, document)
    if not isinstance(sealed, dict) or "crypto" not in sealed or "kem" not in sealed:
        raise KeystoreError(
            f"{path} holds no encryption key",
            hint="pass a file written by `heritage keys export` of a key that has one",
        )
    _, keypair = unlock_keypair(sealed, passphrase, where=f"the encryption key in {path}")
    return keypair
