"""The pure check of evidence (:mod:`ledger.verify.evidence`): the heart of ``heritage verify``.

:func:`assess` checks all of an item's evidence without any I/O:

- each raw transaction hashes to the transaction hash the event names, was sent to this
  registry on this chain, and its calldata (decoded by
  :func:`ledger.chain.transactions.decode_call`, the one place that reads transaction
  input) carries exactly the event's fields;
- every EIP-712 signature in that calldata is re-checked with :mod:`ledger.consent` against
  the keyholder set in force *at that event* (rebuilt from CommunityCreated and
  KeyholdersRotated, each of which is itself checked the same way, back to the creation that
  every initial keyholder signed);
- claim keys (``claimOf(community, cid)``: a claim is one community's claim on some bytes),
  content keys, batch keys (``batchOf(community, root)``), record digests, batch leaves
  (which hold the content key), Merkle proofs (:mod:`ledger.merkle`) and document digests
  are re-derived;
- a derivative's registration passes its parent's record and the parent steward's
  ConsentDerivative signatures: the record must be the parent's as its own evidence
  rebuilds it, the steward the one that held the parent at that block, and k of its
  keyholders then must have signed.

Online verification gathers evidence from the chain and offline verification reads it from
``proofs.json``; both end here, so the two can never disagree about the same facts.

A contradiction (a digest, a hash or a field that does not match) raises
:class:`~ledger.errors.EvidenceInvalid`. A signature that does not verify is a *finding*, not
an error: it becomes the verdict "signature failure".

What every item shares (a community's checked keyholder history, an item's checked
registration) is kept in a :class:`CheckCache` that the caller owns and passes along: one per
verification session (a CLI process, a server, an exhibit build), bounded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from ledger import strict_json
from ledger.chain import (
    CUSTODY_REPATRIATION,
    CUSTODY_TRANSFER,
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    Record,
    batch_item_subject,
    batch_key,
    claim_key,
    community_id,
    content_key,
)
from ledger.chain.transactions import RegistryCall, decode_call
from ledger.consent import typed_data as consent
from ledger.errors import HeritageError
from ledger.index import CUSTODY_ACTIONS
from ledger.ipfs.cid import RAW, Cid
from ledger.merkle import BATCH_LEAF_TYPES, leaf_hash
from ledger.merkle import verify as merkle_verify
from ledger.verify.evidence import (
    ChainEvent,
    CustodyStep,
    Evidence,
    ItemEvidence,
    KeyholderSet,
    _hex,
    _invalid,
)

__all__ = ["Assessment", "CheckCache", "assess", "derived_records"]

_ZERO32: Final = bytes(32)
_T = TypeVar("_T")
_KEYHOLDER_EVENTS: Final = frozenset({"CommunityCreated", "KeyholdersRotated"})
_MAX_LINEAGE: Final = 64  # a derivative chain deeper than this is refused, not followed


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the evidence establishes about one item."""

    key: bytes
    cid: str
    kind: str
    community: bytes  # the registering community
    steward: bytes  # after every transfer and repatriation
    record_key: bytes  # what the registry keys the record by (the batch key for batch items)
    record: Record
    metadata: Mapping[str, Any] | None  # the metadata document, when the evidence has it
    terms_digest: bytes  # current terms
    terms_version: int
    revoked: bool
    encrypted: bool  # the record commits to a plaintext: the registered bytes are ciphertext
    signed_by: tuple[str, ...]  # the signers of the current terms
    signing_set: KeyholderSet  # the keyholder set that signed the current terms
    current_set: KeyholderSet  # that community's set now (as of the evidence)
    custody: tuple[CustodyStep, ...]
    parent: Assessment | None = None
    ai_enhanced: bool | None = None
    method_cid: str | None = None
    batch_root: bytes | None = None  # batch items: the Merkle root (record_key: the batch)
    events: tuple[ChainEvent, ...] = field(default=())
    content: bytes = b""  # keccak256 of the CID: what every claim on these bytes shares
    parent_steward: bytes | None = None  # derivatives: the parent's steward that consented

    @property
    def ancestor_revoked(self) -> Assessment | None:
        """The nearest parent (or its parent, …) whose terms are revoked, if any."""
        parent = self.parent
        while parent is not None:
            if parent.revoked:
                return parent
            parent = parent.parent
        return None

    @property
    def keyholders_changed(self) -> bool:
        return self.signing_set.event.position != self.current_set.event.position

    @property
    def terms_cid(self) -> str:
        return str(Cid.from_digest(self.terms_digest, RAW))


# ---- the check -------------------------------------------------------------------------------


def _event_key(event: ChainEvent) -> tuple[Any, ...]:
    """Everything of ``event`` that a check reads, hashable."""
    fields = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in sorted(event.fields.items())
    )
    return (event.event, event.block_number, event.block_hash, event.log_index,
            event.timestamp, event.tx_hash, event.raw_tx, fields)


class _Bounded:
    """A bounded map, the least recently used entry evicted first; safe to share between
    threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._entries.pop(key, None)
            if value is not None:
                self._entries[key] = value  # now the most recently used
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class CheckCache:
    """What checking evidence has established, kept for the checks that follow.

    - ``timelines``: a community's keyholder history checked (its sets, the problems and
      signature checks found): the same for every item of the community, and a pure function
      of the events, their raw transactions and the domain, which are the key;
    - ``registrations``: an item's registration checked (record, key, signers, problems,
      signature checks), keyed by its registration event, batch leaf and its community's
      keyholder history: what verifying the same item again would recompute.

    A verifier that checks many items (an exhibit build, a server) checks each once. Made by
    whoever runs verifications (one per CLI process, server or build) and passed to
    :func:`assess`; a new one starts cold. Bounded, and safe to share between threads."""

    def __init__(self, *, timelines: int = 256, registrations: int = 4096) -> None:
        self.timelines = _Bounded(timelines)
        self.registrations = _Bounded(registrations)
        # Evidence's documents checked already, keyed by the mapping's identity and holding
        # the mapping itself (so the identity cannot be reused while it is here): one
        # evidence about a batch of 1,000 items was otherwise re-hashed once per item.
        self.documents = _Bounded(16)


class _CallChecks:
    """The checks of one :class:`Evidence` that every other builds on: a registry call
    against the event it emitted, and the EIP-712 signatures it carries. A signature that
    fails is a finding (``problems``), not an error; every signature check is kept
    (``checks``) for proofs.json."""

    def __init__(self, evidence: Evidence, cache: CheckCache) -> None:
        self.evidence = evidence
        self.cache = cache
        self.domain = consent.Domain(evidence.chain_id, evidence.registry)
        self.problems: list[str] = []
        # Every signature check, for proofs.json (built into JSON only when asked for: a
        # verdict does not need it, and building it cost a tenth of a check).
        self.checks: list[tuple[ChainEvent, consent.TypedData, bytes, KeyholderSet, int,
                                tuple[str, ...]]] = []

    def call(self, event: ChainEvent, functions: Sequence[str]) -> RegistryCall:
        """The registry call that emitted ``event``, its transaction checked."""
        where = f"the {event.event} event of transaction {_hex(event.tx_hash)}"
        if keccak(event.raw_tx) != event.tx_hash:
            raise _invalid(f"the raw transaction of {where} does not hash to that transaction")
        call = decode_call(event.raw_tx)
        if call.chain_id != self.evidence.chain_id or call.to != self.evidence.registry:
            raise _invalid(f"{where} was not sent to registry {self.evidence.registry} on chain "
                           f"{self.evidence.chain_id}")
        if call.function not in functions:
            raise _invalid(f"{where} was emitted by {call.function}, which cannot emit it")
        return call

    def same(self, event: ChainEvent, pairs: Mapping[str, Any], call: RegistryCall) -> None:
        """Each event field equals what the call passed (the contract emits its arguments)."""
        for name, value in pairs.items():
            if _norm(event.fields[name]) != _norm(value):
                raise _invalid(
                    f"field {name} of the {event.event} event of transaction "
                    f"{_hex(event.tx_hash)} is not what {call.function} was called with"
                )

    def signatures(
        self,
        event: ChainEvent,
        typed: consent.TypedData,
        holders: KeyholderSet,
        given: Mapping[str, Any],
        required: int,
    ) -> tuple[str, ...]:
        """Check ``given`` (the call's keyholders, threshold, signatures) against ``holders``
        (the set the timeline says was in force); a failure is recorded, not raised."""
        where = f"{event.event} in transaction {_hex(event.tx_hash)}"
        digest = typed.digest()  # EIP-712 encoding is the costly part: once per message
        claimed = tuple(consent.checksum_address(k) for k in given["keyholders"])
        signers: tuple[str, ...] = ()
        if claimed != holders.keyholders or int(given["threshold"]) != holders.threshold:
            self.problems.append(
                f"{where} names keyholders that were not community {_hex(holders.community)}'s "
                "at that time"
            )
        else:
            try:
                signers = tuple(
                    consent.check_signatures(
                        digest, holders.keyholders, required, bytes(given["signatures"])
                    )
                )
            except consent.SignatureError as exc:
                self.problems.append(f"{where}: {exc.message}")
        self.checks.append((event, typed, digest, holders, required, signers))
        return signers

    @property
    def signed(self) -> list[dict[str, Any]]:
        """Every signature check so far, as ``proofs.json`` lists them."""
        return [
            {
                "event": event.event,
                "tx_hash": _hex(event.tx_hash),
                "community": _hex(holders.community),
                "primary_type": typed.primary_type,
                "typed_data": _json_safe(typed.full_message()),
                "digest": _hex(digest),
                "keyholders": list(holders.keyholders),
                "threshold": holders.threshold,
                "required": required,
                "signers": list(signers),
            }
            for event, typed, digest, holders, required, signers in self.checks
        ]

    def _reused(self, memo: _Bounded, key: Any, check: Callable[[], _T]) -> _T:
        """``check()``, or its result for the same ``key`` from ``memo``: with the problems
        and signature checks it recorded, added here again as it would have added them."""
        known = memo.get(key)
        if known is None:
            problems, checks = len(self.problems), len(self.checks)
            known = (check(), tuple(self.problems[problems:]), tuple(self.checks[checks:]))
            memo.put(key, known)
        else:
            self.problems.extend(known[1])
            self.checks.extend(known[2])
        result: _T = known[0]
        return result


class _KeyholderChecks(_CallChecks):
    """Each community's keyholder timeline, rebuilt from its CommunityCreated and
    KeyholdersRotated events and checked once (back to the creation every initial keyholder
    signed): which set was in force at any event."""

    def __init__(self, evidence: Evidence, cache: CheckCache) -> None:
        super().__init__(evidence, cache)
        self._timelines: dict[bytes, list[KeyholderSet]] = {}
        self._timeline_keys: dict[bytes, tuple[Any, ...]] = {}

    def timeline(self, community: bytes) -> list[KeyholderSet]:
        if community in self._timelines:
            return self._timelines[community]
        events = self.evidence.communities.get(community)
        if not events:
            raise _invalid(f"the evidence has no keyholder history of community {_hex(community)}")
        key = (self.domain, community, tuple(_event_key(e) for e in events))
        self._timeline_keys[community] = key
        sets: tuple[KeyholderSet, ...] = self._reused(
            self.cache.timelines, key, lambda: tuple(self._check_timeline(community, events))
        )
        self._timelines[community] = list(sets)
        return self._timelines[community]

    def _check_timeline(
        self, community: bytes, events: Sequence[ChainEvent]
    ) -> list[KeyholderSet]:
        sets: list[KeyholderSet] = []
        for i, event in enumerate(events):
            if event.event not in _KEYHOLDER_EVENTS or event.fields["community"] != community:
                raise _invalid(f"keyholder history entry {i} of {_hex(community)} is not its own")
            if (i == 0) != (event.event == "CommunityCreated"):
                raise _invalid(f"the keyholder history of {_hex(community)} does not start with "
                               "its creation, or has it twice")
            if sets and event.position <= sets[-1].event.position:
                raise _invalid(f"the keyholder history of {_hex(community)} is out of order")
            current = KeyholderSet(
                community, tuple(event.fields["keyholders"]), event.fields["threshold"], event
            )
            if event.event == "CommunityCreated":
                call = self.call(event, ("createCommunity",))
                self.same(event, {k: call.args[k] for k in ("salt", "keyholders",
                                                            "threshold", "document")}, call)
                # The registry derives the id; so does anyone checking it, offline too.
                derived = community_id(call.args["salt"], current.keyholders, current.threshold)
                if derived != community:
                    raise _invalid(f"community {_hex(community)} is not the id its salt and "
                                   "initial keyholders give")
                typed = consent.TypedData(self.domain, "CreateCommunity", {
                    "community": community,
                    "keyholders": list(current.keyholders),
                    "threshold": current.threshold,
                    "document": event.fields["document"],
                    "deadline": call.args["deadline"],
                })
                # Every initial keyholder signs a creation: n of n, not k.
                self.signatures(event, typed, current, call.args, len(current.keyholders))
            else:
                call = self.call(event, ("rotateKeyholders",))
                self.same(event, {
                    "community": call.args["community"],
                    "keyholders": call.args["next"],
                    "threshold": call.args["nextThreshold"],
                    "document": call.args["document"],
                    "nonce": call.args["nonce"],
                }, call)
                if event.fields["nonce"] != i - 1:
                    raise _invalid(f"rotation {i} of {_hex(community)} has nonce "
                                   f"{event.fields['nonce']}: a rotation is missing")
                typed = consent.TypedData(self.domain, "RotateKeyholders", {
                    "community": community,
                    "keyholders": list(current.keyholders),
                    "threshold": current.threshold,
                    "document": event.fields["document"],
                    "nonce": event.fields["nonce"],
                    "deadline": call.args["deadline"],
                })
                previous = sets[-1]
                given = {**call.args, "keyholders": call.args["current"]}
                self.signatures(event, typed, previous, given, previous.threshold)
            sets.append(current)
        return sets

    def set_at(self, community: bytes, event: ChainEvent) -> KeyholderSet:
        """The keyholder set of ``community`` in force when ``event`` happened."""
        before = [s for s in self.timeline(community) if s.event.position < event.position]
        if not before:
            raise _invalid(f"{event.event} in {_hex(event.tx_hash)} predates community "
                           f"{_hex(community)}")
        return before[-1]

class _Checker(_KeyholderChecks):
    """Checks the evidence about items: each registration against its calldata, record,
    claim key and batch leaf, then the item's terms, revocations and custody in chain order,
    and a derivative's lineage and its parent steward's consent."""

    def document(self, digest: bytes) -> bytes | None:
        return self.evidence.documents.get(str(Cid.from_digest(digest, RAW)))

    def registration(self, item: ItemEvidence) -> tuple[Record, bytes, tuple[str, ...]]:
        """The record, its key and the registration's signers, after checking them (a check
        made before on the very same inputs is reused, as a keyholder history's is)."""
        community = item.registration.fields["community"]
        self.timeline(community)
        key = (self.domain, item.key, item.batch, _event_key(item.registration),
               self._timeline_keys[community])
        return self._reused(self.cache.registrations, key, lambda: self._check_registration(item))

    def _check_registration(self, item: ItemEvidence) -> tuple[Record, bytes, tuple[str, ...]]:
        reg = item.registration
        fields = reg.fields
        community = fields["community"]
        holders = self.set_at(community, reg)
        if item.batch is not None:
            if reg.event != "BatchRegistered" or fields["root"] != item.batch.root:
                raise _invalid(f"item {_hex(item.key)} is said to be in batch "
                               f"{_hex(item.batch.root)} but its registration is another")
            if fields["batch"] != batch_key(community, item.batch.root):
                raise _invalid(f"batch {_hex(fields['batch'])} is not the key of community "
                               f"{_hex(community)}'s batch of root {_hex(item.batch.root)}")
            cid = bytes(_parse_cid(item.cid))
            if claim_key(community, cid) != item.key:
                raise _invalid(f"{_hex(item.key)} is not community {_hex(community)}'s claim "
                               f"on {item.cid}")
            # The leaf holds the content key: the bytes, whoever claims them.
            leaf = leaf_hash(BATCH_LEAF_TYPES, (content_key(cid), item.batch.metadata,
                                                item.batch.commitment))
            if not merkle_verify(item.batch.root, leaf, item.batch.proof):
                raise _invalid(f"the Merkle proof of item {_hex(item.key)} does not lead to "
                               f"batch root {_hex(item.batch.root)}")
            call = self.call(reg, ("registerBatch",))
            self.same(reg, {k: call.args[k] for k in ("root", "community", "count", "terms",
                                                      "manifest")}, call)
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterBatch", {
                "community": community, "root": fields["root"], "count": fields["count"],
                "terms": fields["terms"], "manifest": fields["manifest"],
                "deadline": call.args["deadline"],
            })
            record = Record(community, fields["count"].to_bytes(32, "big"), fields["terms"],
                            fields["manifest"], _ZERO32, fields["registrant"], reg.timestamp,
                            KIND_BATCH)
            signers = self.signatures(reg, typed, holders, call.args, holders.threshold)
            return record, fields["batch"], signers
        if reg.event not in ("ItemRegistered", "DerivativeRegistered"):
            raise _invalid(f"item {_hex(item.key)} has a {reg.event} as its registration")
        if fields["content"] != content_key(fields["cid"]):
            raise _invalid(f"the content key of {_hex(item.key)} is not its CID's hash")
        if fields["item"] != item.key or claim_key(community, fields["cid"]) != item.key:
            raise _invalid(f"{_hex(item.key)} is not community {_hex(community)}'s claim on "
                           "its registered CID")
        if reg.event == "ItemRegistered":
            call = self.call(reg, ("registerItem", "registerItemPacked"))
            names: tuple[str, ...] = ("community", "cid", "metadata", "terms", "commitment")
            self.same(reg, {k: call.args[k] for k in names}, call)
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterItem", {
                **{k: fields[k] for k in names}, "deadline": call.args["deadline"],
            })
            record = Record(community, fields["metadata"], fields["terms"], fields["commitment"],
                            _ZERO32, fields["registrant"], reg.timestamp, KIND_ITEM)
        else:
            call = self.call(reg, ("registerDerivative",))
            names = ("community", "parent", "cid", "metadata", "terms", "method", "aiEnhanced")
            self.same(reg, {k: call.args[k] for k in names}, call)
            # The parent steward's consent (parentSteward, parentRecord) is checked against
            # the parent's own evidence, in assess.
            self.same(reg, {"registrant": call.sender}, call)
            typed = consent.TypedData(self.domain, "RegisterDerivative", {
                **{k: fields[k] for k in names}, "deadline": call.args["deadline"],
            })
            derivation = keccak(abi_encode(["bytes32", "bool"],
                                           [fields["method"], fields["aiEnhanced"]]))
            record = Record(community, fields["metadata"], fields["terms"], derivation,
                            fields["parent"], fields["registrant"], reg.timestamp,
                            KIND_DERIVATIVE)
        signers = self.signatures(reg, typed, holders, call.args, holders.threshold)
        return record, item.key, signers

    def assess(self, item: ItemEvidence, depth: int = 0) -> Assessment:
        if depth > _MAX_LINEAGE:
            raise _invalid(f"the lineage of {_hex(item.key)} is deeper than {_MAX_LINEAGE}")
        cid = _parse_cid(item.cid)
        content = content_key(bytes(cid))
        claimant = item.registration.fields["community"]
        if claim_key(claimant, bytes(cid)) != item.key:
            raise _invalid(f"{_hex(item.key)} is not community {_hex(claimant)}'s claim on CID "
                           f"{item.cid}")
        if item.batch is None and item.registration.fields.get("cid") != bytes(cid):
            raise _invalid(f"CID {item.cid} is not the one registered as {_hex(item.key)}")
        events = sorted((item.registration, *item.events), key=lambda e: e.position)
        if events[0] is not item.registration or len({e.position for e in events}) != len(events):
            raise _invalid(f"the events of {_hex(item.key)} are out of order or repeated")
        record, record_key, signers = self.registration(item)
        metadata_digest = item.batch.metadata if item.batch is not None else record.metadata
        metadata = _metadata(self.document(metadata_digest), item.cid)
        community = record.community
        steward = community
        terms, version, revoked = record.terms, 1, False
        item_subject = (
            batch_item_subject(record_key, content) if item.batch is not None else record_key
        )
        item_revoked = False
        terms_signers = signers
        terms_set = self.set_at(community, item.registration)
        custody: list[CustodyStep] = []
        for event in events[1:]:
            fields = event.fields
            if event.event == "TermsSet":
                if fields["subject"] != record_key:
                    raise _invalid(f"a TermsSet of {_hex(fields['subject'])} is not about "
                                   f"{_hex(item.key)}")
                call = self.call(event, ("setTerms",))
                self.same(event, {k: call.args[k] for k in ("subject", "version", "terms")},
                          call)
                self._record_arg(call, record, event)
                self._steward(event, steward)
                if fields["version"] != version + 1:
                    raise _invalid(f"terms version {fields['version']} of {_hex(item.key)} "
                                   f"follows version {version}")
                holders = self.set_at(steward, event)
                typed = consent.TypedData(self.domain, "SetTerms", {
                    "community": steward, "subject": record_key, "version": fields["version"],
                    "terms": fields["terms"], "deadline": call.args["deadline"],
                })
                terms_signers = self.signatures(event, typed, holders, call.args,
                                                holders.threshold)
                terms_set = holders
                terms, version, revoked = fields["terms"], fields["version"], False
            elif event.event == "TermsRevoked":
                subject = fields["subject"]
                if subject not in (record_key, item_subject):
                    raise _invalid(f"a TermsRevoked of {_hex(subject)} is not about "
                                   f"{_hex(item.key)}")
                if subject == record_key:
                    call = self.call(event, ("revokeTerms",))
                    self.same(event, {"subject": call.args["subject"]}, call)
                    self._record_arg(call, record, event)
                else:
                    call = self.call(event, ("revokeBatchItem",))
                    assert item.batch is not None  # item_subject differs only for batch items
                    if (call.args["root"], call.args["item"]) != (item.batch.root, content):
                        raise _invalid(f"the revocation in {_hex(event.tx_hash)} names "
                                       "another batch item")
                    self._record_arg(call, record, event, name="batchRecord")
                self.same(event, {"version": call.args["version"]}, call)
                self._steward(event, steward)
                holders = self.set_at(steward, event)
                typed = consent.TypedData(self.domain, "RevokeTerms", {
                    "community": steward, "subject": subject, "version": fields["version"],
                    "deadline": call.args["deadline"],
                })
                self.signatures(event, typed, holders, call.args, holders.threshold)
                if subject == record_key:
                    revoked = True
                else:
                    item_revoked = True
            elif event.event == "CustodyRecorded":
                steward = self._custody(event, record, record_key, steward, custody)
            else:
                raise _invalid(f"{event.event} is not an event in an item's history")
        parent: Assessment | None = None
        if item.registration.event == "DerivativeRegistered":
            parent_evidence = self.evidence.item(item.registration.fields["parent"])
            if parent_evidence is None:
                raise _invalid(f"the evidence lacks the parent of derivative {_hex(item.key)}")
            parent = self.assess(parent_evidence, depth + 1)
            self._parent_consent(item.registration, parent)
        reg_fields = item.registration.fields
        # Only a plain item's or a batch leaf's commitment is a plaintext commitment; a
        # derivative's record holds its derivation in that field.
        commitment = item.batch.commitment if item.batch is not None else (
            record.commitment if record.kind == KIND_ITEM else _ZERO32
        )
        return Assessment(
            key=item.key,
            cid=item.cid,
            kind=item.kind,
            community=community,
            steward=steward,
            record_key=record_key,
            record=record,
            metadata=metadata,
            terms_digest=terms,
            terms_version=version,
            revoked=revoked or item_revoked,
            encrypted=commitment != _ZERO32,
            signed_by=terms_signers,
            signing_set=terms_set,
            current_set=self.timeline(terms_set.community)[-1],
            custody=tuple(custody),
            parent=parent,
            ai_enhanced=reg_fields.get("aiEnhanced") if parent is not None else None,
            method_cid=str(Cid.from_digest(reg_fields["method"], RAW))
            if parent is not None else None,
            batch_root=item.batch.root if item.batch is not None else None,
            events=tuple(events),
            content=content,
            parent_steward=reg_fields["parentSteward"] if parent is not None else None,
        )

    def _parent_consent(self, reg: ChainEvent, parent: Assessment) -> None:
        """A derivative's registration against its parent's evidence: the call passed the
        parent's record, the event names the community that stewarded the parent at that
        moment, and k of that steward's keyholders then signed ConsentDerivative."""
        fields = reg.fields
        call = self.call(reg, ("registerDerivative",))
        self._record_arg(call, parent.record, reg, name="parentRecord")
        steward = parent.community
        for step in parent.custody:
            if step.event.position < reg.position:
                steward = step.steward_after
        if fields["parentSteward"] != steward:
            raise _invalid(f"derivative {_hex(fields['item'])} names parent steward "
                           f"{_hex(fields['parentSteward'])}, but {_hex(steward)} stewarded "
                           f"its parent {_hex(parent.key)} then")
        holders = self.set_at(steward, reg)
        typed = consent.derivative_consent(
            self.domain, fields["parent"], fields["community"], fields["cid"], fields["method"],
            fields["aiEnhanced"], call.args["deadline"],
        )
        self.signatures(reg, typed, holders, call.args["parentSteward"], holders.threshold)

    def _record_arg(
        self, call: RegistryCall, record: Record, event: ChainEvent, name: str = "record"
    ) -> None:
        given = call.args[name]
        ours = dict(zip(("community", "metadata", "terms", "commitment", "parent", "registrant",
                         "registeredAt", "kind"), record.as_abi(), strict=True))
        if {k: _norm(v) for k, v in given.items()} != {k: _norm(v) for k, v in ours.items()}:
            raise _invalid(f"transaction {_hex(event.tx_hash)} passed another record than the "
                           "registration's")

    def _steward(self, event: ChainEvent, steward: bytes) -> None:
        if event.fields["community"] != steward:
            raise _invalid(f"{event.event} in {_hex(event.tx_hash)} names community "
                           f"{_hex(event.fields['community'])}, not the steward {_hex(steward)}")

    def _custody(
        self,
        event: ChainEvent,
        record: Record,
        record_key: bytes,
        steward: bytes,
        steps: list[CustodyStep],
    ) -> bytes:
        fields = event.fields
        if fields["item"] != record_key:
            raise _invalid(f"a custody event of {_hex(fields['item'])} is not this item's")
        call = self.call(event, ("recordCustody",))
        self.same(event, {k: call.args[k] for k in ("item", "action", "counterparty",
                                                    "document", "nonce")}, call)
        self._record_arg(call, record, event)
        self._steward(event, steward)
        if fields["nonce"] != len(steps):
            raise _invalid(f"custody nonce {fields['nonce']} of {_hex(record_key)}: a custody "
                           "event is missing")
        action = fields["action"]
        typed = consent.TypedData(self.domain, "RecordCustody", {
            "item": record_key, "action": action, "community": steward,
            "counterparty": fields["counterparty"], "document": fields["document"],
            "nonce": fields["nonce"], "deadline": call.args["deadline"],
        })
        holders = self.set_at(steward, event)
        self.signatures(event, typed, holders, call.args["steward"], holders.threshold)
        after = steward
        if action in (CUSTODY_TRANSFER, CUSTODY_REPATRIATION):
            receiver = self.set_at(fields["counterparty"], event)
            self.signatures(event, typed, receiver, call.args["receiver"], receiver.threshold)
            after = fields["counterparty"]
        source, destination = (
            (fields["counterparty"], steward) if action == 3 else (steward, fields["counterparty"])
        )
        steps.append(CustodyStep(CUSTODY_ACTIONS.get(action, "unknown"), source, destination,
                                 after, str(Cid.from_digest(fields["document"], RAW)), event))
        return after


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(bytes(value))
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def derived_records(
    evidence: Evidence, cache: CheckCache | None = None
) -> dict[str, list[dict[str, Any]]]:
    """What the evidence implies, spelled out for readers of ``proofs.json``: ``records``, each
    item's registry record and the digest the registry stores for it; ``signatures``, every
    signature check (which EIP-712 message, which keyholder set, who signed). Raises
    :class:`EvidenceInvalid` as :func:`assess` does."""
    _check_documents(evidence.documents)
    checker = _Checker(evidence, cache if cache is not None else CheckCache())
    records = []
    for item in evidence.items:
        a = checker.assess(item)
        record = dict(
            zip(
                ("community", "metadata", "terms", "commitment", "parent", "registrant",
                 "registered_at", "kind"),
                (_json_safe(v) for v in a.record.as_abi()),
                strict=True,
            )
        )
        records.append(
            {
                "item": _hex(a.key),
                "record_key": _hex(a.record_key),
                "record": record,
                "digest": _hex(a.record.digest()),
            }
        )
    unique = {json.dumps(r, sort_keys=True): r for r in checker.signed}
    signatures = sorted(unique.values(), key=lambda r: (r["tx_hash"], r["community"]))
    return {"records": records, "signatures": signatures}


def _norm(value: Any) -> Any:
    """One comparable form for ABI values (web3 returns lists, checksummed strings, bytes)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


def _parse_cid(text: str) -> Cid:
    try:
        return Cid.parse(text)
    except HeritageError:
        raise _invalid(f"{text!r} is not a CID") from None


def _metadata(data: bytes | None, cid: str) -> Mapping[str, Any] | None:
    """The item's metadata document, if the evidence has it and it names this CID."""
    if data is None:
        return None
    try:
        document = strict_json.loads(data)
    except ValueError:
        return None  # e.g. an encrypted metadata envelope: its digest still binds it
    if not isinstance(document, dict):
        return None
    named = document.get("cid")
    if named is not None and named != cid:
        raise _invalid(f"the metadata document of {cid} names another CID, {named}")
    return document


def _check_documents(documents: Mapping[str, bytes]) -> None:
    for name, data in documents.items():
        cid = _parse_cid(name)
        if cid.codec != RAW or not cid.matches(data):
            raise _invalid(f"document {name} does not hash to its CID")


def assess(
    evidence: Evidence, key: bytes, cache: CheckCache | None = None
) -> tuple[Assessment, tuple[str, ...]]:
    """Check the evidence about item ``key`` and say what it establishes.

    Returns the assessment and every signature problem found (empty: all signatures hold).
    Raises :class:`EvidenceInvalid` when the evidence contradicts itself, and
    :class:`~ledger.errors.NotFound`-free: an item absent from the evidence is EvidenceInvalid
    too, since the caller asked about an item the evidence claims to cover.
    """
    checks = cache if cache is not None else CheckCache()
    documents = evidence.documents
    if checks.documents.get(id(documents)) is not documents:
        _check_documents(documents)
        checks.documents.put(id(documents), documents)
    item = evidence.item(key)
    if item is None:
        raise _invalid(f"the evidence says nothing about item {_hex(key)}")
    checker = _Checker(evidence, checks)
    assessment = checker.assess(item)
    return assessment, tuple(dict.fromkeys(checker.problems))
