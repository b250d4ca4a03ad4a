"""Garbage collection on every backend: KuboNode.gc against `heritage ipfs serve` (the embedded
node behind the real IPFS app under uvicorn, over real HTTP), the app's `/api/v0/repo/gc` in
Kubo's shapes, and a withdrawal through the remote backend that leaves no plaintext block.

Kubo's answer shapes come from its RPC reference and core/commands/repo.go: POST, one JSON
object per line, ``{"Key": {"/": "<cid>"}}`` per removed block; with ``stream-errors`` an
error is ``{"Key": null, "Error": "<message>"}``; ``silent`` sends no Key lines. The stream
faults below come from a fake Kubo (a Starlette app): a remote node that misbehaves is outside
this machine, so it is the one thing faked here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import ipfshttpclient
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ledger.chain import connect
from ledger.errors import BlockNotFound, IpfsError, NotFound, RemoteNodeError
from ledger.ipfs.backend import EmbeddedNode, KuboNode
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.unixfs import ImportedEntry, ImportOptions
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests import registry_support
from tests.chain_support import free_port
from tests.cli_runner import run_heritage
from tests.registry_support import PASSPHRASE, chain_snapshot, settings_on
from tests.rights_support import public_terms, restricted_terms, write_terms

chain_settings = registry_support.chain_settings  # the session anvil, as a fixture here
registrar = registry_support.registrar  # a Registry on it with the embedded node
CHUNK = 262_144


@pytest.fixture
def kubo(served_node: str) -> Iterator[KuboNode]:
    node = KuboNode(served_node)
    yield node
    node.close()


def blocks_of(node: EmbeddedNode, root: Cid) -> set[bytes]:
    """The multihashes of every block of the DAG under ``root``."""
    return {cid.multihash for cid, _ in walk_dag(root, node.store.get_block)}


def stored(node: EmbeddedNode) -> set[bytes]:
    return set(node.store.iter_multihashes())


def add(kubo: KuboNode, data: bytes, *, pin: bool) -> ImportedEntry:
    return kubo.add_stream(io.BytesIO(data), ImportOptions(), pin=pin)


def rpc(base: str, path: str, **params: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v0/{path}", params=params, timeout=60)


def ndjson(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


# ---- the remote backend collects ------------------------------------------------------------


def test_remote_gc_removes_exactly_the_unpinned_blocks(
    kubo: KuboNode, embedded_node: EmbeddedNode, served_node: str
) -> None:
    kept = add(kubo, os.urandom(3 * CHUNK + 5), pin=True)
    dropped = add(kubo, os.urandom(2 * CHUNK + 7), pin=False)
    direct = kubo.block_put(b"a directly pinned block " + os.urandom(8))
    kubo.pin_add(direct, recursive=False)
    keep, drop = blocks_of(embedded_node, kept.cid), blocks_of(embedded_node, dropped.cid)
    assert len(drop) == 4 and not keep & drop  # three leaves and their root

    removed = kubo.gc()

    # CIDv1 raw of each removed block, as Kubo names blocks from its multihash-keyed store
    assert sorted(str(c) for c in removed) == sorted(str(Cid(1, RAW, m)) for m in drop)
    assert stored(embedded_node) == keep | {direct.multihash}
    assert b"".join(kubo.cat(str(kept.cid)))  # pinned content survives, whole
    assert kubo.block_get(direct)
    with pytest.raises(NotFound):
        kubo.block_get(dropped.cid)
    gateway = httpx.get(f"{served_node}/ipfs/{dropped.cid}", timeout=60)
    assert gateway.status_code == 404
    assert kubo.gc() == []  # nothing left to collect


def test_repo_gc_speaks_kubos_shapes(
    kubo: KuboNode, embedded_node: EmbeddedNode, served_node: str
) -> None:
    first = add(kubo, b"unpinned one " + os.urandom(8), pin=False)
    response = rpc(served_node, "repo/gc")
    assert response.status_code == 200
    assert response.headers["x-chunked-output"] == "1"
    assert ndjson(response) == [{"Key": {"/": str(Cid(1, RAW, first.cid.multihash))}}]

    # silent: collected, nothing named (as `ipfs repo gc --silent`)
    second = add(kubo, b"unpinned two " + os.urandom(8), pin=False)
    silent = rpc(served_node, "repo/gc", silent="true")
    assert silent.status_code == 200 and silent.text == ""
    assert not embedded_node.store.has_block(second.cid)

    # an unmodified ipfshttpclient reads the answer
    third = add(kubo, b"unpinned three " + os.urandom(8), pin=False)
    port = served_node.rsplit(":", 1)[1]
    with ipfshttpclient.Client(f"/ip4/127.0.0.1/tcp/{port}/http") as client:
        answer = client.repo.gc()
    assert [dict(item.as_json()) for item in answer] == [
        {"Key": {"/": str(Cid(1, RAW, third.cid.multihash))}}
    ]

    # bad options are refused with Kubo's error body, and collect nothing
    fourth = add(kubo, b"unpinned four " + os.urandom(8), pin=False)
    refused = rpc(served_node, "repo/gc", **{"stream-errors": "maybe"})
    assert refused.status_code == 400 and refused.json()["Type"] == "error"
    assert "stream-errors" in refused.json()["Message"]
    assert rpc(served_node, "repo/gc", arg="x").status_code == 400
    assert embedded_node.store.has_block(fourth.cid)


def test_a_pinned_dag_that_cannot_be_walked_stops_gc_before_any_removal(
    kubo: KuboNode, embedded_node: EmbeddedNode, served_node: str
) -> None:
    pinned = add(kubo, os.urandom(2 * CHUNK + 1), pin=True)
    loose = add(kubo, b"unpinned " + os.urandom(8), pin=False)
    *_, (leaf, _) = walk_dag(pinned.cid, embedded_node.store.get_block)
    embedded_node.store.delete_block(leaf.multihash)  # the pinned DAG lost a block
    before = stored(embedded_node)

    with pytest.raises(RemoteNodeError, match="cannot be walked") as caught:
        kubo.gc()
    assert f"IPFS node at {served_node}" in caught.value.message
    assert "heritage ipfs gc" in (caught.value.hint or "")
    assert stored(embedded_node) == before and embedded_node.store.has_block(loose.cid)

    # Kubo's two answers: an error body (500) without stream-errors...
    plain = rpc(served_node, "repo/gc")
    assert plain.status_code == 500 and "cannot be walked" in plain.json()["Message"]
    # ...and with it, an Error line, then the error that ends the run
    streamed = rpc(served_node, "repo/gc", **{"stream-errors": "true"})
    assert streamed.status_code == 200
    error_line, verdict = ndjson(streamed)
    assert error_line["Key"] is None and "cannot be walked" in str(error_line["Error"])
    assert verdict["Type"] == "error" and verdict["Message"] == "encountered errors during gc run"
    assert stored(embedded_node) == before


def test_a_block_that_cannot_be_removed_is_reported_and_the_rest_collected(
    kubo: KuboNode, embedded_node: EmbeddedNode, served_node: str
) -> None:
    stuck = Cid.for_block(b"a block the store cannot unlink", RAW)
    # A directory where the block's file would be: unlink fails (EISDIR) even for root.
    path = embedded_node.store.path_of(stuck.multihash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()
    loose = add(kubo, b"unpinned " + os.urandom(8), pin=False)

    with pytest.raises(RemoteNodeError, match="could not remove") as caught:
        kubo.gc()
    assert str(stuck) in caught.value.message and "removing 1 blocks" in caught.value.message
    assert not embedded_node.store.has_block(loose.cid)  # collection went on past it

    another = add(kubo, b"unpinned again " + os.urandom(8), pin=False)
    streamed = rpc(served_node, "repo/gc", **{"stream-errors": "true"})
    lines = ndjson(streamed)
    assert lines[0] == {"Key": {"/": str(Cid(1, RAW, another.cid.multihash))}}
    assert lines[1]["Key"] is None and str(stuck) in str(lines[1]["Error"])
    assert lines[2]["Type"] == "error"
    with pytest.raises(IpfsError, match="could not remove 1"):
        embedded_node.gc()  # the embedded node's own gc says the same


# ---- a remote node that answers badly (a fake Kubo: outside this machine) -------------------


def fake_kubo(serve: Callable[[ASGIApp], str], body: bytes, status: int = 200) -> KuboNode:
    async def version(_request: Request) -> JSONResponse:
        return JSONResponse({"Version": "0.32.0", "Commit": "", "Repo": "16"})

    async def gc(_request: Request) -> Response:
        return Response(
            body, status_code=status, media_type="application/json",
            headers={"X-Chunked-Output": "1"},
        )  # fmt: skip

    app = Starlette(
        routes=[
            Route("/api/v0/version", version, methods=["POST"]),
            Route("/api/v0/repo/gc", gc, methods=["POST"]),
        ]
    )
    return KuboNode(serve(app))


KEY = "bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"Key":{"/":"' + KEY.encode() + b'"}}\n{"Key":null,"Error":"disk on fire"}\n',
         200, "reported 1 error(s) after removing 1 blocks: disk on fire"),
        (b'{"Message":"gc already running","Code":0,"Type":"error"}', 500, "gc already running"),
        (b'{"Key":{"/":"' + KEY.encode() + b'"}}\n{"Message":"late","Code":0,"Type":"error"}\n',
         200, "late"),
        (b"<html>a proxy's error page</html>", 200, "something other than JSON"),
        (b'{"Key":{"/":"not a cid"}}\n', 200, "'not a cid' is not a CID"),
        (b'{"Removed":1}\n', 200, "names no removed CID and no error"),
        (b'["Key"]\n', 200, "is not a JSON object"),
    ],
)  # fmt: skip
def test_a_faulty_gc_answer_is_a_clear_remote_node_error(
    serve: Callable[[ASGIApp], str], body: bytes, status: int, message: str
) -> None:
    node = fake_kubo(serve, body, status)
    with pytest.raises(RemoteNodeError) as caught:
        node.gc()
    assert message in caught.value.message
    assert node.api in caught.value.message


def test_old_go_ipfs_key_strings_and_empty_answers_are_read(
    serve: Callable[[ASGIApp], str],
) -> None:
    assert fake_kubo(serve, b'{"Key":"' + KEY.encode() + b'"}\n').gc() == [Cid.parse(KEY)]
    assert fake_kubo(serve, b"").gc() == []


# ---- the CLI ---------------------------------------------------------------------------------


def heritage(data_dir: Path, api: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HERITAGE_DATA_DIR": str(data_dir), "HERITAGE_IPFS_API": api, "HERITAGE_FSYNC": "false"}
    proc = run_heritage(args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_cli_gc_works_against_a_remote_node(
    kubo: KuboNode, embedded_node: EmbeddedNode, served_node: str, tmp_path: Path
) -> None:
    loose = add(kubo, b"unpinned " + os.urandom(8), pin=False)
    kept = add(kubo, b"pinned " + os.urandom(8), pin=True)
    done = heritage(tmp_path / "cli", served_node, "ipfs", "gc", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"removed": [str(Cid(1, RAW, loose.cid.multihash))]}
    assert embedded_node.store.has_block(kept.cid)
    assert not embedded_node.store.has_block(loose.cid)
    # without --json it says what collecting on a remote node means
    again = heritage(tmp_path / "cli", served_node, "ipfs", "gc")
    assert again.returncode == 0, again.stderr
    assert "not only this project's" in again.stderr and "0 blocks removed" in again.stderr
    # and a failing collection is one error line, not a traceback
    *_, (leaf, _) = walk_dag(kept.cid, embedded_node.store.get_block)
    embedded_node.store.delete_block(leaf.multihash)
    failed = heritage(tmp_path / "cli", served_node, "ipfs", "gc")
    assert failed.returncode == 1 and "error[remote_node_error]" in failed.stderr


# ---- a withdrawal through the remote backend -------------------------------------------------


@pytest.fixture
def remote_registrar(
    chain_settings: Settings, tmp_path: Path, served_node: str
) -> Iterator[Registry]:
    """A registrar whose IPFS node is the served embedded node, reached as a remote Kubo."""
    settings = settings_on(chain_settings, tmp_path / "registrar", ipfs_api=served_node)
    with chain_snapshot(connect(settings.rpc_url)), Registry(settings) as registrar:
        registrar.session.use_sender(anvil_dev_account())
        assert isinstance(registrar.node, KuboNode)
        yield registrar  # closing the Registry closes its session with the node


def test_withdrawal_through_the_remote_backend_collects_the_plaintext_there(
    remote_registrar: Registry,
    embedded_node: EmbeddedNode,
    served_node: str,
    tmp_path: Path,
) -> None:
    registrar = remote_registrar
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(2)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    name = "remote-withdraw-" + tmp_path.name
    registrar.communities.create(name, holders, 1, keys)
    community = registrar.reader.resolve_community(name)
    public = write_terms(tmp_path / "public.json", public_terms(community))
    plaintext = os.urandom(3 * CHUNK + 99)  # a DAG of several blocks
    (tmp_path / "open.obj").write_bytes(plaintext)
    (tmp_path / "stays.obj").write_bytes(os.urandom(CHUNK + 3))
    withdrawn, stays = registrar.items.register(
        [tmp_path / "open.obj", tmp_path / "stays.obj"], community, public, keys
    )
    plain_blocks = blocks_of(embedded_node, withdrawn.cid) | {withdrawn.metadata_cid.multihash}
    kept_blocks = blocks_of(embedded_node, stays.cid) | {stays.metadata_cid.multihash}
    # someone else's unpinned block on the shared node
    stranger = embedded_node.block_put(b"another user's cached block " + os.urandom(8))

    restricted = write_terms(tmp_path / "restricted.json", restricted_terms(community))
    result = registrar.terms.set(str(withdrawn.cid), restricted, keys).to_json()

    assert set(result["unpinned"]) == {str(withdrawn.cid), str(withdrawn.metadata_cid)}
    assert "gc_error" not in result
    assert "cannot be recalled" in result["warning"]
    assert f"IPFS node at {served_node}" in result["warning"]
    assert "every block that no pin there reaches" in result["warning"]
    # every plaintext block is gone from the served node's blockstore...
    assert not plain_blocks & stored(embedded_node)
    samples = [plaintext[i : i + 64] for i in range(0, len(plaintext), CHUNK // 4)]
    for multihash in stored(embedded_node):
        data = embedded_node.store.path_of(multihash).read_bytes()
        assert not any(sample in data for sample in samples)
    # ...its RPC and gateway no longer serve it...
    with pytest.raises(BlockNotFound):
        embedded_node.block_get(withdrawn.cid)
    with pytest.raises(NotFound):
        registrar.node.block_get(withdrawn.cid)
    with pytest.raises(NotFound):
        b"".join(registrar.node.cat(str(withdrawn.cid)))
    assert httpx.get(f"{served_node}/ipfs/{withdrawn.cid}", timeout=60).status_code == 404
    # ...pinned content survives (the other item, its metadata, the registry's documents)...
    assert kept_blocks <= stored(embedded_node)
    assert httpx.get(f"{served_node}/ipfs/{stays.cid}", timeout=60).status_code == 200
    assert b"".join(registrar.node.cat(str(stays.cid)))
    # ...and, as `ipfs repo gc` does, another user's unpinned block went too
    assert not embedded_node.store.has_block(stranger)


def test_a_failed_remote_collection_is_reported_not_hidden(
    remote_registrar: Registry, embedded_node: EmbeddedNode, tmp_path: Path
) -> None:
    registrar = remote_registrar
    holder = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    name = "remote-gc-fails-" + tmp_path.name
    registrar.communities.create(name, [holder], 1, keys)
    community = registrar.reader.resolve_community(name)
    public = write_terms(tmp_path / "public.json", public_terms(community))
    (tmp_path / "a.obj").write_bytes(os.urandom(2 * CHUNK + 1))
    (tmp_path / "b.obj").write_bytes(os.urandom(2 * CHUNK + 1))
    target, broken = registrar.items.register(
        [tmp_path / "a.obj", tmp_path / "b.obj"], community, public, keys
    )
    *_, (leaf, _) = walk_dag(broken.cid, embedded_node.store.get_block)
    embedded_node.store.delete_block(leaf.multihash)  # a pinned DAG that cannot be walked

    result = registrar.terms.revoke(str(target.cid), keys).to_json()

    assert result["revoked"] is True  # the chain holds the revocation...
    assert "cannot be walked" in result["gc_error"]  # ...and the failed collection is said
    assert "FAILED" in result["warning"] and "heritage ipfs gc" in result["warning"]
    assert "unpinned and collected" not in result["warning"]
    assert embedded_node.store.has_block(target.cid)  # still there: nothing was collected
    assert target.cid not in registrar.node.pin_ls()


def test_an_unreachable_node_after_the_chain_change_is_reported_not_raised(
    registrar: Registry, tmp_path: Path
) -> None:
    """Revoked with the data directory's settings but an IPFS node that does not answer (a
    port nothing listens on): the revocation is on chain, and the result says the plaintext
    was not withdrawn instead of raising as if nothing had happened."""
    holder = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    name = "unreachable-node-" + tmp_path.name
    registrar.communities.create(name, [holder], 1, keys)
    community = registrar.reader.resolve_community(name)
    public = write_terms(tmp_path / "public.json", public_terms(community))
    (tmp_path / "a.obj").write_bytes(os.urandom(CHUNK + 1))
    (item,) = registrar.items.register([tmp_path / "a.obj"], community, public, keys)

    dead = f"http://127.0.0.1:{free_port()}"
    settings = dataclasses.replace(registrar.settings, ipfs_api=dead)
    with Registry(settings) as elsewhere:
        elsewhere.session.use_sender(anvil_dev_account())
        result = elsewhere.terms.revoke(str(item.cid), keys).to_json()

    assert result["revoked"] is True
    assert "unpinning" in result["gc_error"] and "FAILED" in result["warning"]
    assert registrar.client.terms_of(item.key).revoked
    assert item.cid in registrar.node.pin_ls()  # untouched: nothing could be done there
