"""``heritage terms check``: validate a terms document and print its display decision.

Exit codes (this command's own, as the rights issue set them): 0 the item may be shown
publicly at that moment, 3 it may not, 4 the document is not valid terms (each problem names
the field as a JSON pointer and the rule). 2 is a usage error (e.g. ``--at`` without offset).
The ``--json`` shape is documented in docs/terms.md.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import typer

from api.cli.common import JsonFlag, print_json
from ledger.errors import ExitCode, InvalidTerms, NaiveDatetime, UsageError

__all__ = ["EXIT_ALLOWED", "EXIT_DENIED", "EXIT_INVALID", "terms_check"]

EXIT_ALLOWED: Final[int] = ExitCode.OK
EXIT_DENIED: Final[int] = ExitCode.TERMS_DENIED
EXIT_INVALID: Final[int] = ExitCode.TERMS_INVALID

TermsFile = Annotated[
    Path, typer.Argument(help="The terms document (a JSON file).", dir_okay=False)
]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="The moment to decide for, ISO 8601 with a UTC offset (default: now).",
    ),
]


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not an ISO 8601 date-time",
            hint="e.g. --at 2027-06-01T12:00:00+10:00",
        ) from None
    if moment.utcoffset() is None:
        raise NaiveDatetime(
            f"--at {text!r} has no UTC offset, so it names no single moment",
            hint="add one, e.g. --at 2027-06-01T12:00:00+10:00 or …Z",
        )
    return moment


def terms_check(terms: TermsFile, at: At = None, as_json: JsonFlag = False) -> None:
    """Check a terms document and say whether it allows public display (exit 0 yes, 3 no,
    4 invalid document)."""
    from ledger.documents import read_json_file
    from ledger.rights import decide, parse_terms, requires_encryption

    moment = _moment(at)
    document = read_json_file(terms)
    try:
        parsed = parse_terms(document, where=str(terms))
    except InvalidTerms as exc:
        if not as_json:
            raise
        print_json(
            {
                "file": str(terms),
                "valid": False,
                "problems": [p.to_json() for p in exc.problems],
            }
        )
        raise typer.Exit(EXIT_INVALID) from None
    decision = decide(parsed, moment)
    if as_json:
        print_json(
            {
                "file": str(terms),
                "valid": True,
                "terms_cid": str(parsed.cid),
                "at": moment.isoformat(),
                "allowed": decision.allowed,
                "requires_encryption": requires_encryption(parsed),
                "reasons": [r.to_json() for r in decision.reasons],
            }
        )
    else:
        verdict = "ALLOWED" if decision.allowed else "DENIED"
        sys.stdout.write(f"{verdict}: public display of {terms} at {moment.isoformat()}\n")
        sys.stdout.write(f"  terms {parsed.cid}\n")
        for reason in decision.reasons:
            mark = "deny " if reason.denies else "allow"
            sys.stdout.write(f"  {mark}  {reason.pointer}  {reason.message}\n")
    raise typer.Exit(EXIT_ALLOWED if decision.allowed else EXIT_DENIED)
