"""The registry hashes keyholder words and records as they sit in calldata; words that are
not clean ABI values must never pass as the clean ones."""

from __future__ import annotations

import pytest
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from ledger.chain import Calls, Community, RegistryClient
from tests.ledger.chain.conftest import (
    DOCUMENT,
    FAR_DEADLINE,
    TERMS,
    Keyed,
    Node,
    cid_of,
    community_id,
    new_keys,
    register_item_typed,
    sign_packed,
    typed_data,
)

DIRTY = b"\x01" + bytes(11)  # a nonzero byte above the 20 address bytes


def eth_call(node: Node, client: RegistryClient, data: bytes) -> None:
    node.w3.eth.call({"from": client.sender.address, "to": client.address, "data": HexBytes(data)})


def dirty_word(data: bytes, address: str) -> bytes:
    """``data`` with the ABI word holding ``address`` given dirty upper bytes."""
    word = bytes(12) + bytes.fromhex(address[2:])
    assert data.count(word) >= 1
    return data.replace(word, DIRTY + word[12:], 1)


def test_a_dirty_keyholder_word_is_refused_at_creation(
    node: Node, session_client: RegistryClient
) -> None:
    keys = new_keys(2)
    community = Community.founded(community_id("dirty"), [a.address for a in keys], 2)
    typed = typed_data(
        session_client.domain(),
        "CreateCommunity",
        community=community.id,
        keyholders=list(community.keyholders),
        threshold=2,
        document=DOCUMENT,
        deadline=FAR_DEADLINE,
    )
    call = Calls.create_community(
        community, community_id("dirty"), DOCUMENT, FAR_DEADLINE, sign_packed(typed, keys)
    )
    clean = session_client.encode(call)
    eth_call(node, session_client, clean)  # the clean call goes through
    with pytest.raises(ContractLogicError):
        eth_call(node, session_client, dirty_word(clean, keys[1].address))


def test_a_dirty_keyholder_word_never_matches_the_stored_configuration(
    node: Node, session_client: RegistryClient, museum: Keyed
) -> None:
    """The ABI entry point (the packed one has no padding to make dirty)."""
    cid = cid_of("dirty-keyholder")
    typed = register_item_typed(session_client.domain(), museum, cid)
    call = Calls.register_item_abi(
        museum.community,
        cid,
        typed.message["metadata"],
        typed.message["terms"],
        typed.message["commitment"],
        FAR_DEADLINE,
        sign_packed(typed, museum.signers(0, 1)),
    )
    clean = session_client.encode(call)
    eth_call(node, session_client, clean)
    for index in range(3):
        with pytest.raises(ContractLogicError):
            eth_call(node, session_client, dirty_word(clean, museum.community.keyholders[index]))


def test_a_dirty_registrant_word_never_matches_the_stored_record(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    cid = cid_of("dirty-record")
    typed = register_item_typed(client.domain(), museum, cid)
    registration = client.register_item(
        museum.community,
        cid,
        typed.message["metadata"],
        TERMS,
        typed.message["commitment"],
        FAR_DEADLINE,
        sign_packed(typed, museum.signers(0, 1)),
    )
    terms = typed_data(
        client.domain(),
        "SetTerms",
        community=museum.community.id,
        subject=registration.key,
        version=2,
        terms=TERMS,
        deadline=FAR_DEADLINE,
    )
    call = Calls.set_terms(
        registration.key,
        registration.record,
        museum.community,
        2,
        TERMS,
        FAR_DEADLINE,
        sign_packed(terms, museum.signers(0, 1)),
    )
    clean = client.encode(call)
    eth_call(node, client, clean)
    with pytest.raises(ContractLogicError):
        eth_call(node, client, dirty_word(clean, registration.record.registrant))
