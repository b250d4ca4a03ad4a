"""Communities: creating one, showing it, and rotating its keyholders (online, or as a
request signed offline and submitted later).

A community's document (name, keyholders, threshold, each keyholder's encryption public key)
is what its keyholders sign; a rotation publishes a new one that also names the envelopes of
every sealed item the community stewards, re-wrapped for the keyholders that follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address

from ledger import consent, crypto, strict_json
from ledger.chain import Community
from ledger.consent import ConsentRequest, ConsentStatus, build_rotation_request
from ledger.documents import community_salt, document_cid
from ledger.errors import ConsentStale, HeritageError, UsageError
from ledger.registry.reader import RegistryReader
from ledger.registry.results import CommunityView, RotationSubmitted, TxView, to_hex
from ledger.registry.sealing import Sealing
from ledger.registry.session import CONSENT_REQUEST_SECONDS, RegistrySession
from ledger.registry.signers import SignerKeys

__all__ = ["Communities"]

_ZERO32: Final = bytes(32)


class Communities:
    """``heritage community create|show|rotate`` and the offline rotation."""

    def __init__(self, session: RegistrySession, reader: RegistryReader, sealing: Sealing) -> None:
        self.session = session
        self.reader = reader
        self.sealing = sealing

    def create(
        self,
        name: str,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        salt: bytes | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> CommunityView:
        """Create a community; every initial keyholder signs (their keys must be here)."""
        self.session.require_sender()
        for k in keyholders:
            if not is_address(k):
                raise UsageError(f"keyholder {k!r} is not an Ethereum address")
        if len({to_checksum_address(k) for k in keyholders}) != len(keyholders):
            raise UsageError("a keyholder is listed twice", hint="list each keyholder once")
        if not 1 <= threshold <= len(keyholders):
            raise UsageError(
                f"threshold {threshold} is not between 1 and the {len(keyholders)} keyholders"
            )
        salt = community_salt(name) if salt is None else salt
        community = Community.founded(salt, keyholders, threshold)
        if self.session.client.community_config(community.id) != _ZERO32:
            raise UsageError(
                f"community {to_hex(community.id)} ({name}) already exists with these keyholders",
                hint="`heritage community show` it",
            )
        signers = keys.pick(community, len(community.keyholders), "creating a community")
        document = {
            **(extra or {}),
            "type": "heritage/community",
            "version": 1,
            "name": name,
            "keyholders": list(community.keyholders),
            "threshold": threshold,
            # each keyholder's encryption public key, signed with the rest of the document
            **self.sealing.encryption_keys_document(community.keyholders),
        }
        digest, cid = self.session.put_document(document)
        deadline = self.session.deadline()
        typed = consent.TypedData(
            self.session.client.domain(),
            "CreateCommunity",
            {
                "community": community.id,
                "keyholders": list(community.keyholders),
                "threshold": threshold,
                "document": digest,
                "deadline": deadline,
            },
        )
        outcome = self.session.client.create_community(
            community, salt, digest, deadline, keys.sign(typed, signers)
        )
        return CommunityView(
            community.id,
            community.keyholders,
            threshold,
            str(cid),
            0,
            outcome.block,
            0,
            TxView.of(outcome),
        )

    def show(self, community: bytes) -> CommunityView:
        self.session.community(community)  # NotFound unless it is on chain
        with self.session.event_index() as index:
            record = index.community(community)
        return CommunityView(
            community,
            record.keyholders,
            record.threshold,
            str(document_cid(record.document)),
            record.rotations,
            record.created_block,
            len(record.items),
        )

    def rotate(
        self,
        community_id: bytes,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> CommunityView:
        """Replace keyholders and threshold; k of the current keyholders sign."""
        self.session.require_sender()
        current = self.session.community(community_id)
        following = self._following(community_id, keyholders, threshold)
        signers = keys.pick(current, current.threshold, "rotating keyholders")
        nonce = self.session.client.community_nonce(community_id)
        document = self._rotation_document(
            community_id, following, nonce, [a.address for a in signers], keys, extra
        )
        digest, cid = self.session.put_document(document)
        deadline = self.session.deadline()
        typed = consent.TypedData(
            self.session.client.domain(),
            "RotateKeyholders",
            {
                "community": community_id,
                "keyholders": list(following.keyholders),
                "threshold": threshold,
                "document": digest,
                "nonce": nonce,
                "deadline": deadline,
            },
        )
        _, outcome = self.session.client.rotate_keyholders(
            current,
            following.keyholders,
            threshold,
            digest,
            nonce,
            deadline,
            keys.sign(typed, signers),
        )
        view = self.show(community_id)
        return CommunityView(
            view.id,
            view.keyholders,
            view.threshold,
            str(cid),
            view.rotations,
            view.created_block,
            view.items,
            TxView.of(outcome),
        )

    @staticmethod
    def _following(community_id: bytes, keyholders: Sequence[str], threshold: int) -> Community:
        """The keyholder set a rotation installs, checked as the registry will check it."""
        for k in keyholders:
            if not is_address(k):
                raise UsageError(f"keyholder {k!r} is not an Ethereum address")
        following = Community.of(community_id, keyholders, threshold)
        if len(set(following.keyholders)) != len(following.keyholders):
            raise UsageError("a keyholder is listed twice", hint="list each keyholder once")
        if not 1 <= threshold <= len(following.keyholders):
            raise UsageError(
                f"threshold {threshold} is not between 1 and the {len(keyholders)} keyholders"
            )
        return following

    def _rotation_document(
        self,
        community_id: bytes,
        following: Community,
        nonce: int,
        openers: Sequence[str],
        keys: SignerKeys,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """The community document a rotation publishes: the name kept, the keyholders that
        follow with their encryption public keys, and every sealed item the community stewards
        re-wrapped for them (opened with the encryption key of one of ``openers``, current
        keyholders whose keys are here; the envelopes are put and pinned)."""
        with self.session.event_index() as index:
            name = None
            old: Any = None
            try:
                old = strict_json.loads(
                    self.session.node.block_get(document_cid(index.community(community_id).document))
                )
                name = old.get("name") if isinstance(old, dict) else None
            except (HeritageError, ValueError):
                name = None
        previous = old if isinstance(old, dict) else None
        # The keys and envelopes are the ones computed here: a caller's document cannot name
        # others for the keyholders to sign.
        added = {
            k: v for k, v in (extra or {}).items() if k not in ("encryption_keys", "envelopes")
        }
        return {
            **added,
            "type": "heritage/community",
            "version": 1,
            "name": name,
            "keyholders": list(following.keyholders),
            "threshold": following.threshold,
            "rotation": nonce + 1,
            **self.sealing.encryption_keys_document(following.keyholders, previous),
            **self.sealing.rewrap_for_rotation(
                community_id, following.keyholders, keys, openers, previous
            ),
        }

    def rotation_request(
        self,
        community_id: bytes,
        keyholders: Sequence[str],
        threshold: int,
        keys: SignerKeys,
        *,
        extra: Mapping[str, Any] | None = None,
        valid_for: int = CONSENT_REQUEST_SECONDS,
    ) -> ConsentRequest:
        """A RotateKeyholders request for k of the current keyholders to sign offline. The
        work a rotation does besides the chain call happens here, once: the new community
        document (the new keyholders' encryption public keys, and every sealed item the
        community stewards re-wrapped for them with the encryption key of a current keyholder
        here, ``keys`` giving its passphrase) is put and pinned, and its digest is what the
        keyholders sign. Sends nothing."""
        now = self.session.request_clock(valid_for)
        current = self.session.community(community_id)
        following = self._following(community_id, keyholders, threshold)
        nonce = self.session.client.community_nonce(community_id)
        document = self._rotation_document(
            community_id, following, nonce, self.sealing.openers(current, keys), keys, extra
        )
        request = build_rotation_request(
            self.session.client.domain(),
            current,
            following,
            document,
            nonce,
            now + valid_for,
            created_at=now,
            history=self.session.community_history(community_id),
        )
        self.session.put_document(document)  # pinned, so the CID being signed can be fetched
        return request

    def submit_rotation(self, request: ConsentRequest, status: ConsentStatus) -> RotationSubmitted:
        """Send a RotateKeyholders request whose signatures were collected offline."""
        current = request.steward()
        what = f"the rotation of community {to_hex(current.id)}"
        if not self.session.client.community_matches(current):
            raise ConsentStale(
                f"the keyholders or threshold of community {to_hex(current.id)} changed after the "
                f"request for {what} was made (another rotation); its signatures no longer count",
                hint="make a new request and have the current keyholders sign it; nothing "
                "was sent",
            )
        nonce = self.session.client.community_nonce(current.id)
        if nonce != request.version:
            raise ConsentStale(
                f"{what} was requested at community nonce {request.version}, but the nonce is "
                f"now {nonce}: another rotation came first",
                hint="make a new request; nothing was sent",
            )
        document = request.document
        assert document is not None  # parse_request guarantees it
        message = request.typed.message
        following = Community.of(current.id, message["keyholders"], int(message["threshold"]))
        allowed = frozenset(
            crypto.EncryptionPublicKey.from_json(entry, "an encryption key of the document").key_id
            for entry in document.get("encryption_keys", [])
        )
        sealed = [content.key for _, content in self.sealing.sealed_stewarded(current.id)]
        self.sealing.check_rewrap(document.get("envelopes"), sealed, allowed, what)
        packed = status.packed()
        # The registry's own check, run here first so a refusal costs no gas.
        consent.check_signatures(request.digest, current.keyholders, current.threshold, packed)
        digest, cid = self.session.put_document(document)  # the same bytes: pinned once, here too
        _, outcome = self.session.client.rotate_keyholders(
            current,
            following.keyholders,
            following.threshold,
            digest,
            nonce,
            request.deadline,
            packed,
        )
        return RotationSubmitted(
            current.id,
            nonce,
            following.keyholders,
            following.threshold,
            str(cid),
            tuple(a for a, _ in status.parties[0].signed[: current.threshold]),
            TxView.of(outcome),
        )
