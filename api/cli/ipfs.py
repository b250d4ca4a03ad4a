"""``heritage cid`` and ``heritage ipfs add|cat|get|pin|unpin|pins|gc|verify|car-export|
car-import|serve``: content addressing and the IPFS node (embedded, or Kubo's RPC at
``HERITAGE_IPFS_API``).

Thin: parse, call :mod:`ledger.ipfs`, format. ``heritage cid`` loads the pure CID code only;
the node's modules and uvicorn are imported inside the commands that use them.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from api.cli.common import JsonFlag, Quiet, byte_progress, err, print_json
from ledger.errors import ExitCode, NoSuchFile, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_path
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from ledger.ipfs.backend import EmbeddedNode, KuboNode

__all__ = ["cid_command", "ipfs_app"]

ipfs_app = typer.Typer(
    help="The IPFS node: add, read, pin, collect, verify, CAR files, serve.", no_args_is_help=True
)

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


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _options(cid_version: int, raw_leaves: bool | None, hidden: bool = False) -> ImportOptions:
    return ImportOptions(cid_version=cid_version, raw_leaves=raw_leaves, hidden=hidden)


def _open_node(settings: Settings | None = None) -> "EmbeddedNode | KuboNode":
    """The IPFS node the settings name (embedded, or Kubo's RPC at HERITAGE_IPFS_API)."""
    from ledger.ipfs.backend import open_backend

    return open_backend(settings if settings is not None else load_settings())


def _embedded(node: "EmbeddedNode | KuboNode", what: str) -> "EmbeddedNode":
    from ledger.ipfs.backend import EmbeddedNode

    if not isinstance(node, EmbeddedNode):
        raise UsageError(
            f"`heritage ipfs {what}` works on the embedded node only",
            hint="unset HERITAGE_IPFS_API, or run the equivalent command on the remote node",
        )
    return node


# ---- heritage cid --------------------------------------------------------------------------


def cid_command(
    path: Annotated[Path, typer.Argument(help="A file or a directory.")],
    cid_version: CidVersion = 0,
    raw_leaves: RawLeaves = None,
    hidden: Hidden = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the CID that `ipfs add -Q --only-hash` would print, storing nothing."""
    options = _options(cid_version, raw_leaves, hidden)
    entries = import_path(path, options)
    root = entries[-1]
    if as_json:
        print_json(
            {
                "cid": str(root.cid),
                "name": root.path,
                "size": root.tsize,
                "cid_version": options.cid_version,
                "raw_leaves": options.leaves_raw,
            }
        )
        return
    sys.stdout.write(f"{root.cid}\n")


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
            with byte_progress(_tree_size(path), f"adding {path.name}", quiet or as_json) as tick:
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
        print_json(results)


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
        print_json({"path": str(written)})
    else:
        sys.stdout.write(f"saved {path} to {written}\n")


@ipfs_app.command("pin")
def ipfs_pin(
    cids: Annotated[list[str], typer.Argument(help="CIDs to pin.")],
    direct: Annotated[
        bool, typer.Option("--direct", help="Pin only the block, not its DAG.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Pin DAGs (recursively, unless --direct) so GC keeps them."""
    parsed = [Cid.parse(text) for text in cids]  # every CID checked before any is pinned
    node = _open_node()
    kind = "direct" if direct else "recursive"
    for cid in parsed:
        node.pin_add(cid, recursive=not direct)
        if not as_json:
            sys.stdout.write(f"pinned {cid} {'directly' if direct else 'recursively'}\n")
    if as_json:
        print_json([{"cid": str(cid), "pin": kind} for cid in parsed])


@ipfs_app.command("unpin")
def ipfs_unpin(
    cids: Annotated[list[str], typer.Argument(help="CIDs to unpin.")],
    direct: Annotated[bool, typer.Option("--direct", help="Remove a direct pin.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove pins; the blocks stay until the next GC."""
    parsed = [Cid.parse(text) for text in cids]  # every CID checked before any is unpinned
    node = _open_node()
    for cid in parsed:
        node.pin_rm(cid, recursive=not direct)
        if not as_json:
            sys.stdout.write(f"unpinned {cid}\n")
    if as_json:
        print_json(
            [{"cid": str(cid), "unpinned": "direct" if direct else "recursive"} for cid in parsed]
        )


@ipfs_app.command("pins")
def ipfs_pins(as_json: JsonFlag = False) -> None:
    """List pins."""
    node = _open_node()
    pins = node.pin_ls()
    if as_json:
        print_json({str(cid): kind for cid, kind in pins.items()})
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
        err.print(
            f"collecting garbage on the IPFS node at {escape(node.api)}: every block that no "
            "pin there reaches is removed, not only this project's",
            soft_wrap=True,
        )
    removed = node.gc()
    if as_json:
        print_json({"removed": [str(c) for c in removed]})
    elif not quiet:
        for cid in removed:
            sys.stdout.write(f"removed {cid}\n")
        err.print(f"{len(removed)} blocks removed")


@ipfs_app.command("verify")
def ipfs_verify(as_json: JsonFlag = False) -> None:
    """Re-hash every stored block and name exactly those that are corrupt (exit 1 if any)."""
    node = _embedded(_open_node(), "verify")
    corrupt = node.verify()
    if as_json:
        print_json({"corrupt": [{"cid": str(c.cid), "path": str(c.path)} for c in corrupt]})
    else:
        for entry in corrupt:
            sys.stdout.write(f"corrupt {entry.cid} {entry.path}\n")
        if corrupt:
            err.print(
                f"{len(corrupt)} corrupt blocks; re-import them from a good copy "
                "(e.g. `heritage ipfs car-import`)"
            )
        else:
            err.print("all blocks verified")
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
        print_json({"root": str(root), "path": str(output), "bytes": size})
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
            size = path.stat().st_size
            with byte_progress(size, f"importing {path.name}", quiet or as_json) as tick:
                result = node.dag_import(stream, pin_roots=pin, progress=tick)
        else:
            result = node.dag_import(stream, pin_roots=pin)
    if as_json:
        print_json(
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
            err.print(f"{result.block_count} blocks imported")


@ipfs_app.command("serve")
def ipfs_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 0,
) -> None:
    """Serve the node: Kubo RPC subset under /api/v0/ and a trustless gateway under /ipfs/."""
    import uvicorn

    from api.ipfs import create_ipfs_app

    settings = load_settings()
    node = _embedded(_open_node(settings), "serve")
    bind_host = host or settings.ipfs_host
    bind_port = port or settings.ipfs_port
    err.print(f"serving the IPFS node of {settings.data_dir} on http://{bind_host}:{bind_port}")
    uvicorn.run(
        create_ipfs_app(settings, node), host=bind_host, port=bind_port, log_level="warning"
    )
