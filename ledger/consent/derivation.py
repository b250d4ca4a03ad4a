"""The deriving community's side of a derivative's consent, signed offline too.

A ``ConsentDerivative`` request is signed by k keyholders of the parent claim's steward. The
derivative is then registered with ``RegisterDerivative``, which k keyholders of the
*deriving* community sign: with keys where the request is submitted (``heritage consent
submit --signer``), or offline like the consent itself, when whoever submits holds no key
(the HTTP API). Everything ``RegisterDerivative`` names is in the request already (the
deriving community, the parent, the CID, the metadata, terms and method digests, the AI flag
and the deadline), so a deriving keyholder signs from the request file alone
(:func:`sign_registration`), and :func:`pack_registration` checks those signatures against
the deriving community's keyholders as the chain holds them (the request does not carry
them: they are checked at submit, and by the registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ledger.chain import Community
from ledger.consent.requests import ConsentRequest
from ledger.consent.status import ConsentSignature
from ledger.consent.typed_data import (
    SignatureError,
    TypedData,
    pack_signatures,
    recover_signer,
    sign,
)
from ledger.errors import ConsentIncomplete, ConsentMismatch, UsageError

__all__ = ["REGISTRATION_ACTION", "pack_registration", "registration_typed", "sign_registration"]

#: The action a deriving keyholder's signature file names.
REGISTRATION_ACTION: Final = "RegisterDerivative"


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def registration_typed(request: ConsentRequest) -> TypedData:
    """The ``RegisterDerivative`` typed data that k of the deriving community sign for the
    derivative a ``ConsentDerivative`` request asks for (the same deadline)."""
    if request.action != "ConsentDerivative" or request.derivative is None:
        raise UsageError(
            f"a {request.action} request registers no derivative",
            hint="only a derivative's consent request is signed by the deriving community",
        )
    message = request.typed.message
    return TypedData(
        request.typed.domain,
        REGISTRATION_ACTION,
        {
            "community": bytes(message["community"]),
            "parent": bytes(message["parent"]),
            "cid": bytes(message["cid"]),
            "metadata": bytes.fromhex(str(request.derivative["metadata"])[2:]),
            "terms": bytes.fromhex(str(request.derivative["terms"])[2:]),
            "method": bytes(message["method"]),
            "aiEnhanced": bool(message["aiEnhanced"]),
            "deadline": int(message["deadline"]),
        },
    )


def sign_registration(request: ConsentRequest, account: LocalAccount) -> ConsentSignature:
    """A deriving keyholder's signature of the registration ``request`` asks for (offline:
    whether ``account`` is a keyholder of the deriving community is checked at submit)."""
    typed = registration_typed(request)
    return ConsentSignature(
        request_digest=typed.digest(),
        action=REGISTRATION_ACTION,
        subject=request.subject,
        terms_version=0,
        signer=to_checksum_address(account.address),
        signature=sign(typed, bytes(account.key)),
    )


def pack_registration(
    request: ConsentRequest,
    signatures: Sequence[tuple[str, ConsentSignature]],
    community: Community,
) -> tuple[bytes, tuple[str, ...]]:
    """k signatures of the deriving ``community`` (its keyholders now) over the registration,
    packed by increasing address as the registry takes them, and their signers; refused when
    one is for something else, by someone else, twice, or when fewer than k are there."""
    digest = registration_typed(request).digest()
    seen: dict[str, str] = {}
    signed: list[tuple[str, bytes]] = []
    for index, (where, sig) in enumerate(signatures):
        if sig.action != REGISTRATION_ACTION or sig.request_digest != digest:
            raise ConsentMismatch(
                f"{where} is not a signature of this derivative's registration (digest "
                f"{_hex(digest)})",
                hint="have the deriving community's keyholders sign the request file with "
                "`heritage consent sign --deriving`",
            )
        try:
            recovered = to_checksum_address(recover_signer(digest, sig.signature, index))
        except SignatureError as exc:
            raise SignatureError(f"{where}: {exc.message}", hint="ask them to sign again") from None
        if recovered != sig.signer or recovered not in community.keyholders:
            raise ConsentMismatch(
                f"{where} is signed by {recovered}, who is not a keyholder of the deriving "
                f"community {_hex(community.id)}",
                hint=f"its keyholders are {', '.join(community.keyholders)}",
            )
        if recovered in seen:
            raise ConsentMismatch(f"{where} and {seen[recovered]} are both by {recovered}")
        seen[recovered] = where
        signed.append((recovered, sig.signature))
    if len(signed) < community.threshold:
        missing = [a for a in community.keyholders if a not in seen]
        raise ConsentIncomplete(
            f"the derivative's registration has {len(signed)} of the {community.threshold} "
            f"signatures of the deriving community {_hex(community.id)}; "
            f"{community.threshold - len(signed)} more of {', '.join(missing)} must sign",
            hint="have them sign with `heritage consent sign --deriving`; nothing was sent",
        )
    signed.sort(key=lambda pair: int(pair[0], 16))
    chosen = signed[: community.threshold]
    return pack_signatures(chosen), tuple(a for a, _ in chosen)
