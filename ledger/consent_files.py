"""Offline k-of-n consent: a request file, one signature file per keyholder, then submit.

The flow, for the two terms actions (``SetTerms``, ``RevokeTerms``)::

    Registrar.consent_request (online) ─► request.json ─► each keyholder: sign_request
    (offline, no chain, no IPFS) ─► alice.sig.json, bob.sig.json … ─► collect (offline):
    who signed, who is missing ─► Registrar.submit_consent (online): re-checks the chain,
    packs k signatures by increasing address and sends them.

A request file holds the complete EIP-712 typed data (``types``, ``primaryType``, ``domain``
with the live chain id and registry address, ``message``), so any EIP-712 wallet can sign it
too, plus what a signer needs to judge it offline: the keyholders and threshold, the item as
it was named, and for ``SetTerms`` the terms document itself, whose canonical form must hash
to the ``terms`` digest being signed. A signature file names the request's digest, the
signer and the 65-byte signature; it is good for that one request only.

Both are versioned JSON (``type`` and ``version``), capped in size when read, and parsed
strictly: duplicate keys, unknown or missing fields, wrong types, values out of range and
any disagreement between a field and the typed data it repeats are refused with
:class:`~ledger.errors.ConsentFileInvalid`. Nothing here does I/O except the ``read_*`` and
``write_*`` functions at the end.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import rfc8785
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keyfile.exceptions import EthKeyfileException
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from ledger import consent, strict_json
from ledger.chain import Community, batch_item_subject, item_key
from ledger.errors import (
    ConsentExpired,
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentMismatch,
    HeritageError,
    KeystoreError,
    LimitExceeded,
    UsageError,
    WrongPassphrase,
)
from ledger.ipfs.cid import DAG_PB, RAW, Cid

__all__ = [
    "CONSENT_ACTIONS",
    "FORMAT_VERSION",
    "MAX_REQUEST_BYTES",
    "MAX_SIGNATURE_BYTES",
    "REQUEST_TYPE",
    "SIGNATURE_TYPE",
    "ConsentRequest",
    "ConsentSignature",
    "ConsentStatus",
    "build_request",
    "collect",
    "describe_request",
    "encode_request",
    "encode_signature",
    "load_keystore_file",
    "parse_request",
    "parse_signature",
    "read_request",
    "read_signature",
    "sign_request",
    "typed_data_json",
    "write_new_file",
]

REQUEST_TYPE: Final = "heritage/consent-request"
SIGNATURE_TYPE: Final = "heritage/consent-signature"
FORMAT_VERSION: Final = 1
#: The actions that can be collected offline: the terms of an item, derivative or batch.
CONSENT_ACTIONS: Final = ("SetTerms", "RevokeTerms")
#: A request carries a terms document (one block, at most 1 MiB) plus a few KiB of typed data;
#: JSON escaping can at most double the document, so 4 MiB leaves room and still refuses junk.
MAX_REQUEST_BYTES: Final = 4 << 20
MAX_SIGNATURE_BYTES: Final = 16 << 10
_MAX_KEYSTORE_BYTES: Final = 64 << 10
_MAX_KEYHOLDERS: Final = 255  # the threshold is a uint8
_HEX: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_REQUEST_FIELDS: Final = frozenset(
    {
        "type",
        "version",
        "item",
        "keyholders",
        "threshold",
        "terms_cid",
        "terms_document",
        "batch",
        "created_at",
        "digest",
        "typed_data",
    }
)
_SIGNATURE_FIELDS: Final = frozenset(
    {"type", "version", "request", "action", "subject", "terms_version", "signer", "signature"}
)


# ---- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One terms action waiting for k keyholder signatures."""

    typed: consent.TypedData
    item: str  # as the requester named it (a CID or a 0x key), for people to read
    keyholders: tuple[ChecksumAddress, ...]  # strictly increasing, as the registry holds them
    threshold: int
    created_at: int
    terms_document: Mapping[str, Any] | None = None  # SetTerms only
    batch_root: bytes | None = None  # RevokeTerms of one item of a batch: the batch
    batch_item: bytes | None = None  # … and the item's key

    @property
    def action(self) -> str:
        return self.typed.primary_type

    @property
    def community(self) -> bytes:
        return bytes(self.typed.message["community"])

    @property
    def subject(self) -> bytes:
        return bytes(self.typed.message["subject"])

    @property
    def version(self) -> int:
        return int(self.typed.message["version"])

    @property
    def deadline(self) -> int:
        return int(self.typed.message["deadline"])

    @property
    def digest(self) -> bytes:
        return self.typed.digest()

    @property
    def terms_cid(self) -> str | None:
        if self.action != "SetTerms":
            return None
        return str(Cid.from_digest(bytes(self.typed.message["terms"]), RAW))

    def steward(self) -> Community:
        """The community configuration the signatures are checked against."""
        return Community(self.community, self.keyholders, self.threshold)


@dataclass(frozen=True, slots=True)
class ConsentSignature:
    """One keyholder's signature over one request, as a signature file holds it."""

    request_digest: bytes
    action: str
    subject: bytes
    terms_version: int
    signer: ChecksumAddress
    signature: bytes


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """Who has signed a request (each signature checked), who has not, how many more."""

    request: ConsentRequest
    signed: tuple[tuple[ChecksumAddress, bytes], ...]  # by increasing address
    missing: tuple[ChecksumAddress, ...]

    @property
    def needed(self) -> int:
        """How many more signatures the request needs (0 once k are there)."""
        return max(0, self.request.threshold - len(self.signed))

    @property
    def complete(self) -> bool:
        return self.needed == 0

    def packed(self) -> bytes:
        """k signatures (the lowest signer addresses) packed as the registry takes them;
        :class:`ConsentIncomplete`, naming who is missing, when fewer than k are there."""
        if not self.complete:
            raise ConsentIncomplete(
                f"{self.request.action} of {_hex(self.request.subject)} has {len(self.signed)} "
                f"of the {self.request.threshold} signatures it needs; {self.needed} more of "
                f"{', '.join(self.missing)} must sign",
                hint="send the request file to the missing keyholders (`heritage consent "
                "sign`), then pass every signature file; nothing was sent",
            )
        return consent.pack_signatures(self.signed[: self.request.threshold])

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": _hex(self.request.digest),
            "action": self.request.action,
            "subject": _hex(self.request.subject),
            "terms_version": self.request.version,
            "threshold": self.request.threshold,
            "signed": [address for address, _ in self.signed],
            "missing": list(self.missing),
            "needed": self.needed,
            "complete": self.complete,
            "deadline": self.request.deadline,
        }


# ---- building and signing (pure) -------------------------------------------------------------


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _terms_digest(document: Mapping[str, Any]) -> bytes:
    """sha2-256 of the document's canonical JSON (RFC 8785), as registration stores it."""
    try:
        return hashlib.sha256(rfc8785.dumps(document)).digest()
    except rfc8785.CanonicalizationError as exc:
        raise UsageError(f"the terms document has no canonical JSON form: {exc}") from None


def build_request(
    domain: consent.Domain,
    action: str,
    steward: Community,
    subject: bytes,
    version: int,
    deadline: int,
    *,
    item: str,
    created_at: int,
    terms_document: Mapping[str, Any] | None = None,
    batch: tuple[bytes, bytes] | None = None,
) -> ConsentRequest:
    """A request for ``action`` on ``subject`` (``version``: the one being set, or the one
    being revoked), to be signed by k of ``steward``'s keyholders before ``deadline``."""
    if action not in CONSENT_ACTIONS:
        raise UsageError(f"{action!r} cannot be collected offline; only {CONSENT_ACTIONS}")
    message: dict[str, Any] = {
        "community": steward.id,
        "subject": subject,
        "version": version,
        "deadline": deadline,
    }
    if action == "SetTerms":
        if terms_document is None:
            raise UsageError("a SetTerms request needs the terms document")
        message["terms"] = _terms_digest(terms_document)
    elif terms_document is not None:
        raise UsageError("a RevokeTerms request has no terms document")
    request = ConsentRequest(
        typed=consent.TypedData(domain, action, message),
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        terms_document=None if terms_document is None else dict(terms_document),
        batch_root=None if batch is None else batch[0],
        batch_item=None if batch is None else batch[1],
    )
    _check_request(request, "the request")
    return request


def sign_request(request: ConsentRequest, account: LocalAccount) -> ConsentSignature:
    """``account``'s signature over ``request``; refused unless it is one of the keyholders."""
    signer = to_checksum_address(account.address)
    if signer not in request.keyholders:
        raise ConsentMismatch(
            f"{signer} is not a keyholder of community {_hex(request.community)} "
            f"(keyholders: {', '.join(request.keyholders)})",
            hint="sign with the key of one of the request's keyholders",
        )
    return ConsentSignature(
        request_digest=request.digest,
        action=request.action,
        subject=request.subject,
        terms_version=request.version,
        signer=signer,
        signature=consent.sign(request.typed, bytes(account.key)),
    )


def describe_request(request: ConsentRequest) -> list[tuple[str, str]]:
    """What a keyholder is asked to sign, as (label, value) rows for people to read."""
    domain = request.typed.domain
    what = "set new terms" if request.action == "SetTerms" else "REVOKE the current terms"
    rows = [
        ("action", f"{request.action}: {what}"),
        ("item", request.item),
        ("subject", _hex(request.subject)),
    ]
    if request.batch_root is not None:
        rows.append(("batch", _hex(request.batch_root)))
    rows.append(("terms version", str(request.version)))
    if request.terms_cid is not None and request.terms_document is not None:
        rows.append(("terms CID", request.terms_cid))
        rows.append(("terms", json.dumps(request.terms_document, sort_keys=True)))
    rows += [
        ("community", _hex(request.community)),
        ("keyholders", f"{request.threshold} of {', '.join(request.keyholders)}"),
        ("chain id", str(domain.chain_id)),
        ("registry", to_checksum_address(domain.verifying_contract)),
        ("valid until", f"{request.deadline} (unix time)"),
        ("digest", _hex(request.digest)),
    ]
    return rows


def collect(
    request: ConsentRequest, signatures: Sequence[tuple[str, ConsentSignature]], *, now: int
) -> ConsentStatus:
    """Check every signature file against ``request`` (``where`` names it in errors) and say
    who has signed and who is missing. One bad file fails the whole collection."""
    if now > request.deadline:
        raise ConsentExpired(
            f"the request for {request.action} of {_hex(request.subject)} expired at "
            f"{request.deadline} (now {now}); the registry refuses its signatures",
            hint="make a new request (`heritage consent request`) and collect signatures again",
        )
    digest = request.digest
    seen: dict[ChecksumAddress, str] = {}
    signed: list[tuple[ChecksumAddress, bytes]] = []
    for index, (where, sig) in enumerate(signatures):
        if sig.request_digest != digest:
            raise ConsentMismatch(
                f"{where} is a signature for another request (digest {_hex(sig.request_digest)}"
                f"), not this one ({_hex(digest)})",
                hint="pass only signature files made from this request file",
            )
        if (sig.action, sig.subject, sig.terms_version) != (
            request.action,
            request.subject,
            request.version,
        ):
            raise ConsentMismatch(
                f"{where} says it signs {sig.action} version {sig.terms_version} of "
                f"{_hex(sig.subject)}, but its request is {request.action} version "
                f"{request.version} of {_hex(request.subject)}",
                hint="the signature file was edited; ask the keyholder to sign again",
            )
        try:
            recovered = to_checksum_address(consent.recover_signer(digest, sig.signature, index))
        except consent.SignatureError as exc:
            raise consent.SignatureError(
                f"{where}: {exc.message}", hint="ask the keyholder to sign the request again"
            ) from None
        if recovered != sig.signer:
            raise ConsentMismatch(
                f"{where} names {sig.signer} as its signer, but the signature is by {recovered}",
                hint="the signature file was edited or damaged; ask the keyholder to sign again",
            )
        if recovered not in request.keyholders:
            raise ConsentMismatch(
                f"{where} is signed by {recovered}, who is not a keyholder of community "
                f"{_hex(request.community)}",
                hint=f"the keyholders are {', '.join(request.keyholders)}",
            )
        if recovered in seen:
            raise ConsentMismatch(
                f"{where} and {seen[recovered]} are both signed by {recovered}; each keyholder "
                "counts once",
                hint="pass one signature file per keyholder",
            )
        seen[recovered] = where
        signed.append((recovered, sig.signature))
    signed.sort(key=lambda pair: int(pair[0], 16))
    missing = tuple(a for a in request.keyholders if a not in seen)
    return ConsentStatus(request, tuple(signed), missing)


# ---- the file formats (pure) -----------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(bytes(value))
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def typed_data_json(typed: consent.TypedData) -> dict[str, Any]:
    """The EIP-712 JSON (``eth_signTypedData_v4``) of ``typed``: bytes as 0x hex."""
    full = typed.full_message()
    full["message"] = {k: _json_value(v) for k, v in full["message"].items()}
    return full


def encode_request(request: ConsentRequest) -> bytes:
    """The request file's bytes (UTF-8 JSON, sorted keys)."""
    document = {
        "type": REQUEST_TYPE,
        "version": FORMAT_VERSION,
        "item": request.item,
        "keyholders": list(request.keyholders),
        "threshold": request.threshold,
        "terms_cid": request.terms_cid,
        "terms_document": None if request.terms_document is None else dict(request.terms_document),
        "batch": None
        if request.batch_root is None or request.batch_item is None
        else {"root": _hex(request.batch_root), "item": _hex(request.batch_item)},
        "created_at": request.created_at,
        "digest": _hex(request.digest),
        "typed_data": typed_data_json(request.typed),
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def encode_signature(signature: ConsentSignature) -> bytes:
    """The signature file's bytes (UTF-8 JSON, sorted keys)."""
    document = {
        "type": SIGNATURE_TYPE,
        "version": FORMAT_VERSION,
        "request": _hex(signature.request_digest),
        "action": signature.action,
        "subject": _hex(signature.subject),
        "terms_version": signature.terms_version,
        "signer": signature.signer,
        "signature": _hex(signature.signature),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _load(data: bytes, where: str, cap: int, kind: str, file_type: str) -> dict[str, Any]:
    """The top-level object of a consent file: capped, strict JSON, right type and version."""
    if len(data) > cap:
        raise LimitExceeded(
            f"{where} is {len(data)} bytes; a {kind} file is at most {cap} bytes",
            hint=f"is {where} really a {kind} file?",
        )
    try:
        document = strict_json.loads(data)
    except ValueError as exc:
        raise ConsentFileInvalid(
            f"{where} is not a {kind} file: not valid JSON ({exc})",
            hint="the file is damaged or truncated; get it again",
        ) from None
    if not isinstance(document, dict):
        raise ConsentFileInvalid(f"{where} is not a {kind} file: not a JSON object")
    if document.get("type") != file_type:
        raise ConsentFileInvalid(
            f"{where} is not a {kind} file: its type is {document.get('type')!r}, "
            f"not {file_type!r}"
        )
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ConsentFileInvalid(
            f"{where} is a {kind} file of format version {version!r}; this program reads "
            f"version {FORMAT_VERSION}",
            hint="make the file with the same version of heritage",
        )
    return document


def _fields(document: Mapping[str, Any], expected: frozenset[str], where: str) -> None:
    keys = set(document)
    if keys != expected:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected)
        raise ConsentFileInvalid(
            f"{where} has the wrong fields (missing {missing}, unexpected {extra})",
            hint="the file was edited or made by another program; get it again",
        )


def _bytes(value: Any, where: str, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ConsentFileInvalid(f"{where}: {what} is not 0x-prefixed hex bytes ({value!r:.80})")
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise ConsentFileInvalid(f"{where}: {what} is {len(raw)} bytes, not {length}")
    return raw


def _int(value: Any, where: str, what: str, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ConsentFileInvalid(
            f"{where}: {what} is not an integer between 0 and 2**{bits} - 1 ({value!r:.80})"
        )
    return value


def _address(value: Any, where: str, what: str) -> ChecksumAddress:
    if not isinstance(value, str) or not value.startswith("0x") or not is_address(value):
        raise ConsentFileInvalid(f"{where}: {what} is not an Ethereum address ({value!r:.80})")
    return to_checksum_address(value)


def _field_value(solidity: str, value: Any, where: str, what: str) -> Any:
    """A message field from its JSON form, checked against its Solidity type."""
    if solidity == "bytes32":
        return _bytes(value, where, what, 32)
    if solidity == "bytes":
        return _bytes(value, where, what)
    if solidity == "bool":
        if not isinstance(value, bool):
            raise ConsentFileInvalid(f"{where}: {what} is not true or false")
        return value
    if solidity == "address[]":
        if not isinstance(value, list):
            raise ConsentFileInvalid(f"{where}: {what} is not a list of addresses")
        return [_address(v, where, f"{what}[{i}]") for i, v in enumerate(value)]
    if solidity.startswith("uint"):
        return _int(value, where, what, int(solidity[4:]))
    raise ConsentFileInvalid(f"{where}: {what} has the unsupported type {solidity}")


def _typed_data(value: Any, where: str) -> consent.TypedData:
    if not isinstance(value, dict):
        raise ConsentFileInvalid(f"{where}: typed_data is not a JSON object")
    primary = value.get("primaryType")
    if primary not in CONSENT_ACTIONS:
        raise ConsentFileInvalid(
            f"{where}: typed_data.primaryType is {primary!r}; a consent request is one of "
            f"{list(CONSENT_ACTIONS)}"
        )
    domain_json = value.get("domain")
    message_json = value.get("message")
    if not isinstance(domain_json, dict) or not isinstance(message_json, dict):
        raise ConsentFileInvalid(f"{where}: typed_data needs a domain and a message object")
    domain = consent.Domain(
        chain_id=_int(domain_json.get("chainId"), where, "domain.chainId", 256),
        verifying_contract=_address(
            domain_json.get("verifyingContract"), where, "domain.verifyingContract"
        ),
    )
    fields = consent.ACTION_TYPES[primary]
    if set(message_json) != {name for name, _ in fields}:
        raise ConsentFileInvalid(
            f"{where}: typed_data.message has the fields {sorted(message_json)}; {primary} "
            f"has exactly {sorted(name for name, _ in fields)}"
        )
    message = {
        name: _field_value(solidity, message_json[name], where, f"message.{name}")
        for name, solidity in fields
    }
    typed = consent.TypedData(domain, primary, message)
    # Anything else in the typed data (types, domain name or version, extra keys) must be
    # exactly what this program would write: a wallet signs what the file says, so the file
    # may say nothing that the digest computed here does not cover.
    if typed_data_json(typed) != value:
        raise ConsentFileInvalid(
            f"{where}: typed_data differs from the registry's {primary} typed data (its types, "
            "domain name or version, or extra keys were changed)",
            hint="the file was edited; make a new request",
        )
    return typed


def _item_keys(item: str) -> set[bytes]:
    """The registry keys that ``item`` may name: a 0x key itself, or a CID in either version
    (as :meth:`ledger.registration.Registrar.resolve` tries them)."""
    if item.startswith("0x"):
        return {bytes.fromhex(item[2:])} if re.fullmatch(r"0x[0-9a-fA-F]{64}", item) else set()
    try:
        cid = Cid.parse(item)
    except (HeritageError, ValueError):
        return set()
    candidates = [cid]
    if cid.version == 0:
        candidates.append(cid.to_v1())
    elif cid.codec == DAG_PB and cid.multihash[:2] == b"\x12\x20":
        candidates.append(Cid(0, DAG_PB, cid.multihash))
    return {item_key(bytes(c)) for c in candidates}


def _check_request(request: ConsentRequest, where: str) -> None:
    """The invariants between a request's fields and its typed data."""
    # The item is shown to signers but is not in the digest, so it must name the very subject
    # being signed: an edited item cannot make a signer believe they sign for another one.
    named = request.batch_item if request.batch_item is not None else request.subject
    if named not in _item_keys(request.item):
        raise ConsentFileInvalid(
            f"{where}: item {request.item!r:.80} does not name the subject being signed "
            f"({_hex(request.subject)})",
            hint="the file was edited; make a new request",
        )
    keys = request.keyholders
    if not 1 <= len(keys) <= _MAX_KEYHOLDERS:
        raise ConsentFileInvalid(f"{where}: {len(keys)} keyholders; 1 to 255 are possible")
    if any(int(a, 16) >= int(b, 16) for a, b in itertools.pairwise(keys)):
        raise ConsentFileInvalid(
            f"{where}: the keyholders are not in strictly increasing order of address",
            hint="the registry lists each keyholder once, by increasing address",
        )
    if not 1 <= request.threshold <= len(keys):
        raise ConsentFileInvalid(
            f"{where}: threshold {request.threshold} is not between 1 and {len(keys)}"
        )
    if request.action == "SetTerms":
        if request.terms_document is None or request.batch_root is not None:
            raise ConsentFileInvalid(
                f"{where}: a SetTerms request carries its terms document and no batch"
            )
        if _terms_digest(request.terms_document) != bytes(request.typed.message["terms"]):
            raise ConsentFileInvalid(
                f"{where}: the terms document does not hash to the terms digest being signed",
                hint="the file was edited; make a new request",
            )
    elif request.terms_document is not None:
        raise ConsentFileInvalid(f"{where}: a RevokeTerms request carries no terms document")
    if (request.batch_root is None) != (request.batch_item is None):
        raise ConsentFileInvalid(f"{where}: a batch needs both its root and the item")
    if (
        request.batch_root is not None
        and request.batch_item is not None
        and batch_item_subject(request.batch_root, request.batch_item) != request.subject
    ):
        raise ConsentFileInvalid(
            f"{where}: the subject is not the batch item's terms subject",
            hint="the file was edited; make a new request",
        )


def parse_request(data: bytes, where: str) -> ConsentRequest:
    """A request file's contents, checked in full; :class:`ConsentFileInvalid` otherwise."""
    document = _load(data, where, MAX_REQUEST_BYTES, "consent request", REQUEST_TYPE)
    _fields(document, _REQUEST_FIELDS, where)
    typed = _typed_data(document["typed_data"], where)
    item = document["item"]
    if not isinstance(item, str) or not 0 < len(item) <= 200:
        raise ConsentFileInvalid(f"{where}: item is not a CID or item key")
    holders = document["keyholders"]
    if not isinstance(holders, list):
        raise ConsentFileInvalid(f"{where}: keyholders is not a list of addresses")
    keyholders = tuple(_address(h, where, f"keyholders[{i}]") for i, h in enumerate(holders))
    terms_document = document["terms_document"]
    if terms_document is not None and not isinstance(terms_document, dict):
        raise ConsentFileInvalid(f"{where}: terms_document is not a JSON object")
    batch = document["batch"]
    batch_root = batch_item = None
    if batch is not None:
        if not isinstance(batch, dict) or set(batch) != {"root", "item"}:
            raise ConsentFileInvalid(f'{where}: batch is not {{"root": …, "item": …}}')
        batch_root = _bytes(batch["root"], where, "batch.root", 32)
        batch_item = _bytes(batch["item"], where, "batch.item", 32)
    try:
        request = ConsentRequest(
            typed=typed,
            item=item,
            keyholders=keyholders,
            threshold=_int(document["threshold"], where, "threshold", 8),
            created_at=_int(document["created_at"], where, "created_at", 64),
            terms_document=terms_document,
            batch_root=batch_root,
            batch_item=batch_item,
        )
        _check_request(request, where)
    except UsageError as exc:  # a document with no canonical form
        raise ConsentFileInvalid(f"{where}: {exc.message}") from None
    if document["terms_cid"] != request.terms_cid:
        raise ConsentFileInvalid(
            f"{where}: terms_cid {document['terms_cid']!r} is not the CID of the terms digest"
        )
    if document["digest"] != _hex(request.digest):
        raise ConsentFileInvalid(
            f"{where}: the digest it states is not the digest of its typed data",
            hint="the file was edited; make a new request",
        )
    return request


def parse_signature(data: bytes, where: str) -> ConsentSignature:
    """A signature file's contents (its signature is checked by :func:`collect`)."""
    document = _load(data, where, MAX_SIGNATURE_BYTES, "consent signature", SIGNATURE_TYPE)
    _fields(document, _SIGNATURE_FIELDS, where)
    action = document["action"]
    if action not in CONSENT_ACTIONS:
        raise ConsentFileInvalid(f"{where}: action {action!r:.80} is not one of {CONSENT_ACTIONS}")
    return ConsentSignature(
        request_digest=_bytes(document["request"], where, "request", 32),
        action=action,
        subject=_bytes(document["subject"], where, "subject", 32),
        terms_version=_int(document["terms_version"], where, "terms_version", 32),
        signer=_address(document["signer"], where, "signer"),
        signature=_bytes(
            document["signature"], where, "signature", consent.SIGNATURE_LENGTH
        ),
    )


# ---- files -----------------------------------------------------------------------------------


def _read_capped(path: Path, cap: int, kind: str) -> bytes:
    """At most ``cap + 1`` bytes of ``path``: enough to refuse an oversized file without
    reading all of it."""
    try:
        with path.open("rb") as stream:
            return stream.read(cap + 1)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", hint=f"pass the {kind} file's path") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a {kind} file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def read_request(path: Path) -> ConsentRequest:
    return parse_request(_read_capped(path, MAX_REQUEST_BYTES, "request"), str(path))


def read_signature(path: Path) -> ConsentSignature:
    return parse_signature(_read_capped(path, MAX_SIGNATURE_BYTES, "signature"), str(path))


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (refusing to replace one): temp file, fsync,
    rename, so a crash leaves either nothing or the whole file."""
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists", hint="choose a new output path")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with tmp.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)  # fails if path appeared meanwhile: never replaces a file
    except FileExistsError:
        raise UsageError(f"{path} already exists", hint="choose a new output path") from None
    finally:
        tmp.unlink(missing_ok=True)


def load_keystore_file(path: Path, passphrase: str) -> LocalAccount:
    """The key in a keystore v3 file anywhere on disk (a keyholder's own, not necessarily in
    the data directory). The key never appears in an error."""
    data = _read_capped(path, _MAX_KEYSTORE_BYTES, "keystore")
    if len(data) > _MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"{path} is too large to be a keystore file")
    try:
        document = strict_json.loads(data)
        if not isinstance(document, dict) or document.get("version") != 3:
            raise ValueError("not keystore v3")
        key = bytes(Account.decrypt(document, passphrase))
    except EthKeyfileException as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassphrase(
                f"the passphrase does not decrypt {path}",
                hint="check the passphrase (or the --password-file) and try again",
            ) from None
        raise KeystoreError(f"{path} is not a usable keystore v3 file") from None
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise KeystoreError(f"{path} is not a usable keystore v3 file") from None
    account: LocalAccount = Account.from_key(key)
    return account
