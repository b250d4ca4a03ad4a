"""Verification reads EIP-1559 transactions with ``rlp`` alone; eth-account, an independent
implementation of the same format, must agree on every one, and malformed or malleated bytes
must be refused, not misread."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain.transactions import (
    _dynamic_fee_transaction,
    _other_typed_transaction,
    decode_call,
)
from ledger.errors import EvidenceInvalid
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

_KEYS = st.binary(min_size=32, max_size=32).filter(
    lambda k: 0 < int.from_bytes(k, "big") < consent.SECP256K1_N
)
_UINT = st.integers(min_value=0, max_value=2**64)


@st.composite
def _transactions(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    key = draw(_KEYS)
    to = draw(st.one_of(st.just(None), st.binary(min_size=20, max_size=20)))
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": draw(st.integers(min_value=1, max_value=2**40)),
        "nonce": draw(_UINT),
        "maxPriorityFeePerGas": draw(_UINT),
        "maxFeePerGas": draw(_UINT),
        "gas": draw(st.integers(min_value=21_000, max_value=2**40)),
        "value": draw(_UINT),
        "data": draw(st.binary(max_size=600)),
        "accessList": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "address": st.binary(min_size=20, max_size=20).map(
                            lambda b: consent.checksum_address(b)
                        ),
                        "storageKeys": st.lists(
                            st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
                            max_size=2,
                        ),
                    }
                ),
                max_size=2,
            )
        ),
    }
    if to is not None:
        tx["to"] = consent.checksum_address(to)
    signed = Account.sign_transaction(tx, key)
    return bytes(signed.raw_transaction), tx


@reaches(0.8)
@settings(max_examples=examples(150), deadline=None)
@given(_transactions())
def test_rlp_reading_agrees_with_eth_account(made: tuple[bytes, dict[str, Any]]) -> None:
    raw, tx = made
    chain_id, to, data, sender = _dynamic_fee_transaction(raw)
    typed = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    assert chain_id == tx["chainId"] == typed["chainId"]
    assert data == tx["data"] == bytes(typed["data"])
    assert to == (bytes.fromhex(tx["to"][2:]) if "to" in tx else b"")
    assert consent.checksum_address(sender) == Account.recover_transaction(raw)
    reached()


def _fields(raw: bytes) -> list[Any]:
    decoded = rlp.decode(raw[1:])
    assert isinstance(decoded, list)
    return decoded


def _raw(fields: list[Any]) -> bytes:
    return b"\x02" + bytes(rlp.encode(fields))


@pytest.fixture(scope="module")
def signed() -> bytes:
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 7,
        "maxPriorityFeePerGas": 1,
        "maxFeePerGas": 2_000_000_000,
        "gas": 100_000,
        "to": "0x" + "11" * 20,
        "value": 0,
        "data": b"\x12\x34\x56\x78",
        "accessList": [],
    }
    return bytes(Account.sign_transaction(tx, b"\x01" * 32).raw_transaction)


def test_the_same_transaction_with_high_s_is_refused(signed: bytes) -> None:
    """(r, n - s) with the other parity is the same signature's malleated twin: it recovers
    the same key, and Ethereum refuses it since Homestead."""
    fields = _fields(signed)
    s = int.from_bytes(fields[11], "big")
    twin = list(fields)
    twin[11] = (consent.SECP256K1_N - s).to_bytes(32, "big").lstrip(b"\x00")
    twin[9] = b"" if fields[9] == b"\x01" else b"\x01"
    with pytest.raises(ValueError, match="out of range"):
        _dynamic_fee_transaction(_raw(twin))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda f: f[:11], id="a field missing"),
        pytest.param(lambda f: [*f, b""], id="a field too many"),
        pytest.param(lambda f: [b"\x00" + f[0], *f[1:]], id="chain id with a leading zero"),
        pytest.param(lambda f: [*f[:5], b"\x11" * 19, *f[6:]], id="a 19-byte destination"),
        pytest.param(lambda f: [*f[:8], b"", *f[9:]], id="access list not a list"),
        pytest.param(lambda f: [*f[:9], b"\x02", *f[10:]], id="parity 2"),
        pytest.param(lambda f: [*f[:10], b"", f[11]], id="r zero"),
        pytest.param(lambda f: [*f[:7], [f[7]], *f[8:]], id="input a list"),
    ],
)
def test_malformed_transactions_are_refused(signed: bytes, edit: Any) -> None:
    with pytest.raises(ValueError):
        _dynamic_fee_transaction(_raw(edit(_fields(signed))))


def test_trailing_and_truncated_bytes_are_refused(signed: bytes) -> None:
    for raw in (signed + b"\x00", signed[:-1], signed[:1]):
        with pytest.raises(EvidenceInvalid, match="does not decode"):
            decode_call(raw)


def test_a_changed_byte_never_keeps_the_sender(signed: bytes) -> None:
    """Any change to a signed field changes the signing hash, so the sender recovered (when
    one is) is someone else."""
    _, _, _, sender = _dynamic_fee_transaction(signed)
    fields = _fields(signed)
    changed = list(fields)
    changed[1] = b"\x08"  # nonce 7 → 8
    _, _, _, other = _dynamic_fee_transaction(_raw(changed))
    assert other != sender


@reaches(0.8)
@settings(max_examples=40, deadline=None)
@given(_KEYS, st.binary(max_size=200), st.integers(min_value=1, max_value=2**40))
def test_other_typed_transactions_agree_with_eth_account(
    key: bytes, data: bytes, chain_id: int
) -> None:
    """An EIP-2930 (type 1) transaction goes through eth-account's parser, its sender through
    the same recovery as the EIP-1559 path; eth-account's own recovery must agree."""
    tx = {
        "type": 1,
        "chainId": chain_id,
        "nonce": 3,
        "gasPrice": 10**9,
        "gas": 50_000,
        "to": "0x" + "22" * 20,
        "value": 0,
        "data": data,
        "accessList": [],
    }
    raw = bytes(Account.sign_transaction(tx, key).raw_transaction)
    got_chain, to, got_data, sender = _other_typed_transaction(raw)
    assert (got_chain, to, got_data) == (chain_id, b"\x22" * 20, data)
    assert consent.checksum_address(sender) == Account.recover_transaction(raw)
    reached()
