"""Derivatives: registering a file derived from a registered item (a 3D model from photos,
an enhanced scan), with a method document and the consent of the parent's steward.

k of the deriving community sign RegisterDerivative; k of the parent's steward sign
ConsentDerivative, here or offline (a request submitted later). An AI-enhanced derivative is
refused unless the parent's current terms consent to AI enhancement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from eth_account.signers.local import LocalAccount

from ledger import consent
from ledger.chain import Community, Party, Record
from ledger.consent import (
    ConsentRequest,
    ConsentSignature,
    ConsentStatus,
    build_derivative_request,
)
from ledger.documents import DEFAULT_IMPORT, document_cid
from ledger.errors import ConsentIncomplete, ConsentStale, DuplicateClaim, NotFound, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.registry.inputs import check_paths, read_method_document, read_terms_document
from ledger.registry.results import Claim, DerivativeRegistration, TxView, to_hex
from ledger.registry.session import CONSENT_REQUEST_SECONDS
from ledger.registry.signers import SignerKeys
from ledger.registry.writer import Writer
from ledger.rights.description import Description

__all__ = ["Derivatives"]

_ZERO32: Final = bytes(32)


class Derivatives(Writer):
    """``heritage derivative add`` and the offline derivative consent."""

    def add(
        self,
        parent: str,
        path: Path,
        community_id: bytes,
        terms: Path,
        method: Path,
        keys: SignerKeys,
        *,
        ai_enhanced: bool = False,
        options: ImportOptions = DEFAULT_IMPORT,
        parent_community: bytes | None = None,
        parent_keys: SignerKeys | None = None,
        description: Description | None = None,
    ) -> DerivativeRegistration:
        """Register ``path`` as community ``community_id``'s derivative of the claim
        ``parent`` with a method document. k of the deriving community sign
        RegisterDerivative; k of the parent's steward sign ConsentDerivative: with ``keys``
        when the steward is the deriving community, else only with ``parent_keys`` (keys
        named for it, never picked from the keystore unasked). ``ai_enhanced`` is refused,
        before anything is sent, unless the parent's current terms consent to AI
        enhancement. ``description`` is bound into the derivative's metadata document, as
        ``item register --description`` binds an item's (sealed with it under restricted
        terms)."""
        self.session.require_sender()
        (file,) = check_paths([path])
        terms_document = read_terms_document(terms, community_id)
        method_document = read_method_document(method)
        resolved, parent_record, holder = self._parent(
            parent, parent_community, ai_enhanced
        )
        community = self.session.community(community_id)
        signers = keys.pick(community, community.threshold, "registering a derivative")
        if holder.id == community.id:
            holder_keys, holder_signers = keys, signers
        elif parent_keys is None:
            raise ConsentIncomplete(
                f"the parent {parent} is stewarded by community {to_hex(holder.id)}, not "
                f"{to_hex(community.id)}: k of its keyholders must consent to the derivative",
                hint="have them sign offline (`heritage consent request derivative`), or name "
                "their keys with --parent-signer; nothing was sent",
            )
        else:
            holder_keys = parent_keys
            holder_signers = parent_keys.pick(
                holder, holder.threshold, "consenting to a derivative (parent's steward)"
            )
        (prepared,) = self.staging.prepare(
            [file], options, None, self.sealing.seal_for(terms_document, community),
            [description],
        )  # fmt: skip
        cid = bytes(prepared.entry.cid)
        self.staging.new_claims(community.id, [prepared], "one derivative")
        terms_digest, _ = self.session.put_document(terms_document)
        method_digest, _ = self.session.put_document(method_document)
        self.staging.pin_all([prepared])
        deadline = self.session.deadline()
        consent_typed = consent.derivative_consent(
            self.session.client.domain(), resolved.key, community.id, cid, method_digest,
            ai_enhanced, deadline,
        )  # fmt: skip
        parent_party = Party(holder, holder_keys.sign(consent_typed, holder_signers))
        documents = (cid, prepared.metadata_digest, terms_digest, method_digest)
        return self._send(
            community, keys, signers, resolved.key, parent_record, parent_party, documents,
            ai_enhanced, deadline,
        )  # fmt: skip

    def _send(
        self,
        community: Community,
        keys: SignerKeys | bytes,
        signers: Sequence[LocalAccount],
        parent: bytes,
        parent_record: Record,
        parent_party: Party,
        documents: tuple[bytes, bytes, bytes, bytes],
        ai_enhanced: bool,
        deadline: int,
    ) -> DerivativeRegistration:
        """Sign RegisterDerivative with ``signers`` of ``community`` (``keys`` bytes: their
        signatures, packed, made elsewhere) and send it with the parent steward's consent
        (``parent_party``); ``documents``: the derivative's binary CID and the digests of its
        metadata, terms and method documents."""
        cid, metadata, terms, method = documents
        typed = consent.TypedData(
            self.session.client.domain(),
            "RegisterDerivative",
            {
                "community": community.id,
                "parent": parent,
                "cid": cid,
                "metadata": metadata,
                "terms": terms,
                "method": method,
                "aiEnhanced": ai_enhanced,
                "deadline": deadline,
            },
        )
        registration = self.session.client.register_derivative(
            community, parent, cid, metadata, terms, method, ai_enhanced, deadline,
            keys if isinstance(keys, bytes) else keys.sign(typed, signers), parent_record,
            parent_party,
        )  # fmt: skip
        return DerivativeRegistration(
            registration.key,
            str(Cid.from_bytes(cid)),
            parent,
            parent_party.community.id,
            str(document_cid(metadata)),
            str(document_cid(terms)),
            str(document_cid(method)),
            ai_enhanced,
            TxView.of(registration.outcome),
        )

    def _parent(
        self, parent: str, community: bytes | None, ai_enhanced: bool
    ) -> tuple[Claim, Record, Community]:
        """The claim PARENT names (``community`` picks among several), its record and its
        current steward; refused before anything is sent when it cannot be a parent, or (for
        an AI-enhanced derivative) when its terms do not consent to AI enhancement."""
        resolved = self.reader.resolve(parent, community)
        if resolved.kind in ("batch", "batch-item"):
            raise UsageError(
                f"{parent} is a {resolved.kind.replace('-', ' ')}; the registry links "
                "derivatives to items and derivatives registered alone",
                hint="a derivative's parent is a claim with a record of its own",
            )
        record = self.session.client.find_record(resolved.key)
        holder = self.session.community(self.session.client.steward_of(resolved.key, record))
        if ai_enhanced:
            self._check_ai_consent(parent, resolved.key, record)
        return resolved, record, holder

    def _check_ai_consent(self, parent: str, key: bytes, record: Record) -> None:
        """UsageError unless the parent's current terms say ``ai_use.enhancement: true``."""
        state = self.session.client.terms_of(key)
        if state.revoked:
            raise UsageError(
                f"the terms of the parent {parent} are revoked: no derivative may be made under "
                "them",
                hint="nothing was sent",
            )
        digest = state.terms if state.terms != _ZERO32 else record.terms
        document = self.session.metadata(digest)
        if document is None:
            raise NotFound(
                f"the current terms of the parent {parent} ({document_cid(digest)}) are not on "
                "this IPFS node, so its consent to AI enhancement cannot be read",
                hint="import the terms document; nothing was sent",
            )
        ai_use = document.get("ai_use")
        if not isinstance(ai_use, dict) or ai_use.get("enhancement") is not True:
            raise UsageError(
                f"the parent {parent}'s terms do not consent to AI enhancement "
                '(`"ai_use": {"enhancement": true}` is not in them)',
                hint="register it without --ai-enhanced only if no AI was used, or ask the "
                "parent's community to change its terms; nothing was sent",
            )

    def request(
        self,
        parent: str,
        path: Path,
        community_id: bytes,
        terms: Path,
        method: Path,
        *,
        ai_enhanced: bool = False,
        parent_community: bytes | None = None,
        options: ImportOptions = DEFAULT_IMPORT,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        description: Description | None = None,
    ) -> ConsentRequest:
        """A ConsentDerivative request, for k keyholders of the parent claim's steward to sign
        offline: community ``community_id`` asks to register ``path`` as a derivative of
        ``parent``. The derivative's file, metadata, terms and method documents are added and
        pinned now, so that the request can be submitted where it was made; ``description`` is
        bound into the metadata, as :meth:`add` binds it. Sends nothing."""
        now = self.session.request_clock(valid_for)
        (file,) = check_paths([path])
        terms_document = read_terms_document(terms, community_id)
        method_document = read_method_document(method)
        resolved, _, holder = self._parent(parent, parent_community, ai_enhanced)
        community = self.session.community(community_id)
        (prepared,) = self.staging.prepare(
            [file], options, None, self.sealing.seal_for(terms_document, community),
            [description],
        )  # fmt: skip
        self.staging.new_claims(community.id, [prepared], "one derivative")
        terms_digest, _ = self.session.put_document(terms_document)
        self.session.put_document(method_document)
        self.staging.pin_all([prepared])
        return build_derivative_request(
            self.session.client.domain(),
            holder,
            resolved.key,
            community.id,
            bytes(prepared.entry.cid),
            method_document,
            ai_enhanced,
            now + valid_for,
            item=self.reader.request_item(parent, holder.id, parent_community),
            created_at=now,
            history=self.session.community_history(holder.id),
            metadata=prepared.metadata_digest,
            terms=terms_digest,
            name="" if prepared.sealed else file.name,
        )

    def submit(
        self,
        request: ConsentRequest,
        status: ConsentStatus,
        keys: SignerKeys | None,
        registration: Sequence[tuple[str, ConsentSignature]] = (),
    ) -> DerivativeRegistration:
        """Register the derivative a ConsentDerivative request asks for: the parent's steward
        must still be the community that signed, the parent's terms unrevoked (and consenting
        to AI enhancement, for an AI-enhanced one); k of the deriving community sign here with
        ``keys``, or signed offline (``registration``: their signature files)."""
        message = request.typed.message
        parent, cid = request.subject, bytes(message["cid"])
        steward = request.steward()
        what = f"the derivative of {request.item} ({to_hex(parent)})"
        if not self.session.client.community_matches(steward):
            raise ConsentStale(
                f"the keyholders or threshold of community {to_hex(steward.id)} changed after the "
                f"request for {what} was made (a rotation); its signatures no longer count",
                hint="make a new request; nothing was sent",
            )
        record = self.session.client.find_record(parent)
        if self.session.client.steward_of(parent, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {to_hex(steward.id)} "
                "(a custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        if self.session.client.terms_of(parent).revoked:
            raise ConsentStale(
                f"the terms of {request.item} were revoked after the request for {what} was "
                "made: no derivative may be made under them",
                hint="nothing was sent",
            )
        ai_enhanced = bool(message["aiEnhanced"])
        if ai_enhanced:
            self._check_ai_consent(request.item, parent, record)
        community = self.session.community(bytes(message["community"]))
        packed = status.packed()
        consent.check_signatures(request.digest, steward.keyholders, steward.threshold, packed)
        derivative = request.derivative or {}
        metadata = bytes.fromhex(str(derivative["metadata"])[2:])
        terms = bytes.fromhex(str(derivative["terms"])[2:])
        method = bytes(message["method"])
        for digest, name in ((metadata, "metadata"), (terms, "terms"), (method, "method")):
            if self.session.metadata(digest) is None:
                raise NotFound(
                    f"the derivative's {name} document {document_cid(digest)} is not on this "
                    "IPFS node",
                    hint="submit where the request was made; nothing was sent",
                )
        claims, _ = self.reader.claims_on(cid)
        if any(c.community == community.id for c in claims):
            raise DuplicateClaim(
                f"community {to_hex(community.id)} already claims the derivative's content",
                hint="nothing was sent",
            )
        deriving: SignerKeys | bytes
        if keys is None:
            deriving, _ = consent.pack_registration(request, registration, community)
            signers: Sequence[LocalAccount] = ()
        else:
            deriving = keys
            signers = keys.pick(community, community.threshold, "registering a derivative")
        result = self._send(
            community,
            deriving,
            signers,
            parent,
            record,
            Party(steward, packed),
            (cid, metadata, terms, method),
            ai_enhanced,
            request.deadline,
        )
        signed = tuple(a for a, _ in status.signed[: steward.threshold])
        return dataclasses.replace(result, signers=signed)

