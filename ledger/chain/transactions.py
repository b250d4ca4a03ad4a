"""Transaction decoding: a registry call read back from a raw signed transaction.

Every read of transaction input in the project goes through :func:`decode_call`, so a change
of the registry's ABI is met in one place. EIP-1559 transactions (every one this project
sends) are read with ``rlp`` alone and their sender recovered from the signing hash; any other
EIP-2718 typed transaction goes through eth-account. ``registerItemPacked``'s calldata is
unpacked under ``registerItem``'s argument names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import rlp
from eth_abi.abi import decode as abi_decode
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from rlp.codec import length_prefix

from contracts import load_artifact
from ledger.chain.calls import REGISTER_ITEM_PACKED_SELECTOR
from ledger.consent import typed_data as consent
from ledger.errors import EvidenceInvalid

__all__ = ["RegistryCall", "decode_call"]


@dataclass(frozen=True, slots=True)
class RegistryCall:
    """A registry function call read back from a raw signed transaction."""

    function: str
    args: Mapping[str, Any]
    chain_id: int
    to: str
    sender: str


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    types: tuple[str, ...]  # eth-abi type strings
    inputs: tuple[Mapping[str, Any], ...]  # the ABI's input entries (names, components)


def _abi_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _named(entry: Mapping[str, Any], value: Any) -> Any:
    """A decoded value with struct fields by name (as the ABI names them)."""
    if entry["type"] == "tuple":
        return {c["name"]: _named(c, v) for c, v in zip(entry["components"], value, strict=True)}
    return value


@cache
def _functions() -> Mapping[bytes, _Function]:
    """The registry's functions by 4-byte selector, from the compiled ABI."""
    table: dict[bytes, _Function] = {}
    for entry in load_artifact("ProvenanceRegistry").abi:
        if entry.get("type") != "function":
            continue
        types = tuple(_abi_type(i) for i in entry["inputs"])
        selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
        table[selector] = _Function(str(entry["name"]), types, tuple(entry["inputs"]))
    return table


def decode_call(raw_tx: bytes) -> RegistryCall:
    """The registry call inside ``raw_tx`` (an EIP-2718 typed signed transaction).

    Every read of transaction input in the project goes through here, so a change of the
    registry's ABI is met in one place. Raises :class:`EvidenceInvalid` for bytes that are not
    a signed transaction calling a registry function.
    """
    try:
        if raw_tx[:1] == b"\x02":
            chain_id, to, data, sender = _dynamic_fee_transaction(raw_tx)
        else:
            chain_id, to, data, sender = _other_typed_transaction(raw_tx)
        if data[:4] == REGISTER_ITEM_PACKED_SELECTOR:
            name, args = "registerItemPacked", _unpack_register_item(data[4:])
        else:
            function = _functions()[data[:4]]
            values = abi_decode(list(function.types), data[4:], strict=True)
            name = function.name
            args = {i["name"]: _named(i, v) for i, v in zip(function.inputs, values, strict=True)}
    # rlp, eth-abi and eth-keys each raise types of their own for undecodable bytes
    except Exception as exc:
        raise EvidenceInvalid(
            f"a raw transaction does not decode as a registry call ({type(exc).__name__})",
            hint="the evidence was altered; export it again with `heritage item proof`",
        ) from None
    return RegistryCall(
        function=name,
        args=args,
        chain_id=chain_id,
        to=consent.checksum_address(to) if to else "",
        sender=consent.checksum_address(sender),
    )


def _scalar(value: Any) -> int:
    """An RLP integer: big-endian bytes without leading zeros (zero is empty)."""
    if not isinstance(value, bytes) or value[:1] == b"\x00":
        raise ValueError("an RLP integer that is not canonical")
    return int.from_bytes(value, "big")


def _encoded_length(value: bytes) -> int:
    """The length of a short byte string's canonical RLP encoding (a signature field)."""
    return 1 if len(value) == 1 and value[0] < 0x80 else 1 + len(value)


def _dynamic_fee_transaction(raw_tx: bytes) -> tuple[int, bytes, bytes, bytes]:
    """(chain id, to, input, sender) of an EIP-1559 transaction, ``0x02 ‖ rlp([chainId, nonce,
    maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data, accessList, yParity, r, s])``.

    Read with ``rlp`` alone (strict: canonical lengths and integers, nothing trailing), and the
    sender recovered from the signing hash ``keccak(0x02 ‖ rlp(first nine fields))``. Every
    transaction this project sends is of this type; eth-account's general parser took twenty
    times as long."""
    fields = rlp.decode(raw_tx[1:], strict=True)
    if not isinstance(fields, list) or len(fields) != 12:
        raise ValueError("an EIP-1559 transaction has 12 fields")
    chain_id = _scalar(fields[0])
    for position in (1, 2, 3, 4, 6):
        _scalar(fields[position])
    to, data, access_list = fields[5], fields[7], fields[8]
    if not isinstance(to, bytes) or len(to) not in (0, 20):
        raise ValueError("a destination that is not an address")
    if not isinstance(data, bytes) or not isinstance(access_list, list):
        raise ValueError("input or access list of the wrong kind")
    parity, r, s = (_scalar(fields[i]) for i in (9, 10, 11))
    if parity > 1 or not 0 < r < consent.SECP256K1_N or not 0 < s <= consent.HALF_ORDER:
        raise ValueError("a transaction signature out of range")
    # The signing payload is the list of the first nine fields, whose canonical encodings
    # are the list's bytes up to the three signature fields (strict decoding guaranteed the
    # encodings canonical): re-framed, not re-encoded.
    body_start = 2 + (raw_tx[1] - 0xF7 if raw_tx[1] > 0xF7 else 0)
    signature_bytes = sum(_encoded_length(f) for f in fields[9:])
    body = raw_tx[body_start : len(raw_tx) - signature_bytes]
    signing_hash = keccak(b"\x02" + length_prefix(len(body), 0xC0) + body)
    sender = consent.recover_address(
        signing_hash, r.to_bytes(32, "big") + s.to_bytes(32, "big"), parity
    )
    if sender is None:
        raise ValueError("a transaction signature that recovers no key")
    return chain_id, to, data, sender


def _other_typed_transaction(raw_tx: bytes) -> tuple[int, bytes, bytes, bytes]:
    """(chain id, to, input, sender) of any other EIP-2718 typed transaction, through
    eth-account (what ``Account.recover_transaction`` does, parsing the bytes once)."""
    typed = TypedTransaction.from_bytes(HexBytes(raw_tx))
    tx = typed.as_dict()
    parity, r, s = typed.vrs()
    if parity not in (0, 1) or not 0 <= r < consent.SECP256K1_N or not 0 <= s < consent.SECP256K1_N:
        raise ValueError("a transaction signature out of range")
    sender = consent.recover_address(
        typed.hash(), r.to_bytes(32, "big") + s.to_bytes(32, "big"), parity
    )
    if sender is None:
        raise ValueError("a transaction signature that recovers no key")
    return int(tx.get("chainId", 0)), bytes(tx.get("to") or b""), bytes(tx["data"]), sender


def _unpack_register_item(body: bytes) -> dict[str, Any]:
    """``registerItemPacked``'s arguments (``ledger.chain.pack_register_item`` writes them),
    under ``registerItem``'s names: community (32) ‖ k (1) ‖ n (1) ‖ n keyholders (20 each) ‖
    metadata (32) ‖ terms (32) ‖ commitment (32) ‖ deadline (8) ‖ CID length (1) ‖ CID ‖
    signatures (the rest)."""
    threshold, n = body[32], body[33]
    pos = 34 + 20 * n
    cid_length = body[pos + 104]
    cid_end = pos + 105 + cid_length
    if len(body) < cid_end:
        raise ValueError(f"packed registration of {len(body)} bytes is shorter than its counts")
    return {
        "community": body[:32],
        "keyholders": [consent.checksum_address(body[34 + 20 * i : 54 + 20 * i]) for i in range(n)],
        "threshold": threshold,
        "metadata": body[pos : pos + 32],
        "terms": body[pos + 32 : pos + 64],
        "commitment": body[pos + 64 : pos + 96],
        "deadline": int.from_bytes(body[pos + 96 : pos + 104], "big"),
        "cid": body[pos + 105 : cid_end],
        "signatures": body[cid_end:],
    }
