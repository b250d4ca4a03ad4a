"""Signing in to the web pages without a wallet: a one-time token signed by a keyholder
(EIP-712), traded for a session cookie (docs/api.md, "Signing in to the web pages").

The token is ``v1.<signer>.<nonce>.<expiry>.<signature>``: the keyholder's address, 0x and 64
hex digits of fresh randomness, unix seconds, and 0x and 130 hex digits r‖s‖v over the
EIP-712 struct ``SignIn(string statement, address signer, bytes32 nonce, uint256 expiry)`` with
``statement`` = :data:`STATEMENT`, in the API's domain ``{name: "Heritage Ledger API",
version: "1", chainId}`` (the domain of signed requests, :mod:`api.http.auth`). It is valid
until its expiry, at most :data:`MAX_SIGN_IN` seconds after it was made, and once: its nonce is
spent in the API's nonce store.

A session is a random id (the cookie's value, 32 random bytes); the server keeps only its
SHA-256, with the signer and the expiry, in ``<data dir>/api-sessions.sqlite``, so a copy of
that file lets no one in.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from api.http.errors import Unauthorized

__all__ = [
    "MAX_SIGN_IN",
    "STATEMENT",
    "SessionStore",
    "SignIn",
    "parse_token",
    "sign_in_digest",
    "sign_in_token",
]

#: The longest a sign-in (its token, then its session) may last, in seconds: 12 hours.
MAX_SIGN_IN: Final = 12 * 3600
#: What the keyholder signs, in words.
STATEMENT: Final = "Sign in to the web pages of the Heritage Ledger API"
_TYPES: Final = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "SignIn": [
        {"name": "statement", "type": "string"},
        {"name": "signer", "type": "address"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "expiry", "type": "uint256"},
    ],
}
_HINT: Final = "make a new link with `heritage login --key ADDR` and open it"


def _typed(chain_id: int, signer: str, nonce: bytes, expiry: int) -> dict[str, Any]:
    return {
        "types": _TYPES,
        "primaryType": "SignIn",
        "domain": {"name": "Heritage Ledger API", "version": "1", "chainId": chain_id},
        "message": {"statement": STATEMENT, "signer": signer, "nonce": nonce, "expiry": expiry},
    }


def sign_in_digest(chain_id: int, signer: str, nonce: bytes, expiry: int) -> bytes:
    """The EIP-712 digest a keyholder signs to sign in."""
    signable = encode_typed_data(full_message=_typed(chain_id, signer, nonce, expiry))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_in_token(private_key: bytes, *, chain_id: int, nonce: bytes, expiry: int) -> str:
    """A sign-in token signed with ``private_key`` (the keyholder's side of it)."""
    signer = Account.from_key(private_key).address
    typed = _typed(chain_id, signer, nonce, expiry)
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=private_key)
    return f"v1.{signer}.0x{nonce.hex()}.{expiry}.0x{bytes(signed.signature).hex()}"


@dataclass(frozen=True, slots=True)
class SignIn:
    """A token's parts, well formed (its signature not yet checked)."""

    signer: str
    nonce: bytes
    expiry: int
    signature: bytes


def _hex(text: str, length: int) -> bytes | None:
    if not text.startswith("0x") or len(text) != 2 + 2 * length:
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None


def parse_token(text: str) -> SignIn:
    """The parts of a token, or 401 saying what is malformed."""
    parts = text.strip().split(".")
    malformed = Unauthorized(
        "the sign-in token is malformed (it is v1.<signer>.<nonce>.<expiry>.<signature>; was "
        "it cut short when copied?)",
        hint=_HINT,
    )
    if len(parts) != 5 or parts[0] != "v1" or not is_address(parts[1]):
        raise malformed
    nonce = _hex(parts[2], 32)
    signature = _hex(parts[4], 65)
    if nonce is None or signature is None or not parts[3].isdigit() or len(parts[3]) > 12:
        raise malformed
    return SignIn(to_checksum_address(parts[1]), nonce, int(parts[3]), signature)


class SessionStore:
    """Sessions of signed-in keyholders (SQLite): the SHA-256 of each id, its signer and
    expiry. Expired sessions are deleted as new ones start."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sessions (id_hash BLOB PRIMARY KEY, signer TEXT NOT "
            "NULL, expiry INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()

    def start(self, signer: str, expiry: int, now: int) -> str:
        """A new session of ``signer`` until ``expiry``: its id, the cookie's value."""
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expiry < ?", (now,))
            self._db.execute(
                "INSERT INTO sessions (id_hash, signer, expiry) VALUES (?, ?, ?)",
                (_hash(session), signer, expiry),
            )
        return session

    def find(self, session: str, now: int) -> tuple[str, int] | None:
        """(signer, expiry) of a live session, or None (unknown, ended or expired)."""
        if not 20 <= len(session) <= 100:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT signer, expiry FROM sessions WHERE id_hash = ?", (_hash(session),)
            ).fetchone()
        if row is None or int(row[1]) < now:
            return None
        return str(row[0]), int(row[1])

    def end(self, session: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (_hash(session),))

    def close(self) -> None:
        self._db.close()


def _hash(session: str) -> bytes:
    return hashlib.sha256(session.encode()).digest()
