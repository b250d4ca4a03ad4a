"""Signatures over a consent request and their collection: who signed, who is missing.

A keyholder signs a request offline (:func:`sign_request`: no chain, no IPFS) and hands back
one signature, which names the request's digest, the action, its subject and the version or
nonce it consumes: good for that one request only. :func:`collect` checks every signature
against the request (digest, what it says it signs, the recovered signer, that signer being a
keyholder, each keyholder once) and gives a :class:`ConsentStatus`: for each signing
community (the steward, and the receiver of a transfer or repatriation), who has signed, who
has not, how many more are needed, and the k signatures packed as the registry takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from ledger.chain import Community
from ledger.consent.requests import TERMS_ACTIONS, ConsentRequest
from ledger.consent.typed_data import SignatureError, pack_signatures, recover_signer, sign
from ledger.errors import ConsentExpired, ConsentIncomplete, ConsentMismatch

__all__ = ["ConsentSignature", "ConsentStatus", "PartyStatus", "collect", "sign_request"]


def _hex(value: bytes) -> str:
    return "0x" + value.hex()

@dataclass(frozen=True, slots=True)
class ConsentSignature:
    """One keyholder's signature over one request, as a signature file holds it."""

    request_digest: bytes
    action: str
    subject: bytes
    terms_version: int
    signer: ChecksumAddress
    signature: bytes


@dataclass(frozen=True, slots=True)
class PartyStatus:
    """One signing community's side of a request: who of it signed, who did not."""

    role: str  # "keyholders"; for a transfer or repatriation "steward" or "receiver"
    community: Community
    signed: tuple[tuple[ChecksumAddress, bytes], ...]  # by increasing address
    missing: tuple[ChecksumAddress, ...]

    @property
    def needed(self) -> int:
        return max(0, self.community.threshold - len(self.signed))

    def packed(self) -> bytes:
        """k signatures of this community (the lowest addresses), as the registry takes them."""
        return pack_signatures(self.signed[: self.community.threshold])

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "community": _hex(self.community.id),
            "threshold": self.community.threshold,
            "signed": [address for address, _ in self.signed],
            "missing": list(self.missing),
            "needed": self.needed,
        }


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """Who has signed a request (each signature checked), who has not, how many more."""

    request: ConsentRequest
    signed: tuple[tuple[ChecksumAddress, bytes], ...]  # by increasing address
    missing: tuple[ChecksumAddress, ...]
    parties: tuple[PartyStatus, ...]  # the steward's side first

    @property
    def needed(self) -> int:
        """How many more signatures the request needs (0 once k of every side are there)."""
        return sum(party.needed for party in self.parties)

    @property
    def complete(self) -> bool:
        return self.needed == 0

    def _require_complete(self) -> None:
        if self.complete:
            return
        sides = "; ".join(
            f"{len(p.signed)} of the {p.community.threshold} signatures of "
            f"{'community' if p.role == 'keyholders' else 'the ' + p.role} "
            f"{_hex(p.community.id)}"
            for p in self.parties
        )
        raise ConsentIncomplete(
            f"{self.request.action} of {_hex(self.request.subject)} has {sides}; "
            f"{self.needed} more of {', '.join(self.missing)} must sign",
            hint="send the request file to the missing keyholders (`heritage consent "
            "sign`), then pass every signature file; nothing was sent",
        )

    def packed(self) -> bytes:
        """k signatures (the lowest signer addresses) of the signing community (the steward,
        for custody) packed as the registry takes them; :class:`ConsentIncomplete`, naming who
        is missing, unless k of every side are there."""
        self._require_complete()
        return self.parties[0].packed()

    def packed_receiver(self) -> bytes | None:
        """The receiver's k signatures of a transfer or repatriation (None for others)."""
        self._require_complete()
        return self.parties[1].packed() if len(self.parties) > 1 else None

    def to_json(self) -> dict[str, Any]:
        request = self.request
        version_key = {"SetDescription": "description_version"}.get(
            request.action, "terms_version" if request.action in TERMS_ACTIONS else "nonce"
        )
        return {
            "digest": _hex(request.digest),
            "action": request.action,
            "subject": _hex(request.subject),
            version_key: request.version,
            "threshold": request.threshold,
            "signed": [address for address, _ in self.signed],
            "missing": list(self.missing),
            "needed": self.needed,
            "complete": self.complete,
            "deadline": request.deadline,
            "parties": [party.to_json() for party in self.parties],
        }


# ---- signing and collecting (pure) ---------------------------------------------------------------


def sign_request(request: ConsentRequest, account: LocalAccount) -> ConsentSignature:
    """``account``'s signature over ``request``; refused unless it is one of the keyholders
    (of either community, for a transfer or repatriation)."""
    signer = to_checksum_address(account.address)
    if signer not in request.signers():
        raise ConsentMismatch(
            f"{signer} is not a keyholder of {_communities(request)} "
            f"(keyholders: {', '.join(request.signers())})",
            hint="sign with the key of one of the request's keyholders",
        )
    return ConsentSignature(
        request_digest=request.digest,
        action=request.action,
        subject=request.subject,
        terms_version=request.version,
        signer=signer,
        signature=sign(request.typed, bytes(account.key)),
    )


def _communities(request: ConsentRequest) -> str:
    ids = [_hex(c.id) for _, c in request.parties()]
    return "community " + " nor of community ".join(ids)


def collect(
    request: ConsentRequest, signatures: Sequence[tuple[str, ConsentSignature]], *, now: int
) -> ConsentStatus:
    """Check every signature file against ``request`` (``where`` names it in errors) and say
    who has signed and who is missing, for each signing community. One bad file fails the
    whole collection."""
    if now > request.deadline:
        raise ConsentExpired(
            f"the request for {request.action} of {_hex(request.subject)} expired at "
            f"{request.deadline} (now {now}); the registry refuses its signatures",
            hint="make a new request (`heritage consent request`) and collect signatures again",
        )
    digest = request.digest
    seen: dict[ChecksumAddress, str] = {}
    signed: list[tuple[ChecksumAddress, bytes]] = []
    for index, (where, sig) in enumerate(signatures):
        if sig.request_digest != digest:
            raise ConsentMismatch(
                f"{where} is a signature for another request (digest {_hex(sig.request_digest)}"
                f"), not this one ({_hex(digest)})",
                hint="pass only signature files made from this request file",
            )
        if (sig.action, sig.subject, sig.terms_version) != (
            request.action,
            request.subject,
            request.version,
        ):
            raise ConsentMismatch(
                f"{where} says it signs {sig.action} version {sig.terms_version} of "
                f"{_hex(sig.subject)}, but its request is {request.action} version "
                f"{request.version} of {_hex(request.subject)}",
                hint="the signature file was edited; ask the keyholder to sign again",
            )
        try:
            recovered = to_checksum_address(recover_signer(digest, sig.signature, index))
        except SignatureError as exc:
            raise SignatureError(
                f"{where}: {exc.message}", hint="ask the keyholder to sign the request again"
            ) from None
        if recovered != sig.signer:
            raise ConsentMismatch(
                f"{where} names {sig.signer} as its signer, but the signature is by {recovered}",
                hint="the signature file was edited or damaged; ask the keyholder to sign again",
            )
        if recovered not in request.signers():
            raise ConsentMismatch(
                f"{where} is signed by {recovered}, who is not a keyholder of "
                f"{_communities(request)}",
                hint=f"the keyholders are {', '.join(request.signers())}",
            )
        if recovered in seen:
            raise ConsentMismatch(
                f"{where} and {seen[recovered]} are both signed by {recovered}; each keyholder "
                "counts once",
                hint="pass one signature file per keyholder",
            )
        seen[recovered] = where
        signed.append((recovered, sig.signature))
    signed.sort(key=lambda pair: int(pair[0], 16))
    # A keyholder of both communities of a transfer counts for each: the registry checks each
    # side's signatures over the same digest on its own.
    parties = tuple(
        PartyStatus(
            role,
            community,
            tuple(pair for pair in signed if pair[0] in community.keyholders),
            tuple(a for a in community.keyholders if a not in seen),
        )
        for role, community in request.parties()
    )
    missing = tuple(dict.fromkeys(a for party in parties for a in party.missing))
    return ConsentStatus(request, tuple(signed), missing, parties)
