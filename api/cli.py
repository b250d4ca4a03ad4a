"""The ``heritage`` command-line tool: parse, call the core, format.

Errors from the project print as one line (``error[code]: what … (what to do)``) without a
traceback. Exit statuses are :class:`ledger.errors.ExitCode` (docs/exit-codes.md): 0 success,
1 failure, 2 usage error, 3 chain unavailable; commands that report a verdict (``ipfs
verify``) exit 1 when the verdict is bad.

Starting is cheap: ``heritage --help`` and ``heritage cid`` load typer, rich and the pure CID
code, nothing more. What a command needs beyond that (the IPFS node, web3, eth-account, the
cryptography, the registry, the verifier, uvicorn) is imported inside the command, and types
used only in annotations of helpers are imported under ``TYPE_CHECKING`` and written as
strings. Typer reads the annotations of every command when the CLI starts (all of them, for
any command line), so those stay builtins, ``Path`` and ``Annotated``, and the ``api/cli*.py``
modules do without ``from __future__ import annotations``: kept as strings, each annotation
would be compiled at every start (about 30 ms of ``heritage --help`` on two cores, a tenth
of it). ``tests/api/test_cli.py`` checks that importing the CLI and printing its help
load none of the heavy packages; ``bench/cli_startup.py`` times it.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli.py).

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from api.cli_chain import chain_app
from api.cli_consent import consent_app
from api.cli_index import index_app
from api.cli_keys import keys_app
from api.cli_registry import community_app, custody_app, derivative_app, item_app, terms_app
from api.cli_rights import terms_check
from api.cli_verify import verify_command
from ledger.errors import ExitCode, HeritageError, NoSuchFile, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_path
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from ledger.ipfs.backend import EmbeddedNode, KuboNode

__all__ = ["app", "main"]

app = typer.Typer(
    name="heritage",
    help="Heritage Ledger: prove what a community holds, control who sees it, share the rest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ipfs_app = typer.Typer(
    help="The IPFS node: add, read, pin, collect, verify, CAR files, serve.", no_args_is_help=True
)
app.add_typer(ipfs_app, name="ipfs")
app.add_typer(chain_app, name="chain")
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(community_app, name="community")
app.add_typer(item_app, name="item")
app.add_typer(terms_app, name="terms")
terms_app.command("check")(terms_check)
app.add_typer(custody_app, name="custody")
app.add_typer(derivative_app, name="derivative")
app.command("verify")(verify_command)
app.add_typer(consent_app, name="consent")

_err = Console(stderr=True, highlight=False)
_out = Console(highlight=False)

CidVersion = Annotated[
    int, typer.Option("--cid-version", min=0, max=1, help="CID version (1 implies raw leaves).")
]
RawLeaves = Annotated[
    bool | None,
    typer.Option("--raw-leaves/--no-raw-leaves", help="Raw leaf blocks (default: CIDv1 only)."),
]
Hidden = Annotated[
    bool, typer.Option("--hidden", "-H", help="Include files whose names start with a dot.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only what a script needs.")]


def _settings() -> Settings:
    return load_settings()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _fail(exc: HeritageError) -> NoReturn:
    _err.print(f"[bold red]error\\[{exc.code}][/]: {escape(exc.message)}", soft_wrap=True)
    if exc.hint:
        _err.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True)
    raise SystemExit(ExitCode(exc.exit_code))


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr for long work, or nothing when quiet or not a terminal."""
    if quiet or not _err.is_terminal or total < (16 << 20):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _options(cid_version: int, raw_leaves: bool | None, hidden: bool = False) -> ImportOptions:
    return ImportOptions(cid_version=cid_version, raw_leaves=raw_leaves, hidden=hidden)


def _open_node(settings: Settings | None = None) -> "EmbeddedNode | KuboNode":
    """The IPFS node the settings name (embedded, or Kubo's RPC at HERITAGE_IPFS_API)."""
    from ledger.ipfs.backend import open_backend

    return open_backend(settings if settings is not None else _settings())


def _embedded(node: "EmbeddedNode | KuboNode", what: str) -> "EmbeddedNode":
    from ledger.ipfs.backend import EmbeddedNode

    if not isinstance(node, EmbeddedNode):
        raise UsageError(
            f"`heritage ipfs {what}` works on the embedded node only",
            hint="unset HERITAGE_IPFS_API, or run the equivalent command on the remote node",
        )
    return node


# ---- heritage cid --------------------------------------------------------------------------


@app.command("cid")
def cid_command(
    path: Annotated[Path, typer.Argument(help="A file or a directory.")],
    cid_version: CidVersion = 0,
    raw_leaves: RawLeaves = None,
    hidden: Hidden = False,
) -> None:
    """Print the CID that `ipfs add -Q --only-hash` would print, storing nothing."""
    entries = import_path(path, _options(cid_version, raw_leaves, hidden))
    sys.stdout.write(f"{entries[-1].cid}\n")


# ---- heritage ipfs ... ---------------------------------------------------------------------


@ipfs_app.command("add")
def ipfs_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to add.")],
    cid_version: CidVersion = 0,
    raw_leaves: RawLeaves = None,
    hidden: Hidden = False,
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin what was added.")] = True,
    quiet: Quiet = False,
    as_json: JsonFlag = False,
) -> None:
    """Add files or directories to the node (as `ipfs add -r`) and pin them."""
    from ledger.ipfs.backend import EmbeddedNode

    options = _options(cid_version, raw_leaves, hidden)
    node = _open_node()
    results: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise NoSuchFile(f"no such file: {path}", hint="check the path; nothing was added")
        if isinstance(node, EmbeddedNode):
            with _progress(_tree_size(path), f"adding {path.name}", quiet or as_json) as tick:
                entries = node.add_path(path, options, pin=pin, progress=tick)
        else:
            entries = node.add_path(path, options, pin=pin)
        for entry in entries:
            results.append({"name": entry.path, "cid": str(entry.cid), "size": entry.tsize})
        if not as_json:
            if quiet:
                sys.stdout.write(f"{entries[-1].cid}\n")
            else:
                for entry in entries:
                    sys.stdout.write(f"added {entry.cid} {entry.path}\n")
    if as_json:
        _print_json(results)


@ipfs_app.command("cat")
def ipfs_cat(
    path: Annotated[str, typer.Argument(help="CID or /ipfs/CID/path of a file.")],
    offset: Annotated[int, typer.Option(min=0, help="Start at this byte.")] = 0,
    length: Annotated[int | None, typer.Option(min=0, help="Stop after this many bytes.")] = None,
) -> None:
    """Write a file's bytes to standard output."""
    from ledger.ipfs.backend import EmbeddedNode
    from ledger.ipfs.files import check_file

    node = _open_node()
    if isinstance(node, EmbeddedNode):
        # Nothing is written unless the walk can be made (a DAG too deep, a missing block).
        check_file(node.store.get_block, node.resolve(path), offset, length, probe=node.store)
    out = sys.stdout.buffer
    for piece in node.cat(path, offset, length):
        out.write(piece)
    out.flush()


@ipfs_app.command("get")
def ipfs_get(
    path: Annotated[str, typer.Argument(help="CID or /ipfs/CID/path.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a file or directory to disk, refusing unsafe names and symlinks."""
    node = _open_node()
    target = output or Path(path.strip("/").split("/")[-1])
    written = node.get(path, target)
    if as_json:
        _print_json({"path": str(written)})
    else:
        sys.stdout.write(f"saved {path} to {written}\n")


@ipfs_app.command("pin")
def ipfs_pin(
    cids: Annotated[list[str], typer.Argument(help="CIDs to pin.")],
    direct: Annotated[
        bool, typer.Option("--direct", help="Pin only the block, not its DAG.")
    ] = False,
) -> None:
    """Pin DAGs (recursively, unless --direct) so GC keeps them."""
    node = _open_node()
    for text in cids:
        node.pin_add(Cid.parse(text), recursive=not direct)
        sys.stdout.write(f"pinned {text} {'directly' if direct else 'recursively'}\n")


@ipfs_app.command("unpin")
def ipfs_unpin(
    cids: Annotated[list[str], typer.Argument(help="CIDs to unpin.")],
    direct: Annotated[bool, typer.Option("--direct", help="Remove a direct pin.")] = False,
) -> None:
    """Remove pins; the blocks stay until the next GC."""
    node = _open_node()
    for text in cids:
        node.pin_rm(Cid.parse(text), recursive=not direct)
        sys.stdout.write(f"unpinned {text}\n")


@ipfs_app.command("pins")
def ipfs_pins(as_json: JsonFlag = False) -> None:
    """List pins."""
    node = _open_node()
    pins = node.pin_ls()
    if as_json:
        _print_json({str(cid): kind for cid, kind in pins.items()})
        return
    for cid, kind in pins.items():
        sys.stdout.write(f"{cid} {kind}\n")


@ipfs_app.command("gc")
def ipfs_gc(quiet: Quiet = False, as_json: JsonFlag = False) -> None:
    """Remove every block that no pin reaches (on a remote node: every unpinned block there,
    whoever added it, as `ipfs repo gc` does)."""
    from ledger.ipfs.backend import KuboNode

    node = _open_node()
    if isinstance(node, KuboNode) and not (quiet or as_json):
        _err.print(
            f"collecting garbage on the IPFS node at {escape(node.api)}: every block that no "
            "pin there reaches is removed, not only this project's",
            soft_wrap=True,
        )
    removed = node.gc()
    if as_json:
        _print_json({"removed": [str(c) for c in removed]})
    elif not quiet:
        for cid in removed:
            sys.stdout.write(f"removed {cid}\n")
        _err.print(f"{len(removed)} blocks removed")


@ipfs_app.command("verify")
def ipfs_verify(as_json: JsonFlag = False) -> None:
    """Re-hash every stored block and name exactly those that are corrupt (exit 1 if any)."""
    node = _embedded(_open_node(), "verify")
    corrupt = node.verify()
    if as_json:
        _print_json({"corrupt": [{"cid": str(c.cid), "path": str(c.path)} for c in corrupt]})
    else:
        for entry in corrupt:
            sys.stdout.write(f"corrupt {entry.cid} {entry.path}\n")
        if corrupt:
            _err.print(
                f"{len(corrupt)} corrupt blocks; re-import them from a good copy "
                "(e.g. `heritage ipfs car-import`)"
            )
        else:
            _err.print("all blocks verified")
    if corrupt:
        raise SystemExit(ExitCode.FAILURE)


@ipfs_app.command("car-export")
def ipfs_car_export(
    cid: Annotated[str, typer.Argument(help="Root of the DAG to export.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .car file to write.")],
    as_json: JsonFlag = False,
) -> None:
    """Write a DAG as a CARv1 file (for `ipfs dag import` on any node)."""
    node = _open_node()
    root = Cid.parse(cid)
    if output.exists():
        raise UsageError(f"{output} already exists", hint="choose a new output path")
    tmp = output.with_name(output.name + ".partial")
    size = 0
    try:
        with tmp.open("wb") as out:
            for piece in node.dag_export(root):
                out.write(piece)
                size += len(piece)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    if as_json:
        _print_json({"root": str(root), "path": str(output), "bytes": size})
    else:
        sys.stdout.write(f"exported {root} to {output} ({size} bytes)\n")


@ipfs_app.command("car-import")
def ipfs_car_import(
    path: Annotated[Path, typer.Argument(help="A CARv1 file.")],
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin the CAR's roots.")] = True,
    quiet: Quiet = False,
    as_json: JsonFlag = False,
) -> None:
    """Import a CARv1 file whole, checking every block, or import nothing."""
    from ledger.ipfs.backend import EmbeddedNode

    node = _open_node()
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    with path.open("rb") as stream:
        if isinstance(node, EmbeddedNode):
            with _progress(path.stat().st_size, f"importing {path.name}", quiet or as_json) as tick:
                result = node.dag_import(stream, pin_roots=pin, progress=tick)
        else:
            result = node.dag_import(stream, pin_roots=pin)
    if as_json:
        _print_json(
            {
                "roots": [str(r) for r in result.roots],
                "blocks": result.block_count,
                "pinned": [str(r) for r in result.pinned],
            }
        )
    else:
        for root in result.roots:
            state = "pinned" if root in result.pinned else "not pinned"
            sys.stdout.write(f"imported {root} ({state})\n")
        if not quiet:
            _err.print(f"{result.block_count} blocks imported")


@ipfs_app.command("serve")
def ipfs_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 0,
) -> None:
    """Serve the node: Kubo RPC subset under /api/v0/ and a trustless gateway under /ipfs/."""
    import uvicorn

    from api.ipfs import create_ipfs_app

    settings = _settings()
    node = _embedded(_open_node(settings), "serve")
    bind_host = host or settings.ipfs_host
    bind_port = port or settings.ipfs_port
    _err.print(f"serving the IPFS node of {settings.data_dir} on http://{bind_host}:{bind_port}")
    uvicorn.run(
        create_ipfs_app(settings, node), host=bind_host, port=bind_port, log_level="warning"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``heritage`` script."""
    try:
        app(args=argv, prog_name="heritage")
    except HeritageError as exc:
        _fail(exc)
    except BrokenPipeError:
        raise SystemExit(ExitCode.FAILURE) from None
    except KeyboardInterrupt:
        _err.print("interrupted")
        raise SystemExit(ExitCode.INTERRUPTED) from None
