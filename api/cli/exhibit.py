"""``heritage exhibit build|serve``: a static 3D site of what an exhibit spec may show.

Thin: read the spec, call :func:`exhibits.build.build_exhibit` (or
:func:`exhibits.serve.serve`), format. Exit statuses (docs/exit-codes.md): 0 built, 1 failed
(a leak-scan hit included: ``leak_found``), 3 no chain answers (``chain_unavailable``), 4 the
spec is invalid (``invalid_exhibit_spec``, naming each field and rule).
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from api.cli.common import JsonFlag, Quiet, err, out, print_json, stage_progress
from ledger.errors import UsageError
from ledger.settings import load_settings

if TYPE_CHECKING:
    from exhibits.build import BuildResult

__all__ = ["exhibit_app"]

exhibit_app = typer.Typer(
    help="Exhibits: build a static site of what items' terms allow, and serve it.",
    no_args_is_help=True,
)

_BUILD_EXAMPLES = """\
Examples:

  heritage exhibit build reef.toml -o site/

  heritage exhibit build reef.toml -o site/ --at 2027-01-01T00:00:00Z --report private/reef.json

  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) heritage exhibit build reef.toml -o site/ --json

The report (every item, shown or excluded, with the reasons, and what changed since the last build) is private: it goes to --report, by default beside the site (site.report.json).

Exit status: 0 built; 1 failed (a leak-scan hit included); 3 no chain answers; 4 invalid spec.
"""  # noqa: E501

_SERVE_EXAMPLES = """\
Examples:

  heritage exhibit serve site/

  heritage exhibit serve site/ --port 9000
"""


def _moment(text: str | None) -> datetime | None:
    """--at as an aware datetime; a moment without a time zone is refused."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not an ISO 8601 moment", hint="e.g. 2027-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--at {text!r} has no time zone", hint="add one: Z or +13:00")
    return moment.astimezone(UTC)


def _summary(result: "BuildResult") -> dict[str, Any]:
    report = result.report
    return {
        "out": str(result.out),
        "report": str(result.report_path),
        "spec_id": report["spec_id"],
        "built_at": report["built_at"],
        "at": report["at"],
        "counts": report["counts"],
        "shown": [s.candidate.item_id for s in result.choice.shown],
        "excluded": [
            {"id": e.candidate.item_id, "reasons": sorted({r.code for r in e.reasons})}
            for e in result.choice.excluded
        ],
        "changes": report["changes"],
        "derived": result.derived,
        "reused": result.reused,
    }


def _print_table(summary: dict[str, Any]) -> None:
    from rich.table import Table

    counts = summary["counts"]
    table = Table(title=None, show_header=True, header_style="bold")
    table.add_column("items")
    table.add_column("count", justify="right")
    table.add_row("shown", str(counts["shown"]))
    table.add_row("excluded", str(counts["excluded"]))
    changes = summary["changes"]
    if changes is not None:
        table.add_row("added since the last build", str(len(changes["added"])))
        table.add_row("removed since the last build", str(len(changes["removed"])))
    out.print(table)
    reasons: dict[str, int] = {}
    for item in summary["excluded"]:
        for code in item["reasons"]:
            reasons[code] = reasons.get(code, 0) + 1
    for code, count in sorted(reasons.items()):
        out.print(f"  excluded by {escape(code)}: {count}")
    if changes is not None:
        for word, entries in (("added", changes["added"]), ("removed", changes["removed"])):
            for entry in entries:
                why = ", ".join(str(w["code"]) for w in entry["why"])
                out.print(f"  {word}: {entry['id']} ({escape(why)})")
    out.print(f"site: {escape(summary['out'])}")
    out.print(f"report (private): {escape(summary['report'])}")


@exhibit_app.command("build", epilog=_BUILD_EXAMPLES)
def exhibit_build(
    spec: Annotated[
        Path, typer.Argument(help="The exhibit spec (TOML; docs/exhibit.md).", dir_okay=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The site's folder: new, empty, or an earlier build.",
            file_okay=False,
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="Decide the items as of this ISO 8601 moment (default: now)."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="The private build report (default: beside the site, DIR.report.json).",
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Build a static site of the items SPEC selects that their terms allow now (or --at)."""
    from exhibits.build import build_exhibit
    from exhibits.spec import load_spec

    parsed = load_spec(spec)
    moment = _moment(at)
    settings = load_settings()
    with stage_progress(quiet or as_json) as progress:
        result = build_exhibit(
            parsed, output, settings=settings, at=moment, report_path=report, progress=progress
        )
    summary = _summary(result)
    if as_json:
        print_json(summary)
        return
    if quiet:
        sys.stdout.write(f"{summary['out']}\n")
        return
    _print_table(summary)


@exhibit_app.command("serve", epilog=_SERVE_EXAMPLES)
def exhibit_serve(
    folder: Annotated[Path, typer.Argument(help="A built site's folder.", file_okay=False)],
    port: Annotated[int, typer.Option("--port", help="The port on 127.0.0.1.")] = 8090,
) -> None:
    """Serve a built site on localhost (Ctrl-C stops it)."""
    import importlib

    # Imported by name: the CLI (and its type check) does not depend on the server module.
    try:
        serve = importlib.import_module("exhibits.serve").serve
    except ModuleNotFoundError as exc:
        if exc.name != "exhibits.serve":
            raise
        raise UsageError(
            "this installation has no exhibit server (exhibits.serve)",
            hint="serve the folder with any static web server, e.g. `python -m http.server`",
        ) from None
    err.print(f"serving {escape(str(folder))} at http://127.0.0.1:{port}/", soft_wrap=True)
    serve(folder, port=port)
