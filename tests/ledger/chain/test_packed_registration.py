"""``registerItemPacked``: the registration the client sends, its arguments packed instead of
ABI-encoded. It must mean exactly what ``registerItem`` means, and no damaged or extended
calldata may register anything (every case runs as eth_call against the session's anvil)."""

from __future__ import annotations

import pytest
from eth_abi.packed import encode_packed
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain import (
    REGISTER_ITEM_PACKED_SELECTOR,
    Calls,
    Community,
    RegistryClient,
    pack_register_item,
)
from ledger.errors import RegistryReverted, UsageError
from tests.hypothesis_profiles import examples
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    Keyed,
    Node,
    cid_of,
    claim_of,
    new_keys,
    register_item_typed,
    sign_packed,
)
from tests.reaching import reached, reaches

COMMITMENT = bytes.fromhex("c0" * 32)
#: Every named refusal a damaged packed call may meet; anything else (or success) is a bug.
REFUSALS = {
    "MalformedPackedCall",
    "DeadlineExpired",
    "EmptyCid",
    "AlreadyRegistered",
    "UnknownCommunity",
    "KeyholdersMismatch",
    "InvalidSignatureLength",
    "SignatureHighS",
    "SignatureBadV",
    "SignatureInvalid",
    "SignerNotKeyholder",
    "NotEnoughSignatures",
}


Args = tuple[Community, bytes, bytes, bytes, bytes, int, bytes]


def signed_args(client: RegistryClient, keyed: Keyed, label: str) -> Args:
    cid = cid_of(label)
    typed = register_item_typed(client.domain(), keyed, cid, commitment=COMMITMENT)
    signatures = sign_packed(typed, keyed.signers(0, 2))
    return (keyed.community, cid, METADATA, TERMS, COMMITMENT, FAR_DEADLINE, signatures)


def verdict(client: RegistryClient, data: bytes) -> str:
    try:
        client.simulate_calldata(data, "registerItemPacked")
    except RegistryReverted as exc:
        return exc.error_name
    return "accepted"


def test_the_layout_is_the_documented_packed_encoding(museum: Keyed) -> None:
    """Checked against eth-abi's packed encoder (Solidity's abi.encodePacked rules), with the
    field order of the contract's NatSpec, not against our own concatenation."""
    community = museum.community
    cid = cid_of("layout")
    signatures = bytes(range(130))
    expected = encode_packed(
        [
            *("bytes4", "bytes32", "uint8", "uint8", "address", "address", "address"),
            *("bytes32", "bytes32", "bytes32", "uint64", "uint8", "bytes", "bytes"),
        ],
        [
            keccak(text="registerItemPacked()")[:4],
            community.id,
            community.threshold,
            3,
            *community.keyholders,
            METADATA,
            TERMS,
            COMMITMENT,
            12345,
            len(cid),
            cid,
            signatures,
        ],
    )
    got = pack_register_item(
        community.id,
        community.keyholders,
        community.threshold,
        cid,
        METADATA,
        TERMS,
        COMMITMENT,
        12345,
        signatures,
    )
    assert got == expected
    assert got[:4] == REGISTER_ITEM_PACKED_SELECTOR


@pytest.mark.parametrize(
    ("keyholders", "threshold", "cid", "deadline", "what"),
    [
        ([], 1, cid_of(1), 1, "keyholders"),
        (["0x" + "11" * 20], 0, cid_of(1), 1, "threshold"),
        (["0x" + "11" * 20], 1, b"", 1, "CID"),
        (["0x" + "11" * 20], 1, b"\x01" * 256, 1, "CID"),
        (["0x" + "11" * 20], 1, cid_of(1), 1 << 64, "deadline"),
    ],
)
def test_what_cannot_be_packed_is_refused_before_sending(
    keyholders: list[str], threshold: int, cid: bytes, deadline: int, what: str
) -> None:
    with pytest.raises(UsageError) as caught:
        pack_register_item(
            bytes(32), keyholders, threshold, cid, METADATA, TERMS, COMMITMENT, deadline, b""
        )
    assert what in caught.value.message


def test_packed_and_abi_registrations_store_and_emit_the_same(
    node: Node, client: RegistryClient, museum: Keyed
) -> None:
    args = signed_args(client, museum, "same either way")
    outcomes = []
    for build in (Calls.register_item_abi, Calls.register_item):
        snapshot = node.rpc("evm_snapshot")
        node.rpc("evm_setNextBlockTimestamp", 2_000_000_000)
        outcome = client.transact(build(*args))
        receipt = node.w3.eth.get_transaction_receipt(HexBytes(outcome.tx_hash))
        key = claim_of(museum.community.id, cid_of("same either way"))
        stored = bytes(client.contract.functions.records(key).call())
        logs = [
            (tuple(bytes(t) for t in log["topics"]), bytes(log["data"])) for log in receipt["logs"]
        ]
        outcomes.append((outcome.function, stored, logs))
        assert node.rpc("evm_revert", snapshot) is True
        client.resync_nonce()
    (abi_function, abi_stored, abi_logs), (packed_function, packed_stored, packed_logs) = outcomes
    assert (abi_function, packed_function) == ("registerItem", "registerItemPacked")
    assert abi_stored != bytes(32)
    assert packed_stored == abi_stored
    assert packed_logs == abi_logs and len(abi_logs) == 1


def test_every_truncation_is_refused_by_name(session_client: RegistryClient, museum: Keyed) -> None:
    data = session_client.encode(Calls.register_item(*signed_args(session_client, museum, "cut")))
    assert verdict(session_client, data) == "accepted"
    seen = set()
    for length in range(4, len(data)):
        got = verdict(session_client, data[:length])
        assert got in REFUSALS, (length, got)
        seen.add(got)
    # Cut inside the fixed fields, inside the CID, and between or inside signatures.
    assert {"MalformedPackedCall", "InvalidSignatureLength", "NotEnoughSignatures"} <= seen


@reaches(0.8)
@settings(
    max_examples=examples(300),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_single_byte_change_registers_anything(
    session_client: RegistryClient, museum: Keyed, data: st.DataObject
) -> None:
    call = Calls.register_item(*signed_args(session_client, museum, "flip"))
    good = session_client.encode(call)
    position = data.draw(st.integers(4, len(good) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != good[position]), label="value")
    damaged = good[:position] + bytes([value]) + good[position + 1 :]
    assert verdict(session_client, damaged) in REFUSALS
    reached()


@pytest.mark.parametrize("extra", [1, 32, 64, 66])
def test_trailing_bytes_that_are_not_whole_signatures_are_refused(
    session_client: RegistryClient, museum: Keyed, extra: int
) -> None:
    good = session_client.encode(Calls.register_item(*signed_args(session_client, museum, "tail")))
    assert verdict(session_client, good + b"\x5a" * extra) == "InvalidSignatureLength"


def test_an_appended_signature_must_be_a_further_keyholder(
    session_client: RegistryClient, museum: Keyed
) -> None:
    args = signed_args(session_client, museum, "three")
    typed = register_item_typed(
        session_client.domain(), museum, cid_of("three"), commitment=COMMITMENT
    )
    good = session_client.encode(Calls.register_item(*args))
    outsider = sign_packed(typed, new_keys(1))
    assert verdict(session_client, good + outsider) == "SignerNotKeyholder"
    # Keyholders 0 and 2 signed; keyholder 1 sits between them, so appending it is out of
    # order, while all three in order is a valid 3-of-3 consent.
    assert verdict(session_client, good + sign_packed(typed, museum.signers(1))) == (
        "SignerNotKeyholder"
    )
    every = sign_packed(typed, museum.signers(0, 1, 2))
    assert verdict(session_client, good[: len(good) - 130] + every) == "accepted"


def test_a_keyholder_count_beyond_the_calldata_is_malformed(
    session_client: RegistryClient, museum: Keyed
) -> None:
    good = session_client.encode(Calls.register_item(*signed_args(session_client, museum, "n")))
    claims_255 = good[:37] + b"\xff" + good[38:]
    assert verdict(session_client, claims_255) == "MalformedPackedCall"
