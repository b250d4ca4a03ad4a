"""The helpers every command group of the CLI shares (api/cli/common.py), in process: JSON
output, passphrases of signers, progress bars on a terminal and off it, the error report."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from rich.console import Console

from api.cli import common
from ledger.errors import ChainUnavailable, ExitCode, UsageError

ALICE = to_checksum_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
BOB = to_checksum_address("0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc")


def test_print_json_writes_one_sorted_indented_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    common.print_json({"b": [1, 2], "a": "x"})
    text = capsys.readouterr().out
    assert text == '{\n  "a": "x",\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert json.loads(text) == {"a": "x", "b": [1, 2]}


def test_fail_prints_one_line_and_the_hint_and_exits_with_the_errors_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        common.fail(ChainUnavailable("no chain at [x]", hint="run `heritage chain up`"))
    assert exited.value.code == ExitCode.CHAIN_UNAVAILABLE
    assert int(ExitCode.CHAIN_UNAVAILABLE) == 3
    err = capsys.readouterr().err
    assert err == "error[chain_unavailable]: no chain at [x] (hint: run `heritage chain up`)\n"


def test_an_error_without_a_hint_gets_one_and_stays_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        common.fail(UsageError("two\nlines"))
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error[usage_error]: two lines (hint: ") and err.endswith(")\n")


def test_read_passphrase_takes_the_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse\n")
    assert common.read_passphrase(secret, "never asked") == "correct horse"


def test_one_password_file_unlocks_every_signer(tmp_path: Path) -> None:
    shared = tmp_path / "pw"
    shared.write_text("one for all\n")
    passphrase = common._signer_passphrases(None, [shared])
    assert passphrase(ALICE) == passphrase(BOB) == "one for all"


def test_password_files_go_with_the_signers_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("alice's")
    second.write_text("bob's")
    passphrase = common._signer_passphrases([ALICE.lower(), BOB], [first, second])
    assert passphrase(BOB) == "bob's"
    assert passphrase(ALICE) == "alice's"
    # Read once per signer: the answer stays the one given first.
    first.write_text("changed")
    assert passphrase(ALICE) == "alice's"


def test_more_password_files_than_one_must_match_the_signers(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(UsageError, match="2 --password-file options for 1 --signer options"):
        common._signer_passphrases([ALICE], files)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Standard error as a terminal, so the progress bars draw (into this buffer)."""
    screen = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=screen, force_terminal=True, width=100))
    yield screen


def test_no_progress_bar_when_quiet_or_not_a_terminal() -> None:
    # Under pytest, stderr is captured: not a terminal.
    with common.byte_progress(1 << 30, "adding", quiet=False) as tick:
        assert tick is None
    with common.stage_progress(quiet=False) as stage:
        assert stage is None
    with common.block_progress("syncing", quiet=False) as blocks:
        assert blocks is None


def test_progress_bars_on_a_terminal(terminal: io.StringIO) -> None:
    with common.byte_progress(common.BYTE_PROGRESS_FLOOR - 1, "small", quiet=False) as tick:
        assert tick is None  # over before a bar would help
    with common.byte_progress(1 << 30, "adding big.bin", quiet=True) as tick:
        assert tick is None
    with common.byte_progress(1 << 30, "adding big.bin", quiet=False) as tick:
        assert tick is not None
        tick(1 << 29)
        tick(1 << 29)
    with common.stage_progress(quiet=False) as stage:
        assert stage is not None
        stage("registering", 1, 3)
        stage("registering", 3, 3)
    with common.block_progress("syncing the index", quiet=False) as blocks:
        assert blocks is not None
        blocks(50, 100)
    drawn = terminal.getvalue()
    assert "adding big.bin" in drawn and "registering" in drawn and "syncing the index" in drawn
    assert "small" not in drawn


def test_a_spinner_inside_a_bar_joins_its_display(terminal: io.StringIO) -> None:
    # Rich allows one live display: a key unlocked during a registration adds its line to the
    # registration's bars instead of failing with a second display.
    with common.stage_progress(quiet=False) as stage:
        assert stage is not None
        stage("encrypting", 0, 1)
        with common.spinner("unlocking the key of 0xABC"):
            pass
        stage("encrypting", 1, 1)
    with common.spinner("deriving the keystore key"):
        pass
    drawn = terminal.getvalue()
    assert "unlocking the key of 0xABC" in drawn and "encrypting" in drawn
    assert "deriving the keystore key" in drawn
    assert common._LIVE == []


def test_no_spinner_when_quiet_or_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with common.spinner("never shown"):
        pass
    with common.spinner("never shown", quiet=True):
        pass
    assert "never shown" not in capsys.readouterr().err
