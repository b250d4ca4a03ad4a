"""The one JSON-RPC transport: every path to the chain (the client's sends and reads, the
verification read path, index sync, deployment, the local chain's probes) goes through it, a
dead endpoint is ChainUnavailable with the same clear message from each, and what a relay or
proxy in between does reaches the caller as the node meant it. Real anvil, real closed ports,
a real HTTP relay."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from contracts import load_artifact
from ledger.chain import (
    REGISTRY_CONTRACT,
    Calls,
    RegistryClient,
    RpcTransport,
    TransportProvider,
    TxJournal,
    check_deployment,
    connect,
    transport_of,
)
from ledger.errors import ChainError, ChainUnavailable
from ledger.index import EventIndex, Web3Reader
from local_chain import chain_status
from local_chain.anvil import rpc_chain_id
from local_chain.lifecycle import deploy_artifact
from tests.chain_support import free_port
from tests.ledger.chain.conftest import DOCUMENT, FAR_DEADLINE, Keyed, Node
from tests.ledger.chain.conftest import community_id as salt_of
from tests.rpc_relay import rpc_relay

HINT = "start the local chain with `heritage chain up`, or check HERITAGE_RPC_URL"


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def _client(url: str, node: Node, tmp_path: Path) -> RegistryClient:
    return RegistryClient(
        connect(url),
        node.deployment.registry_address,
        Account.create(),
        TxJournal(tmp_path / "journal", fsync=False),
    )


def _sync(w3: Web3, node: Node, tmp_path: Path) -> None:
    registry = node.deployment.registry_address
    with EventIndex(tmp_path / "index.sqlite", Web3Reader(w3), registry, 0) as index:
        index.sync()


def test_a_dead_endpoint_is_chain_unavailable_from_every_path(
    node: Node, museum: Keyed, tmp_path: Path
) -> None:
    dead = _dead_url()
    expected = f"no chain answers at {dead} (ConnectionRefusedError)"
    client = _client(dead, node, tmp_path)
    attempts: dict[str, Callable[[], object]] = {
        "client view": lambda: client.record_hash(bytes(32)),
        "client chain id": client.chain_id,
        "client head": client.head,
        "client batch read": lambda: client.read_many([bytes(32)], [bytes(32)], block=1),
        "client send": lambda: client.transact(
            Calls.create_community(museum.community, salt_of("museum"), DOCUMENT, FAR_DEADLINE, b"")
        ),
        "index sync": lambda: _sync(connect(dead), node, tmp_path),
        "deployment check": lambda: check_deployment(connect(dead), node.deployment),
        "deploy": lambda: deploy_artifact(connect(dead), load_artifact(REGISTRY_CONTRACT)),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ChainUnavailable) as caught:
            attempt()
        assert caught.value.message == expected, name
        assert caught.value.hint == HINT, name
    assert rpc_chain_id(dead) is None


def test_chain_status_of_a_dead_outside_endpoint_names_it(node: Node, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text("{}")
    dead = _dead_url()
    settings = dataclasses.replace(node.settings, rpc_url=dead, deployment=deployment)
    with pytest.raises(ChainUnavailable, match=f"no chain answers at {dead}") as caught:
        chain_status(settings)
    assert caught.value.hint == "check HERITAGE_RPC_URL and that the chain is running"


def test_web3_and_the_read_path_share_one_transport_and_one_connection(
    node: Node, museum: Keyed, tmp_path: Path
) -> None:
    client = node.client(tmp_path / "journal")
    assert isinstance(client.w3.provider, TransportProvider)
    transport = transport_of(client.w3)
    client.head()  # the read path's batch
    conn = transport._local.conn
    assert client.chain_id() == node.w3.eth.chain_id  # through web3
    assert client.community_matches(museum.community)
    assert transport._local.conn is conn, "one kept-alive connection for both"


def test_a_web3_client_not_made_by_connect_is_refused_by_the_read_path(node: Node) -> None:
    with pytest.raises(ChainError, match="not the project's JSON-RPC transport"):
        transport_of(Web3(HTTPProvider(node.settings.rpc_url)))


def test_every_request_of_the_client_goes_through_the_relay_in_between(
    node: Node, museum: Keyed, tmp_path: Path
) -> None:
    with rpc_relay(node.settings.rpc_url) as relay:
        client = _client(relay.url, node, tmp_path)
        head = client.head()
        assert head.chain_id == node.w3.eth.chain_id
        assert client.community_matches(museum.community)
        reads = client.read_many([museum.community.id], [], block=head.number)
        assert set(reads.records) == {museum.community.id}
    assert relay.methods[0] == ["eth_chainId", "eth_getBlockByNumber"]
    assert ["eth_call"] in relay.methods


def test_an_answer_that_is_not_json_is_a_chain_error_naming_the_endpoint(
    node: Node, tmp_path: Path
) -> None:
    with rpc_relay(node.settings.rpc_url, "not_json") as relay:
        client = _client(relay.url, node, tmp_path)
        for attempt in (client.chain_id, client.head):
            with pytest.raises(ChainError, match=f"the chain at {relay.url} answered with "
                               "something that is not JSON") as caught:
                attempt()
            assert not isinstance(caught.value, ChainUnavailable)


def test_a_node_that_refuses_batches_is_asked_one_call_at_a_time(
    node: Node, museum: Keyed, tmp_path: Path
) -> None:
    direct = node.client(tmp_path / "direct").head()
    with rpc_relay(node.settings.rpc_url, "no_batches") as relay:
        client = _client(relay.url, node, tmp_path)
        assert client.head() == direct
    assert relay.methods == [
        ["eth_chainId", "eth_getBlockByNumber"], ["eth_chainId"], ["eth_getBlockByNumber"]
    ]


def test_an_http_proxy_from_the_environment_carries_the_requests(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As requests did for web3's provider: HTTP_PROXY is honoured, NO_PROXY bypasses it."""
    with rpc_relay(node.settings.rpc_url) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        assert RpcTransport(node.settings.rpc_url).request("eth_chainId") == hex(
            node.w3.eth.chain_id
        )
        assert proxy.request_lines == [node.settings.rpc_url]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        RpcTransport(node.settings.rpc_url).request("eth_chainId")
        assert proxy.request_lines == [node.settings.rpc_url], "bypassed"
