"""Envelope encryption of restricted items, and the salted commitment to their plaintext.

The registry keys an encrypted item by its ciphertext's CID and records, in the record's
``commitment`` field, a salted commitment to the plaintext's CID: a keyholder who reveals the
salt proves which plaintext it is; without the salt the commitment says nothing about it.
"""

from __future__ import annotations

from typing import Final

from eth_utils.crypto import keccak

from ledger.errors import UsageError
from ledger.ipfs.cid import Cid

__all__ = ["COMMITMENT_DOMAIN", "SALT_BYTES", "plaintext_commitment"]

#: Domain tag of the commitment, so its preimage cannot be mistaken for any other hash input.
COMMITMENT_DOMAIN: Final = b"heritage-ledger/plaintext-commitment/v1"
SALT_BYTES: Final = 32


def plaintext_commitment(salt: bytes, plaintext: Cid) -> bytes:
    """``keccak256(COMMITMENT_DOMAIN ‖ salt ‖ binary CID)``: the record's ``commitment``."""
    if len(salt) != SALT_BYTES:
        raise UsageError(
            f"a commitment salt is {SALT_BYTES} bytes, not {len(salt)}",
            hint="use the salt written when the item was registered",
        )
    return keccak(COMMITMENT_DOMAIN + salt + bytes(plaintext))
