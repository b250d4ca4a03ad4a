"""The event index and claims (schema 5): every community's claim on one content, batches that
share a Merkle root, stewards after custody moves, and batch items found by their claim key.
Against the session's real anvil; keys are computed from their definitions (test_index)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from ledger.errors import NotFound, UsageError
from ledger.index import SCHEMA_VERSION
from ledger.ipfs.cid import RAW, Cid
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from tests.conftest import LocalChain
from tests.ledger import test_index as index_tests
from tests.ledger.test_index import (
    ZERO,
    Registry,
    b32,
    batch_key,
    claim_key,
    open_index,
)

# Fixtures of the module these tests build on (pytest finds fixtures among globals).
chain = index_tests.chain
registry = index_tests.registry

TRANSFER, LOAN, REPATRIATION = 1, 2, 4


def cid_bytes(label: str) -> bytes:
    return bytes(Cid.for_block(f"{label} {os.urandom(8).hex()}".encode(), RAW))


def test_the_index_reads_schema_6() -> None:
    assert SCHEMA_VERSION == 6


def test_claims_on_lists_every_communitys_claim_in_chain_order(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("claims a", 2, 1)
    b = registry.create_community("claims b", 3, 2)
    c = registry.create_community("claims c", 1, 1)
    cid = cid_bytes("shared")
    content = keccak(cid)
    by_b, record_b = registry.register_item(b, cid, b32("mb"), b32("tb"))
    registry.register_item(a, cid_bytes("unrelated"), b32("m"), b32("t"))
    by_a, _ = registry.register_item(a, cid, b32("ma"), b32("ta"))
    # c claims the same bytes as a derivative of its own claim on other content.
    parent, parent_record = registry.register_item(c, cid_bytes("original"), b32("m"), b32("t"))
    by_c, _ = registry.register_derivative(c, parent, parent_record, c, cid, b32("method"), False)
    registry.revoke_terms(b, by_b, record_b, 1)
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        claims = index.claims_on(content)
        assert [r.item for r in claims] == [by_b, by_a, by_c]
        assert [r.community for r in claims] == [b.id, a.id, c.id]
        assert [r.kind for r in claims] == ["item", "item", "derivative"]
        assert all(r.content == content and r.cid == cid for r in claims)
        # Chain order: block, then position in the block.
        positions = [(r.block_number, r.log_index) for r in claims]
        assert positions == sorted(positions) and len(set(positions)) == 3
        # Each claim keeps its own state: b's revocation is b's alone.
        assert [r.revoked for r in claims] == [True, False, False]
        assert claims[2].parent == parent and claims[2].parent_steward == c.id
        assert index.claims_on(keccak(cid_bytes("nobody"))) == []
        with pytest.raises(UsageError):
            index.claims_on(b"short")


def test_claims_on_leaves_batch_claims_to_the_manifests(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("batch claims a", 1, 1)
    b = registry.create_community("batch claims b", 1, 1)
    cid = cid_bytes("in a batch")
    content = keccak(cid)
    tree = StandardMerkleTree.of([(content, b32("m"), ZERO)], BATCH_LEAF_TYPES)
    registry.register_batch(a, tree, b32("t"))
    single, _ = registry.register_item(b, cid, b32("m"), b32("t"))
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        assert [r.item for r in index.claims_on(content)] == [single]


def test_batches_with_the_same_root_are_each_communitys_own(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("root a", 2, 1)
    b = registry.create_community("root b", 2, 2)
    leaves = [
        (b32(f"shared root item {i} {os.urandom(4).hex()}"), b32("m"), ZERO) for i in range(3)
    ]
    tree = StandardMerkleTree.of(leaves, BATCH_LEAF_TYPES)
    other = StandardMerkleTree.of(leaves[:2], BATCH_LEAF_TYPES)
    key_b, record_b = registry.register_batch(b, tree, b32("tb"))
    registry.register_batch(a, other, b32("other"))
    key_a, _ = registry.register_batch(a, tree, b32("ta"))
    assert key_a == batch_key(a.id, tree.root) != key_b == batch_key(b.id, tree.root)
    assert registry.contract.functions.batchOf(a.id, tree.root).call() == key_a
    assert registry.contract.functions.batchOf(b.id, tree.root).call() == key_b
    registry.revoke_batch_item(b, tree.root, record_b, leaves[0], tree.proof(0))
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        found = index.batches_with_root(tree.root)
        assert [(x.batch, x.community, x.terms) for x in found] == [
            (key_b, b.id, b32("tb")),
            (key_a, a.id, b32("ta")),
        ]
        assert all(x.root == tree.root and x.count == 3 for x in found)
        assert [x.batch for x in index.batches_with_root(other.root)] == [
            batch_key(a.id, other.root)
        ]
        assert index.batches_with_root(b32("no such root")) == []
        assert index.batch(key_a) == found[1] and index.batch(key_b) == found[0]
        with pytest.raises(NotFound):
            index.batch(tree.root)  # a root is no batch key
        # b's revocation of its leaf is under b's batch key only.
        revoked = keccak(key_b + leaves[0][0])
        assert [e.event for e in index.history(revoked)] == ["TermsRevoked"]
        assert index.history(keccak(key_a + leaves[0][0])) == []


def test_the_steward_follows_transfers_and_repatriations_of_one_claim(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("steward a", 2, 1)
    b = registry.create_community("steward b", 2, 1)
    c = registry.create_community("steward c", 1, 1)
    cid = cid_bytes("moved claim")
    item, record = registry.register_item(a, cid, b32("m"), b32("t"))
    theirs, _ = registry.register_item(b, cid, b32("m"), b32("t"))  # b's claim on the same
    path = tmp_path / "i.sqlite"
    with open_index(chain, path) as index:
        index.sync()
        assert index.steward(item, a.id) == a.id
    registry.custody(item, record, LOAN, a, None, c.id, 0)  # a loan moves no stewardship
    with open_index(chain, path) as index:
        index.sync()
        assert index.steward(item, a.id) == a.id == index.item(item).steward
    registry.custody(item, record, TRANSFER, a, b, b.id, 1)
    with open_index(chain, path) as index:
        index.sync()
        assert index.steward(item, a.id) == b.id == index.item(item).steward
        assert index.item(item).community == a.id  # the claim is still a's registration
        assert index.steward(theirs, b.id) == b.id  # b's own claim was never moved
        assert [r.steward for r in index.claims_on(keccak(cid))] == [b.id, b.id]
    registry.custody(item, record, REPATRIATION, b, c, c.id, 2)
    with open_index(chain, path) as index:
        index.sync()
        assert index.steward(item, a.id) == c.id == index.item(item).steward
        assert index.moved_to(c.id) == [item]
        with pytest.raises(UsageError):
            index.steward(b"short", a.id)


def test_a_derivative_records_the_steward_that_consented(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("consent a", 2, 1)
    b = registry.create_community("consent b", 2, 1)
    c = registry.create_community("consent c", 2, 2)
    parent, record = registry.register_item(a, cid_bytes("parent"), b32("m"), b32("t"))
    registry.custody(parent, record, TRANSFER, a, b, b.id, 0)
    cid = cid_bytes("derived after the move")
    derivative, _ = registry.register_derivative(c, parent, record, b, cid, b32("method"), True)
    assert derivative == claim_key(c.id, cid)
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        row = index.item(derivative)
        assert (row.kind, row.community, row.parent, row.parent_steward) == (
            "derivative",
            c.id,
            parent,
            b.id,
        )
        assert row.ai_enhanced is True and row.steward == c.id


def test_batch_claim_finds_a_batch_item_by_its_claim_key(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("batch claim a", 1, 1)
    b = registry.create_community("batch claim b", 1, 1)
    cids = [cid_bytes(f"listed {i}") for i in range(3)]
    contents = [keccak(cid) for cid in cids]
    tree = StandardMerkleTree.of([(x, b32("m"), ZERO) for x in contents], BATCH_LEAF_TYPES)
    key_a, _ = registry.register_batch(a, tree, b32("t"))
    key_b, _ = registry.register_batch(b, tree, b32("t"))
    listing = [tree.values[i][0] for i in range(len(tree))]  # the manifest's leaf order
    manifest = b32("batch manifest")  # what Registry.register_batch registers
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        # Nothing is known of the batch's items before its manifest is read.
        assert index.batch_claim(claim_key(a.id, cids[1])) is None
        index.record_manifest(manifest, tree.root, listing)
        for community, key in ((a, key_a), (b, key_b)):
            for cid, content in zip(cids, contents, strict=True):
                found = index.batch_claim(claim_key(community.id, cid))
                assert found is not None
                batch, listed, position = found
                assert (batch.batch, batch.community, listed) == (key, community.id, content)
                assert listing[position] == content
        # A claim key of a community without that batch, or of content it does not list.
        stranger = registry.create_community("batch claim stranger", 1, 1)
        assert index.batch_claim(claim_key(stranger.id, cids[0])) is None
        assert index.batch_claim(claim_key(a.id, cid_bytes("unlisted"))) is None
        assert index.batch_claim(contents[0]) is None  # a content key is no claim key
