"""Contract calls described as data: :class:`Calls` builds one :class:`Call` per registry
function, and :func:`pack_register_item` writes ``registerItemPacked()``'s packed calldata.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.chain.values import Call, Community, Party, Record, as_bytes32, community_id
from ledger.errors import UsageError

__all__ = [
    "REGISTER_ITEM_PACKED_SELECTOR",
    "Calls",
    "pack_register_item",
]

REGISTER_ITEM_PACKED_SELECTOR: Final = keccak(b"registerItemPacked()")[:4]


def pack_register_item(
    community: bytes,
    keyholders: Sequence[str],
    threshold: int,
    cid: bytes,
    metadata: bytes,
    terms: bytes,
    commitment: bytes,
    deadline: int,
    signatures: bytes,
) -> bytes:
    """Calldata of ``registerItemPacked()``: the selector, then, big-endian and unpadded,
    community (32) ‖ k (1) ‖ n (1) ‖ n keyholders (20 each) ‖ metadata (32) ‖ terms (32) ‖
    commitment (32) ‖ deadline (8) ‖ CID length (1) ‖ CID ‖ signatures (65 each)."""
    if not 0 < len(keyholders) < 256 or not 0 < threshold < 256:
        raise UsageError(
            f"a packed registration carries 1 to 255 keyholders and a threshold of 1 to 255, "
            f"not {len(keyholders)} and {threshold}"
        )
    if not 0 < len(cid) < 256:
        raise UsageError(
            f"a packed registration carries a CID of 1 to 255 bytes, not {len(cid)}",
            hint="CIDs of sha2-256 content are 34 to 36 bytes",
        )
    if not 0 <= deadline < 1 << 64:
        raise UsageError(f"deadline {deadline} does not fit in 64 bits")
    return b"".join(
        (
            REGISTER_ITEM_PACKED_SELECTOR,
            as_bytes32(community, "community"),
            bytes((threshold, len(keyholders))),
            *(bytes.fromhex(to_checksum_address(k)[2:]) for k in keyholders),
            as_bytes32(metadata, "metadata"),
            as_bytes32(terms, "terms"),
            as_bytes32(commitment, "commitment"),
            deadline.to_bytes(8, "big"),
            bytes((len(cid),)),
            bytes(cid),
            bytes(signatures),
        )
    )


class Calls:
    """Builders of :class:`Call` for every state-changing registry function (pure)."""

    @staticmethod
    def create_community(
        community: Community, salt: bytes, document: bytes, deadline: int, signatures: bytes
    ) -> Call:
        """``community`` must carry the id the registry derives from ``salt`` and its set."""
        if community_id(salt, community.keyholders, community.threshold) != community.id:
            raise UsageError(
                f"community id 0x{community.id.hex()} is not the one salt 0x{salt.hex()} and "
                "its keyholders give",
                hint="make it with Community.founded(salt, keyholders, threshold)",
            )
        return Call(
            "createCommunity",
            (
                as_bytes32(salt, "salt"),
                list(community.keyholders),
                community.threshold,
                as_bytes32(document, "document"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def rotate_keyholders(
        current: Community,
        next_keyholders: Sequence[str],
        next_threshold: int,
        document: bytes,
        nonce: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "rotateKeyholders",
            (
                current.id,
                list(current.keyholders),
                current.threshold,
                [to_checksum_address(k) for k in next_keyholders],
                next_threshold,
                as_bytes32(document, "document"),
                nonce,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_item(
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        """``registerItemPacked``: the registration as the client sends it (see
        :func:`pack_register_item`); :meth:`register_item_abi` is the same action ABI-encoded."""
        return Call(
            "registerItemPacked",
            Calls.register_item_abi(
                community, cid, metadata, terms, commitment, deadline, signatures
            ).args,
        )

    @staticmethod
    def register_item_abi(
        community: Community,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        commitment: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "registerItem",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                bytes(cid),
                as_bytes32(metadata, "metadata"),
                as_bytes32(terms, "terms"),
                as_bytes32(commitment, "commitment"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_batch(
        community: Community,
        root: bytes,
        count: int,
        terms: bytes,
        manifest: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "registerBatch",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                as_bytes32(root, "root"),
                count,
                as_bytes32(terms, "terms"),
                as_bytes32(manifest, "manifest"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def register_derivative(
        community: Community,
        parent: bytes,
        cid: bytes,
        metadata: bytes,
        terms: bytes,
        method: bytes,
        ai_enhanced: bool,
        deadline: int,
        signatures: bytes,
        parent_record: Record,
        parent_steward: Party,
    ) -> Call:
        """``signatures``: the deriving community's over RegisterDerivative;
        ``parent_steward``: the parent claim's steward with its ConsentDerivative signatures."""
        return Call(
            "registerDerivative",
            (
                community.id,
                list(community.keyholders),
                community.threshold,
                as_bytes32(parent, "parent"),
                bytes(cid),
                as_bytes32(metadata, "metadata"),
                as_bytes32(terms, "terms"),
                as_bytes32(method, "method"),
                ai_enhanced,
                deadline,
                signatures,
                parent_record.as_abi(),
                parent_steward.as_abi(),
            ),
        )

    @staticmethod
    def set_terms(
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        terms: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "setTerms",
            (
                as_bytes32(subject, "subject"),
                record.as_abi(),
                list(steward.keyholders),
                steward.threshold,
                version,
                as_bytes32(terms, "terms"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def set_description(
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        description: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "setDescription",
            (
                as_bytes32(subject, "subject"),
                record.as_abi(),
                list(steward.keyholders),
                steward.threshold,
                version,
                as_bytes32(description, "description"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def set_batch_item_description(
        root: bytes,
        batch_record: Record,
        leaf: tuple[bytes, bytes, bytes],
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        description: bytes,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        item, metadata, commitment = leaf
        return Call(
            "setBatchItemDescription",
            (
                as_bytes32(root, "root"),
                batch_record.as_abi(),
                [
                    as_bytes32(item, "item"),
                    as_bytes32(metadata, "metadata"),
                    as_bytes32(commitment, "commitment"),
                ],
                [as_bytes32(p, "proof node") for p in proof],
                list(steward.keyholders),
                steward.threshold,
                version,
                as_bytes32(description, "description"),
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def revoke_terms(
        subject: bytes,
        record: Record,
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "revokeTerms",
            (
                as_bytes32(subject, "subject"),
                record.as_abi(),
                list(steward.keyholders),
                steward.threshold,
                version,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def revoke_batch_item(
        root: bytes,
        batch_record: Record,
        item: bytes,
        metadata: bytes,
        commitment: bytes,
        proof: Sequence[bytes],
        steward: Community,
        version: int,
        deadline: int,
        signatures: bytes,
    ) -> Call:
        return Call(
            "revokeBatchItem",
            (
                as_bytes32(root, "root"),
                batch_record.as_abi(),
                as_bytes32(item, "item"),
                as_bytes32(metadata, "metadata"),
                as_bytes32(commitment, "commitment"),
                [as_bytes32(p, "proof node") for p in proof],
                list(steward.keyholders),
                steward.threshold,
                version,
                deadline,
                signatures,
            ),
        )

    @staticmethod
    def record_custody(
        item: bytes,
        record: Record,
        action: int,
        counterparty: bytes,
        document: bytes,
        nonce: int,
        deadline: int,
        steward: Party,
        receiver: Party,
    ) -> Call:
        return Call(
            "recordCustody",
            (
                as_bytes32(item, "item"),
                record.as_abi(),
                action,
                as_bytes32(counterparty, "counterparty"),
                as_bytes32(document, "document"),
                nonce,
                deadline,
                steward.as_abi(),
                receiver.as_abi(),
            ),
        )


