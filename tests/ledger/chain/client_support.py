"""Calls on the registry and their signatures, as the client tests build them: one home for
the helpers of test_chain_client.py and test_registry_refusals.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger import consent
from ledger.chain import (
    Party,
    Registration,
    RegistryClient,
)
from ledger.errors import RegistryReverted
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from tests.ledger.chain.conftest import (
    FAR_DEADLINE,
    METADATA,
    TERMS,
    ZERO,
    Keyed,
    cid_of,
    content_of,
    register_item_typed,
    sign_packed,
    typed_data,
)

N = consent.SECP256K1_N


def reverts(name: str, action: Callable[[], object]) -> RegistryReverted:
    with pytest.raises(RegistryReverted) as caught:
        action()
    assert caught.value.error_name == name, caught.value
    assert name in str(caught.value)
    return caught.value


def register(client: RegistryClient, keyed: Keyed, label: str | int, *signers: int) -> Registration:
    cid = cid_of(label)
    typed = register_item_typed(client.domain(), keyed, cid)
    packed = sign_packed(typed, keyed.signers(*(signers or (0, 1))))
    return client.register_item(keyed.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed)


def register_call(
    client: RegistryClient, keyed: Keyed, cid: bytes, packed: bytes
) -> Callable[[], object]:
    return lambda: client.register_item(
        keyed.community, cid, METADATA, TERMS, ZERO, FAR_DEADLINE, packed
    )


METHOD = bytes.fromhex("3d" * 32)


def consent_typed(
    domain: consent.Domain,
    parent: bytes,
    deriver: Keyed,
    cid: bytes,
    *,
    method: bytes = METHOD,
    ai: bool = False,
    deadline: int = FAR_DEADLINE,
) -> consent.TypedData:
    """ConsentDerivative, as the parent claim's steward signs it."""
    return typed_data(
        domain,
        "ConsentDerivative",
        parent=parent,
        community=deriver.community.id,
        cid=cid,
        method=method,
        aiEnhanced=ai,
        deadline=deadline,
    )


def derivative_typed(
    domain: consent.Domain,
    deriver: Keyed,
    parent: bytes,
    cid: bytes,
    *,
    method: bytes = METHOD,
    ai: bool = False,
) -> consent.TypedData:
    """RegisterDerivative, as the deriving community signs it."""
    return typed_data(
        domain,
        "RegisterDerivative",
        community=deriver.community.id,
        parent=parent,
        cid=cid,
        metadata=METADATA,
        terms=TERMS,
        method=method,
        aiEnhanced=ai,
        deadline=FAR_DEADLINE,
    )


def derive_call(
    client: RegistryClient,
    deriver: Keyed,
    parent: Registration,
    cid: bytes,
    steward: Party,
    *,
    method: bytes = METHOD,
    ai: bool = False,
    parent_key: bytes | None = None,
) -> Callable[[], Registration]:
    """A derivative of ``parent`` by ``deriver`` (keyholders 0 and 1 sign RegisterDerivative)
    with the parent steward's side ``steward``, ready to send."""
    key = parent.key if parent_key is None else parent_key
    typed = derivative_typed(client.domain(), deriver, key, cid, method=method, ai=ai)
    packed = sign_packed(typed, deriver.signers(0, 1))
    return lambda: client.register_derivative(
        deriver.community,
        key,
        cid,
        METADATA,
        TERMS,
        method,
        ai,
        FAR_DEADLINE,
        packed,
        parent.record,
        steward,
    )


def consenting(
    client: RegistryClient,
    steward: Keyed,
    parent: bytes,
    deriver: Keyed,
    cid: bytes,
    *signers: int,
    method: bytes = METHOD,
    ai: bool = False,
) -> Party:
    """The parent steward's side: ``signers`` of ``steward`` sign ConsentDerivative."""
    typed = consent_typed(client.domain(), parent, deriver, cid, method=method, ai=ai)
    return Party(steward.community, sign_packed(typed, steward.signers(*(signers or (0, 1)))))


def python_refuses(typed: consent.TypedData, keyed: Keyed, packed: bytes) -> None:
    with pytest.raises(consent.SignatureError):
        consent.check_signatures(
            typed.digest(), keyed.community.keyholders, keyed.community.threshold, packed
        )


def batch_of(count: int) -> tuple[StandardMerkleTree, list[tuple[bytes, bytes, bytes]]]:
    values = [(content_of(cid_of(f"batch-{i}")), METADATA, ZERO) for i in range(count)]
    return StandardMerkleTree.of(values, BATCH_LEAF_TYPES), values


MANIFEST = bytes.fromhex("3a" * 32)  # sha2-256 of a batch manifest, bound into the record


def register_batch(client: RegistryClient, keyed: Keyed, tree: StandardMerkleTree) -> Registration:
    typed = typed_data(
        client.domain(),
        "RegisterBatch",
        community=keyed.community.id,
        root=tree.root,
        count=len(tree),
        terms=TERMS,
        manifest=MANIFEST,
        deadline=FAR_DEADLINE,
    )
    return client.register_batch(
        keyed.community,
        tree.root,
        len(tree),
        TERMS,
        MANIFEST,
        FAR_DEADLINE,
        sign_packed(typed, keyed.signers(0, 1)),
    )
