"""The local chain for real: the pinned anvil started, stopped, reloaded and inspected, in
process and through the `heritage` CLI as a separate process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import TxParams, Wei

from contracts import Artifact
from ledger.chain import connect, read_deployment, write_deployment
from ledger.errors import ChainError, ChainUnavailable, ConfigError, UsageError
from ledger.settings import Settings
from local_chain import (
    ANVIL_DEV_ACCOUNT_0,
    ANVIL_VERSION,
    ChainPaths,
    chain_down,
    chain_status,
    chain_up,
    find_anvil,
)
from local_chain.anvil import process_alive
from local_chain.lifecycle import deploy_artifact
from tests.cli_runner import run_heritage

if TYPE_CHECKING:  # conftest is pytest's to import; fixtures carry its helpers
    from tests.conftest import LocalChain

MakeSettings = Callable[[Path], Settings]

HERITAGE = Path(sys.executable).parent / "heritage"
# anvil names its default hardfork "Bpo1" (a blob-parameter-only fork on Osaka): EVM rules
# are Osaka's. A newer anvil moving to Amsterdam must fail here, not in a deployment.
EVM_RULES_OF_HARDFORK = {"osaka": "osaka", **{f"bpo{i}": "osaka" for i in range(1, 6)}}


def cli_env(settings: Settings) -> dict[str, str]:
    """The ``HERITAGE_*`` variables of `heritage chain` commands on ``settings``'s chain."""
    env = {
        "HERITAGE_DATA_DIR": str(settings.data_dir),
        "HERITAGE_RPC_URL": settings.rpc_url,
        "HERITAGE_FSYNC": "false",
    }
    if settings.deployment is not None:
        env["HERITAGE_DEPLOYMENT"] = str(settings.deployment)
    return env


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`heritage chain ARGS` as a real process (what `up` starts must outlive it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    proc = subprocess.run(
        [str(HERITAGE), "chain", *args], env=env | cli_env(settings), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def chain_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`heritage chain ARGS` in-process (tests/cli_runner.py), for commands that start nothing."""
    proc = run_heritage(["chain", *args], env=cli_env(settings))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def bump(w3: Web3, counter: Artifact, address: str) -> str:
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=counter.abi)
    tx = contract.functions.bump().transact({"from": ANVIL_DEV_ACCOUNT_0})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=60)
    assert receipt["status"] == 1
    return "0x" + bytes(tx).hex()


def counter_value(w3: Web3, counter: Artifact, address: str) -> int:
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=counter.abi)
    return int(contract.functions.count().call())


# ---- binary and hardfork -------------------------------------------------------------------


def test_the_binary_is_npms_pinned_anvil() -> None:
    binary = find_anvil()
    assert binary.parts[-5:-2] == ("node_modules", "@foundry-rs", "anvil-linux-amd64")
    assert os.access(binary, os.X_OK)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    assert f"anvil Version: {ANVIL_VERSION}" in out.stdout


def test_anvil_runs_the_evm_the_contracts_are_compiled_for(
    anvil: LocalChain, counter_artifact: Artifact
) -> None:
    w3 = anvil.web3()
    info = w3.provider.make_request("anvil_nodeInfo", [])["result"]  # type: ignore[arg-type]
    assert EVM_RULES_OF_HARDFORK[info["hardFork"].lower()] == counter_artifact.compiler.evm_version
    # CLZ (EIP-7939) exists from Osaka on: executing it proves the node runs Osaka's rules.
    deployment = deploy_artifact(w3, counter_artifact)
    contract = w3.eth.contract(address=deployment.registry_address, abi=counter_artifact.abi)
    assert contract.functions.leadingZeros(1).call() == 255
    assert contract.functions.leadingZeros(2**255).call() == 0


# ---- up, down, reload ----------------------------------------------------------------------


def test_up_twice_is_harmless(own_chain: Settings, counter_artifact: Artifact) -> None:
    first = chain_up(own_chain, counter_artifact)
    paths = ChainPaths.of(own_chain)
    record = paths.deployment.read_bytes()
    assert first.started and first.deployed and first.deployment is not None
    assert paths.pidfile.read_text().strip() == str(first.pid)

    second = chain_up(own_chain, counter_artifact)
    assert (second.started, second.deployed) == (False, False)
    assert second.pid == first.pid
    assert second.deployment == first.deployment
    assert paths.deployment.read_bytes() == record
    assert connect(own_chain.rpc_url).eth.block_number == first.deployment.deploy_block


def test_down_then_up_reloads_the_chain(own_chain: Settings, counter_artifact: Artifact) -> None:
    first = chain_up(own_chain, counter_artifact)
    assert first.deployment is not None
    address = first.deployment.registry_address
    w3 = connect(own_chain.rpc_url)
    bump_tx = bump(w3, counter_artifact, address)
    payee = Account.create().address
    payment: TxParams = {"from": ANVIL_DEV_ACCOUNT_0, "to": payee, "value": Wei(12345)}
    pay_tx = w3.eth.send_transaction(payment)
    w3.eth.wait_for_transaction_receipt(pay_tx, timeout=60)
    head = w3.eth.get_block("latest")
    # No pause: the state written on SIGTERM, not the once-a-second dump, must carry this.
    down = chain_down(own_chain)
    paths = ChainPaths.of(own_chain)
    assert first.pid is not None and down.stopped_pid == first.pid
    assert not process_alive(first.pid)
    assert not paths.pidfile.exists()
    assert paths.state.is_file()

    again = chain_up(own_chain, counter_artifact)
    assert again.started and again.pid != first.pid
    assert (again.deployed, again.deployment) == (False, first.deployment), again.notes
    w3 = connect(own_chain.rpc_url)
    assert w3.eth.get_balance(payee) == 12345
    assert counter_value(w3, counter_artifact, address) == 1
    assert w3.eth.get_block(head["number"])["hash"] == head["hash"]
    assert w3.eth.get_transaction_receipt(bump_tx)["status"] == 1  # type: ignore[arg-type]
    logs = w3.eth.get_logs({"fromBlock": 0, "address": Web3.to_checksum_address(address)})
    assert len(logs) == 1
    # The reloaded chain goes on from where it was.
    bump(w3, counter_artifact, address)
    assert counter_value(w3, counter_artifact, address) == 2
    assert w3.eth.block_number == head["number"] + 1


def test_up_deploys_again_when_the_chain_lost_the_registry(
    own_chain: Settings, counter_artifact: Artifact
) -> None:
    first = chain_up(own_chain, counter_artifact)
    assert first.deployment is not None
    w3 = connect(own_chain.rpc_url)
    for _ in range(3):  # so that the lost chain's deploy block differs from the new one's
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    chain_down(own_chain)
    paths = ChainPaths.of(own_chain)
    paths.state.unlink()  # as if the state had not been reloaded

    again = chain_up(own_chain, counter_artifact)
    assert again.deployed and again.deployment is not None
    assert any("lost" in note and first.deployment.registry_address in note for note in again.notes)
    assert read_deployment(paths.deployment) == again.deployment
    status = chain_status(own_chain)
    assert status.registry_address == again.deployment.registry_address
    assert status.block == again.deployment.deploy_block == 1


def test_an_unreadable_state_file_is_kept_aside_and_the_chain_starts_empty(
    own_chain: Settings, counter_artifact: Artifact
) -> None:
    chain_up(own_chain, counter_artifact)
    chain_down(own_chain)
    paths = ChainPaths.of(own_chain)
    whole = paths.state.read_bytes()
    paths.state.write_bytes(whole[: len(whole) // 2])  # a kill in the middle of a dump

    again = chain_up(own_chain, counter_artifact)
    assert again.started and again.deployed
    assert any("could not load" in note for note in again.notes)
    kept = list(paths.root.glob("state.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == whole[: len(whole) // 2]
    assert chain_status(own_chain).registry_address == again.deployment.registry_address  # type: ignore[union-attr]


def test_a_stale_pidfile_is_replaced(own_chain: Settings, counter_artifact: Artifact) -> None:
    paths = ChainPaths.of(own_chain)
    paths.root.mkdir(parents=True)
    # A live process that is not anvil: this test's own. It must not be taken for the chain.
    paths.pidfile.write_text(f"{os.getpid()}\n")
    with pytest.raises(ChainUnavailable):
        chain_status(own_chain)

    result = chain_up(own_chain, counter_artifact)
    assert result.started and result.pid != os.getpid()
    assert any("stale pidfile" in note for note in result.notes)
    assert paths.pidfile.read_text().strip() == str(result.pid)
    assert chain_status(own_chain).pid == result.pid


def test_down_with_a_dead_pid_only_removes_the_pidfile(own_chain: Settings) -> None:
    paths = ChainPaths.of(own_chain)
    paths.root.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    paths.pidfile.write_text(f"{gone.pid}\n")
    result = chain_down(own_chain)
    assert result.stopped_pid is None
    assert not paths.pidfile.exists()
    assert any("stale pidfile" in note for note in result.notes)


def test_a_port_held_by_another_process_is_refused(own_chain: Settings) -> None:
    port = int(own_chain.rpc_url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ChainError, match=f"127.0.0.1:{port} is already taken"):
            chain_up(own_chain, None)
    assert not ChainPaths.of(own_chain).pidfile.exists()


def test_up_without_a_registry_artifact_starts_the_chain_and_says_so(own_chain: Settings) -> None:
    result = chain_up(own_chain, None)
    assert result.started and result.deployment is None and not result.deployed
    assert any("no ProvenanceRegistry artifact" in note for note in result.notes)
    assert not ChainPaths.of(own_chain).deployment.exists()
    assert chain_status(own_chain).registry_address is None


def test_a_non_local_rpc_url_needs_a_deployment_file(
    tmp_path: Path, settings_for_chain: MakeSettings
) -> None:
    settings = settings_for_chain(tmp_path)
    for url in ("https://rpc.example.org", "http://10.0.0.5:8545", "http://127.0.0.1/rpc"):
        with pytest.raises(ConfigError, match="HERITAGE_DEPLOYMENT"):
            chain_up(Settings(data_dir=settings.data_dir, rpc_url=url), None)
    assert not (tmp_path / "chain" / "anvil.pid").exists()


# ---- an outside endpoint -------------------------------------------------------------------


def test_an_outside_endpoint_is_checked_never_started_or_stopped(
    anvil: LocalChain, counter_artifact: Artifact, tmp_path: Path
) -> None:
    deployment = deploy_artifact(anvil.web3(), counter_artifact)
    record = tmp_path / "elsewhere.json"
    write_deployment(record, deployment, fsync=False)
    outside = Settings(data_dir=tmp_path / "data", rpc_url=anvil.rpc_url, deployment=record)

    status = chain_status(outside)
    assert (status.pid, status.registry_address) == (None, deployment.registry_address)
    up = chain_up(outside, counter_artifact)
    assert (up.pid, up.started, up.deployed, up.deployment) == (None, False, False, deployment)
    with pytest.raises(UsageError):
        chain_down(outside)
    assert not (tmp_path / "data" / "chain").exists()

    forged = tmp_path / "forged.json"
    bad = json.loads(record.read_text()) | {"code_hash": "0x" + "ab" * 32}
    forged.write_text(json.dumps(bad))
    wrong = Settings(data_dir=tmp_path / "data", rpc_url=anvil.rpc_url, deployment=forged)
    assert chain_status(wrong).registry_address is None
    with pytest.raises(ChainError, match="does not hold"):
        chain_up(wrong, counter_artifact)


# ---- the CLI ---------------------------------------------------------------------------------


def test_cli_status_json_reports_the_running_chain(anvil: LocalChain) -> None:
    proc = chain_cli(anvil.settings, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    deployment = anvil.up.deployment
    assert status["rpc_url"] == anvil.rpc_url
    assert status["chain_id"] == 31337
    assert status["pid"] == anvil.up.pid
    assert status["registry_address"] == (deployment and deployment.registry_address)
    assert isinstance(status["block"], int)
    assert status["block"] <= anvil.web3().eth.block_number


def test_cli_status_exits_3_when_the_chain_is_down(
    tmp_path: Path, settings_for_chain: MakeSettings
) -> None:
    settings = settings_for_chain(tmp_path / "data")
    for args in (("status",), ("status", "--json")):
        proc = chain_cli(settings, *args)
        assert proc.returncode == 3
        assert proc.stdout == ""
        assert "chain_unavailable" in proc.stderr
        assert settings.rpc_url in proc.stderr and "heritage chain up" in proc.stderr


def test_cli_up_leaves_anvil_running_after_it_exits_and_down_stops_it(
    tmp_path: Path, settings_for_chain: MakeSettings
) -> None:
    settings = settings_for_chain(tmp_path / "data")
    try:
        first = run_cli(settings, "up", "--json")
        assert first.returncode == 0, first.stderr
        started = json.loads(first.stdout)
        assert started["started"] is True
        second = json.loads(run_cli(settings, "up", "--json").stdout)
        assert (second["started"], second["pid"]) == (False, started["pid"])
        status = json.loads(run_cli(settings, "status", "--json").stdout)
        assert status["pid"] == started["pid"]  # outlived the `up` process that spawned it

        down = run_cli(settings, "down")
        assert down.returncode == 0 and f"pid {started['pid']}" in down.stdout
        assert not process_alive(started["pid"])
        assert run_cli(settings, "status").returncode == 3
        assert "not running" in run_cli(settings, "down").stdout
    finally:
        chain_down(settings)
