"""Examples for every ``heritage`` command's ``--help``, and the help text made plain.

:func:`decorate` walks the command tree once when the CLI is imported (a walk over typer's
registrations, nothing compiled): it gives every command the examples of :data:`EXAMPLES` as
its epilog, and turns the reStructuredText of docstrings (````code````, ``:mod:`~a.b```) into
the plain text a terminal shows. A command without examples here gets none; a test fails on
that (tests/api/test_cli_help.py).
"""

import inspect
import re
from collections.abc import Iterator
from typing import Any, Final

import typer
from typer.models import CommandInfo

__all__ = ["EXAMPLES", "START_HERE", "command_paths", "decorate", "plain", "plain_metavars"]

#: Example command lines, by command path (the words after ``heritage``).
EXAMPLES: Final[dict[str, tuple[str, ...]]] = {
    "verify": (
        "heritage verify scan.glb",
        "heritage verify scan.glb -c 'Reef Keepers' --json",
        "heritage verify bafkrei… --expect bafkrei…",
        "heritage verify scan.glb --proofs proofs.json   # offline",
    ),
    "cid": ("heritage cid scan.glb", "heritage cid photos/ --cid-version 1"),
    "ipfs add": ("heritage ipfs add scan.glb photos/", "heritage ipfs add scan.glb --json"),
    "ipfs cat": ("heritage ipfs cat QmT78z… > hello.txt", "heritage ipfs cat CID --length 100"),
    "ipfs get": ("heritage ipfs get CID/photos -o photos",),
    "ipfs pin": ("heritage ipfs pin CID", "heritage ipfs pin CID --direct"),
    "ipfs unpin": ("heritage ipfs unpin CID",),
    "ipfs pins": ("heritage ipfs pins --json",),
    "ipfs gc": ("heritage ipfs gc",),
    "ipfs verify": ("heritage ipfs verify",),
    "ipfs car-export": ("heritage ipfs car-export CID -o scan.car",),
    "ipfs car-import": ("heritage ipfs car-import scan.car",),
    "ipfs serve": ("heritage ipfs serve", "heritage ipfs serve --port 5002"),
    "chain up": ("heritage chain up", "heritage chain up --redeploy"),
    "chain down": ("heritage chain down",),
    "chain status": ("heritage chain status --json",),
    "keys new": ("heritage keys new --label alice", "heritage keys new --password-file pw.txt"),
    "keys new-encryption": ("heritage keys new-encryption 0x7099…79C8",),
    "keys import": (
        "heritage keys import --key-file key.hex",
        "heritage keys import --keystore alice.json",
    ),
    "keys list": ("heritage keys list", "heritage keys list --json"),
    "keys export": ("heritage keys export 0x7099…79C8 -o alice.json",),
    "index sync": ("heritage index sync",),
    "index rebuild": ("heritage index rebuild",),
    "community create": (
        "heritage community create 'Reef Keepers' -k 0xA… -k 0xB… -k 0xC… -t 2",
        "heritage community create 'Reef Keepers' -k 0xA… -k 0xB… -t 2 \\\n"
        "--signer 0xA… --password-file a.txt \\\n"
        "--signer 0xB… --password-file b.txt   # keyholders' own passphrases",
    ),
    "community show": ("heritage community show 'Reef Keepers'", "heritage community show 0x…"),
    "community rotate": ("heritage community rotate 'Reef Keepers' -k 0xA… -k 0xD… -t 2",),
    "community list": ("heritage community list", "heritage community list --json"),
    "item register": (
        "heritage item register bowl.glb -c 'Reef Keepers' --terms terms.json",
        "heritage item register *.glb -c Reef --terms terms.json --batch",
        "heritage item register -c Reef --terms terms.json --catalog catalog.csv",
    ),
    "item describe": ("heritage item describe CID --description bowl.json",),
    "item show": ("heritage item show CID", "heritage item show 0x… --json"),
    "item history": ("heritage item history CID", "heritage item history CID --json"),
    "item proof": ("heritage item proof CID -o proofs.json",),
    "item export": ("heritage item export CID -o bowl-bag/",),
    "item decrypt": ("heritage item decrypt CID --key 0x7099…79C8 -o bowl.glb",),
    "item list": ("heritage item list", "heritage item list -c 'Reef Keepers' --json"),
    "terms set": ("heritage terms set CID --terms terms-v2.json",),
    "terms revoke": ("heritage terms revoke CID", "heritage terms revoke CID -c 'Reef Keepers'"),
    "terms check": (
        "heritage terms check terms.json",
        "heritage terms check terms.json --at 2027-06-01T12:00:00+10:00 --json",
    ),
    "custody transfer": ("heritage custody transfer CID --to 'Museum of the Coast'",),
    "custody repatriate": ("heritage custody repatriate CID --to 'Reef Keepers'",),
    "custody loan": ("heritage custody loan CID --to 'Museum of the Coast'",),
    "custody return": ("heritage custody return CID",),
    "derivative add": (
        "heritage derivative add CID restored.glb -c 'Reef Keepers' \\\n"
        "--terms terms.json --method method.json",
    ),
    "consent request": (
        "heritage consent request CID --terms terms.json -o request.json",
        "heritage consent request CID --revoke -o request.json",
        "heritage consent request register scan.ply -c Reef --terms t.json -o r.json",
    ),
    "consent sign": (
        "heritage consent sign request.json --key 0x7099…79C8 -o alice.sig.json",
        "heritage consent sign derive.json --key 0x3C44…93BC --deriving -o d.sig.json",
    ),
    "consent status": ("heritage consent status request.json *.sig.json",),
    "consent submit": ("heritage consent submit request.json *.sig.json",),
    "exhibit build": (
        "heritage exhibit build reef.toml -o site/",
        "heritage exhibit build reef.toml -o site/ --at 2027-01-01T00:00:00Z",
    ),
    "exhibit serve": ("heritage exhibit serve site/", "heritage exhibit serve site/ --port 8091"),
    "serve": ("heritage serve", "heritage serve --port 8001"),
    "login": (
        "heritage login --signer 0x70997970…79C8",
        "heritage login --signer 0x7099…79C8 --api https://api.example.org --json",
    ),
    "demo": ("heritage demo", "heritage demo --no-serve"),
}

#: The root's epilog: the first commands a newcomer runs, in order.
START_HERE: Final = (
    "\b\nStart here:\n"
    "  heritage chain up                      # the local chain, registry deployed\n"
    "  heritage keys new                      # a key for each keyholder\n"
    "  heritage community create NAME -k ADDR -t 1\n"
    "  heritage terms check terms.json        # may these terms be shown publicly?\n"
    "  heritage item register scan.glb -c NAME --terms terms.json\n"
    "  heritage verify scan.glb\n"
    "Every command has --help with examples; errors end with a hint."
)

_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]+?)(?:\s*<[^>]+>)?`")


def plain(text: str) -> str:
    """Help text without reStructuredText markup: ````x```` becomes ```x```, a role such as
    ``:func:`~a.b``` its last name (or its title when it has one)."""

    def role(match: re.Match[str]) -> str:
        target = match.group(1).strip()
        return target if " " in target else target.rsplit(".", 1)[-1]

    return _ROLE.sub(role, _LITERAL.sub(r"`\1`", text))


def _name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    assert info.callback is not None
    return info.callback.__name__.lower().replace("_", "-")


def command_paths(app: typer.Typer, prefix: str = "") -> Iterator[tuple[str, CommandInfo]]:
    """Every command registered under ``app``, with its path (``"item show"``)."""
    for info in app.registered_commands:
        yield f"{prefix}{_name(info)}", info
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        name = group.name or sub.info.name
        yield from command_paths(sub, f"{prefix}{name} ")


def _epilog(lines: tuple[str, ...]) -> str:
    # "\b" keeps click from re-wrapping the paragraph that follows it.
    shown = "\n".join(f"  {line}".replace("\n", "\n      ") for line in lines)
    return f"\b\nExamples:\n{shown}"


def decorate(app: typer.Typer) -> None:
    """Examples as every command's epilog, docstrings without markup; idempotent, and run
    by :func:`api.cli.main` before each command line is parsed, so commands registered
    anywhere in ``api/cli/__init__.py`` get them."""
    for path, info in command_paths(app):
        if info.callback is not None and info.help is None:
            info.help = plain(inspect.getdoc(info.callback) or "")
        if path in EXAMPLES and "Examples:" not in (info.epilog or ""):  # once only
            before = f"{plain(info.epilog)}\n\n" if info.epilog else ""
            info.epilog = before + _epilog(EXAMPLES[path])
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is not None and isinstance(sub.info.help, str):
            sub.info.help = plain(sub.info.help)


_METAVARS: Final = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIR",
    "datetime": "WHEN",
}


def plain_metavars(command: "Any", context: "Any") -> None:
    """Click's metavars (``ITEM``, ``--terms FILE``) in place of typer's ``{item}`` and
    ``<list[Path]>``, on the whole built command tree."""
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub, context)
    for param in command.params:
        if param.param_type_name == "argument":
            name = param.metavar or param.name.upper()
            shown = name if param.required else f"[{name}]"
            shown += "..." if param.nargs != 1 else ""
            # Typer shows `{item} <str>`; click's form is `ITEM`, its help says the rest.
            param.metavar = name
            param.display_type_rich = lambda ctx: None
            param.get_usage_pieces = lambda ctx, shown=shown: [shown]
            continue
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        shown = param.display_type(context).strip("<>")
        inner = shown.removeprefix("list[").removesuffix("]").lower()
        if "|" not in inner:
            param.metavar = _METAVARS.get(inner, inner.upper())
