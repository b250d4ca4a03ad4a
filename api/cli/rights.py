"""``heritage terms check``: validate a terms document and print its display decision.

Exit codes (this command's own, as the rights issue set them): 0 the item may be shown
publicly at that moment, 3 it may not, 4 the document is not valid terms: not a JSON object,
over 1 MiB, nested too deep, or off the schema (each problem names the field as a JSON pointer
and the rule; text mode lists every one on stdout). 2 is a usage error of the command line
(``--at`` without offset, a path that names no file).
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
from ledger.errors import ExitCode, InvalidTerms, NaiveDatetime, NoSuchFile, UsageError

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


def _read_document(terms: Path) -> object:
    """The JSON value in ``terms``; a file that is too large, not JSON, nested too deep or
    not an object is an invalid terms document (exit 4), its one problem named like a schema
    problem (pointer ``""``, rule ``maxBytes``, ``json``, ``maxDepth`` or ``type``)."""
    from ledger import strict_json
    from ledger.documents import MAX_DOCUMENT_BYTES
    from ledger.rights.model import TermsProblem

    if not terms.is_file():
        raise NoSuchFile(
            f"no such file: {terms}", hint="pass the path of a terms document (a JSON file)"
        )
    problem = None
    size = terms.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        problem = TermsProblem(
            "", "maxBytes", f"the file is {size:,} bytes; a document is at most 1 MiB"
        )
    else:
        try:
            document = strict_json.loads(terms.read_bytes())
        except ValueError as exc:
            rule = "maxDepth" if "levels deep" in str(exc) else "json"
            problem = TermsProblem("", rule, f"not JSON: {exc}" if rule == "json" else str(exc))
        else:
            if isinstance(document, dict):
                return document
            kind = {list: "an array", str: "a string", bool: "a boolean"}.get(
                type(document), "a number" if document is not None else "null"
            )
            problem = TermsProblem("", "type", f"the document is {kind}, not a JSON object")
    raise InvalidTerms(
        f"{terms} is not a valid terms document: {problem.message} [rule: {problem.rule}]",
        problems=(problem,),
        hint="a terms document is one JSON object of at most 1 MiB; the format is in "
        "docs/terms.md",
    )


def terms_check(terms: TermsFile, at: At = None, as_json: JsonFlag = False) -> None:
    """Check a terms document and say whether it allows public display (exit 0 yes, 3 no,
    4 invalid document: every problem is listed, with its field and rule)."""
    from ledger.rights import decide, parse_terms, requires_encryption

    moment = _moment(at)
    try:
        parsed = parse_terms(_read_document(terms), where=str(terms))
    except InvalidTerms as exc:
        if as_json:
            print_json(
                {
                    "file": str(terms),
                    "valid": False,
                    "problems": [p.to_json() for p in exc.problems],
                }
            )
            raise typer.Exit(EXIT_INVALID) from None
        sys.stdout.write(f"INVALID: {terms}: {len(exc.problems)} problem(s)\n")
        for problem in exc.problems:
            sys.stdout.write(
                f"  {problem.pointer or '/'}  {problem.message} [rule: {problem.rule}]\n"
            )
        raise
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
