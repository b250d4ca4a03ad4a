"""Reading the registry: its views, typed, and the verification read path — the head block,
records and raw transactions in one JSON-RPC batch request, written now and read later, so
that the node works on them while the caller hashes a file.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import RPCEndpoint

from ledger.chain.reverts import RevertDecoder, revert_error
from ledger.chain.transport import PendingAnswer, chain_errors, endpoint_of, transport_of
from ledger.chain.values import (
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    ChainHead,
    ChainReads,
    Community,
    Record,
    TermsState,
    as_bytes32,
)
from ledger.errors import ChainError, NotFound

__all__ = ["RawTransactionCache", "RegistryReads"]

_ZERO32: Final = bytes(32)
_RECORDS_SELECTOR: Final = keccak(text="records(bytes32)")[:4]


def _rpc_bytes(value: Any, method: str) -> bytes:
    """A JSON-RPC hex result as bytes (ChainError for anything else)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainError(f"{method} returned {value!r}, not 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ChainError(f"{method} returned {value[:80]!r}, not 0x-prefixed hex") from None


class RawTransactionCache:
    """Raw signed transactions by hash, least recently used dropped beyond ``max_bytes``.

    Safe to keep for as long as the process lives: a transaction hash is the keccak of the
    raw bytes, so the bytes under a hash never change (a reorganisation may drop or move a
    transaction, never alter it); bytes that do not hash to the name asked for are not kept.
    Verification reads the same communities' transactions for every item."""

    def __init__(self, max_bytes: int = 16 << 20) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, tx_hash: bytes) -> bytes | None:
        with self._lock:
            raw = self._entries.get(tx_hash)
            if raw is not None:
                self._entries.move_to_end(tx_hash)
            return raw

    def put(self, tx_hash: bytes, raw: bytes) -> None:
        if len(raw) > self.max_bytes or keccak(raw) != tx_hash:
            return
        with self._lock:
            if tx_hash in self._entries:
                return
            self._entries[tx_hash] = raw
            self._bytes += len(raw)
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)



class RegistryReads:
    """The registry's state as its views and events show it, read through ``contract``
    (its web3 client made by :func:`~ledger.chain.transport.connect`); logs are searched
    from ``from_block``."""

    def __init__(
        self, w3: Web3, contract: Contract, decoder: RevertDecoder, *, from_block: int = 0
    ) -> None:
        self.w3 = w3
        self.contract = contract
        self.address = contract.address
        self.decoder = decoder
        self.from_block = from_block
        self.raw_transactions = RawTransactionCache()

    @contextlib.contextmanager
    def _rpc(self) -> Iterator[None]:
        with chain_errors(self.endpoint(), node_errors=(Web3RPCError, TimeExhausted)):
            yield

    def endpoint(self) -> str:
        return endpoint_of(self.w3)

    def view(self, function: str, *args: Any) -> Any:
        """The result of the view ``function(*args)`` at the latest block."""
        with self._rpc():
            try:
                return self.contract.get_function_by_name(function)(*args).call()
            except ContractLogicError as exc:
                raise revert_error(self.decoder, exc, function) from None

    # -- views -----------------------------------------------------------------------------

    def domain_separator(self) -> bytes:
        return bytes(self.view("domainSeparator"))

    def type_hashes(self) -> dict[str, bytes]:
        """Every ``*_TYPEHASH`` constant of the deployed registry, by action name."""
        names = {
            "CreateCommunity": "CREATE_COMMUNITY_TYPEHASH",
            "RotateKeyholders": "ROTATE_KEYHOLDERS_TYPEHASH",
            "RegisterItem": "REGISTER_ITEM_TYPEHASH",
            "RegisterBatch": "REGISTER_BATCH_TYPEHASH",
            "RegisterDerivative": "REGISTER_DERIVATIVE_TYPEHASH",
            "ConsentDerivative": "CONSENT_DERIVATIVE_TYPEHASH",
            "SetTerms": "SET_TERMS_TYPEHASH",
            "RevokeTerms": "REVOKE_TERMS_TYPEHASH",
            "RecordCustody": "RECORD_CUSTODY_TYPEHASH",
            "SetDescription": "SET_DESCRIPTION_TYPEHASH",
        }
        return {action: bytes(self.view(constant)) for action, constant in names.items()}

    def community_config(self, community: bytes) -> bytes:
        """The stored configuration hash of a community (zero: no such community)."""
        return bytes(self.view("communityConfig", community))

    def community_nonce(self, community: bytes) -> int:
        return int(self.view("communityNonce", community))

    def community_matches(self, community: Community) -> bool:
        """Whether ``community`` is exactly the configuration the registry holds."""
        return self.community_config(community.id) == community.config_hash()

    def record_hash(self, key: bytes) -> bytes:
        """``records(key)``: the stored record digest (zero: nothing registered)."""
        return bytes(self.view("records", key))

    def is_registered(self, key: bytes) -> bool:
        return self.record_hash(key) != _ZERO32

    def terms_of(self, subject: bytes) -> TermsState:
        version, terms, revoked, updated_at = self.view("termsOf", subject)
        return TermsState(int(version), bytes(terms), bool(revoked), int(updated_at))

    def description_version(self, subject: bytes) -> int:
        """The current description version of a subject: 1 (its registration's) until a
        correction."""
        return int(self.view("descriptionVersionOf", subject))

    def steward_override(self, item: bytes) -> bytes:
        return bytes(self.view("stewardOverride", item))

    def custody_nonce(self, item: bytes) -> int:
        return int(self.view("custodyNonce", item))

    def steward_of(self, key: bytes, record: Record) -> bytes:
        return bytes(self.view("stewardOf", key, record.as_abi()))

    def is_batch_item(
        self,
        community: bytes,
        root: bytes,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
    ) -> bool:
        return bool(
            self.view("isBatchItem", community, root, item, metadata, commitment, list(proof))
        )

    def hash_record(self, record: Record) -> bytes:
        return bytes(self.view("hashRecord", record.as_abi()))

    def batch_leaf(self, item: bytes, metadata: bytes, commitment: bytes) -> bytes:
        return bytes(self.view("batchLeaf", item, metadata, commitment))

    def batch_item_subject(self, batch: bytes, item: bytes) -> bytes:
        return bytes(self.view("batchItemSubject", batch, item))

    def claim_of(self, community: bytes, cid: bytes) -> bytes:
        return bytes(self.view("claimOf", community, cid))

    def batch_of(self, community: bytes, root: bytes) -> bytes:
        return bytes(self.view("batchOf", community, root))

    # -- the verification read path ---------------------------------------------------------

    def head_begin(self) -> Callable[[], ChainHead]:
        """The live chain id and the head block's number and hash, in one batch request:
        asked now, read when the returned function is called."""
        finish = self.batch_begin(
            [
                (RPCEndpoint("eth_chainId"), []),
                (RPCEndpoint("eth_getBlockByNumber"), ["latest", False]),
            ]
        )
        return lambda: self._head_end(finish)

    def _head_end(self, finish: Callable[[], list[Any]]) -> ChainHead:
        chain_id, block = finish()
        try:
            return ChainHead(int(chain_id, 16), int(block["number"], 16),
                             _rpc_bytes(block["hash"], "eth_getBlockByNumber"))
        except (TypeError, KeyError, ValueError):
            raise ChainError(
                f"the chain at {self.endpoint()} answered eth_chainId / eth_getBlockByNumber "
                f"with {chain_id!r} / {str(block)[:200]}"
            ) from None

    def read_many(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> ChainReads:
        """``records(key)`` of each key at ``block``, and each raw signed transaction, in one
        JSON-RPC batch request: one round trip instead of one per read. A node that refuses
        batches is asked one request at a time. Transactions read before come from memory."""
        return self.read_many_begin(records, transactions, block=block)()

    def known_raw_transaction(self, tx_hash: bytes) -> bytes | None:
        """A raw signed transaction read before by this client (none: not in memory)."""
        return self.raw_transactions.get(tx_hash)

    def read_many_begin(
        self, records: Sequence[bytes], transactions: Sequence[bytes], *, block: int
    ) -> Callable[[], ChainReads]:
        """:meth:`read_many`, asked now and read when the returned function is called."""
        keys = list(dict.fromkeys(as_bytes32(k, "record key") for k in records))
        hashes = list(dict.fromkeys(as_bytes32(h, "transaction hash") for h in transactions))
        at = hex(block)
        requests_: list[tuple[RPCEndpoint, Any]] = [
            (RPCEndpoint("eth_call"),
             [{"to": self.address, "data": "0x" + (_RECORDS_SELECTOR + k).hex()}, at])
            for k in keys
        ]
        raw: dict[bytes, bytes] = {}
        for tx_hash in hashes:
            known = self.raw_transactions.get(tx_hash)
            if known is not None:
                raw[tx_hash] = known
        hashes = [h for h in hashes if h not in raw]
        requests_ += [
            (RPCEndpoint("eth_getRawTransactionByHash"), ["0x" + h.hex()]) for h in hashes
        ]
        finish = self.batch_begin(requests_)
        return lambda: self._read_many_end(finish(), block, keys, hashes, raw)

    def _read_many_end(
        self,
        results: list[Any],
        block: int,
        keys: list[bytes],
        hashes: list[bytes],
        raw: dict[bytes, bytes],
    ) -> ChainReads:
        digests: dict[bytes, bytes] = {}
        for key, result in zip(keys, results, strict=False):
            value = _rpc_bytes(result, "records")
            if len(value) != 32:
                raise ChainError(
                    f"records(0x{key.hex()}) at {self.endpoint()} returned {len(value)} bytes, "
                    "not 32: is the deployment's address the registry?"
                )
            digests[key] = value
        for tx_hash, result in zip(hashes, results[len(keys):], strict=True):
            if result is not None:
                raw[tx_hash] = _rpc_bytes(result, "eth_getRawTransactionByHash")
                self.raw_transactions.put(tx_hash, raw[tx_hash])
        return ChainReads(block, digests, raw)

    def batch(self, calls: Sequence[tuple[RPCEndpoint, Any]]) -> list[Any]:
        """The results of ``calls``, in order; errors as the single calls raise them."""
        return self.batch_begin(calls)()

    def batch_begin(self, calls: Sequence[tuple[RPCEndpoint, Any]]) -> Callable[[], list[Any]]:
        """:meth:`batch` in two halves: the request goes out now, and the returned function
        reads the answer (the node works on it meanwhile)."""
        if not calls:
            return list
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        pending = transport_of(self.w3).send(json.dumps(body).encode())
        return lambda: self._batch_end(calls, pending)

    def _batch_end(
        self, calls: Sequence[tuple[RPCEndpoint, Any]], pending: PendingAnswer
    ) -> list[Any]:
        answer = pending.result()
        if isinstance(answer, list) and all(isinstance(r, Mapping) for r in answer):
            answer = sorted(answer, key=lambda r: int(r.get("id", -1)))
        if not isinstance(answer, list) or len(answer) != len(calls):
            # No batch support (one error object back): the same calls, one by one.
            transport = transport_of(self.w3)
            answer = [
                transport.post(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
                    ).encode()
                )
                for method, params in calls
            ]
        results: list[Any] = []
        for (method, _), response in zip(calls, answer, strict=True):
            error = response.get("error") if isinstance(response, Mapping) else "no response"
            if error is not None or "result" not in response:
                raise ChainError(f"the chain at {self.endpoint()} failed {method}: {error}")
            results.append(response["result"])
        return results

    def find_record(self, key: bytes) -> Record:
        """The stored record of an item, derivative or batch, rebuilt from its registration
        event and block, and checked against the digest the registry stores."""
        stored = self.record_hash(key)
        if stored == _ZERO32:
            raise NotFound(f"nothing is registered under 0x{key.hex()}")
        events = (
            self.contract.events.ItemRegistered,
            self.contract.events.DerivativeRegistered,
            self.contract.events.BatchRegistered,
        )
        with self._rpc():
            for event in events:
                topic = "item" if event.event_name != "BatchRegistered" else "batch"
                logs = event.get_logs(
                    from_block=self.from_block, argument_filters={topic: HexBytes(key)}
                )
                for log in logs:
                    record = self._record_from_event(event.event_name, log)
                    if record.digest() == stored:
                        return record
        raise ChainError(
            f"0x{key.hex()} is registered but no registration event rebuilds its record",
            hint="is from_block after the registration, or the node pruned its logs?",
        )

    def _record_from_event(self, name: str, log: Any) -> Record:
        args = log["args"]
        timestamp = int(self.w3.eth.get_block(log["blockNumber"])["timestamp"])
        registrant = to_checksum_address(args["registrant"])
        if name == "ItemRegistered":
            return Record(
                bytes(args["community"]),
                bytes(args["metadata"]),
                bytes(args["terms"]),
                bytes(args["commitment"]),
                _ZERO32,
                registrant,
                timestamp,
                KIND_ITEM,
            )
        if name == "DerivativeRegistered":
            derivation = keccak(
                abi_encode(["bytes32", "bool"], [bytes(args["method"]), bool(args["aiEnhanced"])])
            )
            return Record(
                bytes(args["community"]),
                bytes(args["metadata"]),
                bytes(args["terms"]),
                derivation,
                bytes(args["parent"]),
                registrant,
                timestamp,
                KIND_DERIVATIVE,
            )
        return Record(
            bytes(args["community"]),
            int(args["count"]).to_bytes(32, "big"),
            bytes(args["terms"]),
            bytes(args["manifest"]),
            _ZERO32,
            registrant,
            timestamp,
            KIND_BATCH,
        )

