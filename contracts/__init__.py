"""Compiled contracts: the artifacts that ``node contracts/build.mjs`` (``make contracts``) writes
to ``contracts/artifacts/<Name>.json`` and that ship as package data.

``load_artifact("ProvenanceRegistry")`` returns an :class:`Artifact`; nothing here compiles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from ledger.errors import ConfigError, NotFound, UsageError

__all__ = ["Artifact", "CompilerInfo", "artifact_names", "load_artifact", "parse_artifact"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HINT: Final = "run `make contracts` (node contracts/build.mjs) to rebuild contracts/artifacts/"


@dataclass(frozen=True, slots=True)
class CompilerInfo:
    """The compiler that produced an artifact and the settings it ran with."""

    version: str  # e.g. "0.8.37+commit.f401782d"
    settings: dict[str, Any]  # evmVersion, optimizer, viaIR

    @property
    def evm_version(self) -> str:
        return str(self.settings["evmVersion"])


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract: what a deployment and a client need."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes  # creation code, constructor arguments not included
    deployed_bytecode: bytes  # runtime code as compiled (immutables still zero)
    metadata: str  # solc's metadata JSON, verbatim: its IPFS hash ends the bytecode
    compiler: CompilerInfo


def _hex(value: object, field: str, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConfigError(f"{where}: {field} is not a 0x-prefixed hex string", hint=_HINT)
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"{where}: {field} is not valid hex", hint=_HINT) from None


def parse_artifact(name: str, text: str, where: str = "artifact") -> Artifact:
    """Build an :class:`Artifact` from the JSON text that build.mjs writes."""
    try:
        document = json.loads(text)
        compiler = document["compiler"]
        abi = document["abi"]
        metadata = document["metadata"]
        info = CompilerInfo(version=str(compiler["version"]), settings=dict(compiler["settings"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where} is not a contract artifact: {exc!r}", hint=_HINT) from None
    if not isinstance(abi, list) or not all(isinstance(entry, dict) for entry in abi):
        raise ConfigError(f"{where}: abi is not a list of objects", hint=_HINT)
    if not isinstance(metadata, str):
        raise ConfigError(f"{where}: metadata is not solc's metadata string", hint=_HINT)
    bytecode = _hex(document.get("bytecode"), "bytecode", where)
    if not bytecode:
        raise ConfigError(f"{where}: bytecode is empty (an interface?)", hint=_HINT)
    return Artifact(
        name=name,
        abi=tuple(abi),
        bytecode=bytecode,
        deployed_bytecode=_hex(document.get("deployedBytecode"), "deployedBytecode", where),
        metadata=metadata,
        compiler=info,
    )


def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract ``name`` (e.g. ``"ProvenanceRegistry"``)."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a contract name", hint="e.g. ProvenanceRegistry")
    resource = resources.files(__name__).joinpath("artifacts").joinpath(f"{name}.json")
    if not resource.is_file():
        raise NotFound(f"no compiled artifact for contract {name!r}", hint=_HINT)
    where = str(resource) if isinstance(resource, Path) else f"contracts/artifacts/{name}.json"
    return parse_artifact(name, resource.read_text(encoding="utf-8"), where)


def artifact_names() -> list[str]:
    """Names of every committed artifact, sorted."""
    folder = resources.files(__name__).joinpath("artifacts")
    if not folder.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json") and entry.is_file()
    )
