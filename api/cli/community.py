"""``heritage community create|show|rotate``: communities of keyholders with a threshold.

Thin: parse, call :class:`ledger.registry.Registry`, format. Who signs and who pays
the gas: see :mod:`api.cli.common`.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    JsonFlag,
    PasswordFiles,
    Sender,
    SenderPasswordFile,
    Signers,
    print_json,
    registrar_session,
    signer_keys,
)
from ledger.errors import UsageError

__all__ = ["community_app"]

community_app = typer.Typer(
    help="Communities: create, show, rotate keyholders.", no_args_is_help=True
)

Keyholders = Annotated[
    list[str], typer.Option("--keyholder", "-k", help="Keyholder address (repeatable).")
]
Threshold = Annotated[int, typer.Option("--threshold", "-t", min=1, help="Signatures needed (k).")]


@community_app.command("create")
def community_create(
    name: Annotated[
        str, typer.Argument(help="The community's name (with the keyholders, it gives the id).")
    ],
    keyholders: Keyholders,
    threshold: Threshold,
    salt: Annotated[
        str | None,
        typer.Option(
            "--salt",
            help="0x and 64 hex digits: create with this salt instead of the name's. The id "
            "is derived from the salt and the keyholders either way.",
        ),
    ] = None,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="JSON object merged into the community document."),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a community of keyholders with threshold k; every keyholder signs."""
    from ledger.documents import parse_community_id, read_json_file

    explicit = parse_community_id(salt) if salt is not None else None
    if salt is not None and explicit is None:
        raise UsageError(f"--salt {salt!r} is not 0x and 64 hex digits")
    extra = read_json_file(document) if document is not None else None
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        view = registrar.communities.create(
            name,
            keyholders,
            threshold,
            signer_keys(settings, signer, password_file),
            salt=explicit,
            extra=extra,
        )
    if as_json:
        print_json(view.to_json())
        return
    sys.stdout.write(
        f"created community {name} 0x{view.id.hex()}: {view.threshold} of "
        f"{len(view.keyholders)} keyholders, document {view.document_cid}\n"
    )


@community_app.command("show")
def community_show(
    community: Annotated[str, typer.Argument(help="Community id (0x…) or name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a community: keyholders, threshold, document, rotations, items."""
    with registrar_session() as (_, registrar):
        view = registrar.communities.show(registrar.reader.resolve_community(community))
    if as_json:
        print_json(view.to_json())
        return
    sys.stdout.write(
        f"community 0x{view.id.hex()}\n"
        f"  threshold   {view.threshold} of {len(view.keyholders)}\n"
        f"  keyholders  {', '.join(view.keyholders)}\n"
        f"  document    {view.document_cid}\n"
        f"  rotations   {view.rotations}\n"
        f"  created in  block {view.created_block}\n"
        f"  items       {view.items}\n"
    )


@community_app.command("rotate")
def community_rotate(
    community: Annotated[str, typer.Argument(help="Community id (0x…) or name.")],
    keyholders: Keyholders,
    threshold: Threshold,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="JSON object merged into the new community document."),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace the keyholders and threshold; k of the current keyholders sign."""
    from ledger.documents import read_json_file

    extra = read_json_file(document) if document is not None else None
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        view = registrar.communities.rotate(
            registrar.reader.resolve_community(community),
            keyholders,
            threshold,
            signer_keys(settings, signer, password_file),
            extra=extra,
        )
    if as_json:
        print_json(view.to_json())
        return
    sys.stdout.write(
        f"rotated community 0x{view.id.hex()}: now {view.threshold} of "
        f"{len(view.keyholders)} ({', '.join(view.keyholders)})\n"
    )
