"""``heritage demo [--no-serve]``: a sample collection registered, built and served locally.

Thin: call :func:`api.demo.build_demo`, print the table of what the exhibit shows and why
the rest is not, then serve (:func:`api.demo.start_services`) until interrupted, printing
each URL on a line of its own (``exhibit: http://…/``, ``api: http://…/``). It asks nothing,
so it runs with stdin closed.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import Quiet, err, stage_progress

if TYPE_CHECKING:
    from api.demo import DemoBuild

__all__ = ["DEMO_EPILOG", "demo_command"]

#: What the help says after the options (api/cli/examples.py adds the examples).
DEMO_EPILOG = """\
The demo's folder (default: the data directory's demo/ folder, e.g. ~/.local/share/heritage-ledger/demo) holds its own data directory (data/) and the site (site/); it is reset at each run.

A default port that something else holds is replaced by a free one, and the demo says so. Ctrl-C stops the servers and the chain. It asks nothing: it runs with stdin closed.
"""  # noqa: E501


def _say(line: str) -> None:
    err.print(line, soft_wrap=True, markup=False)


def _print_table(build: "DemoBuild") -> None:
    rows = build.rows
    width = max(len(r.name) for r in rows)
    shown = sum(r.shown for r in rows)
    lines = [f"the exhibit shows {shown} of {len(rows)} items:"]
    for row in rows:
        state = "shown" if row.shown else "excluded"
        why = "" if row.shown else " — " + ", ".join(row.reasons)
        lines.append(f"  {state:<8}  {row.name:<{width}}  {row.community}: {row.terms}{why}")
    sys.stdout.write("\n".join(lines) + "\n")


def demo_command(
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after the build; print the site's folder.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="The demo's folder: its data directory and site (reset at each run).",
            file_okay=False,
        ),
    ] = None,
    small: Annotated[
        bool, typer.Option("--small", help="One sample of each kind of terms (quicker).")
    ] = False,
    chain_port: Annotated[int, typer.Option(help="The chain's port.", min=1, max=65535)] = 8545,
    ipfs_port: Annotated[int, typer.Option(help="The IPFS node's port.", min=1, max=65535)] = 5001,
    api_port: Annotated[int, typer.Option(help="The API's port.", min=1, max=65535)] = 8000,
    exhibit_port: Annotated[
        int, typer.Option(help="The exhibit site's port.", min=1, max=65535)
    ] = 8090,
    quiet: Quiet = False,
) -> None:
    """Make a sample collection, register it on a local chain, build its exhibit and serve it."""
    from api.demo import (
        DemoOptions,
        build_demo,
        default_demo_dir,
        prepare_demo,
        serve_node,
        start_services,
    )
    from local_chain import chain_down

    options = DemoOptions(
        data_dir=data_dir if data_dir is not None else default_demo_dir(),
        small=small,
        ports={"chain": chain_port, "ipfs": ipfs_port, "api": api_port, "exhibit": exhibit_port},
    )
    say = _quiet if quiet else _say
    demo = prepare_demo(options, say=_say)  # a taken port is said even when quiet
    try:
        with serve_node(demo) as node_url:
            say(f"IPFS node: {node_url} (RPC under /api/v0/, gateway under /ipfs/)")
            with stage_progress(quiet) as progress:
                build = build_demo(demo, say=say, progress=progress)
            _print_table(build)
            if no_serve:
                sys.stdout.write(f"site: {build.site}\n")
                say(f"report (private): {build.report}")
                say(f"the chain's state is kept: HERITAGE_DATA_DIR={demo.settings.data_dir} "
                    "heritage chain up")  # fmt: skip
                return
            with start_services(build) as services:
                for name in ("exhibit", "api"):
                    if name in services.urls:
                        sys.stdout.write(f"{name}: {services.urls[name]}\n")
                sys.stdout.write(f"ipfs: {node_url}\n")
                sys.stdout.flush()
                say(f"site folder: {build.site}; Ctrl-C stops")
                _wait_for_a_stop()
    finally:
        say("stopping the local chain")
        chain_down(demo.settings)


def _quiet(_line: str) -> None:
    return None


def _wait_for_a_stop() -> None:
    """Until Ctrl-C or SIGTERM (as from `kill`): both stop the servers, then the chain."""
    import signal
    import threading

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
