"""Sending transactions to the registry: estimate, sign locally with the sender account,
journal, send, wait for the receipt, and turn a revert into
:class:`~ledger.errors.RegistryReverted`; :meth:`TransactionSender.recover` re-sends whatever
the journal holds and the chain lacks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3.types import TxParams, TxReceipt

from ledger.chain.journal import JournalEntry, JournalState, RecoveryReport, TxJournal, with_state
from ledger.chain.reverts import RevertDecoder, revert_error
from ledger.chain.transport import chain_errors, endpoint_of
from ledger.chain.values import Call, TxOutcome
from ledger.errors import ChainError, ChainUnavailable, RegistryReverted

__all__ = ["PendingTransaction", "TransactionSender"]

_GAS_MARGIN_NUM: Final = 6  # estimate × 6/5: room for a timestamp-dependent path, never less
_GAS_MARGIN_DEN: Final = 5


@dataclass
class PendingTransaction:
    """A signed, journalled transaction and the call it carries."""

    entry: JournalEntry
    call: Call
    params: TxParams = field(default_factory=lambda: cast(TxParams, {}))


class TransactionSender:
    """Sends registry calls from ``account``: each one estimated, signed, written to
    ``journal`` before any node sees it, sent, and waited for; tracks the account's nonce."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount,
        journal: TxJournal,
        encode: Callable[[Call], bytes],
        decoder: RevertDecoder,
        *,
        receipt_timeout: float,
        poll_interval: float,
    ) -> None:
        self.w3 = w3
        self.address = address
        self.account = account
        self.journal = journal
        self.encode = encode
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self._nonce: int | None = None

    @contextlib.contextmanager
    def _rpc(self) -> Iterator[None]:
        with chain_errors(self.endpoint(), node_errors=(Web3RPCError, TimeExhausted)):
            yield

    def endpoint(self) -> str:
        return endpoint_of(self.w3)

    def chain_id(self) -> int:
        """The live chain id (asked every time: a chain may change it, anvil can)."""
        with self._rpc():
            return int(self.w3.eth.chain_id)

    def simulate(self, data: bytes, function: str, *, block: int | str = "latest") -> bytes:
        """Run ``data`` with eth_call from the sender (no transaction); its return data.
        Raises :class:`RegistryReverted` exactly as sending it would."""
        params: TxParams = {
            "from": self.account.address,
            "to": self.address,
            "data": HexBytes(data),
        }
        with self._rpc():
            try:
                return bytes(self.w3.eth.call(params, block_identifier=cast(Any, block)))
            except ContractLogicError as exc:
                raise revert_error(self.decoder, exc, function) from None

    def estimate_gas(self, call: Call) -> int:
        params: TxParams = {
            "from": self.account.address,
            "to": self.address,
            "data": HexBytes(self.encode(call)),
        }
        with self._rpc():
            try:
                return int(self.w3.eth.estimate_gas(params))
            except ContractLogicError as exc:
                raise revert_error(self.decoder, exc, call.function) from None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            with self._rpc():
                account = self.account.address
                self._nonce = int(self.w3.eth.get_transaction_count(account, "pending"))
        return self._nonce

    def resync_nonce(self) -> int:
        """Forget the locally tracked nonce and read it from the chain (after a revert of
        the chain, e.g. ``evm_revert``, or another client sending from the same account)."""
        self._nonce = None
        return self._next_nonce()

    def _fees(self) -> dict[str, int]:
        with self._rpc():
            block = self.w3.eth.get_block("latest")
            base = int(block.get("baseFeePerGas", 0) or 0)
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError):
                tip = 10**9
        # Twice the base fee keeps the transaction valid through six full blocks of rises,
        # and through a node restart that resets the base fee: a journalled raw transaction
        # must stay sendable as it is.
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def sign(self, call: Call, gas: int | None) -> PendingTransaction:
        estimate = self.estimate_gas(call) if gas is None else gas
        nonce = self._next_nonce()
        chain_id = self.chain_id()
        params: TxParams = cast(
            TxParams,
            {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonce,
                "to": self.address,
                "value": 0,
                "data": "0x" + self.encode(call).hex(),
                "gas": estimate * _GAS_MARGIN_NUM // _GAS_MARGIN_DEN,
                **self._fees(),
            },
        )
        signed = self.account.sign_transaction(cast(dict[str, Any], params))
        entry = JournalEntry(
            chain_id=chain_id,
            sender=self.account.address,
            nonce=nonce,
            tx_hash=bytes(signed.hash),
            raw=bytes(signed.raw_transaction),
            function=call.function,
            state="signed",
        )
        # The journal holds the transaction before any node sees it.
        self.journal.write(entry)
        self._nonce = nonce + 1
        return PendingTransaction(entry, call, params)

    def send_raw(self, pending: PendingTransaction) -> None:
        try:
            with self._rpc():
                self.w3.eth.send_raw_transaction(pending.entry.raw)
        except ChainUnavailable:
            raise  # maybe sent, maybe not: the journal entry stays for recover()
        except ChainError as exc:
            if "already known" in exc.message or "already imported" in exc.message:
                return
            # The node refused it outright: the nonce was not consumed.
            self.journal.remove(pending.entry)
            self._nonce = None
            raise ChainError(
                f"the node refused {pending.call.function} (nonce {pending.entry.nonce}): "
                f"{exc.message}",
                hint="if another program sends from this account, call resync_nonce()",
            ) from None

    def wait(self, entry: JournalEntry, call_name: str) -> TxReceipt:
        with self._rpc():
            try:
                return self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(entry.tx_hash),
                    timeout=self.receipt_timeout,
                    poll_latency=self.poll_interval,
                )
            except TimeExhausted:
                raise ChainError(
                    f"{call_name} (transaction 0x{entry.tx_hash.hex()}) was not mined within "
                    f"{self.receipt_timeout:.0f} s",
                    hint="it stays in the journal; RegistryClient.recover() re-sends it",
                ) from None

    def settle(self, pending: PendingTransaction, receipt: TxReceipt) -> TxOutcome:
        entry = pending.entry
        block = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            self.journal.write(with_state(entry, "reverted", block))
            raise self._explain_revert(pending, block, "when sent")
        self.journal.write(with_state(entry, "confirmed", block))
        with self._rpc():
            timestamp = int(self.w3.eth.get_block(block)["timestamp"])
        return TxOutcome(
            tx_hash=entry.tx_hash,
            block=block,
            gas_used=int(receipt["gasUsed"]),
            nonce=entry.nonce,
            function=pending.call.function,
            block_timestamp=timestamp,
        )

    def _explain_revert(
        self, pending: PendingTransaction, block: int, when: str
    ) -> RegistryReverted:
        """A mined transaction that reverted: replay it with eth_call on the state before its
        block to read the revert data. ``when`` says how it came to be mined, for the message."""
        with self._rpc():
            tx = self.w3.eth.get_transaction(HexBytes(pending.entry.tx_hash))
            params: TxParams = {
                "from": tx["from"],
                "to": tx["to"],
                "data": tx["input"],
                "gas": tx["gas"],
            }
            try:
                self.w3.eth.call(params, block_identifier=max(block - 1, 0))
            except ContractLogicError as exc:
                entry = pending.entry
                return revert_error(self.decoder, exc, entry.function, entry.tx_hash)
        return RegistryReverted(
            f"{pending.entry.function} (transaction 0x{pending.entry.tx_hash.hex()}) reverted "
            f"{when} in block {block}, but replaying it does not (out of gas, or a race)",
            error_name="Unknown",
            error_args={},
            selector=b"",
            data=b"",
            function=pending.entry.function,
            tx_hash=pending.entry.tx_hash,
        )

    # -- transactions ----------------------------------------------------------------------

    def transact(self, call: Call, *, gas: int | None = None) -> TxOutcome:
        """Estimate, sign, journal, send, wait: the mined, successful transaction.

        Raises :class:`RegistryReverted` (nothing sent) when the estimate reverts, and also
        when the mined transaction reverted."""
        pending = self.sign(call, gas)
        self.send_raw(pending)
        return self.settle(pending, self.wait(pending.entry, call.function))

    def transact_many(self, calls: Sequence[Call]) -> list[TxOutcome]:
        """Send independent calls back to back (each estimated, signed and journalled before
        it is sent), then wait for all of them. A revert in the estimate of one stops the
        rest from being sent; those already sent are waited for first."""
        sent: list[PendingTransaction] = []
        failure: RegistryReverted | None = None
        for call in calls:
            try:
                pending = self.sign(call, None)
            except RegistryReverted as exc:
                failure = exc
                break
            self.send_raw(pending)
            sent.append(pending)
        outcomes = [self.settle(p, self.wait(p.entry, p.call.function)) for p in sent]
        if failure is not None:
            raise failure
        return outcomes

    # -- recovery --------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Make the chain hold every journalled transaction of this sender and chain.

        For each entry, in nonce order: on chain → confirmed; missing and its nonce is the
        account's next → the same raw bytes are sent again and waited for; missing but the
        nonce is taken by another transaction, or earlier nonces are missing from both
        chain and journal → a conflict, reported and not sent (the chain diverged from what
        was signed: whoever runs the registry must look)."""
        chain_id = self.chain_id()
        on_chain: list[JournalEntry] = []
        resent: list[JournalEntry] = []
        reverted: list[tuple[JournalEntry, RegistryReverted]] = []
        conflicts: list[tuple[JournalEntry, str]] = []
        other: list[JournalEntry] = []
        with self._rpc():
            account_nonce = int(self.w3.eth.get_transaction_count(self.account.address, "latest"))
        for entry in self.journal.entries():
            if entry.chain_id != chain_id or entry.sender != self.account.address:
                other.append(entry)
                continue
            receipt = self._receipt(entry.tx_hash)
            if receipt is not None:
                state: JournalState = "confirmed" if receipt["status"] == 1 else "reverted"
                self.journal.write(with_state(entry, state, int(receipt["blockNumber"])))
                on_chain.append(entry)
                continue
            if entry.nonce < account_nonce:
                conflicts.append(
                    (
                        entry,
                        f"nonce {entry.nonce} of {entry.sender} was used by another "
                        "transaction; this one can never be mined as signed",
                    )
                )
                continue
            if entry.nonce > account_nonce:
                conflicts.append(
                    (
                        entry,
                        f"the account's next nonce is {account_nonce}: transactions "
                        f"{account_nonce}..{entry.nonce - 1} are in neither the chain nor "
                        "the journal",
                    )
                )
                continue
            resend = with_state(entry, "signed", None)
            pending = PendingTransaction(resend, Call(entry.function, ()))
            with self._rpc():
                try:
                    self.w3.eth.send_raw_transaction(entry.raw)
                except Web3RPCError as exc:
                    if "already known" not in str(exc):
                        conflicts.append((entry, f"the node refused it again: {exc}"))
                        continue
            receipt = self.wait(entry, entry.function)
            block = int(receipt["blockNumber"])
            account_nonce += 1
            if receipt["status"] == 1:
                self.journal.write(with_state(entry, "confirmed", block))
                resent.append(entry)
            else:
                self.journal.write(with_state(entry, "reverted", block))
                reverted.append((entry, self._explain_revert(pending, block, "when re-sent")))
        self._nonce = None
        return RecoveryReport(
            on_chain=tuple(on_chain),
            resent=tuple(resent),
            reverted=tuple(reverted),
            conflicts=tuple(conflicts),
            other_chains=tuple(other),
        )

    def _receipt(self, tx_hash: bytes) -> TxReceipt | None:
        with self._rpc():
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None


