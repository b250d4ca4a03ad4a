"""Claims: a registration is (community, content). Any number of communities claim the same
CID or the same Merkle root, none can block or act on another's claim, and a derivative needs
the consent of its parent claim's current steward (issue 10). Against the session's anvil;
every key expected here is computed from its definition (tests/ledger/chain/conftest.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from ledger import consent
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_TRANSFER,
    KIND_DERIVATIVE,
    Call,
    Calls,
    Party,
    Registration,
    RegistryClient,
)
from ledger.errors import RegistryReverted
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from tests.ledger.chain.client_support import (
    METHOD,
    consent_typed,
    consenting,
    derivative_typed,
    derive_call,
    register,
    register_batch,
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
    create_community,
    item_subject_of,
    register_item_typed,
    sign_packed,
    typed_data,
)

ITEM_REGISTERED = keccak(
    text="ItemRegistered(bytes32,bytes32,bytes32,bytes,bytes32,bytes32,bytes32,address)"
)
BATCH_REGISTERED = keccak(
    text="BatchRegistered(bytes32,bytes32,bytes32,uint32,bytes32,bytes32,address)"
)
DERIVATIVE_REGISTERED = keccak(
    text="DerivativeRegistered(bytes32,bytes32,bytes32,bytes32,bytes32,bytes,bytes32,bytes32,"
    "bytes32,bool,address)"
)


def topics(node: Node, registration: Registration) -> list[tuple[bytes, ...]]:
    """The topics of every log of a registration's transaction."""
    receipt = node.w3.eth.get_transaction_receipt(HexBytes(registration.outcome.tx_hash))
    return [tuple(bytes(t) for t in log["topics"]) for log in receipt["logs"]]


def logs_by_topic(
    node: Node, client: RegistryClient, signature: bytes, at: int, value: bytes
) -> Any:
    """The registry's logs of one event whose indexed topic ``at`` (1..3) is ``value``."""
    wanted: list[Any] = [HexBytes(signature), None, None, None]
    wanted[at] = HexBytes(value)
    return node.w3.eth.get_logs(
        {"address": client.address, "fromBlock": 0, "toBlock": "latest", "topics": wanted}
    )


def revoke(client: RegistryClient, keyed: Keyed, reg: Registration, version: int = 1) -> None:
    typed = typed_data(
        client.domain(),
        "RevokeTerms",
        community=keyed.community.id,
        subject=reg.key,
        version=version,
        deadline=FAR_DEADLINE,
    )
    client.revoke_terms(
        reg.key,
        reg.record,
        keyed.community,
        version,
        FAR_DEADLINE,
        sign_packed(typed, keyed.signers(0, 1)),
    )


def custody_typed(
    client: RegistryClient,
    item: bytes,
    action: int,
    steward: Keyed,
    counterparty: bytes,
    nonce: int,
) -> Any:
    return typed_data(
        client.domain(),
        "RecordCustody",
        item=item,
        action=action,
        community=steward.community.id,
        counterparty=counterparty,
        document=DOCUMENT,
        nonce=nonce,
        deadline=FAR_DEADLINE,
    )


def transfer(
    client: RegistryClient, reg: Registration, steward: Keyed, receiver: Keyed, nonce: int = 0
) -> None:
    """Move the stewardship of ``reg`` from ``steward`` to ``receiver`` (both sign)."""
    typed = custody_typed(client, reg.key, CUSTODY_TRANSFER, steward, receiver.community.id, nonce)
    client.record_custody(
        reg.key,
        reg.record,
        CUSTODY_TRANSFER,
        receiver.community.id,
        DOCUMENT,
        nonce,
        FAR_DEADLINE,
        Party(steward.community, sign_packed(typed, steward.signers(0, 1))),
        Party(receiver.community, sign_packed(typed, receiver.signers(0, 1))),
    )


# ---- two communities, one CID -----------------------------------------------------------------


def test_two_communities_claim_the_same_cid_and_each_claim_is_its_own(
    node: Node, client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    cid = cid_of("shared")
    first = register(client, tribe, "shared")
    second = register(client, museum, "shared")  # no obstacle: another community's claim
    assert (
        first.key == claim_of(tribe.community.id, cid) == client.claim_of(tribe.community.id, cid)
    )
    assert second.key == claim_of(museum.community.id, cid)
    assert second.key == client.claim_of(museum.community.id, cid) != first.key
    assert client.record_hash(first.key) == first.record.digest()
    assert client.record_hash(second.key) == second.record.digest()
    assert first.record.community == tribe.community.id
    assert second.record.community == museum.community.id
    # Each ItemRegistered carries (claim, community, content) as its topics …
    content = content_of(cid)
    assert topics(node, first) == [(ITEM_REGISTERED, first.key, tribe.community.id, content)]
    assert topics(node, second) == [(ITEM_REGISTERED, second.key, museum.community.id, content)]
    # … so every claim on the CID is found by the content topic, in chain order.
    found = logs_by_topic(node, client, ITEM_REGISTERED, 3, content)
    assert [bytes(log["topics"][1]) for log in found] == [first.key, second.key]

    # A revocation of one claim leaves the other's terms as they were.
    revoke(client, museum, second)
    assert client.terms_of(second.key).revoked
    untouched = client.terms_of(first.key)
    assert (untouched.version, untouched.revoked, untouched.updated_at) == (1, False, 0)
    # New terms for the tribe's claim leave the museum's revocation standing.
    typed = typed_data(
        client.domain(),
        "SetTerms",
        community=tribe.community.id,
        subject=first.key,
        version=2,
        terms=b"\x5e" * 32,
        deadline=FAR_DEADLINE,
    )
    client.set_terms(
        first.key,
        first.record,
        tribe.community,
        2,
        b"\x5e" * 32,
        FAR_DEADLINE,
        sign_packed(typed, tribe.signers(0, 1)),
    )
    assert client.terms_of(first.key).terms == b"\x5e" * 32
    assert client.terms_of(second.key).revoked and client.terms_of(second.key).version == 1


def test_custody_of_one_claim_never_moves_another_communitys_claim(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    mine = register(client, museum, "moved")
    theirs = register(client, tribe, "moved")
    third = create_community(client, "third", 2, 2)
    transfer(client, mine, museum, third)
    assert client.steward_of(mine.key, mine.record) == third.community.id
    assert client.steward_override(mine.key) == third.community.id
    assert client.custody_nonce(mine.key) == 1
    assert client.steward_of(theirs.key, theirs.record) == tribe.community.id
    assert client.steward_override(theirs.key) == ZERO
    assert client.custody_nonce(theirs.key) == 0
    # A loan of the tribe's claim consumes its own nonce only.
    loan = custody_typed(client, theirs.key, CUSTODY_LOAN, tribe, b"\x0b" * 32, 0)
    client.record_custody(
        theirs.key,
        theirs.record,
        CUSTODY_LOAN,
        b"\x0b" * 32,
        DOCUMENT,
        0,
        FAR_DEADLINE,
        Party(tribe.community, sign_packed(loan, tribe.signers(0, 1))),
    )
    assert (client.custody_nonce(theirs.key), client.custody_nonce(mine.key)) == (1, 1)


def test_no_community_acts_on_anothers_claim_on_the_same_content(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    theirs = register(client, tribe, "not yours")
    mine = register(client, museum, "not yours")
    # The museum's keyholders, as the museum, on the tribe's claim: not its steward.
    typed = typed_data(
        client.domain(),
        "RevokeTerms",
        community=museum.community.id,
        subject=theirs.key,
        version=1,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(typed, museum.signers(0, 1))
    error = reverts(
        "KeyholdersMismatch",
        lambda: client.revoke_terms(
            theirs.key, theirs.record, museum.community, 1, FAR_DEADLINE, packed
        ),
    )
    assert error.error_args == {"community": "0x" + tribe.community.id.hex()}
    # Nor with its own record passed for the tribe's key: the stored digest is the tribe's.
    reverts(
        "RecordMismatch",
        lambda: client.revoke_terms(
            theirs.key, mine.record, museum.community, 1, FAR_DEADLINE, packed
        ),
    )
    assert not client.terms_of(theirs.key).revoked


def test_a_communitys_second_claim_on_the_same_content_is_refused_by_its_claim_key(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    register(client, museum, "once")
    register(client, tribe, "once")
    error = reverts("AlreadyRegistered", lambda: register(client, museum, "once", 1, 2))
    assert error.error_args == {"key": "0x" + claim_of(museum.community.id, cid_of("once")).hex()}
    error = reverts("AlreadyRegistered", lambda: register(client, tribe, "once"))
    assert error.error_args == {"key": "0x" + claim_of(tribe.community.id, cid_of("once")).hex()}


def test_a_claim_is_not_made_with_another_communitys_signatures(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    """The tribe's signatures over its own RegisterItem do not register the museum's claim,
    and the museum's over the museum's claim are not a claim for the tribe."""
    cid = cid_of("whose")
    tribe_signed = sign_packed(
        register_item_typed(client.domain(), tribe, cid), tribe.signers(0, 1)
    )
    error = reverts(
        "SignerNotKeyholder",
        lambda: client.register_item(
            museum.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, tribe_signed
        ),
    )
    assert error.error_args["index"] == 0
    assert not client.is_registered(claim_of(museum.community.id, cid))


# ---- two communities, one Merkle root ---------------------------------------------------------


def shared_tree() -> tuple[StandardMerkleTree, list[tuple[bytes, bytes, bytes]]]:
    values = [(content_of(cid_of(f"shared-batch-{i}")), METADATA, ZERO) for i in range(5)]
    return StandardMerkleTree.of(values, BATCH_LEAF_TYPES), values


def revoke_leaf(
    client: RegistryClient,
    keyed: Keyed,
    tree: StandardMerkleTree,
    batch: Registration,
    index: int,
) -> bytes:
    content, metadata, commitment = tree.values[index]
    subject = item_subject_of(batch.key, content)
    typed = typed_data(
        client.domain(),
        "RevokeTerms",
        community=keyed.community.id,
        subject=subject,
        version=1,
        deadline=FAR_DEADLINE,
    )
    client.revoke_batch_item(
        tree.root,
        batch.record,
        content,
        metadata,
        commitment,
        tree.proof(index),
        keyed.community,
        1,
        FAR_DEADLINE,
        sign_packed(typed, keyed.signers(0, 1)),
    )
    return subject


def test_two_communities_register_batches_with_the_same_root(
    node: Node, client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    tree, values = shared_tree()
    theirs = register_batch(client, tribe, tree)
    mine = register_batch(client, museum, tree)
    assert theirs.key == batch_key_of(tribe.community.id, tree.root)
    assert mine.key == batch_key_of(museum.community.id, tree.root) != theirs.key
    assert client.batch_of(tribe.community.id, tree.root) == theirs.key
    assert client.batch_of(museum.community.id, tree.root) == mine.key
    assert client.record_hash(theirs.key) == theirs.record.digest()
    assert client.record_hash(mine.key) == mine.record.digest()
    assert topics(node, theirs) == [(BATCH_REGISTERED, theirs.key, tribe.community.id, tree.root)]
    assert topics(node, mine) == [(BATCH_REGISTERED, mine.key, museum.community.id, tree.root)]
    found = logs_by_topic(node, client, BATCH_REGISTERED, 3, tree.root)
    assert [bytes(log["topics"][1]) for log in found] == [theirs.key, mine.key]
    for i, leaf in enumerate(values):
        for keyed in (museum, tribe):
            assert client.is_batch_item(keyed.community.id, tree.root, *leaf, tree.proof(i))

    # The museum revokes one of its leaves: the tribe's same leaf stays as registered.
    subject = revoke_leaf(client, museum, tree, mine, 2)
    assert subject == client.batch_item_subject(mine.key, values[2][0])
    other = item_subject_of(theirs.key, values[2][0])
    assert other == client.batch_item_subject(theirs.key, values[2][0]) != subject
    assert client.terms_of(subject).revoked
    assert not client.terms_of(other).revoked and client.terms_of(other).version == 1
    assert not client.terms_of(theirs.key).revoked
    # The tribe can still revoke its own, once; the museum's is not revoked again by it.
    assert revoke_leaf(client, tribe, tree, theirs, 2) == other
    assert client.terms_of(other).revoked
    error = reverts("AlreadyRevoked", lambda: revoke_leaf(client, museum, tree, mine, 2))
    assert error.error_args == {"subject": "0x" + subject.hex(), "version": 1}


def test_a_batch_item_is_revoked_only_through_its_own_communitys_batch_record(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    tree, values = shared_tree()
    theirs = register_batch(client, tribe, tree)
    mine = register_batch(client, museum, tree)
    content, metadata, commitment = values[0]
    # The museum signs for the tribe's subject and passes the tribe's record: the steward of
    # that batch is the tribe, whose keyholders the museum's are not.
    typed = typed_data(
        client.domain(),
        "RevokeTerms",
        community=museum.community.id,
        subject=item_subject_of(theirs.key, content),
        version=1,
        deadline=FAR_DEADLINE,
    )
    error = reverts(
        "KeyholdersMismatch",
        lambda: client.revoke_batch_item(
            tree.root,
            theirs.record,
            content,
            metadata,
            commitment,
            tree.proof(0),
            museum.community,
            1,
            FAR_DEADLINE,
            sign_packed(typed, museum.signers(0, 1)),
        ),
    )
    assert error.error_args == {"community": "0x" + tribe.community.id.hex()}
    # With its own batch record, the subject the museum revokes is its own leaf's, derived
    # from the record's community: signatures over the tribe's subject do not fit it.
    error = reverts(
        "SignerNotKeyholder",
        lambda: client.revoke_batch_item(
            tree.root,
            mine.record,
            content,
            metadata,
            commitment,
            tree.proof(0),
            museum.community,
            1,
            FAR_DEADLINE,
            sign_packed(typed, museum.signers(0, 1)),
        ),
    )
    assert error.error_args["index"] == 0
    # The tribe's record under another community's name names a batch nobody registered.
    forged = dataclasses.replace(theirs.record, community=b"\x0f" * 32)
    error = reverts(
        "UnknownRecord",
        lambda: client.revoke_batch_item(
            tree.root,
            forged,
            content,
            metadata,
            commitment,
            tree.proof(0),
            museum.community,
            1,
            FAR_DEADLINE,
            sign_packed(typed, museum.signers(0, 1)),
        ),
    )
    assert error.error_args == {"key": "0x" + batch_key_of(b"\x0f" * 32, tree.root).hex()}
    assert not client.terms_of(item_subject_of(theirs.key, content)).revoked


def test_a_communitys_second_batch_of_a_root_is_refused_by_its_batch_key(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    tree, _ = shared_tree()
    register_batch(client, museum, tree)
    register_batch(client, tribe, tree)
    error = reverts("AlreadyRegistered", lambda: register_batch(client, tribe, tree))
    assert error.error_args == {"key": "0x" + batch_key_of(tribe.community.id, tree.root).hex()}


# ---- derivatives and the parent steward's consent ---------------------------------------------


def derivative_event(node: Node, reg: Registration) -> tuple[tuple[bytes, ...], tuple[Any, ...]]:
    receipt = node.w3.eth.get_transaction_receipt(HexBytes(reg.outcome.tx_hash))
    [log] = receipt["logs"]
    fields = abi_decode(
        ["bytes32", "bytes32", "bytes", "bytes32", "bytes32", "bytes32", "bool", "address"],
        bytes(log["data"]),
    )
    return tuple(bytes(t) for t in log["topics"]), tuple(fields)


def test_a_derivative_of_another_communitys_claim_with_its_consent(
    node: Node, client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, tribe, "their original")
    cid = cid_of("our restoration")
    steward = consenting(client, tribe, parent.key, museum, cid, 0, 1, ai=True)
    derivative = derive_call(client, museum, parent, cid, steward, ai=True)()
    assert derivative.key == claim_of(museum.community.id, cid)
    assert derivative.record.community == museum.community.id  # the deriving community's claim
    assert derivative.record.parent == parent.key and derivative.record.kind == KIND_DERIVATIVE
    assert client.record_hash(derivative.key) == derivative.record.digest()
    assert client.steward_of(derivative.key, derivative.record) == museum.community.id
    event_topics, fields = derivative_event(node, derivative)
    assert event_topics == (DERIVATIVE_REGISTERED, derivative.key, parent.key, content_of(cid))
    community, parent_steward, event_cid, _, _, method, ai, _ = fields
    assert (community, parent_steward, event_cid, method, ai) == (
        museum.community.id,
        tribe.community.id,
        cid,
        METHOD,
        True,
    )
    # The tribe's own claim on the parent is untouched by the derivative.
    assert client.steward_of(parent.key, parent.record) == tribe.community.id
    assert not client.terms_of(parent.key).revoked


def test_a_derivative_of_a_communitys_own_claim_is_signed_twice_by_its_keyholders(
    node: Node, client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, museum, "our original")
    cid = cid_of("our reconstruction")
    # The museum's keyholders sign RegisterDerivative (0, 1) and ConsentDerivative (1, 2).
    own = consenting(client, museum, parent.key, museum, cid, 1, 2)
    # Its RegisterDerivative signatures do not stand in for ConsentDerivative.
    register_typed = typed_data(
        client.domain(),
        "RegisterDerivative",
        community=museum.community.id,
        parent=parent.key,
        cid=cid,
        metadata=METADATA,
        terms=TERMS,
        method=METHOD,
        aiEnhanced=False,
        deadline=FAR_DEADLINE,
    )
    swapped = Party(museum.community, sign_packed(register_typed, museum.signers(0, 1)))
    error = reverts("SignerNotKeyholder", derive_call(client, museum, parent, cid, swapped))
    assert error.error_args["index"] == 0
    derivative = derive_call(client, museum, parent, cid, own)()
    _, fields = derivative_event(node, derivative)
    assert fields[:2] == (museum.community.id, museum.community.id)
    # The tribe claims the same derivative CID as a derivative of the museum's claim too,
    # with the museum's consent to *it*: a claim of its own.
    tribe_steward = consenting(client, museum, parent.key, tribe, cid, 0, 2)
    theirs = derive_call(client, tribe, parent, cid, tribe_steward)()
    assert theirs.key == claim_of(tribe.community.id, cid) != derivative.key
    # A derivative of a derivative: its parent steward is the derivative's steward.
    grandchild = cid_of("grandchild")
    steward = consenting(client, tribe, theirs.key, museum, grandchild, 0, 1)
    assert derive_call(client, museum, theirs, grandchild, steward)().record.parent == theirs.key


def test_a_derivative_without_its_parents_consent_is_refused(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, tribe, "unconsented")
    cid = cid_of("unconsented copy")
    call = derive_call(client, museum, parent, cid, Party(tribe.community, b""))
    error = reverts("NotEnoughSignatures", call)
    assert error.error_args == {"given": 0, "required": 2}
    # One of the tribe's two signatures is not enough.
    one = consenting(client, tribe, parent.key, museum, cid, 1)
    error = reverts("NotEnoughSignatures", derive_call(client, museum, parent, cid, one))
    assert error.error_args == {"given": 1, "required": 2}
    # The deriving community consenting for itself to another's claim: not the steward.
    self_consent = consenting(client, museum, parent.key, museum, cid, 0, 1)
    error = reverts("KeyholdersMismatch", derive_call(client, museum, parent, cid, self_consent))
    assert error.error_args == {"community": "0x" + tribe.community.id.hex()}
    # … nor with its signatures passed as the tribe's.
    as_tribe = Party(tribe.community, self_consent.signatures)
    error = reverts("SignerNotKeyholder", derive_call(client, museum, parent, cid, as_tribe))
    assert error.error_args["index"] == 0
    # An absent parent steward (no keyholders): the tribe's configuration does not match.
    reverts("KeyholdersMismatch", derive_call(client, museum, parent, cid, Party.absent()))
    assert not client.is_registered(claim_of(museum.community.id, cid))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("parent", b"\x01" * 32),
        ("community", b"\x02" * 32),
        ("cid", b"\x01\x55\x12\x20" + b"\x03" * 32),
        ("method", b"\x04" * 32),
        ("aiEnhanced", True),
        ("deadline", FAR_DEADLINE - 1),
        ("domain:chainId", 1),
        ("domain:verifyingContract", "0x" + "05" * 20),
    ],
)
def test_a_consent_signed_over_any_other_value_is_refused(
    client: RegistryClient, museum: Keyed, tribe: Keyed, field: str, value: Any
) -> None:
    parent = register(client, tribe, "exact consent")
    cid = cid_of("exact consent copy")
    good = consent_typed(client.domain(), parent.key, museum, cid)
    if field.startswith("domain:"):
        domain = client.domain()
        if field == "domain:chainId":
            domain = dataclasses.replace(domain, chain_id=value)
        else:
            domain = dataclasses.replace(domain, verifying_contract=value)
        altered = typed_data(domain, "ConsentDerivative", **good.message)
    else:
        assert good.message[field] != value
        altered = typed_data(good.domain, "ConsentDerivative", **{**good.message, field: value})
    steward = Party(tribe.community, sign_packed(altered, tribe.signers(0, 1)))
    error = reverts("SignerNotKeyholder", derive_call(client, museum, parent, cid, steward))
    assert error.error_args["index"] == 0
    # The same signers over the exact message are accepted.
    steward = Party(tribe.community, sign_packed(good, tribe.signers(0, 1)))
    assert derive_call(client, museum, parent, cid, steward)().key == claim_of(
        museum.community.id, cid
    )


def test_a_consent_to_a_human_made_derivative_does_not_cover_an_ai_one(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, tribe, "no ai")
    cid = cid_of("no ai copy")
    human = consenting(client, tribe, parent.key, museum, cid, 0, 1, ai=False)
    reverts("SignerNotKeyholder", derive_call(client, museum, parent, cid, human, ai=True))
    other_method = consenting(client, tribe, parent.key, museum, cid, method=b"\x06" * 32)
    reverts("SignerNotKeyholder", derive_call(client, museum, parent, cid, other_method))
    assert derive_call(client, museum, parent, cid, human, ai=False)().key == claim_of(
        museum.community.id, cid
    )


def test_a_batch_is_no_parent(client: RegistryClient, museum: Keyed, tribe: Keyed) -> None:
    tree, _ = shared_tree()
    batch = register_batch(client, tribe, tree)
    cid = cid_of("child of a batch")
    steward = consenting(client, tribe, batch.key, museum, cid, 0, 1)
    error = reverts("UnknownRecord", derive_call(client, museum, batch, cid, steward))
    assert error.error_args == {"key": "0x" + batch.key.hex()}


def test_a_parent_record_that_is_not_the_stored_one_is_refused(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, tribe, "record of the parent")
    decoy = register(client, museum, "record of the parent")  # the same content, the museum's
    cid = cid_of("record child")
    # The museum's own claim on the same content passed as the record of the tribe's claim.
    steward = consenting(client, museum, parent.key, museum, cid, 0, 1)
    misrecorded = dataclasses.replace(parent, record=decoy.record)
    error = reverts(
        "RecordMismatch",
        derive_call(client, museum, misrecorded, cid, steward, parent_key=parent.key),
    )
    assert error.error_args == {"key": "0x" + parent.key.hex()}


def test_after_a_transfer_the_parents_new_steward_consents_and_the_old_one_cannot(
    node: Node, client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, museum, "moving parent")
    third = create_community(client, "deriver", 2, 2)
    cid = cid_of("after the move")
    old = consenting(client, museum, parent.key, third, cid, 0, 1)
    mark = node.rpc("evm_snapshot")
    derive_call(client, third, parent, cid, old)()  # good before the move
    assert node.rpc("evm_revert", mark) is True
    client.resync_nonce()
    transfer(client, parent, museum, tribe)
    error = reverts("KeyholdersMismatch", derive_call(client, third, parent, cid, old))
    assert error.error_args == {"community": "0x" + tribe.community.id.hex()}
    # The old steward's signatures presented as the new steward's are not its keyholders'.
    as_tribe = Party(tribe.community, old.signatures)
    reverts("SignerNotKeyholder", derive_call(client, third, parent, cid, as_tribe))
    new = consenting(client, tribe, parent.key, third, cid, 0, 1)
    derivative = derive_call(client, third, parent, cid, new)()
    _, fields = derivative_event(node, derivative)
    assert fields[:2] == (third.community.id, tribe.community.id)
    # The registering community of the parent is still the museum; its steward is the tribe.
    assert parent.record.community == museum.community.id

    # Repatriated back: the museum consents again, the tribe no longer can.
    back = custody_typed(client, parent.key, CUSTODY_REPATRIATION, tribe, museum.community.id, 1)
    client.record_custody(
        parent.key,
        parent.record,
        CUSTODY_REPATRIATION,
        museum.community.id,
        DOCUMENT,
        1,
        FAR_DEADLINE,
        Party(tribe.community, sign_packed(back, tribe.signers(0, 1))),
        Party(museum.community, sign_packed(back, museum.signers(0, 2))),
    )
    later = cid_of("after the return")
    stale = consenting(client, tribe, parent.key, third, later, 0, 1)
    reverts("KeyholdersMismatch", derive_call(client, third, parent, later, stale))
    fresh = consenting(client, museum, parent.key, third, later, 0, 2)
    assert derive_call(client, third, parent, later, fresh)().record.parent == parent.key


def test_after_a_rotation_the_parent_stewards_old_keyholders_cannot_consent(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    from tests.ledger.chain.conftest import new_keys

    parent = register(client, tribe, "rotating parent")
    cid = cid_of("rotation child")
    old = consenting(client, tribe, parent.key, museum, cid, 0, 1)
    fresh = new_keys(2)
    rotate = typed_data(
        client.domain(),
        "RotateKeyholders",
        community=tribe.community.id,
        keyholders=[a.address for a in fresh],
        threshold=2,
        document=DOCUMENT,
        nonce=0,
        deadline=FAR_DEADLINE,
    )
    rotated, _ = client.rotate_keyholders(
        tribe.community,
        [a.address for a in fresh],
        2,
        DOCUMENT,
        0,
        FAR_DEADLINE,
        sign_packed(rotate, tribe.signers(0, 1)),
    )
    reverts("KeyholdersMismatch", derive_call(client, museum, parent, cid, old))
    reverts(
        "SignerNotKeyholder",
        derive_call(client, museum, parent, cid, Party(rotated, old.signatures)),
    )
    new_tribe = Keyed(rotated, tuple(fresh))
    steward = consenting(client, new_tribe, parent.key, museum, cid, 0, 1)
    assert derive_call(client, museum, parent, cid, steward)().record.parent == parent.key


def test_a_communitys_second_derivative_claim_on_a_cid_is_refused(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    parent = register(client, tribe, "twice derived")
    cid = cid_of("twice derived copy")
    steward = consenting(client, tribe, parent.key, museum, cid, 0, 1)
    derive_call(client, museum, parent, cid, steward)()
    error = reverts("AlreadyRegistered", derive_call(client, museum, parent, cid, steward))
    assert error.error_args == {"key": "0x" + claim_of(museum.community.id, cid).hex()}
    # The museum's derivative claim also blocks a plain claim of that CID by the museum …
    reverts("AlreadyRegistered", lambda: register(client, museum, "twice derived copy"))
    # … but not the tribe's.
    assert register(client, tribe, "twice derived copy").key == claim_of(tribe.community.id, cid)


# ---- the signature negative matrix, on the new keys and on ConsentDerivative ------------------

N = consent.SECP256K1_N


@dataclass(frozen=True, slots=True)
class Target:
    """A signed action under test: what ``keyed`` signs, and the call carrying ``packed``."""

    typed: consent.TypedData
    keyed: Keyed
    other: Keyed  # another community, whose keyholders are no signers here
    call: Callable[[bytes], Call]


def _target(name: str, client: RegistryClient, museum: Keyed, tribe: Keyed) -> Target:
    domain = client.domain()
    if name in ("ConsentDerivative/other", "ConsentDerivative/own", "RegisterDerivative"):
        steward = museum if name == "ConsentDerivative/own" else tribe
        parent = register(client, steward, "matrix parent")
        cid = cid_of("matrix child")
        derive = derivative_typed(domain, museum, parent.key, cid)
        agree = consent_typed(domain, parent.key, museum, cid)
        derive_packed = sign_packed(derive, museum.signers(0, 1))
        agree_packed = sign_packed(agree, steward.signers(0, 1))

        def derivative(deriver: bytes, consent_: bytes) -> Call:
            return Calls.register_derivative(
                museum.community,
                parent.key,
                cid,
                METADATA,
                TERMS,
                METHOD,
                False,
                FAR_DEADLINE,
                deriver,
                parent.record,
                Party(steward.community, consent_),
            )

        if name == "RegisterDerivative":
            return Target(derive, museum, tribe, lambda p: derivative(p, agree_packed))
        other = tribe if steward is museum else museum
        return Target(agree, steward, other, lambda p: derivative(derive_packed, p))
    if name == "RevokeTerms/batch item":
        tree, values = shared_tree()
        register_batch(client, tribe, tree)
        batch = register_batch(client, museum, tree)
        content, metadata, commitment = values[1]
        typed = typed_data(
            domain,
            "RevokeTerms",
            community=museum.community.id,
            subject=item_subject_of(batch.key, content),
            version=1,
            deadline=FAR_DEADLINE,
        )
        return Target(
            typed,
            museum,
            tribe,
            lambda p: Calls.revoke_batch_item(
                tree.root,
                batch.record,
                content,
                metadata,
                commitment,
                tree.proof(1),
                museum.community,
                1,
                FAR_DEADLINE,
                p,
            ),
        )
    if name == "SetTerms/shared claim":
        register(client, tribe, "matrix shared")
        claim = register(client, museum, "matrix shared")
        typed = typed_data(
            domain,
            "SetTerms",
            community=museum.community.id,
            subject=claim.key,
            version=2,
            terms=b"\x5e" * 32,
            deadline=FAR_DEADLINE,
        )
        return Target(
            typed,
            museum,
            tribe,
            lambda p: Calls.set_terms(
                claim.key, claim.record, museum.community, 2, b"\x5e" * 32, FAR_DEADLINE, p
            ),
        )
    assert name == "RegisterItem/claimed elsewhere"
    register(client, tribe, "matrix claimed")
    cid = cid_of("matrix claimed")
    typed = register_item_typed(domain, museum, cid)
    return Target(
        typed,
        museum,
        tribe,
        lambda p: Calls.register_item(
            museum.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, p
        ),
    )


TARGETS = [
    "ConsentDerivative/other",
    "ConsentDerivative/own",
    "RegisterDerivative",
    "RevokeTerms/batch item",
    "SetTerms/shared claim",
    "RegisterItem/claimed elsewhere",
]


def _twin(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def _damaged(shape: str, t: Target) -> tuple[bytes, str, dict[str, Any]]:
    """Signatures of ``t`` damaged as ``shape`` says, with the error the registry must give."""
    first, second = (consent.sign(t.typed, bytes(a.key)) for a in t.keyed.signers(0, 1))
    signer0, signer1 = (a.address for a in t.keyed.signers(0, 1))
    if shape == "high s":
        return first + _twin(second), "SignatureHighS", {"index": 1}
    if shape == "64 bytes":
        return first + second[:64], "InvalidSignatureLength", {"length": 129}
    if shape == "66 bytes":
        return first + second + b"\x00", "InvalidSignatureLength", {"length": 131}
    if shape == "bad v":
        return first[:64] + b"\x1d" + second, "SignatureBadV", {"index": 0, "v": 29}
    if shape == "zero address":
        zero = (0).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b"
        return zero + second, "SignatureInvalid", {"index": 0}
    if shape == "non-keyholder":
        outsider = Account.create()
        packed = consent.pack_signatures(
            [(signer0, first), (outsider.address, consent.sign(t.typed, bytes(outsider.key)))]
        )
        index = 1 if int(outsider.address, 16) > int(signer0, 16) else 0
        return packed, "SignerNotKeyholder", {"index": index, "signer": outsider.address}
    if shape == "another community's keyholders":
        packed = sign_packed(t.typed, t.other.signers(0, 1))
        signer = t.other.signers(0, 1)[0].address
        return packed, "SignerNotKeyholder", {"index": 0, "signer": signer}
    if shape == "repeated":
        return second + second, "SignerNotKeyholder", {"index": 1, "signer": signer1}
    if shape == "unsorted":
        return second + first, "SignerNotKeyholder", {"index": 1, "signer": signer0}
    if shape == "below threshold":
        return second, "NotEnoughSignatures", {"given": 1, "required": 2}
    if shape == "none":
        return b"", "NotEnoughSignatures", {"given": 0, "required": 2}
    assert shape == "another action"
    # The same keyholders' signatures over a different action with the same community.
    other = typed_data(
        t.typed.domain,
        "RevokeTerms",
        community=t.keyed.community.id,
        subject=keccak(b"another action"),
        version=1,
        deadline=FAR_DEADLINE,
    )
    packed = sign_packed(other, t.keyed.signers(0, 1))
    return packed, "SignerNotKeyholder", {"index": 0}


SHAPES = [
    "high s",
    "64 bytes",
    "66 bytes",
    "bad v",
    "zero address",
    "non-keyholder",
    "another community's keyholders",
    "repeated",
    "unsorted",
    "below threshold",
    "none",
    "another action",
]


@pytest.mark.parametrize("target", TARGETS)
def test_the_signature_matrix_on_claims_batches_and_derivative_consent(
    client: RegistryClient, museum: Keyed, tribe: Keyed, target: str
) -> None:
    """Every damaged signature set is refused by the registry with its named error and by
    Python's mirror of the check; the undamaged set is accepted by both."""
    t = _target(target, client, museum, tribe)
    keyholders, threshold = t.keyed.community.keyholders, t.keyed.community.threshold
    for shape in SHAPES:
        packed, name, args = _damaged(shape, t)
        with pytest.raises(RegistryReverted) as caught:
            client.simulate(t.call(packed))
        assert caught.value.error_name == name, (shape, caught.value)
        assert {k: caught.value.error_args[k] for k in args} == args, shape
        with pytest.raises(consent.SignatureError):
            consent.check_signatures(t.typed.digest(), keyholders, threshold, packed)
    good = sign_packed(t.typed, t.keyed.signers(0, 1))
    assert consent.check_signatures(t.typed.digest(), keyholders, threshold, good) == [
        a.address for a in t.keyed.signers(0, 1)
    ]
    client.transact(t.call(good))  # and sent for real, it is mined
