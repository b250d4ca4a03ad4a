"""The ``heritage`` command-line tool: parse, call the core, format.

One module per command group, each a thin layer over ``ledger`` and ``local_chain``:

- :mod:`~api.cli.ipfs`: ``heritage cid`` and ``heritage ipfs …`` (the IPFS node);
- :mod:`~api.cli.chain`, :mod:`~api.cli.keys`, :mod:`~api.cli.index`: the local chain, the
  keystore, the event index;
- :mod:`~api.cli.community`, :mod:`~api.cli.item`, :mod:`~api.cli.terms`,
  :mod:`~api.cli.custody`, :mod:`~api.cli.derivative`: the registry's workflows;
- :mod:`~api.cli.rights`: ``heritage terms check`` (a terms document's display decision);
- :mod:`~api.cli.listing`: ``heritage item list`` and ``heritage community list``;
- :mod:`~api.cli.consent`: k-of-n consent collected offline;
- :mod:`~api.cli.verify`: ``heritage verify``;
- :mod:`~api.cli.exhibit`: ``heritage exhibit build|serve`` (exhibit sites);
- :mod:`~api.cli.login`: ``heritage login`` (a keyholder's one-time link to the web pages);
- :mod:`~api.cli.common`: what they share (``--json`` output, options, progress bars, the
  error report, passphrases, the registry session).

Errors from the project print as one line (``error[code]: what … (what to do)``) without a
traceback. Exit statuses are :class:`ledger.errors.ExitCode` (docs/exit-codes.md): 0 success,
1 failure, 2 usage error, 3 chain unavailable; commands that report a verdict (``ipfs
verify``) exit 1 when the verdict is bad.

Starting is cheap: ``heritage --help`` and ``heritage cid`` load typer, rich and the pure CID
code, nothing more. What a command needs beyond that (the IPFS node, web3, eth-account, the
cryptography, the registry, the verifier, uvicorn) is imported inside the command, and types
used only in annotations of helpers are imported under ``TYPE_CHECKING`` and written as
strings. Typer reads the annotations of every command when the CLI starts (all of them, for
any command line), so those stay builtins, ``Path`` and ``Annotated``, and the ``api/cli/``
modules do without ``from __future__ import annotations``: kept as strings, each annotation
would be compiled at every start (about 30 ms of ``heritage --help`` on two cores, a tenth
of it). ``tests/api/test_cli.py`` checks that importing the CLI and printing its help
load none of the heavy packages; ``bench/cli_startup.py`` times it.
"""

from typing import Annotated

import typer

from api.cli.chain import chain_app
from api.cli.common import err, fail, out
from api.cli.community import community_app
from api.cli.consent import consent_app
from api.cli.custody import custody_app
from api.cli.demo import DEMO_EPILOG, demo_command
from api.cli.derivative import derivative_app
from api.cli.examples import START_HERE, decorate, plain_metavars
from api.cli.exhibit import exhibit_app
from api.cli.index import index_app
from api.cli.ipfs import cid_command, ipfs_app
from api.cli.item import item_app
from api.cli.keys import keys_app
from api.cli.listing import community_list, item_list
from api.cli.login import login_command
from api.cli.rights import terms_check
from api.cli.serve import SERVE_EXAMPLES, serve_command
from api.cli.terms import terms_app
from api.cli.verify import verify_command
from ledger.errors import ExitCode, HeritageError, UsageError

__all__ = ["app", "main"]

app = typer.Typer(
    name="heritage",
    help="Heritage Ledger: prove what a community holds, control who sees it, share the rest.",
    epilog=START_HERE,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("heritage-ledger")
        except PackageNotFoundError:  # pragma: no cover - run from a checkout, not installed
            number = "unknown (not installed)"
        out.print(f"heritage {number}", markup=False)
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Heritage Ledger: prove what a community holds, control who sees it, share the rest."""


app.add_typer(ipfs_app, name="ipfs")
app.add_typer(chain_app, name="chain")
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(community_app, name="community")
community_app.command("list")(community_list)
app.add_typer(item_app, name="item")
item_app.command("list")(item_list)
app.add_typer(terms_app, name="terms")
terms_app.command("check")(terms_check)
app.add_typer(custody_app, name="custody")
app.add_typer(derivative_app, name="derivative")
app.command("verify")(verify_command)
app.command("demo", epilog=DEMO_EPILOG)(demo_command)
app.add_typer(consent_app, name="consent")
app.command("cid")(cid_command)
app.add_typer(exhibit_app, name="exhibit")
app.command("serve", epilog=SERVE_EXAMPLES)(serve_command)
app.command("login")(login_command)


def _click_error(exc: typer.TyperException) -> HeritageError:
    """A command line click refused (a misspelled command or option, a bad value, a missing
    argument) as the project's usage error, with the help to read as its hint."""
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else "heritage"
    message = exc.format_message()
    if exc.exit_code == ExitCode.USAGE:  # click's UsageError and its kinds
        return UsageError(message, hint=f"see `{where} --help`")
    return HeritageError(message, hint=f"see `{where} --help`")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``heritage`` script. Click runs without its own error report
    (``standalone_mode=False``) so that every error, a misspelled command included, prints
    in the one form of :func:`api.cli.common.fail`."""
    try:
        decorate(app)
        command = typer.main.get_command(app)
        plain_metavars(command, typer.Context(command))
        status = command.main(args=argv, prog_name="heritage", standalone_mode=False)
    except HeritageError as exc:
        fail(exc)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # as typer tells it: by name
            err.print(exc.format_message(), markup=False, highlight=False)
            raise SystemExit(ExitCode.USAGE) from None
        fail(_click_error(exc))
    except typer.Abort:
        # A prompt that got no answer (standard input closed).
        fail(
            UsageError(
                "a question was asked and got no answer (standard input is closed)",
                hint="pass the answer as an option (--password-file, --yes)",
            )
        )
    except BrokenPipeError:
        raise SystemExit(ExitCode.FAILURE) from None
    except KeyboardInterrupt:
        status = ExitCode.INTERRUPTED
    if status == ExitCode.INTERRUPTED:
        err.print("interrupted")
    if isinstance(status, int) and status != ExitCode.OK:
        raise SystemExit(ExitCode(status))
