"""``heritage verify``: is this the registered file, who holds it, under which terms?

Thin: parse, call :mod:`ledger.verify`, print the verdict (in plain words, or ``--json``
following ``ledger/schemas/verify-report.schema.json``) and exit with its status
(:class:`ledger.errors.ExitCode`, docs/exit-codes.md): 0 verified, 10 keyholders changed since
signing, 11 revoked, 12 tampered, 13 unknown, 14 signature failure; 2 a usage error, 3 the
chain is unavailable, 1 any other error.

PATH_OR_CID is a CID (or a 0x item key) when it parses as one, else a path, which must exist:
a mistyped file name is never looked up on chain as if it were a CID.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from ledger.errors import ChainUnavailable, ExitCode, HeritageError, NoSuchFile, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import CHUNK_SIZE
from ledger.registration import Registrar
from ledger.settings import load_settings
from ledger.verify import Report, read_proofs, verify_bag, verify_offline, verify_online

__all__ = ["verify_command"]

_out = Console(highlight=False)


def _print(report: Report, as_json: bool, *, chunks: int | None = None) -> None:
    """The report; ``chunks``: the chunk size a bare file was hashed with."""
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
        return
    _out.print(report.summary(), markup=False, soft_wrap=True)
    a = report.assessment
    if report.status.value == "unknown" and chunks is not None:
        _out.print(
            f"  hint: no registered item gives this file's CID with {chunks}-byte chunks, as "
            "CIDv1 or CIDv0; if it was added with another chunk size, pass --chunk-size N, "
            "or --expect CID",
            markup=False,
            soft_wrap=True,
        )
    if a is None or report.status.value == "unknown":
        return
    for step in a.custody:
        _out.print(
            f"  custody: {step.action} from 0x{step.source.hex()} to 0x{step.destination.hex()}"
            f" (block {step.event.block_number}, tx 0x{step.event.tx_hash.hex()})",
            markup=False,
            soft_wrap=True,
        )
    for problem in report.problems:
        _out.print(f"  problem: {problem}", markup=False, soft_wrap=True)


_ITEM_KEY: Final = re.compile(r"0[xX][0-9a-fA-F]{64}")


def _names_an_item(target: str) -> bool:
    """Whether ``target`` is a CID or a 0x item key (and so never a path)."""
    if _ITEM_KEY.fullmatch(target):
        return True
    try:
        Cid.parse(target)
    except (HeritageError, ValueError):
        return False
    return True


def _target(target: str) -> tuple[Path | None, str | None]:
    """(the path, None) or (None, the CID or key) that PATH_OR_CID names."""
    if not target.strip():
        raise UsageError(
            "PATH_OR_CID is empty",
            hint="pass a file, a bag folder or a CID, e.g. `heritage verify scan.ply`",
        )
    if _names_an_item(target):
        return None, target
    path = Path(target)
    if not path.exists():
        raise NoSuchFile(
            f"no such file: {target}",
            hint="check the path; a CID or a 0x item key is verified on chain as it is",
        )
    return path, None


def verify_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A CID or 0x item key (whatever parses as one), else a file or a preservation "
            "bag (folder), which must exist.",
            metavar="PATH_OR_CID",
        ),
    ],
    expect: Annotated[
        str | None, typer.Option("--expect", help="The CID the file should give.")
    ] = None,
    proofs: Annotated[
        Path | None,
        typer.Option("--proofs", help="Verify offline from this proofs.json (no chain).",
                     dir_okay=False),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            min=1,
            max=1_048_576,
            help="Hash a bare file with chunks of this many bytes (as `ipfs add "
            "--chunker=size-N`); the default is 262144.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (see the published schema).")
    ] = False,
) -> None:
    """Verify a file, a bag or a CID: registration, signatures, revocation, custody, lineage."""
    path, cid = _target(target)
    if chunk_size is not None and (proofs is not None or (path is not None and path.is_dir())):
        raise UsageError(
            "--chunk-size is for a file verified against the chain; proofs and bags record "
            "each item's settings"
        )
    if proofs is not None:
        if not proofs.exists():
            raise NoSuchFile(
                f"no such file: {proofs}", hint="pass the file `heritage item proof` wrote"
            )
        if not proofs.is_file():
            raise UsageError(f"{proofs} is not a file", hint="pass a proofs.json file")
        evidence = read_proofs(proofs.read_bytes(), str(proofs))
        if path is not None and path.is_dir():
            raise UsageError("--proofs checks a file or a CID; a bag carries its own proofs")
        report = (
            verify_offline(evidence, path=path, expect=expect)
            if path is not None
            else verify_offline(evidence, cid=cid)
        )
    elif path is not None and path.is_dir():
        if expect is not None:
            raise UsageError("a bag names its own expected CID; --expect is for a file")
        report = verify_bag(path)
    else:
        try:
            with Registrar(load_settings()) as registrar:
                report = verify_online(registrar, target, expect=expect, chunk_size=chunk_size)
        except ChainUnavailable as exc:
            # Exit 3, as every command that needs the chain; verify's hint adds the offline way.
            raise ChainUnavailable(
                exc.message, hint="start the chain, or verify offline with --proofs FILE"
            ) from None
    bare = path is not None and path.is_file() and expect is None and proofs is None
    _print(report, as_json, chunks=(chunk_size or CHUNK_SIZE) if bare else None)
    raise typer.Exit(ExitCode(report.exit_code))  # a status outside the table fails loudly
