"""``heritage keys new|new-encryption|import|list|export``: keystore v3 files in
``<data dir>/keys/``, and each keyholder's encryption key pair in ``keys/encryption/``.

Thin: parse, call :mod:`ledger.keys`, format. Passphrases come from a hidden prompt (asked
twice when a new one is chosen) or ``--password-file``; a private key to import comes from a
file or a hidden prompt, never from the command line, where shell history and ``ps`` would
keep it. Nothing here prints key material or a passphrase.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import JsonFlag, print_json, read_passphrase, spinner
from ledger.errors import NotFound, UsageError
from ledger.kems import DEFAULT_KEM, KEM_HYBRID, KEM_X25519, Kem
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from ledger.keys import EncryptionKeyInfo, KeyInfo

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Keys: create, import, list and export encrypted keystore files.",
    no_args_is_help=True,
)

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
KemOption = Annotated[
    str,
    typer.Option(
        "--kem",
        help=f"Key encapsulation of the encryption key: {KEM_HYBRID} (hybrid post-quantum, "
        f"the default) or {KEM_X25519}.",
    ),
]


def _kem(text: str) -> Kem:
    if text == KEM_HYBRID:
        return KEM_HYBRID
    if text == KEM_X25519:
        return KEM_X25519
    raise UsageError(f"--kem {text!r} is not known", hint=f"use {KEM_HYBRID} or {KEM_X25519}")


def _encryption_of(settings: Settings, address: str) -> "EncryptionKeyInfo | None":
    from ledger.keys import encryption_key_info

    try:
        return encryption_key_info(settings, address)
    except NotFound:
        return None


def _report(info: "KeyInfo", verb: str, as_json: bool) -> None:
    if as_json:
        print_json(info.to_json())
        return
    label = f" ({info.label})" if info.label else ""
    sys.stdout.write(f"{verb} {info.address}{label} in {info.path}\n")


@keys_app.command("new")
def keys_new(
    label: Label = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    unsafe_light_kdf: LightKdf = False,
    kem: KemOption = DEFAULT_KEM,
    encryption: Annotated[
        bool,
        typer.Option(
            "--encryption/--no-encryption",
            help="Also create the keyholder's encryption key pair (for restricted items).",
        ),
    ] = True,
) -> None:
    """Generate a key (and an encryption key pair) stored encrypted with a new passphrase."""
    from ledger.keys import new_key

    settings = load_settings()
    chosen = _kem(kem) if encryption else None
    passphrase = read_passphrase(password_file, "Passphrase", new=True)
    with spinner("deriving the keystore key from the passphrase", quiet=as_json):
        info = new_key(
            settings, passphrase, label=label, unsafe_light_kdf=unsafe_light_kdf, encryption=chosen
        )
    enc = _encryption_of(settings, info.address) if encryption else None
    if as_json:
        print_json({**info.to_json(), **({"encryption": enc.to_json()} if enc else {})})
        return
    _report(info, "created", as_json)
    if enc is not None:
        key_id = enc.public.to_json()["key_id"]
        sys.stdout.write(f"created encryption key {key_id} ({enc.public.kem}) in {enc.path}\n")


@keys_app.command("new-encryption")
def keys_new_encryption(
    address: Annotated[str, typer.Argument(help="The keyholder's address (its key is here).")],
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    unsafe_light_kdf: LightKdf = False,
    kem: KemOption = DEFAULT_KEM,
) -> None:
    """Create the encryption key pair of a keyholder whose Ethereum key is here, sealed with
    that key's passphrase."""
    from ledger.keys import new_encryption_key

    settings = load_settings()
    chosen = _kem(kem)
    passphrase = read_passphrase(password_file, "Passphrase of the key")
    with spinner("deriving the keystore key from the passphrase", quiet=as_json):
        enc = new_encryption_key(
            settings, address, passphrase, kem=chosen, unsafe_light_kdf=unsafe_light_kdf
        )
    if as_json:
        print_json(enc.to_json())
        return
    sys.stdout.write(
        f"created encryption key {enc.public.to_json()['key_id']} ({enc.public.kem}) "
        f"for {enc.address} in {enc.path}\n"
    )


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
    from ledger.keys import import_keystore, import_private_key, parse_private_key

    settings = load_settings()
    if key_file is not None and keystore is not None:
        raise UsageError("pass --key-file or --keystore, not both")
    if keystore is not None:
        passphrase = read_passphrase(password_file, "Passphrase of the keystore")
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
    passphrase = read_passphrase(password_file, "New passphrase", new=True)
    info = import_private_key(
        settings, private_key, passphrase, label=label, unsafe_light_kdf=unsafe_light_kdf
    )
    _report(info, "imported", as_json)


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List the keys: address, label and file, and the encryption key id when there is one
    (JSON: an ``encryption`` object). Never key material."""
    from ledger.keys import list_encryption_keys, list_keys

    settings = load_settings()
    keys = list_keys(settings)
    encryption = {e.address: e for e in list_encryption_keys(settings)}
    if as_json:
        print_json(
            [
                {
                    **info.to_json(),
                    **(
                        {"encryption": encryption[info.address].to_json()}
                        if info.address in encryption
                        else {}
                    ),
                }
                for info in keys
            ]
        )
        return
    for info in keys:
        enc = encryption.get(info.address)
        shown = f"\tencryption {enc.public.to_json()['key_id']} ({enc.public.kem})" if enc else ""
        sys.stdout.write(f"{info.address}\t{info.label or ''}\t{info.path}{shown}\n")


@keys_app.command("export")
def keys_export(
    address: Annotated[str, typer.Argument(help="The key's address.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the keystore file.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Write a key's keystore file (still encrypted) to FILE, mode 0600, with its encryption
    key (still sealed) when it has one."""
    from eth_utils.address import to_checksum_address

    from ledger.keys import export_key

    written = export_key(load_settings(), address, output)
    checksum = to_checksum_address(address)  # export_key has checked it
    if as_json:
        print_json({"address": checksum, "path": str(written)})
    else:
        sys.stdout.write(f"exported {checksum} to {written}\n")
