"""The contract build: committed artifacts equal a fresh compile byte for byte, the build is
deterministic, and the loader reads what it writes. Tampering is tried on temporary copies
only; the real contracts/artifacts/ is never written here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts import artifact_names, load_artifact, parse_artifact
from ledger.errors import ConfigError, NotFound, UsageError

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "contracts" / "build.mjs"
COUNTER = Path(__file__).with_name("Counter.sol")
# solc's CBOR metadata trailer with an "ipfs" key (bytecodeHash left at its default):
# a2 64 'ipfs' 58 22 <34-byte multihash> 64 'solc' 43 <3-byte version> 0033
IPFS_TRAILER = bytes.fromhex("a264697066735822")


def build(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(BUILD), *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="module")
def counter_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Counter.sol and its built artifact, compiled once for the module (solc-js takes seconds
    per run), and checked clean once."""
    folder = tmp_path_factory.mktemp("counter") / "contracts"
    folder.mkdir()
    shutil.copy(COUNTER, folder / "Counter.sol")
    proc = build("--dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert build("--check", "--dir", str(folder)).returncode == 0
    return folder


@pytest.fixture
def built(counter_built: Path, tmp_path: Path) -> Path:
    """A contracts directory of the test's own: a copy of the module's built Counter."""
    folder = tmp_path / "contracts"
    shutil.copytree(counter_built, folder)
    return folder


def test_committed_artifacts_match_a_fresh_compile() -> None:
    before = snapshot(REPO / "contracts" / "artifacts")
    proc = build("--check")
    assert proc.returncode == 0, proc.stderr
    assert "match a fresh compile" in proc.stdout
    sources = sorted(p.stem for p in (REPO / "contracts").glob("[!_]*.sol"))
    assert set(sources) <= set(artifact_names())
    assert snapshot(REPO / "contracts" / "artifacts") == before  # --check writes nothing


@pytest.mark.parametrize(
    "tamper",
    ["bytecode", "format", "missing", "stale", "source"],
)
def test_check_fails_naming_the_file_after_tampering(built: Path, tamper: str) -> None:
    # The untouched copy checks clean (counter_built checked the same bytes).
    artifact = built / "artifacts" / "Counter.json"
    named = "Counter.json"
    if tamper == "bytecode":
        document = json.loads(artifact.read_text())
        code = document["deployedBytecode"]
        document["deployedBytecode"] = code[:-2] + ("00" if code[-2:] != "00" else "01")
        artifact.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    elif tamper == "format":  # same JSON value, other bytes: still a difference
        artifact.write_bytes(artifact.read_bytes().rstrip(b"\n"))
    elif tamper == "missing":
        artifact.unlink()
    elif tamper == "stale":
        (built / "artifacts" / "Gone.json").write_text("{}\n")
        named = "Gone.json"
    else:  # a changed source changes at least the metadata hash in the bytecode
        source = built / "Counter.sol"
        source.write_text(source.read_text() + "// changed\n")
    proc = build("--check", "--dir", str(built))
    assert proc.returncode == 1
    assert named in proc.stderr
    assert "make contracts" in proc.stderr


def test_the_build_is_deterministic_and_complete(built: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    other.mkdir()
    shutil.copy(COUNTER, other / "Counter.sol")
    assert build("--dir", str(other)).returncode == 0
    text = (built / "artifacts" / "Counter.json").read_text()
    assert (other / "artifacts" / "Counter.json").read_text() == text
    assert text.endswith("}\n") and not text.endswith("\n\n")

    document = json.loads(text)
    assert list(document) == sorted(document)
    assert set(document) == {"abi", "bytecode", "compiler", "deployedBytecode", "metadata"}
    settings = document["compiler"]["settings"]
    assert settings["evmVersion"] == "osaka"
    assert settings["optimizer"] == {"enabled": True, "runs": 10000}
    assert settings["viaIR"] is True
    assert document["compiler"]["version"].startswith("0.8.37+commit.")
    metadata = json.loads(document["metadata"])
    assert metadata["settings"]["evmVersion"] == "osaka"
    assert metadata["settings"]["compilationTarget"] == {"contracts/Counter.sol": "Counter"}
    assert metadata["settings"]["metadata"]["bytecodeHash"] == "ipfs"  # solc's default
    runtime = bytes.fromhex(document["deployedBytecode"][2:])
    assert IPFS_TRAILER in runtime[-60:]
    assert {entry.get("name") for entry in document["abi"]} >= {"bump", "count", "Bumped"}


def test_underscore_sources_are_built_only_when_named(built: Path) -> None:
    probe = built / "_Scratch.sol"
    probe.write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.37;\n"
        "contract Scratch { function one() external pure returns (uint256) { return 1; } }\n"
    )
    assert build("--dir", str(built)).returncode == 0
    assert not (built / "artifacts" / "Scratch.json").exists()
    assert build("--dir", str(built), str(probe)).returncode == 0
    assert (built / "artifacts" / "Scratch.json").is_file()
    # A full build owns the directory: the scratch artifact has no default source and goes.
    assert build("--dir", str(built)).returncode == 0
    assert not (built / "artifacts" / "Scratch.json").exists()
    assert (built / "artifacts" / "Counter.json").is_file()


def test_a_compile_error_fails_the_build_naming_the_source(built: Path) -> None:
    (built / "Broken.sol").write_text("pragma solidity 0.8.37;\ncontract Broken { uint x = ; }\n")
    before = snapshot(built / "artifacts")
    proc = build("--dir", str(built))
    assert proc.returncode == 1
    assert "contracts/Broken.sol" in proc.stderr
    assert snapshot(built / "artifacts") == before


def test_the_loader_reads_what_the_build_writes(built: Path) -> None:
    text = (built / "artifacts" / "Counter.json").read_text()
    document = json.loads(text)
    artifact = parse_artifact("Counter", text)
    assert artifact.bytecode == bytes.fromhex(document["bytecode"][2:])
    assert artifact.deployed_bytecode == bytes.fromhex(document["deployedBytecode"][2:])
    assert artifact.metadata == document["metadata"]
    assert artifact.abi == tuple(document["abi"])
    assert artifact.compiler.evm_version == "osaka"
    for name in artifact_names():
        assert load_artifact(name).bytecode


def test_the_loader_says_what_is_wrong() -> None:
    with pytest.raises(NotFound, match="NoSuchContract") as missing:
        load_artifact("NoSuchContract")
    assert "make contracts" in str(missing.value.hint)
    with pytest.raises(UsageError):
        load_artifact("../artifacts/Counter")
    with pytest.raises(ConfigError):
        parse_artifact("X", "{}")
    with pytest.raises(ConfigError, match="bytecode"):
        good = {"abi": [], "metadata": "{}", "compiler": {"version": "v", "settings": {}}}
        parse_artifact("X", json.dumps(good | {"bytecode": "0xzz", "deployedBytecode": "0x"}))
