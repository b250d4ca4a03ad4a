"""The offline consent files: a request file, one signature file per keyholder.

A request file holds a :class:`~ledger.consent.requests.ConsentRequest`: the complete EIP-712
typed data (``types``, ``primaryType``, ``domain``, ``message``, so any EIP-712 wallet can sign
it too) and everything a signer needs to judge it offline. A signature file holds a
:class:`~ledger.consent.status.ConsentSignature` (its ``terms_version`` is the nonce of a
rotation or custody request).

Documents hold only public things: names, addresses, public encryption keys, and the CIDs of
envelopes (content keys wrapped for keyholders). Nothing restricted is in a request, a
signature file or a description.

Both are versioned JSON (``type`` and ``version``), capped in size when read, and parsed
strictly: duplicate keys, unknown or missing fields, wrong types, values out of range and
any disagreement between a field and the typed data it repeats are refused with
:class:`~ledger.errors.ConsentFileInvalid`. Encoding and parsing are pure; only the ``read_*``
and ``write_*`` functions at the end do I/O.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ledger import strict_json
from ledger.chain import Community
from ledger.consent.fields import (
    EDITED,
    field_address,
    field_addresses,
    field_bytes,
    field_uint,
)
from ledger.consent.history import CommunityHistory, Rotation
from ledger.consent.requests import (
    CONSENT_ACTIONS,
    TERMS_ACTIONS,
    VERSIONED_ACTIONS,
    ConsentRequest,
    check_request,
)
from ledger.consent.status import ConsentSignature
from ledger.consent.typed_data import ACTION_TYPES, SIGNATURE_LENGTH, Domain, TypedData
from ledger.errors import ConsentFileInvalid, LimitExceeded, NoSuchFile, UsageError

__all__ = [
    "FORMAT_VERSION",
    "MAX_REQUEST_BYTES",
    "MAX_SIGNATURE_BYTES",
    "REQUEST_FORMAT_VERSION",
    "REQUEST_TYPE",
    "SIGNATURE_TYPE",
    "encode_request",
    "encode_signature",
    "parse_request",
    "parse_signature",
    "read_request",
    "read_signature",
    "typed_data_json",
    "write_new_file",
]

REQUEST_TYPE: Final = "heritage/consent-request"
SIGNATURE_TYPE: Final = "heritage/consent-signature"
FORMAT_VERSION: Final = 1  # signature files
#: Request files: 2 added the signing communities' keyholder histories.
REQUEST_FORMAT_VERSION: Final = 2
#: A request carries a terms document (one block, at most 1 MiB) plus a few KiB of typed data;
#: JSON escaping can at most double the document, so 4 MiB leaves room and still refuses junk.
MAX_REQUEST_BYTES: Final = 4 << 20
MAX_SIGNATURE_BYTES: Final = 16 << 10
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
        "history",
    }
)
#: A rotation or custody request: the terms request's fields (terms ones null) and its document
#: and receiver (with the receiver's keyholder history).
_ACTION_REQUEST_FIELDS: Final = _REQUEST_FIELDS | {"document", "receiver", "receiver_history"}
#: A derivative's consent: its method document, and what the deriving community signs at submit.
_DERIVATIVE_REQUEST_FIELDS: Final = _ACTION_REQUEST_FIELDS | {"derivative"}
#: A registration: its terms (terms_cid, terms_document), its metadata document, and whether
#: the item is encrypted.
_REGISTER_REQUEST_FIELDS: Final = _ACTION_REQUEST_FIELDS | {"registration"}
_SIGNATURE_FIELDS: Final = frozenset(
    {"type", "version", "request", "action", "subject", "terms_version", "signer", "signature"}
)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# ---- encoding (pure) -----------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(bytes(value))
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def typed_data_json(typed: TypedData) -> dict[str, Any]:
    """The EIP-712 JSON (``eth_signTypedData_v4``) of ``typed``: bytes as 0x hex."""
    full = typed.full_message()
    full["message"] = {k: _json_value(v) for k, v in full["message"].items()}
    return full


def _community_json(community: Community) -> dict[str, Any]:
    return {
        "community": _hex(community.id),
        "keyholders": list(community.keyholders),
        "threshold": community.threshold,
    }


def _history_json(history: CommunityHistory | None) -> dict[str, Any] | None:
    if history is None:
        return None
    return {
        "community": _hex(history.community),
        "salt": _hex(history.salt),
        "keyholders": list(history.keyholders),
        "threshold": history.threshold,
        "rotations": [
            {
                "keyholders": list(r.keyholders),
                "threshold": r.threshold,
                "document": _hex(r.document),
                "nonce": r.nonce,
                "deadline": r.deadline,
                "signatures": _hex(r.signatures),
            }
            for r in history.rotations
        ],
    }


def encode_request(request: ConsentRequest) -> bytes:
    """The request file's bytes (UTF-8 JSON, sorted keys)."""
    document: dict[str, Any] = {
        "type": REQUEST_TYPE,
        "version": REQUEST_FORMAT_VERSION,
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
        "history": _history_json(request.history),
    }
    if request.action not in TERMS_ACTIONS:
        document["document"] = None if request.document is None else dict(request.document)
        document["receiver"] = (
            None if request.receiver is None else _community_json(request.receiver)
        )
        document["receiver_history"] = _history_json(request.receiver_history)
    if request.action == "ConsentDerivative":
        document["derivative"] = None if request.derivative is None else dict(request.derivative)
    if request.action == "RegisterItem":
        document["registration"] = (
            None if request.registration is None else dict(request.registration)
        )
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


def _load(
    data: bytes, where: str, cap: int, kind: str, file_type: str, format_version: int
) -> dict[str, Any]:
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
    if version != format_version or isinstance(version, bool):
        raise ConsentFileInvalid(
            f"{where} is a {kind} file of format version {version!r}; this program reads "
            f"version {format_version}",
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


def _field_value(solidity: str, value: Any, where: str, what: str) -> Any:
    """A message field from its JSON form, checked against its Solidity type."""
    if solidity == "bytes32":
        return field_bytes(value, where, what, 32)
    if solidity == "bytes":
        return field_bytes(value, where, what)
    if solidity == "bool":
        if not isinstance(value, bool):
            raise ConsentFileInvalid(f"{where}: {what} is not true or false")
        return value
    if solidity == "address[]":
        if not isinstance(value, list):
            raise ConsentFileInvalid(f"{where}: {what} is not a list of addresses")
        return [field_address(v, where, f"{what}[{i}]") for i, v in enumerate(value)]
    if solidity.startswith("uint"):
        return field_uint(value, where, what, int(solidity[4:]))
    raise ConsentFileInvalid(f"{where}: {what} has the unsupported type {solidity}")


def _typed_data(value: Any, where: str) -> TypedData:
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
    domain = Domain(
        chain_id=field_uint(domain_json.get("chainId"), where, "domain.chainId", 256),
        verifying_contract=field_address(
            domain_json.get("verifyingContract"), where, "domain.verifyingContract"
        ),
    )
    fields = ACTION_TYPES[primary]
    if set(message_json) != {name for name, _ in fields}:
        raise ConsentFileInvalid(
            f"{where}: typed_data.message has the fields {sorted(message_json)}; {primary} "
            f"has exactly {sorted(name for name, _ in fields)}"
        )
    message = {
        name: _field_value(solidity, message_json[name], where, f"message.{name}")
        for name, solidity in fields
    }
    typed = TypedData(domain, primary, message)
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


# ---- parsing (pure) ------------------------------------------------------------------------------


def _receiver(value: Any, where: str) -> Community | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"community", "keyholders", "threshold"}:
        raise ConsentFileInvalid(
            f'{where}: receiver is not {{"community": …, "keyholders": […], "threshold": k}}'
        )
    holders = value["keyholders"]
    if not isinstance(holders, list):
        raise ConsentFileInvalid(f"{where}: receiver.keyholders is not a list of addresses")
    return Community(
        field_bytes(value["community"], where, "receiver.community", 32),
        tuple(field_address(h, where, f"receiver.keyholders[{i}]") for i, h in enumerate(holders)),
        field_uint(value["threshold"], where, "receiver.threshold", 8),
    )


_HISTORY_FIELDS: Final = frozenset({"community", "salt", "keyholders", "threshold", "rotations"})
_ROTATION_FIELDS: Final = frozenset(
    {"keyholders", "threshold", "document", "nonce", "deadline", "signatures"}
)


def _rotation(value: Any, where: str, what: str) -> Rotation:
    if not isinstance(value, dict) or set(value) != _ROTATION_FIELDS:
        fields = ", ".join(sorted(_ROTATION_FIELDS))
        raise ConsentFileInvalid(f"{where}: {what} is not {{{fields}}}")
    return Rotation(
        keyholders=field_addresses(value["keyholders"], where, f"{what}.keyholders"),
        threshold=field_uint(value["threshold"], where, f"{what}.threshold", 8),
        document=field_bytes(value["document"], where, f"{what}.document", 32),
        nonce=field_uint(value["nonce"], where, f"{what}.nonce", 64),
        deadline=field_uint(value["deadline"], where, f"{what}.deadline", 64),
        signatures=field_bytes(value["signatures"], where, f"{what}.signatures"),
    )


def _history(value: Any, where: str, name: str) -> CommunityHistory:
    if value is None:
        raise ConsentFileInvalid(
            f"{where}: {name} (the keyholder history of a community whose keyholders sign) is "
            "missing",
            hint=EDITED,
        )
    if not isinstance(value, dict) or set(value) != _HISTORY_FIELDS:
        fields = ", ".join(sorted(_HISTORY_FIELDS))
        raise ConsentFileInvalid(f"{where}: {name} is not {{{fields}}}")
    rotations = value["rotations"]
    if not isinstance(rotations, list):
        raise ConsentFileInvalid(f"{where}: {name}.rotations is not a list")
    return CommunityHistory(
        community=field_bytes(value["community"], where, f"{name}.community", 32),
        salt=field_bytes(value["salt"], where, f"{name}.salt", 32),
        keyholders=field_addresses(value["keyholders"], where, f"{name}.keyholders"),
        threshold=field_uint(value["threshold"], where, f"{name}.threshold", 8),
        rotations=tuple(
            _rotation(r, where, f"{name}.rotations[{i}]") for i, r in enumerate(rotations)
        ),
    )


def parse_request(data: bytes, where: str) -> ConsentRequest:
    """A request file's contents, checked in full; :class:`ConsentFileInvalid` otherwise."""
    document = _load(
        data, where, MAX_REQUEST_BYTES, "consent request", REQUEST_TYPE, REQUEST_FORMAT_VERSION
    )
    typed_json = document.get("typed_data")
    primary = typed_json.get("primaryType") if isinstance(typed_json, dict) else None
    extended = primary in CONSENT_ACTIONS and primary not in TERMS_ACTIONS
    fields = _REQUEST_FIELDS
    if primary == "ConsentDerivative":
        fields = _DERIVATIVE_REQUEST_FIELDS
    elif primary == "RegisterItem":
        fields = _REGISTER_REQUEST_FIELDS
    elif extended:
        fields = _ACTION_REQUEST_FIELDS
    _fields(document, fields, where)
    typed = _typed_data(document["typed_data"], where)
    item = document["item"]
    if not isinstance(item, str) or not 0 < len(item) <= 200:
        raise ConsentFileInvalid(f"{where}: item is not a CID or item key")
    holders = document["keyholders"]
    if not isinstance(holders, list):
        raise ConsentFileInvalid(f"{where}: keyholders is not a list of addresses")
    keyholders = tuple(field_address(h, where, f"keyholders[{i}]") for i, h in enumerate(holders))
    terms_document = document["terms_document"]
    if terms_document is not None and not isinstance(terms_document, dict):
        raise ConsentFileInvalid(f"{where}: terms_document is not a JSON object")
    batch = document["batch"]
    batch_root = batch_item = None
    if batch is not None:
        if not isinstance(batch, dict) or set(batch) != {"root", "item"}:
            raise ConsentFileInvalid(f'{where}: batch is not {{"root": …, "item": …}}')
        batch_root = field_bytes(batch["root"], where, "batch.root", 32)
        batch_item = field_bytes(batch["item"], where, "batch.item", 32)
    signed_document = document.get("document")
    if signed_document is not None and not isinstance(signed_document, dict):
        raise ConsentFileInvalid(f"{where}: document is not a JSON object")
    receiver = _receiver(document.get("receiver"), where)
    derivative = document.get("derivative")
    if derivative is not None and not isinstance(derivative, dict):
        raise ConsentFileInvalid(f"{where}: derivative is not a JSON object")
    registration = document.get("registration")
    if registration is not None and not isinstance(registration, dict):
        raise ConsentFileInvalid(f"{where}: registration is not a JSON object")
    try:
        request = ConsentRequest(
            typed=typed,
            item=item,
            keyholders=keyholders,
            threshold=field_uint(document["threshold"], where, "threshold", 8),
            created_at=field_uint(document["created_at"], where, "created_at", 64),
            terms_document=terms_document,
            batch_root=batch_root,
            batch_item=batch_item,
            document=signed_document,
            receiver=receiver,
            history=_history(document["history"], where, "history"),
            receiver_history=None
            if document.get("receiver_history") is None
            else _history(document["receiver_history"], where, "receiver_history"),
            derivative=derivative,
            registration=registration,
        )
        check_request(request, where)
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
    document = _load(
        data, where, MAX_SIGNATURE_BYTES, "consent signature", SIGNATURE_TYPE, FORMAT_VERSION
    )
    _fields(document, _SIGNATURE_FIELDS, where)
    action = document["action"]
    # RegisterDerivative: a deriving keyholder's signature (ledger.consent.derivation)
    actions = (*CONSENT_ACTIONS, "RegisterDerivative")
    if action not in actions:
        raise ConsentFileInvalid(f"{where}: action {action!r:.80} is not one of {actions}")
    # terms_version: a terms version (uint32), or the nonce (uint64) of a rotation or custody
    bits = 32 if action in VERSIONED_ACTIONS else 64
    return ConsentSignature(
        request_digest=field_bytes(document["request"], where, "request", 32),
        action=action,
        subject=field_bytes(document["subject"], where, "subject", 32),
        terms_version=field_uint(document["terms_version"], where, "terms_version", bits),
        signer=field_address(document["signer"], where, "signer"),
        signature=field_bytes(document["signature"], where, "signature", SIGNATURE_LENGTH),
    )


# ---- files ---------------------------------------------------------------------------------------


def _read_capped(path: Path, cap: int, kind: str) -> bytes:
    """At most ``cap + 1`` bytes of ``path``: enough to refuse an oversized file without
    reading all of it."""
    try:
        with path.open("rb") as stream:
            return stream.read(cap + 1)
    except FileNotFoundError:
        raise NoSuchFile(f"no such file: {path}", hint=f"pass the {kind} file's path") from None
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
