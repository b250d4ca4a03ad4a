"""What every ``heritage`` command group shares: the consoles, ``--json`` output, the option
types several groups take, progress bars, the one-line error report and its exit status,
passphrases, and the registry session with its signers and sender.

Keys, as the registry commands take them:

- keyholders sign with keystores in ``<data dir>/keys``. ``--signer ADDRESS`` (repeatable)
  names them; without it, every keyholder of the community whose key is here is used, lowest
  addresses first, as many as the action needs.
- ``--password-file FILE`` (repeatable): one file unlocks every signer, or one file per
  ``--signer``, in the same order. Without it each passphrase is asked for (hidden prompt).
- the sender pays the gas: anvil's dev account on the local chain; elsewhere ``--sender
  ADDRESS`` (a key in the keystore) with ``--sender-password-file``.

Like every module of the CLI, this one imports web3, eth-account and the registry only inside
the functions that need them (see :mod:`api.cli`).
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ledger.errors import ExitCode, HeritageError, UsageError
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress
    from rich.progress import Progress as RichProgress

    from ledger.registry import Progress, Registry, SignerKeys

__all__ = [
    "BYTE_PROGRESS_FLOOR",
    "SIGNER_FILES_HINT",
    "ClaimOpt",
    "Item",
    "JsonFlag",
    "PasswordFiles",
    "Quiet",
    "Sender",
    "SenderPasswordFile",
    "Signers",
    "TermsOpt",
    "block_progress",
    "byte_progress",
    "claimant",
    "err",
    "error_line",
    "fail",
    "out",
    "print_json",
    "read_passphrase",
    "registrar_session",
    "signer_keys",
    "spinner",
    "stage_progress",
]

#: Standard error (notes, warnings, progress, errors) and standard output, as rich writes them.
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

# ---- options that several groups take ------------------------------------------------------

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only what a script needs.")]
Signers = Annotated[
    list[str] | None,
    typer.Option(
        "--signer",
        help="A keyholder who signs (repeatable; default: every keyholder with a key here).",
    ),
]
PasswordFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--password-file",
        help="Passphrase file: one for every signer, or one per --signer in the same order "
        "(keyholders with different passphrases: one each).",
        dir_okay=False,
    ),
]
Sender = Annotated[
    str | None,
    typer.Option(
        "--sender", help="Keystore address that pays gas (default on anvil: dev account)."
    ),
]
SenderPasswordFile = Annotated[
    Path | None,
    typer.Option("--sender-password-file", help="Passphrase file of --sender.", dir_okay=False),
]
TermsOpt = Annotated[Path, typer.Option("--terms", help="Terms document (a JSON file).")]
Item = Annotated[str, typer.Argument(help="A CID (v0 or v1) or a 0x claim key.")]
ClaimOpt = Annotated[
    str | None,
    typer.Option(
        "--community",
        "-c",
        help="Whose claim ITEM names, when several communities claim the content: the "
        "community (id or name) that registered or now stewards it.",
    ),
]

# ---- output and errors ---------------------------------------------------------------------


def print_json(value: Any) -> None:
    """One JSON document on standard output, keys sorted, for scripts."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


#: The hint an error gets when the code that raised it gave none, by its exit status: every
#: error line says what to do (docs/exit-codes.md).
_DEFAULT_HINTS: Final = {
    ExitCode.FAILURE: "run the command again with --help, or see docs/exit-codes.md",
    ExitCode.USAGE: "see the command's --help for its arguments and options",
    ExitCode.CHAIN_UNAVAILABLE: "start the local chain with `heritage chain up`, or check "
    "HERITAGE_RPC_URL",
    ExitCode.TERMS_INVALID: "fix each problem named, then run the command again",
    ExitCode.CONSENT_PENDING: "collect the missing signatures (`heritage consent status`)",
}


def error_line(exc: HeritageError) -> str:
    """The one line an error prints: ``error[code]: what went wrong (hint: what to do)``,
    newlines in the message or hint folded, and a hint always there."""
    hint = exc.hint or _DEFAULT_HINTS.get(ExitCode(exc.exit_code), _DEFAULT_HINTS[ExitCode.FAILURE])
    message = " ".join(exc.message.split())
    return f"error[{exc.code}]: {message} (hint: {' '.join(hint.split())})"


def fail(exc: HeritageError) -> NoReturn:
    """Report a project error in one line (``error[code]: … (hint: …)``) and exit with its
    status from :class:`ledger.errors.ExitCode`, without a traceback."""
    line = error_line(exc)
    code_end = line.index("]") + 1
    err.print(f"[bold red]{escape(line[:code_end])}[/]{escape(line[code_end:])}", soft_wrap=True)
    raise SystemExit(ExitCode(exc.exit_code))


# ---- progress bars ---------------------------------------------------------------------------

#: Byte counts below this finish too soon for a bar to help.
BYTE_PROGRESS_FLOOR: Final = 16 << 20


#: The progress display showing now, if any: rich allows one live display at a time, so work
#: that starts a bar inside another (unlocking a key during a registration) adds its line to
#: the one already shown.
_LIVE: "list[RichProgress]" = []


@contextmanager
def _bars(quiet: bool, *, unit: str, eta: bool = True) -> "Iterator[RichProgress | None]":
    """Rich progress bars on stderr, cleared when done; None when quiet or not a terminal.
    ``unit``: ``bytes`` (size and speed) or ``items`` (done of total). A spinner leads each
    line, so a step that takes seconds still shows that work goes on."""
    if quiet or not err.is_terminal:
        yield None
        return
    if _LIVE:
        yield _LIVE[-1]
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress

    counted: tuple[ProgressColumn, ...] = (
        (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    )
    timing: tuple[ProgressColumn, ...] = (TimeRemainingColumn(),) if eta else ()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), *counted, *timing)
    with RichProgress(*columns, console=err, transient=True) as bar:
        _LIVE.append(bar)
        try:
            yield bar
        finally:
            _LIVE.pop()


@contextmanager
def spinner(label: str, quiet: bool = False) -> Iterator[None]:
    """A line saying what runs now, for one step of unknown length (deriving a key from its
    passphrase, encrypting a file); nothing when quiet or not a terminal."""
    with _bars(quiet, unit="items", eta=False) as bar:
        if bar is None:
            yield
            return
        task = bar.add_task(label, total=None)
        bar.refresh()  # shown at once: the step may end before the next timed refresh
        try:
            yield
        finally:
            bar.remove_task(task)


@contextmanager
def byte_progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A bar for long work on ``total`` bytes (adding files, importing a CAR), advanced by the
    bytes each step did; nothing when quiet, not a terminal, or under 16 MiB."""
    with _bars(quiet or total < BYTE_PROGRESS_FLOOR, unit="bytes") as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def stage_progress(quiet: bool) -> "Iterator[Progress | None]":
    """One bar per stage of a registration (files added, items registered), each told how
    far it is; nothing when quiet or not a terminal."""
    with _bars(quiet, unit="items") as bar:
        if bar is None:
            yield None
            return
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


@contextmanager
def block_progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A bar of blocks read (the index), its total known only once reading starts; nothing
    when quiet or not a terminal."""
    with _bars(quiet, unit="items", eta=False) as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


# ---- passphrases, signers, the sender, the registry ----------------------------------------


def read_passphrase(password_file: Path | None, prompt: str, *, new: bool = False) -> str:
    """The passphrase in ``password_file`` (one trailing newline ignored), else asked for on a
    hidden prompt (twice when ``new``: a passphrase being chosen)."""
    from ledger.keys import read_passphrase_file

    if password_file is not None:
        return read_passphrase_file(password_file)
    value: str = typer.prompt(
        prompt, hide_input=True, confirmation_prompt=new, err=True, show_default=False
    )
    return value


def _signer_passphrases(
    signers: list[str] | None, files: list[Path] | None
) -> "Callable[[ChecksumAddress], str]":
    named = [s.lower() for s in signers or []]
    paths = list(files or [])
    if len(paths) > 1 and len(paths) != len(named):
        raise UsageError(
            f"{len(paths)} --password-file options for {len(named)} --signer options",
            hint=SIGNER_FILES_HINT,
        )
    cache: dict[str, str] = {}

    def passphrase(address: "ChecksumAddress") -> str:
        if address not in cache:
            if len(paths) > 1:
                chosen: Path | None = paths[named.index(address.lower())]
            else:
                chosen = paths[0] if paths else None
            cache[address] = read_passphrase(chosen, f"Passphrase of {address}")
        return cache[address]

    return passphrase


#: What to do when a passphrase does not open a keyholder's key: the README's words too.
SIGNER_FILES_HINT: Final = (
    "keyholders with different passphrases each need their own file: pass "
    "`--signer ADDRESS --password-file FILE` once per keyholder, in the same order "
    "(one --password-file alone serves every signer)"
)


def signer_keys(
    settings: Settings,
    signers: list[str] | None,
    files: list[Path] | None,
    *,
    quiet: bool = False,
) -> "SignerKeys":
    """The keys of --signer (default: every keyholder key here), their passphrases from
    --password-file (one for all, or one per signer) or asked for. Deriving each key from its
    passphrase (seconds, by design) shows a spinner line unless ``quiet``. A passphrase that
    does not open a key says whose key it is, which file was tried, and how to give each
    keyholder its own file."""
    from ledger.errors import WrongPassphrase
    from ledger.keys import load_signer
    from ledger.registry import SignerKeys

    paths = list(files or [])
    named = [s.lower() for s in signers or []]

    def tried(address: str) -> str:
        if not paths:
            return "the passphrase typed"
        if len(paths) == 1:
            return f"the passphrase in {paths[0]}"
        return f"the passphrase in {paths[named.index(address.lower())]}"

    class Keys(SignerKeys):
        def unlock(self, address: "ChecksumAddress") -> "LocalAccount":
            account = self._unlocked.get(address)
            if account is not None:
                return account
            secret = self.passphrase(address)  # asked before the spinner starts
            try:
                with spinner(f"unlocking the key of {address}", quiet):
                    account = load_signer(self.settings, address, secret)
            except WrongPassphrase:
                raise WrongPassphrase(
                    f"{tried(address)} does not open the key of keyholder {address}",
                    hint=SIGNER_FILES_HINT,
                ) from None
            self._unlocked[address] = account
            return account

    return Keys(
        settings,
        _signer_passphrases(signers, files),
        tuple(signers) if signers else None,
    )


def _sender_account(settings: Settings, sender: str, sender_file: Path | None) -> "LocalAccount":
    from ledger.keys import load_signer

    passphrase = read_passphrase(sender_file, f"Passphrase of the sender {sender}")
    with spinner(f"unlocking the sender's key {sender}"):
        return load_signer(settings, sender, passphrase)


@contextmanager
def registrar_session(
    sender: str | None = None, sender_file: Path | None = None, *, sends: bool = False
) -> "Iterator[tuple[Settings, Registry]]":
    """The settings and a :class:`Registry` for one command, closed after it; ``sends``: with
    the account that pays for transactions (``--sender``, else anvil's dev account when this is
    a local development chain: the local anvil of the data directory, or any chain with
    anvil's default id 31337)."""
    from ledger.registry import Registry

    settings = load_settings()
    with Registry(settings) as registrar:
        if sends and sender is not None:
            registrar.session.use_sender(_sender_account(settings, sender, sender_file))
        elif sends:
            from local_chain import ANVIL_CHAIN_ID, anvil_dev_account, uses_outside_chain

            if not uses_outside_chain(settings) or registrar.client.chain_id() == ANVIL_CHAIN_ID:
                registrar.session.use_sender(anvil_dev_account())
        yield settings, registrar


def claimant(registrar: "Registry", community: str | None) -> bytes | None:
    """The community (id or name) whose claim an item names, or None when not named."""
    return None if community is None else registrar.reader.resolve_community(community)
