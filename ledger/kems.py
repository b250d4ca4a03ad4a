"""The key encapsulation mechanisms of a keyholder's encryption key, by name.

Pure names, apart from :mod:`ledger.crypto` (which implements them and re-exports these), so
that the command line can offer ``--kem`` without loading the cryptography.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["DEFAULT_KEM", "KEM_HYBRID", "KEM_X25519", "Kem"]

Kem = Literal["MLKEM768-X25519", "X25519"]
KEM_HYBRID: Final[Kem] = "MLKEM768-X25519"  # ML-KEM-768 + X25519, hybrid post-quantum
KEM_X25519: Final[Kem] = "X25519"
DEFAULT_KEM: Final[Kem] = KEM_HYBRID
