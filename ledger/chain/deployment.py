"""Deployment files: where the registry lives on a chain, and whether it still does.

A deployment file is what any chain needs for the project to use it: the local anvil writes
one (``<data>/chain/deployment.json``), and for any other EVM JSON-RPC endpoint
``HERITAGE_DEPLOYMENT`` names one. Its code hash (keccak of the runtime code read back with
``eth_getCode``) lets every later start check that the chain still holds the registry it
recorded.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import BlockIdentifier

from contracts import Artifact
from ledger import strict_json
from ledger.errors import ConfigError, NotFound
from ledger.settings import Settings

__all__ = [
    "Deployment",
    "check_deployment",
    "creation_code_hash",
    "deployment_path",
    "read_deployment",
    "runtime_code_hash",
    "write_deployment",
]

_HASH: Final = re.compile(r"0x[0-9a-f]{64}")


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


# ---- on the chain ----------------------------------------------------------------------------


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


def deployment_path(settings: Settings) -> Path:
    """The deployment file in use: ``HERITAGE_DEPLOYMENT``, or the data directory's own
    (``<data>/chain/deployment.json``, where the local chain records what it deployed)."""
    if settings.deployment is not None:
        return settings.deployment
    return settings.data_dir / "chain" / "deployment.json"
