"""The strict reading of one field of a consent file: hex bytes, bounded integers, addresses.

Each check names the file (``where``) and the field (``what``) and raises
:class:`~ledger.errors.ConsentFileInvalid`; nothing is coerced, so ``true`` is not ``1`` and
``"0x1"`` is not a byte string.
"""

from __future__ import annotations

import re
from typing import Any, Final

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from ledger.errors import ConsentFileInvalid

__all__ = ["EDITED", "field_address", "field_addresses", "field_bytes", "field_uint"]

#: The hint of every refusal that means a file no longer says what was signed.
EDITED: Final = "the file was edited; make a new request"
_HEX: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def field_bytes(value: Any, where: str, what: str, length: int | None = None) -> bytes:
    """0x-prefixed hex of whole bytes (exactly ``length`` of them, when given)."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ConsentFileInvalid(f"{where}: {what} is not 0x-prefixed hex bytes ({value!r:.80})")
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise ConsentFileInvalid(f"{where}: {what} is {len(raw)} bytes, not {length}")
    return raw


def field_uint(value: Any, where: str, what: str, bits: int) -> int:
    """A JSON integer (not a boolean) from 0 to 2**bits - 1."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ConsentFileInvalid(
            f"{where}: {what} is not an integer between 0 and 2**{bits} - 1 ({value!r:.80})"
        )
    return value


def field_address(value: Any, where: str, what: str) -> ChecksumAddress:
    """A 0x-prefixed Ethereum address (EIP-55 checked when mixed-case), as checksum text."""
    if not isinstance(value, str) or not value.startswith("0x") or not is_address(value):
        raise ConsentFileInvalid(f"{where}: {what} is not an Ethereum address ({value!r:.80})")
    return to_checksum_address(value)


def field_addresses(value: Any, where: str, what: str) -> tuple[ChecksumAddress, ...]:
    """A JSON list of addresses (:func:`field_address` each)."""
    if not isinstance(value, list):
        raise ConsentFileInvalid(f"{where}: {what} is not a list of addresses")
    return tuple(field_address(a, where, f"{what}[{i}]") for i, a in enumerate(value))
