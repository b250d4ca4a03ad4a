"""Consent flow: terms changes signed offline, and sending any request once signed.

An offline request (``heritage consent request``) is made here for terms (this module), a
rotation (:mod:`ledger.registry.communities`), custody (:mod:`ledger.registry.custody`), a
derivative (:mod:`ledger.registry.derivatives`) or a description's correction
(:mod:`ledger.registry.descriptions`) or a registration
(:mod:`ledger.registry.registrations`); keyholders sign it elsewhere
(:mod:`ledger.consent`); :meth:`ConsentFlow.submit` re-reads the chain and sends it to
the workflow that owns the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ledger import consent
from ledger.chain import batch_item_subject
from ledger.consent import ConsentRequest, ConsentSignature, build_request, collect
from ledger.errors import ConsentMismatch, ConsentStale, UsageError
from ledger.registry.communities import Communities
from ledger.registry.custody import Custody
from ledger.registry.derivatives import Derivatives
from ledger.registry.descriptions import Descriptions, DescriptionSet
from ledger.registry.inputs import read_terms_document
from ledger.registry.reader import RegistryReader
from ledger.registry.registrations import Registrations
from ledger.registry.results import (
    CustodyRecorded,
    DerivativeRegistration,
    ItemRegistration,
    RotationSubmitted,
    TermsConsentSubmitted,
    TxView,
    Withdrawal,
    to_hex,
)
from ledger.registry.session import CONSENT_REQUEST_SECONDS, RegistrySession
from ledger.registry.signers import SignerKeys
from ledger.registry.terms import Terms
from ledger.rights import parse_terms, requires_encryption

__all__ = ["ConsentFlow", "Submitted"]

#: What sending a signed request did, by its action.
Submitted = (
    TermsConsentSubmitted
    | RotationSubmitted
    | CustodyRecorded
    | DerivativeRegistration
    | DescriptionSet
    | ItemRegistration
)


class ConsentFlow:
    """``heritage consent request terms|revoke`` and ``heritage consent submit``."""

    def __init__(
        self,
        session: RegistrySession,
        reader: RegistryReader,
        terms: Terms,
        communities: Communities,
        custody: Custody,
        derivatives: Derivatives,
        descriptions: Descriptions,
        registrations: Registrations,
    ) -> None:
        self.session = session
        self.reader = reader
        self.terms = terms
        self.communities = communities
        self.custody = custody
        self.derivatives = derivatives
        self.descriptions = descriptions
        self.registrations = registrations

    def terms_request(
        self,
        item: str,
        terms: Path | None,
        *,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        community: bytes | None = None,
    ) -> ConsentRequest:
        """A SetTerms request for ITEM (``terms`` given: the next version, the document put on
        IPFS and pinned) or a RevokeTerms request of its current terms (``terms`` None; an item
        of a batch: that item alone), for keyholders to sign offline. Sends nothing."""
        now = self.session.request_clock(valid_for)
        client = self.session.client
        domain = client.domain()
        if terms is None:
            resolved = self.reader.resolve(item, community)
            batch: tuple[bytes, bytes] | None = None
            if resolved.batch_root is not None:
                root = resolved.batch_root
                content = resolved.content_key()
                batch_record = client.find_record(root)
                steward = self.session.community(client.steward_of(root, batch_record))
                self.reader.batch_entry(root, content)  # NotFound unless it is in the batch
                subject = batch_item_subject(root, content)
                batch = (root, content)
            else:
                subject, _, steward = self.reader.subject(item, "revoke", community)
            state = client.terms_of(subject)
            if state.revoked:
                raise UsageError(
                    f"the terms of {item} (version {state.version}) are already revoked"
                )
            return build_request(
                domain,
                "RevokeTerms",
                steward,
                subject,
                state.version,
                now + valid_for,
                item=self.reader.request_item(item, steward.id, community),
                created_at=now,
                history=self.session.community_history(steward.id),
                batch=batch,
            )
        key, _, steward = self.reader.subject(item, "set", community)
        document = read_terms_document(terms, steward.id)
        version = client.terms_of(key).version + 1
        request = build_request(
            domain,
            "SetTerms",
            steward,
            key,
            version,
            now + valid_for,
            item=self.reader.request_item(item, steward.id, community),
            created_at=now,
            history=self.session.community_history(steward.id),
            terms_document=document,
        )
        self.session.put_document(document)  # pinned, so the CID being signed can be fetched
        return request

    def submit(
        self,
        request: ConsentRequest,
        signatures: Sequence[tuple[str, ConsentSignature]],
        keys: SignerKeys | None = None,
        registration: Sequence[tuple[str, ConsentSignature]] = (),
    ) -> Submitted:
        """Send ``request`` with signatures collected elsewhere (``(where, signature)``, one
        per keyholder), once k are there (k of each community, for a transfer or
        repatriation). The chain is re-read first: a request for another chain or registry, an
        expired one, or one made stale by a rotation, a custody move, another terms change or
        custody record, or (rotation) an encrypted item its re-wrap does not cover, is refused
        with nothing sent. A derivative's consent registers the derivative, k of the deriving
        community signing RegisterDerivative here with ``keys``, or offline (``registration``:
        their signature files, ``heritage consent sign --deriving``)."""
        self.session.require_sender()
        client = self.session.client
        domain = client.domain()
        wanted = request.typed.domain
        if (domain.chain_id, domain.verifying_contract.lower()) != (
            wanted.chain_id,
            wanted.verifying_contract.lower(),
        ):
            raise ConsentMismatch(
                f"the request is for registry {wanted.verifying_contract} on chain "
                f"{wanted.chain_id}; this is registry {domain.verifying_contract} on chain "
                f"{domain.chain_id}",
                hint="submit it with HERITAGE_RPC_URL and HERITAGE_DEPLOYMENT of that chain",
            )
        now = self.session.chain_time()
        status = collect(request, signatures, now=now)
        packed = status.packed()  # ConsentIncomplete, naming who is missing, below k
        if request.action == "RotateKeyholders":
            return self.communities.submit_rotation(request, status)
        if request.action == "RecordCustody":
            return self.custody.submit(request, status)
        if request.action == "SetDescription":
            return self.descriptions.submit(request, status)
        if request.action == "RegisterItem":
            return self.registrations.submit(request, status)
        if request.action == "ConsentDerivative":
            if keys is None and not registration:
                raise UsageError(
                    "registering the derivative needs k signatures of the deriving community "
                    "too, made here or offline",
                    hint="pass its keyholders' --signer and --password-file, or their signature "
                    "files (`heritage consent sign --deriving`); nothing was sent",
                )
            return self.derivatives.submit(request, status, keys, registration)
        steward = request.steward()
        subject = request.subject
        # The request file may come from elsewhere: its terms pass the same check as a terms
        # file given to `heritage terms set` (InvalidTerms, nothing sent).
        restricts = request.terms_document is not None and requires_encryption(
            parse_terms(
                request.terms_document, where="the request's terms document", community=steward.id
            )
        )
        what = f"{request.action} of {request.item} ({to_hex(subject)})"
        if not client.community_matches(steward):
            raise ConsentStale(
                f"the keyholders or threshold of community {to_hex(steward.id)} changed after the "
                f"request for {what} was made (a rotation); its signatures no longer count",
                hint="make a new request and have the current keyholders sign it; nothing "
                "was sent",
            )
        root = request.batch_root if request.batch_root is not None else subject
        record = client.find_record(root)
        if client.steward_of(root, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {to_hex(steward.id)} "
                "(a custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        state = client.terms_of(subject)
        if request.action == "SetTerms":
            stale = state.version + 1 != request.version
            current = f"the current version is {state.version}, so the next is {state.version + 1}"
        else:
            stale = state.version != request.version or state.revoked
            current = f"the current version is {state.version}" + (
                " and it is revoked" if state.revoked else ""
            )
        if stale:
            raise ConsentStale(
                f"the request for {what} is about terms version {request.version}, but "
                f"{current}: the terms changed after the request was made",
                hint="make a new request; nothing was sent",
            )
        # The registry's own check, run here first so a refusal costs no gas.
        consent.check_signatures(request.digest, steward.keyholders, steward.threshold, packed)
        signers = tuple(a for a, _ in status.signed[: request.threshold])
        withdrawal: Withdrawal | None = None
        if request.action == "SetTerms":
            assert request.terms_document is not None  # parse_request guarantees it
            digest, cid = self.session.put_document(request.terms_document)
            outcome = client.set_terms(
                subject, record, steward, request.version, digest, request.deadline, packed
            )
            # As `terms set`: terms that no longer allow public access stop the plaintext
            # being served here.
            if restricts:
                withdrawal = self.terms.withdraw_public(subject, record)
            return TermsConsentSubmitted(
                subject, request.version, signers, TxView.of(outcome), terms_cid=str(cid),
                withdrawal=withdrawal,
            )  # fmt: skip
        if request.batch_root is not None and request.batch_item is not None:
            membership = self.reader.batch_membership(request.batch_root, request.batch_item)
            outcome = client.revoke_batch_item(
                bytes.fromhex(membership["root"][2:]),
                record,
                request.batch_item,
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                [bytes.fromhex(p[2:]) for p in membership["proof"]],
                steward,
                request.version,
                request.deadline,
                packed,
            )
            # As `terms revoke`: a revoked plaintext item is no longer served here.
            withdrawal = self.terms.withdraw_public(request.batch_root, record, request.batch_item)
            return TermsConsentSubmitted(
                subject, request.version, signers, TxView.of(outcome), batch=request.batch_root,
                withdrawal=withdrawal,
            )  # fmt: skip
        outcome = client.revoke_terms(
            subject, record, steward, request.version, request.deadline, packed
        )
        withdrawal = self.terms.withdraw_public(subject, record)
        return TermsConsentSubmitted(
            subject, request.version, signers, TxView.of(outcome), withdrawal=withdrawal
        )
