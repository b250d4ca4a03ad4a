"""The registry refuses every malformed, replayed or unauthorised call, each by its error's name
(a real anvil; the calls built as in test_chain_client.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexAddress, HexStr

from ledger import consent
from ledger.chain import (
    Calls,
    Community,
    RegistryClient,
)
from ledger.chain import community_id as chain_community_id
from ledger.errors import UsageError
from tests.ledger.chain.client_support import (
    N,
    python_refuses,
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
    cid_of,
    claim_of,
    community_id,
    new_keys,
    register_item_typed,
    sign_packed,
    typed_data,
)

# ---- refusals, each by its name ---------------------------------------------------------------


def test_a_replayed_registration_is_refused_by_its_claim_key(
    client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("replay")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    register_call(client, museum, cid, packed)()
    error = reverts("AlreadyRegistered", register_call(client, museum, cid, packed))
    assert error.error_args == {"key": "0x" + claim_of(museum.community.id, cid).hex()}
    # Other signatures over the same item (another signer set, another deadline) change nothing.
    other = register_item_typed(client.domain(), museum, cid, deadline=FAR_DEADLINE - 1)
    reverts(
        "AlreadyRegistered",
        lambda: client.register_item(
            museum.community,
            cid,
            METADATA,
            TERMS,
            ZERO,
            FAR_DEADLINE - 1,
            sign_packed(other, museum.signers(1, 2)),
        ),
    )


def test_a_signature_for_another_chain_id_is_refused(client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("chain-1")
    typed = register_item_typed(consent.Domain(1, client.address), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    error = reverts("SignerNotKeyholder", register_call(client, museum, cid, packed))
    assert error.error_args["index"] == 0
    python_refuses(register_item_typed(client.domain(), museum, cid), museum, packed)


def test_a_signature_made_before_a_chain_id_switch_fails_after_it(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("fork")
    before = client.domain()
    packed = sign_packed(register_item_typed(before, museum, cid), museum.signers(0, 1))
    node.rpc("anvil_setChainId", before.chain_id + 7)
    try:
        reverts("SignerNotKeyholder", register_call(client, museum, cid, packed))
        fresh = sign_packed(register_item_typed(client.domain(), museum, cid), museum.signers(0, 1))
        register_call(client, museum, cid, fresh)()  # the same action, signed for the new id
        assert client.is_registered(claim_of(museum.community.id, cid))
    finally:
        node.rpc("anvil_setChainId", before.chain_id)


def test_a_signature_for_another_verifying_contract_is_refused(
    client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("elsewhere")
    other = Account.create().address
    packed = sign_packed(
        register_item_typed(consent.Domain(client.chain_id(), other), museum, cid),
        museum.signers(0, 1),
    )
    reverts("SignerNotKeyholder", register_call(client, museum, cid, packed))


def test_an_expired_deadline_is_refused(node: Node, client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("late")
    now = int(node.w3.eth.get_block("latest")["timestamp"])
    deadline = now + 60
    typed = register_item_typed(client.domain(), museum, cid, deadline=deadline)
    packed = sign_packed(typed, museum.signers(0, 1))
    call = Calls.register_item(museum.community, cid, METADATA, TERMS, ZERO, deadline, packed)
    client.simulate(call)  # good now
    node.rpc("evm_increaseTime", 3600)
    node.rpc("evm_mine")
    error = reverts("DeadlineExpired", lambda: client.transact(call))
    assert error.error_args["deadline"] == deadline
    assert error.error_args["timestamp"] > deadline


def test_a_high_s_twin_of_a_valid_signature_is_refused(
    client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("high-s")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    second = packed[65:]
    r, s, v = second[:32], int.from_bytes(second[32:64], "big"), second[64]
    twin = r + (N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    error = reverts("SignatureHighS", register_call(client, museum, cid, packed[:65] + twin))
    assert error.error_args == {"index": 1}
    python_refuses(typed, museum, packed[:65] + twin)
    register_call(client, museum, cid, packed)()  # the low-s original is good


@pytest.mark.parametrize("length", [64, 66])
def test_signatures_of_64_or_66_bytes_are_refused(
    client: RegistryClient, museum: Keyed, length: int
) -> None:
    cid = cid_of(f"len-{length}")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    first, second = packed[:65], packed[65:]
    if length == 64:  # EIP-2098 compact form: r ‖ (yParity << 255 | s)
        s = int.from_bytes(second[32:64], "big") | ((second[64] - 27) << 255)
        odd = second[:32] + s.to_bytes(32, "big")
    else:
        odd = second + b"\x00"
    error = reverts("InvalidSignatureLength", register_call(client, museum, cid, first + odd))
    assert error.error_args == {"length": 65 + length}
    error = reverts("InvalidSignatureLength", register_call(client, museum, cid, odd))
    assert error.error_args == {"length": length}
    python_refuses(typed, museum, first + odd)


@pytest.mark.parametrize("v", [0, 1, 26, 29, 255])
def test_v_outside_27_and_28_is_refused(client: RegistryClient, museum: Keyed, v: int) -> None:
    cid = cid_of(f"v-{v}")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    bad = packed[:64] + bytes([v]) + packed[65:]
    error = reverts("SignatureBadV", register_call(client, museum, cid, bad))
    assert error.error_args == {"index": 0, "v": v}
    python_refuses(typed, museum, bad)


@pytest.mark.parametrize(
    "r, s",
    [(0, 1), (1, 0), (N, 1), (2**256 - 1, 1)],
    ids=["r=0", "s=0", "r=n", "r=max"],
)
def test_a_signature_recovering_the_zero_address_is_refused(
    client: RegistryClient, museum: Keyed, r: int, s: int
) -> None:
    cid = cid_of(f"zero-{r}-{s}")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    bad = r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x1b" + packed[65:]
    error = reverts("SignatureInvalid", register_call(client, museum, cid, bad))
    assert error.error_args == {"index": 0}
    python_refuses(typed, museum, bad)


def test_a_signer_who_is_not_a_keyholder_is_refused(client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("outsider")
    typed = register_item_typed(client.domain(), museum, cid)
    outsider = Account.create()
    packed = sign_packed(typed, [museum.keys[0], outsider])
    error = reverts("SignerNotKeyholder", register_call(client, museum, cid, packed))
    assert error.error_args["signer"].lower() == outsider.address.lower()
    python_refuses(typed, museum, packed)


def test_the_same_signer_twice_is_refused(client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("twice")
    typed = register_item_typed(client.domain(), museum, cid)
    one = consent.sign(typed, bytes(museum.keys[1].key))
    error = reverts("SignerNotKeyholder", register_call(client, museum, cid, one + one))
    assert error.error_args["index"] == 1
    python_refuses(typed, museum, one + one)
    with pytest.raises(consent.SignatureError):
        consent.pack_signatures([(museum.keys[1].address, one)] * 2)


def test_signers_out_of_order_are_refused(client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("order")
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 2))
    backwards = packed[65:] + packed[:65]
    error = reverts("SignerNotKeyholder", register_call(client, museum, cid, backwards))
    assert error.error_args == {"index": 1, "signer": museum.keys[0].address}
    python_refuses(typed, museum, backwards)


def test_too_few_signatures_are_refused(client: RegistryClient, museum: Keyed) -> None:
    cid = cid_of("few")
    typed = register_item_typed(client.domain(), museum, cid)
    for packed in (sign_packed(typed, museum.signers(2)), b""):
        error = reverts("NotEnoughSignatures", register_call(client, museum, cid, packed))
        assert error.error_args == {"given": len(packed) // 65, "required": 2}
        python_refuses(typed, museum, packed)


def create_community_call(
    client: RegistryClient,
    keyholders: Sequence[str],
    threshold: int,
    signers: Sequence[LocalAccount],
) -> Callable[[], object]:
    addresses = tuple(ChecksumAddress(HexAddress(HexStr(k))) for k in keyholders)
    salt = community_id(f"c-{keyholders}-{threshold}")
    # Derived as the registry derives it, but in the order given: some tests pass bad orders.
    community = Community(chain_community_id(salt, addresses, threshold), addresses, threshold)
    typed = typed_data(
        client.domain(),
        "CreateCommunity",
        community=community.id,
        keyholders=list(keyholders),
        threshold=threshold,
        document=DOCUMENT,
        deadline=FAR_DEADLINE,
    )
    packed = b"".join(consent.sign(typed, bytes(a.key)) for a in signers)
    return lambda: client.create_community(community, salt, DOCUMENT, FAR_DEADLINE, packed)


@pytest.mark.parametrize("threshold", [0, 4])
def test_a_threshold_of_0_or_above_n_is_refused(client: RegistryClient, threshold: int) -> None:
    keys = new_keys(3)
    error = reverts(
        "InvalidThreshold",
        create_community_call(client, [a.address for a in keys], threshold, list(keys)),
    )
    assert error.error_args == {"threshold": threshold, "keyholders": 3}


def test_more_than_32_keyholders_are_refused(client: RegistryClient) -> None:
    keys = new_keys(33)
    reverts("InvalidThreshold", create_community_call(client, [a.address for a in keys], 2, keys))


@pytest.mark.parametrize("shape", ["unsorted", "duplicate", "zero"])
def test_unsorted_or_duplicate_keyholders_are_refused(client: RegistryClient, shape: str) -> None:
    keys = new_keys(3)
    addresses: list[str] = [a.address for a in keys]
    if shape == "unsorted":
        addresses = [addresses[1], addresses[0], addresses[2]]
        expected_index = 1
    elif shape == "duplicate":
        addresses = [addresses[0], addresses[1], addresses[1]]
        expected_index = 2
    else:
        addresses = ["0x" + "00" * 20, *addresses[:2]]
        expected_index = 0
    error = reverts("KeyholdersNotIncreasing", create_community_call(client, addresses, 2, keys))
    assert error.error_args["index"] == expected_index


def test_creation_needs_every_keyholder_and_a_community_is_created_once(
    client: RegistryClient,
) -> None:
    keys = new_keys(3)
    addresses = [a.address for a in keys]
    reverts("NotEnoughSignatures", create_community_call(client, addresses, 2, keys[:2]))
    create_community_call(client, addresses, 2, keys)()
    reverts("CommunityExists", create_community_call(client, addresses, 2, keys))


def test_unknown_or_mismatched_communities_are_refused(
    client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("who")
    ghost = Community(b"\x66" * 32, museum.community.keyholders, 2)
    typed = register_item_typed(client.domain(), museum, cid)
    packed = sign_packed(typed, museum.signers(0, 1))
    reverts(
        "UnknownCommunity",
        lambda: client.register_item(ghost, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed),
    )
    lowered = Community(museum.community.id, museum.community.keyholders, 1)
    reverts(
        "KeyholdersMismatch",
        lambda: client.register_item(
            lowered, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed[:65]
        ),
    )
    reverts(
        "EmptyCid",
        lambda: client.transact(
            Calls.register_item_abi(
                museum.community, b"", METADATA, TERMS, ZERO, FAR_DEADLINE, packed
            )
        ),
    )
    # The client never packs an empty CID; the contract refuses one all the same.
    with pytest.raises(UsageError):
        client.encode(
            Calls.register_item(museum.community, b"", METADATA, TERMS, ZERO, FAR_DEADLINE, packed)
        )
    one = client.encode(
        Calls.register_item(museum.community, b"\x01", METADATA, TERMS, ZERO, FAR_DEADLINE, packed)
    )
    at = 4 + 32 + 2 + 20 * 3 + 3 * 32 + 8  # the CID length byte
    assert one[at : at + 2] == b"\x01\x01"
    reverts(
        "EmptyCid",
        lambda: client.simulate_calldata(one[:at] + b"\x00" + one[at + 2 :], "registerItemPacked"),
    )


