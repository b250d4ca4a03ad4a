"""A community's keyholder history: who its keyholders are, provable with no chain.

The registry derives a community's id from a salt and its first keyholders and threshold
(``communityIdOf``), and replaces them only by a rotation that k of the keyholders before it
sign (``RotateKeyholders``, EIP-712, in the registry's domain). So the creation's salt, first
keyholders and threshold, and every rotation with its packed signatures, prove offline which
keyholders and threshold a community id has: no one can write another set into a file
without the keys of k keyholders of the set before it. A consent request carries the history
of each community whose keyholders sign (:mod:`ledger.consent.requests`), so that ``consent
status``, offline, counts only the keyholders the chain would count.

What a history cannot prove offline is that no rotation came after its last one (a history
cut short gives an older set, and each rotation's own nonce only says where it stands). A
rotation request's signed nonce names how many rotations came before; for the other requests
only the chain can say, and ``consent submit`` re-reads it.

:func:`keyholders_of` is pure; :func:`read_history` reads a history from the event index and
the chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from ledger.chain import Community, RegistryClient, community_id
from ledger.consent.typed_data import (
    Domain,
    SignatureError,
    check_signatures,
    rotate_keyholders,
)
from ledger.errors import EvidenceInvalid, NotFound
from ledger.index import EventIndex

__all__ = [
    "MAX_KEYHOLDERS",
    "CommunityHistory",
    "Rotation",
    "check_keyholder_set",
    "keyholders_of",
    "read_history",
]

MAX_KEYHOLDERS: Final = 255  # the threshold is a uint8


@dataclass(frozen=True, slots=True)
class Rotation:
    """One ``rotateKeyholders`` call: the keyholders and threshold it set, what it signed,
    and the packed signatures of k keyholders of the set before it."""

    keyholders: tuple[ChecksumAddress, ...]
    threshold: int
    document: bytes
    nonce: int
    deadline: int
    signatures: bytes


@dataclass(frozen=True, slots=True)
class CommunityHistory:
    """A community's creation (salt, first keyholders and threshold) and every rotation
    since, in order."""

    community: bytes
    salt: bytes
    keyholders: tuple[ChecksumAddress, ...]
    threshold: int
    rotations: tuple[Rotation, ...] = ()


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def check_keyholder_set(keyholders: Sequence[str], threshold: int, what: str) -> None:
    """A keyholder set as the registry takes one: 1 to 255 addresses, strictly increasing,
    and 1 <= k <= n; :class:`EvidenceInvalid`, naming ``what``, otherwise."""
    if not 1 <= len(keyholders) <= MAX_KEYHOLDERS:
        raise EvidenceInvalid(
            f"{what}: {len(keyholders)} keyholders; 1 to {MAX_KEYHOLDERS} are possible"
        )
    if any(int(a, 16) >= int(b, 16) for a, b in itertools.pairwise(keyholders)):
        raise EvidenceInvalid(
            f"{what}: the keyholders are not in strictly increasing order of address",
            hint="the registry lists each keyholder once, by increasing address",
        )
    if not 1 <= threshold <= len(keyholders):
        raise EvidenceInvalid(
            f"{what}: threshold {threshold} is not between 1 and {len(keyholders)}"
        )


def keyholders_of(history: CommunityHistory, domain: Domain) -> Community:
    """The keyholders and threshold that ``history`` proves for its community in the registry
    ``domain`` names: the id must be the one its salt and first keyholders give, and each
    rotation must carry k signatures of the set before it. :class:`EvidenceInvalid`, saying
    which step fails, otherwise."""
    community = history.community
    check_keyholder_set(history.keyholders, history.threshold, "the community's creation")
    if community_id(history.salt, history.keyholders, history.threshold) != community:
        raise EvidenceInvalid(
            f"community {_hex(community)} is not the id that its history's salt, first "
            "keyholders and threshold give"
        )
    current = Community(community, history.keyholders, history.threshold)
    for number, rotation in enumerate(history.rotations, start=1):
        what = f"rotation {number} of community {_hex(community)}"
        if rotation.nonce != number - 1:
            raise EvidenceInvalid(
                f"{what} has nonce {rotation.nonce}, not {number - 1}: a rotation is missing "
                "or repeated"
            )
        check_keyholder_set(rotation.keyholders, rotation.threshold, what)
        typed = rotate_keyholders(
            domain,
            community,
            rotation.keyholders,
            rotation.threshold,
            rotation.document,
            rotation.nonce,
            rotation.deadline,
        )
        try:
            check_signatures(
                typed.digest(), current.keyholders, current.threshold, rotation.signatures
            )
        except SignatureError as exc:
            raise EvidenceInvalid(
                f"{what} is not signed by {current.threshold} of the keyholders before it "
                f"({exc.message})"
            ) from None
        current = Community(community, rotation.keyholders, rotation.threshold)
    return current


def read_history(index: EventIndex, client: RegistryClient, community: bytes) -> CommunityHistory:
    """The history of ``community`` from a synced event index, each rotation's signatures
    and deadline read from its transaction (one JSON-RPC batch); checked with
    :func:`keyholders_of` against the registry's current configuration before it is
    returned."""
    # Imported here: the ledger.verify package imports ledger.registry, which imports this
    # package. (Transaction decoding belongs in ledger.chain; once there, this import moves up.)
    from ledger.verify.evidence import decode_call

    events = index.keyholder_history(community)
    if not events or events[0].event != "CommunityCreated":
        raise NotFound(f"community {_hex(community)} is not in the index")
    created, rotated = events[0], events[1:]
    hashes = [e.tx_hash for e in rotated]
    raw = client.read_many([], hashes, block=created.block_number).raw_transactions
    rotations: list[Rotation] = []
    for event in rotated:
        transaction = raw.get(event.tx_hash)
        if transaction is None:
            raise NotFound(
                f"the chain has no transaction {_hex(event.tx_hash)} of a rotation of "
                f"community {_hex(community)}",
                hint="run `heritage index rebuild`",
            )
        call = decode_call(transaction)
        if call.function != "rotateKeyholders" or bytes(call.args["community"]) != community:
            raise EvidenceInvalid(
                f"transaction {_hex(event.tx_hash)} is not the rotation of community "
                f"{_hex(community)} that the index says it is",
                hint="run `heritage index rebuild`",
            )
        rotations.append(
            Rotation(
                keyholders=tuple(to_checksum_address(a) for a in event.fields["keyholders"]),
                threshold=int(event.fields["threshold"]),
                document=bytes(event.fields["document"]),
                nonce=int(event.fields["nonce"]),
                deadline=int(call.args["deadline"]),
                signatures=bytes(call.args["signatures"]),
            )
        )
    history = CommunityHistory(
        community=community,
        salt=bytes(created.fields["salt"]),
        keyholders=tuple(to_checksum_address(a) for a in created.fields["keyholders"]),
        threshold=int(created.fields["threshold"]),
        rotations=tuple(rotations),
    )
    current = keyholders_of(history, client.domain())
    if not client.community_matches(current):
        raise EvidenceInvalid(
            f"the index's keyholder history of community {_hex(community)} does not end with "
            "the keyholders the registry holds",
            hint="run `heritage index rebuild`",
        )
    return history
