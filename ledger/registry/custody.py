"""Custody: transfers, repatriations, loans and returns, through one code path.

The four actions differ in who the counterparty is and who signs: a transfer or
repatriation moves stewardship to another community (k of the steward and k of the receiver
sign, and sealed content is re-wrapped for the receiver); a loan names any 32-byte borrower
and a return the current borrower (k of the steward sign). :meth:`Custody.record` sends one
online; :meth:`Custody.request` makes the same record as a request for keyholders to sign
offline, and :meth:`Custody.submit` sends that once signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account.signers.local import LocalAccount

from ledger import consent
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    Community,
    Party,
    Record,
)
from ledger.consent import (
    CUSTODY_NAMES,
    STEWARDSHIP_MOVES,
    ConsentRequest,
    ConsentStatus,
    build_custody_request,
    custody_document,
)
from ledger.documents import read_json_file
from ledger.errors import ConsentStale, UsageError
from ledger.registry.reader import RegistryReader
from ledger.registry.results import CustodyRecorded, TxView, to_hex
from ledger.registry.sealing import Sealing
from ledger.registry.session import CONSENT_REQUEST_SECONDS, RegistrySession
from ledger.registry.signers import SignerKeys

__all__ = ["Custody"]

_ZERO32: Final = bytes(32)
#: The verb an error uses for an action that the item of a batch cannot take alone.
_VERBS: Final = {
    CUSTODY_TRANSFER: "transfer",
    CUSTODY_REPATRIATION: "repatriate",
    CUSTODY_LOAN: "lend",
    CUSTODY_RETURN: "return",
}


@dataclass(frozen=True, slots=True)
class _Target:
    """What one custody action is about: the subject, its record and steward, and the
    counterparty (the receiving community of a move, the borrower of a loan or return)."""

    key: bytes
    record: Record
    steward: Community
    counterparty: bytes
    receiver: Community | None  # a move's receiving community


class Custody:
    """``heritage custody transfer|repatriate|loan|return`` and the offline custody request."""

    def __init__(self, session: RegistrySession, reader: RegistryReader, sealing: Sealing) -> None:
        self.session = session
        self.reader = reader
        self.sealing = sealing

    def transfer(
        self,
        item: str,
        to_community: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> CustodyRecorded:
        """Transfer stewardship of ITEM to ``to_community``: k of each community sign."""
        return self.record(
            CUSTODY_TRANSFER, item, to_community, keys, document=document, community=community
        )

    def repatriate(
        self,
        item: str,
        to_community: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> CustodyRecorded:
        """Repatriate ITEM to ``to_community`` (stewardship moves): k of each community sign."""
        return self.record(
            CUSTODY_REPATRIATION, item, to_community, keys, document=document, community=community
        )

    def loan(
        self,
        item: str,
        borrower: bytes,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> CustodyRecorded:
        """Lend ITEM to ``borrower`` (a community or any 32-byte institution id): k of the
        steward sign; stewardship does not move."""
        return self.record(
            CUSTODY_LOAN, item, borrower, keys, document=document, community=community
        )

    def return_(
        self,
        item: str,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> CustodyRecorded:
        """Record the return of ITEM from its current borrower: k of the steward sign."""
        return self.record(CUSTODY_RETURN, item, None, keys, document=document, community=community)

    def current_borrower(self, key: bytes) -> bytes | None:
        """The borrower of the open loan of ``key`` (the last loan not yet returned), from the
        index's custody history; None when no loan is open."""
        with self.session.event_index() as index:
            history = index.history(key)
        borrower: bytes | None = None
        for entry in history:
            if entry.event != "CustodyRecorded":
                continue
            if entry.fields["action"] == CUSTODY_LOAN:
                borrower = entry.fields["counterparty"]
            elif entry.fields["action"] == CUSTODY_RETURN:
                borrower = None
        return borrower

    # -- the one code path -------------------------------------------------------------------

    def _target(
        self,
        action: int,
        item: str,
        counterparty: bytes | None,
        community: bytes | None,
        *,
        offline: bool,
    ) -> _Target:
        """Check the action before anything is signed: the subject and steward of ITEM, and a
        counterparty that fits the action (``offline``: for a request file, whose hints
        name the request command's options)."""
        name = CUSTODY_NAMES[action]
        if action == CUSTODY_LOAN and (
            counterparty is None or len(counterparty) != 32 or counterparty == _ZERO32
        ):
            raise UsageError(
                "the borrower is a community id or name, or a non-zero 32-byte id",
                hint=("pass --to, " if offline else "") + "0x followed by 64 hex digits",
            )
        key, record, steward = self.reader.subject(item, _VERBS[action], community)
        receiver: Community | None = None
        if action in STEWARDSHIP_MOVES:
            if counterparty is None:
                raise UsageError(f"a {name} needs the receiving community", hint="pass --to")
            receiver = self.session.community(counterparty)
            if receiver.id == steward.id:
                raise UsageError(f"{item} is already stewarded by {to_hex(receiver.id)}")
        elif action == CUSTODY_LOAN:
            if counterparty == steward.id:
                raise UsageError(
                    f"{item} is stewarded by {to_hex(steward.id)}; it cannot borrow it"
                )
        else:
            if counterparty is not None:
                raise UsageError(
                    "a return is from the current borrower, which the chain names",
                    hint="leave out --to",
                )
            counterparty = self.current_borrower(key)
            if counterparty is None:
                raise UsageError(
                    f"{item} is not on loan: no loan of it is open, so there is nothing to "
                    "return",
                    hint="`heritage item history` lists its custody events; nothing was "
                    + ("written" if offline else "sent"),
                )
        assert counterparty is not None
        return _Target(key, record, steward, counterparty, receiver)

    def _document(
        self,
        action: int,
        target: _Target,
        extra: Mapping[str, Any],
        openers: Sequence[str],
        keys: SignerKeys,
    ) -> dict[str, Any]:
        """The custody document (``extra`` merged in) with its nonce. Stewardship moves
        reading with it: sealed content is re-wrapped for the receiver's keyholders, and the
        document both communities sign names the new envelopes (a caller's document cannot
        name others)."""
        extra = dict(extra)
        if target.receiver is not None:
            extra = {k: v for k, v in extra.items() if k != "envelopes"}
            extra.update(
                self.sealing.rewrap_for_move(
                    target.key,
                    target.record,
                    target.steward.id,
                    target.receiver,
                    openers,
                    keys,
                    CUSTODY_NAMES[action],
                )
            )
        nonce = self.session.client.custody_nonce(target.key)
        return custody_document(
            extra, action, target.key, target.steward.id, target.counterparty, nonce
        )

    def record(
        self,
        action: int,
        item: str,
        counterparty: bytes | None,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        community: bytes | None = None,
    ) -> CustodyRecorded:
        """Record custody ``action`` of ITEM with ``counterparty`` (None for a return: the
        current borrower): the document stored, signed here by k of the steward (and k of
        the receiver, for a move) and sent."""
        self.session.require_sender()
        name = CUSTODY_NAMES[action]
        extra = read_json_file(document) if document is not None else {}
        target = self._target(action, item, counterparty, community, offline=False)
        steward = target.steward
        receiver: tuple[Community, Sequence[LocalAccount]] | None = None
        if target.receiver is not None:
            if keys.addresses is not None:
                both = set(steward.keyholders) | set(target.receiver.keyholders)
                strangers = [a for a in keys.addresses if a not in both]
                if strangers:
                    raise UsageError(
                        f"{', '.join(strangers)} is a keyholder of neither community",
                        hint="--signer must name keyholders of the two communities",
                    )
            steward_signers = keys.pick(
                steward, steward.threshold, f"a custody {name} (steward)", only_this=False
            )
            receiver = (
                target.receiver,
                keys.pick(
                    target.receiver,
                    target.receiver.threshold,
                    f"a custody {name} (receiver)",
                    only_this=False,
                ),
            )
        else:
            steward_signers = keys.pick(steward, steward.threshold, f"a custody {name}")
        custody = self._document(action, target, extra, [a.address for a in steward_signers], keys)
        digest, cid = self.session.put_document(custody)
        deadline = self.session.deadline()
        client = self.session.client
        typed = consent.TypedData(
            client.domain(),
            "RecordCustody",
            {
                "item": target.key,
                "action": action,
                "community": steward.id,
                "counterparty": target.counterparty,
                "document": digest,
                "nonce": custody["nonce"],
                "deadline": deadline,
            },
        )
        outcome = client.record_custody(
            target.key,
            target.record,
            action,
            target.counterparty,
            digest,
            custody["nonce"],
            deadline,
            Party(steward, keys.sign(typed, steward_signers)),
            None if receiver is None else Party(receiver[0], keys.sign(typed, receiver[1])),
        )
        return self._recorded(action, target.key, steward.id, target.counterparty, custody,
                              str(cid), TxView.of(outcome))  # fmt: skip

    @staticmethod
    def _recorded(
        action: int,
        key: bytes,
        steward: bytes,
        counterparty: bytes,
        custody: Mapping[str, Any],
        cid: str,
        tx: TxView,
        signers: Mapping[str, tuple[str, ...]] | None = None,
    ) -> CustodyRecorded:
        return CustodyRecorded(
            key,
            CUSTODY_NAMES[action],
            steward,
            counterparty,
            str(custody["from"]),
            str(custody["to"]),
            int(custody["nonce"]),
            cid,
            tx,
            signers,
        )

    # -- offline -----------------------------------------------------------------------------

    def request(
        self,
        item: str,
        action: int,
        counterparty: bytes | None,
        keys: SignerKeys,
        *,
        document: Path | None = None,
        valid_for: int = CONSENT_REQUEST_SECONDS,
        community: bytes | None = None,
    ) -> ConsentRequest:
        """A RecordCustody request for ITEM, for keyholders to sign offline: a transfer or
        repatriation to community ``counterparty`` (k of the steward and k of the receiver
        sign; sealed content is re-wrapped here for the receiver, with the encryption key of a
        steward's keyholder here), a loan to ``counterparty`` (any 32-byte id), or the return
        from the current borrower (``counterparty`` None). The custody document (``document``
        merged in) is put and pinned. Sends nothing."""
        if action not in CUSTODY_NAMES:
            raise UsageError(f"custody action {action} is not one the registry knows")
        now = self.session.request_clock(valid_for)
        extra = read_json_file(document) if document is not None else {}
        target = self._target(action, item, counterparty, community, offline=True)
        steward, receiver = target.steward, target.receiver
        openers = self.sealing.openers(steward, keys) if receiver is not None else []
        custody = self._document(action, target, extra, openers, keys)
        request = build_custody_request(
            self.session.client.domain(),
            action,
            steward,
            target.key,
            target.counterparty,
            custody,
            custody["nonce"],
            now + valid_for,
            item=self.reader.request_item(item, steward.id, community),
            created_at=now,
            history=self.session.community_history(steward.id),
            receiver=receiver,
            receiver_history=None
            if receiver is None
            else self.session.community_history(receiver.id),
        )
        self.session.put_document(custody)  # pinned, so the CID being signed can be fetched
        return request

    def submit(self, request: ConsentRequest, status: ConsentStatus) -> CustodyRecorded:
        """Send a RecordCustody request whose signatures were collected offline."""
        client = self.session.client
        steward = request.steward()
        key = request.subject
        action = request.custody_action
        assert action is not None and request.document is not None  # parse_request
        name = CUSTODY_NAMES[action]
        counterparty = bytes(request.typed.message["counterparty"])
        what = f"the custody {name} of {request.item} ({to_hex(key)})"
        for role, community in request.parties():
            if not client.community_matches(community):
                side = "community" if role == "keyholders" else f"{role} community"
                raise ConsentStale(
                    f"the keyholders or threshold of the {side} {to_hex(community.id)} changed "
                    f"after the request for {what} was made (a rotation); its signatures no "
                    "longer count",
                    hint="make a new request and have the current keyholders sign it; nothing "
                    "was sent",
                )
        record = client.find_record(key)
        if client.steward_of(key, record) != steward.id:
            raise ConsentStale(
                f"{request.item} is no longer stewarded by community {to_hex(steward.id)} (a "
                "custody transfer or repatriation since the request)",
                hint="make a new request for the current steward; nothing was sent",
            )
        nonce = client.custody_nonce(key)
        if nonce != request.version:
            raise ConsentStale(
                f"{what} was requested at custody nonce {request.version}, but the item's nonce "
                f"is now {nonce}: another custody record came first",
                hint="make a new request; nothing was sent",
            )
        if action in STEWARDSHIP_MOVES:
            assert request.receiver is not None  # parse_request
            sealed = [c.key for c in self.reader.contents(key, record) if c.sealed]
            allowed = (
                frozenset(
                    k.key_id
                    for k in self.sealing.recipients(
                        request.receiver, f"{to_hex(key)} is encrypted", refused="nothing was sent"
                    )
                )
                if sealed
                else frozenset()
            )
            self.sealing.check_rewrap(request.document.get("envelopes"), sealed, allowed, what)
        packed = status.packed()
        receiver_packed = status.packed_receiver()
        for (_, community), signatures in zip(
            request.parties(), (packed, receiver_packed), strict=False
        ):
            assert signatures is not None
            consent.check_signatures(
                request.digest, community.keyholders, community.threshold, signatures
            )
        digest, cid = self.session.put_document(request.document)
        outcome = client.record_custody(
            key,
            record,
            action,
            counterparty,
            digest,
            nonce,
            request.deadline,
            Party(steward, packed),
            None
            if request.receiver is None or receiver_packed is None
            else Party(request.receiver, receiver_packed),
        )
        signers = {
            party.role: tuple(a for a, _ in party.signed[: party.community.threshold])
            for party in status.parties
        }
        return self._recorded(action, key, steward.id, counterparty, request.document, str(cid),
                              TxView.of(outcome), signers)  # fmt: skip
