"""The journal of signed raw transactions and recovery from it: a chain that lost
transactions (reverted to an older state, or an anvil killed with SIGKILL and restarted from
its state file) gets back every one of them, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from contracts import load_artifact
from ledger.chain import (
    REGISTRY_CONTRACT,
    Call,
    Calls,
    JournalEntry,
    RegistryClient,
    TxJournal,
    connect,
)
from ledger.errors import ChainError, ChainUnavailable, JournalCorrupt
from local_chain import chain_down, chain_up
from local_chain.anvil import ChainPaths, process_alive
from tests.chain_support import chain_settings
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    Node,
    cid_of,
    claim_of,
    create_community,
    dev_account,
    register_item_typed,
    sign_packed,
)


def registration(client: RegistryClient, keyed: Keyed, label: str) -> Call:
    cid = cid_of(label)
    packed = sign_packed(register_item_typed(client.domain(), keyed, cid), keyed.signers(0, 1))
    return Calls.register_item(keyed.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed)


def claimed(client: RegistryClient, keyed: Keyed, label: str) -> bool:
    """Whether ``keyed``'s claim on the CID of ``label`` is on chain (by its claim key)."""
    return client.is_registered(claim_of(keyed.community.id, cid_of(label)))


# ---- the journal itself ------------------------------------------------------------------------


def test_each_entry_is_the_signed_raw_transaction_named_by_nonce_and_hash(
    client: RegistryClient, museum: Keyed
) -> None:
    outcome = client.transact(registration(client, museum, "journalled"))
    [path] = sorted(client.journal.directory.iterdir())
    assert path.name == f"{outcome.nonce:020d}-0x{outcome.tx_hash.hex()}.json"
    document = json.loads(path.read_text())
    raw = bytes.fromhex(document["raw"][2:])
    tx = TypedTransaction.from_bytes(HexBytes(raw))
    assert keccak(raw) == outcome.tx_hash
    assert tx.as_dict()["nonce"] == outcome.nonce
    assert Account.recover_transaction(raw) == client.sender.address
    assert document["state"] == "confirmed" and document["block"] == outcome.block


def test_a_half_written_temp_file_is_ignored_and_a_damaged_entry_is_named(
    client: RegistryClient, museum: Keyed
) -> None:
    client.transact(registration(client, museum, "damaged"))
    [path] = client.journal.directory.iterdir()
    (client.journal.directory / f".{path.name}.tmp").write_text("{half")  # crash before rename
    assert len(client.journal.entries()) == 1
    document = json.loads(path.read_text())
    document["raw"] = document["raw"][:-2] + ("00" if document["raw"][-2:] != "00" else "01")
    path.write_text(json.dumps(document))
    with pytest.raises(JournalCorrupt, match="does not hash"):
        client.journal.entries()
    path.write_text("not json")
    with pytest.raises(JournalCorrupt, match=path.name):
        client.journal.entries()


def test_the_entry_is_on_disk_before_the_node_sees_the_transaction(
    node: Node, tmp_path: Path, museum: Keyed
) -> None:
    """With mining stopped the transaction cannot confirm; the entry is already there,
    unconfirmed, and recover() finishes the job once blocks come again."""
    client = node.client(tmp_path / "journal")
    client.receipt_timeout = 0.5
    call = registration(client, museum, "unmined")
    node.rpc("evm_setAutomine", False)
    try:
        with pytest.raises(ChainError, match="not mined"):
            client.transact(call)
        [entry] = client.journal.entries()
        assert entry.state == "signed"
        node.rpc("evm_mine")
    finally:
        node.rpc("evm_setAutomine", True)
    report = client.recover()
    assert [e.tx_hash for e in report.on_chain] == [entry.tx_hash] and report.clean
    assert client.journal.entries()[0].state == "confirmed"


def test_an_unreachable_node_leaves_the_entry_for_recovery(
    node: Node, tmp_path: Path, museum: Keyed
) -> None:
    client = node.client(tmp_path / "journal")
    call = registration(client, museum, "offline")
    pending = client.sending.sign(call, None)  # signed and journalled: the node is now "down"
    assert [e.state for e in client.journal.entries()] == ["signed"]
    report = client.recover()
    assert [e.tx_hash for e in report.resent] == [pending.entry.tx_hash]
    assert claimed(client, museum, "offline")


# ---- recovery after the chain lost transactions --------------------------------------------------


def test_transactions_the_chain_lost_are_sent_again_byte_for_byte(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    mark = node.rpc("evm_snapshot")
    outcomes = client.transact_many([registration(client, museum, f"lost-{i}") for i in range(6)])
    assert node.rpc("evm_revert", mark) is True  # the chain forgets all six
    assert not any(claimed(client, museum, f"lost-{i}") for i in range(6))
    report = client.recover()
    assert report.clean
    assert [e.tx_hash for e in report.resent] == [o.tx_hash for o in outcomes]
    assert all(claimed(client, museum, f"lost-{i}") for i in range(6))
    # Running it again finds everything on chain and sends nothing.
    again = client.recover()
    assert (len(again.on_chain), again.resent) == (6, ())
    # The client's own nonce follows: the next transaction goes through.
    client.transact(registration(client, museum, "after-recovery"))


def test_a_nonce_taken_by_another_transaction_is_reported_not_sent(
    node: Node, client: RegistryClient, museum: Keyed, tmp_path: Path
) -> None:
    mark = node.rpc("evm_snapshot")
    lost = client.transact(registration(client, museum, "diverged"))
    assert node.rpc("evm_revert", mark) is True
    other = node.client(tmp_path / "other-journal")  # same sender, another program
    other.transact(registration(other, museum, "someone else"))
    report = client.recover()
    assert not report.clean and report.resent == ()
    [(entry, reason)] = report.conflicts
    assert entry.tx_hash == lost.tx_hash
    assert f"nonce {lost.nonce}" in reason and "another transaction" in reason
    assert not claimed(client, museum, "diverged")


def test_a_gap_before_a_journalled_nonce_is_reported(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    mark = node.rpc("evm_snapshot")
    first, second = client.transact_many(
        [registration(client, museum, "gap-1"), registration(client, museum, "gap-2")]
    )
    assert node.rpc("evm_revert", mark) is True
    client.journal.remove(next(e for e in client.journal.entries() if e.nonce == first.nonce))
    report = client.recover()
    [(entry, reason)] = report.conflicts
    assert entry.nonce == second.nonce and "in neither the chain nor the journal" in reason


def test_a_resent_transaction_that_now_reverts_is_reported_with_its_error(
    node: Node, client: RegistryClient, museum: Keyed, tmp_path: Path
) -> None:
    cid = cid_of("taken-meanwhile")
    call = registration(client, museum, "taken-meanwhile")
    mark = node.rpc("evm_snapshot")
    client.transact(call)
    assert node.rpc("evm_revert", mark) is True
    # Meanwhile someone relays the same signed registration from another account.
    relayer = Account.create()
    node.rpc("anvil_setBalance", relayer.address, hex(10**18))
    RegistryClient(node.w3, client.address, relayer, TxJournal(tmp_path / "relayer")).transact(call)
    report = client.recover()
    [(_entry, error)] = report.reverted
    assert error.error_name == "AlreadyRegistered"
    # The replay protection is the community's claim key on the CID.
    assert error.error_args == {"key": "0x" + claim_of(museum.community.id, cid).hex()}


def test_entries_of_other_chains_are_left_alone(client: RegistryClient, museum: Keyed) -> None:
    outcome = client.transact(registration(client, museum, "here"))
    [entry] = client.journal.entries()
    foreign = JournalEntry(
        entry.chain_id + 1,
        entry.sender,
        entry.nonce + 1,
        b"\x01" * 32,
        b"",
        "registerItemPacked",
        "signed",
    )
    foreign_doc = foreign.to_json() | {"tx_hash": "0x" + bytes(32).hex()}
    foreign_doc["tx_hash"] = "0x" + keccak(b"").hex()
    path = client.journal.directory / f"{foreign.nonce:020d}-{foreign_doc['tx_hash']}.json"
    path.write_text(json.dumps(foreign_doc))
    report = client.recover()
    assert [e.tx_hash for e in report.on_chain] == [outcome.tx_hash]
    assert [e.chain_id for e in report.other_chains] == [entry.chain_id + 1]
    assert report.clean


def test_prune_forgets_only_final_entries(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    a = client.transact(registration(client, museum, "prune-1"))
    b = client.transact(registration(client, museum, "prune-2"))
    assert client.journal.prune(up_to_block=a.block) == 1
    assert [e.tx_hash for e in client.journal.entries()] == [b.tx_hash]


# ---- a real crash --------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_then_recover_loses_nothing(tmp_path: Path) -> None:
    settings = chain_settings(tmp_path / "data")
    artifact = load_artifact(REGISTRY_CONTRACT)
    paths = ChainPaths.of(settings)
    try:
        up = chain_up(settings, artifact)
        assert up.deployment is not None and up.pid is not None
        w3 = connect(settings.rpc_url)
        journal = TxJournal.in_data_dir(settings.data_dir, fsync=True)

        def new_client() -> RegistryClient:
            assert up.deployment is not None
            return RegistryClient(
                w3,
                up.deployment.registry_address,
                dev_account(),
                journal,
                from_block=up.deployment.deploy_block,
                receipt_timeout=10,
            )

        client = new_client()
        keyed = create_community(client, "crash", 3, 2)
        labels = [f"crash-{i}" for i in range(400)]
        calls = [registration(client, keyed, label) for label in labels]
        # Wait for anvil to write its state (state interval 1 s), start a stream of
        # registrations, and kill it 1.5 s later: the dump at +1 s keeps the first part of the
        # stream, the half second after it is lost.
        stamp = paths.state.stat().st_mtime_ns if paths.state.exists() else 0
        deadline = time.monotonic() + 10
        while (paths.state.stat().st_mtime_ns if paths.state.exists() else 0) == stamp:
            assert time.monotonic() < deadline, "anvil never wrote its state file"
            time.sleep(0.01)
        killer = threading.Timer(1.5, os.kill, (up.pid, signal.SIGKILL))
        killer.start()
        sent = 0
        with pytest.raises(ChainUnavailable):
            for call in calls:
                client.transact(call)
                sent += 1
        killer.join()
        deadline = time.monotonic() + 10
        while process_alive(up.pid):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert sent > 5, "the node died before the stream got going"
        journalled = {e.tx_hash for e in journal.entries()}
        assert len(journalled) >= sent + 1  # the community, every confirmed one, maybe one more

        again = chain_up(settings, artifact)
        assert again.started and again.deployment is not None
        assert again.deployment.registry_address == up.deployment.registry_address
        client = new_client()
        missing = [
            label for label in labels[:sent] if not claimed(client, keyed, label)
        ]
        assert missing, "the restart lost nothing: the test did not exercise recovery"
        report = client.recover()
        print(f"sent {sent}, lost by the restart {len(missing)}, re-sent {len(report.resent)}")
        assert report.clean, report.conflicts or report.reverted
        assert len(report.resent) >= len(missing)
        kept = [e for e in report.on_chain if e.function == "registerItemPacked"]
        assert kept, "the state file kept no registration: the restart did not reload state"
        for label in labels[:sent]:
            assert claimed(client, keyed, label), label
        assert client.community_matches(keyed.community)
        registered = sum(claimed(client, keyed, label) for label in labels)
        # Exactly what was journalled is on chain: confirmed ones plus at most the one in flight.
        assert registered in (sent, sent + 1)
        assert all(e.state == "confirmed" for e in journal.entries())
    finally:
        chain_down(settings)
