"""The registry client: :class:`RegistryClient`, every registry function typed, over one web3
client made by :func:`~ledger.chain.transport.connect`.

It composes two collaborators: :class:`~ledger.chain.sending.TransactionSender` (estimate,
sign, journal, send, wait, recover) and :class:`~ledger.chain.reads.RegistryReads` (views and
the verification read path). Signatures are made elsewhere (:mod:`ledger.consent`); the
client only carries them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from contracts import Artifact, load_artifact
from ledger.chain.calls import Calls, pack_register_item
from ledger.chain.journal import RecoveryReport, TxJournal
from ledger.chain.reads import RegistryReads
from ledger.chain.reverts import RevertDecoder
from ledger.chain.sending import TransactionSender
from ledger.chain.values import (
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    REGISTRY_CONTRACT,
    Call,
    ChainHead,
    ChainReads,
    Community,
    Party,
    Record,
    Registration,
    TermsState,
    TxOutcome,
    batch_key,
    claim_key,
)
from ledger.consent.typed_data import Domain
from ledger.errors import UsageError

__all__ = ["RegistryClient"]

_ZERO32: Final = bytes(32)


class RegistryClient:
    """Every registry function, typed; transactions signed locally by ``sender``.

    ``journal`` receives every signed raw transaction before it is sent; without one the
    client refuses to send (pass ``TxJournal.in_data_dir(settings.data_dir)``).
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        sender: LocalAccount,
        journal: TxJournal,
        *,
        artifact: Artifact | None = None,
        from_block: int = 0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.from_block = from_block
        self.artifact = artifact or load_artifact(REGISTRY_CONTRACT)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self.decoder = RevertDecoder(self.artifact.abi)
        self.sending = TransactionSender(
            w3,
            self.address,
            sender,
            journal,
            self.encode,
            self.decoder,
            receipt_timeout=receipt_timeout,
            poll_interval=poll_interval,
        )
        self.reads = RegistryReads(w3, self.contract, self.decoder, from_block=from_block)
        # Seconds the last head() took (None: not asked yet): how far away the chain is.
        self.head_seconds: float | None = None

    @property
    def sender(self) -> LocalAccount:
        """The account that signs and pays for every transaction."""
        return self.sending.account

    @sender.setter
    def sender(self, account: LocalAccount) -> None:
        self.sending.account = account

    @property
    def journal(self) -> TxJournal:
        """Where every signed raw transaction is written before it is sent."""
        return self.sending.journal

    @property
    def receipt_timeout(self) -> float:
        """Seconds to wait for a sent transaction's receipt."""
        return self.sending.receipt_timeout

    @receipt_timeout.setter
    def receipt_timeout(self, seconds: float) -> None:
        self.sending.receipt_timeout = seconds

    # -- encoding and simulation -----------------------------------------------------------

    def chain_id(self) -> int:
        """The live chain id (asked every time: a chain may change it, anvil can)."""
        return self.sending.chain_id()

    def domain(self) -> Domain:
        """The EIP-712 domain signatures must be made in: live chain id, this registry."""
        return Domain(chain_id=self.chain_id(), verifying_contract=self.address)

    def _function(self, call: Call) -> Any:
        try:
            return self.contract.get_function_by_name(call.function)(*call.args)
        except (ValueError, TypeError, Web3Exception) as exc:
            raise UsageError(f"cannot encode {call.function}{call.args!r}: {exc}") from None

    def encode(self, call: Call) -> bytes:
        """The calldata of ``call``."""
        if call.function == "registerItemPacked":
            return pack_register_item(*call.args)
        return bytes(HexBytes(self._function(call)._encode_transaction_data()))

    def simulate(self, call: Call, *, block: int | str = "latest") -> bytes:
        """Run ``call`` with eth_call from the sender (no transaction); its return data.
        Raises :class:`RegistryReverted` exactly as sending it would."""
        return self.simulate_calldata(self.encode(call), call.function, block=block)

    def simulate_calldata(
        self, data: bytes, function: str, *, block: int | str = "latest"
    ) -> bytes:
        """:meth:`simulate` for calldata made elsewhere; ``function`` names it in errors."""
        return self.sending.simulate(data, function, block=block)

    def estimate_gas(self, call: Call) -> int:
        return self.sending.estimate_gas(call)

    def resync_nonce(self) -> int:
        """Forget the locally tracked nonce and read it from the chain (after a revert of
        the chain, e.g. ``evm_revert``, or another client sending from the same account)."""
        return self.sending.resync_nonce()

    # -- transactions ----------------------------------------------------------------------

    def transact(self, call: Call, *, gas: int | None = None) -> TxOutcome:
        """Estimate, sign, journal, send, wait: the mined, successful transaction.

        Raises :class:`RegistryReverted` (nothing sent) when the estimate reverts, and also
        when the mined transaction reverted."""
        return self.sending.transact(call, gas=gas)

    def transact_many(self, calls: Sequence[Call]) -> list[TxOutcome]:
        """Send independent calls back to back, then wait for all of them (see
        :meth:`TransactionSender.transact_many`)."""
        return self.sending.transact_many(calls)

    def recover(self) -> RecoveryReport:
        """Make the chain hold every journalled transaction of this sender and chain (see
        :meth:`TransactionSender.recover`)."""
        return self.sending.recover()

    def create_community(
        self,
        community: Community,
        salt: bytes,
        document: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Create ``community`` (see :meth:`Community.founded`); ``signatures``: every
        keyholder's over its derived id, packed in their order."""
        return self.transact(
            Calls.create_community(community, salt, document, deadline, signatures)
        )

    def rotate_keyholders(
        self,
        current: Community,
        next_keyholders: Sequence[str],
        next_threshold: int,
        document: bytes,
        nonce: int,
        deadline: int,
        signatures: bytes,
    ) -> tuple[Community, TxOutcome]:
        """Replace the keyholders (k of the current set sign); the community as it now is."""
        outcome = self.transact(
            Calls.rotate_keyholders(
                current, next_keyholders, next_threshold, document, nonce, deadline, signatures
            )
        )
        return Community.of(current.id, next_keyholders, next_threshold), outcome

    def register_item(
        self,
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Registration:
        """Register one item with its initial terms (version 1)."""
        outcome = self.transact(
            Calls.register_item(community, cid, metadata, terms, commitment, deadline, signatures)
        )
        record = Record(
            community.id,
            metadata,
            terms,
            commitment,
            _ZERO32,
            self.sender.address,
            outcome.block_timestamp,
            KIND_ITEM,
        )
        return Registration(claim_key(community.id, cid), record, outcome)

    def register_batch(
        self,
        community: Community,
        root: bytes,
        count: int,
        terms: bytes,
        manifest: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Registration:
        """Register a batch by its StandardMerkleTree root; the registration's key is the
        batch key (:func:`batch_key`). ``manifest`` is sha2-256 of the batch manifest
        document, stored as the record's commitment."""
        outcome = self.transact(
            Calls.register_batch(community, root, count, terms, manifest, deadline, signatures)
        )
        record = Record(
            community.id,
            count.to_bytes(32, "big"),
            terms,
            manifest,
            _ZERO32,
            self.sender.address,
            outcome.block_timestamp,
            KIND_BATCH,
        )
        return Registration(batch_key(community.id, root), record, outcome)

    def register_derivative(
        self,
        community: Community,
        parent: bytes,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        method: bytes,
        ai_enhanced: bool,
        deadline: int,
        signatures: bytes,
        parent_record: Record,
        parent_steward: Party,
    ) -> Registration:
        """Register a derivative of the claim ``parent`` (restoration, reconstruction,
        AI-enhanced), with the consent of the parent's steward (``parent_steward``)."""
        outcome = self.transact(
            Calls.register_derivative(
                community,
                parent,
                cid,
                metadata,
                terms,
                method,
                ai_enhanced,
                deadline,
                signatures,
                parent_record,
                parent_steward,
            )
        )
        derivation = keccak(abi_encode(["bytes32", "bool"], [method, ai_enhanced]))
        record = Record(
            community.id,
            metadata,
            terms,
            derivation,
            parent,
            self.sender.address,
            outcome.block_timestamp,
            KIND_DERIVATIVE,
        )
        return Registration(claim_key(community.id, cid), record, outcome)

    def set_terms(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        terms: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Set terms version ``version`` (current + 1) of an item, derivative or batch."""
        return self.transact(
            Calls.set_terms(subject, record, steward, version, terms, deadline, signatures)
        )

    def set_description(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        description: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Publish description version ``version`` (current + 1) of an item or derivative."""
        return self.transact(
            Calls.set_description(
                subject, record, steward, version, description, deadline, signatures
            )
        )

    def set_batch_item_description(
        self,
        root: bytes,
        batch_record: Record,
        leaf: tuple[bytes, bytes, bytes],
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        description: bytes,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Publish description version ``version`` of one item of a batch, proven by its
        ``leaf`` (content key, metadata digest, commitment) and Merkle ``proof``; the subject
        signed is ``batch_item_subject(batch_key(community, root), item)``."""
        call = Calls.set_batch_item_description(
            root, batch_record, leaf, proof, steward, version, description, deadline, signatures
        )
        return self.transact(call)

    def revoke_terms(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Revoke the current terms (``version``) of a subject."""
        return self.transact(
            Calls.revoke_terms(subject, record, steward, version, deadline, signatures)
        )

    def revoke_batch_item(
        self,
        root: bytes,
        batch_record: Record,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> TxOutcome:
        """Revoke the terms of one item of a batch, proven by its leaf's Merkle proof; the
        signatures are over RevokeTerms of ``batch_item_subject(batch_key(community, root),
        item)``, ``community`` being the batch record's."""
        return self.transact(
            Calls.revoke_batch_item(
                root,
                batch_record,
                item,
                metadata,
                commitment,
                proof,
                steward,
                version,
                deadline,
                signatures,
            )
        )

    def record_custody(
        self,
        item: bytes,
        record: Record,
        action: int,
        counterparty: bytes,
        document: bytes,
        nonce: int,
        deadline: int,
        steward: Party,
        receiver: Party | None = None,
    ) -> TxOutcome:
        """Record a transfer, loan, return or repatriation of ``item``."""
        return self.transact(
            Calls.record_custody(
                item,
                record,
                action,
                counterparty,
                document,
                nonce,
                deadline,
                steward,
                receiver or Party.absent(),
            )
        )

    # -- reads (see RegistryReads) ---------------------------------------------------------

    def domain_separator(self) -> bytes:
        return self.reads.domain_separator()

    def type_hashes(self) -> dict[str, bytes]:
        """Every ``*_TYPEHASH`` constant of the deployed registry, by action name."""
        return self.reads.type_hashes()

    def community_config(self, community: bytes) -> bytes:
        """The stored configuration hash of a community (zero: no such community)."""
        return self.reads.community_config(community)

    def community_nonce(self, community: bytes) -> int:
        return self.reads.community_nonce(community)

    def community_matches(self, community: Community) -> bool:
        """Whether ``community`` is exactly the configuration the registry holds."""
        return self.reads.community_matches(community)

    def record_hash(self, key: bytes) -> bytes:
        """``records(key)``: the stored record digest (zero: nothing registered)."""
        return self.reads.record_hash(key)

    def is_registered(self, key: bytes) -> bool:
        return self.reads.is_registered(key)

    def terms_of(self, subject: bytes) -> TermsState:
        return self.reads.terms_of(subject)

    def description_version(self, subject: bytes) -> int:
        return self.reads.description_version(subject)

    def steward_override(self, item: bytes) -> bytes:
        return self.reads.steward_override(item)

    def custody_nonce(self, item: bytes) -> int:
        return self.reads.custody_nonce(item)

    def steward_of(self, key: bytes, record: Record) -> bytes:
        return self.reads.steward_of(key, record)

    def is_batch_item(
        self,
        community: bytes,
        root: bytes,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
    ) -> bool:
        return self.reads.is_batch_item(community, root, item, metadata, commitment, proof)

    def hash_record(self, record: Record) -> bytes:
        return self.reads.hash_record(record)

    def batch_leaf(self, item: bytes, metadata: bytes, commitment: bytes) -> bytes:
        return self.reads.batch_leaf(item, metadata, commitment)

    def batch_item_subject(self, batch: bytes, item: bytes) -> bytes:
        return self.reads.batch_item_subject(batch, item)

    def claim_of(self, community: bytes, cid: bytes) -> bytes:
        return self.reads.claim_of(community, cid)

    def batch_of(self, community: bytes, root: bytes) -> bytes:
        return self.reads.batch_of(community, root)

    def find_record(self, key: bytes) -> Record:
        """The stored record of an item, derivative or batch, rebuilt from its registration
        event and block, and checked against the digest the registry stores."""
        return self.reads.find_record(key)

    def head(self) -> ChainHead:
        """The live chain id and the head block's number and hash, in one batch request (its
        round trip is kept in :attr:`head_seconds`)."""
        start = time.perf_counter()
        head = self.reads.head_begin()()
        self.head_seconds = time.perf_counter() - start
        return head

    def head_begin(self) -> Callable[[], ChainHead]:
        """:meth:`head`, asked now and read when the returned function is called."""
        return self.reads.head_begin()

    def read_many(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> ChainReads:
        """``records(key)`` of each key at ``block``, and each raw signed transaction, in one
        JSON-RPC batch request (see :meth:`RegistryReads.read_many`)."""
        return self.reads.read_many(records, transactions, block=block)

    def read_many_begin(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> Callable[[], ChainReads]:
        """:meth:`read_many`, asked now and read when the returned function is called."""
        return self.reads.read_many_begin(records, transactions, block=block)

    def known_raw_transaction(self, tx_hash: bytes) -> bytes | None:
        """A raw signed transaction read before by this client (none: not in memory)."""
        return self.reads.known_raw_transaction(tx_hash)
