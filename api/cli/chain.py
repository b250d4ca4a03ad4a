"""``heritage chain up|down|status``: the chain the project runs on.

Thin: parse, call :mod:`local_chain`, format. Errors are ``HeritageError``s that ``api.cli``
prints without a traceback; a chain that does not answer exits 3.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import JsonFlag, err, print_json
from ledger.errors import NotFound
from ledger.settings import load_settings

if TYPE_CHECKING:
    from contracts import Artifact

__all__ = ["chain_app"]

chain_app = typer.Typer(
    help="The chain: start, stop and inspect the local anvil node and the registry on it.",
    no_args_is_help=True,
)


def _registry_artifact() -> "Artifact | None":
    from contracts import load_artifact
    from ledger.chain import REGISTRY_CONTRACT

    try:
        return load_artifact(REGISTRY_CONTRACT)
    except NotFound:
        return None


@chain_app.command("up")
def up(
    redeploy: Annotated[
        bool, typer.Option("--redeploy", help="Deploy the registry again even if it is there.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start the local anvil (if not running) and deploy the registry once; harmless twice."""
    from local_chain import chain_up

    result = chain_up(load_settings(), _registry_artifact(), redeploy=redeploy)
    if as_json:
        print_json(result.to_json())
        return
    if result.pid is None:
        sys.stdout.write(f"using {result.rpc_url} (chain id {result.chain_id})\n")
    else:
        verb = "started" if result.started else "already running"
        sys.stdout.write(
            f"anvil {verb}: pid {result.pid}, {result.rpc_url}, chain id {result.chain_id}\n"
        )
    deployment = result.deployment
    if deployment is not None:
        verb = "deployed" if result.deployed else "verified"
        sys.stdout.write(
            f"{deployment.contract} {verb} at {deployment.registry_address} "
            f"(block {deployment.deploy_block}, code hash {deployment.code_hash})\n"
        )
    for note in result.notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)


@chain_app.command("down")
def down(as_json: JsonFlag = False) -> None:
    """Stop the local anvil cleanly (SIGTERM, then wait for its state to be written)."""
    from local_chain import chain_down

    result = chain_down(load_settings())
    if as_json:
        print_json(
            {
                "stopped_pid": result.stopped_pid,
                "state_file": str(result.state_file),
                "notes": list(result.notes),
            }
        )
        return
    if result.stopped_pid is None:
        sys.stdout.write("anvil was not running\n")
    else:
        sys.stdout.write(
            f"stopped anvil (pid {result.stopped_pid}); state in {result.state_file}\n"
        )
    for note in result.notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)


@chain_app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """Show the chain: RPC URL, chain id, pid, registry, latest block (exit 3 if down)."""
    from local_chain import chain_status

    result = chain_status(load_settings())
    if as_json:
        print_json(result.to_json())
        return
    pid = "not started by this data directory" if result.pid is None else f"pid {result.pid}"
    sys.stdout.write(
        f"chain {result.chain_id} at {result.rpc_url} ({pid}), block {result.block}\n"
    )
    if result.registry_address is not None:
        sys.stdout.write(f"registry at {result.registry_address}\n")
    elif result.registry_problem is not None:
        sys.stdout.write(f"no usable registry: {result.registry_problem}\n")
    else:
        sys.stdout.write("no registry deployed (run `heritage chain up`)\n")
