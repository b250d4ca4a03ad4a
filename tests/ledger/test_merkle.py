"""ledger.merkle against the reference implementation (@openzeppelin/merkle-tree, npm) and the
registry's own ``batchLeaf`` on a real anvil."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import load_artifact
from ledger.errors import DuplicateLeaves, UsageError
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree, leaf_hash, node_hash, verify
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

if TYPE_CHECKING:
    from tests.conftest import LocalChain

REPO = Path(__file__).resolve().parents[2]

Triple = tuple[bytes, bytes, bytes]


def oz_reference(values: list[Triple], types: tuple[str, ...] = BATCH_LEAF_TYPES) -> Any:
    """Root, per-value proofs, node array and leaves from @openzeppelin/merkle-tree."""
    document = {"types": list(types), "values": [["0x" + v.hex() for v in row] for row in values]}
    proc = subprocess.run(
        ["node", str(REPO / "tests/js/oz_merkle.mjs")],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    return json.loads(proc.stdout)


def random_triples(n: int, seed: int) -> list[Triple]:
    rng = random.Random(seed)
    return [(rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)) for _ in range(n)]


def hexes(items: list[bytes]) -> list[str]:
    return ["0x" + item.hex() for item in items]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1000])
def test_root_tree_and_every_proof_match_openzeppelin(n: int) -> None:
    values = random_triples(n, seed=n)
    ours = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
    reference = oz_reference(values)
    assert "0x" + ours.root.hex() == reference["root"]
    assert hexes(list(ours.tree)) == reference["tree"]
    assert [hexes(ours.proof(i)) for i in range(n)] == reference["proofs"]
    assert ["0x" + ours.leaf(i).hex() for i in range(n)] == reference["leaves"]
    for i in range(n):
        assert verify(ours.root, ours.leaf(i), ours.proof(i))


def test_other_leaf_encodings_match_openzeppelin() -> None:
    # The format is not tied to the batch triple: a dynamic type changes the ABI encoding.
    types = ("address", "uint256", "bytes")
    values = [("0x" + bytes([i] * 20).hex(), i * 10**18, bytes(range(i))) for i in range(1, 6)]
    proc = subprocess.run(
        ["node", str(REPO / "tests/js/oz_merkle.mjs")],
        input=json.dumps(
            {
                "types": list(types),
                "values": [[a, str(u), "0x" + b.hex()] for a, u, b in values],
            }
        ),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    reference = json.loads(proc.stdout)
    ours = StandardMerkleTree.of(values, types)
    assert "0x" + ours.root.hex() == reference["root"]
    assert [hexes(ours.proof(i)) for i in range(len(values))] == reference["proofs"]


def test_duplicate_leaves_are_refused_naming_both_entries() -> None:
    values = random_triples(5, seed=1)
    values.append(values[2])
    with pytest.raises(DuplicateLeaves) as caught:
        StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
    assert "entries 2 and 5" in caught.value.message


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(UsageError, match="at least one leaf"):
        StandardMerkleTree.of([], BATCH_LEAF_TYPES)


def test_values_that_do_not_encode_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="5 bytes long"):
        StandardMerkleTree.of([(b"short", b"\x00" * 32, b"\x00" * 32)], BATCH_LEAF_TYPES)
    with pytest.raises(UsageError, match="ABI-encode"):
        StandardMerkleTree.of([("not bytes", b"\x00" * 32, b"\x00" * 32)], BATCH_LEAF_TYPES)
    with pytest.raises(UsageError, match="3 types"):
        leaf_hash(BATCH_LEAF_TYPES, (b"\x00" * 32,))


def test_proof_index_out_of_range() -> None:
    tree = StandardMerkleTree.of(random_triples(3, seed=2), BATCH_LEAF_TYPES)
    with pytest.raises(UsageError, match="out of range"):
        tree.proof(3)
    with pytest.raises(UsageError, match="out of range"):
        tree.proof(-1)


def test_unsorted_leaves_keep_input_order() -> None:
    values = random_triples(4, seed=3)
    tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES, sort_leaves=False)
    # Leaves sit at the end of the array in reverse order of input.
    assert list(tree.tree[-4:]) == [leaf_hash(BATCH_LEAF_TYPES, v) for v in reversed(values)]


bytes32 = st.binary(min_size=32, max_size=32)
triples = st.lists(st.tuples(bytes32, bytes32, bytes32), min_size=1, max_size=40, unique=True)


@reaches(0.8)
@settings(max_examples=examples(150), deadline=None)
@given(values=triples, data=st.data())
def test_every_proof_verifies_and_tampering_breaks_it(values: list[Triple], data: Any) -> None:
    tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
    i = data.draw(st.integers(0, len(values) - 1))
    leaf = leaf_hash(BATCH_LEAF_TYPES, values[i])
    proof = tree.proof(i)
    assert verify(tree.root, leaf, proof)
    # The proof of a single-leaf tree is empty; otherwise its depth is ⌈log2⌉-ish, bounded.
    assert len(proof) <= len(values).bit_length()
    # A different leaf does not verify with this proof.
    other = data.draw(bytes32.filter(lambda b: b != leaf))
    assert not verify(tree.root, other, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        tampered = list(proof)
        flipped = bytearray(tampered[k])
        flipped[bit // 8] ^= 1 << (bit % 8)
        tampered[k] = bytes(flipped)
        assert not verify(tree.root, leaf, tampered)
        assert not verify(tree.root, leaf, proof[:-1])
    assert not verify(tree.root, leaf, [*proof, data.draw(bytes32)])
    reached()


def test_node_hash_is_order_independent_and_matches_the_contracts_rule() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert node_hash(a, b) == node_hash(b, a)
    assert node_hash(a, b) != node_hash(a, a)


def test_leaves_match_the_registry_batch_leaf(anvil: LocalChain) -> None:
    deployment = anvil.up.deployment
    assert deployment is not None
    w3 = anvil.web3()
    registry = w3.eth.contract(
        address=deployment.registry_address, abi=list(load_artifact("ProvenanceRegistry").abi)
    )
    values = random_triples(5, seed=42)
    values.append((b"\x00" * 32, b"\x00" * 32, b"\x00" * 32))
    for item, metadata, commitment in values:
        on_chain = bytes(registry.functions.batchLeaf(item, metadata, commitment).call())
        assert on_chain == leaf_hash(BATCH_LEAF_TYPES, (item, metadata, commitment))
