"""``heritage custody transfer|repatriate|loan|return``: who stewards or holds an item.

Thin: parse, call :class:`ledger.registry.Registry`, format. The four commands differ in
their options and help only; they share one code path (:func:`_record`). Who signs and who
pays the gas: see :mod:`api.cli.common`. ``heritage consent request`` takes the same command
words (:data:`CUSTODY_WORDS`) for custody collected offline.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from pathlib import Path
from typing import Annotated, Final, Literal

import typer

from api.cli.common import (
    ClaimOpt,
    Item,
    JsonFlag,
    PasswordFiles,
    Sender,
    SenderPasswordFile,
    Signers,
    claimant,
    print_json,
    registrar_session,
    signer_keys,
)

__all__ = ["CUSTODY_WORDS", "CustodyWord", "custody_action", "custody_app"]

custody_app = typer.Typer(
    help="Custody: transfer or repatriate stewardship, lend an item and record its return.",
    no_args_is_help=True,
)

#: A custody action as the command line names it.
CustodyWord = Literal["transfer", "repatriate", "loan", "return"]
CUSTODY_WORDS: Final[tuple[CustodyWord, ...]] = ("transfer", "repatriate", "loan", "return")
#: What the plain-text report says was done.
_DONE: Final[dict[CustodyWord, str]] = {
    "transfer": "transferred",
    "repatriate": "repatriated",
    "loan": "lent",
    "return": "returned",
}

CustodyDocument = Annotated[
    Path | None,
    typer.Option("--document", help="JSON object merged into the custody document."),
]
Receiver = Annotated[str, typer.Option("--to", help="Receiving community id (0x…) or name.")]


def custody_action(word: str) -> int:
    """The registry's custody action that a command word of :data:`CUSTODY_WORDS` names."""
    from ledger.chain import CUSTODY_LOAN, CUSTODY_REPATRIATION, CUSTODY_RETURN, CUSTODY_TRANSFER

    return {
        "transfer": CUSTODY_TRANSFER,
        "repatriate": CUSTODY_REPATRIATION,
        "loan": CUSTODY_LOAN,
        "return": CUSTODY_RETURN,
    }[word]


def _record(
    word: CustodyWord,
    item: str,
    to: str | None,
    document: Path | None,
    signer: list[str] | None,
    password_file: list[Path] | None,
    sender: str | None,
    sender_password_file: Path | None,
    community: str | None,
    as_json: bool,
) -> None:
    """Record one custody action (``to``: the receiver; None for a return, whose borrower is
    the open loan's) and print what was done."""
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        receiver = None if to is None else registrar.reader.resolve_community(to)
        result = registrar.custody.record(
            custody_action(word),
            item,
            receiver,
            signer_keys(settings, signer, password_file),
            document=document,
            community=claimant(registrar, community),
        ).to_json()
    if as_json:
        print_json(result)
        return
    sys.stdout.write(
        f"{_DONE[word]} {result['item']} from {result['from']} to {result['to']} "
        f"(document {result['document_cid']})\n"
    )


@custody_app.command("transfer")
def custody_transfer(
    item: Item,
    to: Receiver,
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Transfer stewardship of an item to another community (k of n of both sign)."""
    _record(
        "transfer", item, to, document, signer, password_file, sender, sender_password_file,
        community, as_json,
    )


@custody_app.command("repatriate")
def custody_repatriate(
    item: Item,
    to: Receiver,
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Repatriate an item to its community of origin: stewardship moves (k of n of both sign)."""
    _record(
        "repatriate", item, to, document, signer, password_file, sender, sender_password_file,
        community, as_json,
    )


@custody_app.command("loan")
def custody_loan(
    item: Item,
    to: Annotated[
        str,
        typer.Option("--to", help="Borrower: a community id (0x…) or name, or any 0x 32-byte id."),
    ],
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Lend an item (k of n of its steward sign; stewardship does not move)."""
    _record(
        "loan", item, to, document, signer, password_file, sender, sender_password_file,
        community, as_json,
    )


@custody_app.command("return")
def custody_return(
    item: Item,
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Record the return of a lent item from its borrower (k of n of its steward sign)."""
    _record(
        "return", item, None, document, signer, password_file, sender, sender_password_file,
        community, as_json,
    )
