"""``heritage item list`` and ``heritage community list``: what is registered, with names.

Thin: parse, call :class:`ledger.registry.listing.Listing` (the synced event index and the
documents on IPFS), format as a rich table or, with ``--json``, one JSON array
(docs/listing.md). Restricted, withdrawn and revoked items are listed without any of their
text; the table says why in the title column.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import JsonFlag, block_progress, err, print_json, registrar_session

if TYPE_CHECKING:
    from rich.console import Console

    from ledger.registry import Registry
    from ledger.registry.listing import ItemPage, ListedCommunity, NamedId

__all__ = ["community_list", "item_list"]

_WITHHELD = {
    "sealed": "sealed",
    "not-public": "(not public)",
    "revoked": "(revoked)",
    "withdrawn": "(withdrawn)",
    "unavailable": "(metadata not on this node)",
}


def _console() -> "Console":
    """Standard output for a table: a terminal's width; piped, wide enough that keys and CIDs
    stay whole on their line (scripts should read ``--json``)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=250)
    return console


def _sync(registrar: "Registry", quiet: bool) -> None:
    """Bring the index up to the chain's head with a progress bar (a first sync of a long
    chain reads many blocks); the listing's own sync then finds nothing new."""
    with (
        registrar.session.event_index(sync=False) as index,
        block_progress("syncing the index", quiet) as tick,
    ):
        index.sync(tick)


def _named(value: "NamedId") -> str:
    ident = "0x" + value.id.hex()
    return ident if value.name is None else f"{value.name}\n{ident}"


def _print_items(page: "ItemPage", filtered: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if page.missing_manifests:
        err.print(
            f"note: {page.missing_manifests} batch manifest(s) are not on this IPFS node, so "
            "their items are not listed (import them, e.g. from a CAR file)",
            markup=False,
            soft_wrap=True,
        )
    if not page.items:
        if page.total:
            said = f"no item past --offset {page.offset} ({page.total} match)"
        else:
            said = "no item matches" if filtered else "no item is registered"
        sys.stdout.write(said + "\n")
        return
    table = Table(show_lines=True)
    table.add_column("item", overflow="fold")
    table.add_column("community", overflow="fold")
    table.add_column("terms")
    for item in page.items:
        if item.withheld is not None:
            title = f"[dim]{_WITHHELD.get(item.withheld, item.withheld)}[/]"
        else:
            title = escape(repr(item.title) if item.title is not None else "(no title)")
            if item.file_name is not None:
                title += f"\n{escape(item.file_name)}"
        lines = [title, f"{item.kind} 0x{item.key.hex()}", f"cid {item.cid or '?'}"]
        if item.batch is not None:
            lines.append(f"batch 0x{item.batch.hex()} #{item.position}")
        if item.parent is not None:
            ai = ", AI-enhanced" if item.ai_enhanced else ""
            lines.append(f"parent 0x{item.parent.hex()}{ai}")
        community = escape(_named(item.community))
        if item.steward.id != item.community.id:
            community += "\nsteward " + escape(_named(item.steward))
        terms = [f"{item.access}, {item.status}", f"version {item.terms_version}"]
        if item.disputed:
            terms.append("disputed")
        if item.license is not None:
            terms.append(item.license)
        terms += list(item.labels)
        table.add_row("\n".join(lines), community, escape("\n".join(terms)))
    console = _console()
    console.print(table)
    last = page.offset + len(page.items)
    console.print(f"items {page.offset + 1}–{last} of {page.total}", markup=False)


def _print_communities(found: "tuple[ListedCommunity, ...]") -> None:
    from rich.markup import escape
    from rich.table import Table

    if not found:
        sys.stdout.write("no community is registered\n")
        return
    table = Table()
    table.add_column("name")
    table.add_column("id", no_wrap=True)
    table.add_column("k of n", justify="right")
    table.add_column("claims", justify="right")
    table.add_column("stewards", justify="right")
    table.add_column("created", justify="right")
    for community in found:
        table.add_row(
            escape(community.name or "(document not on this node)"),
            "0x" + community.id.hex(),
            f"{community.threshold} of {len(community.keyholders)}",
            str(community.claims),
            str(community.stewards),
            f"block {community.block}",
        )
    _console().print(table)


def item_list(
    community: Annotated[
        list[str] | None,
        typer.Option(
            "--community",
            "-c",
            help="Only claims this community (id or name) registered or stewards "
            "(repeatable: any of them).",
        ),
    ] = None,
    access: Annotated[
        list[str] | None,
        typer.Option(
            "--access",
            help="Only items whose current terms are this access level: public, community "
            "or restricted (repeatable: any of them).",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only items in this state: current, revoked or withdrawn (repeatable).",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="Only items whose terms carry this Local Contexts Label or Notice, e.g. "
            "tk:attribution (repeatable: all of them).",
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help="Only items whose shown text (titles, descriptions, subjects, file name, in "
            "any language) holds every word; never matches restricted items.",
        ),
    ] = None,
    language: Annotated[
        list[str] | None,
        typer.Option(
            "--language",
            help="Show titles in this language where the description has it, e.g. mi "
            "(repeatable: most wanted first; default: the description's first).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many items (default: all).")
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", help="Skip this many matching items first.")
    ] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List registered items (in registration order) with their community, terms and title;
    restricted, withdrawn and revoked items show no title or file name (docs/listing.md)."""
    from ledger.registry.listing import Listing, item_query

    # Checked before the chain is reached: a wrong value is a usage error (exit 2) either way.
    item_query(
        access=access or (), status=status or (), labels=label or (), search=search,
        limit=limit, offset=offset, languages=language or (),
    )  # fmt: skip
    with registrar_session() as (_, registrar):
        _sync(registrar, as_json)
        ids = [registrar.reader.resolve_community(c) for c in community or ()]
        query = item_query(
            communities=ids, access=access or (), status=status or (), labels=label or (),
            search=search, limit=limit, offset=offset, languages=language or (),
        )  # fmt: skip
        page = Listing(registrar.reader).items(query)
    if as_json:
        print_json([item.to_json() for item in page.items])
        return
    _print_items(
        page,
        filtered=bool(
            query.communities or query.access or query.status or query.labels or query.search
        ),
    )


def community_list(as_json: JsonFlag = False) -> None:
    """List every community on the registry (oldest first): name, id, keyholders, claims."""
    from ledger.registry.listing import Listing

    with registrar_session() as (_, registrar):
        _sync(registrar, as_json)
        found = Listing(registrar.reader).communities()
    if as_json:
        print_json([c.to_json() for c in found])
        return
    _print_communities(found)
