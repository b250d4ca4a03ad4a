"""setDescription against a real anvil: each correction is the current version + 1, signed by
k of the steward's keyholders; replays, skipped versions, too few or foreign signatures, a
batch and a forged record are refused by name, and DescriptionSet says what was set."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from ledger import consent
from ledger.chain import RegistryClient
from tests.ledger.chain.client_support import batch_of, register, register_batch, reverts
from tests.ledger.chain.conftest import FAR_DEADLINE, Keyed, sign_packed, typed_data

FIRST = bytes.fromhex("d1" * 32)
SECOND = bytes.fromhex("d2" * 32)


def described(
    client: RegistryClient, keyed: Keyed, subject: bytes, version: int, digest: bytes
) -> consent.TypedData:
    return typed_data(
        client.domain(),
        "SetDescription",
        community=keyed.community.id,
        subject=subject,
        version=version,
        description=digest,
        deadline=FAR_DEADLINE,
    )


def test_corrections_count_up_from_the_registrations_version_1(
    client: RegistryClient, museum: Keyed
) -> None:
    reg = register(client, museum, "described")
    assert client.description_version(reg.key) == 1
    packed = sign_packed(described(client, museum, reg.key, 2, FIRST), museum.signers(0, 2))
    outcome = client.set_description(
        reg.key, reg.record, museum.community, 2, FIRST, FAR_DEADLINE, packed
    )
    assert client.description_version(reg.key) == 2
    # Two signatures and one new storage slot (69,458 gas on anvil 1.7.1 when written).
    assert 50_000 < outcome.gas_used < 80_000
    # The event, decoded with the contract's own ABI.
    receipt = client.w3.eth.get_transaction_receipt(Web3.to_hex(outcome.tx_hash))
    [event] = client.contract.events.DescriptionSet().process_receipt(receipt)
    assert event["args"]["subject"] == reg.key
    assert event["args"]["steward"] == museum.community.id
    assert (event["args"]["version"], event["args"]["description"]) == (2, FIRST)
    # Replay of the same signed correction: its version is consumed.
    error = reverts(
        "WrongVersion",
        lambda: client.set_description(
            reg.key, reg.record, museum.community, 2, FIRST, FAR_DEADLINE, packed
        ),
    )
    assert error.error_args == {"subject": "0x" + reg.key.hex(), "expected": 3, "given": 2}
    # Skipping a version is refused too, even when correctly signed.
    skip = sign_packed(described(client, museum, reg.key, 4, SECOND), museum.signers(0, 1))
    reverts(
        "WrongVersion",
        lambda: client.set_description(
            reg.key, reg.record, museum.community, 4, SECOND, FAR_DEADLINE, skip
        ),
    )
    third = sign_packed(described(client, museum, reg.key, 3, SECOND), museum.signers(1, 2))
    client.set_description(reg.key, reg.record, museum.community, 3, SECOND, FAR_DEADLINE, third)
    assert client.description_version(reg.key) == 3


def test_too_few_or_foreign_signatures_are_refused(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    reg = register(client, museum, "guarded")
    typed = described(client, museum, reg.key, 2, FIRST)
    reverts(
        "NotEnoughSignatures",
        lambda: client.set_description(
            reg.key, reg.record, museum.community, 2, FIRST, FAR_DEADLINE,
            sign_packed(typed, museum.signers(0)),
        ),
    )  # fmt: skip
    outsider = sign_packed(typed, [museum.keys[0], Account.create()])
    error = reverts(
        "SignerNotKeyholder",
        lambda: client.set_description(
            reg.key, reg.record, museum.community, 2, FIRST, FAR_DEADLINE, outsider
        ),
    )
    assert error.error_args is not None
    # Another community's keyholders cannot correct this community's item.
    theirs = sign_packed(described(client, tribe, reg.key, 2, FIRST), tribe.signers(0, 1))
    reverts(
        "KeyholdersMismatch",
        lambda: client.set_description(
            reg.key, reg.record, tribe.community, 2, FIRST, FAR_DEADLINE, theirs
        ),
    )
    # Signatures over another digest do not authorise this one.
    other = sign_packed(described(client, museum, reg.key, 2, SECOND), museum.signers(0, 1))
    reverts(
        "SignerNotKeyholder",
        lambda: client.set_description(
            reg.key, reg.record, museum.community, 2, FIRST, FAR_DEADLINE, other
        ),
    )
    assert client.description_version(reg.key) == 1


def test_a_batch_has_no_description_of_its_own(client: RegistryClient, museum: Keyed) -> None:
    tree, _ = batch_of(3)
    batch = register_batch(client, museum, tree)
    packed = sign_packed(described(client, museum, batch.key, 2, FIRST), museum.signers(0, 1))
    reverts(
        "UnknownRecord",
        lambda: client.set_description(
            batch.key, batch.record, museum.community, 2, FIRST, FAR_DEADLINE, packed
        ),
    )
