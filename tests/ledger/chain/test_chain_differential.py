"""The Python verifier and the contract never disagree about a signature, and anything signed
in Python verifies on chain. The contract side runs as eth_call (no transaction)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain import Call, Calls, Community, RegistryClient, item_key
from ledger.errors import RegistryReverted
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    Node,
    cid_of,
    register_item_typed,
    typed_data,
)
from tests.reaching import reached, reaches

N = consent.SECP256K1_N
HALF = consent.HALF_ORDER
SIGNATURE_ERRORS = {
    "InvalidSignatureLength",
    "SignatureHighS",
    "SignatureBadV",
    "SignatureInvalid",
    "SignerNotKeyholder",
    "NotEnoughSignatures",
}
EDGE_SCALARS = [0, 1, 2, HALF - 1, HALF, HALF + 1, N - 1, N, N + 1, 2**256 - 1]


def checks(examples: int) -> settings:
    """Bounded, reproducible runs; the chain fixtures are session-scoped (eth_call only)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )


@dataclass(frozen=True, slots=True)
class Material:
    """One action to sign and signature parts to build packed signatures from."""

    typed: consent.TypedData
    digest: bytes
    keyed: Keyed
    good: tuple[bytes, ...]  # keyholder i's signature, in keyholder order
    outsider: bytes  # a valid signature by a non-keyholder
    elsewhere: bytes  # keyholder 0's signature of another message


@pytest.fixture(scope="module")
def material(session_client: RegistryClient, museum: Keyed) -> Material:
    domain = session_client.domain()
    typed = register_item_typed(domain, museum, cid_of("differential"))
    other = register_item_typed(domain, museum, cid_of("another message"))
    return Material(
        typed=typed,
        digest=typed.digest(),
        keyed=museum,
        good=tuple(consent.sign(typed, bytes(a.key)) for a in museum.keys),
        outsider=consent.sign(typed, bytes(Account.create().key)),
        elsewhere=consent.sign(other, bytes(museum.keys[0].key)),
    )


def high_s_twin(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


@st.composite
def signature_part(draw: st.DrawFn, m: Material) -> bytes:
    kind = draw(
        st.sampled_from(
            ["good", "good", "good", "outsider", "elsewhere", "twin", "v", "r", "s", "random"]
        )
    )
    base = m.good[draw(st.integers(0, len(m.good) - 1))]
    if kind == "good":
        return base
    if kind == "outsider":
        return m.outsider
    if kind == "elsewhere":
        return m.elsewhere
    if kind == "twin":
        return high_s_twin(base)
    if kind == "v":
        return base[:64] + bytes([draw(st.integers(0, 255))])
    scalar = draw(st.one_of(st.sampled_from(EDGE_SCALARS), st.integers(0, 2**256 - 1)))
    if kind == "r":
        return scalar.to_bytes(32, "big") + base[32:]
    if kind == "s":
        return base[:32] + scalar.to_bytes(32, "big") + base[64:]
    return draw(st.binary(min_size=65, max_size=65))


@st.composite
def packed_signatures(draw: st.DrawFn, m: Material) -> bytes:
    parts = draw(st.lists(signature_part(m), min_size=0, max_size=4))
    packed = b"".join(parts)
    cut = draw(st.sampled_from([0, 0, 0, 0, -1, 1, -2]))  # sometimes 64/66-byte lengths
    if cut < 0:
        packed = packed[:cut]
    elif cut > 0:
        packed += draw(st.binary(min_size=cut, max_size=cut))
    return packed


def contract_verdict(client: RegistryClient, call: Call) -> str:
    try:
        client.simulate(call)
    except RegistryReverted as exc:
        assert exc.error_name in SIGNATURE_ERRORS, exc
        return exc.error_name
    return "accepted"


def contract_accepts(client: RegistryClient, m: Material, packed: bytes) -> bool:
    """The contract's verdict, the same whether the registration is sent packed (as the
    client sends it) or ABI-encoded: both entry points share one signature check."""
    args = (m.keyed.community, m.typed.message["cid"], METADATA, TERMS, ZERO, FAR_DEADLINE, packed)
    verdict = contract_verdict(client, Calls.register_item(*args))
    assert contract_verdict(client, Calls.register_item_abi(*args)) == verdict
    return verdict == "accepted"


def python_accepts(m: Material, packed: bytes) -> bool:
    try:
        consent.check_signatures(
            m.digest, m.keyed.community.keyholders, m.keyed.community.threshold, packed
        )
    except consent.SignatureError:
        return False
    return True


@reaches(0.8)
@checks(2500)
@given(data=st.data())
def test_python_and_the_contract_agree_on_random_and_malleated_signatures(
    node: Node, session_client: RegistryClient, material: Material, data: st.DataObject
) -> None:
    packed = data.draw(packed_signatures(material))
    assert python_accepts(material, packed) == contract_accepts(session_client, material, packed)
    reached()


def test_the_differential_strategy_reaches_both_verdicts(
    node: Node, session_client: RegistryClient, material: Material
) -> None:
    """Guard against a vacuous differential test: both outcomes and every refusal occur."""
    good = material.good[0] + material.good[2]
    assert python_accepts(material, good) and contract_accepts(session_client, material, good)
    for bad in (
        good[:-1],
        high_s_twin(material.good[0]) + material.good[2],
        material.good[0][:64] + b"\x00" + material.good[2],
        bytes(65) + material.good[2],
        material.outsider + material.good[2],
        material.good[2] + material.good[0],
        material.good[0],
    ):
        assert not python_accepts(material, bad)
        assert not contract_accepts(session_client, material, bad)


private_keys = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))


@reaches(0.8)
@checks(150)
@given(
    keys=st.lists(private_keys, min_size=1, max_size=4, unique=True),
    threshold_seed=st.integers(0, 3),
    salt=st.binary(min_size=32, max_size=32),
    document=st.binary(min_size=32, max_size=32),
    deadline=st.integers(2**40, 2**64 - 1),
)
def test_any_keys_sign_a_community_that_python_recovers_and_the_chain_accepts(
    node: Node,
    session_client: RegistryClient,
    keys: list[bytes],
    threshold_seed: int,
    salt: bytes,
    document: bytes,
    deadline: int,
) -> None:
    accounts: list[LocalAccount] = [Account.from_key(k) for k in keys]
    group = Community.founded(salt, [a.address for a in accounts], 1 + threshold_seed % len(keys))
    typed = typed_data(
        session_client.domain(),
        "CreateCommunity",
        community=group.id,
        keyholders=list(group.keyholders),
        threshold=group.threshold,
        document=document,
        deadline=deadline,
    )
    packed = consent.pack_signatures(
        (a.address, consent.sign(typed, bytes(a.key))) for a in accounts
    )
    recovered = consent.check_signatures(typed.digest(), group.keyholders, len(keys), packed)
    assert recovered == list(group.keyholders)
    for i, address in enumerate(group.keyholders):
        assert consent.recover_signer(typed.digest(), packed[i * 65 : (i + 1) * 65]) == address
    assert session_client.simulate(
        Calls.create_community(group, salt, document, deadline, packed)
    ) == group.id  # createCommunity returns the id it derived, the one Python derived
    reached()


@reaches(0.8)
@checks(150)
@given(
    cid=st.binary(min_size=1, max_size=80),
    metadata=st.binary(min_size=32, max_size=32),
    terms=st.binary(min_size=32, max_size=32),
    commitment=st.binary(min_size=32, max_size=32),
    signers=st.sampled_from([(0, 1), (0, 2), (1, 2), (0, 1, 2)]),
)
def test_any_registration_signed_in_python_verifies_on_chain(
    node: Node,
    session_client: RegistryClient,
    museum: Keyed,
    cid: bytes,
    metadata: bytes,
    terms: bytes,
    commitment: bytes,
    signers: tuple[int, ...],
) -> None:
    typed = typed_data(
        session_client.domain(),
        "RegisterItem",
        community=museum.community.id,
        cid=cid,
        metadata=metadata,
        terms=terms,
        commitment=commitment,
        deadline=FAR_DEADLINE,
    )
    chosen = museum.signers(*signers)
    packed = consent.pack_signatures((a.address, consent.sign(typed, bytes(a.key))) for a in chosen)
    assert consent.check_signatures(typed.digest(), museum.community.keyholders, 2, packed) == [
        a.address for a in chosen
    ]
    call = Calls.register_item(
        museum.community, cid, metadata, terms, commitment, FAR_DEADLINE, packed
    )
    assert session_client.simulate(call) == item_key(cid)  # registerItem returns the key
    # The same signatures over any other field value are refused.
    flipped = bytes([metadata[0] ^ 1]) + metadata[1:]
    with pytest.raises(RegistryReverted) as caught:
        session_client.simulate(
            Calls.register_item(
                museum.community, cid, flipped, terms, commitment, FAR_DEADLINE, packed
            )
        )
    assert caught.value.error_name == "SignerNotKeyholder"
    reached()
