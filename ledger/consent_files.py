"""Offline k-of-n consent: a request file, one signature file per keyholder, then submit.

The flow, for every action that keyholders authorise after a community exists: the terms
actions (``SetTerms``, ``RevokeTerms``), a keyholder rotation (``RotateKeyholders``), custody
records (``RecordCustody``: transfer, loan, return, repatriation) and the consent of a parent
claim's steward to another community's derivative of it (``ConsentDerivative``)::

    registry.consent.terms_request (online) ─► request.json ─► each keyholder: sign_request
    (offline, no chain, no IPFS) ─► alice.sig.json, bob.sig.json … ─► collect (offline):
    who signed, who is missing ─► registry.consent.submit (online): re-checks the chain,
    packs k signatures by increasing address and sends them.

A request file holds the complete EIP-712 typed data (``types``, ``primaryType``, ``domain``
with the live chain id and registry address, ``message``), so any EIP-712 wallet can sign it
too, plus what a signer needs to judge it offline: the keyholders and threshold, the item as
it was named, and for ``SetTerms`` the terms document itself, whose canonical form must hash
to the ``terms`` digest being signed. The keyholders and threshold are not in the digest, so
the request also carries each signing community's keyholder history
(:mod:`ledger.community_history`: its creation and every rotation, each signed by k of the set
before): the keyholders and threshold a request names must be the ones that history proves
for the community id being signed, or the file is refused as edited, naming the field. A
rotation or custody request carries its community or custody document (``document``: it
must hash to the ``document`` digest being signed, and say what the typed data says), and a
transfer or repatriation the receiving community (``receiver``, with ``receiver_history``),
whose k keyholders sign the same digest as the steward's. A ``ConsentDerivative`` request is
signed by k keyholders of the parent claim's steward; its ``document`` is the method document
(it must hash to the ``method`` digest being signed) and its ``derivative`` field names the
metadata and terms digests the deriving community signs at submit. A signature file
names the request's digest, the signer and the 65-byte signature; it is good for that one
request only (its ``terms_version`` is the nonce of a rotation or custody request).

Documents hold only public things: names, addresses, public encryption keys, and the CIDs of
envelopes (content keys wrapped for keyholders). Nothing restricted is in a request, a
signature file or a description.

Both are versioned JSON (``type`` and ``version``), capped in size when read, and parsed
strictly: duplicate keys, unknown or missing fields, wrong types, values out of range and
any disagreement between a field and the typed data it repeats are refused with
:class:`~ledger.errors.ConsentFileInvalid`. Nothing here does I/O except the ``read_*`` and
``write_*`` functions at the end.
"""

from __future__ import annotations

import hashlib
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
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    Community,
    batch_item_subject,
    claim_key,
    content_key,
)
from ledger.community_history import (
    CommunityHistory,
    Rotation,
    check_keyholder_set,
    keyholders_of,
)
from ledger.errors import (
    ConsentExpired,
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentMismatch,
    EvidenceInvalid,
    HeritageError,
    KeystoreError,
    LimitExceeded,
    NoSuchFile,
    UsageError,
    WrongPassphrase,
)
from ledger.index import CUSTODY_ACTIONS
from ledger.ipfs.cid import DAG_PB, RAW, Cid

__all__ = [
    "CONSENT_ACTIONS",
    "CUSTODY_NAMES",
    "FORMAT_VERSION",
    "MAX_REQUEST_BYTES",
    "MAX_SIGNATURE_BYTES",
    "REQUEST_FORMAT_VERSION",
    "REQUEST_TYPE",
    "SIGNATURE_TYPE",
    "STEWARDSHIP_MOVES",
    "TERMS_ACTIONS",
    "ConsentRequest",
    "ConsentSignature",
    "ConsentStatus",
    "PartyStatus",
    "build_custody_request",
    "build_derivative_request",
    "build_request",
    "build_rotation_request",
    "collect",
    "custody_document",
    "describe_request",
    "encode_request",
    "encode_signature",
    "load_keystore_file",
    "parse_request",
    "parse_signature",
    "proven_by",
    "read_request",
    "read_signature",
    "sign_request",
    "typed_data_json",
    "write_new_file",
]

REQUEST_TYPE: Final = "heritage/consent-request"
SIGNATURE_TYPE: Final = "heritage/consent-signature"
FORMAT_VERSION: Final = 1  # signature files
#: Request files: 2 added the signing communities' keyholder histories.
REQUEST_FORMAT_VERSION: Final = 2
#: The terms actions: the terms of an item, derivative or batch.
TERMS_ACTIONS: Final = ("SetTerms", "RevokeTerms")
#: The actions that can be collected offline: every one that k keyholders authorise after
#: their community exists (creation and registration are signed where the files are).
CONSENT_ACTIONS: Final = (*TERMS_ACTIONS, "RotateKeyholders", "RecordCustody", "ConsentDerivative")
#: RecordCustody's ``action`` codes, as the registry numbers them, and their names (the
#: index's, so history and requests say the same words).
CUSTODY_NAMES: Final = CUSTODY_ACTIONS
#: The custody actions that move stewardship: k of the receiving community sign too.
STEWARDSHIP_MOVES: Final = (CUSTODY_TRANSFER, CUSTODY_REPATRIATION)
COMMUNITY_DOCUMENT_TYPE: Final = "heritage/community"
CUSTODY_DOCUMENT_TYPE: Final = "heritage/custody"
#: A request carries a terms document (one block, at most 1 MiB) plus a few KiB of typed data;
#: JSON escaping can at most double the document, so 4 MiB leaves room and still refuses junk.
MAX_REQUEST_BYTES: Final = 4 << 20
MAX_SIGNATURE_BYTES: Final = 16 << 10
_MAX_KEYSTORE_BYTES: Final = 64 << 10
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
        "history",
    }
)
#: A rotation or custody request: the terms request's fields (terms ones null) and its document
#: and receiver (with the receiver's keyholder history).
_ACTION_REQUEST_FIELDS: Final = _REQUEST_FIELDS | {"document", "receiver", "receiver_history"}
#: A derivative's consent: its method document, and what the deriving community signs at submit.
_DERIVATIVE_REQUEST_FIELDS: Final = _ACTION_REQUEST_FIELDS | {"derivative"}
_DERIVATIVE_FIELDS: Final = frozenset({"metadata", "terms", "name"})
_SIGNATURE_FIELDS: Final = frozenset(
    {"type", "version", "request", "action", "subject", "terms_version", "signer", "signature"}
)


# ---- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One action waiting for k keyholder signatures (k of each community, for a transfer or
    repatriation)."""

    typed: consent.TypedData
    # As the requester named it, for people to read: a CID or a 0x key (terms, custody), the
    # community's 0x id (rotation).
    item: str
    # The signing community's keyholders (the steward's, for custody; the current ones, for a
    # rotation), strictly increasing, as the registry holds them, and its k.
    keyholders: tuple[ChecksumAddress, ...]
    threshold: int
    created_at: int
    # What proves ``keyholders`` and ``threshold`` offline (and ``receiver_history`` the
    # receiver's): they are not in the digest being signed.
    history: CommunityHistory
    terms_document: Mapping[str, Any] | None = None  # SetTerms only
    batch_root: bytes | None = None  # RevokeTerms of one item of a batch: the batch
    batch_item: bytes | None = None  # … and the item's key
    document: Mapping[str, Any] | None = None  # the community or custody document signed
    receiver: Community | None = None  # a transfer or repatriation: the receiving community
    receiver_history: CommunityHistory | None = None
    # ConsentDerivative: the derivative's metadata and terms digests (signed by the deriving
    # community at submit) and its file name, for people to read
    derivative: Mapping[str, Any] | None = None

    @property
    def action(self) -> str:
        return self.typed.primary_type

    @property
    def community(self) -> bytes:
        """The signing community: the steward, for custody; the parent claim's steward, for a
        derivative's consent (whose message names the deriving community instead)."""
        if self.action == "ConsentDerivative":
            return self.history.community
        return bytes(self.typed.message["community"])

    @property
    def subject(self) -> bytes:
        """What the action is about: the terms subject, the community (rotation) or the item
        (custody)."""
        if self.action == "RotateKeyholders":
            return self.community
        if self.action == "RecordCustody":
            return bytes(self.typed.message["item"])
        if self.action == "ConsentDerivative":
            return bytes(self.typed.message["parent"])
        return bytes(self.typed.message["subject"])

    @property
    def version(self) -> int:
        """The terms version being set or revoked, or the nonce a rotation (the community's)
        or a custody record (the item's) consumes: either way, what makes it stale."""
        if self.action == "ConsentDerivative":
            return 0  # nothing is consumed: the derivative's claim can be made once
        key = "version" if self.action in TERMS_ACTIONS else "nonce"
        return int(self.typed.message[key])

    @property
    def custody_action(self) -> int | None:
        if self.action != "RecordCustody":
            return None
        return int(self.typed.message["action"])

    @property
    def document_cid(self) -> str | None:
        """The CID of the community, custody or method document being signed."""
        if self.action in TERMS_ACTIONS:
            return None
        return str(Cid.from_digest(self._document_digest, RAW))

    @property
    def _document_digest(self) -> bytes:
        field = "method" if self.action == "ConsentDerivative" else "document"
        return bytes(self.typed.message[field])

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

    def parties(self) -> tuple[tuple[str, Community], ...]:
        """Each community whose k keyholders must sign, with its role."""
        if self.receiver is not None:
            return (("steward", self.steward()), ("receiver", self.receiver))
        return (("keyholders", self.steward()),)

    def signers(self) -> tuple[ChecksumAddress, ...]:
        """Everyone whose signature counts, once each."""
        return tuple(dict.fromkeys(a for _, c in self.parties() for a in c.keyholders))


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
class PartyStatus:
    """One signing community's side of a request: who of it signed, who did not."""

    role: str  # "keyholders"; for a transfer or repatriation "steward" or "receiver"
    community: Community
    signed: tuple[tuple[ChecksumAddress, bytes], ...]  # by increasing address
    missing: tuple[ChecksumAddress, ...]

    @property
    def needed(self) -> int:
        return max(0, self.community.threshold - len(self.signed))

    def packed(self) -> bytes:
        """k signatures of this community (the lowest addresses), as the registry takes them."""
        return consent.pack_signatures(self.signed[: self.community.threshold])

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "community": _hex(self.community.id),
            "threshold": self.community.threshold,
            "signed": [address for address, _ in self.signed],
            "missing": list(self.missing),
            "needed": self.needed,
        }


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """Who has signed a request (each signature checked), who has not, how many more."""

    request: ConsentRequest
    signed: tuple[tuple[ChecksumAddress, bytes], ...]  # by increasing address
    missing: tuple[ChecksumAddress, ...]
    parties: tuple[PartyStatus, ...]  # the steward's side first

    @property
    def needed(self) -> int:
        """How many more signatures the request needs (0 once k of every side are there)."""
        return sum(party.needed for party in self.parties)

    @property
    def complete(self) -> bool:
        return self.needed == 0

    def _require_complete(self) -> None:
        if self.complete:
            return
        sides = "; ".join(
            f"{len(p.signed)} of the {p.community.threshold} signatures of "
            f"{'community' if p.role == 'keyholders' else 'the ' + p.role} "
            f"{_hex(p.community.id)}"
            for p in self.parties
        )
        raise ConsentIncomplete(
            f"{self.request.action} of {_hex(self.request.subject)} has {sides}; "
            f"{self.needed} more of {', '.join(self.missing)} must sign",
            hint="send the request file to the missing keyholders (`heritage consent "
            "sign`), then pass every signature file; nothing was sent",
        )

    def packed(self) -> bytes:
        """k signatures (the lowest signer addresses) of the signing community (the steward,
        for custody) packed as the registry takes them; :class:`ConsentIncomplete`, naming who
        is missing, unless k of every side are there."""
        self._require_complete()
        return self.parties[0].packed()

    def packed_receiver(self) -> bytes | None:
        """The receiver's k signatures of a transfer or repatriation (None for others)."""
        self._require_complete()
        return self.parties[1].packed() if len(self.parties) > 1 else None

    def to_json(self) -> dict[str, Any]:
        request = self.request
        version_key = "terms_version" if request.action in TERMS_ACTIONS else "nonce"
        return {
            "digest": _hex(request.digest),
            "action": request.action,
            "subject": _hex(request.subject),
            version_key: request.version,
            "threshold": request.threshold,
            "signed": [address for address, _ in self.signed],
            "missing": list(self.missing),
            "needed": self.needed,
            "complete": self.complete,
            "deadline": request.deadline,
            "parties": [party.to_json() for party in self.parties],
        }


# ---- building and signing (pure) -------------------------------------------------------------


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _document_digest(document: Mapping[str, Any], what: str) -> bytes:
    """sha2-256 of the document's canonical JSON (RFC 8785), as registration stores it."""
    try:
        return hashlib.sha256(rfc8785.dumps(document)).digest()
    except rfc8785.CanonicalizationError as exc:
        raise UsageError(f"{what} has no canonical JSON form: {exc}") from None


def _terms_digest(document: Mapping[str, Any]) -> bytes:
    return _document_digest(document, "the terms document")


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
    history: CommunityHistory,
    terms_document: Mapping[str, Any] | None = None,
    batch: tuple[bytes, bytes] | None = None,
) -> ConsentRequest:
    """A request for ``action`` on ``subject`` (``version``: the one being set, or the one
    being revoked), to be signed by k of ``steward``'s keyholders before ``deadline``
    (``history``: the steward's keyholder history, which must prove them)."""
    if action not in TERMS_ACTIONS:
        raise UsageError(
            f"build_request makes terms requests ({TERMS_ACTIONS}), not {action!r}",
            hint="use build_rotation_request or build_custody_request",
        )
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
        history=history,
    )
    _check_request(request, "the request")
    return request


def build_rotation_request(
    domain: consent.Domain,
    current: Community,
    following: Community,
    document: Mapping[str, Any],
    nonce: int,
    deadline: int,
    *,
    created_at: int,
    history: CommunityHistory,
) -> ConsentRequest:
    """A request to replace ``current``'s keyholders and threshold by ``following``'s, with
    the new community ``document``; k of the current keyholders (which ``history`` proves)
    sign before ``deadline``."""
    message: dict[str, Any] = {
        "community": current.id,
        "keyholders": list(following.keyholders),
        "threshold": following.threshold,
        "document": _document_digest(document, "the community document"),
        "nonce": nonce,
        "deadline": deadline,
    }
    request = ConsentRequest(
        typed=consent.TypedData(domain, "RotateKeyholders", message),
        item=_hex(current.id),
        keyholders=current.keyholders,
        threshold=current.threshold,
        created_at=created_at,
        document=dict(document),
        history=history,
    )
    _check_request(request, "the request")
    return request


def custody_document(
    extra: Mapping[str, Any], action: int, item: bytes, steward: bytes, counterparty: bytes,
    nonce: int,
) -> dict[str, Any]:
    """The custody document that RecordCustody's ``document`` digest names (``extra``: what the
    caller adds). A return goes from the borrower back to the steward, every other action
    from the steward to the counterparty."""
    source, destination = (
        (counterparty, steward) if action == CUSTODY_RETURN else (steward, counterparty)
    )
    return {
        **extra,
        "type": CUSTODY_DOCUMENT_TYPE,
        "version": 1,
        "action": CUSTODY_NAMES[action],
        "item": _hex(item),
        "from": _hex(source),
        "to": _hex(destination),
        "nonce": nonce,
    }


def build_custody_request(
    domain: consent.Domain,
    action: int,
    steward: Community,
    key: bytes,
    counterparty: bytes,
    document: Mapping[str, Any],
    nonce: int,
    deadline: int,
    *,
    item: str,
    created_at: int,
    history: CommunityHistory,
    receiver: Community | None = None,
    receiver_history: CommunityHistory | None = None,
) -> ConsentRequest:
    """A RecordCustody request for item ``key`` (``item``: as named) with its custody
    ``document``; k of ``steward`` sign, and for a transfer or repatriation k of ``receiver``
    (the community ``counterparty`` names) too. ``history`` and ``receiver_history`` are their
    keyholder histories, which must prove their keyholders."""
    message: dict[str, Any] = {
        "item": key,
        "action": action,
        "community": steward.id,
        "counterparty": counterparty,
        "document": _document_digest(document, "the custody document"),
        "nonce": nonce,
        "deadline": deadline,
    }
    request = ConsentRequest(
        typed=consent.TypedData(domain, "RecordCustody", message),
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        document=dict(document),
        receiver=receiver,
        history=history,
        receiver_history=receiver_history,
    )
    _check_request(request, "the request")
    return request


def build_derivative_request(
    domain: consent.Domain,
    steward: Community,
    parent: bytes,
    community: bytes,
    cid: bytes,
    method_document: Mapping[str, Any],
    ai_enhanced: bool,
    deadline: int,
    *,
    item: str,
    created_at: int,
    history: CommunityHistory,
    metadata: bytes,
    terms: bytes,
    name: str,
) -> ConsentRequest:
    """A ConsentDerivative request: k of ``steward`` (the parent claim's steward, whose
    ``history`` proves its keyholders) consent to ``community`` registering ``cid`` as a
    derivative of the claim ``parent`` (``item``: as named), made as ``method_document`` says.
    ``metadata``, ``terms``: the digests the deriving community signs at submit."""
    message: dict[str, Any] = {
        "parent": parent,
        "community": community,
        "cid": cid,
        "method": _document_digest(method_document, "the method document"),
        "aiEnhanced": ai_enhanced,
        "deadline": deadline,
    }
    request = ConsentRequest(
        typed=consent.TypedData(domain, "ConsentDerivative", message),
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        document=dict(method_document),
        history=history,
        derivative={"metadata": _hex(metadata), "terms": _hex(terms), "name": name},
    )
    _check_request(request, "the request")
    return request


def sign_request(request: ConsentRequest, account: LocalAccount) -> ConsentSignature:
    """``account``'s signature over ``request``; refused unless it is one of the keyholders
    (of either community, for a transfer or repatriation)."""
    signer = to_checksum_address(account.address)
    if signer not in request.signers():
        raise ConsentMismatch(
            f"{signer} is not a keyholder of {_communities(request)} "
            f"(keyholders: {', '.join(request.signers())})",
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


def _communities(request: ConsentRequest) -> str:
    ids = [_hex(c.id) for _, c in request.parties()]
    return "community " + " nor of community ".join(ids)


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


def proven_by(history: CommunityHistory) -> str:
    """Whose keyholders a request names, and what proves them, in plain words."""
    count = len(history.rotations)
    return (
        f"community {_hex(history.community)} after its creation"
        + (f" and {count} rotation{'s' if count > 1 else ''}" if count else "")
        + " (proven by the request's history; `submit` checks the chain for later ones)"
    )


def describe_request(request: ConsentRequest) -> list[tuple[str, str]]:
    """What a keyholder is asked to sign, in plain words, as (label, value) rows."""
    domain = request.typed.domain
    if request.action == "RotateKeyholders":
        rows = _describe_rotation(request)
    elif request.action == "RecordCustody":
        rows = _describe_custody(request)
    elif request.action == "ConsentDerivative":
        rows = _describe_derivative(request)
    else:
        rows = _describe_terms(request)
    rows.append(("keyholders of", proven_by(request.history)))
    if request.receiver_history is not None:
        rows.append(("receiver's of", proven_by(request.receiver_history)))
    rows += [
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
    who has signed and who is missing, for each signing community. One bad file fails the
    whole collection."""
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
        if recovered not in request.signers():
            raise ConsentMismatch(
                f"{where} is signed by {recovered}, who is not a keyholder of "
                f"{_communities(request)}",
                hint=f"the keyholders are {', '.join(request.signers())}",
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
    # A keyholder of both communities of a transfer counts for each: the registry checks each
    # side's signatures over the same digest on its own.
    parties = tuple(
        PartyStatus(
            role,
            community,
            tuple(pair for pair in signed if pair[0] in community.keyholders),
            tuple(a for a in community.keyholders if a not in seen),
        )
        for role, community in request.parties()
    )
    missing = tuple(dict.fromkeys(a for party in parties for a in party.missing))
    return ConsentStatus(request, tuple(signed), missing, parties)


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


def _item_keys(item: str, community: bytes) -> set[bytes]:
    """The registry keys that ``item`` may name for ``community``: a 0x key itself, or for a
    CID in either version (as :meth:`ledger.registry.RegistryReader.resolve` tries them) its
    content key (an item of a batch) and the community's claim key. (A request about a claim
    that another community made names it by its 0x claim key.)"""
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
    keys = {content_key(bytes(c)) for c in candidates}
    return keys | {claim_key(community, bytes(c)) for c in candidates}


def _check_set(keys: Sequence[str], threshold: int, where: str) -> None:
    """A keyholder set as the registry takes one (:func:`check_keyholder_set`)."""
    try:
        check_keyholder_set(keys, threshold, where)
    except EvidenceInvalid as exc:
        raise ConsentFileInvalid(exc.message, hint=exc.hint) from None


def _says(document: Mapping[str, Any], field: str, expected: Any, where: str, what: str) -> None:
    """``document[field]`` is exactly ``expected`` (as JSON: true is not 1)."""
    found = document.get(field)
    if json.dumps(found, sort_keys=True) != json.dumps(expected, sort_keys=True):
        raise ConsentFileInvalid(
            f"{where}: the {what} says {field} {found!r:.80}, but the typed data being signed "
            f"says {expected!r:.80}",
            hint="the file was edited; make a new request",
        )


def _check_terms_request(request: ConsentRequest, where: str) -> None:
    if request.document is not None or request.receiver is not None:
        raise ConsentFileInvalid(f"{where}: a terms request carries no other document")
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


def _check_rotation(request: ConsentRequest, document: Mapping[str, Any], where: str) -> None:
    message = request.typed.message
    following = [str(a) for a in message["keyholders"]]
    _check_set(following, int(message["threshold"]), f"{where}: the new keyholders")
    if request.receiver is not None:
        raise ConsentFileInvalid(f"{where}: a rotation has no receiving community")
    what = "community document"
    _says(document, "type", COMMUNITY_DOCUMENT_TYPE, where, what)
    _says(document, "keyholders", following, where, what)
    _says(document, "threshold", int(message["threshold"]), where, what)
    _says(document, "rotation", request.version + 1, where, what)
    keys = document.get("encryption_keys", [])
    if not isinstance(keys, list) or not all(
        isinstance(e, dict) and e.get("address") in following for e in keys
    ):
        raise ConsentFileInvalid(
            f"{where}: the community document lists an encryption key that is not a new "
            "keyholder's",
            hint="the file was edited; make a new request",
        )


def _check_custody(request: ConsentRequest, document: Mapping[str, Any], where: str) -> None:
    message = request.typed.message
    action = int(message["action"])
    if action not in CUSTODY_NAMES:
        raise ConsentFileInvalid(
            f"{where}: custody action {action} is not one the registry knows "
            f"({', '.join(f'{k} {v}' for k, v in CUSTODY_NAMES.items())})"
        )
    counterparty = bytes(message["counterparty"])
    if counterparty in (bytes(32), request.community):
        raise ConsentFileInvalid(
            f"{where}: the counterparty {_hex(counterparty)} is zero or the steward itself"
        )
    expected = custody_document(
        {}, action, request.subject, request.community, counterparty, request.version
    )
    for field, value in expected.items():
        _says(document, field, value, where, "custody document")
    if action in STEWARDSHIP_MOVES:
        if request.receiver is None or request.receiver.id != counterparty:
            raise ConsentFileInvalid(
                f"{where}: a {CUSTODY_NAMES[action]} names the receiving community "
                f"{_hex(counterparty)}, whose keyholders sign too",
                hint="the file was edited; make a new request",
            )
        receiver = request.receiver
        _check_set(receiver.keyholders, receiver.threshold, f"{where}: the receiver")
        _check_history(
            request.receiver_history, receiver, request.typed.domain, where, "receiver."
        )
    elif request.receiver is not None or request.receiver_history is not None:
        raise ConsentFileInvalid(
            f"{where}: a custody {CUSTODY_NAMES[action]} is signed by the steward alone"
        )


_EDITED: Final = "the file was edited; make a new request"


def _check_derivative(request: ConsentRequest, where: str) -> None:
    derivative = request.derivative or {}
    if set(derivative) != _DERIVATIVE_FIELDS:
        raise ConsentFileInvalid(
            f"{where}: derivative is not {{{', '.join(sorted(_DERIVATIVE_FIELDS))}}}"
        )
    _bytes(derivative["metadata"], where, "derivative.metadata", 32)
    _bytes(derivative["terms"], where, "derivative.terms", 32)
    if not isinstance(derivative["name"], str) or len(derivative["name"]) > 255:
        raise ConsentFileInvalid(f"{where}: derivative.name is not a file name")
    if not bytes(request.typed.message["cid"]):
        raise ConsentFileInvalid(f"{where}: the derivative's CID is empty")
    if request.receiver is not None:
        raise ConsentFileInvalid(f"{where}: a derivative's consent has no receiver")


def _check_history(
    history: CommunityHistory | None,
    community: Community,
    domain: consent.Domain,
    where: str,
    field: str,
) -> None:
    """The keyholders and threshold a request names for ``community`` (``field``: where, e.g.
    ``receiver.``) are exactly those its keyholder history proves: they are not in the digest
    being signed, so nothing but the history keeps an edited set from being counted."""
    name = "receiver_history" if field else "history"
    if history is None:
        raise ConsentFileInvalid(f"{where}: {name} (the community's keyholder history) is missing")
    if history.community != community.id:
        raise ConsentFileInvalid(
            f"{where}: {name} is the history of community {_hex(history.community)}, not of "
            f"{_hex(community.id)}, whose keyholders sign",
            hint=_EDITED,
        )
    try:
        proven = keyholders_of(history, domain)
    except EvidenceInvalid as exc:
        raise ConsentFileInvalid(
            f"{where}: {name} does not hold: {exc.message}", hint=_EDITED
        ) from None
    count = len(history.rotations)
    source = (
        f"community {_hex(community.id)}'s keyholder history (its creation"
        + (f" and {count} rotation{'s' if count > 1 else ''}" if count else "")
        + ") proves"
    )
    if proven.keyholders != community.keyholders:
        raise ConsentFileInvalid(
            f"{where}: {field}keyholders were edited: the file names "
            f"{', '.join(community.keyholders)}, but {source} {', '.join(proven.keyholders)}",
            hint=_EDITED,
        )
    if proven.threshold != community.threshold:
        raise ConsentFileInvalid(
            f"{where}: {field}threshold was edited: the file says {community.threshold}, but "
            f"{source} {proven.threshold}",
            hint=_EDITED,
        )


def _check_request(request: ConsentRequest, where: str) -> None:
    """The invariants between a request's fields and its typed data."""
    # The item is shown to signers but is not in the digest, so it must name the very subject
    # being signed: an edited item cannot make a signer believe they sign for another one.
    if request.action == "RotateKeyholders":
        if request.item.lower() != _hex(request.subject):
            raise ConsentFileInvalid(
                f"{where}: item {request.item!r:.80} is not the id of the community being "
                f"rotated ({_hex(request.subject)})",
                hint="the file was edited; make a new request",
            )
    else:
        named = request.batch_item if request.batch_item is not None else request.subject
        if named not in _item_keys(request.item, request.community):
            raise ConsentFileInvalid(
                f"{where}: item {request.item!r:.80} does not name the subject being signed "
                f"({_hex(request.subject)})",
                hint="the file was edited; make a new request",
            )
    _check_set(request.keyholders, request.threshold, where)
    _check_history(request.history, request.steward(), request.typed.domain, where, "")
    if request.action != "RecordCustody" and request.receiver_history is not None:
        raise ConsentFileInvalid(f"{where}: a {request.action} request has no receiver_history")
    if (request.action == "ConsentDerivative") != (request.derivative is not None):
        raise ConsentFileInvalid(
            f"{where}: derivative goes with a ConsentDerivative request, and only with one"
        )
    if request.action in TERMS_ACTIONS:
        _check_terms_request(request, where)
        return
    if (
        request.terms_document is not None
        or request.batch_root is not None
        or request.batch_item is not None
    ):
        raise ConsentFileInvalid(
            f"{where}: a {request.action} request carries no terms document and no batch"
        )
    document = request.document
    if document is None:
        raise ConsentFileInvalid(f"{where}: a {request.action} request carries its document")
    digest = _document_digest(document, f"{where}: the document")
    if digest != request._document_digest:
        raise ConsentFileInvalid(
            f"{where}: the document does not hash to the document digest being signed",
            hint="the file was edited; make a new request",
        )
    if request.action == "RotateKeyholders":
        _check_rotation(request, document, where)
    elif request.action == "ConsentDerivative":
        _check_derivative(request, where)
    else:
        _check_custody(request, document, where)
    if request.action == "RotateKeyholders":
        rotations = len(request.history.rotations)
        if rotations != request.version:
            # The nonce is signed: it says how many rotations the history must hold.
            raise ConsentFileInvalid(
                f"{where}: history holds {rotations} rotations, but the rotation being signed "
                f"has nonce {request.version}, so {request.version} came before it",
                hint=_EDITED,
            )


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
        _bytes(value["community"], where, "receiver.community", 32),
        tuple(_address(h, where, f"receiver.keyholders[{i}]") for i, h in enumerate(holders)),
        _int(value["threshold"], where, "receiver.threshold", 8),
    )


_HISTORY_FIELDS: Final = frozenset({"community", "salt", "keyholders", "threshold", "rotations"})
_ROTATION_FIELDS: Final = frozenset(
    {"keyholders", "threshold", "document", "nonce", "deadline", "signatures"}
)


def _addresses(value: Any, where: str, what: str) -> tuple[ChecksumAddress, ...]:
    if not isinstance(value, list):
        raise ConsentFileInvalid(f"{where}: {what} is not a list of addresses")
    return tuple(_address(a, where, f"{what}[{i}]") for i, a in enumerate(value))


def _rotation(value: Any, where: str, what: str) -> Rotation:
    if not isinstance(value, dict) or set(value) != _ROTATION_FIELDS:
        fields = ", ".join(sorted(_ROTATION_FIELDS))
        raise ConsentFileInvalid(f"{where}: {what} is not {{{fields}}}")
    return Rotation(
        keyholders=_addresses(value["keyholders"], where, f"{what}.keyholders"),
        threshold=_int(value["threshold"], where, f"{what}.threshold", 8),
        document=_bytes(value["document"], where, f"{what}.document", 32),
        nonce=_int(value["nonce"], where, f"{what}.nonce", 64),
        deadline=_int(value["deadline"], where, f"{what}.deadline", 64),
        signatures=_bytes(value["signatures"], where, f"{what}.signatures"),
    )


def _history(value: Any, where: str, name: str) -> CommunityHistory:
    if value is None:
        raise ConsentFileInvalid(
            f"{where}: {name} (the keyholder history of a community whose keyholders sign) is "
            "missing",
            hint=_EDITED,
        )
    if not isinstance(value, dict) or set(value) != _HISTORY_FIELDS:
        fields = ", ".join(sorted(_HISTORY_FIELDS))
        raise ConsentFileInvalid(f"{where}: {name} is not {{{fields}}}")
    rotations = value["rotations"]
    if not isinstance(rotations, list):
        raise ConsentFileInvalid(f"{where}: {name}.rotations is not a list")
    return CommunityHistory(
        community=_bytes(value["community"], where, f"{name}.community", 32),
        salt=_bytes(value["salt"], where, f"{name}.salt", 32),
        keyholders=_addresses(value["keyholders"], where, f"{name}.keyholders"),
        threshold=_int(value["threshold"], where, f"{name}.threshold", 8),
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
    signed_document = document.get("document")
    if signed_document is not None and not isinstance(signed_document, dict):
        raise ConsentFileInvalid(f"{where}: document is not a JSON object")
    receiver = _receiver(document.get("receiver"), where)
    derivative = document.get("derivative")
    if derivative is not None and not isinstance(derivative, dict):
        raise ConsentFileInvalid(f"{where}: derivative is not a JSON object")
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
            document=signed_document,
            receiver=receiver,
            history=_history(document["history"], where, "history"),
            receiver_history=None
            if document.get("receiver_history") is None
            else _history(document["receiver_history"], where, "receiver_history"),
            derivative=derivative,
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
    document = _load(
        data, where, MAX_SIGNATURE_BYTES, "consent signature", SIGNATURE_TYPE, FORMAT_VERSION
    )
    _fields(document, _SIGNATURE_FIELDS, where)
    action = document["action"]
    if action not in CONSENT_ACTIONS:
        raise ConsentFileInvalid(f"{where}: action {action!r:.80} is not one of {CONSENT_ACTIONS}")
    # terms_version: a terms version (uint32), or the nonce (uint64) of a rotation or custody
    bits = 32 if action in TERMS_ACTIONS else 64
    return ConsentSignature(
        request_digest=_bytes(document["request"], where, "request", 32),
        action=action,
        subject=_bytes(document["subject"], where, "subject", 32),
        terms_version=_int(document["terms_version"], where, "terms_version", bits),
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
