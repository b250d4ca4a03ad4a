"""``heritage terms set|revoke``: the terms records of an item, derivative or batch on chain.

Thin: parse, call :class:`ledger.registry.Registry`, format. ``heritage terms check``
(a document's display decision, offline) is :mod:`api.cli.rights`.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys

import typer

from api.cli.common import (
    ClaimOpt,
    Item,
    JsonFlag,
    PasswordFiles,
    Sender,
    SenderPasswordFile,
    Signers,
    TermsOpt,
    claimant,
    err,
    print_json,
    registrar_session,
    signer_keys,
)

__all__ = ["terms_app"]

terms_app = typer.Typer(
    help="Terms of an item or batch: set a new version, revoke.", no_args_is_help=True
)


@terms_app.command("set")
def terms_set(
    item: Item,
    terms: TermsOpt,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the next terms version of an item, derivative or batch (k of n of its steward)."""
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.terms.set(
            item,
            terms,
            signer_keys(settings, signer, password_file),
            claimant(registrar, community),
        ).to_json()
    if as_json:
        print_json(result)
        return
    sys.stdout.write(
        f"terms of {result['subject']} are now version {result['version']}: {result['terms_cid']}\n"
    )
    if "warning" in result:
        err.print(f"warning: {result['warning']}", markup=False)


@terms_app.command("revoke")
def terms_revoke(
    item: Item,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke the current terms of an item (an item of a batch: that item alone)."""
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.terms.revoke(
            item, signer_keys(settings, signer, password_file), claimant(registrar, community)
        ).to_json()
    if as_json:
        print_json(result)
        return
    sys.stdout.write(f"revoked terms version {result['version']} of {result['subject']}\n")
    if "warning" in result:
        err.print(f"warning: {result['warning']}", markup=False)
