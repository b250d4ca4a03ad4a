"""Fixtures and helpers of every test that registers: a registrar per test on the session's
anvil (in-process), and a CLI workspace (`heritage` run in-process by tests/cli_runner.py) with
its keystore and terms files. One home for them, imported by the registry, consent and
verification tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3 import Web3

from ledger.chain import connect, deployment_path
from ledger.documents import community_salt
from ledger.keys import keys_dir, new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings, load_settings
from local_chain import ANVIL_DEV_ACCOUNT_0, anvil_dev_account
from tests.cli_runner import run_heritage
from tests.conftest import LocalChain
from tests.rights_support import public_terms, write_terms

HERITAGE = Path(sys.executable).parent / "heritage"
#: The in-process registrar's keystore passphrase.
PASSPHRASE = "registration tests"
#: The CLI workspace's keystore passphrase (its --password-file).
CLI_PASSPHRASE = "correct horse battery staple"


@contextmanager
def chain_snapshot(w3: Web3) -> Iterator[None]:
    """Leave the session's chain as it was found (evm_snapshot, then evm_revert)."""
    snapshot = w3.provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
    try:
        yield
    finally:
        reverted = w3.provider.make_request("evm_revert", [snapshot["result"]])  # type: ignore[arg-type]
        assert reverted["result"] is True


# ---- in process --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_settings(anvil: LocalChain) -> Settings:
    """The session's anvil (each test has a data directory of its own)."""
    return anvil.settings


def settings_on(chain: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a data directory of its own on ``chain`` (the session's anvil and its
    deployment), ignoring the environment; no fsync, to keep tests fast."""
    return load_settings(
        env={},
        data_dir=data_dir,
        rpc_url=chain.rpc_url,
        deployment=deployment_path(chain),
        fsync=False,
        **overrides,
    )


@pytest.fixture
def registrar(chain_settings: Settings, tmp_path: Path) -> Iterator[Registry]:
    settings = settings_on(chain_settings, tmp_path / "data")
    # the session's anvil (chain id 31337): its dev account relays
    with chain_snapshot(connect(settings.rpc_url)), Registry(
        settings, sender=anvil_dev_account()
    ) as registrar:
        yield registrar


def keyed_community(registrar: Registry, name: str, n: int, k: int) -> SignerKeys:
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(n)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    registrar.communities.create(name, holders, k, keys)
    return keys


@pytest.fixture(scope="module")
def module_chain(chain_settings: Settings) -> Iterator[Settings]:
    """The session's anvil for one test module: what the module's own fixtures create on it
    (communities) is there for each of its tests, and undone when the module ends. Each
    test's ``registrar`` snapshot nests inside this one."""
    with chain_snapshot(connect(chain_settings.rpc_url)):
        yield chain_settings


@dataclass(frozen=True, slots=True)
class Founded:
    """A community created once for a test module: its name and id, its keystore folder and
    the documents its creation stored (pinned blocks)."""

    name: str
    id: bytes
    keys: Path
    blocks: tuple[tuple[int, bytes], ...]  # (codec, bytes)

    def join(self, registrar: Registry) -> SignerKeys:
        """The community's keys and documents in ``registrar``'s data directory (a test's
        own); its keys, ready to sign."""
        shutil.copytree(self.keys, keys_dir(registrar.settings), dirs_exist_ok=True)
        for codec, block in self.blocks:
            registrar.node.pin_add(registrar.node.block_put(block, codec))
        return SignerKeys(registrar.settings, lambda _address: PASSPHRASE)


def found_community(chain: Settings, folder: Path, name: str, n: int, k: int) -> Founded:
    """Create community ``name`` (n keyholders, threshold k) on ``chain`` (a module's
    :func:`module_chain`) from a data directory under ``folder``."""
    settings = settings_on(chain, folder / "data")
    with Registry(settings, sender=anvil_dev_account()) as registrar:
        keyed_community(registrar, name, n, k)
        community = registrar.reader.resolve_community(name)
        node = registrar.node
        blocks = tuple((cid.codec, node.block_get(cid)) for cid in node.pin_ls())
    return Founded(name, community, keys_dir(settings), blocks)


# ---- the CLI -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    settings: Settings
    deployment: Path

    def w3(self) -> Web3:
        return connect(self.settings.rpc_url)

    def sent(self) -> int:
        """Transactions sent so far by the relaying dev account."""
        return int(self.w3().eth.get_transaction_count(to_checksum_address(ANVIL_DEV_ACCOUNT_0)))


@pytest.fixture(scope="module")
def chain(anvil: LocalChain) -> Chain:
    """The session's anvil; each test has a data directory of its own and names it by
    HERITAGE_RPC_URL and HERITAGE_DEPLOYMENT."""
    return Chain(anvil.settings, deployment_path(anvil.settings))


@dataclass
class Workspace:
    """A data directory of the test's own, on the module's chain, with keystores."""

    chain: Chain
    data: Path
    password_file: Path
    keys: list[str]
    ids: dict[str, bytes] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = run_heritage(args, env=self.env())
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def env(self, **changes: str) -> dict[str, str]:
        """The ``HERITAGE_*`` variables of this workspace's commands (``changes`` override)."""
        return {
            "HERITAGE_DATA_DIR": str(self.data),
            "HERITAGE_RPC_URL": self.chain.settings.rpc_url,
            "HERITAGE_DEPLOYMENT": str(self.chain.deployment),
            "HERITAGE_FSYNC": "false",
        } | changes

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def new_keys(self, count: int) -> list[str]:
        settings = load_settings(env={}, data_dir=self.data, fsync=False)
        made = [
            new_key(settings, CLI_PASSPHRASE, unsafe_light_kdf=True).address for _ in range(count)
        ]
        self.keys.extend(made)
        return sorted(made, key=lambda a: int(a, 16))

    def community(self, name: str, n: int = 3, k: int = 2) -> tuple[str, list[str]]:
        holders = self.new_keys(n)
        args = ["community", "create", name, "--threshold", str(k)]
        for holder in holders:
            args += ["--keyholder", holder]
        created = self.json(*args, "--password-file", str(self.password_file))
        self.ids[name] = bytes.fromhex(created["id"][2:])
        return created["id"], holders

    def community_id(self, name: str) -> bytes:
        """The id of the community this workspace created as ``name``; for a name it never
        created, an id that no community has (the name's salt)."""
        return self.ids.get(name, community_salt(name))

    def pins(self) -> dict[str, str]:
        result: dict[str, str] = self.json("ipfs", "pins")
        return result

    def files(self, count: int, tag: str = "f") -> list[Path]:
        folder = self.data.parent / f"files-{tag}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        paths = []
        for i in range(count):
            path = folder / f"{tag}{i}.txt"
            path.write_bytes(f"{uuid.uuid4()} item {i}\n".encode())
            paths.append(path)
        return paths


@pytest.fixture
def ws(chain: Chain, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on the session's chain, which the test leaves as it found it."""
    password = tmp_path / "pw"
    password.write_text(CLI_PASSPHRASE + "\n")
    with chain_snapshot(chain.w3()):
        yield Workspace(chain, tmp_path / "data", password, [])


#: ``terms(name)``: a valid public terms file of the community called ``name``.
TermsFile = Callable[[str], Path]


@pytest.fixture
def terms(ws: Workspace, tmp_path: Path) -> TermsFile:
    def for_community(name: str) -> Path:
        document = public_terms(ws.community_id(name), license="CC-BY-NC-4.0")
        return write_terms(tmp_path / f"terms-{name}.json", document)

    return for_community


def sent(registrar: Registry) -> int:
    """Transactions sent so far by the relaying dev account."""
    return int(
        registrar.session.w3.eth.get_transaction_count(to_checksum_address(ANVIL_DEV_ACCOUNT_0))
    )


def write_files(folder: Path, count: int) -> list[Path]:
    """``count`` files of random bytes in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"item{i}.obj"
        path.write_bytes(os.urandom(64) + b"\n")
        paths.append(path)
    return paths
