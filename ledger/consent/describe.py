"""What a keyholder is asked to sign, in plain words: a consent request as (label, value) rows.

The rows say what the action does (``REPLACE``, ``TRANSFER``, ``REVOKE`` … in capitals where
it cannot be undone lightly), who signs, what proves the keyholders, and the chain, registry,
deadline and digest that make the signature good for this one request only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    Community,
)
from ledger.consent.history import CommunityHistory
from ledger.consent.requests import CUSTODY_NAMES, ConsentRequest
from ledger.errors import HeritageError
from ledger.ipfs.cid import Cid

__all__ = ["describe_request", "proven_by"]


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _k_of(community: Community) -> str:
    return f"{community.threshold} of {', '.join(community.keyholders)}"


def _describe_terms(request: ConsentRequest) -> list[tuple[str, str]]:
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
        ("keyholders", _k_of(request.steward())),
    ]
    return rows


def _describe_rotation(request: ConsentRequest) -> list[tuple[str, str]]:
    document = request.document or {}
    message = request.typed.message
    before = set(request.keyholders)
    after = [str(a) for a in message["keyholders"]]
    name = document.get("name")
    named = f" ({name})" if isinstance(name, str) else ""
    keys = [
        f"{e.get('address')} {e.get('kem')} key {e.get('key_id')}"
        for e in document.get("encryption_keys", [])
        if isinstance(e, dict)
    ]
    envelopes = document.get("envelopes")
    return [
        (
            "action",
            f"RotateKeyholders: REPLACE the keyholders of community {_hex(request.community)}"
            f"{named}; from then on only the new keyholders can act for it and open its "
            "encrypted items",
        ),
        ("community", _hex(request.community)),
        ("now", f"{_k_of(request.steward())} (k of these sign this request)"),
        ("after", f"{message['threshold']} of {', '.join(after)}"),
        ("added", ", ".join(a for a in after if a not in before) or "nobody"),
        ("removed", ", ".join(a for a in request.keyholders if a not in after) or "nobody"),
        ("nonce", f"{request.version} (rotation number {request.version + 1})"),
        ("encryption keys", "; ".join(keys) or "none listed"),
        (
            "re-wrapped",
            f"the community's encrypted items, for those keys: envelope index {envelopes}"
            if isinstance(envelopes, str)
            else "nothing (the community stewards no encrypted item)",
        ),
        ("document CID", str(request.document_cid)),
        ("document", json.dumps(document, sort_keys=True)),
    ]


def _describe_custody(request: ConsentRequest) -> list[tuple[str, str]]:
    message = request.typed.message
    action = int(message["action"])
    steward, other = _hex(request.community), _hex(bytes(message["counterparty"]))
    what = {
        CUSTODY_TRANSFER: f"TRANSFER stewardship of {request.item} from community {steward} "
        f"to community {other}",
        CUSTODY_REPATRIATION: f"REPATRIATE {request.item}: stewardship moves from community "
        f"{steward} to community {other}",
        CUSTODY_LOAN: f"LEND {request.item}, stewarded by community {steward}, to {other} "
        "(stewardship stays)",
        CUSTODY_RETURN: f"record the RETURN of {request.item} from {other} to its steward, "
        f"community {steward}",
    }[action]
    rows = [
        ("action", f"RecordCustody ({CUSTODY_NAMES[action]}): {what}"),
        ("item", request.item),
        ("subject", _hex(request.subject)),
        ("custody nonce", str(request.version)),
        ("steward", f"{steward}: {_k_of(request.steward())} sign"),
    ]
    if request.receiver is not None:
        rows.append(("receiver", f"{other}: {_k_of(request.receiver)} sign too"))
    else:
        rows.append(("borrower" if action == CUSTODY_LOAN else "returned by", other))
    envelopes = (request.document or {}).get("envelopes")
    if isinstance(envelopes, str):
        rows.append(
            ("re-wrapped", f"the item's encrypted content, for the receiver: {envelopes}")
        )
    rows += [
        ("document CID", str(request.document_cid)),
        ("document", json.dumps(request.document, sort_keys=True)),
    ]
    return rows


def _describe_derivative(request: ConsentRequest) -> list[tuple[str, str]]:
    message = request.typed.message
    cid = bytes(message["cid"])
    try:
        shown = str(Cid.from_bytes(cid))
    except HeritageError:
        shown = _hex(cid)
    ai = "yes: made or enhanced with generative AI" if message["aiEnhanced"] else "no"
    derivative = request.derivative or {}
    return [
        (
            "action",
            f"ConsentDerivative: CONSENT, as the steward of {request.item}, to community "
            f"{_hex(bytes(message['community']))} registering {shown} as a derivative of it",
        ),
        ("item", request.item),
        ("subject", _hex(request.subject)),
        ("derivative", f"{shown} ({derivative.get('name', '')})"),
        ("AI-enhanced", ai),
        ("steward", f"{_hex(request.community)}: {_k_of(request.steward())} sign"),
        ("method CID", str(request.document_cid)),
        ("method", json.dumps(request.document, sort_keys=True)),
    ]


def _describe_description(
    request: ConsentRequest, opened: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """``opened``: a sealed correction's description, opened by the signer's own key (the
    request holds only its sealed bytes)."""
    document = (opened or {}) if request.sealed else (request.document or {})
    title = document.get("title")
    titles = (
        "; ".join(f"{tag}: {text}" for tag, text in sorted(title.items()))
        if isinstance(title, dict)
        else "?"
    )
    return [
        (
            "action",
            f"SetDescription: PUBLISH a corrected description (version {request.version}) "
            "that replaces the current one wherever the item is shown; earlier versions stay "
            "on the record",
        ),
        ("item", request.item),
        ("subject", _hex(request.subject)),
        ("description version", str(request.version)),
        ("title", titles),
        ("description CID", str(request.document_cid)),
        (
            "description",
            ("SEALED for the item's keyholders, opened with your key: " if request.sealed else "")
            + json.dumps(document, sort_keys=True, ensure_ascii=False),
        ),
        ("community", _hex(request.community)),
        ("keyholders", _k_of(request.steward())),
    ]


def _describe_registration(request: ConsentRequest) -> list[tuple[str, str]]:
    document = request.document or {}
    encrypted = bool((request.registration or {}).get("encrypted"))
    rows = [
        (
            "action",
            f"RegisterItem: REGISTER {request.item} as an item of community "
            f"{_hex(request.community)}, under the terms below",
        ),
        ("item", request.item),
        ("subject", _hex(request.subject)),
        (
            "encrypted",
            "yes: only the ciphertext is on IPFS; its name, description and plaintext CID are "
            "sealed for the keyholders"
            if encrypted
            else "no: the file and its metadata are public",
        ),
        ("terms CID", str(request.terms_cid)),
        ("terms", json.dumps(request.terms_document, sort_keys=True, ensure_ascii=False)),
        ("metadata CID", str(request.document_cid)),
        ("metadata", json.dumps(document, sort_keys=True, ensure_ascii=False)),
        ("community", _hex(request.community)),
        ("keyholders", _k_of(request.steward())),
    ]
    return rows


def proven_by(history: CommunityHistory) -> str:
    """Whose keyholders a request names, and what proves them, in plain words."""
    count = len(history.rotations)
    return (
        f"community {_hex(history.community)} after its creation"
        + (f" and {count} rotation{'s' if count > 1 else ''}" if count else "")
        + " (proven by the request's history; `submit` checks the chain for later ones)"
    )


def _iso_utc(seconds: int) -> str:
    """Unix seconds as ISO 8601 in UTC to the second (``2027-06-01T02:00:00Z``): what a
    keyholder reads before signing; the typed data keeps the number."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_request(
    request: ConsentRequest, *, opened: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """What a keyholder is asked to sign, in plain words, as (label, value) rows; ``opened``:
    a sealed description correction's text, opened with the signer's key."""
    domain = request.typed.domain
    if request.action == "RotateKeyholders":
        rows = _describe_rotation(request)
    elif request.action == "RecordCustody":
        rows = _describe_custody(request)
    elif request.action == "ConsentDerivative":
        rows = _describe_derivative(request)
    elif request.action == "SetDescription":
        rows = _describe_description(request, opened)
    elif request.action == "RegisterItem":
        rows = _describe_registration(request)
    else:
        rows = _describe_terms(request)
    rows.append(("keyholders of", proven_by(request.history)))
    if request.receiver_history is not None:
        rows.append(("receiver's of", proven_by(request.receiver_history)))
    rows += [
        ("chain id", str(domain.chain_id)),
        ("registry", to_checksum_address(domain.verifying_contract)),
        ("valid until", _iso_utc(request.deadline)),
        ("digest", _hex(request.digest)),
    ]
    return rows
