"""A real anvil for the chain client's tests: one per session, with the registry deployed and
two communities created once; every test runs between ``evm_snapshot`` and ``evm_revert``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from ledger import consent
from ledger.chain import (
    REGISTRY_CONTRACT,
    Community,
    Deployment,
    RegistryClient,
    TxJournal,
    connect,
)
from ledger.settings import Settings
from local_chain import anvil_dev_account, chain_down, chain_up
from tests.chain_support import chain_settings

FAR_DEADLINE = 2**64 - 1
DOCUMENT = bytes.fromhex("d0" * 32)


def dev_account() -> LocalAccount:
    """anvil's well-known dev account 0: the sender that pays gas on the local chain."""
    return anvil_dev_account()


def new_keys(count: int) -> list[LocalAccount]:
    """``count`` fresh keyholder keys (made at run time), sorted by address."""
    return sorted((Account.create() for _ in range(count)), key=lambda a: int(a.address, 16))


def sign_packed(typed: consent.TypedData, signers: Sequence[LocalAccount]) -> bytes:
    """Signatures of ``signers``, packed in increasing signer order as the contract wants."""
    return consent.pack_signatures((a.address, consent.sign(typed, bytes(a.key))) for a in signers)


def community_id(name: str) -> bytes:
    """The salt a test community named ``name`` is created with (the id derives from it)."""
    return Web3.keccak(text=f"community:{name}")


@dataclass(frozen=True, slots=True)
class Keyed:
    """A community and the keys of its keyholders (in keyholder order)."""

    community: Community
    keys: tuple[LocalAccount, ...]

    def signers(self, *indexes: int) -> list[LocalAccount]:
        return [self.keys[i] for i in indexes]


@dataclass(frozen=True, slots=True)
class Node:
    settings: Settings
    deployment: Deployment
    w3: Web3

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in reply, reply
        return reply["result"]

    def client(self, journal_dir: Path) -> RegistryClient:
        return RegistryClient(
            self.w3,
            self.deployment.registry_address,
            dev_account(),
            TxJournal(journal_dir, fsync=False),
            from_block=self.deployment.deploy_block,
        )


def create_community(client: RegistryClient, name: str, n: int, k: int) -> Keyed:
    keys = new_keys(n)
    community = Community.founded(community_id(name), [a.address for a in keys], k)
    typed = consent.TypedData(
        client.domain(),
        "CreateCommunity",
        {
            "community": community.id,
            "keyholders": list(community.keyholders),
            "threshold": k,
            "document": DOCUMENT,
            "deadline": FAR_DEADLINE,
        },
    )
    client.create_community(
        community, community_id(name), DOCUMENT, FAR_DEADLINE, sign_packed(typed, keys)
    )
    return Keyed(community, tuple(keys))


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The session's anvil with the registry deployed."""
    from contracts import load_artifact

    settings = chain_settings(tmp_path_factory.mktemp("chain-client"))
    up = chain_up(settings, load_artifact(REGISTRY_CONTRACT))
    assert up.deployment is not None
    try:
        yield Node(settings, up.deployment, connect(settings.rpc_url))
    finally:
        chain_down(settings)


@pytest.fixture(scope="session")
def session_client(node: Node, tmp_path_factory: pytest.TempPathFactory) -> RegistryClient:
    """A client for set-up and for eth_call-only tests (which change no state)."""
    return node.client(tmp_path_factory.mktemp("session-journal"))


@pytest.fixture(scope="session")
def museum(session_client: RegistryClient) -> Keyed:
    """A 2-of-3 community, created once for the session."""
    return create_community(session_client, "museum", 3, 2)


@pytest.fixture(scope="session")
def tribe(session_client: RegistryClient) -> Keyed:
    """A second community (2 of 2), for custody between communities."""
    return create_community(session_client, "tribe", 2, 2)


@pytest.fixture(autouse=True)
def chain_snapshot(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the session's chain leaves it as it found it."""
    if "node" not in request.fixturenames:
        yield
        return
    node: Node = request.getfixturevalue("node")
    # Make the session's communities before the snapshot, so that they outlive it.
    for name in ("museum", "tribe"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    session_client: RegistryClient = request.getfixturevalue("session_client")
    snapshot = node.rpc("evm_snapshot")
    try:
        yield
    finally:
        assert node.rpc("evm_revert", snapshot) is True
        session_client.resync_nonce()


@pytest.fixture
def client(node: Node, tmp_path: Path) -> RegistryClient:
    """A client with a journal of this test's own."""
    return node.client(tmp_path / "journal")


# ---- actions, signed -------------------------------------------------------------------------

CID_PREFIX = bytes.fromhex("01551220")  # CIDv1, raw, sha2-256, 32 bytes
METADATA = bytes.fromhex("a1" * 32)
TERMS = bytes.fromhex("7e" * 32)
ZERO = bytes(32)


# ---- keys, from their definitions (eth_abi and keccak, not ledger.chain) ----------------------


def content_of(cid: bytes) -> bytes:
    """The content key of a CID, by definition: keccak256(cid)."""
    return keccak(cid)


def claim_of(community: bytes, cid: bytes) -> bytes:
    """A community's claim key on a CID, by definition:
    keccak256(abi.encode(community, keccak256(cid)))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [community, keccak(cid)]))


def batch_key_of(community: bytes, root: bytes) -> bytes:
    """A community's batch key for a Merkle root, by definition:
    keccak256(abi.encode(community, root))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [community, root]))


def item_subject_of(batch: bytes, content: bytes) -> bytes:
    """The terms subject of one item of a batch, by definition:
    keccak256(abi.encode(batchKey, contentKey))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [batch, content]))


def cid_of(label: str | int) -> bytes:
    """A binary CIDv1 (raw, sha2-256) for a test item."""
    import hashlib

    return CID_PREFIX + hashlib.sha256(str(label).encode()).digest()


def typed_data(domain: consent.Domain, primary: str, **message: Any) -> consent.TypedData:
    return consent.TypedData(domain, primary, message)


def register_item_typed(
    domain: consent.Domain,
    keyed: Keyed,
    cid: bytes,
    *,
    metadata: bytes = METADATA,
    terms: bytes = TERMS,
    commitment: bytes = ZERO,
    deadline: int = FAR_DEADLINE,
) -> consent.TypedData:
    return typed_data(
        domain,
        "RegisterItem",
        community=keyed.community.id,
        cid=cid,
        metadata=metadata,
        terms=terms,
        commitment=commitment,
        deadline=deadline,
    )
