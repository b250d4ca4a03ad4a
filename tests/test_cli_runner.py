"""The in-process CLI runner (tests/cli_runner.py) stands for a process: exit statuses,
captured streams, an isolated environment, and a crash that shows as a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_entry_point, run_heritage


def test_exit_status_and_streams_are_those_of_the_command(tmp_path: Path) -> None:
    def main(argv: list[str]) -> None:
        sys.stdout.write("out " + " ".join(argv) + "\n")
        sys.stdout.buffer.write(b"\xff\n")
        sys.stderr.write("err\n")
        raise SystemExit(7)

    out, err, status = run_entry_point(main, ["a", tmp_path])
    assert (out, err, status) == (f"out a {tmp_path}\n".encode() + b"\xff\n", "err\n", 7)


def test_a_returned_status_is_the_exit_status_as_under_the_console_script() -> None:
    assert run_entry_point(lambda _argv: 5, [])[2] == 5
    assert run_entry_point(lambda _argv: None, [])[2] == 0


def test_a_crash_is_a_traceback_on_stderr_and_status_1() -> None:
    def main(_argv: list[str]) -> None:
        raise RuntimeError("boom")

    out, err, status = run_entry_point(main, [])
    assert (out, status) == (b"", 1)
    assert err.startswith("Traceback (most recent call last)") and "RuntimeError: boom" in err


def test_environment_directory_and_stdin_are_the_invocations_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERITAGE_DATA_DIR", "/the/test/process/own")
    seen: dict[str, object] = {}

    def main(_argv: list[str]) -> None:
        seen["env"] = {k: v for k, v in os.environ.items() if k.startswith("HERITAGE_")}
        seen["cwd"] = Path.cwd()
        seen["stdin"] = sys.stdin.read()
        seen["tty"] = sys.stdout.isatty() or sys.stderr.isatty()
        os.environ["HERITAGE_LEAK"] = "x"

    here = Path.cwd()
    _, _, status = run_entry_point(
        main, [], env={"HERITAGE_RPC_URL": "http://x"}, cwd=tmp_path, input="y\n"
    )
    assert status == 0
    assert seen == {"env": {"HERITAGE_RPC_URL": "http://x"}, "cwd": tmp_path, "stdin": "y\n",
                    "tty": False}  # fmt: skip
    assert Path.cwd() == here and "HERITAGE_LEAK" not in os.environ
    assert os.environ["HERITAGE_DATA_DIR"] == "/the/test/process/own"


def test_the_heritage_cli_runs_in_process(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello world\n")
    env = {"HERITAGE_DATA_DIR": str(tmp_path / "data")}
    done = run_heritage(["cid", "hello.txt"], env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\n")
    missing = run_heritage(["cid", "absent.bin"], env=env, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error[no_such_file]")
    assert "Traceback" not in missing.stderr
