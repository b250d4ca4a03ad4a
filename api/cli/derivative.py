"""``heritage derivative add``: restorations, reconstructions and AI-enhanced versions of an
item, registered with the consent of the parent's steward.

Thin: parse, call :class:`ledger.registry.Registry`, format.
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
    TermsOpt,
    claimant,
    print_json,
    registrar_session,
    signer_keys,
)

__all__ = ["derivative_app"]

derivative_app = typer.Typer(
    help="Derivatives: restorations, reconstructions, AI-enhanced versions.", no_args_is_help=True
)


@derivative_app.command("add")
def derivative_add(
    parent: Annotated[str, typer.Argument(help="The parent: a CID or a 0x claim key.")],
    path: Annotated[Path, typer.Argument(help="The derivative's file.")],
    community: Annotated[
        str, typer.Option("--community", "-c", help="The deriving community (id or name).")
    ],
    terms: TermsOpt,
    method: Annotated[
        Path,
        typer.Option(
            "--method", help="How it was made: a method document (docs/derivatives.md)."
        ),
    ],
    ai_enhanced: Annotated[
        bool,
        typer.Option(
            "--ai-enhanced",
            help="Made or enhanced with generative AI; refused unless the parent's terms "
            "consent to AI enhancement.",
        ),
    ] = False,
    parent_community: Annotated[
        str | None,
        typer.Option(
            "--parent-community",
            help="Whose claim PARENT names, when several communities claim its content.",
        ),
    ] = None,
    parent_signer: Annotated[
        list[str] | None,
        typer.Option(
            "--parent-signer",
            help="A keyholder of the parent's steward who consents (repeatable); needed when "
            "another community holds the parent, never taken from the keystore unasked.",
        ),
    ] = None,
    parent_password_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--parent-password-file",
            help="Passphrase file: one for every --parent-signer, or one per signer in order.",
            dir_okay=False,
        ),
    ] = None,
    description: Annotated[
        Path | None,
        typer.Option(
            "--description",
            help="The derivative's description document (a JSON file, docs/description.md), "
            "bound into its metadata as `item register --description` binds an item's.",
            dir_okay=False,
        ),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a derivative (restoration, 3D reconstruction, AI-enhanced) of an item, with
    the consent of k keyholders of the parent's steward."""
    from api.cli.item import read_description_file

    # Read before anything else: an invalid description is refused with nothing added or sent.
    described = None if description is None else read_description_file(description)
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.derivatives.add(
            parent,
            path,
            registrar.reader.resolve_community(community),
            terms,
            method,
            signer_keys(settings, signer, password_file),
            ai_enhanced=ai_enhanced,
            parent_community=claimant(registrar, parent_community),
            parent_keys=None
            if not parent_signer
            else signer_keys(settings, parent_signer, parent_password_file),
            description=described,
        ).to_json()
    if as_json:
        print_json(result)
        return
    sys.stdout.write(
        f"registered derivative {result['cid']} {result['item']} of {result['parent']}"
        f"{' (AI-enhanced)' if ai_enhanced else ''}\n"
    )
