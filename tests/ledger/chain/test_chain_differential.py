"""The Python verifier and the contract never disagree about a signature, about a key (claim,
batch, batch item subject) or about a digest (ConsentDerivative), and anything signed in
Python verifies on chain. The contract side runs as eth_call (no transaction).

Every example is a chain call, so the property tests run ``examples()`` of the Hypothesis
profile (tests/hypothesis_profiles.py: a fifth under the default profile, in full under deep);
the signature differential runs 2,500 examples under ``HYPOTHESIS_PROFILE=deep``
(make test-deep)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain import (
    Call,
    Calls,
    Community,
    Party,
    Registration,
    RegistryClient,
    batch_item_subject,
    batch_key,
    claim_key,
    content_key,
)
from ledger.errors import RegistryReverted
from tests.hypothesis_profiles import deep, examples
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    Node,
    cid_of,
    claim_of,
    register_item_typed,
    sign_packed,
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
METHOD = bytes.fromhex("3d" * 32)
EDGE_SCALARS = [0, 1, 2, HALF - 1, HALF, HALF + 1, N - 1, N, N + 1, 2**256 - 1]


#: The differential's examples: 2,500 under ``HYPOTHESIS_PROFILE=deep`` (make test-deep), the
#: profile's count otherwise (a fifth of it under the default profile, as every test here).
DIFFERENTIAL_EXAMPLES: Final = 2500 if deep() else examples()


def checks(examples: int | None = None) -> settings:
    """Bounded, reproducible runs; the chain fixtures are session-scoped (eth_call only), or
    set up once per test under its snapshot. Without ``examples``, the profile's count."""
    base = settings(
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    return base if examples is None else settings(base, max_examples=examples)


@dataclass(frozen=True, slots=True)
class Material:
    """One action to sign and signature parts to build packed signatures from."""

    typed: consent.TypedData
    digest: bytes
    keyed: Keyed
    good: tuple[bytes, ...]  # keyholder i's signature, in keyholder order
    outsider: bytes  # a valid signature by a non-keyholder
    elsewhere: bytes  # keyholder 0's signature of another message
    calls: Callable[[bytes], tuple[Call, ...]]  # the call(s) carrying packed signatures


@pytest.fixture
def consent_parent(client: RegistryClient, museum: Keyed) -> Registration:
    """The museum's claim that derivatives are made of, registered under this test's snapshot,
    once for all of its examples."""
    cid = cid_of("consent differential parent")
    return client.register_item(
        museum.community,
        cid,
        METADATA,
        TERMS,
        ZERO,
        FAR_DEADLINE,
        sign_packed(register_item_typed(client.domain(), museum, cid), museum.signers(0, 1)),
    )


@pytest.fixture
def consent_material(
    client: RegistryClient, consent_parent: Registration, museum: Keyed, tribe: Keyed
) -> Material:
    """The tribe derives from the museum's claim; the museum (2 of 3) consents."""
    domain = client.domain()
    parent = consent_parent
    child = cid_of("consent differential child")
    typed = consent.derivative_consent(
        domain, parent.key, tribe.community.id, child, METHOD, True, FAR_DEADLINE
    )
    other = consent.derivative_consent(
        domain, parent.key, tribe.community.id, child, METHOD, False, FAR_DEADLINE
    )
    deriver = sign_packed(
        typed_data(
            domain,
            "RegisterDerivative",
            community=tribe.community.id,
            parent=parent.key,
            cid=child,
            metadata=METADATA,
            terms=TERMS,
            method=METHOD,
            aiEnhanced=True,
            deadline=FAR_DEADLINE,
        ),
        tribe.signers(0, 1),
    )

    def calls(packed: bytes) -> tuple[Call, ...]:
        return (
            Calls.register_derivative(
                tribe.community,
                parent.key,
                child,
                METADATA,
                TERMS,
                METHOD,
                True,
                FAR_DEADLINE,
                deriver,
                parent.record,
                Party(museum.community, packed),
            ),
        )

    return Material(
        typed=typed,
        digest=typed.digest(),
        keyed=museum,
        good=tuple(consent.sign(typed, bytes(a.key)) for a in museum.keys),
        outsider=consent.sign(typed, bytes(Account.create().key)),
        elsewhere=consent.sign(other, bytes(museum.keys[0].key)),
        calls=calls,
    )


@pytest.fixture(scope="module")
def material(session_client: RegistryClient, museum: Keyed) -> Material:
    domain = session_client.domain()
    typed = register_item_typed(domain, museum, cid_of("differential"))
    other = register_item_typed(domain, museum, cid_of("another message"))

    def calls(packed: bytes) -> tuple[Call, ...]:
        """The registration sent packed (as the client sends it) and ABI-encoded: both entry
        points share one signature check."""
        args = (museum.community, typed.message["cid"], METADATA, TERMS, ZERO, FAR_DEADLINE)
        return Calls.register_item(*args, packed), Calls.register_item_abi(*args, packed)

    return Material(
        typed=typed,
        digest=typed.digest(),
        keyed=museum,
        good=tuple(consent.sign(typed, bytes(a.key)) for a in museum.keys),
        outsider=consent.sign(typed, bytes(Account.create().key)),
        elsewhere=consent.sign(other, bytes(museum.keys[0].key)),
        calls=calls,
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
    """The contract's verdict, the same for every call that carries the signatures."""
    first, *rest = m.calls(packed)
    verdict = contract_verdict(client, first)
    for call in rest:
        assert contract_verdict(client, call) == verdict
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
@checks(DIFFERENTIAL_EXAMPLES)
@given(data=st.data())
def test_python_and_the_contract_agree_on_random_and_malleated_signatures(
    node: Node, session_client: RegistryClient, material: Material, data: st.DataObject
) -> None:
    packed = data.draw(packed_signatures(material))
    assert python_accepts(material, packed) == contract_accepts(session_client, material, packed)
    reached()


@reaches(0.8)
@checks(examples())
@given(data=st.data())
def test_python_and_the_contract_agree_on_derivative_consent_signatures(
    node: Node, client: RegistryClient, consent_material: Material, data: st.DataObject
) -> None:
    """The same differential over the parent steward's ConsentDerivative signatures (the
    deriving community's own RegisterDerivative signatures are good)."""
    packed = data.draw(packed_signatures(consent_material))
    assert python_accepts(consent_material, packed) == contract_accepts(
        client, consent_material, packed
    )
    reached()


@pytest.mark.parametrize("which", ["material", "consent_material"])
def test_the_differential_strategy_reaches_both_verdicts(
    node: Node, session_client: RegistryClient, request: pytest.FixtureRequest, which: str
) -> None:
    """Guard against a vacuous differential test: both outcomes and every refusal occur."""
    material: Material = request.getfixturevalue(which)
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
@checks(examples(150))
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
@checks(examples(150))
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
    # registerItem returns the claim key, the community's own on the CID
    assert session_client.simulate(call) == claim_of(museum.community.id, cid)
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


# ---- keys and ConsentDerivative digests: ledger.chain / ledger.consent against the contract ---

bytes32 = st.binary(min_size=32, max_size=32)


@reaches(0.8)
@checks(examples())
@given(community=bytes32, cid=st.binary(min_size=1, max_size=80), root=bytes32)
def test_claim_batch_and_batch_item_keys_agree_with_the_registry_and_their_definitions(
    node: Node, session_client: RegistryClient, community: bytes, cid: bytes, root: bytes
) -> None:
    content = keccak(cid)
    claim = keccak(abi_encode(["bytes32", "bytes32"], [community, content]))
    batch = keccak(abi_encode(["bytes32", "bytes32"], [community, root]))
    subject = keccak(abi_encode(["bytes32", "bytes32"], [batch, content]))
    assert content_key(cid) == content
    assert claim_key(community, cid) == session_client.claim_of(community, cid) == claim
    assert batch_key(community, root) == session_client.batch_of(community, root) == batch
    assert batch_item_subject(batch, content) == subject
    assert session_client.batch_item_subject(batch, content) == subject
    # A claim key is never the content key, nor another community's claim key.
    other = bytes([community[0] ^ 1]) + community[1:]
    assert claim != content != batch
    assert claim_key(other, cid) != claim and batch_key(other, root) != batch
    reached()


CONSENT_TYPE = (
    "ConsentDerivative(bytes32 parent,bytes32 community,bytes cid,bytes32 method,"
    "bool aiEnhanced,uint64 deadline)"
)


@dataclass(frozen=True, slots=True)
class Eip712:
    """The registry's domain, domain separator and ConsentDerivative typehash, read once."""

    domain: consent.Domain
    separator: bytes
    consent_typehash: bytes


@pytest.fixture
def eip712(client: RegistryClient) -> Eip712:
    typehash = client.type_hashes()["ConsentDerivative"]
    assert typehash == keccak(text=CONSENT_TYPE)  # the registry's, from its definition
    return Eip712(client.domain(), client.domain_separator(), typehash)


@reaches(0.8)
@checks(examples())
@given(
    cid=st.binary(min_size=1, max_size=80),
    method=bytes32,
    ai=st.booleans(),
    deadline=st.integers(2**40, 2**64 - 1),
    signers=st.sampled_from([(0, 1), (0, 2), (1, 2), (0, 1, 2)]),
    flip=st.sampled_from(["parent", "community", "cid", "method", "aiEnhanced", "deadline"]),
)
def test_any_derivative_consent_signed_in_python_verifies_on_chain(
    node: Node,
    client: RegistryClient,
    consent_parent: Registration,
    eip712: Eip712,
    museum: Keyed,
    tribe: Keyed,
    cid: bytes,
    method: bytes,
    ai: bool,
    deadline: int,
    signers: tuple[int, ...],
    flip: str,
) -> None:
    """ledger.consent's ConsentDerivative digest is the one its definition gives (EIP-712 by
    hand, with the registry's own typehash and domain separator), and k of the parent
    steward's signatures over it let the registry accept the derivative; the same signatures
    over any other value of any one field are refused."""
    domain = eip712.domain
    parent = consent_parent.key
    typed = consent.derivative_consent(
        domain, parent, tribe.community.id, cid, method, ai, deadline
    )
    struct = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "bool", "uint64"],
            [
                eip712.consent_typehash,
                parent,
                tribe.community.id,
                keccak(cid),
                method,
                ai,
                deadline,
            ],
        )
    )
    assert typed.digest() == keccak(b"\x19\x01" + eip712.separator + struct)

    def call(consent_typed: consent.TypedData) -> Call:
        registration = typed_data(
            domain,
            "RegisterDerivative",
            community=tribe.community.id,
            parent=parent,
            cid=cid,
            metadata=METADATA,
            terms=TERMS,
            method=method,
            aiEnhanced=ai,
            deadline=deadline,
        )
        return Calls.register_derivative(
            tribe.community,
            parent,
            cid,
            METADATA,
            TERMS,
            method,
            ai,
            deadline,
            sign_packed(registration, tribe.signers(0, 1)),
            consent_parent.record,
            Party(museum.community, sign_packed(consent_typed, museum.signers(*signers))),
        )

    assert client.simulate(call(typed)) == claim_key(tribe.community.id, cid)
    altered: dict[str, object] = {
        "parent": bytes([parent[0] ^ 1]) + parent[1:],
        "community": bytes([tribe.community.id[0] ^ 1]) + tribe.community.id[1:],
        "cid": cid + b"\x00",
        "method": bytes([method[0] ^ 1]) + method[1:],
        "aiEnhanced": not ai,
        "deadline": deadline ^ 1,
    }
    wrong = consent.TypedData(domain, "ConsentDerivative", {**typed.message, flip: altered[flip]})
    with pytest.raises(RegistryReverted) as caught:
        client.simulate(call(wrong))
    assert caught.value.error_name == "SignerNotKeyholder"
    reached()
