"""Consent: EIP-712 typed data for every signed action, and the offline k-of-n protocol.

Every action that the registry accepts is authorised by EIP-712 signatures of k keyholders.
Actions signed after a community exists can be collected offline::

    registry.consent.terms_request (online) ─► request.json ─► each keyholder: sign_request
    (offline, no chain, no IPFS) ─► alice.sig.json, bob.sig.json … ─► collect (offline):
    who signed, who is missing ─► registry.consent.submit (online): re-checks the chain,
    packs k signatures by increasing address and sends them.

The modules, lowest first:

- ``typed_data``: the EIP-712 values of every action (``Domain``, ``TypedData``), signing,
  recovery and the registry's k-of-n signature check. Pure; the chain client uses it too.
- ``history``: a community's keyholder history (creation and rotations), which proves
  offline who its keyholders are; and its reader from the event index and the chain.
- ``requests``: ``ConsentRequest``, the ``build_*`` functions and a request's invariants.
- ``status``: signatures over a request (``sign_request``) and their collection
  (``collect`` → ``ConsentStatus``).
- ``derivation``: the deriving community's offline signatures of a derivative's registration.
- ``describe``: a request in plain words, for the keyholder asked to sign it.
- ``fields``, ``files``: the request and signature file formats (strict parsing, encoding)
  and their reading and writing.

Everything public is re-exported here. The typed-data names load with the package; the
protocol's names load on first use, because the protocol builds on :mod:`ledger.chain`,
which itself builds on ``typed_data``: importing the chain client never loads the protocol.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from ledger.consent.typed_data import (
    ACTION_TYPES,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    HALF_ORDER,
    SECP256K1_N,
    SIGNATURE_LENGTH,
    Domain,
    SignatureError,
    TypedData,
    address_word,
    check_signatures,
    checksum_address,
    derivative_consent,
    pack_signatures,
    record_custody,
    recover_address,
    recover_signer,
    revoke_terms,
    rotate_keyholders,
    set_description,
    set_terms,
    sign,
    type_hash,
    type_string,
)

if TYPE_CHECKING:
    from ledger.consent.derivation import (
        REGISTRATION_ACTION,
        pack_registration,
        registration_typed,
        sign_registration,
    )
    from ledger.consent.describe import describe_request, proven_by
    from ledger.consent.files import (
        FORMAT_VERSION,
        MAX_REQUEST_BYTES,
        MAX_SIGNATURE_BYTES,
        REQUEST_FORMAT_VERSION,
        REQUEST_TYPE,
        SIGNATURE_TYPE,
        encode_request,
        encode_signature,
        parse_request,
        parse_signature,
        read_request,
        read_signature,
        typed_data_json,
        write_new_file,
    )
    from ledger.consent.history import (
        MAX_KEYHOLDERS,
        CommunityHistory,
        Rotation,
        check_keyholder_set,
        keyholders_of,
        read_history,
    )
    from ledger.consent.requests import (
        COMMUNITY_DOCUMENT_TYPE,
        CONSENT_ACTIONS,
        CUSTODY_DOCUMENT_TYPE,
        CUSTODY_NAMES,
        SEALED_DESCRIPTION_TYPE,
        STEWARDSHIP_MOVES,
        TERMS_ACTIONS,
        VERSIONED_ACTIONS,
        ConsentRequest,
        build_custody_request,
        build_derivative_request,
        build_description_request,
        build_register_request,
        build_request,
        build_rotation_request,
        custody_document,
        sealed_description_document,
        sealed_description_parts,
    )
    from ledger.consent.status import (
        ConsentSignature,
        ConsentStatus,
        PartyStatus,
        collect,
        sign_request,
    )

#: The protocol's public names, each with the module that holds it (loaded on first use).
_PROTOCOL: Final = {
    **dict.fromkeys(("describe_request", "proven_by"), "describe"),
    **dict.fromkeys(
        ("REGISTRATION_ACTION", "pack_registration", "registration_typed", "sign_registration"),
        "derivation",
    ),
    **dict.fromkeys(
        (
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
        ),
        "files",
    ),
    **dict.fromkeys(
        (
            "MAX_KEYHOLDERS",
            "CommunityHistory",
            "Rotation",
            "check_keyholder_set",
            "keyholders_of",
            "read_history",
        ),
        "history",
    ),
    **dict.fromkeys(
        (
            "COMMUNITY_DOCUMENT_TYPE",
            "CONSENT_ACTIONS",
            "CUSTODY_DOCUMENT_TYPE",
            "CUSTODY_NAMES",
            "SEALED_DESCRIPTION_TYPE",
            "STEWARDSHIP_MOVES",
            "TERMS_ACTIONS",
            "VERSIONED_ACTIONS",
            "ConsentRequest",
            "build_custody_request",
            "build_derivative_request",
            "build_description_request",
            "build_register_request",
            "build_request",
            "build_rotation_request",
            "custody_document",
            "sealed_description_document",
            "sealed_description_parts",
        ),
        "requests",
    ),
    **dict.fromkeys(
        ("ConsentSignature", "ConsentStatus", "PartyStatus", "collect", "sign_request"),
        "status",
    ),
}

__all__ = [
    "ACTION_TYPES",
    "COMMUNITY_DOCUMENT_TYPE",
    "CONSENT_ACTIONS",
    "CUSTODY_DOCUMENT_TYPE",
    "CUSTODY_NAMES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "FORMAT_VERSION",
    "HALF_ORDER",
    "MAX_KEYHOLDERS",
    "MAX_REQUEST_BYTES",
    "MAX_SIGNATURE_BYTES",
    "REGISTRATION_ACTION",
    "REQUEST_FORMAT_VERSION",
    "REQUEST_TYPE",
    "SEALED_DESCRIPTION_TYPE",
    "SECP256K1_N",
    "SIGNATURE_LENGTH",
    "SIGNATURE_TYPE",
    "STEWARDSHIP_MOVES",
    "TERMS_ACTIONS",
    "VERSIONED_ACTIONS",
    "CommunityHistory",
    "ConsentRequest",
    "ConsentSignature",
    "ConsentStatus",
    "Domain",
    "PartyStatus",
    "Rotation",
    "SignatureError",
    "TypedData",
    "address_word",
    "build_custody_request",
    "build_derivative_request",
    "build_description_request",
    "build_register_request",
    "build_request",
    "build_rotation_request",
    "check_keyholder_set",
    "check_signatures",
    "checksum_address",
    "collect",
    "custody_document",
    "derivative_consent",
    "describe_request",
    "encode_request",
    "encode_signature",
    "keyholders_of",
    "pack_registration",
    "pack_signatures",
    "parse_request",
    "parse_signature",
    "proven_by",
    "read_history",
    "read_request",
    "read_signature",
    "record_custody",
    "recover_address",
    "recover_signer",
    "registration_typed",
    "revoke_terms",
    "rotate_keyholders",
    "sealed_description_document",
    "sealed_description_parts",
    "set_description",
    "set_terms",
    "sign",
    "sign_registration",
    "sign_request",
    "type_hash",
    "type_string",
    "typed_data_json",
    "write_new_file",
]


def __getattr__(name: str) -> object:
    module = _PROTOCOL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
