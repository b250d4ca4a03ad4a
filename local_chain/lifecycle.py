"""``up``, ``down`` and ``status`` of the chain the project uses.

Two kinds of chain:

- the local anvil (default): this module starts and stops it, and deploys the registry on it;
  its deployment lives in ``<data_dir>/chain/deployment.json``;
- any other EVM JSON-RPC endpoint: ``HERITAGE_RPC_URL`` plus ``HERITAGE_DEPLOYMENT`` naming its
  deployment file. Nothing is started, stopped or deployed; ``up`` and ``status`` check it.

anvil's state reload is not trusted blindly: every ``up`` checks the recorded registry code on
the chain, and deploys again (saying so) when the chain lost it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, cast

from eth_utils.address import to_checksum_address
from web3 import Web3

from contracts import Artifact
from ledger.chain import (
    REGISTRY_CONTRACT,
    Deployment,
    chain_errors,
    check_deployment,
    connect,
    creation_code_hash,
    deployment_path,
    read_deployment,
    runtime_code_hash,
    unavailable,
    write_deployment,
)
from ledger.errors import ChainError, ChainUnavailable, ConfigError, NotFound, UsageError
from ledger.settings import Settings
from local_chain.anvil import (
    AnvilProcess,
    ChainPaths,
    StateUnreadable,
    find_our_anvil,
    local_endpoint,
    rpc_chain_id,
    start_anvil,
    stop_anvil,
)
from local_chain.dev_accounts import anvil_dev_account

__all__ = [
    "REGISTRY_CONTRACT",
    "ChainStatus",
    "DownResult",
    "UpResult",
    "chain_down",
    "chain_status",
    "chain_up",
    "deploy_artifact",
    "uses_outside_chain",
]

_RECEIPT_TIMEOUT: Final = 120.0


@dataclass(frozen=True, slots=True)
class ChainStatus:
    rpc_url: str
    chain_id: int
    pid: int | None  # None for an outside endpoint (or a local port served by someone else)
    registry_address: str | None  # None unless the recorded code is on this chain
    block: int  # the latest block
    registry_problem: str | None = None  # why registry_address is None, when a record exists

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UpResult:
    rpc_url: str
    chain_id: int
    pid: int | None
    started: bool  # False: it was already running (or is an outside endpoint)
    deployment: Deployment | None  # None: no registry artifact to deploy yet
    deployed: bool  # True: deployed by this call
    notes: tuple[str, ...]  # what happened that the user should know

    def to_json(self) -> dict[str, Any]:
        return {
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "pid": self.pid,
            "started": self.started,
            "deployed": self.deployed,
            "deployment": None if self.deployment is None else self.deployment.to_json(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class DownResult:
    stopped_pid: int | None  # None: nothing was running
    state_file: Path
    notes: tuple[str, ...]


def uses_outside_chain(settings: Settings) -> bool:
    """True when the settings name another chain's deployment file (HERITAGE_DEPLOYMENT)."""
    return settings.deployment is not None


def _unavailable(settings: Settings) -> ChainUnavailable:
    if uses_outside_chain(settings):
        hint = "check HERITAGE_RPC_URL and that the chain is running"
    else:
        hint = "start the local chain with `heritage chain up`"
    return unavailable(settings.rpc_url, None, hint=hint)


def _live_chain_id(settings: Settings, w3: Web3) -> int:
    with chain_errors(settings.rpc_url):
        return w3.eth.chain_id


# ---- up ------------------------------------------------------------------------------------


def chain_up(
    settings: Settings, artifact: Artifact | None, *, redeploy: bool = False
) -> UpResult:
    """Start the local anvil unless it runs, then make sure ``artifact`` is deployed on it
    (deploying it once, recording ``chain/deployment.json``). Running it again is harmless.

    With an outside endpoint nothing is started or deployed: its deployment is checked.
    """
    if uses_outside_chain(settings):
        return _check_outside(settings)
    host, port = local_endpoint(settings.rpc_url)
    paths = ChainPaths.of(settings)
    notes: list[str] = []
    with paths.locked():
        running = find_our_anvil(paths)
        if running is not None and running.port != port:
            raise ChainError(
                f"this data directory's anvil (pid {running.pid}) listens on port "
                f"{running.port}, but rpc_url says {settings.rpc_url}",
                hint="run `heritage chain down` first, or set HERITAGE_RPC_URL to its port",
            )
        started = running is None
        if running is None:
            stale = paths.pidfile.exists()
            if stale:
                notes.append(
                    f"removed a stale pidfile {paths.pidfile} (its process is not this data "
                    "directory's anvil)"
                )
                paths.pidfile.unlink()
            running = _start(paths, host, port, notes)
        w3 = connect(settings.rpc_url)
        chain_id = _live_chain_id(settings, w3)
        with chain_errors(settings.rpc_url):
            deployment, deployed = _ensure_deployed(settings, paths, w3, artifact, redeploy, notes)
    return UpResult(
        rpc_url=settings.rpc_url,
        chain_id=chain_id,
        pid=running.pid,
        started=started,
        deployment=deployment,
        deployed=deployed,
        notes=tuple(notes),
    )


def _start(paths: ChainPaths, host: str, port: int, notes: list[str]) -> AnvilProcess:
    try:
        return start_anvil(paths, host, port)
    except StateUnreadable as exc:
        # anvil rewrites state.json in place; a kill during that write leaves a file it will
        # not load. Keep the file for inspection and start an empty chain: the registry is
        # deployed again below, and what the chain lost must be replayed from the journal.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = paths.state.with_name(f"{paths.state.name}.unreadable-{stamp}")
        paths.state.replace(aside)
        notes.append(
            f"anvil could not load its state ({exc.message}); moved it to {aside} and started "
            "an empty chain"
        )
        return start_anvil(paths, host, port)


def _ensure_deployed(
    settings: Settings,
    paths: ChainPaths,
    w3: Web3,
    artifact: Artifact | None,
    redeploy: bool,
    notes: list[str],
) -> tuple[Deployment | None, bool]:
    recorded: Deployment | None = None
    if paths.deployment.exists():
        try:
            recorded = read_deployment(paths.deployment)
        except ConfigError as exc:
            notes.append(f"ignored an unreadable deployment record: {exc.message}")
    if recorded is not None and not redeploy:
        problem = check_deployment(w3, recorded)
        if problem is None:
            if (
                artifact is not None
                and recorded.bytecode_hash is not None
                and (
                    artifact.name != recorded.contract
                    or creation_code_hash(artifact) != recorded.bytecode_hash
                )
            ):
                notes.append(
                    f"the {artifact.name} artifact differs from the {recorded.contract} "
                    f"deployed at {recorded.registry_address}; `heritage chain up --redeploy` "
                    "deploys it (records at the old address stay there)"
                )
            return recorded, False
        if artifact is None:
            notes.append(
                f"the chain lost the {recorded.contract} recorded at "
                f"{recorded.registry_address} ({problem}), and there is no artifact to deploy "
                "again"
            )
            return None, False
        notes.append(
            f"the chain lost the {recorded.contract} recorded at {recorded.registry_address} "
            f"({problem}); deploying it again"
        )
    if artifact is None:
        notes.append(
            f"no {REGISTRY_CONTRACT} artifact (contracts/artifacts/{REGISTRY_CONTRACT}.json) "
            "yet, so nothing was deployed; run `make contracts`, then `heritage chain up`"
        )
        return None, False
    deployment = deploy_artifact(w3, artifact)
    write_deployment(paths.deployment, deployment, fsync=settings.fsync)
    return deployment, True


def _check_outside(settings: Settings) -> UpResult:
    path = deployment_path(settings)
    deployment = read_deployment(path)
    w3 = connect(settings.rpc_url)
    chain_id = _live_chain_id(settings, w3)
    with chain_errors(settings.rpc_url):
        problem = check_deployment(w3, deployment)
    if problem is not None:
        raise ChainError(
            f"the deployment in {path} does not hold on {settings.rpc_url}: {problem}",
            hint="HERITAGE_DEPLOYMENT must describe a registry on the chain HERITAGE_RPC_URL names",
        )
    note = f"{settings.rpc_url} is an outside chain (HERITAGE_DEPLOYMENT): nothing was started"
    return UpResult(
        rpc_url=settings.rpc_url,
        chain_id=chain_id,
        pid=None,
        started=False,
        deployment=deployment,
        deployed=False,
        notes=(note,),
    )


def deploy_artifact(w3: Web3, artifact: Artifact) -> Deployment:
    """Deploy ``artifact`` (no constructor arguments) from anvil's dev account 0, signing
    locally, and read the runtime code back to record its hash."""
    for entry in artifact.abi:
        if entry.get("type") == "constructor" and entry.get("inputs"):
            raise ChainError(f"{artifact.name}'s constructor takes arguments; cannot deploy it")
    account = anvil_dev_account()
    chain_id = w3.eth.chain_id
    factory = w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    tx = factory.constructor().build_transaction(
        {"from": account.address, "nonce": nonce, "chainId": chain_id}
    )
    signed = account.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=_RECEIPT_TIMEOUT)
    address = receipt.get("contractAddress")
    if receipt.get("status") != 1 or not address:
        raise ChainError(
            f"deploying {artifact.name} failed in transaction 0x{bytes(tx_hash).hex()}",
            hint="is the artifact built for this chain's EVM version?",
        )
    block = int(receipt["blockNumber"])
    code_hash = runtime_code_hash(w3, address, block)
    if code_hash is None:
        raise ChainError(f"{artifact.name} was deployed to {address} but it holds no code")
    return Deployment(
        chain_id=chain_id,
        registry_address=to_checksum_address(address),
        deploy_block=block,
        code_hash=code_hash,
        deployer=account.address,
        contract=artifact.name,
        bytecode_hash=creation_code_hash(artifact),
    )


# ---- down ----------------------------------------------------------------------------------


def chain_down(settings: Settings) -> DownResult:
    """Stop the local anvil with SIGTERM and wait, so that it writes its state; remove the
    pidfile. Harmless when nothing runs."""
    if uses_outside_chain(settings):
        raise UsageError(
            f"{settings.rpc_url} is an outside chain (HERITAGE_DEPLOYMENT is set): "
            "there is nothing to stop",
            hint="unset HERITAGE_DEPLOYMENT to manage the local chain",
        )
    paths = ChainPaths.of(settings)
    notes: list[str] = []
    with paths.locked():
        running = find_our_anvil(paths)
        if running is None:
            if paths.pidfile.exists():
                paths.pidfile.unlink()
                notes.append(f"removed a stale pidfile {paths.pidfile}")
            return DownResult(stopped_pid=None, state_file=paths.state, notes=tuple(notes))
        stop_anvil(running.pid)
        paths.pidfile.unlink(missing_ok=True)
    if not paths.state.is_file():
        notes.append(f"anvil left no state file at {paths.state}: the chain will start empty")
    return DownResult(stopped_pid=running.pid, state_file=paths.state, notes=tuple(notes))


# ---- status --------------------------------------------------------------------------------


def chain_status(settings: Settings) -> ChainStatus:
    """The chain in use, its latest block and the verified registry address; raises
    :class:`ChainUnavailable` (CLI exit 3) when nothing answers."""
    pid: int | None = None
    if not uses_outside_chain(settings):
        local_endpoint(settings.rpc_url)
        running = find_our_anvil(ChainPaths.of(settings))
        pid = None if running is None else running.pid
    if rpc_chain_id(settings.rpc_url) is None:
        raise _unavailable(settings)
    w3 = connect(settings.rpc_url)
    address: str | None = None
    problem: str | None = None
    with chain_errors(settings.rpc_url):
        chain_id = w3.eth.chain_id
        block = w3.eth.block_number
        path = deployment_path(settings)
        if path.exists() or uses_outside_chain(settings):
            try:
                deployment = read_deployment(path)
            except (ConfigError, NotFound) as exc:
                problem = exc.message
            else:
                problem = check_deployment(w3, deployment)
                if problem is None:
                    address = deployment.registry_address
    return ChainStatus(
        rpc_url=settings.rpc_url,
        chain_id=chain_id,
        pid=pid,
        registry_address=address,
        block=block,
        registry_problem=problem,
    )
