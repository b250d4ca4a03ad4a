"""Items moved into a community, from the event index (CustodyRecorded looked up by its
counterparty, schema version 4), and the rotations that use that lookup, against the session's
real anvil and real embedded IPFS node."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from ledger.crypto import KEM_HYBRID, KEM_X25519
from ledger.documents import document_cid
from ledger.errors import IndexSchemaMismatch, UsageError
from ledger.index import SCHEMA_VERSION
from ledger.ipfs.cid import RAW, Cid
from ledger.keys import new_key
from ledger.registry import Registry as LedgerRegistry
from ledger.registry import SignerKeys
from tests.conftest import LocalChain
from tests.ledger import test_crypto_workflow as crypto_tests
from tests.ledger import test_index as index_tests
from tests.ledger.test_crypto_workflow import (
    _opens,
    _random_files,
    _shut_out,
    sealed_community,
)
from tests.ledger.test_index import Registry, b32, heritage, open_index, populate
from tests.registry_support import PASSPHRASE
from tests.rights_support import restricted_terms, write_terms

# Fixtures of the modules these tests build on (pytest finds fixtures among globals).
chain = index_tests.chain
registry = index_tests.registry
chain_settings = crypto_tests.chain_settings
registrar = crypto_tests.registrar

TRANSFER, LOAN, REPATRIATION = 1, 2, 4


def cid_bytes(label: str) -> bytes:
    return bytes(Cid.for_block(f"{label} {os.urandom(8).hex()}".encode(), RAW))


# ---- the index query -------------------------------------------------------------------------


def test_moved_to_lists_transfers_and_repatriations_to_a_community(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("custody a", 2, 1)
    b = registry.create_community("custody b", 2, 1)
    c = registry.create_community("custody c", 1, 1)
    item, record = registry.register_item(a, cid_bytes("moved"), b32("m1"), b32("t1"))
    other, other_record = registry.register_item(a, cid_bytes("other"), b32("m2"), b32("t2"))
    registry.custody(item, record, LOAN, a, None, c.id, 0)  # a borrower is no steward
    registry.custody(item, record, TRANSFER, a, b, b.id, 1)
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        assert index.moved_to(b.id) == [item]
        assert index.moved_to(a.id) == []  # a registered both; nothing was moved to a
        assert index.moved_to(c.id) == []

    # back to a by repatriation, then to b again (with another item in between)
    registry.custody(item, record, REPATRIATION, b, a, a.id, 2)
    registry.custody(other, other_record, TRANSFER, a, b, b.id, 0)
    registry.custody(item, record, TRANSFER, a, b, b.id, 3)
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        assert index.moved_to(a.id) == [item]
        assert index.moved_to(b.id) == [item, other]  # once each, by their first move there
        # the lookup is an SQL index, not a scan of every custody event
        plan = index._db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM custody_recorded WHERE counterparty = ?",
            (a.id,),
        ).fetchall()
        assert any("custody_recorded_counterparty" in str(row) for row in plan)
        with pytest.raises(UsageError):
            index.moved_to(b"short")


# What older schema versions wrote, as statements that turn today's tables into theirs.
# 5: before descriptions (no DescriptionSet table);
# 4: also before claims (no content key, batch key or consenting parent steward);
# 3: also before the counterparty lookup.
OLDER_SCHEMAS = {5: ["DROP TABLE description_set"]}
OLDER_SCHEMAS[4] = [
    *OLDER_SCHEMAS[5],
    "DROP INDEX item_registered_content",
    "ALTER TABLE item_registered DROP COLUMN content",
    "DROP INDEX batch_registered_batch",
    "ALTER TABLE batch_registered DROP COLUMN batch",
    "DROP INDEX derivative_registered_content",
    "ALTER TABLE derivative_registered DROP COLUMN content",
    "ALTER TABLE derivative_registered DROP COLUMN parent_steward",
]
OLDER_SCHEMAS[3] = [*OLDER_SCHEMAS[4], "DROP INDEX custody_recorded_counterparty"]


@pytest.mark.parametrize("version", sorted(OLDER_SCHEMAS))
def test_an_index_of_an_older_schema_is_refused_until_rebuilt(
    chain: LocalChain, registry: Registry, tmp_path: Path, version: int
) -> None:
    assert SCHEMA_VERSION == 6
    world = populate(registry)
    data = tmp_path / "data"
    path = data / "index.sqlite"
    data.mkdir()
    with open_index(chain, path) as index:
        index.sync()
        synced = index.dump()
    with sqlite3.connect(path) as db:
        for statement in OLDER_SCHEMAS[version]:
            db.execute(statement)
        db.execute("UPDATE schema_version SET version = ?", (version,))
    db.close()
    with pytest.raises(
        IndexSchemaMismatch, match=f"schema version {version}; this program reads version 6"
    ):
        open_index(chain, path)
    refused = heritage(data, chain, "index", "sync")
    assert refused.returncode == 1 and "index_schema_mismatch" in refused.stderr
    assert "heritage index rebuild" in refused.stderr
    rebuilt = heritage(data, chain, "index", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    with open_index(chain, path) as index:
        assert index.dump() == synced
        assert index.moved_to(world.b.id) == [world.item2]
        assert [r.item for r in index.claims_on(keccak(index.item(world.item1).cid))] == [
            world.item1
        ]
        names = {row[0] for row in index._db.execute("SELECT name FROM sqlite_master")}
        assert {
            "custody_recorded_counterparty",
            "item_registered_content",
            "batch_registered_batch",
            "derivative_registered_content",
            "description_set",
            "description_set_subject",
        } <= names


# ---- rotations find what was moved to the community ------------------------------------------


def test_an_item_passed_on_again_is_not_rewrapped_by_the_first_receivers_rotation(
    registrar: LedgerRegistry, tmp_path: Path
) -> None:
    communities = []
    for label in ("first", "middle", "last"):
        holders, _ = sealed_community(registrar, f"{label}-{tmp_path.name}", 2, 1)
        communities.append(
            (registrar.reader.resolve_community(f"{label}-{tmp_path.name}"), holders)
        )
    (first, _), (middle, (m1, m2)), (last, (l1, _)) = communities
    all_keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    terms = write_terms(tmp_path / "t.json", restricted_terms(first))
    (path,) = _random_files(tmp_path, "relay", 1)
    (item,) = registrar.items.register([path], first, terms, all_keys)
    registrar.custody.transfer(str(item.cid), middle, all_keys)
    registrar.custody.transfer(str(item.cid), last, all_keys)
    assert registrar.items.show(str(item.cid)).steward == last

    # the middle community rotates with a signer who can no longer open the item: re-wrapping
    # it would need that (and fail); it is skipped, as the index lists it only as a candidate
    newcomer = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
    )
    only_m1 = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (m1,))
    registrar.communities.rotate(middle, [m1, newcomer.address], 1, only_m1)
    with registrar.session.event_index() as index:
        assert index.moved_to(middle) == [item.key]
        digest = index.community(middle).document
    middle_document = json.loads(registrar.node.block_get(document_cid(digest)))
    assert "envelopes" not in middle_document
    _shut_out(registrar, item.cid, newcomer.address, tmp_path / "newcomer")
    _shut_out(registrar, item.cid, m2, tmp_path / "m2")
    _opens(registrar, item.cid, l1, tmp_path / "last", path)  # the steward's keyholders


def test_an_item_repatriated_to_a_community_is_rewrapped_by_its_rotation(
    registrar: LedgerRegistry, tmp_path: Path
) -> None:
    holder_name, home_name = "holder-" + tmp_path.name, "home-" + tmp_path.name
    _, keys = sealed_community(registrar, holder_name, 2, 1)
    (h1, h2), _ = sealed_community(registrar, home_name, 2, 1)
    holder = registrar.reader.resolve_community(holder_name)
    home = registrar.reader.resolve_community(home_name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(holder))
    (path,) = _random_files(tmp_path, "returned", 1)
    (item,) = registrar.items.register([path], holder, terms, keys)  # registered by the holder
    registrar.custody.repatriate(str(item.cid), home, keys)
    with registrar.session.event_index() as index:
        assert item.key not in index.community(home).items  # home never registered it
        assert index.moved_to(home) == [item.key]

    newcomer = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_HYBRID
    )
    only_h1 = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (h1,))
    registrar.communities.rotate(home, [h1, newcomer.address], 1, only_h1)
    _opens(registrar, item.cid, newcomer.address, tmp_path / "newcomer", path)
    _shut_out(registrar, item.cid, h2, tmp_path / "h2")  # removed by the rotation
    with registrar.session.event_index() as index:
        digest = index.community(home).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    listing = json.loads(
        registrar.node.block_get(Cid.parse(document["envelopes"]))
    )
    # The envelope index names the item by its content key, keccak256 of its CID.
    assert set(listing["envelopes"]) == {"0x" + keccak(bytes(item.cid)).hex()}
