"""Finding an item of a batch: each batch manifest is read from IPFS once per data directory
(what it lists goes into the event index), not once per Registrar. A counting wrapper around
the real embedded node's block reads (not a stand-in) tells which blocks were read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import NotFound
from ledger.ipfs.cid import Cid
from ledger.registration import BatchRegistration, Registrar
from tests.ledger.test_registration import (
    chain_settings,
    keyed_community,
    registrar,
    write_files,
)
from tests.rights_support import public_terms, write_terms

REUSED_FIXTURES = (chain_settings, registrar)


def counted_reads(registrar: Registrar) -> list[Cid]:
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
def batches(registrar: Registrar, tmp_path: Path) -> Iterator[list[BatchRegistration]]:
    keys = keyed_community(registrar, "batches-" + tmp_path.name, 2, 1)
    community = registrar.resolve_community("batches-" + tmp_path.name)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    yield [
        registrar.register_batch(write_files(tmp_path / f"b{i}", 2), community, terms, keys)
        for i in range(3)
    ]


def test_each_manifest_is_read_once_per_data_directory(
    registrar: Registrar, batches: list[BatchRegistration]
) -> None:
    manifests = {b.manifest_cid for b in batches}
    with Registrar(registrar.settings) as first:
        reads = counted_reads(first)
        found = first.resolve(str(batches[1].items[0].cid))
        assert found.batch_root == batches[1].root
        assert {c for c in reads if c in manifests} == manifests  # each read, once
        assert len([c for c in reads if c in manifests]) == 3
    with Registrar(registrar.settings) as later:
        reads = counted_reads(later)
        for batch in (batches[2], batches[0]):
            item = batch.items[1]
            assert later.resolve(str(item.cid)).batch_root == batch.root
            membership = later.batch_membership(batch.root, item.key)
            assert membership["position"] == 1 and membership["proof_valid_on_chain"]
        # Only the manifests that list the items asked for, for their Merkle proofs.
        assert [c for c in reads if c in manifests] == [
            batches[2].manifest_cid, batches[0].manifest_cid
        ]


def test_a_manifest_missing_from_the_node_is_read_when_it_comes_back(
    registrar: Registrar, batches: list[BatchRegistration]
) -> None:
    gone = batches[0]
    store = registrar.node.store  # type: ignore[union-attr]
    data = store.get_block(gone.manifest_cid)
    store.unpin(gone.manifest_cid, recursive=False)
    store.delete_block(gone.manifest_cid.multihash)
    with Registrar(registrar.settings) as before:
        assert before.resolve(str(batches[2].items[0].cid)).batch_root == batches[2].root
        with pytest.raises(NotFound, match="1 registered batch manifest"):
            before.resolve(str(gone.items[0].cid))
    assert registrar.node.block_put(data) == gone.manifest_cid.to_v1()
    with Registrar(registrar.settings) as after:
        assert after.resolve(str(gone.items[0].cid)).batch_root == gone.root
