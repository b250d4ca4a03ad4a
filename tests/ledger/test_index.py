"""ledger.index against a real anvil: events are emitted by sending the registry's own
transactions (signed with ledger.consent by fresh keyholders, relayed by anvil's dev account 0),
then synced, rebuilt, compared; confirmations, reorgs (evm_snapshot/evm_revert) and schema
versions are exercised."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from contracts import load_artifact
from ledger.chain import community_id
from ledger.consent import Domain, TypedData, pack_signatures, sign
from ledger.errors import ChainUnavailable, IndexSchemaMismatch, NotFound, UsageError
from ledger.index import EVENT_TABLES, EventIndex, Web3Reader
from ledger.ipfs.cid import RAW, Cid
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from local_chain import ANVIL_DEV_ACCOUNT_0
from tests.chain_support import free_port
from tests.cli_runner import run_heritage

if TYPE_CHECKING:
    from tests.conftest import LocalChain


# Kubo's CID of `ipfs add` of b"hello world\n" (published, not computed here).
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
DEADLINE = 2**40
ZERO = b"\x00" * 32


def batch_item_subject(batch: bytes, item: bytes) -> bytes:
    """The registry's terms subject of one item of a batch, by definition:
    keccak256(abi.encode(batchKey, contentKey))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [batch, item]))


def claim_key(community: bytes, cid: bytes) -> bytes:
    """A community's claim key on a CID, by definition:
    keccak256(abi.encode(community, keccak256(cid)))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [community, keccak(cid)]))


def batch_key(community: bytes, root: bytes) -> bytes:
    """A community's batch key, by definition: keccak256(abi.encode(community, root))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [community, root]))


def b32(label: str) -> bytes:
    return keccak(text=label)


@dataclass
class Community:
    id: bytes
    members: list[LocalAccount]
    threshold: int

    @property
    def keyholders(self) -> list[str]:
        return [m.address for m in self.members]


@dataclass
class Registry:
    """Sends registry transactions directly with web3, signing with ledger.consent."""

    w3: Web3
    contract: Contract
    domain: Domain
    receipts: list[Any] = field(default_factory=list)

    def typed(self, primary: str, **message: Any) -> TypedData:
        return TypedData(self.domain, primary, message)

    def signatures(self, typed: TypedData, signers: list[LocalAccount]) -> bytes:
        return pack_signatures((a.address, sign(typed, bytes(a.key))) for a in signers)

    def send(self, call: Any) -> Any:
        tx_hash = call.transact({"from": ANVIL_DEV_ACCOUNT_0})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        self.receipts.append(receipt)
        return receipt

    def timestamp(self, receipt: Any) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def create_community(self, name: str, size: int, threshold: int) -> Community:
        members = sorted((Account.create() for _ in range(size)), key=lambda a: int(a.address, 16))
        salt = b32(name + os.urandom(8).hex())
        community = Community(
            community_id(salt, [m.address for m in members], threshold), members, threshold
        )
        typed = self.typed(
            "CreateCommunity",
            community=community.id,
            keyholders=community.keyholders,
            threshold=threshold,
            document=b32(name + " document"),
            deadline=DEADLINE,
        )
        self.send(
            self.contract.functions.createCommunity(
                salt,
                community.keyholders,
                threshold,
                b32(name + " document"),
                DEADLINE,
                self.signatures(typed, members),
            )
        )
        return community

    def register_item(
        self, c: Community, cid: bytes, metadata: bytes, terms: bytes, commitment: bytes = ZERO
    ) -> tuple[bytes, tuple[Any, ...]]:
        typed = self.typed(
            "RegisterItem",
            community=c.id,
            cid=cid,
            metadata=metadata,
            terms=terms,
            commitment=commitment,
            deadline=DEADLINE,
        )
        receipt = self.send(
            self.contract.functions.registerItem(
                c.id,
                c.keyholders,
                c.threshold,
                cid,
                metadata,
                terms,
                commitment,
                DEADLINE,
                self.signatures(typed, c.members[: c.threshold]),
            )
        )
        record = (
            c.id, metadata, terms, commitment, ZERO, ANVIL_DEV_ACCOUNT_0,
            self.timestamp(receipt), 1,
        )  # fmt: skip
        return claim_key(c.id, cid), record

    def register_batch(
        self, c: Community, tree: StandardMerkleTree, terms: bytes
    ) -> tuple[bytes, tuple[Any, ...]]:
        typed = self.typed(
            "RegisterBatch",
            community=c.id,
            root=tree.root,
            count=len(tree),
            terms=terms,
            manifest=b32("batch manifest"),
            deadline=DEADLINE,
        )
        receipt = self.send(
            self.contract.functions.registerBatch(
                c.id, c.keyholders, c.threshold, tree.root, len(tree), terms,
                b32("batch manifest"), DEADLINE,
                self.signatures(typed, c.members[-c.threshold :]),
            )
        )  # fmt: skip
        count = len(tree).to_bytes(32, "big")
        record = (
            c.id, count, terms, b32("batch manifest"), ZERO, ANVIL_DEV_ACCOUNT_0,
            self.timestamp(receipt), 2,
        )  # fmt: skip
        return batch_key(c.id, tree.root), record

    def register_derivative(
        self,
        c: Community,
        parent: bytes,
        parent_record: tuple[Any, ...],
        steward: Community,
        cid: bytes,
        method: bytes,
        ai: bool,
    ) -> tuple[bytes, tuple[Any, ...]]:
        """``c``'s derivative of the claim ``parent``, with the consent of ``steward`` (the
        parent's current steward); its claim key and record."""
        metadata, terms = b32("deriv meta"), b32("deriv terms")
        agreement = self.typed(
            "ConsentDerivative",
            parent=parent,
            community=c.id,
            cid=cid,
            method=method,
            aiEnhanced=ai,
            deadline=DEADLINE,
        )
        party = (
            steward.keyholders,
            steward.threshold,
            self.signatures(agreement, steward.members[: steward.threshold]),
        )
        typed = self.typed(
            "RegisterDerivative",
            community=c.id,
            parent=parent,
            cid=cid,
            metadata=metadata,
            terms=terms,
            method=method,
            aiEnhanced=ai,
            deadline=DEADLINE,
        )
        receipt = self.send(
            self.contract.functions.registerDerivative(
                c.id, c.keyholders, c.threshold, parent, cid, metadata, terms, method, ai,
                DEADLINE, self.signatures(typed, c.members[: c.threshold]), parent_record, party,
            )
        )  # fmt: skip
        derivation = keccak(abi_encode(["bytes32", "bool"], [method, ai]))
        record = (
            c.id, metadata, terms, derivation, parent, ANVIL_DEV_ACCOUNT_0,
            self.timestamp(receipt), 3,
        )  # fmt: skip
        return claim_key(c.id, cid), record

    def set_terms(
        self, c: Community, subject: bytes, record: tuple[Any, ...], version: int, terms: bytes
    ) -> None:
        typed = self.typed(
            "SetTerms",
            community=c.id,
            subject=subject,
            version=version,
            terms=terms,
            deadline=DEADLINE,
        )
        self.send(
            self.contract.functions.setTerms(
                subject, record, c.keyholders, c.threshold, version, terms, DEADLINE,
                self.signatures(typed, c.members[: c.threshold]),
            )
        )  # fmt: skip

    def set_description(
        self,
        c: Community,
        subject: bytes,
        record: tuple[Any, ...],
        version: int,
        description: bytes,
    ) -> None:
        typed = self.typed(
            "SetDescription",
            community=c.id,
            subject=subject,
            version=version,
            description=description,
            deadline=DEADLINE,
        )
        self.send(
            self.contract.functions.setDescription(
                subject, record, c.keyholders, c.threshold, version, description, DEADLINE,
                self.signatures(typed, c.members[: c.threshold]),
            )
        )  # fmt: skip

    def revoke_terms(
        self, c: Community, subject: bytes, record: tuple[Any, ...], version: int
    ) -> None:
        typed = self.typed(
            "RevokeTerms", community=c.id, subject=subject, version=version, deadline=DEADLINE
        )
        self.send(
            self.contract.functions.revokeTerms(
                subject, record, c.keyholders, c.threshold, version, DEADLINE,
                self.signatures(typed, c.members[: c.threshold]),
            )
        )  # fmt: skip

    def revoke_batch_item(
        self,
        c: Community,
        root: bytes,
        record: tuple[Any, ...],
        leaf: tuple[bytes, bytes, bytes],
        proof: list[bytes],
    ) -> None:
        """Revoke one leaf of the batch of root ``root`` whose record is ``record`` (the
        batch key is the record's community's)."""
        typed = self.typed(
            "RevokeTerms",
            community=c.id,
            subject=batch_item_subject(batch_key(record[0], root), leaf[0]),
            version=1,
            deadline=DEADLINE,
        )
        self.send(
            self.contract.functions.revokeBatchItem(
                root, record, leaf[0], leaf[1], leaf[2], proof, c.keyholders, c.threshold, 1,
                DEADLINE, self.signatures(typed, c.members[: c.threshold]),
            )
        )  # fmt: skip

    def custody(
        self,
        item: bytes,
        record: tuple[Any, ...],
        action: int,
        steward: Community,
        receiver: Community | None,
        counterparty: bytes,
        nonce: int,
    ) -> None:
        typed = self.typed(
            "RecordCustody",
            item=item,
            action=action,
            community=steward.id,
            counterparty=counterparty,
            document=b32(f"custody {action}"),
            nonce=nonce,
            deadline=DEADLINE,
        )
        party = (
            steward.keyholders,
            steward.threshold,
            self.signatures(typed, steward.members[: steward.threshold]),
        )
        other: tuple[Any, ...] = ([], 0, b"")
        if receiver is not None:
            other = (
                receiver.keyholders,
                receiver.threshold,
                self.signatures(typed, receiver.members[: receiver.threshold]),
            )
        self.send(
            self.contract.functions.recordCustody(
                item, record, action, counterparty, b32(f"custody {action}"), nonce, DEADLINE,
                party, other,
            )
        )  # fmt: skip

    def rotate(self, c: Community, size: int, threshold: int, nonce: int) -> Community:
        members = sorted((Account.create() for _ in range(size)), key=lambda a: int(a.address, 16))
        rotated = Community(c.id, members, threshold)
        typed = self.typed(
            "RotateKeyholders",
            community=c.id,
            keyholders=rotated.keyholders,
            threshold=threshold,
            document=b32("rotated document"),
            nonce=nonce,
            deadline=DEADLINE,
        )
        self.send(
            self.contract.functions.rotateKeyholders(
                c.id, c.keyholders, c.threshold, rotated.keyholders, threshold,
                b32("rotated document"), nonce, DEADLINE,
                self.signatures(typed, c.members[: c.threshold]),
            )
        )  # fmt: skip
        return rotated


@dataclass
class World:
    """What `populate` registered."""

    a: Community
    b: Community
    item1: bytes
    item2: bytes
    derivative: bytes
    root: bytes
    batch_key: bytes
    batch: StandardMerkleTree
    raw_cid: Cid
    rotated: Community


def populate(reg: Registry, phase_hook: Any = None) -> World:
    """Emit every kind of registry event; ``phase_hook()`` runs between phases."""
    hook = phase_hook or (lambda: None)
    a = reg.create_community("community a", 3, 2)
    b = reg.create_community("community b", 2, 1)
    hook()
    item1, record1 = reg.register_item(a, bytes(Cid.parse(HELLO_V0)), b32("m1"), b32("t1"))
    raw_cid = Cid.for_block(b"a raw block " + os.urandom(8), RAW)
    item2, record2 = reg.register_item(
        a, bytes(raw_cid), b32("m2"), b32("t2"), commitment=b32("salted")
    )
    hook()
    leaves = [
        (b32(f"batch item {i}" + raw_cid.digest.hex()), b32(f"bm{i}"), ZERO) for i in range(3)
    ]
    tree = StandardMerkleTree.of(leaves, BATCH_LEAF_TYPES)
    root = tree.root
    batch, batch_record = reg.register_batch(a, tree, b32("batch terms"))
    # The registry checks our proofs: isBatchItem for each, then a revocation by proof.
    for i, leaf in enumerate(leaves):
        assert reg.contract.functions.isBatchItem(a.id, root, *leaf, tree.proof(i)).call()
    reg.revoke_batch_item(a, root, batch_record, leaves[1], tree.proof(1))
    derivative, _ = reg.register_derivative(
        a, item1, record1, a, bytes(Cid.for_block(b"restored", RAW)), b32("method"), True
    )
    hook()
    reg.set_terms(a, item1, record1, 2, b32("t1 v2"))
    reg.set_description(a, item1, record1, 2, b32("d1 v2"))
    reg.revoke_terms(a, item1, record1, 2)
    reg.custody(item2, record2, 2, a, None, b32("a museum"), 0)  # loan
    reg.custody(item2, record2, 1, a, b, b.id, 1)  # transfer to b
    hook()
    rotated = reg.rotate(a, 2, 2, 0)
    return World(a, b, item1, item2, derivative, root, batch, tree, raw_cid, rotated)


@pytest.fixture
def chain(anvil: LocalChain) -> Iterator[LocalChain]:
    """The session anvil, reverted to its state before the test when the test ends."""
    w3 = anvil.web3()
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield anvil
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]


@pytest.fixture
def registry(chain: LocalChain) -> Registry:
    deployment = chain.up.deployment
    assert deployment is not None
    w3 = chain.web3()
    contract = w3.eth.contract(
        address=deployment.registry_address, abi=list(load_artifact("ProvenanceRegistry").abi)
    )
    return Registry(w3, contract, Domain(w3.eth.chain_id, deployment.registry_address))


def open_index(chain: LocalChain, path: Path, **options: Any) -> EventIndex:
    deployment = chain.up.deployment
    assert deployment is not None
    return EventIndex(
        path,
        Web3Reader(chain.web3()),
        deployment.registry_address,
        deployment.deploy_block,
        **options,
    )


def mine(w3: Web3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def test_sync_indexes_every_event_with_its_block_and_transaction(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    world = populate(registry)
    with open_index(chain, tmp_path / "index.sqlite") as index:
        result = index.sync()
        assert not result.rebuilt
        dump = index.dump()
        # One row per event the transactions emitted, in every table.
        emitted = sum(len(r["logs"]) for r in registry.receipts)
        assert result.events == emitted == sum(len(rows) for rows in dump.values())
        assert all(dump[table] for table, _ in EVENT_TABLES.values())

        item1 = index.item(world.item1)
        assert item1.cid_text == HELLO_V0  # Kubo's string form, from the bytes on chain
        assert item1.cid == bytes(Cid.parse(HELLO_V0))
        assert item1.content == keccak(item1.cid) and item1.parent_steward is None
        assert (item1.terms, item1.terms_version, item1.revoked) == (b32("t1 v2"), 2, True)
        assert item1.kind == "item" and item1.commitment == ZERO
        assert item1.registrant == ANVIL_DEV_ACCOUNT_0
        first = registry.receipts[2]  # after two community creations
        assert item1.tx_hash == bytes(first["transactionHash"])
        assert item1.block_number == first["blockNumber"]
        assert item1.timestamp == registry.timestamp(first)

        item2 = index.item(world.item2)
        assert item2.cid_text == str(world.raw_cid)
        assert item2.steward == world.b.id and item2.community == world.a.id
        assert (item2.terms, item2.terms_version, item2.revoked) == (b32("t2"), 1, False)
        assert item2.commitment == b32("salted")

        derivative = index.item(world.derivative)
        assert derivative.kind == "derivative"
        assert (derivative.parent, derivative.method, derivative.ai_enhanced) == (
            world.item1, b32("method"), True,
        )  # fmt: skip
        assert derivative.parent_steward == world.a.id
        assert derivative.content == keccak(derivative.cid)

        history = index.history(world.item1)
        assert [e.event for e in history] == [
            "ItemRegistered", "TermsSet", "DescriptionSet", "TermsRevoked",
        ]  # fmt: skip
        assert [e.fields.get("version") for e in history] == [None, 2, 2, 2]
        [corrected] = index.descriptions(world.item1)
        assert (corrected.fields["description"], corrected.fields["steward"]) == (
            b32("d1 v2"), world.a.id,
        )  # fmt: skip
        assert index.descriptions(world.item2) == []
        custody = index.history(world.item2)
        assert [(e.event, e.fields.get("action_name")) for e in custody] == [
            ("ItemRegistered", None),
            ("CustodyRecorded", "loan"),
            ("CustodyRecorded", "transfer"),
        ]
        # Every entry's block hash and timestamp are the chain's.
        for entry in history + custody:
            block = registry.w3.eth.get_block(entry.block_number)
            assert entry.block_hash == bytes(block["hash"])
            assert entry.timestamp == block["timestamp"]
        # The revoked batch item has a history of its own, under its batch item subject
        # (not the bare item key, which another community may have registered).
        revoked_leaf = world.batch.values[1][0]
        subject = batch_item_subject(world.batch_key, revoked_leaf)
        on_chain = registry.contract.functions.batchItemSubject(world.batch_key, revoked_leaf)
        assert on_chain.call() == subject
        assert [e.event for e in index.history(subject)] == ["TermsRevoked"]
        assert index.history(revoked_leaf) == []
        assert [e.event for e in index.history(world.batch_key)] == ["BatchRegistered"]
        assert index.history(world.root) == []  # a batch is known by its key, not its root
        [batch] = index.batches()
        assert (batch.batch, batch.root, batch.community, batch.manifest) == (
            world.batch_key, world.root, world.a.id, b32("batch manifest"),
        )  # fmt: skip

        community = index.community(world.a.id)
        assert community.keyholders == tuple(world.rotated.keyholders)
        assert (community.threshold, community.rotations) == (2, 1)
        assert set(community.items) == {world.item1, world.item2, world.derivative}
        assert index.community(world.b.id).keyholders == tuple(world.b.keyholders)
        with pytest.raises(NotFound):
            index.item(b32("never registered"))
        with pytest.raises(NotFound):
            index.community(b32("no such community"))


def test_the_public_queries_answer_from_the_events_the_chain_emitted(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    world = populate(registry)
    # What the chain says, from the transactions' receipts (not from the index).
    emitted = sorted(
        (int(log["blockNumber"]), int(log["logIndex"]))
        for receipt in registry.receipts
        for log in receipt["logs"]
    )
    with open_index(chain, tmp_path / "index.sqlite") as index:
        index.sync()
        assert index.community_ids() == [world.a.id, world.b.id]  # in creation order
        every = index.events_after(-1, 0, len(emitted) + 10)
        assert [(e.block_number, e.log_index) for e in every] == emitted
        # Pages of three, each after the last one's cursor, give the same events in order.
        paged: list[tuple[int, int]] = []
        cursor = (-1, 0)
        while page := index.events_after(*cursor, 3):
            assert len(page) <= 3
            paged += [(e.block_number, e.log_index) for e in page]
            cursor = paged[-1]
        assert paged == emitted
        assert index.events_after(*emitted[-1], 5) == []
        with pytest.raises(UsageError):
            index.events_after(0, 0, -1)
        # The listing's one statement: one row per event the listing reads, in chain order.
        rows = index.registry_rows()
        assert [(r[1], r[2]) for r in rows] == sorted((r[1], r[2]) for r in rows)
        kinds = {r[0] for r in rows}
        assert {"item", "derivative", "batch", "terms", "revoked", "described", "custody",
                "created", "rotated"} <= kinds  # fmt: skip
        assert len(rows) == len(every)  # every event kind the registry emits is one it reads


def test_incremental_sync_and_rebuild_give_identical_tables(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    incremental = open_index(chain, tmp_path / "a.sqlite", chunk_blocks=3)
    syncs: list[int] = []
    populate(registry, phase_hook=lambda: syncs.append(incremental.sync().events))
    syncs.append(incremental.sync().events)
    assert len([n for n in syncs if n]) >= 4  # the events really arrived in several syncs
    with open_index(chain, tmp_path / "b.sqlite") as fresh:
        fresh.rebuild()
        assert fresh.dump() == incremental.dump()
        assert fresh.last_indexed_block() == incremental.last_indexed_block()
    before = incremental.dump()
    calls: list[tuple[int, int]] = []
    result = incremental.rebuild(lambda done, total: calls.append((done, total)))
    assert result.rebuilt and result.events == sum(len(rows) for rows in before.values())
    blocks = result.to_block - result.from_block + 1
    # One report per chunk of 3 blocks, ending with everything done.
    assert len(calls) == -(-blocks // 3)
    assert calls[-1] == (blocks, blocks)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert incremental.dump() == before
    assert incremental.sync().events == 0  # nothing new
    incremental.close()


def test_only_confirmed_blocks_are_indexed(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    a = registry.create_community("confirm", 1, 1)
    item, _ = registry.register_item(a, bytes(Cid.parse(HELLO_V0)), b32("m"), b32("t"))
    head = registry.w3.eth.block_number
    with open_index(chain, tmp_path / "i.sqlite", confirmations=2) as index:
        result = index.sync()
        assert result.to_block == index.last_indexed_block() == head - 2
        with pytest.raises(NotFound):
            index.item(item)  # its block is only 1 deep
        mine(registry.w3, 1)
        index.sync()
        assert index.last_indexed_block() == head - 1
        with pytest.raises(NotFound):
            index.item(item)
        mine(registry.w3, 1)
        assert index.sync().events == 1
        assert index.item(item).block_number == head


def test_a_reorg_is_noticed_and_the_index_rebuilt(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    w3 = registry.w3
    a = registry.create_community("reorg", 2, 1)
    kept, _ = registry.register_item(a, bytes(Cid.for_block(b"kept", RAW)), b32("m"), b32("t"))
    with open_index(chain, tmp_path / "i.sqlite") as index:
        index.sync()
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        lost, _ = registry.register_item(a, bytes(Cid.for_block(b"lost", RAW)), b32("m"), b32("t"))
        index.sync()
        assert index.item(lost)
        lost_block = index.last_indexed_block()

        # The chain goes back: the indexed block is gone.
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        result = index.sync()
        assert result.rebuilt and "no longer on the chain" in (result.reason or "")
        with pytest.raises(NotFound):
            index.item(lost)
        assert index.item(kept)

        # Back again, then a different block at the same height: its hash changed.
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        registry.register_item(a, bytes(Cid.for_block(b"lost", RAW)), b32("m"), b32("t"))
        index.sync()
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        other, _ = registry.register_item(
            a, bytes(Cid.for_block(b"other", RAW)), b32("m"), b32("t")
        )
        assert w3.eth.block_number == lost_block
        result = index.sync()
        assert result.rebuilt and "has changed" in (result.reason or "")
        assert index.item(other).block_number == lost_block
        with pytest.raises(NotFound):
            index.item(lost)
        with open_index(chain, tmp_path / "fresh.sqlite") as fresh:
            fresh.sync()
            assert fresh.dump() == index.dump()


def test_another_schema_version_is_refused_until_rebuilt(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    registry.create_community("schema", 1, 1)
    path = tmp_path / "i.sqlite"
    with open_index(chain, path) as index:
        index.sync()
        expected = index.dump()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    db.close()
    with pytest.raises(IndexSchemaMismatch, match="schema version 99"):
        open_index(chain, path)
    with open_index(chain, path, recreate=True) as index:
        assert index.dump() == {table: [] for table, _ in EVENT_TABLES.values()}
        index.sync()
        assert index.dump() == expected


def test_what_manifests_list_is_kept_and_added_to_an_index_without_its_tables(
    chain: LocalChain, tmp_path: Path
) -> None:
    path = tmp_path / "i.sqlite"
    manifest, root, other = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    items = [b"\x0a" * 32, b"\x0b" * 32, b"\x0a" * 32]
    with open_index(chain, path) as index:
        assert index.manifests_unread([(manifest, root), (other, root)]) == [
            (manifest, root), (other, root)
        ]
        index.record_manifest(manifest, root, items)
        index.record_manifest(other, root, None)  # read, but not that batch's manifest
        assert index.manifests_unread([(manifest, root), (other, root)]) == []
        assert sorted(index.manifests_listing(b"\x0a" * 32)) == [(manifest, root, 0),
                                                                  (manifest, root, 2)]
        assert index.manifests_listing(b"\x0c" * 32) == []
    # An index of this schema version made before these tables existed gets them, empty.
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE manifest_items")
        db.execute("DROP TABLE manifests_read")
    db.close()
    with open_index(chain, path) as index:
        assert index.manifests_unread([(manifest, root)]) == [(manifest, root)]
        assert index.manifests_listing(b"\x0a" * 32) == []


def heritage(data_dir: Path, chain: LocalChain, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "HERITAGE_DATA_DIR": str(data_dir),
        "HERITAGE_RPC_URL": chain.rpc_url,
        "HERITAGE_DEPLOYMENT": str(chain.settings.data_dir / "chain" / "deployment.json"),
        "HERITAGE_FSYNC": "false",
    }
    proc = run_heritage(args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_cli_sync_and_rebuild(chain: LocalChain, registry: Registry, tmp_path: Path) -> None:
    world = populate(registry)
    data = tmp_path / "data"
    proc = heritage(data, chain, "index", "sync", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["events"] == sum(len(r["logs"]) for r in registry.receipts)
    assert report["to_block"] == registry.w3.eth.block_number
    with open_index(chain, data / "index.sqlite") as index:
        assert index.item(world.item1).cid_text == HELLO_V0
        synced = index.dump()
    with sqlite3.connect(data / "index.sqlite") as db:
        db.execute("UPDATE schema_version SET version = 0")
    db.close()
    refused = heritage(data, chain, "index", "sync")
    assert refused.returncode == 1 and "index_schema_mismatch" in refused.stderr
    rebuilt = heritage(data, chain, "index", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["rebuilt"] is True
    with open_index(chain, data / "index.sqlite") as index:
        assert index.dump() == synced


def test_leaf_encoding_is_the_registrys(registry: Registry) -> None:
    # abi.encode of three bytes32 is their concatenation: the leaf the contract hashes.
    leaf = (b32("x"), b32("y"), b32("z"))
    assert abi_encode(list(BATCH_LEAF_TYPES), list(leaf)) == b"".join(leaf)
    on_chain = registry.contract.functions.batchLeaf(*leaf).call()
    assert bytes(on_chain) == keccak(keccak(b"".join(leaf)))


def test_an_index_of_another_registry_or_chain_is_rebuilt(
    chain: LocalChain, registry: Registry, tmp_path: Path
) -> None:
    registry.create_community("moved", 1, 1)
    path = tmp_path / "i.sqlite"
    with open_index(chain, path) as index:
        index.sync()
        assert index.dump()["community_created"]
    other = "0x" + "42" * 20
    with EventIndex(path, Web3Reader(registry.w3), other, 0) as moved:
        result = moved.sync()
        assert result.rebuilt and other.lower() in (result.reason or "").lower()
        assert moved.dump() == {table: [] for table, _ in EVENT_TABLES.values()}
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sync_state SET chain_id = 1")
    db.close()
    with open_index(chain, path) as index:
        result = index.sync()
        assert result.rebuilt and "chain 1" in (result.reason or "")
        assert index.dump()["community_created"]


def test_no_chain_is_chain_unavailable(tmp_path: Path) -> None:
    from ledger.chain import connect

    dead = connect(f"http://127.0.0.1:{free_port()}")
    with (
        EventIndex(tmp_path / "i.sqlite", Web3Reader(dead), "0x" + "42" * 20, 0) as index,
        pytest.raises(ChainUnavailable),
    ):
        index.sync()
