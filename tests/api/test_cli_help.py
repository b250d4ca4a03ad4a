"""`heritage` as a newcomer first meets it: help at 80 columns with examples and whole option
names, one error form for a command line click refuses, `--version`, shell completion."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.main import get_command

from api.cli import app
from api.cli.examples import EXAMPLES, command_paths, plain
from ledger.errors import ExitCode
from tests.cli_runner import run_heritage

ROOT = Path(__file__).resolve().parents[2]
PATHS = sorted(path for path, _info in command_paths(app))
ONE_LINE_ERROR = re.compile(r"^error\[([a-z_]+)\]: [^\n]+ \(hint: [^\n]+\)\n\Z")


def _options(path: str) -> list[str]:
    command = get_command(app)
    for word in path.split():
        command = command.commands[word]  # type: ignore[attr-defined]
    return [
        name
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
        for name in [*param.opts, *param.secondary_opts]
    ]


def test_every_command_has_examples_that_name_it() -> None:
    assert len(PATHS) >= 45
    missing = [path for path in PATHS if path not in EXAMPLES]
    assert missing == []
    for path in PATHS:
        for line in EXAMPLES[path]:
            assert line.startswith(f"heritage {path}"), (path, line)


@pytest.mark.parametrize("path", PATHS)
def test_help_at_80_columns_is_whole_plain_and_has_examples(path: str) -> None:
    proc = run_heritage([*path.split(), "--help"], env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert max(len(line) for line in text.splitlines()) <= 80, text
    # Every option's name whole (nothing cut with an ellipsis), no typer type labels.
    for name in _options(path):
        assert re.search(rf"(^|[ ,/]){re.escape(name)}([ ,\n]|$)", text, re.M), (name, text)
    assert "…\n" not in text.split("Examples:")[0] and "<list[" not in text and "<str>" not in text
    assert not re.search(r"\{[A-Za-z_]+\}", text)  # typer's `{item}` usage form
    # No reStructuredText: literals in double backquotes, roles such as :mod:`x`.
    assert "``" not in text and not re.search(r":[a-z]+:`", text), text
    assert "Examples:" in text and f"heritage {path}" in text.split("Examples:")[1]


def test_plain_turns_rst_into_what_a_terminal_shows() -> None:
    assert plain("see ``heritage cid`` and :func:`~ledger.rights.decide_content`") == (
        "see `heritage cid` and decide_content"
    )
    assert plain(":class:`the table <ledger.errors.ExitCode>`") == "the table"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["itme"], "No such command 'itme'. Did you mean 'item'?"),
        (["item", "show", "--bogus", "x"], "No such option: --bogus"),
        (["item", "show"], "Missing argument 'ITEM'"),
        (["cid", "--cid-version", "7", "x"], "Invalid value for '--cid-version'"),
    ],
)
def test_a_refused_command_line_prints_the_one_error_form(args: list[str], said: str) -> None:
    proc = run_heritage(args)
    assert proc.returncode == ExitCode.USAGE
    assert proc.stdout == ""
    match = ONE_LINE_ERROR.match(proc.stderr)
    assert match is not None, proc.stderr
    assert match.group(1) == "usage_error"
    assert said in proc.stderr
    assert "╭" not in proc.stderr and "Usage:" not in proc.stderr


def test_version_is_the_packages() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = run_heritage(["--version"])
    assert proc.returncode == 0
    assert proc.stdout == f"heritage {declared}\n"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("heritage ite", "item"),
        ("heritage item sh", "show"),
        ("heritage item register --pass", "--password-file"),
        ("heritage terms ch", "check"),
    ],
)
def test_shell_completion_answers_as_bash_asks(words: str, expected: str) -> None:
    # What the script `heritage --show-completion bash` installs sets for each <Tab>.
    env = {
        "_HERITAGE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    proc = run_heritage([], env=env)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout.split(), proc.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o"),
        ("zsh", "#compdef heritage"),
        ("fish", "complete --command heritage"),
    ],
)
def test_the_completion_script_is_printed_for_the_shell_named(shell: str, marker: str) -> None:
    # `--show-completion` guesses the shell from the process tree (wrong under a test runner
    # or cron); the documented way to name it is click's `_HERITAGE_COMPLETE=source_SHELL`.
    proc = run_heritage([], env={"_HERITAGE_COMPLETE": f"source_{shell}"})
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout and "_HERITAGE_COMPLETE" in proc.stdout


def test_no_arguments_prints_the_help() -> None:
    proc = run_heritage([])
    assert proc.returncode == ExitCode.USAGE
    assert "Commands:" in proc.stderr and "item" in proc.stderr


def test_the_root_help_says_where_to_start_at_80_columns() -> None:
    proc = run_heritage(["--help"], env={"COLUMNS": "80"})
    assert proc.returncode == 0
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80, proc.stdout
    start = proc.stdout.split("Start here:")[1]
    assert "heritage chain up" in start and "heritage item register" in start
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in proc.stdout


def test_a_question_without_an_answer_is_one_usage_error_line(tmp_path: Path) -> None:
    # Standard input closed: the passphrase prompt gets nothing (click's "Aborted!" before).
    proc = run_heritage(
        ["keys", "new", "--unsafe-light-kdf"], env={"HERITAGE_DATA_DIR": str(tmp_path)}
    )
    assert proc.returncode == ExitCode.USAGE
    last = proc.stderr.splitlines()[-1] + "\n"
    match = ONE_LINE_ERROR.match(last)
    assert match is not None and match.group(1) == "usage_error", proc.stderr
    assert "--password-file" in last and "Aborted" not in proc.stderr
    assert not any((tmp_path / "keys").glob("*.json"))  # no key was made


def test_examples_are_added_once_however_many_times_the_cli_runs() -> None:
    for _ in range(3):
        proc = run_heritage(["item", "show", "--help"])
    assert proc.stdout.count("Examples:") == 1


#: Commands without --json, each for its reason.
NO_JSON = {
    "serve": "a server: runs until stopped",
    "ipfs serve": "a server",
    "exhibit serve": "a server",
    "demo": "serves until stopped; its table is for people",
    "ipfs cat": "prints the file's own bytes",
    "consent request": "prints (or writes) a JSON document already",
    "consent sign": "writes the signature file; nothing on stdout",
}


def test_every_command_that_prints_results_takes_json() -> None:
    command = get_command(app)
    found = {}
    for path, _info in command_paths(app):
        node = command
        for word in path.split():
            node = node.commands[word]  # type: ignore[attr-defined]
        found[path] = {o for p in node.params for o in getattr(p, "opts", ())}
    assert len(found) >= 50 and set(NO_JSON) <= set(found)
    assert [
        path for path, opts in found.items() if path not in NO_JSON and "--json" not in opts
    ] == []
