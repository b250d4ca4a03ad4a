"""Terms: setting the next terms version of a subject and revoking its current terms.

Terms that no longer allow public access (a revocation, or terms requiring encryption)
stop the plaintext being served by this node: it is unpinned and collected here, and the
result says that copies made elsewhere cannot be recalled.
"""

from __future__ import annotations

from pathlib import Path

from ledger import consent
from ledger.chain import Record, batch_item_subject
from ledger.errors import HeritageError, UsageError
from ledger.ipfs.backend import KuboNode
from ledger.registry.inputs import read_terms_document
from ledger.registry.reader import RegistryReader
from ledger.registry.results import TermsRevoked, TermsSet, TxView, Withdrawal, to_hex
from ledger.registry.session import RegistrySession
from ledger.registry.signers import SignerKeys
from ledger.rights import parse_terms, requires_encryption

__all__ = ["Terms"]


class Terms:
    """``heritage terms set|revoke``."""

    def __init__(self, session: RegistrySession, reader: RegistryReader) -> None:
        self.session = session
        self.reader = reader

    def set(
        self, item: str, terms: Path, keys: SignerKeys, community: bytes | None = None
    ) -> TermsSet:
        """Set the next terms version of ITEM (an item, derivative or batch)."""
        self.session.require_sender()
        client = self.session.client
        key, record, steward = self.reader.subject(item, "set", community)
        document = read_terms_document(terms, steward.id)
        signers = keys.pick(steward, steward.threshold, "setting terms")
        version = client.terms_of(key).version + 1
        digest, cid = self.session.put_document(document)
        deadline = self.session.deadline()
        typed = consent.TypedData(
            client.domain(),
            "SetTerms",
            {
                "community": steward.id,
                "subject": key,
                "version": version,
                "terms": digest,
                "deadline": deadline,
            },
        )
        outcome = client.set_terms(
            key, record, steward, version, digest, deadline, keys.sign(typed, signers)
        )
        # Terms that no longer allow public access: the plaintext stops being served here.
        restricts = requires_encryption(parse_terms(document))
        withdrawn = self.withdraw_public(key, record) if restricts else None
        return TermsSet(key, version, str(cid), TxView.of(outcome), withdrawn)

    def revoke(
        self, item: str, keys: SignerKeys, community: bytes | None = None
    ) -> TermsRevoked:
        """Revoke the current terms of ITEM; for an item of a batch, that item alone."""
        self.session.require_sender()
        client = self.session.client
        resolved = self.reader.resolve(item, community)
        deadline = self.session.deadline()
        domain = client.domain()
        if resolved.batch_root is not None:
            root = resolved.batch_root
            content = resolved.content_key()
            batch_record = client.find_record(root)
            steward = self.session.community(client.steward_of(root, batch_record))
            membership = self.reader.batch_membership(root, content)
            subject = batch_item_subject(root, content)
            state = client.terms_of(subject)
            if state.revoked:
                raise UsageError(f"the terms of {item} in batch {to_hex(root)} are already revoked")
            signers = keys.pick(steward, steward.threshold, "revoking terms")
            typed = consent.TypedData(
                domain,
                "RevokeTerms",
                {
                    "community": steward.id,
                    "subject": subject,
                    "version": state.version,
                    "deadline": deadline,
                },
            )
            outcome = client.revoke_batch_item(
                bytes.fromhex(membership["root"][2:]),
                batch_record,
                content,
                bytes.fromhex(membership["metadata"][2:]),
                bytes.fromhex(membership["commitment"][2:]),
                [bytes.fromhex(p[2:]) for p in membership["proof"]],
                steward,
                state.version,
                deadline,
                keys.sign(typed, signers),
            )
            return TermsRevoked(
                subject,
                state.version,
                TxView.of(outcome),
                batch=root,
                withdrawal=self.withdraw_public(root, batch_record, content),
            )
        key, record, steward = self.reader.subject(item, "revoke")
        state = client.terms_of(key)
        if state.revoked:
            raise UsageError(f"the terms of {item} (version {state.version}) are already revoked")
        signers = keys.pick(steward, steward.threshold, "revoking terms")
        typed = consent.TypedData(
            domain,
            "RevokeTerms",
            {
                "community": steward.id,
                "subject": key,
                "version": state.version,
                "deadline": deadline,
            },
        )
        outcome = client.revoke_terms(
            key, record, steward, state.version, deadline, keys.sign(typed, signers)
        )
        return TermsRevoked(
            key, state.version, TxView.of(outcome), withdrawal=self.withdraw_public(key, record)
        )

    def withdraw_public(
        self, subject: bytes, record: Record, only: bytes | None = None
    ) -> Withdrawal | None:
        """Stop serving the plaintext (not sealed) files under ``subject`` here, after a
        revocation or terms that no longer allow public access (``only``: one item of a
        batch): unpin them and their metadata blocks and collect garbage, on the embedded
        node or the remote one (there, Kubo's ``repo gc`` removes every block that no pin on
        that node reaches, not only these). Copies elsewhere cannot be recalled, and the
        result says so. Sealed files keep their ciphertext. None: nothing was public."""
        unpinned: list[str] = []
        failure: str | None = None
        # The chain already holds the new terms: a failure here is reported with them, never
        # raised as if the terms change had not happened.
        try:
            public = [c for c in self.reader.contents(subject, record, only) if not c.sealed]
            if not public:
                return None
            node = self.session.node  # opened here: an unreachable node is reported, not raised
            pins = node.pin_ls()
            for content in public:
                for cid in (content.cid, content.metadata_cid):
                    if cid in pins:
                        node.pin_rm(cid, recursive=pins[cid] == "recursive")
                        unpinned.append(str(cid))
        except HeritageError as exc:
            failure = f"unpinning: {exc.message}"
        if unpinned and failure is None:
            try:
                self.session.node.gc()
            except HeritageError as exc:
                failure = exc.message
        if failure is not None:
            warning = (
                f"the item's plaintext was public and withdrawing it here FAILED ({failure}): "
                "the node may still serve it; fix that, then unpin it (`heritage ipfs unpin`) "
                "and run `heritage ipfs gc`. Copies other nodes, gateways or people made "
                "before now cannot be recalled"
            )
            return Withdrawal(tuple(unpinned), warning, failure)
        warning = (
            "the item's plaintext was public: it is unpinned and collected here, but copies "
            "other nodes, gateways or people made before now cannot be recalled"
        )
        node = self.session.node
        if isinstance(node, KuboNode):
            warning += (
                f"; collecting on the IPFS node at {node.api} removes every block that "
                "no pin there reaches, not only this item's"
            )
        return Withdrawal(tuple(unpinned), warning)
