"""ledger.consent against a second EIP-712 implementation: ethers (npm, pinned), run by
tests/js/ethers_typed_data.mjs. Digests must be equal for every action type and for any
message; ethers' signatures must verify in Python and be accepted by the deployed registry.
The script is independent of this project's code, so its answers are known answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain import Party, RegistryClient
from ledger.errors import HeritageError
from tests.hypothesis_profiles import examples
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    cid_of,
    claim_of,
    register_item_typed,
    sign_packed,
)
from tests.reaching import reached, reaches

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tests" / "js" / "ethers_typed_data.mjs"


# ---- the ethers side -------------------------------------------------------------------------


def _js_value(solidity: str, value: Any) -> Any:
    """A message value as ethers takes it: hex for bytes, decimal strings for integers (JSON
    numbers lose precision above 2**53 in JavaScript)."""
    if solidity.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if solidity.startswith("uint"):
        return str(value)
    if solidity == "address[]":
        return [to_checksum_address(a) for a in value]
    return value


def _case(typed: consent.TypedData, key: bytes | None = None) -> dict[str, Any]:
    full = typed.full_message()
    full["domain"]["chainId"] = str(full["domain"]["chainId"])
    fields = dict(consent.ACTION_TYPES[typed.primary_type])
    full["message"] = {k: _js_value(fields[k], v) for k, v in typed.message.items()}
    full["privateKey"] = None if key is None else "0x" + key.hex()
    return full


def run_ethers(cases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ethers' digest (and signature, when a key is given) of every case, in one node run.
    Fails, never skips, when node or the pinned package is missing."""
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "ethers").is_dir():
        pytest.fail("the ethers cross-check needs node and `npm ci` at the repository root")
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps({"cases": list(cases)}),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    assert len(results) == len(cases)
    return results


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


# ---- messages --------------------------------------------------------------------------------

ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
PRIVATE_KEY = st.integers(1, consent.SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


def value_of(solidity: str) -> st.SearchStrategy[Any]:
    if solidity == "bytes32":
        return st.binary(min_size=32, max_size=32)
    if solidity == "bytes":
        return st.binary(max_size=100)
    if solidity == "bool":
        return st.booleans()
    if solidity == "address[]":
        return st.lists(ADDRESS, max_size=6)
    assert solidity.startswith("uint"), solidity
    return st.integers(0, 2 ** int(solidity[4:]) - 1)


@st.composite
def typed_messages(draw: st.DrawFn) -> consent.TypedData:
    primary = draw(st.sampled_from(sorted(consent.ACTION_TYPES)))
    domain = consent.Domain(
        chain_id=draw(st.integers(1, 2**256 - 1)), verifying_contract=draw(ADDRESS)
    )
    message = {name: draw(value_of(t)) for name, t in consent.ACTION_TYPES[primary]}
    return consent.TypedData(domain, primary, message)


def example(primary: str) -> consent.TypedData:
    """One fixed message of each action type, with every field non-trivial."""
    values = {
        "bytes32": bytes(range(32)),
        "bytes": cid_of(primary),
        "bool": True,
        "address[]": [to_checksum_address(f"0x{i:040x}") for i in (1, 2, 0xFF)],
        "uint8": 2,
        "uint32": 7,
        "uint64": FAR_DEADLINE,
    }
    domain = consent.Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    message = {name: values[t] for name, t in consent.ACTION_TYPES[primary]}
    return consent.TypedData(domain, primary, message)


# ---- digests and signatures, off chain -------------------------------------------------------


def test_every_action_type_has_the_same_digest_in_ethers() -> None:
    actions = sorted(consent.ACTION_TYPES)
    assert {"SetTerms", "RevokeTerms", "RecordCustody", "ConsentDerivative"} <= set(actions)
    key = Account.create().key
    results = run_ethers([_case(example(a), bytes(key)) for a in actions])
    for action, result in zip(actions, results, strict=True):
        typed = example(action)
        assert _bytes(result["digest"]) == typed.digest(), action
        signature = _bytes(result["signature"])
        assert consent.recover_signer(typed.digest(), signature) == result["signer"], action


@reaches(0.8)
@settings(
    max_examples=examples(15, least=3),
    deadline=None,  # each example starts node once; no wall-clock limit in tests
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.tuples(typed_messages(), PRIVATE_KEY), min_size=1, max_size=25))
def test_any_message_has_the_same_digest_and_signature_in_ethers(
    batch: list[tuple[consent.TypedData, bytes]],
) -> None:
    results = run_ethers([_case(typed, key) for typed, key in batch])
    for (typed, key), result in zip(batch, results, strict=True):
        digest = typed.digest()
        assert _bytes(result["digest"]) == digest
        signature = _bytes(result["signature"])
        # Python accepts ethers' signature under the registry's rules (low s, v 27/28) …
        assert consent.recover_signer(digest, signature) == result["signer"]
        assert result["signer"] == Account.from_key(key).address
        # … and both sign deterministically (RFC 6979), so the bytes are the same too.
        assert consent.sign(typed, key) == signature
    reached()


def test_a_changed_field_changes_the_ethers_digest() -> None:
    """The comparison above is not vacuous: one differing field gives differing digests."""
    typed = example("SetTerms")
    other = consent.TypedData(typed.domain, "SetTerms", {**typed.message, "version": 8})
    first, second = run_ethers([_case(typed), _case(other)])
    assert first["digest"] != second["digest"]
    assert _bytes(second["digest"]) == other.digest()


# ---- on the deployed registry ----------------------------------------------------------------


def ethers_packed(typed: consent.TypedData, signers: Sequence[LocalAccount]) -> bytes:
    """Signatures made by ethers for ``signers``, packed by increasing address."""
    results = run_ethers([_case(typed, bytes(a.key)) for a in signers])
    for account, result in zip(signers, results, strict=True):
        assert result["signer"] == account.address
    return consent.pack_signatures((r["signer"], _bytes(r["signature"])) for r in results)


def test_ethers_signatures_set_and_revoke_terms_on_the_registry(
    client: RegistryClient, museum: Keyed
) -> None:
    domain = client.domain()
    cid = cid_of(f"ethers-{uuid.uuid4()}")
    registered = client.register_item(
        museum.community,
        cid,
        METADATA,
        TERMS,
        ZERO,
        FAR_DEADLINE,
        sign_packed(register_item_typed(domain, museum, cid), museum.signers(0, 1)),
    )
    key = claim_of(museum.community.id, cid)
    assert registered.key == key
    terms = bytes.fromhex("5e" * 32)
    set_terms = consent.TypedData(
        domain,
        "SetTerms",
        {
            "community": museum.community.id,
            "subject": key,
            "version": 2,
            "terms": terms,
            "deadline": FAR_DEADLINE,
        },
    )
    packed = ethers_packed(set_terms, museum.signers(2, 0))  # given out of order: packing sorts
    # Python's mirror of the contract's check accepts them first …
    assert consent.check_signatures(
        set_terms.digest(), museum.community.keyholders, 2, packed
    ) == sorted([museum.keys[0].address, museum.keys[2].address], key=lambda a: int(a, 16))
    # … and the registry accepts them.
    client.set_terms(key, registered.record, museum.community, 2, terms, FAR_DEADLINE, packed)
    state = client.terms_of(key)
    assert (state.version, state.terms, state.revoked) == (2, terms, False)

    revoke = consent.TypedData(
        domain,
        "RevokeTerms",
        {
            "community": museum.community.id,
            "subject": key,
            "version": 2,
            "deadline": FAR_DEADLINE,
        },
    )
    client.revoke_terms(
        key,
        registered.record,
        museum.community,
        2,
        FAR_DEADLINE,
        ethers_packed(revoke, museum.signers(1, 2)),
    )
    assert client.terms_of(key).revoked


def test_ethers_consent_lets_another_community_derive_from_a_claim(
    client: RegistryClient, museum: Keyed, tribe: Keyed
) -> None:
    """The tribe's keyholders consent through ethers (ConsentDerivative) to the museum's
    derivative of the tribe's claim, and the museum signs RegisterDerivative through ethers:
    the registry accepts both, and Python's derivative_consent has ethers' digest."""
    domain = client.domain()
    cid = cid_of(f"ethers-parent-{uuid.uuid4()}")
    parent = client.register_item(
        tribe.community,
        cid,
        METADATA,
        TERMS,
        ZERO,
        FAR_DEADLINE,
        sign_packed(register_item_typed(domain, tribe, cid), tribe.signers(0, 1)),
    )
    assert parent.key == claim_of(tribe.community.id, cid)
    child = cid_of(f"ethers-child-{uuid.uuid4()}")
    method = bytes.fromhex("3d" * 32)
    agreement = consent.derivative_consent(
        domain, parent.key, museum.community.id, child, method, True, FAR_DEADLINE
    )
    [ethers_digest] = run_ethers([_case(agreement)])
    assert _bytes(ethers_digest["digest"]) == agreement.digest()
    registration = consent.TypedData(
        domain,
        "RegisterDerivative",
        {
            "community": museum.community.id,
            "parent": parent.key,
            "cid": child,
            "metadata": METADATA,
            "terms": TERMS,
            "method": method,
            "aiEnhanced": True,
            "deadline": FAR_DEADLINE,
        },
    )
    derivative = client.register_derivative(
        museum.community,
        parent.key,
        child,
        METADATA,
        TERMS,
        method,
        True,
        FAR_DEADLINE,
        ethers_packed(registration, museum.signers(1, 2)),
        parent.record,
        Party(tribe.community, ethers_packed(agreement, tribe.signers(1, 0))),
    )
    assert derivative.key == claim_of(museum.community.id, child)
    assert client.record_hash(derivative.key) == derivative.record.digest()


# ---- the direct digest and eth-account's general encoder --------------------------------------


@reaches(0.8)
@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(typed_messages())
def test_the_direct_digest_is_eth_accounts_for_any_message(typed: consent.TypedData) -> None:
    """TypedData.digest hashes the actions' few field types itself; eth-account's general
    EIP-712 encoder (what sign() uses) must give the same digest for every message."""
    signable = typed.signable()
    assert typed.digest() == keccak(b"\x19" + signable.version + signable.header + signable.body)
    reached()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", bytes(31)),
        ("subject", "0x12zz"),
        ("version", 2**32),
        ("version", -1),
        ("version", True),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused(field: str, value: Any) -> None:
    message = dict(example("SetTerms").message) | {field: value}
    typed = consent.TypedData(example("SetTerms").domain, "SetTerms", message)
    with pytest.raises(HeritageError, match=field):
        typed.digest()
