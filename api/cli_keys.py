"""``heritage keys new|import|list|export``: keystore v3 files in ``<data dir>/keys/``.

Thin: parse, call :mod:`ledger.keys`, format. Passphrases come from a hidden prompt (asked
twice when a new one is chosen) or ``--password-file``; a private key to import comes from a
file or a hidden prompt, never from the command line, where shell history and ``ps`` would
keep it. Nothing here prints key material or a passphrase.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils.address import to_checksum_address

from ledger.errors import UsageError
from ledger.keys import (
    KeyInfo,
    export_key,
    import_keystore,
    import_private_key,
    list_keys,
    new_key,
    parse_private_key,
    read_passphrase_file,
)
from ledger.settings import load_settings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Keys: create, import, list and export encrypted keystore files.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
Label = Annotated[
    str | None, typer.Option("--label", help="A name for the key, stored in its file.")
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the passphrase from this file (one trailing newline is ignored).",
        dir_okay=False,
    ),
]
# Tests create many keys; real keys always get eth-account's default scrypt parameters.
LightKdf = Annotated[bool, typer.Option("--unsafe-light-kdf", hidden=True)]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _passphrase(password_file: Path | None, *, new: bool, prompt: str = "Passphrase") -> str:
    if password_file is not None:
        return read_passphrase_file(password_file)
    value: str = typer.prompt(
        prompt, hide_input=True, confirmation_prompt=new, err=True, show_default=False
    )
    return value


def _report(info: KeyInfo, verb: str, as_json: bool) -> None:
    if as_json:
        _print_json(info.to_json())
        return
    label = f" ({info.label})" if info.label else ""
    sys.stdout.write(f"{verb} {info.address}{label} in {info.path}\n")


@keys_app.command("new")
def keys_new(
    label: Label = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    unsafe_light_kdf: LightKdf = False,
) -> None:
    """Generate a key and store it encrypted with a new passphrase."""
    settings = load_settings()
    passphrase = _passphrase(password_file, new=True)
    info = new_key(settings, passphrase, label=label, unsafe_light_kdf=unsafe_light_kdf)
    _report(info, "created", as_json)


@keys_app.command("import")
def keys_import(
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="A file holding one hex private key.", dir_okay=False, exists=True
        ),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option(
            "--keystore",
            help="An existing keystore v3 JSON file (stored as it is, still encrypted).",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    label: Label = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    unsafe_light_kdf: LightKdf = False,
) -> None:
    """Import a hex private key (from --key-file or a hidden prompt) or a keystore file.

    A private key is never accepted as a command-line argument.
    """
    settings = load_settings()
    if key_file is not None and keystore is not None:
        raise UsageError("pass --key-file or --keystore, not both")
    if keystore is not None:
        passphrase = _passphrase(password_file, new=False, prompt="Passphrase of the keystore")
        info = import_keystore(
            settings, keystore.read_bytes(), passphrase, label=label, where=str(keystore)
        )
        _report(info, "imported", as_json)
        return
    if key_file is not None:
        private_key = parse_private_key(key_file.read_bytes())
    else:
        entered: str = typer.prompt("Private key (hex)", hide_input=True, err=True)
        private_key = parse_private_key(entered)
    passphrase = _passphrase(password_file, new=True, prompt="New passphrase")
    info = import_private_key(
        settings, private_key, passphrase, label=label, unsafe_light_kdf=unsafe_light_kdf
    )
    _report(info, "imported", as_json)


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List the keys: address, label and file. Never key material."""
    keys = list_keys(load_settings())
    if as_json:
        _print_json([info.to_json() for info in keys])
        return
    for info in keys:
        sys.stdout.write(f"{info.address}\t{info.label or ''}\t{info.path}\n")


@keys_app.command("export")
def keys_export(
    address: Annotated[str, typer.Argument(help="The key's address.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the keystore file.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Write a key's keystore file (still encrypted) to FILE, mode 0600."""
    written = export_key(load_settings(), address, output)
    checksum = to_checksum_address(address)  # export_key has checked it
    if as_json:
        _print_json({"address": checksum, "path": str(written)})
    else:
        sys.stdout.write(f"exported {checksum} to {written}\n")
