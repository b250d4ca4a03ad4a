"""The registry client against a real anvil: every function, and every refusal by its name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from ledger import consent
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_TRANSFER,
    KIND_BATCH,
    KIND_DERIVATIVE,
    KIND_ITEM,
    Calls,
    Community,
    Party,
    RegistryClient,
    RevertDecoder,
    batch_item_subject,
    transport_of,
)
from ledger.errors import ChainError, NotFound, RegistryReverted
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from tests.ledger.chain.client_support import (
    MANIFEST,
    METHOD,
    batch_of,
    consenting,
    derive_call,
    register,
    register_batch,
    register_call,
    reverts,
)
from tests.ledger.chain.conftest import (
    DOCUMENT,
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    Node,
    batch_key_of,
    cid_of,
    claim_of,
    content_of,
    item_subject_of,
    new_keys,
    register_item_typed,
    sign_packed,
    typed_data,
)

# ---- EIP-712 agreement -----------------------------------------------------------------------


def test_every_python_type_string_hashes_to_the_contracts_typehash(
    session_client: RegistryClient,
) -> None:
    on_chain = session_client.type_hashes()
    assert set(on_chain) == set(consent.ACTION_TYPES)
    for action, value in on_chain.items():
        assert value == consent.type_hash(action), consent.type_string(action)


def test_the_domain_separator_follows_the_live_chain_id(node: Node, client: RegistryClient) -> None:
    def python_separator(domain: consent.Domain) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak(
                        text="EIP712Domain(string name,string version,uint256 chainId,"
                        "address verifyingContract)"
                    ),
                    keccak(text=consent.DOMAIN_NAME),
                    keccak(text=consent.DOMAIN_VERSION),
                    domain.chain_id,
                    domain.verifying_contract,
                ],
            )
        )

    before = client.domain()
    assert client.domain_separator() == python_separator(before)
    node.rpc("anvil_setChainId", before.chain_id + 1000)
    try:
        after = client.domain()
        assert after.chain_id == before.chain_id + 1000
        assert client.domain_separator() == python_separator(after) != python_separator(before)
    finally:
        node.rpc("anvil_setChainId", before.chain_id)


# ---- happy paths -----------------------------------------------------------------------------


def test_register_item_stores_the_record_digest_and_the_views_agree(
    client: RegistryClient, museum: Keyed
) -> None:
    registration = register(client, museum, "item-1", 0, 2)
    key = claim_of(museum.community.id, cid_of("item-1"))
    assert registration.key == key
    assert client.claim_of(museum.community.id, cid_of("item-1")) == key
    assert not client.is_registered(content_of(cid_of("item-1")))  # not the bare content key
    assert registration.record.kind == KIND_ITEM
    assert registration.record.registrant == client.sender.address
    assert client.record_hash(key) == registration.record.digest()
    assert client.hash_record(registration.record) == registration.record.digest()
    assert client.steward_of(key, registration.record) == museum.community.id
    assert client.terms_of(key).version == 1 and not client.terms_of(key).revoked
    assert client.is_registered(key)
    assert 50_000 < registration.outcome.gas_used < 80_000
    entries = client.journal.entries()
    assert [(e.state, e.tx_hash) for e in entries] == [("confirmed", registration.outcome.tx_hash)]


def test_records_are_rebuilt_from_their_events_for_items_derivatives_and_batches(
    client: RegistryClient, museum: Keyed
) -> None:
    item = register(client, museum, "found")
    assert client.find_record(item.key) == item.record
    tree, _ = batch_of(3)
    batch = register_batch(client, museum, tree)
    assert batch.key == batch_key_of(museum.community.id, tree.root)
    assert client.find_record(batch.key) == batch.record
    with pytest.raises(NotFound):
        client.find_record(tree.root)  # the bare root is no key
    cid = cid_of("found-derivative")
    steward = consenting(client, museum, item.key, museum, cid)
    derivative = derive_call(client, museum, item, cid, steward)()
    assert derivative.key == claim_of(museum.community.id, cid)
    assert client.find_record(derivative.key) == derivative.record
    with pytest.raises(NotFound):
        client.find_record(b"\x77" * 32)


def test_communities_are_stored_as_their_configuration_hash(
    session_client: RegistryClient, museum: Keyed
) -> None:
    assert session_client.community_config(museum.community.id) == museum.community.config_hash()
    assert session_client.community_matches(museum.community)
    assert not session_client.community_matches(
        Community(museum.community.id, museum.community.keyholders, 3)
    )
    assert session_client.community_nonce(museum.community.id) == 0


def test_terms_set_then_revoked_then_set_again(client: RegistryClient, museum: Keyed) -> None:
    reg = register(client, museum, "terms")
    domain = client.domain()
    new_terms = bytes.fromhex("7f" * 32)
    typed = typed_data(
        domain,
        "SetTerms",
        community=museum.community.id,
        subject=reg.key,
        version=2,
        terms=new_terms,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(typed, museum.signers(1, 2))
    client.set_terms(reg.key, reg.record, museum.community, 2, new_terms, FAR_DEADLINE, packed)
    state = client.terms_of(reg.key)
    assert (state.version, state.terms, state.revoked) == (2, new_terms, False)
    # Replay: the version was consumed.
    reverts(
        "WrongVersion",
        lambda: client.set_terms(
            reg.key, reg.record, museum.community, 2, new_terms, FAR_DEADLINE, packed
        ),
    )

    revoke = typed_data(
        domain,
        "RevokeTerms",
        community=museum.community.id,
        subject=reg.key,
        version=2,
        deadline=FAR_DEADLINE,
    )
    rpacked = sign_packed(revoke, museum.signers(0, 1))
    client.revoke_terms(reg.key, reg.record, museum.community, 2, FAR_DEADLINE, rpacked)
    assert client.terms_of(reg.key).revoked
    error = reverts(
        "AlreadyRevoked",
        lambda: client.revoke_terms(
            reg.key, reg.record, museum.community, 2, FAR_DEADLINE, rpacked
        ),
    )
    assert error.error_args == {"subject": "0x" + reg.key.hex(), "version": 2}

    typed3 = typed_data(
        domain,
        "SetTerms",
        community=museum.community.id,
        subject=reg.key,
        version=3,
        terms=TERMS,
        deadline=FAR_DEADLINE,
    )
    client.set_terms(
        reg.key,
        reg.record,
        museum.community,
        3,
        TERMS,
        FAR_DEADLINE,
        sign_packed(typed3, museum.signers(0, 2)),
    )
    assert client.terms_of(reg.key).version == 3 and not client.terms_of(reg.key).revoked


def test_a_record_that_is_not_the_stored_one_is_refused(
    client: RegistryClient, museum: Keyed
) -> None:
    reg = register(client, museum, "mismatch")
    forged = dataclasses.replace(reg.record, registered_at=reg.record.registered_at + 1)
    typed = typed_data(
        client.domain(),
        "SetTerms",
        community=museum.community.id,
        subject=reg.key,
        version=2,
        terms=TERMS,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(typed, museum.signers(0, 1))
    reverts(
        "RecordMismatch",
        lambda: client.set_terms(reg.key, forged, museum.community, 2, TERMS, FAR_DEADLINE, packed),
    )
    reverts(
        "UnknownRecord",
        lambda: client.set_terms(
            b"\x99" * 32, reg.record, museum.community, 2, TERMS, FAR_DEADLINE, packed
        ),
    )


def test_rotation_replaces_the_keyholders_and_revocation_works_after_it(
    client: RegistryClient, museum: Keyed
) -> None:
    reg = register(client, museum, "rotated")
    fresh = new_keys(3)
    domain = client.domain()
    rotate = typed_data(
        domain,
        "RotateKeyholders",
        community=museum.community.id,
        keyholders=[a.address for a in fresh],
        threshold=2,
        document=DOCUMENT,
        nonce=0,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(rotate, museum.signers(0, 2))
    rotated, _ = client.rotate_keyholders(
        museum.community, [a.address for a in fresh], 2, DOCUMENT, 0, FAR_DEADLINE, packed
    )
    assert client.community_matches(rotated) and not client.community_matches(museum.community)
    assert client.community_nonce(museum.community.id) == 1
    # Replay of the rotation, even passing the new configuration as current: nonce consumed.
    reverts(
        "WrongNonce",
        lambda: client.rotate_keyholders(
            rotated, [a.address for a in fresh], 2, DOCUMENT, 0, FAR_DEADLINE, packed
        ),
    )
    # The old keyholders can no longer act: the old configuration is gone, and under the new
    # one their signatures are not keyholders'.
    revoke = typed_data(
        domain,
        "RevokeTerms",
        community=museum.community.id,
        subject=reg.key,
        version=1,
        deadline=FAR_DEADLINE,
    )
    old = sign_packed(revoke, museum.signers(0, 1))
    reverts(
        "KeyholdersMismatch",
        lambda: client.revoke_terms(reg.key, reg.record, museum.community, 1, FAR_DEADLINE, old),
    )
    reverts(
        "SignerNotKeyholder",
        lambda: client.revoke_terms(reg.key, reg.record, rotated, 1, FAR_DEADLINE, old),
    )
    new_keyed = Keyed(rotated, tuple(fresh))
    client.revoke_terms(
        reg.key, reg.record, rotated, 1, FAR_DEADLINE, sign_packed(revoke, new_keyed.signers(1, 2))
    )
    assert client.terms_of(reg.key).revoked


def test_custody_transfer_needs_both_communities_and_a_loan_only_the_steward(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    reg = register(client, museum, "custody")
    domain = client.domain()

    def custody(action: int, counterparty: bytes, nonce: int) -> consent.TypedData:
        return typed_data(
            domain,
            "RecordCustody",
            item=reg.key,
            action=action,
            community=museum.community.id,
            counterparty=counterparty,
            document=DOCUMENT,
            nonce=nonce,
            deadline=FAR_DEADLINE,
        )

    loan = custody(CUSTODY_LOAN, b"\x0b" * 32, 0)
    steward = Party(museum.community, sign_packed(loan, museum.signers(0, 1)))
    client.record_custody(
        reg.key, reg.record, CUSTODY_LOAN, b"\x0b" * 32, DOCUMENT, 0, FAR_DEADLINE, steward
    )
    assert client.custody_nonce(reg.key) == 1
    assert client.steward_override(reg.key) == ZERO
    reverts(
        "WrongNonce",
        lambda: client.record_custody(
            reg.key, reg.record, CUSTODY_LOAN, b"\x0b" * 32, DOCUMENT, 0, FAR_DEADLINE, steward
        ),
    )

    transfer = custody(CUSTODY_TRANSFER, tribe.community.id, 1)
    steward = Party(museum.community, sign_packed(transfer, museum.signers(1, 2)))
    # Without the receiving community's signatures the transfer fails.
    reverts(
        "NotEnoughSignatures",
        lambda: client.record_custody(
            reg.key,
            reg.record,
            CUSTODY_TRANSFER,
            tribe.community.id,
            DOCUMENT,
            1,
            FAR_DEADLINE,
            steward,
            Party(tribe.community, b""),
        ),
    )
    receiver = Party(tribe.community, sign_packed(transfer, tribe.signers(0, 1)))
    client.record_custody(
        reg.key,
        reg.record,
        CUSTODY_TRANSFER,
        tribe.community.id,
        DOCUMENT,
        1,
        FAR_DEADLINE,
        steward,
        receiver,
    )
    assert client.steward_of(reg.key, reg.record) == tribe.community.id
    reverts(
        "UnknownCustodyAction",
        lambda: client.record_custody(
            reg.key, reg.record, 9, tribe.community.id, DOCUMENT, 2, FAR_DEADLINE, steward
        ),
    )


def test_a_derivative_links_to_its_registered_parent(client: RegistryClient, museum: Keyed) -> None:
    parent = register(client, museum, "original")
    cid = cid_of("restored")
    method = METHOD
    steward = consenting(client, museum, parent.key, museum, cid, 1, 2, ai=True)
    derivative = derive_call(client, museum, parent, cid, steward, ai=True)()
    assert derivative.key == claim_of(museum.community.id, cid)
    assert derivative.record.kind == KIND_DERIVATIVE
    assert derivative.record.parent == parent.key
    assert client.record_hash(derivative.key) == derivative.record.digest()
    # The AI flag is bound into the record: the record with the flag cleared is not it.
    flipped = keccak(abi_encode(["bytes32", "bool"], [method, False]))
    cleared = dataclasses.replace(derivative.record, commitment=flipped)
    assert client.hash_record(cleared) == cleared.digest() != derivative.record.digest()
    reverts("RecordMismatch", lambda: client.steward_of(derivative.key, cleared))
    assert client.steward_of(derivative.key, derivative.record) == museum.community.id
    orphan = cid_of("orphan")
    error = reverts(
        "UnknownRecord",
        derive_call(
            client,
            museum,
            parent,
            orphan,
            consenting(client, museum, b"\x42" * 32, museum, orphan),
            parent_key=b"\x42" * 32,
        ),
    )
    assert error.error_args == {"key": "0x" + "42" * 32}


# ---- batches ---------------------------------------------------------------------------------


def test_batch_items_are_provable_and_one_can_be_revoked(
    client: RegistryClient, museum: Keyed
) -> None:
    tree, values = batch_of(7)
    batch = register_batch(client, museum, tree)
    key = batch_key_of(museum.community.id, tree.root)
    assert batch.key == key == client.batch_of(museum.community.id, tree.root)
    assert batch.record.kind == KIND_BATCH
    assert batch.record.commitment == MANIFEST  # the manifest digest is bound into the record
    assert client.find_record(key).commitment == MANIFEST
    assert client.record_hash(key) == batch.record.digest()
    assert not client.is_registered(tree.root)
    for i, (item, metadata, commitment) in enumerate(values):
        assert client.batch_leaf(item, metadata, commitment) == tree.leaf(i)
        assert client.is_batch_item(
            museum.community.id, tree.root, item, metadata, commitment, tree.proof(i)
        )
        # Only the community whose batch it is holds the item by that root.
        assert not client.is_batch_item(
            b"\x01" * 32, tree.root, item, metadata, commitment, tree.proof(i)
        )
    assert not client.is_batch_item(
        museum.community.id, tree.root, values[0][0], METADATA, b"\x01" * 32, tree.proof(0)
    )
    item, metadata, commitment = values[3]
    subject = item_subject_of(key, item)
    revoke = typed_data(
        client.domain(),
        "RevokeTerms",
        community=museum.community.id,
        subject=subject,
        version=1,
        deadline=FAR_DEADLINE,
    )
    client.revoke_batch_item(
        tree.root,
        batch.record,
        item,
        metadata,
        commitment,
        tree.proof(3),
        museum.community,
        1,
        FAR_DEADLINE,
        sign_packed(revoke, museum.signers(0, 2)),
    )
    assert client.batch_item_subject(key, item) == batch_item_subject(key, item) == subject
    assert client.terms_of(subject).revoked
    assert not client.terms_of(key).revoked
    assert not client.terms_of(item_subject_of(key, values[2][0])).revoked


def test_revoking_an_item_of_ones_own_batch_never_touches_another_registration_of_it(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    """Any community can put any content in a batch of its own; revoking that leaf must not
    revoke another community's claim on the same content."""
    theirs = register(client, tribe, "theirs")
    content = content_of(cid_of("theirs"))
    values = [(content, METADATA, ZERO), (content_of(cid_of("filler")), METADATA, ZERO)]
    tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
    batch = register_batch(client, museum, tree)
    # Signed over the tribe's claim key, the bare content key, or the leaf under the bare
    # root (what the contract used to take as the subject): refused, each.
    for wrong in (theirs.key, content, item_subject_of(tree.root, content)):
        bare = typed_data(
            client.domain(),
            "RevokeTerms",
            community=museum.community.id,
            subject=wrong,
            version=1,
            deadline=FAR_DEADLINE,
        )
        reverts(
            "SignerNotKeyholder",
            lambda b=bare: client.revoke_batch_item(  # type: ignore[misc]
                tree.root,
                batch.record,
                content,
                METADATA,
                ZERO,
                tree.proof(0),
                museum.community,
                1,
                FAR_DEADLINE,
                sign_packed(b, museum.signers(0, 1)),
            ),
        )
    subject = item_subject_of(batch.key, content)
    own = typed_data(
        client.domain(),
        "RevokeTerms",
        community=museum.community.id,
        subject=subject,
        version=1,
        deadline=FAR_DEADLINE,
    )
    client.revoke_batch_item(
        tree.root,
        batch.record,
        content,
        METADATA,
        ZERO,
        tree.proof(0),
        museum.community,
        1,
        FAR_DEADLINE,
        sign_packed(own, museum.signers(0, 1)),
    )
    assert client.terms_of(subject).revoked
    assert not client.terms_of(theirs.key).revoked  # the tribe's own claim stands
    assert client.steward_of(theirs.key, theirs.record) == tribe.community.id


@pytest.mark.parametrize("position", ["first", "last"])
def test_a_batch_revocation_with_a_bad_entry_first_or_last_fails_as_a_whole(
    client: RegistryClient, museum: Keyed, position: str
) -> None:
    tree, values = batch_of(8)
    batch = register_batch(client, museum, tree)
    key = batch_key_of(museum.community.id, tree.root)
    order = sorted(range(len(values)), key=lambda i: tree.tree_index[i])
    index = order[0] if position == "first" else order[-1]
    neighbour = order[1] if position == "first" else order[-2]
    item, metadata, commitment = values[index]
    revoke = typed_data(
        client.domain(),
        "RevokeTerms",
        community=museum.community.id,
        subject=item_subject_of(key, item),
        version=1,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(revoke, museum.signers(0, 1))
    for proof in (tree.proof(neighbour), tree.proof(index)[:-1], [], tree.proof(index)[::-1]):
        if proof == tree.proof(index):
            continue
        error = reverts(
            "InvalidProof",
            lambda p=proof: client.revoke_batch_item(  # type: ignore[misc]
                tree.root,
                batch.record,
                item,
                metadata,
                commitment,
                p,
                museum.community,
                1,
                FAR_DEADLINE,
                packed,
            ),
        )
        assert error.error_args["root"] == "0x" + tree.root.hex()
        assert error.error_args["leaf"] == "0x" + tree.leaf(index).hex()
    # A leaf with one wrong field, with its true proof, is not in the batch either.
    reverts(
        "InvalidProof",
        lambda: client.revoke_batch_item(
            tree.root,
            batch.record,
            item,
            b"\x00" * 31 + b"\x01",
            commitment,
            tree.proof(index),
            museum.community,
            1,
            FAR_DEADLINE,
            packed,
        ),
    )
    assert not client.terms_of(item_subject_of(key, item)).revoked
    client.revoke_batch_item(
        tree.root,
        batch.record,
        item,
        metadata,
        commitment,
        tree.proof(index),
        museum.community,
        1,
        FAR_DEADLINE,
        packed,
    )
    assert client.terms_of(item_subject_of(key, item)).revoked


def test_empty_and_duplicate_batches_are_refused(client: RegistryClient, museum: Keyed) -> None:
    tree, _ = batch_of(2)
    register_batch(client, museum, tree)
    error = reverts("AlreadyRegistered", lambda: register_batch(client, museum, tree))
    assert error.error_args == {"key": "0x" + batch_key_of(museum.community.id, tree.root).hex()}
    typed = typed_data(
        client.domain(),
        "RegisterBatch",
        community=museum.community.id,
        root=b"\x05" * 32,
        count=0,
        terms=TERMS,
        manifest=MANIFEST,
        deadline=FAR_DEADLINE,
    )
    reverts(
        "EmptyBatch",
        lambda: client.register_batch(
            museum.community,
            b"\x05" * 32,
            0,
            TERMS,
            MANIFEST,
            FAR_DEADLINE,
            sign_packed(typed, museum.signers(0, 1)),
        ),
    )


# ---- the client's own behaviour ---------------------------------------------------------------


def test_a_refused_call_sends_nothing_and_consumes_no_nonce(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    nonce = node.w3.eth.get_transaction_count(client.sender.address)
    reverts("NotEnoughSignatures", register_call(client, museum, cid_of("nothing"), b""))
    assert node.w3.eth.get_transaction_count(client.sender.address) == nonce
    assert client.journal.entries() == []
    register(client, museum, "after")  # the client's nonce is still right
    assert node.w3.eth.get_transaction_count(client.sender.address) == nonce + 1


def test_a_transaction_that_reverts_when_mined_is_decoded_too(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("mined-revert")
    typed = register_item_typed(client.domain(), museum, cid)
    call = Calls.register_item(
        museum.community,
        cid,
        METADATA,
        TERMS,
        ZERO,
        FAR_DEADLINE,
        sign_packed(typed, museum.signers(2)),
    )
    error = reverts("NotEnoughSignatures", lambda: client.transact(call, gas=300_000))
    assert error.tx_hash is not None
    receipt = node.w3.eth.get_transaction_receipt(HexBytes(error.tx_hash))
    assert receipt["status"] == 0
    [entry] = client.journal.entries()
    assert (entry.state, entry.tx_hash) == ("reverted", error.tx_hash)


def test_transact_many_sends_in_one_go_and_journals_each(
    client: RegistryClient, museum: Keyed
) -> None:
    domain = client.domain()
    calls = []
    for i in range(5):
        cid = cid_of(f"many-{i}")
        packed = sign_packed(register_item_typed(domain, museum, cid), museum.signers(0, 1))
        calls.append(
            Calls.register_item(museum.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed)
        )
    outcomes = client.transact_many(calls)
    assert [o.nonce for o in outcomes] == list(range(outcomes[0].nonce, outcomes[0].nonce + 5))
    assert all(
        client.is_registered(claim_of(museum.community.id, cid_of(f"many-{i}"))) for i in range(5)
    )
    assert {e.tx_hash for e in client.journal.entries()} == {o.tx_hash for o in outcomes}
    assert all(e.state == "confirmed" for e in client.journal.entries())


def test_unknown_revert_data_still_gives_a_typed_error(session_client: RegistryClient) -> None:
    decoder = RevertDecoder(session_client.artifact.abi)
    unknown = decoder.decode(bytes.fromhex("deadbeef") + bytes(32), function="registerItem")
    assert isinstance(unknown, RegistryReverted) and isinstance(unknown, ChainError)
    assert unknown.error_name == "Unknown" and unknown.selector == bytes.fromhex("deadbeef")
    reason = keccak(text="Error(string)")[:4] + abi_encode(["string"], ["no"])
    assert decoder.decode(reason, function="f").error_args == {"reason": "no"}
    short = decoder.decode(b"\x01", function="f")
    assert short.error_name == "Unknown"
    # Every custom error of the ABI is decodable by name.
    abi_errors = {e["name"] for e in session_client.artifact.abi if e.get("type") == "error"}
    assert abi_errors <= decoder.error_names()
    assert len(abi_errors) == 23


def test_the_batched_read_path_sends_without_nagle_delays(client: RegistryClient) -> None:
    """The read path's own HTTP connection writes headers and body in two sends; without
    TCP_NODELAY the second can wait for a delayed ACK (measured: 44 ms a request instead of
    0.13 ms for back-to-back reads on loopback)."""
    import socket

    head = client.head()
    assert head.number >= 0
    conn = transport_of(client.w3)._local.conn
    assert conn is not None and conn.sock is not None
    assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_requests_sent_ahead_are_answered_in_order_whatever_comes_between(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    """A head request sent ahead (its answer read later), then a read of records and
    transactions sent while it is pending, then a plain call: each answer is its own. The
    connection carries one request at a time, so the pending answer is read (and kept) before
    the next request goes out."""
    cid = cid_of("ahead")
    typed = register_item_typed(client.domain(), museum, cid)
    outcome = client.transact(
        Calls.register_item(museum.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE,
                            sign_packed(typed, museum.signers(0, 1)))
    )
    block = node.w3.eth.block_number
    head_later = client.head_begin()
    claim = claim_of(museum.community.id, cid)
    never = claim_of(museum.community.id, cid_of("never"))
    reads_later = client.read_many_begin([claim, never], [outcome.tx_hash], block=block)
    assert client.chain_id() == node.w3.eth.chain_id  # through the provider, between them
    plain_head = client.head()  # a third request on the same connection
    reads = reads_later()
    head = head_later()
    assert (head.number, head.hash) == (plain_head.number, plain_head.hash) == (
        block, bytes(node.w3.eth.get_block(block)["hash"])
    )
    assert reads.records[claim] == client.record_hash(claim) != ZERO
    assert reads.records[never] == ZERO
    raw = bytes(node.w3.eth.get_raw_transaction(HexBytes(outcome.tx_hash)))
    assert reads.raw_transactions == {outcome.tx_hash: raw}
    # Read again: the transaction comes from memory, and only the records are asked for.
    assert client.known_raw_transaction(outcome.tx_hash) == raw
    assert client.read_many([], [outcome.tx_hash], block=block).raw_transactions == {
        outcome.tx_hash: raw
    }


def test_a_connection_the_node_closed_is_replaced_for_a_request_sent_ahead(
    client: RegistryClient,
) -> None:
    client.head()
    plain = transport_of(client.w3)
    plain._local.conn.sock.close()  # as a node closes an idle kept-alive connection
    later = client.head_begin()
    assert later().number == client.head().number


def test_a_request_sent_ahead_to_no_chain_fails_when_its_answer_is_read(
    node: Node, tmp_path: Path
) -> None:
    from ledger.chain import TxJournal, connect
    from ledger.errors import ChainUnavailable
    from tests.chain_support import free_port

    nowhere = RegistryClient(
        connect(f"http://127.0.0.1:{free_port()}"),
        node.deployment.registry_address,
        Account.create(),
        TxJournal(tmp_path / "journal", fsync=False),
    )
    later = nowhere.head_begin()  # nothing is raised while sending
    with pytest.raises(ChainUnavailable, match="no chain answers"):
        later()
