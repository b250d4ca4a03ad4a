"""Registration without the keys where the file is: a RegisterItem request that the
community's keyholders sign offline (``heritage consent request register``), then sent by
``heritage consent submit`` (or ``POST /consent/submit``).

Making the request runs the checks of ``heritage item register`` before anything is kept: the
file exists, the terms are valid terms of the community, the description is valid, the
community does not already claim the content. The file is added unpinned (under terms that
require encryption, only its ciphertext: the plaintext never reaches the node), its metadata
document built, and everything is pinned only once every check has passed and the request is
built, so the request can be submitted where it was made. Submitting re-reads the chain: a
rotation since, a claim made since, or a document missing from this node refuses it with
nothing sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from ledger import consent
from ledger.consent import ConsentRequest, ConsentStatus, build_register_request
from ledger.documents import DEFAULT_IMPORT, SEALED_ITEM_TYPE, document_cid
from ledger.errors import ConsentStale, DuplicateClaim, HeritageError, NotFound
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.registry.inputs import check_paths, read_terms_document
from ledger.registry.results import ItemRegistration, OtherClaim, TxView, to_hex
from ledger.registry.session import CONSENT_REQUEST_SECONDS
from ledger.registry.writer import Writer
from ledger.rights.description import Description

__all__ = ["Registrations"]

_NOTHING_SENT: Final = "nothing was sent"


class Registrations(Writer):
    """``heritage consent request register`` and the submission of a RegisterItem request."""

    def request(
        self,
        path: Path,
        community_id: bytes,
        terms: Path,
        *,
        description: Description | None = None,
        options: ImportOptions = DEFAULT_IMPORT,
        valid_for: int = CONSENT_REQUEST_SECONDS,
    ) -> ConsentRequest:
        """A RegisterItem request for ``path`` as an item of ``community_id`` under ``terms``
        (``description`` bound into its metadata, sealed with it when the terms require
        encryption), for k of the community's keyholders to sign offline. The file and its
        documents are pinned once every check has passed. Sends nothing."""
        now = self.session.request_clock(valid_for)
        (file,) = check_paths([path])
        terms_document = read_terms_document(terms, community_id)
        community = self.session.community(community_id)
        seal = self.sealing.seal_for(terms_document, community)
        (prepared,) = self.staging.prepare([file], options, None, seal, [description])
        self.staging.new_claims(community.id, [prepared], "one item")
        request = build_register_request(
            self.session.client.domain(),
            community,
            bytes(prepared.entry.cid),
            json.loads(prepared.metadata),
            terms_document,
            prepared.commitment,
            now + valid_for,
            item=str(prepared.entry.cid),
            created_at=now,
            history=self.session.community_history(community.id),
            encrypted=prepared.sealed,
        )
        # Every check has passed: pinned now, so the request can be submitted here.
        self.session.put_document(terms_document)
        self.staging.pin_all([prepared])
        return request

    def _require_on_node(self, cid: Cid, what: str) -> None:
        try:
            self.session.node.block_get(cid)
        except HeritageError:
            raise NotFound(
                f"the {what} {cid} is not on this IPFS node",
                hint=f"submit where the request was made (its node holds it); {_NOTHING_SENT}",
            ) from None

    def submit(self, request: ConsentRequest, status: ConsentStatus) -> ItemRegistration:
        """Register the item a RegisterItem request names, with its k signatures: refused with
        nothing sent when the community's keyholders changed, the community claims the content
        already (a replay included), or a document of it is not on this node."""
        client = self.session.client
        community = request.steward()
        message = request.typed.message
        cid = Cid.from_bytes(bytes(message["cid"]))
        what = f"the registration of {cid}"
        if not client.community_matches(community):
            raise ConsentStale(
                f"the keyholders or threshold of community {to_hex(community.id)} changed after "
                f"the request for {what} was made (a rotation); its signatures no longer count",
                hint=f"make a new request; {_NOTHING_SENT}",
            )
        if client.is_registered(request.subject):
            raise DuplicateClaim(
                f"community {to_hex(community.id)} already claims {cid} (item "
                f"{to_hex(request.subject)}): the request was submitted already",
                hint=f"`heritage item show {cid}`; {_NOTHING_SENT}",
            )
        metadata, terms = bytes(message["metadata"]), bytes(message["terms"])
        self._require_on_node(document_cid(terms), "terms document")
        self._require_on_node(document_cid(metadata), "metadata document")
        self._require_on_node(cid, "file")
        document = request.document or {}
        if document.get("type") == SEALED_ITEM_TYPE:
            for field in ("envelope", "sealed_metadata"):
                self._require_on_node(Cid.parse(str(document.get(field))), field)
        packed = status.packed()
        # The registry's own check, run here first so a refusal costs no gas.
        consent.check_signatures(request.digest, community.keyholders, community.threshold, packed)
        claims, _ = self.reader.claims_on(bytes(cid))
        others = tuple(OtherClaim(c.key, c.community, c.kind) for c in claims)
        registration = client.register_item(
            community,
            bytes(cid),
            metadata,
            terms,
            bytes(message["commitment"]),
            request.deadline,
            packed,
        )
        name = document.get("name") if document.get("type") != SEALED_ITEM_TYPE else None
        size = document.get("size")
        return ItemRegistration(
            name if isinstance(name, str) else "",
            cid,
            registration.key,
            document_cid(metadata),
            size if isinstance(size, int) else 0,
            TxView.of(registration.outcome),
            others,
        )
