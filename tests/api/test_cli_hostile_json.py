"""Every command that reads a JSON file refuses a hostile one with a one-line error: a bracket
bomb (deep nesting), a key given twice, NaN. Before ledger.strict_json, a deep file gave a
traceback (RecursionError) or, under a raised recursion limit, killed the process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run_heritage

BOMB = "[" * 50_000  # under every size cap here (keystores: 64 KiB), far over any depth limit
TWICE = '{"type": "heritage/terms", "type": "heritage/terms"}'


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In-process (tests/cli_runner.py): a RecursionError is a traceback on stderr, and a crash
    of the interpreter would take the test run down with it, failing it all the same."""
    env = {"HERITAGE_DATA_DIR": str(data_dir), "HERITAGE_RPC_URL": "http://127.0.0.1:9"}
    return run_heritage(args, env=env)


@pytest.mark.parametrize(
    ("command", "content", "reason"),
    [
        (["terms", "check"], BOMB, "levels deep"),
        (["terms", "check"], TWICE, "appears twice"),
        (["terms", "check"], '{"version": NaN}', "NaN is not JSON"),
        (["keys", "import", "--keystore"], BOMB, "levels deep"),
        (["keys", "import", "--keystore"], '{"version": 3, "version": 3}', "appears twice"),
        (["consent", "status"], BOMB, "levels deep"),
        (["verify", "--proofs"], BOMB, "levels deep"),
    ],
)
def test_a_hostile_json_file_gets_a_one_line_error(
    tmp_path: Path, command: list[str], content: str, reason: str
) -> None:
    hostile = tmp_path / "hostile.json"
    hostile.write_text(content)
    password = tmp_path / "pw"
    password.write_text("a passphrase\n")
    extra = ["--password-file", str(password)] if command[0] == "keys" else []
    if command[0] == "verify":
        item = tmp_path / "item.bin"
        item.write_bytes(b"some bytes")
        args = [*command, str(hostile), str(item)]
    else:
        args = [*command, str(hostile), *extra]
    done = run(tmp_path / "data", *args)
    assert done.returncode not in (0, -11), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error["), done.stderr
    assert reason in done.stderr
    assert not (tmp_path / "data" / "keys").exists() or not any(
        (tmp_path / "data" / "keys").glob("*.json")
    )  # nothing was stored
