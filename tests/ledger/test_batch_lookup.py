"""Finding an item of a batch: each batch manifest is read from IPFS once per data directory
(what it lists goes into the event index), not once per Registry. A counting wrapper around
the real embedded node's block reads (not a stand-in) tells which blocks were read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from ledger.errors import NotFound
from ledger.ipfs.cid import Cid
from ledger.registry import BatchRegistration, Registry
from tests.ledger.test_index import batch_key, claim_key
from tests.registry_support import (
    chain_settings,
    keyed_community,
    registrar,
    write_files,
)
from tests.rights_support import public_terms, write_terms

REUSED_FIXTURES = (chain_settings, registrar)


def community_of(batches: list[BatchRegistration]) -> bytes:
    [community] = {b.community for b in batches}
    return community


def counted_reads(registrar: Registry) -> list[Cid]:
    """The CIDs of every block ``registrar``'s node reads from now on."""
    node = registrar.node
    real = node.block_get
    reads: list[Cid] = []

    def block_get(cid: Cid) -> bytes:
        reads.append(cid)
        return real(cid)

    node.block_get = block_get  # type: ignore[method-assign]
    return reads


@pytest.fixture
def batches(registrar: Registry, tmp_path: Path) -> Iterator[list[BatchRegistration]]:
    keys = keyed_community(registrar, "batches-" + tmp_path.name, 2, 1)
    community = registrar.reader.resolve_community("batches-" + tmp_path.name)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    yield [
        registrar.items.register_batch(write_files(tmp_path / f"b{i}", 2), community, terms, keys)
        for i in range(3)
    ]


def test_each_manifest_is_read_once_per_data_directory(
    registrar: Registry, batches: list[BatchRegistration]
) -> None:
    manifests = {b.manifest_cid for b in batches}
    pairs = [(b.manifest_cid.digest, b.root) for b in batches]
    # Registering a batch already reads the earlier batches' manifests (a community's second
    # claim on content is refused before anything is sent): those are in the index now.
    with registrar.session.event_index() as index:
        unread = {batches[pairs.index(pair)].manifest_cid for pair in index.manifests_unread(pairs)}
    assert unread and unread != manifests
    with Registry(registrar.settings) as first:
        reads = counted_reads(first)
        found = first.reader.resolve(str(batches[1].items[0].cid))
        assert found.root == batches[1].root
        assert found.batch_root == batches[1].batch == batch_key(community_of(batches), found.root)
        # The manifests the index had not read yet, and the one whose item was asked for
        # (for its Merkle proof): each read once.
        read = [c for c in reads if c in manifests]
        assert sorted(read, key=str) == sorted(unread | {batches[1].manifest_cid}, key=str)
    with registrar.session.event_index() as index:
        assert index.manifests_unread(pairs) == []
    with Registry(registrar.settings) as later:
        reads = counted_reads(later)
        for batch in (batches[2], batches[0]):
            item = batch.items[1]
            resolved = later.reader.resolve(str(item.cid))
            assert (resolved.root, resolved.batch_root) == (batch.root, batch.batch)
            # A batch item's claim key is its community's claim on its CID.
            assert resolved.key == item.key == claim_key(batch.community, bytes(item.cid))
            membership = later.reader.batch_membership(batch.batch, keccak(bytes(item.cid)))
            assert membership["position"] == 1 and membership["proof_valid_on_chain"]
        # Only the manifests that list the items asked for, for their Merkle proofs.
        assert [c for c in reads if c in manifests] == [
            batches[2].manifest_cid, batches[0].manifest_cid
        ]


def test_a_manifest_missing_from_the_node_is_read_when_it_comes_back(
    registrar: Registry, batches: list[BatchRegistration]
) -> None:
    gone = batches[0]
    store = registrar.node.store  # type: ignore[union-attr]
    data = store.get_block(gone.manifest_cid)
    store.unpin(gone.manifest_cid, recursive=False)
    store.delete_block(gone.manifest_cid.multihash)
    with Registry(registrar.settings) as before:
        assert before.reader.resolve(str(batches[2].items[0].cid)).batch_root == batches[2].batch
        with pytest.raises(NotFound, match="1 registered batch manifest"):
            before.reader.resolve(str(gone.items[0].cid))
    assert registrar.node.block_put(data) == gone.manifest_cid.to_v1()
    with Registry(registrar.settings) as after:
        assert after.reader.resolve(str(gone.items[0].cid)).batch_root == gone.batch
