"""``heritage index sync|rebuild``: the SQLite mirror of the registry's events.

Thin: parse, open the chain named by the settings and its deployment record, call
:mod:`ledger.index`, format.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import JsonFlag, block_progress, print_json
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from ledger.index import SyncResult

__all__ = ["index_app"]

index_app = typer.Typer(
    help="The event index: sync it with the chain, or rebuild it from the chain alone.",
    no_args_is_help=True,
)

# Not common.Quiet: here quiet means silent, which is what its help says.
QuietOnSuccess = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
Confirmations = Annotated[
    int,
    typer.Option(
        "--confirmations",
        min=0,
        help="Index only blocks at least this deep (head - N); 0 on a local chain.",
    ),
]


def _run(settings: Settings, confirmations: int, *, rebuild: bool, quiet: bool) -> "SyncResult":
    from ledger.chain import chain_errors, connect, deployment_path, read_deployment
    from ledger.index import EventIndex, Web3Reader, index_path

    deployment = read_deployment(deployment_path(settings))
    w3 = connect(settings.rpc_url)
    with (
        chain_errors(settings.rpc_url),
        EventIndex(
            index_path(settings),
            Web3Reader(w3),
            deployment.registry_address,
            deployment.deploy_block,
            confirmations=confirmations,
            recreate=rebuild,
        ) as index,
        block_progress("rebuilding the index" if rebuild else "syncing the index", quiet) as tick,
    ):
        return index.rebuild(tick) if rebuild else index.sync(tick)


def _report(result: "SyncResult", as_json: bool, quiet: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    if quiet:
        return
    if result.reason is not None:
        sys.stdout.write(f"rebuilt: {result.reason}\n")
    if result.from_block > result.to_block:
        # Nothing new since the last sync: the range is empty, so say where the index stands.
        sys.stdout.write(f"up to date at block {result.to_block}\n")
        return
    blocks = (
        f"block {result.from_block}"
        if result.from_block == result.to_block
        else f"blocks {result.from_block}..{result.to_block}"
    )
    events = "1 new event" if result.events == 1 else f"{result.events} new events"
    sys.stdout.write(f"indexed {blocks}: {events}\n")


@index_app.command("sync")
def index_sync(
    confirmations: Confirmations = 0, as_json: JsonFlag = False, quiet: QuietOnSuccess = False
) -> None:
    """Read new registry events into the index (rebuilding it if the chain changed)."""
    result = _run(load_settings(), confirmations, rebuild=False, quiet=quiet or as_json)
    _report(result, as_json, quiet)


@index_app.command("rebuild")
def index_rebuild(
    confirmations: Confirmations = 0, as_json: JsonFlag = False, quiet: QuietOnSuccess = False
) -> None:
    """Drop the index (any schema version) and read every event again from the chain."""
    result = _run(load_settings(), confirmations, rebuild=True, quiet=quiet or as_json)
    _report(result, as_json, quiet)
