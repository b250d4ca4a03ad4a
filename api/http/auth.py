"""Authentication without passwords: requests signed by a community keyholder (EIP-712).

A request that writes, or reads what is not public, carries five headers (docs/api.md):

- ``X-Heritage-Signer``: the keyholder's address;
- ``X-Heritage-Community``: the 0x id of the community the signer acts for;
- ``X-Heritage-Nonce``: 0x and 64 hex digits, fresh for every request;
- ``X-Heritage-Expiry``: unix seconds, at most :data:`MAX_LIFETIME` ahead of the server;
- ``X-Heritage-Signature``: 0x and 130 hex digits, r‖s‖v (low s, v 27 or 28), over the
  EIP-712 struct ``ApiRequest(string method, string path, bytes32 bodyHash, bytes32
  community, bytes32 nonce, uint256 expiry)`` in the domain ``{name: "Heritage Ledger API",
  version: "1", chainId}``; ``path`` includes the query string as sent, ``bodyHash`` is the
  SHA-256 of the body's bytes (of nothing, for a body-less request).

The signature is recovered under the registry's rules (:func:`ledger.consent.recover_signer`),
must be the named signer's, who must be a current keyholder of the community (the event index,
checked on chain); the nonce is then spent in ``<data dir>/api-nonces.sqlite``, so a replay is
refused. No signature, a bad one, an expired or replayed request: 401. A valid signature by
someone who is not a keyholder, or for another community than the one the operation is about:
403.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from api.http.errors import Forbidden, Unauthorized
from ledger.documents import parse_bytes32

__all__ = [
    "HEADERS",
    "MAX_LIFETIME",
    "SIGNATURE_SCHEME",
    "NonceStore",
    "Signed",
    "SignedHeaders",
    "check_signed",
    "read_signed_headers",
    "request_digest",
    "require_keyholder",
    "sign_request",
]

#: The longest a signed request may be valid for, in seconds.
MAX_LIFETIME: Final = 300
HEADERS: Final = (
    "X-Heritage-Signer",
    "X-Heritage-Community",
    "X-Heritage-Nonce",
    "X-Heritage-Expiry",
    "X-Heritage-Signature",
)
_TYPES: Final = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "ApiRequest": [
        {"name": "method", "type": "string"},
        {"name": "path", "type": "string"},
        {"name": "bodyHash", "type": "bytes32"},
        {"name": "community", "type": "bytes32"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "expiry", "type": "uint256"},
    ],
}


def _typed(
    chain_id: int, method: str, path: str, body: bytes, community: bytes, nonce: bytes, expiry: int
) -> dict[str, Any]:
    body_hash = hashlib.sha256(body).digest()
    return _typed_hashed(chain_id, method, path, body_hash, community, nonce, expiry)


def _typed_hashed(
    chain_id: int,
    method: str,
    path: str,
    body_sha256: bytes,
    community: bytes,
    nonce: bytes,
    expiry: int,
) -> dict[str, Any]:
    return {
        "types": _TYPES,
        "primaryType": "ApiRequest",
        "domain": {"name": "Heritage Ledger API", "version": "1", "chainId": chain_id},
        "message": {
            "method": method.upper(),
            "path": path,
            "bodyHash": body_sha256,
            "community": community,
            "nonce": nonce,
            "expiry": expiry,
        },
    }


def request_digest(
    chain_id: int, method: str, path: str, body: bytes, community: bytes, nonce: bytes, expiry: int
) -> bytes:
    """The EIP-712 digest a keyholder signs for one request."""
    return _digest(_typed(chain_id, method, path, body, community, nonce, expiry))


def _digest(typed: dict[str, Any]) -> bytes:
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_request(
    private_key: bytes,
    *,
    chain_id: int,
    method: str,
    path: str,
    body: bytes,
    community: bytes,
    nonce: bytes,
    expiry: int,
    body_sha256: bytes | None = None,
) -> dict[str, str]:
    """The headers of a request signed with ``private_key`` (a client's side of it);
    ``body_sha256``: the body known by its hash only (an upload streamed from disk), instead
    of ``body``."""
    digest = hashlib.sha256(body).digest() if body_sha256 is None else body_sha256
    typed = _typed_hashed(chain_id, method, path, digest, community, nonce, expiry)
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=private_key)
    return {
        "X-Heritage-Signer": Account.from_key(private_key).address,
        "X-Heritage-Community": "0x" + community.hex(),
        "X-Heritage-Nonce": "0x" + nonce.hex(),
        "X-Heritage-Expiry": str(expiry),
        "X-Heritage-Signature": "0x" + bytes(signed.signature).hex(),
    }


class NonceStore:
    """Nonces already spent, per signer, until their request's expiry (SQLite)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS nonces (signer TEXT NOT NULL, nonce BLOB NOT NULL, "
            "expiry INTEGER NOT NULL, PRIMARY KEY (signer, nonce))"
        )
        self._lock = threading.Lock()

    def spend(self, signer: str, nonce: bytes, expiry: int, now: int) -> bool:
        """True the first time (signer, nonce) is seen; False for a replay."""
        with self._lock:
            self._db.execute("DELETE FROM nonces WHERE expiry < ?", (now,))
            try:
                self._db.execute(
                    "INSERT INTO nonces (signer, nonce, expiry) VALUES (?, ?, ?)",
                    (signer, nonce, expiry),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True, slots=True)
class Signed:
    """A request whose signature holds: by ``signer``, a keyholder of ``community``."""

    signer: str
    community: bytes

    def check_community(self, community: bytes) -> None:
        """Forbidden unless the operation is about the community the signer acts for."""
        if community != self.community:
            raise Forbidden(
                "the request is signed for another community than the one it is about",
                hint="sign with X-Heritage-Community set to this community's 0x id",
            )


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if value is None:
        raise Unauthorized(
            f"this request needs a keyholder's signature; header {name} is missing",
            hint="sign the request as docs/api.md says (EIP-712, headers X-Heritage-*)",
        )
    return value


#: How the OpenAPI document names the scheme (the signature header; the others go with it).
SIGNATURE_SCHEME: Final = APIKeyHeader(
    name="X-Heritage-Signature",
    scheme_name="keyholderSignature",
    description="An EIP-712 signature by a community keyholder over the request, with the "
    "headers X-Heritage-Signer, -Community, -Nonce and -Expiry (docs/api.md).",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The five headers of a signed request, well formed and within their lifetime: what can
    be checked before the body is read."""

    signer: str
    community: bytes
    nonce: bytes
    expiry: int
    signature: bytes
    now: int


def read_signed_headers(request: Request) -> SignedHeaders:
    """The request's X-Heritage-* headers, or 401 (missing, malformed, expired, too long)."""
    signer_text = _header(request, "X-Heritage-Signer")
    community = parse_bytes32(_header(request, "X-Heritage-Community"))
    nonce = parse_bytes32(_header(request, "X-Heritage-Nonce"))
    expiry_text = _header(request, "X-Heritage-Expiry")
    signature_text = _header(request, "X-Heritage-Signature")
    if not is_address(signer_text) or community is None or nonce is None:
        raise Unauthorized(
            "X-Heritage-Signer must be an address, X-Heritage-Community and X-Heritage-Nonce "
            "0x and 64 hex digits"
        )
    if not expiry_text.isdigit() or len(expiry_text) > 12:
        raise Unauthorized("X-Heritage-Expiry must be unix seconds")
    try:
        signature = bytes.fromhex(signature_text.removeprefix("0x"))
    except ValueError:
        raise Unauthorized("X-Heritage-Signature must be 0x and 130 hex digits") from None
    expiry = int(expiry_text)
    now = int(time.time())
    if expiry < now:
        raise Unauthorized(
            "the signed request has expired", hint="sign it again with a later expiry"
        )
    if expiry > now + MAX_LIFETIME:
        raise Unauthorized(
            f"the signed request's expiry is more than {MAX_LIFETIME} s ahead",
            hint=f"sign with an expiry at most {MAX_LIFETIME} s from now",
        )
    return SignedHeaders(
        to_checksum_address(signer_text), community, nonce, expiry, signature, now
    )


async def check_signed(request: Request, headers: SignedHeaders, body_sha256: bytes) -> Signed:
    """The checked signer of a request whose body hashes to ``body_sha256`` (an upload is
    hashed as it streams in, and checked once it is all read), or 401/403; the nonce is spent
    only when everything holds."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    service = request.app.state.service
    chain_id = await _chain_id(service)
    digest = _digest(
        _typed_hashed(
            chain_id,
            request.method,
            path,
            body_sha256,
            headers.community,
            headers.nonce,
            headers.expiry,
        )
    )
    from ledger.consent import recover_signer
    from ledger.consent.typed_data import SignatureError

    try:
        recovered = to_checksum_address(recover_signer(digest, headers.signature))
    except SignatureError as exc:
        raise Unauthorized(f"the request's signature does not hold: {exc.message}") from None
    signer = headers.signer
    if recovered != signer:
        raise Unauthorized(
            "the request's signature is not the named signer's (was the method, path, body, "
            "nonce or expiry changed after signing?)",
            hint="sign exactly the request that is sent",
        )
    community = headers.community
    if signer not in await _keyholders(service, community):
        raise Forbidden(
            f"{signer} is not a keyholder of community 0x{community.hex()}",
            hint="sign with a current keyholder's key",
        )
    if not request.app.state.nonces.spend(signer, headers.nonce, headers.expiry, headers.now):
        raise Unauthorized(
            "this signed request was already used (a replay)",
            hint="sign every request with a fresh nonce",
        )
    return Signed(signer, community)


async def require_keyholder(
    request: Request, _signature: Annotated[str | None, Security(SIGNATURE_SCHEME)] = None
) -> Signed:
    """The dependency of every signed operation: the checked signer, or 401/403."""
    headers = read_signed_headers(request)
    body = await request.body()
    return await check_signed(request, headers, hashlib.sha256(body).digest())


async def _chain_id(service: Any) -> int:
    from fastapi.concurrency import run_in_threadpool

    def work() -> int:
        with service.registry() as registry:
            return int(registry.session.deployment.chain_id)

    return int(await run_in_threadpool(work))


async def _keyholders(service: Any, community: bytes) -> tuple[str, ...]:
    from fastapi.concurrency import run_in_threadpool

    from ledger.errors import NotFound

    def work() -> tuple[str, ...]:
        with service.registry() as registry:
            try:
                return tuple(registry.session.community(community).keyholders)
            except NotFound:
                return ()

    return tuple(await run_in_threadpool(work))
