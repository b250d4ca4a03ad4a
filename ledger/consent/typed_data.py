"""EIP-712 typed data for every action the registry accepts: values, signing, recovery.

The type definitions here and the ``*_TYPEHASH`` constants of ``ProvenanceRegistry.sol``
describe the same structs; a test reads the constants from the deployed contract and checks
them against :func:`type_hash`. The domain always carries the live chain id and the registry's
address, so a signature is good on one chain and one contract only.

Signatures are 65 bytes r‖s‖v with v in {27, 28} and s in the lower half of the curve order;
:func:`recover_signer` and :func:`check_signatures` refuse anything else, exactly as the
contract does, so the two never disagree about a signature.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from coincurve import PublicKey
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.errors import HeritageError

__all__ = [
    "ACTION_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "HALF_ORDER",
    "SECP256K1_N",
    "SIGNATURE_LENGTH",
    "Domain",
    "SignatureError",
    "TypedData",
    "address_word",
    "check_signatures",
    "checksum_address",
    "derivative_consent",
    "pack_signatures",
    "record_custody",
    "recover_address",
    "recover_signer",
    "revoke_terms",
    "rotate_keyholders",
    "set_description",
    "set_terms",
    "sign",
    "type_hash",
    "type_string",
]

DOMAIN_NAME: Final = "Heritage Ledger ProvenanceRegistry"
DOMAIN_VERSION: Final = "1"
SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER: Final = SECP256K1_N // 2
SIGNATURE_LENGTH: Final = 65

_Field = tuple[str, str]

#: Every signed action, as (field name, Solidity type) in the order the contract hashes them.
ACTION_TYPES: Final[Mapping[str, tuple[_Field, ...]]] = {
    "CreateCommunity": (
        ("community", "bytes32"),
        ("keyholders", "address[]"),
        ("threshold", "uint8"),
        ("document", "bytes32"),
        ("deadline", "uint64"),
    ),
    "RotateKeyholders": (
        ("community", "bytes32"),
        ("keyholders", "address[]"),
        ("threshold", "uint8"),
        ("document", "bytes32"),
        ("nonce", "uint64"),
        ("deadline", "uint64"),
    ),
    "RegisterItem": (
        ("community", "bytes32"),
        ("cid", "bytes"),
        ("metadata", "bytes32"),
        ("terms", "bytes32"),
        ("commitment", "bytes32"),
        ("deadline", "uint64"),
    ),
    "RegisterBatch": (
        ("community", "bytes32"),
        ("root", "bytes32"),
        ("count", "uint32"),
        ("terms", "bytes32"),
        ("manifest", "bytes32"),
        ("deadline", "uint64"),
    ),
    "RegisterDerivative": (
        ("community", "bytes32"),
        ("parent", "bytes32"),
        ("cid", "bytes"),
        ("metadata", "bytes32"),
        ("terms", "bytes32"),
        ("method", "bytes32"),
        ("aiEnhanced", "bool"),
        ("deadline", "uint64"),
    ),
    "ConsentDerivative": (
        ("parent", "bytes32"),
        ("community", "bytes32"),
        ("cid", "bytes"),
        ("method", "bytes32"),
        ("aiEnhanced", "bool"),
        ("deadline", "uint64"),
    ),
    "SetTerms": (
        ("community", "bytes32"),
        ("subject", "bytes32"),
        ("version", "uint32"),
        ("terms", "bytes32"),
        ("deadline", "uint64"),
    ),
    "SetDescription": (
        ("community", "bytes32"),
        ("subject", "bytes32"),
        ("version", "uint32"),
        ("description", "bytes32"),
        ("deadline", "uint64"),
    ),
    "RevokeTerms": (
        ("community", "bytes32"),
        ("subject", "bytes32"),
        ("version", "uint32"),
        ("deadline", "uint64"),
    ),
    "RecordCustody": (
        ("item", "bytes32"),
        ("action", "uint8"),
        ("community", "bytes32"),
        ("counterparty", "bytes32"),
        ("document", "bytes32"),
        ("nonce", "uint64"),
        ("deadline", "uint64"),
    ),
}

_DOMAIN_FIELDS: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)


class SignatureError(HeritageError):
    """A signature that the registry would refuse, with the reason it would give."""

    code = "signature_invalid"


def type_string(primary: str) -> str:
    """The EIP-712 ``encodeType`` string of an action, e.g. ``SetTerms(bytes32 community,…)``."""
    fields = ACTION_TYPES[primary]
    return f"{primary}(" + ",".join(f"{t} {n}" for n, t in fields) + ")"


def type_hash(primary: str) -> bytes:
    return keccak(text=type_string(primary))


_TYPE_HASHES: Final = {primary: type_hash(primary) for primary in ACTION_TYPES}
_DOMAIN_TYPE_HASH: Final = keccak(
    text="EIP712Domain(" + ",".join(f"{t} {n}" for n, t in _DOMAIN_FIELDS) + ")"
)


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise HeritageError(f"field {name} is {value!r}, not bytes or 0x-prefixed hex")


@functools.lru_cache(maxsize=4096)
def checksum_address(address: str | bytes) -> str:
    """EIP-55 form of an address (memoised: verification meets the same few many times)."""
    return str(to_checksum_address(address))


@functools.lru_cache(maxsize=4096)
def address_word(address: str | bytes) -> bytes:
    """An address as a 32-byte ABI word (EIP-55 checked when given as mixed-case text)."""
    return bytes(12) + bytes.fromhex(checksum_address(address)[2:])


def _encode_field(kind: str, value: Any, name: str) -> bytes:
    """EIP-712 ``encodeData`` of one field: a 32-byte word."""
    if kind == "bytes32":
        raw = _as_bytes(value, name)
        if len(raw) != 32:
            raise HeritageError(f"field {name} is {len(raw)} bytes, not 32")
        return raw
    if kind == "bytes":
        return keccak(_as_bytes(value, name))
    if kind == "address":
        return address_word(str(value))
    if kind == "address[]":
        return keccak(b"".join(address_word(str(a)) for a in value))
    if kind == "bool":
        if not isinstance(value, bool):
            raise HeritageError(f"field {name} is {value!r}, not a boolean")
        return int(value).to_bytes(32, "big")
    if kind.startswith("uint"):
        bits = int(kind[4:])
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise HeritageError(f"field {name} is {value!r}, not a {kind}")
        return value.to_bytes(32, "big")
    raise HeritageError(f"field {name} has type {kind}, which no action uses")


@functools.lru_cache(maxsize=64)
def _domain_separator(domain: Domain) -> bytes:
    return keccak(
        _DOMAIN_TYPE_HASH
        + keccak(text=domain.name)
        + keccak(text=domain.version)
        + _encode_field("uint256", domain.chain_id, "chainId")
        + address_word(domain.verifying_contract)
    )


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain: this registry on this chain."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True, slots=True)
class TypedData:
    """One action to sign: its type, its values, and the domain it is valid in."""

    domain: Domain
    primary_type: str
    message: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.primary_type not in ACTION_TYPES:
            raise HeritageError(f"unknown action type {self.primary_type!r}")
        expected = {name for name, _ in ACTION_TYPES[self.primary_type]}
        if set(self.message) != expected:
            missing = sorted(expected - set(self.message))
            extra = sorted(set(self.message) - expected)
            raise HeritageError(
                f"{self.primary_type} needs exactly the fields {sorted(expected)}"
                f" (missing {missing}, unexpected {extra})"
            )

    def full_message(self) -> dict[str, Any]:
        """The JSON form that wallets and other EIP-712 libraries take."""
        return {
            "types": {
                "EIP712Domain": [{"name": n, "type": t} for n, t in _DOMAIN_FIELDS],
                self.primary_type: [
                    {"name": n, "type": t} for n, t in ACTION_TYPES[self.primary_type]
                ],
            },
            "primaryType": self.primary_type,
            "domain": self.domain.as_dict(),
            "message": dict(self.message),
        }

    def signable(self) -> SignableMessage:
        return encode_typed_data(full_message=self.full_message())

    def digest(self) -> bytes:
        """keccak256("\\x19\\x01" ‖ domainSeparator ‖ structHash): what keyholders sign.

        Hashed here directly for the few field types the actions use (verification checks
        many signatures, and eth-account's general encoder re-derives every type hash each
        time); a test holds it equal to eth-account's :meth:`signable`, and another to
        ethers' ``TypedDataEncoder``."""
        fields = ACTION_TYPES[self.primary_type]
        encoded = b"".join(
            _encode_field(kind, self.message[name], name) for name, kind in fields
        )
        struct_hash = keccak(_TYPE_HASHES[self.primary_type] + encoded)
        return keccak(b"\x19\x01" + _domain_separator(self.domain) + struct_hash)


def sign(typed: TypedData, private_key: bytes) -> bytes:
    """A 65-byte r‖s‖v signature (low s, v in {27, 28}) of ``typed``."""
    signed = Account.sign_message(typed.signable(), private_key=private_key)
    return bytes(signed.signature)


def recover_signer(digest: bytes, signature: bytes, index: int = 0) -> str:
    """The address that signed ``digest``, under the registry's rules; SignatureError if none."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SignatureError(
            f"signature {index} is {len(signature)} bytes; exactly 65 (r‖s‖v) are accepted"
        )
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if s > HALF_ORDER:
        raise SignatureError(f"signature {index} has a high s value (a malleated signature)")
    if v not in (27, 28):
        raise SignatureError(f"signature {index} has v = {v}; only 27 and 28 are accepted")
    if not (0 < r < SECP256K1_N) or s == 0:
        raise SignatureError(f"signature {index} is not a valid secp256k1 signature")
    address = recover_address(digest, signature[:64], v - 27)
    if address is None:
        raise SignatureError(f"signature {index} recovers no public key")
    return checksum_address(address)


def recover_address(digest: bytes, rs: bytes, parity: int) -> bytes | None:
    """The 20-byte address whose key made the 64-byte signature ``rs`` (r‖s) with recovery
    parity 0 or 1 over the 32-byte ``digest``, or None when no key does. libsecp256k1 (through
    coincurve) recovers; the caller has already applied its own rules to r, s and v."""
    try:
        public = PublicKey.from_signature_and_message(
            rs + bytes((parity,)), digest, hasher=None
        )
    except (ValueError, TypeError):  # coincurve: a signature that recovers no point
        return None
    return keccak(public.format(compressed=False)[1:])[12:]


def check_signatures(
    digest: bytes, keyholders: Sequence[str], required: int, signatures: bytes
) -> list[str]:
    """Mirror of the contract's check: packed signatures by strictly increasing keyholders.

    Returns the signers; raises SignatureError with the reason the contract would revert.
    """
    if len(signatures) % SIGNATURE_LENGTH:
        raise SignatureError(f"packed signatures are {len(signatures)} bytes, not a multiple of 65")
    count = len(signatures) // SIGNATURE_LENGTH
    if count < required:
        raise SignatureError(f"{count} signatures given, {required} required")
    keys = [checksum_address(k) for k in keyholders]
    signers: list[str] = []
    position = 0
    for i in range(count):
        signer = recover_signer(digest, signatures[i * 65 : (i + 1) * 65], i)
        while position < len(keys) and keys[position] != signer:
            position += 1
        if position == len(keys):
            raise SignatureError(
                f"signature {i} is by {signer}, who is not a keyholder or is out of order",
                hint="signatures must come from keyholders, ordered by increasing address",
            )
        position += 1
        signers.append(signer)
    return signers


def derivative_consent(
    domain: Domain,
    parent: bytes,
    community: bytes,
    cid: bytes,
    method: bytes,
    ai_enhanced: bool,
    deadline: int,
) -> TypedData:
    """ConsentDerivative: the parent claim's steward consents to ``community`` registering
    ``cid`` as a derivative of ``parent`` made by ``method`` (``ai_enhanced`` or not)."""
    return TypedData(
        domain,
        "ConsentDerivative",
        {
            "parent": parent,
            "community": community,
            "cid": cid,
            "method": method,
            "aiEnhanced": ai_enhanced,
            "deadline": deadline,
        },
    )


def set_terms(
    domain: Domain, community: bytes, subject: bytes, version: int, terms: bytes, deadline: int
) -> TypedData:
    """SetTerms: ``community`` sets version ``version`` of ``subject``'s terms to the document
    whose digest is ``terms``."""
    message = {
        "community": community,
        "subject": subject,
        "version": version,
        "terms": terms,
        "deadline": deadline,
    }
    return TypedData(domain, "SetTerms", message)


def set_description(
    domain: Domain,
    community: bytes,
    subject: bytes,
    version: int,
    description: bytes,
    deadline: int,
) -> TypedData:
    """SetDescription: ``community`` publishes version ``version`` of ``subject``'s description,
    the document whose digest is ``description``."""
    message = {
        "community": community,
        "subject": subject,
        "version": version,
        "description": description,
        "deadline": deadline,
    }
    return TypedData(domain, "SetDescription", message)


def revoke_terms(
    domain: Domain, community: bytes, subject: bytes, version: int, deadline: int
) -> TypedData:
    """RevokeTerms: ``community`` revokes version ``version`` of ``subject``'s terms."""
    message = {"community": community, "subject": subject, "version": version, "deadline": deadline}
    return TypedData(domain, "RevokeTerms", message)


def rotate_keyholders(
    domain: Domain,
    community: bytes,
    keyholders: Sequence[str],
    threshold: int,
    document: bytes,
    nonce: int,
    deadline: int,
) -> TypedData:
    """RotateKeyholders: ``community``'s keyholders and threshold become ``keyholders`` and
    ``threshold``, described by the community document whose digest is ``document``; ``nonce``
    is the number of rotations before it."""
    message = {
        "community": community,
        "keyholders": list(keyholders),
        "threshold": threshold,
        "document": document,
        "nonce": nonce,
        "deadline": deadline,
    }
    return TypedData(domain, "RotateKeyholders", message)


def record_custody(
    domain: Domain,
    item: bytes,
    action: int,
    community: bytes,
    counterparty: bytes,
    document: bytes,
    nonce: int,
    deadline: int,
) -> TypedData:
    """RecordCustody: the steward ``community`` records custody ``action`` (the registry's
    code) of ``item`` with ``counterparty``, described by the custody document whose digest is
    ``document``; ``nonce`` is the number of custody records of the item before it."""
    message = {
        "item": item,
        "action": action,
        "community": community,
        "counterparty": counterparty,
        "document": document,
        "nonce": nonce,
        "deadline": deadline,
    }
    return TypedData(domain, "RecordCustody", message)


def pack_signatures(signed: Iterable[tuple[str, bytes]]) -> bytes:
    """Concatenate (signer, signature) pairs in increasing signer order, as the contract wants."""
    ordered = sorted(signed, key=lambda pair: int(pair[0], 16))
    for (a, _), (b, _) in itertools.pairwise(ordered):
        if int(a, 16) == int(b, 16):
            raise SignatureError(
                f"{to_checksum_address(a)} signed twice; each keyholder counts once"
            )
    return b"".join(sig for _, sig in ordered)
