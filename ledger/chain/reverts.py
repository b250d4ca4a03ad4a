"""Revert data → :class:`~ledger.errors.RegistryReverted`: the registry's custom errors decoded by
selector, with their names, arguments and a sentence saying what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import (
    ContractLogicError,
)

from ledger.errors import (
    RegistryReverted,
)

__all__ = [
    "RevertDecoder",
    "revert_error",
]


def _canonical_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry.get("components", ()))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_MESSAGES: Final[Mapping[str, str]] = {
    "CommunityExists": "community {community} already exists",
    "UnknownCommunity": "community {community} is not registered",
    "KeyholdersMismatch": "the keyholders and threshold given for community {community} "
    "are not the ones the registry holds",
    "InvalidThreshold": "threshold {threshold} is not between 1 and the {keyholders} keyholders "
    "(at most 32)",
    "KeyholdersNotIncreasing": "keyholder {index} ({keyholder}) is not greater than the one "
    "before it: keyholders must be distinct and sorted by increasing address",
    "InvalidSignatureLength": "packed signatures are {length} bytes, not a multiple of 65",
    "SignatureHighS": "signature {index} has a high s value (a malleated signature)",
    "SignatureBadV": "signature {index} has v = {v}; only 27 and 28 are accepted",
    "SignatureInvalid": "signature {index} recovers no address",
    "SignerNotKeyholder": "signature {index} is by {signer}, who is not a keyholder, "
    "signed twice or out of increasing order (or signed another chain, contract or message)",
    "NotEnoughSignatures": "{given} signatures given, {required} required",
    "DeadlineExpired": "the signatures expired at {deadline}; the chain's time is {timestamp}",
    "EmptyCid": "the CID is empty",
    "AlreadyRegistered": "{key} is already registered",
    "UnknownRecord": "nothing is registered under {key}",
    "RecordMismatch": "the record given for {key} is not the one the registry stored",
    "WrongVersion": "terms version {given} of {subject} was given; the registry expects {expected}",
    "AlreadyRevoked": "terms version {version} of {subject} are already revoked",
    "WrongNonce": "nonce {given} was given; the registry expects {expected}",
    "UnknownCustodyAction": "custody action {action} is not one of 1 (transfer), 2 (loan), "
    "3 (return), 4 (repatriation)",
    "InvalidProof": "the Merkle proof does not lead from leaf {leaf} to batch root {root}",
    "EmptyBatch": "a batch needs at least one item",
}

_HINTS: Final[Mapping[str, str]] = {
    "SignerNotKeyholder": "have current keyholders sign this exact action for this chain and "
    "registry, and pack signatures in increasing signer order (consent.pack_signatures)",
    "DeadlineExpired": "collect fresh signatures with a later deadline",
    "KeyholdersMismatch": "read the community's current keyholders (they may have rotated)",
    "WrongVersion": "read termsOf(subject) and sign the next version",
    "WrongNonce": "read the current nonce and sign again",
    "NotEnoughSignatures": "collect signatures from at least k keyholders",
}


@dataclass(frozen=True, slots=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


class RevertDecoder:
    """Revert data → :class:`RegistryReverted`, by selector, from an ABI's error entries."""

    def __init__(self, abi: Iterable[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, _ErrorAbi] = {
            keccak(text="Error(string)")[:4]: _ErrorAbi("Error", ("reason",), ("string",)),
            keccak(text="Panic(uint256)")[:4]: _ErrorAbi("Panic", ("code",), ("uint256",)),
        }
        for entry in abi:
            if entry.get("type") != "error":
                continue
            inputs = entry.get("inputs", ())
            types = tuple(_canonical_type(i) for i in inputs)
            signature = f"{entry['name']}({','.join(types)})"
            self._errors[keccak(text=signature)[:4]] = _ErrorAbi(
                str(entry["name"]), tuple(str(i.get("name", "")) for i in inputs), types
            )

    def error_names(self) -> frozenset[str]:
        return frozenset(e.name for e in self._errors.values())

    def decode(
        self, data: bytes, *, function: str, tx_hash: bytes | None = None
    ) -> RegistryReverted:
        selector = bytes(data[:4])
        known = self._errors.get(selector) if len(data) >= 4 else None
        where = (
            f"{function} reverted"
            if tx_hash is None
            else (f"{function} (transaction 0x{tx_hash.hex()}) reverted")
        )
        if known is None:
            return RegistryReverted(
                f"{where} with unknown error data 0x{bytes(data).hex() or ''}",
                error_name="Unknown",
                error_args={},
                selector=selector,
                data=bytes(data),
                function=function,
                tx_hash=tx_hash,
            )
        try:
            values = abi_decode(list(known.types), bytes(data[4:]))
        except (DecodingError, ValueError, OverflowError):
            return RegistryReverted(
                f"{where} with {known.name} but its arguments do not decode: 0x{bytes(data).hex()}",
                error_name=known.name,
                error_args={},
                selector=selector,
                data=bytes(data),
                function=function,
                tx_hash=tx_hash,
            )
        args = {
            (name or f"arg{i}"): (
                to_checksum_address(value) if kind == "address" else _plain(value)
            )
            for i, (name, kind, value) in enumerate(
                zip(known.names, known.types, values, strict=True)
            )
        }
        template = _MESSAGES.get(known.name)
        if template is not None:
            plain = template.format(**args)
        else:
            plain = ", ".join(f"{k}={v}" for k, v in args.items())
        return RegistryReverted(
            f"{where} with {known.name}: {plain}",
            hint=_HINTS.get(known.name),
            error_name=known.name,
            error_args=args,
            selector=selector,
            data=bytes(data),
            function=function,
            tx_hash=tx_hash,
        )


def _revert_data(exc: ContractLogicError) -> bytes | None:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None



def revert_error(
    decoder: RevertDecoder, exc: ContractLogicError, function: str, tx_hash: bytes | None = None
) -> RegistryReverted:
    """The :class:`RegistryReverted` a failed call or estimate of ``function`` stands for."""
    data = _revert_data(exc)
    if data is None:
        return RegistryReverted(
            f"{function} reverted without error data ({exc.message})",
            error_name="Unknown",
            error_args={},
            selector=b"",
            data=b"",
            function=function,
            tx_hash=tx_hash,
        )
    return decoder.decode(data, function=function, tx_hash=tx_hash)
