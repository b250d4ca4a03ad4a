"""A typed client for ``ProvenanceRegistry`` on any EVM JSON-RPC chain, with a crash-safe
journal of every signed raw transaction.

One module per layer, each usable alone:

- :mod:`~ledger.chain.values`: :class:`Community`, :class:`Record`, :class:`TermsState`,
  :class:`TxOutcome` … and the registry's keys (:func:`claim_key`, :func:`batch_key`,
  :func:`community_id` …). Pure.
- :mod:`~ledger.chain.calls`: :class:`Calls` builds a :class:`Call` (a contract call as
  data) per registry function; :func:`pack_register_item`. Pure.
- :mod:`~ledger.chain.reverts`: :class:`RevertDecoder`, custom errors with their arguments.
- :mod:`~ledger.chain.journal`: :class:`TxJournal`, signed raw transactions under
  ``<data>/journal/``, written and fsynced *before* the transaction is sent.
- :mod:`~ledger.chain.transport`: the one JSON-RPC seam. :func:`connect` gives a web3 client
  over :class:`RpcTransport`; every request leaves through it, and a transport failure becomes
  :class:`~ledger.errors.ChainUnavailable` there and nowhere else.
- :mod:`~ledger.chain.sending`: estimate, sign, journal, send, wait, recover.
- :mod:`~ledger.chain.reads`: the registry's views and the verification read path (records
  and raw transactions in one batch request at a snapshot block).
- :mod:`~ledger.chain.client`: :class:`RegistryClient`, every registry function typed.
- :mod:`~ledger.chain.deployment`: deployment files, for any chain.
- :mod:`~ledger.chain.transactions`: :func:`decode_call`, a registry call read back from a raw
  signed transaction (EIP-1559 decoding, sender recovery).

Signatures are made elsewhere (:mod:`ledger.consent`); this package only carries them.
"""

from ledger.chain.calls import REGISTER_ITEM_PACKED_SELECTOR, Calls, pack_register_item
from ledger.chain.client import RegistryClient
from ledger.chain.deployment import (
    Deployment,
    check_deployment,
    creation_code_hash,
    deployment_path,
    read_deployment,
    runtime_code_hash,
    write_deployment,
)
from ledger.chain.journal import JournalEntry, JournalState, RecoveryReport, TxJournal
from ledger.chain.reads import RegistryReads
from ledger.chain.reverts import RevertDecoder
from ledger.chain.sending import TransactionSender
from ledger.chain.transactions import RegistryCall, decode_call
from ledger.chain.transport import (
    RpcTransport,
    TransportProvider,
    chain_errors,
    connect,
    transport_of,
    unavailable,
)
from ledger.chain.values import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
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
    batch_item_subject,
    batch_key,
    claim_key,
    community_id,
    content_key,
)

__all__ = [
    "CUSTODY_LOAN",
    "CUSTODY_REPATRIATION",
    "CUSTODY_RETURN",
    "CUSTODY_TRANSFER",
    "KIND_BATCH",
    "KIND_DERIVATIVE",
    "KIND_ITEM",
    "REGISTER_ITEM_PACKED_SELECTOR",
    "REGISTRY_CONTRACT",
    "Call",
    "Calls",
    "ChainHead",
    "ChainReads",
    "Community",
    "Deployment",
    "JournalEntry",
    "JournalState",
    "Party",
    "Record",
    "RecoveryReport",
    "Registration",
    "RegistryCall",
    "RegistryClient",
    "RegistryReads",
    "RevertDecoder",
    "RpcTransport",
    "TermsState",
    "TransactionSender",
    "TransportProvider",
    "TxJournal",
    "TxOutcome",
    "batch_item_subject",
    "batch_key",
    "chain_errors",
    "check_deployment",
    "claim_key",
    "community_id",
    "connect",
    "content_key",
    "creation_code_hash",
    "decode_call",
    "deployment_path",
    "pack_register_item",
    "read_deployment",
    "runtime_code_hash",
    "transport_of",
    "unavailable",
    "write_deployment",
]
