"""Deploying a compiled contract and recording where it lives: ``chain/deployment.json``.

A deployment file is what any chain needs for the project to use it: the local anvil writes
one here, and for any other EVM JSON-RPC endpoint ``HERITAGE_DEPLOYMENT`` names one. Its code
hash (keccak of the runtime code read back with ``eth_getCode``) lets every later start check
that the chain still holds the registry it recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, cast

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockIdentifier

from contracts import Artifact
from ledger import strict_json
from ledger.errors import ChainError, ChainUnavailable, ConfigError, NotFound

__all__ = [
    "ANVIL_DEV_ACCOUNT_0",
    "Deployment",
    "anvil_dev_account",
    "chain_errors",
    "check_deployment",
    "connect",
    "creation_code_hash",
    "deploy_artifact",
    "read_deployment",
    "runtime_code_hash",
    "write_deployment",
]

# anvil's well-known dev account 0 (mnemonic "test test ... junk"): public knowledge, funded
# only on local development chains. The one key this repository may contain.
ANVIL_DEV_ACCOUNT_0: Final = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
_ANVIL_DEV_KEY_0: Final = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
_HASH: Final = re.compile(r"0x[0-9a-f]{64}")
_RPC_TIMEOUT: Final = 30.0
_RECEIPT_TIMEOUT: Final = 120.0


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where a contract was deployed, and what its runtime code hashed to."""

    chain_id: int
    registry_address: ChecksumAddress
    deploy_block: int
    code_hash: str  # 0x keccak256 of eth_getCode at registry_address
    deployer: ChecksumAddress
    contract: str  # artifact name, e.g. "ProvenanceRegistry"
    # 0x keccak256 of the artifact's creation code, to tell whether it changed since; None in
    # files written by other tools
    bytecode_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: object, where: str) -> Deployment:
        hint = "write it with `heritage chain up`, or fix the file by hand"
        if not isinstance(document, dict):
            raise ConfigError(f"{where} is not a JSON object", hint=hint)
        try:
            deployment = cls(
                chain_id=_int(document["chain_id"]),
                registry_address=to_checksum_address(document["registry_address"]),
                deploy_block=_int(document["deploy_block"]),
                code_hash=str(document["code_hash"]).lower(),
                deployer=to_checksum_address(document["deployer"]),
                contract=str(document["contract"]),
                bytecode_hash=_optional_hash(document.get("bytecode_hash")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where} is not a deployment record: {exc!r}", hint=hint) from None
        if not _HASH.fullmatch(deployment.code_hash):
            raise ConfigError(f"{where}: code_hash is not a 32-byte hex hash", hint=hint)
        return deployment


def _optional_hash(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HASH.fullmatch(value.lower()):
        raise ValueError(f"{value!r} is not a 32-byte hex hash")
    return value.lower()


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def read_deployment(path: Path) -> Deployment:
    """The deployment recorded in ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(
            f"no deployment file at {path}",
            hint="`heritage chain up` deploys the registry on the local chain",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        document = strict_json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    return Deployment.from_json(document, str(path))


def write_deployment(path: Path, deployment: Deployment, *, fsync: bool = True) -> None:
    """Write ``path`` crash-safely: temp file, fsync, rename, fsync of the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(deployment.to_json(), indent=2, sort_keys=True) + "\n"
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        if fsync:
            out.flush()
            os.fsync(out.fileno())
    tmp.replace(path)
    if fsync:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


# ---- the chain -----------------------------------------------------------------------------


@contextlib.contextmanager
def chain_errors(rpc_url: str) -> Iterator[None]:
    """Turn transport and node failures into project errors naming the endpoint."""
    try:
        yield
    except requests.RequestException as exc:
        raise ChainUnavailable(
            f"no chain answers at {rpc_url} ({type(exc).__name__})",
            hint="start the local chain with `heritage chain up`, or check HERITAGE_RPC_URL",
        ) from None
    except Web3Exception as exc:
        raise ChainError(f"the chain at {rpc_url} failed: {exc}") from None


def connect(rpc_url: str) -> Web3:
    """A web3 client for ``rpc_url`` that fails fast instead of retrying a dead endpoint."""
    provider = Web3.HTTPProvider(
        rpc_url, request_kwargs={"timeout": _RPC_TIMEOUT}, exception_retry_configuration=None
    )
    return Web3(provider)


def runtime_code_hash(w3: Web3, address: str, block: BlockIdentifier = "latest") -> str | None:
    """0x keccak256 of the code at ``address``, or None when there is no code."""
    code = bytes(w3.eth.get_code(to_checksum_address(address), block_identifier=block))
    return "0x" + keccak(code).hex() if code else None


def check_deployment(w3: Web3, deployment: Deployment) -> str | None:
    """What is wrong with ``deployment`` on the chain ``w3`` reaches, or None if it holds."""
    chain_id = w3.eth.chain_id
    if chain_id != deployment.chain_id:
        return f"it was made on chain {deployment.chain_id}, this chain is {chain_id}"
    found = runtime_code_hash(w3, deployment.registry_address)
    if found is None:
        return f"there is no code at {deployment.registry_address}"
    if found != deployment.code_hash:
        return f"the code at {deployment.registry_address} hashes to {found}, not the recorded one"
    return None


def creation_code_hash(artifact: Artifact) -> str:
    return "0x" + keccak(artifact.bytecode).hex()


def anvil_dev_account() -> LocalAccount:
    """anvil's well-known dev account 0, the sender that pays gas on a local chain only."""
    account: LocalAccount = Account.from_key(_ANVIL_DEV_KEY_0)
    return account


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
