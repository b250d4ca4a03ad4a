"""One exit-status table: docs/exit-codes.md lists exactly :class:`ExitCode`, every error and
every command exits only with a status from it, and each command class's documented failure
exits as documented: in-process (tests/cli_runner.py), and for each status of the table's
failures without a chain also as a real process (the status the shell sees)."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import api
import ledger
from ledger.errors import ExitCode, HeritageError
from ledger.verify import load_schema
from ledger.verify.report import Status
from tests.chain_support import free_port
from tests.cli_runner import run_heritage
from tests.registry_support import HERITAGE, Chain, chain

REUSED_FIXTURES = (chain,)
ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\| (\d+) \| `([A-Z_]+)` \|", re.MULTILINE)


def documented() -> dict[str, int]:
    text = (ROOT / "docs" / "exit-codes.md").read_text()
    rows = _ROW.findall(text)
    names = [name for _, name in rows]
    assert len(names) == len(set(names)), "a name is listed twice"
    return {name: int(code) for code, name in rows}


def test_the_page_lists_exactly_the_enum() -> None:
    assert documented() == {name: int(m) for name, m in ExitCode.__members__.items()}


def test_the_readme_and_the_verify_page_link_the_table() -> None:
    assert "(docs/exit-codes.md)" in (ROOT / "README.md").read_text()
    assert "(exit-codes.md)" in (ROOT / "docs" / "verify.md").read_text()
    assert "(exit-codes.md)" in (ROOT / "docs" / "consent.md").read_text()


def _subclasses(cls: type[HeritageError]) -> list[type[HeritageError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def test_every_error_exits_with_a_status_of_the_table() -> None:
    for package in (api, ledger):  # import every module, so every error class exists
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    errors = _subclasses(HeritageError)
    assert len(errors) > 30
    for error in errors:
        assert isinstance(error.exit_code, ExitCode), (error, error.exit_code)
    # What the table says about the classes scripts branch on.
    from api.errors import BrowserRequestRefused
    from ledger.errors import ChainUnavailable, ConsentIncomplete, InvalidTerms, NoSuchFile

    assert ChainUnavailable.exit_code == 3 and ConsentIncomplete.exit_code == 5
    assert InvalidTerms.exit_code == 4 and NoSuchFile.exit_code == 2
    assert BrowserRequestRefused.exit_code == 2


def test_verify_statuses_and_its_schema_are_in_the_table() -> None:
    values = {int(m) for m in ExitCode}
    verdicts = {m.value for name, m in ExitCode.__members__.items() if 10 <= m.value <= 16}
    assert {s.exit_code for s in Status} <= values
    assert {s.exit_code for s in Status} - {0} <= verdicts
    schema = load_schema("verify-report")
    assert set(schema["properties"]["exit_code"]["enum"]) <= values


def test_no_command_exits_with_a_bare_number() -> None:
    """Every `SystemExit(…)` and `typer.Exit(…)` in the CLI names its status through ExitCode
    (or a constant made from it), never a literal: a new status cannot slip past the table."""
    exits = 0
    for source in sorted((ROOT / "api" / "cli").glob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            called = ast.unparse(node.func)
            if called not in ("SystemExit", "typer.Exit"):
                continue
            exits += 1
            argument = node.args[0]
            assert not isinstance(argument, ast.Constant), (
                f"{source.name}:{node.lineno}: {ast.unparse(node)} exits with a bare number"
            )
    assert exits >= 6


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    proc = subprocess.run(
        [str(HERITAGE), *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
_KEY = "0x" + "ab" * 32


@pytest.mark.parametrize(
    "args",
    [
        ("chain", "status"),
        ("community", "show", _KEY),
        ("item", "show", _CID),
        ("index", "sync"),
        ("verify", _CID),
        ("verify", "scan.bin"),  # a file: hashed, then the chain is asked
        ("terms", "revoke", _CID),
        ("consent", "request", _CID, "--revoke", "-o", "request.json"),
    ],
)
def test_every_command_that_needs_the_chain_exits_3_when_it_is_down(
    chain: Chain, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "scan.bin").write_bytes(b"some bytes")
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "HERITAGE_DATA_DIR": str(tmp_path / "data"),
        "HERITAGE_RPC_URL": closed,
        "HERITAGE_DEPLOYMENT": str(chain.deployment),
        "HERITAGE_FSYNC": "false",
    }
    proc = run_heritage(args, env=env, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == ExitCode.CHAIN_UNAVAILABLE, proc.stderr
    assert proc.stderr.startswith(f"error[chain_unavailable]: no chain answers at {closed}")
    assert not (tmp_path / "request.json").exists()


def test_the_documented_failures_without_a_chain(tmp_path: Path) -> None:
    """Usage errors (2), a missing block (1), `terms check`'s invalid document (4): each
    command class's failure that needs no chain, with the status the table gives it."""
    env = {"HERITAGE_DATA_DIR": str(tmp_path / "data"), "HERITAGE_FSYNC": "false"}
    bad_terms = tmp_path / "terms.json"
    bad_terms.write_text(json.dumps({"type": "heritage/terms"}))
    cases: list[tuple[tuple[str, ...], int, str]] = [
        (("ipfs", "pin", "nope"), ExitCode.USAGE, "error[invalid_cid]"),
        (("ipfs", "add", "absent.bin"), ExitCode.USAGE, "error[no_such_file]"),
        (("cid", "absent.bin"), ExitCode.USAGE, "error[no_such_file]"),
        (("verify", ""), ExitCode.USAGE, "error[usage_error]"),
        (("consent", "status", "absent.json"), ExitCode.USAGE, "error[no_such_file]"),
        (("no-such-command",), ExitCode.USAGE, ""),
        (("ipfs", "cat", _CID), ExitCode.FAILURE, "error[block_not_found]"),
        (("terms", "check", str(bad_terms)), ExitCode.TERMS_INVALID, "error[invalid_terms]"),
    ]
    # Every case in-process; the first of each status, and the unknown command (click's own
    # usage error), also as a real process: the status the shell sees.
    real: set[int] = set()
    for args, status, line in cases:
        proc = run_heritage(args, env=env, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == status, (args, proc.stderr)
        assert proc.stderr.startswith(line), (args, proc.stderr)
        if status not in real or args == ("no-such-command",):
            real.add(status)
            proc = _run(env, *args, cwd=tmp_path)
            assert proc.returncode == status, (args, proc.stderr)
            assert proc.stderr.startswith(line), (args, proc.stderr)
    assert real == {ExitCode.USAGE, ExitCode.FAILURE, ExitCode.TERMS_INVALID}
