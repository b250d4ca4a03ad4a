"""A consent request: one action that k keyholders are asked to sign, and what proves it.

A request holds the complete EIP-712 typed data of the action (:mod:`ledger.consent.typed_data`,
with the live chain id and registry address) plus what a signer needs to judge it offline: the
keyholders and threshold, the item as it was named, and for ``SetTerms`` the terms document
itself, whose canonical form must hash to the ``terms`` digest being signed. The keyholders
and threshold are not in the digest, so the request also carries each signing community's
keyholder history (:mod:`ledger.consent.history`): the keyholders and threshold a request
names must be the ones that history proves for the community id being signed, or the request
is refused as edited, naming the field. A rotation or custody request carries its community or
custody document (``document``: it must hash to the ``document`` digest being signed, and say
what the typed data says), and a transfer or repatriation the receiving community
(``receiver``, with ``receiver_history``), whose k keyholders sign the same digest as the
steward's. A ``ConsentDerivative`` request is signed by k keyholders of the parent claim's
steward; its ``document`` is the method document (it must hash to the ``method`` digest being
signed) and its ``derivative`` field names the metadata and terms digests the deriving
community signs at submit. A ``SetDescription`` request carries the description document
(``document``: it must hash to the ``description`` digest being signed, and be a valid
description, docs/description.md); for an encrypted item, a ``heritage/sealed-description``
document instead (:func:`sealed_description_parts`: the sealed bytes, whose sha2-256 is the
digest signed, and the envelope a keyholder opens them with: no plaintext), and for an item
of a batch ``batch`` (the batch key and the item's content key; the subject is the registry's
``batchItemSubject``).

Building a request and checking its invariants are pure: the ``build_*`` functions check a
request exactly as :func:`ledger.consent.files.parse_request` checks one read from a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import rfc8785
from eth_typing import ChecksumAddress

from ledger.chain import (
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    Community,
    batch_item_subject,
    claim_key,
    content_key,
)
from ledger.consent.fields import EDITED, field_bytes
from ledger.consent.history import CommunityHistory, check_keyholder_set, keyholders_of
from ledger.consent.typed_data import (
    Domain,
    TypedData,
    derivative_consent,
    record_custody,
    revoke_terms,
    rotate_keyholders,
    set_description,
    set_terms,
)
from ledger.errors import (
    ConsentFileInvalid,
    EvidenceInvalid,
    HeritageError,
    InvalidDescription,
    UsageError,
)
from ledger.index import CUSTODY_ACTIONS
from ledger.ipfs.cid import DAG_PB, RAW, Cid

__all__ = [
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
    "check_request",
    "custody_document",
    "sealed_description_document",
    "sealed_description_parts",
]

#: The terms actions: the terms of an item, derivative or batch.
TERMS_ACTIONS: Final = ("SetTerms", "RevokeTerms")
#: The actions that can be collected offline: every one that k keyholders authorise after
#: their community exists (creation and registration are signed where the files are).
CONSENT_ACTIONS: Final = (
    *TERMS_ACTIONS,
    "RotateKeyholders",
    "RecordCustody",
    "ConsentDerivative",
    "SetDescription",
    "RegisterItem",
)
#: The actions that consume a version of their subject (the others a nonce, or nothing).
VERSIONED_ACTIONS: Final = (*TERMS_ACTIONS, "SetDescription")
#: RecordCustody's ``action`` codes, as the registry numbers them, and their names (the
#: index's, so history and requests say the same words).
CUSTODY_NAMES: Final = CUSTODY_ACTIONS
#: The custody actions that move stewardship: k of the receiving community sign too.
STEWARDSHIP_MOVES: Final = (CUSTODY_TRANSFER, CUSTODY_REPATRIATION)
COMMUNITY_DOCUMENT_TYPE: Final = "heritage/community"
#: A SetDescription request's document for an encrypted item: the sealed correction, never
#: its text (docs/description.md, "Corrections").
SEALED_DESCRIPTION_TYPE: Final = "heritage/sealed-description"
_SEALED_DESCRIPTION_FIELDS: Final = frozenset({"type", "version", "sealed", "envelope", "item"})
CUSTODY_DOCUMENT_TYPE: Final = "heritage/custody"
_DERIVATIVE_FIELDS: Final = frozenset({"metadata", "terms", "name"})


# ---- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One action waiting for k keyholder signatures (k of each community, for a transfer or
    repatriation)."""

    typed: TypedData
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
    # RegisterItem: {"encrypted": bool}, what the terms say and the metadata document shows
    registration: Mapping[str, Any] | None = None

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
        if self.action == "RegisterItem":
            return claim_key(self.community, bytes(self.typed.message["cid"]))
        return bytes(self.typed.message["subject"])

    @property
    def version(self) -> int:
        """The terms or description version being set or revoked, or the nonce a rotation
        (the community's) or a custody record (the item's) consumes: either way, what makes
        it stale."""
        if self.action in ("ConsentDerivative", "RegisterItem"):
            return 0  # nothing is consumed: the claim can be made once
        key = "version" if self.action in VERSIONED_ACTIONS else "nonce"
        return int(self.typed.message[key])

    @property
    def custody_action(self) -> int | None:
        if self.action != "RecordCustody":
            return None
        return int(self.typed.message["action"])

    @property
    def document_cid(self) -> str | None:
        """The CID of the community, custody, method or description document being signed."""
        if self.action in TERMS_ACTIONS:
            return None
        return str(Cid.from_digest(self._document_digest, RAW))

    @property
    def sealed(self) -> bool:
        """A SetDescription of an encrypted item: its document is the sealed correction."""
        return (
            self.action == "SetDescription"
            and self.document is not None
            and self.document.get("type") == SEALED_DESCRIPTION_TYPE
        )

    @property
    def _document_digest(self) -> bytes:
        field = {
            "ConsentDerivative": "method",
            "SetDescription": "description",
            "RegisterItem": "metadata",
        }.get(self.action, "document")
        return bytes(self.typed.message[field])

    @property
    def deadline(self) -> int:
        return int(self.typed.message["deadline"])

    @property
    def digest(self) -> bytes:
        return self.typed.digest()

    @property
    def terms_cid(self) -> str | None:
        if self.action not in ("SetTerms", "RegisterItem"):
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


# ---- building (pure) -----------------------------------------------------------------------------


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
    domain: Domain,
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
    if action == "SetTerms":
        if terms_document is None:
            raise UsageError("a SetTerms request needs the terms document")
        terms = _terms_digest(terms_document)
        typed = set_terms(domain, steward.id, subject, version, terms, deadline)
    elif terms_document is not None:
        raise UsageError("a RevokeTerms request has no terms document")
    else:
        typed = revoke_terms(domain, steward.id, subject, version, deadline)
    request = ConsentRequest(
        typed=typed,
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        terms_document=None if terms_document is None else dict(terms_document),
        batch_root=None if batch is None else batch[0],
        batch_item=None if batch is None else batch[1],
        history=history,
    )
    check_request(request, "the request")
    return request


def build_rotation_request(
    domain: Domain,
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
    typed = rotate_keyholders(
        domain,
        current.id,
        following.keyholders,
        following.threshold,
        _document_digest(document, "the community document"),
        nonce,
        deadline,
    )
    request = ConsentRequest(
        typed=typed,
        item=_hex(current.id),
        keyholders=current.keyholders,
        threshold=current.threshold,
        created_at=created_at,
        document=dict(document),
        history=history,
    )
    check_request(request, "the request")
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
    domain: Domain,
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
    digest = _document_digest(document, "the custody document")
    typed = record_custody(domain, key, action, steward.id, counterparty, digest, nonce, deadline)
    request = ConsentRequest(
        typed=typed,
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        document=dict(document),
        receiver=receiver,
        history=history,
        receiver_history=receiver_history,
    )
    check_request(request, "the request")
    return request


def build_derivative_request(
    domain: Domain,
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
    method = _document_digest(method_document, "the method document")
    request = ConsentRequest(
        typed=derivative_consent(domain, parent, community, cid, method, ai_enhanced, deadline),
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        document=dict(method_document),
        history=history,
        derivative={"metadata": _hex(metadata), "terms": _hex(terms), "name": name},
    )
    check_request(request, "the request")
    return request


def sealed_description_document(
    sealed: bytes, envelope: Mapping[str, Any], item: bytes
) -> dict[str, Any]:
    """The document a SetDescription request of an encrypted item carries: the sealed
    correction (base64), the item's current envelope (its wrapped content keys: public) and
    the item key the envelope wraps it for. Its digest signed is ``sha2-256(sealed)``."""
    return {
        "type": SEALED_DESCRIPTION_TYPE,
        "version": 1,
        "sealed": base64.b64encode(sealed).decode("ascii"),
        "envelope": dict(envelope),
        "item": _hex(item),
    }


def sealed_description_parts(
    document: Mapping[str, Any], where: str
) -> tuple[bytes, Mapping[str, Any], bytes]:
    """(sealed bytes, envelope document, item key) of a :func:`sealed_description_document`;
    ConsentFileInvalid naming the field otherwise."""
    if set(document) != _SEALED_DESCRIPTION_FIELDS or document.get("version") != 1:
        raise ConsentFileInvalid(
            f"{where}: the sealed description is not "
            f"{{{', '.join(sorted(_SEALED_DESCRIPTION_FIELDS))}}} (version 1)",
            hint=EDITED,
        )
    try:
        sealed = base64.b64decode(str(document["sealed"]), validate=True)
    except (binascii.Error, ValueError):
        raise ConsentFileInvalid(f"{where}: sealed is not base64", hint=EDITED) from None
    envelope = document["envelope"]
    if not isinstance(envelope, dict):
        raise ConsentFileInvalid(f"{where}: envelope is not a JSON object", hint=EDITED)
    item = field_bytes(document["item"], where, "item", 32)
    return sealed, envelope, item


def build_description_request(
    domain: Domain,
    steward: Community,
    subject: bytes,
    version: int,
    document: Mapping[str, Any],
    deadline: int,
    *,
    item: str,
    created_at: int,
    history: CommunityHistory,
    batch: tuple[bytes, bytes] | None = None,
) -> ConsentRequest:
    """A SetDescription request: k of ``steward`` (whose ``history`` proves its keyholders)
    publish description ``version`` of ``subject`` (``item``: as named), the description
    ``document`` (or a :func:`sealed_description_document`), before ``deadline``; ``batch``:
    (batch key, content key) of an item of a batch."""
    if document.get("type") == SEALED_DESCRIPTION_TYPE:
        digest = hashlib.sha256(sealed_description_parts(document, "the request")[0]).digest()
    else:
        digest = _document_digest(document, "the description document")
    request = ConsentRequest(
        typed=set_description(domain, steward.id, subject, version, digest, deadline),
        item=item,
        keyholders=steward.keyholders,
        threshold=steward.threshold,
        created_at=created_at,
        document=dict(document),
        history=history,
        batch_root=None if batch is None else batch[0],
        batch_item=None if batch is None else batch[1],
    )
    check_request(request, "the request")
    return request


def build_register_request(
    domain: Domain,
    community: Community,
    cid: bytes,
    metadata_document: Mapping[str, Any],
    terms_document: Mapping[str, Any],
    commitment: bytes,
    deadline: int,
    *,
    item: str,
    created_at: int,
    history: CommunityHistory,
    encrypted: bool,
) -> ConsentRequest:
    """A RegisterItem request: k of ``community`` (whose ``history`` proves its keyholders)
    register the content ``cid`` (``item``: its CID as text) with its metadata document and
    terms, before ``deadline``; ``encrypted``: ``cid`` is the ciphertext's, and
    ``metadata_document`` the public "heritage/sealed-item" document."""
    typed = TypedData(
        domain,
        "RegisterItem",
        {
            "community": community.id,
            "cid": cid,
            "metadata": _document_digest(metadata_document, "the metadata document"),
            "terms": _terms_digest(terms_document),
            "commitment": commitment,
            "deadline": deadline,
        },
    )
    request = ConsentRequest(
        typed=typed,
        item=item,
        keyholders=community.keyholders,
        threshold=community.threshold,
        created_at=created_at,
        terms_document=dict(terms_document),
        document=dict(metadata_document),
        history=history,
        registration={"encrypted": encrypted},
    )
    check_request(request, "the request")
    return request


# ---- invariants (pure) ---------------------------------------------------------------------------


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
    _check_batch_subject(request, where)


def _check_batch_subject(request: ConsentRequest, where: str) -> None:
    if (request.batch_root is None) != (request.batch_item is None):
        raise ConsentFileInvalid(f"{where}: a batch needs both its root and the item")
    if (
        request.batch_root is not None
        and request.batch_item is not None
        and batch_item_subject(request.batch_root, request.batch_item) != request.subject
    ):
        what = "description" if request.action == "SetDescription" else "terms"
        raise ConsentFileInvalid(
            f"{where}: the subject is not the batch item's {what} subject",
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


def _check_derivative(request: ConsentRequest, where: str) -> None:
    derivative = request.derivative or {}
    if set(derivative) != _DERIVATIVE_FIELDS:
        raise ConsentFileInvalid(
            f"{where}: derivative is not {{{', '.join(sorted(_DERIVATIVE_FIELDS))}}}"
        )
    field_bytes(derivative["metadata"], where, "derivative.metadata", 32)
    field_bytes(derivative["terms"], where, "derivative.terms", 32)
    if not isinstance(derivative["name"], str) or len(derivative["name"]) > 255:
        raise ConsentFileInvalid(f"{where}: derivative.name is not a file name")
    if not bytes(request.typed.message["cid"]):
        raise ConsentFileInvalid(f"{where}: the derivative's CID is empty")
    if request.receiver is not None:
        raise ConsentFileInvalid(f"{where}: a derivative's consent has no receiver")


def _check_description(request: ConsentRequest, document: Mapping[str, Any], where: str) -> None:
    # Imported here: the description model is the rights package's, which the protocol's
    # typed-data half (loaded with the chain client) need not load.
    from ledger.rights.description import description_from_json

    if request.receiver is not None:
        raise ConsentFileInvalid(f"{where}: a description's correction has no receiver")
    try:
        description_from_json(document, where=f"{where}: the description document")
    except InvalidDescription as exc:
        raise ConsentFileInvalid(exc.message, hint=EDITED) from None


def _check_registration(request: ConsentRequest, where: str) -> None:
    """A RegisterItem request: its terms and metadata documents are the ones signed, valid
    terms of the community, and encrypted exactly when the terms require it."""
    # Imported here, as the description model above: the rights package is not the typed
    # data's to load.
    from ledger.documents import SEALED_ITEM_TYPE
    from ledger.errors import InvalidTerms
    from ledger.rights import parse_terms, requires_encryption

    message = request.typed.message
    if (
        request.receiver is not None
        or request.receiver_history is not None
        or request.batch_root is not None
        or request.batch_item is not None
        or request.derivative is not None
    ):
        raise ConsentFileInvalid(f"{where}: a registration has no receiver, batch or derivative")
    terms, document = request.terms_document, request.document
    if terms is None or document is None:
        raise ConsentFileInvalid(f"{where}: a registration carries its terms and metadata")
    if _terms_digest(terms) != bytes(message["terms"]):
        raise ConsentFileInvalid(
            f"{where}: the terms document does not hash to the terms digest being signed",
            hint=EDITED,
        )
    if _document_digest(document, f"{where}: the metadata document") != bytes(
        message["metadata"]
    ):
        raise ConsentFileInvalid(
            f"{where}: the metadata document does not hash to the metadata digest being signed",
            hint=EDITED,
        )
    registration = request.registration
    if (
        registration is None
        or set(registration) != {"encrypted"}
        or not isinstance(registration["encrypted"], bool)
    ):
        raise ConsentFileInvalid(f'{where}: registration is not {{"encrypted": true|false}}')
    encrypted = registration["encrypted"]
    try:
        parsed = parse_terms(terms, where=f"{where}: terms_document", community=request.community)
    except InvalidTerms as exc:
        raise ConsentFileInvalid(exc.message, hint=EDITED) from None
    if requires_encryption(parsed) != encrypted:
        raise ConsentFileInvalid(
            f"{where}: registration.encrypted is {str(encrypted).lower()}, but the terms "
            f"{'do not require' if encrypted else 'require'} encryption",
            hint=EDITED,
        )
    cid = bytes(message["cid"])
    try:
        shown = str(Cid.from_bytes(cid))
    except (HeritageError, ValueError):
        raise ConsentFileInvalid(f"{where}: message.cid is not a CID") from None
    sealed = document.get("type") == SEALED_ITEM_TYPE
    committed = bytes(message["commitment"]) != bytes(32)
    if sealed != encrypted or committed != encrypted or document.get("cid") != shown:
        raise ConsentFileInvalid(
            f"{where}: the metadata document, the commitment and registration.encrypted do "
            f"not agree about {shown} (an encrypted item has a sealed-item document and a "
            "commitment; a public one neither)",
            hint=EDITED,
        )


def _check_history(
    history: CommunityHistory | None,
    community: Community,
    domain: Domain,
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
            hint=EDITED,
        )
    try:
        proven = keyholders_of(history, domain)
    except EvidenceInvalid as exc:
        raise ConsentFileInvalid(
            f"{where}: {name} does not hold: {exc.message}", hint=EDITED
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
            hint=EDITED,
        )
    if proven.threshold != community.threshold:
        raise ConsentFileInvalid(
            f"{where}: {field}threshold was edited: the file says {community.threshold}, but "
            f"{source} {proven.threshold}",
            hint=EDITED,
        )


def check_request(request: ConsentRequest, where: str) -> None:
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
    if (request.action == "RegisterItem") != (request.registration is not None):
        raise ConsentFileInvalid(
            f"{where}: registration goes with a RegisterItem request, and only with one"
        )
    if request.action in TERMS_ACTIONS:
        _check_terms_request(request, where)
        return
    if request.action == "RegisterItem":
        _check_registration(request, where)
        return
    batch = request.batch_root is not None or request.batch_item is not None
    if request.terms_document is not None or (batch and request.action != "SetDescription"):
        raise ConsentFileInvalid(
            f"{where}: a {request.action} request carries no terms document and no batch"
        )
    if batch:
        _check_batch_subject(request, where)
    document = request.document
    if document is None:
        raise ConsentFileInvalid(f"{where}: a {request.action} request carries its document")
    if request.sealed:
        digest = hashlib.sha256(sealed_description_parts(document, where)[0]).digest()
    else:
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
    elif request.action == "SetDescription":
        if request.receiver is not None:
            raise ConsentFileInvalid(f"{where}: a description's correction has no receiver")
        if not request.sealed:
            _check_description(request, document, where)
    else:
        _check_custody(request, document, where)
    if request.action == "RotateKeyholders":
        rotations = len(request.history.rotations)
        if rotations != request.version:
            # The nonce is signed: it says how many rotations the history must hold.
            raise ConsentFileInvalid(
                f"{where}: history holds {rotations} rotations, but the rotation being signed "
                f"has nonce {request.version}, so {request.version} came before it",
                hint=EDITED,
            )
