"""Merkle trees in OpenZeppelin's StandardMerkleTree format (``@openzeppelin/merkle-tree``).

A leaf is ``keccak256(keccak256(abi.encode(values)))`` — hashed twice so that no leaf can be
read as an internal node — and an internal node is ``keccak256`` of its two children, sorted
as byte strings. The tree is stored as an array with the root at index 0, the children of
node ``i`` at ``2i+1`` and ``2i+2``, and the (sorted by default) leaves at the end in reverse
order; that layout decides which sibling each proof carries, so ours matches the npm package
proof for proof (a test compares them). The registry's ``batchLeaf`` and ``_verifyProof`` are
the on-chain side of the same format.

Unlike the npm package, a tree here refuses duplicate leaves: a batch that lists one item
twice is a mistake to catch before anything is signed or sent.

Everything here is pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_utils.crypto import keccak

from ledger.errors import DuplicateLeaves, UsageError

__all__ = [
    "BATCH_LEAF_TYPES",
    "StandardMerkleTree",
    "leaf_hash",
    "node_hash",
    "process_proof",
    "verify",
]

#: The leaf of a registry batch: (bytes32 item, bytes32 metadata, bytes32 commitment).
BATCH_LEAF_TYPES: Final = ("bytes32", "bytes32", "bytes32")
_FIXED_BYTES: Final = re.compile(r"bytes([1-9][0-9]?)")


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``keccak256(keccak256(abi.encode(values)))``: the StandardMerkleTree leaf."""
    if len(types) != len(values):
        raise UsageError(
            f"a leaf has {len(values)} values but the leaf encoding has {len(types)} types",
            hint=f"pass one value for each of {list(types)}",
        )
    for kind, value in zip(types, values, strict=True):
        # eth-abi pads a short value to bytesN silently; a short item key is a bug, not a key.
        fixed = _FIXED_BYTES.fullmatch(kind)
        if fixed and isinstance(value, bytes) and len(value) != int(fixed.group(1)):
            raise UsageError(
                f"a leaf's {kind} value is {len(value)} bytes long",
                hint=f"{kind} values must be exactly {fixed.group(1)} bytes; they are not padded",
            )
    try:
        encoded = abi_encode(list(types), list(values))
    except (EncodingError, TypeError, ValueError) as exc:
        raise UsageError(
            f"a leaf's values do not ABI-encode as {list(types)}: {exc}",
            hint="bytes32 values must be 32-byte bytes",
        ) from None
    return keccak(keccak(encoded))


def node_hash(a: bytes, b: bytes) -> bytes:
    """The parent of two nodes: keccak256 of the pair sorted as byte strings."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    node = leaf
    for sibling in proof:
        node = node_hash(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` proves the leaf hash ``leaf`` under ``root`` (as the contract checks)."""
    if len(root) != 32 or len(leaf) != 32 or any(len(p) != 32 for p in proof):
        return False
    return process_proof(leaf, proof) == root


@dataclass(frozen=True, slots=True)
class StandardMerkleTree:
    """A tree over ``values`` (each a tuple ABI-encoded as ``types``).

    ``tree`` is the node array (root first); ``tree_index[i]`` is where the leaf of
    ``values[i]`` sits in it. Build one with :meth:`of`.
    """

    types: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    tree: tuple[bytes, ...]
    tree_index: tuple[int, ...]

    @classmethod
    def of(
        cls, values: Sequence[Sequence[Any]], types: Sequence[str], *, sort_leaves: bool = True
    ) -> StandardMerkleTree:
        """Build the tree as ``StandardMerkleTree.of(values, types)`` does in JavaScript.

        Raises :class:`DuplicateLeaves` when two values hash to the same leaf, and
        :class:`UsageError` for no values at all.
        """
        if not values:
            raise UsageError(
                "a Merkle tree needs at least one leaf; this batch is empty",
                hint="register at least one item",
            )
        hashed = [(leaf_hash(types, value), i) for i, value in enumerate(values)]
        first_seen: dict[bytes, int] = {}
        for leaf, i in hashed:
            if leaf in first_seen:
                raise DuplicateLeaves(
                    f"entries {first_seen[leaf]} and {i} of the batch are the same leaf "
                    f"0x{leaf.hex()}",
                    hint="each item may appear in a batch only once; remove the repeat",
                )
            first_seen[leaf] = i
        if sort_leaves:
            hashed.sort()  # leaves are distinct, so the value index never decides
        size = 2 * len(hashed) - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * len(hashed)
        for position, (leaf, value_index) in enumerate(hashed):
            tree[size - 1 - position] = leaf
            tree_index[value_index] = size - 1 - position
        for i in range(size - 1 - len(hashed), -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        return cls(
            types=tuple(types),
            values=tuple(tuple(v) for v in values),
            tree=tuple(tree),
            tree_index=tuple(tree_index),
        )

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def leaf(self, index: int) -> bytes:
        """The leaf hash of ``values[index]``."""
        return self.tree[self.tree_index[self._check(index)]]

    def proof(self, index: int) -> list[bytes]:
        """The sibling hashes from ``values[index]``'s leaf up to the root."""
        node = self.tree_index[self._check(index)]
        proof: list[bytes] = []
        while node > 0:
            sibling = node - 1 if node % 2 == 0 else node + 1
            proof.append(self.tree[sibling])
            node = (node - 1) // 2
        return proof

    def _check(self, index: int) -> int:
        if not 0 <= index < len(self.values):
            raise UsageError(
                f"leaf index {index} is out of range; the tree has {len(self.values)} leaves"
            )
        return index
