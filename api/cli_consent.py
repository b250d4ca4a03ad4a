"""``heritage consent``: k-of-n consent over terms, collected offline, one file per signer.

Thin: parse, call :mod:`ledger.consent_files` and :class:`ledger.registration.Registrar`,
format. ``request`` and ``submit`` talk to the chain; ``sign`` and ``status`` need neither
the chain nor IPFS, so a keyholder can sign on a machine that is never online.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address
from rich.console import Console

from api.cli_registry import JsonFlag, Sender, SenderPasswordFile, _registrar
from ledger.consent_files import (
    ConsentSignature,
    collect,
    describe_request,
    encode_request,
    encode_signature,
    load_keystore_file,
    read_request,
    read_signature,
    sign_request,
    write_new_file,
)
from ledger.errors import UsageError
from ledger.keys import load_signer, read_passphrase_file
from ledger.settings import load_settings

__all__ = ["consent_app"]

consent_app = typer.Typer(
    help="k-of-n consent over terms, collected offline: request, sign, status, submit.",
    no_args_is_help=True,
)

_err = Console(stderr=True, highlight=False)

RequestArg = Annotated[Path, typer.Argument(help="The request file (`heritage consent request`).")]
SignatureArgs = Annotated[
    list[Path], typer.Argument(help="Signature files, one per keyholder (`heritage consent sign`).")
]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _signatures(paths: list[Path]) -> list[tuple[str, ConsentSignature]]:
    return [(str(path), read_signature(path)) for path in paths]


@consent_app.command("request")
def consent_request(
    item: Annotated[str, typer.Argument(help="A CID (v0 or v1) or a 0x item key.")],
    terms: Annotated[
        Path | None, typer.Option("--terms", help="The new terms document (a JSON file).")
    ] = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Ask to revoke the current terms instead.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the request (default: stdout)."),
    ] = None,
    valid_hours: Annotated[
        int,
        typer.Option(
            "--valid-hours", min=1, max=24 * 366, help="Hours the keyholders have to sign."
        ),
    ] = 7 * 24,
) -> None:
    """Write a request for keyholders to sign offline: SetTerms (next version) or RevokeTerms."""
    if (terms is None) == (not revoke):
        raise UsageError(
            "say what to ask for: --terms TERMS.json (new terms) or --revoke",
            hint="pass exactly one of the two",
        )
    with _registrar() as (_, registrar):
        request = registrar.consent_request(item, terms, valid_for=valid_hours * 3600)
    data = encode_request(request)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_new_file(output, data)
    _err.print(
        f"{request.action} request for {request.item} (terms version {request.version}): "
        f"{request.threshold} of {len(request.keyholders)} keyholders must sign before "
        f"{request.deadline} (unix time); digest 0x{request.digest.hex()}",
        markup=False,
        soft_wrap=True,
    )


def _signer(key: str, password_file: Path | None) -> LocalAccount:
    """The key to sign with: an address in the data directory's keystore, or a keystore file."""
    if password_file is not None:
        passphrase = read_passphrase_file(password_file)
    else:
        passphrase = typer.prompt(
            f"Passphrase of {key}", hide_input=True, err=True, show_default=False
        )
    if key.startswith("0x") and is_address(key):
        return load_signer(load_settings(), key, passphrase)
    path = Path(key)
    if not path.is_file():
        raise UsageError(
            f"--key {key} is neither an address nor a keystore file",
            hint="pass 0x and 40 hex digits (a key in `heritage keys list`) or a keystore path",
        )
    return load_keystore_file(path, passphrase)


@consent_app.command("sign")
def consent_sign(
    request_file: RequestArg,
    key: Annotated[
        str, typer.Option("--key", help="Signer: an address in the keystore, or a keystore file.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The signature file to write.")],
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="Passphrase file of the key.", dir_okay=False),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Sign without asking (after showing it).")
    ] = False,
) -> None:
    """Show what a request asks, then sign it with one keyholder's key (offline)."""
    request = read_request(request_file)
    _err.print("You are asked to sign:", markup=False)
    for label, value in describe_request(request):
        _err.print(f"  {label:<14}{value}", markup=False, soft_wrap=True)
    if not yes and not typer.confirm("Sign this?", default=False, err=True):
        raise UsageError("not signed", hint="nothing was written")
    account = _signer(key, password_file)
    signature = sign_request(request, account)
    write_new_file(output, encode_signature(signature))
    _err.print(f"signed by {signature.signer}: {output}", markup=False, soft_wrap=True)


@consent_app.command("status")
def consent_status(
    request_file: RequestArg,
    signature_files: Annotated[
        list[Path] | None,
        typer.Argument(help="Signature files, one per keyholder (`heritage consent sign`)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Which keyholders have signed a request, which are missing, how many more are needed."""
    request = read_request(request_file)
    status = collect(request, _signatures(signature_files or []), now=int(time.time()))
    if as_json:
        _print_json(status.to_json())
        return
    out = sys.stdout
    out.write(
        f"{request.action} of {request.item}, terms version {request.version}: "
        f"{len(status.signed)} of {request.threshold} needed signatures\n"
    )
    for address, _ in status.signed:
        out.write(f"  signed   {address}\n")
    for address in status.missing:
        out.write(f"  missing  {address}\n")
    if status.complete:
        out.write("ready: submit it with `heritage consent submit`\n")
    else:
        out.write(f"{status.needed} more signature(s) needed\n")


@consent_app.command("submit")
def consent_submit(
    request_file: RequestArg,
    signature_files: SignatureArgs,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a request with k signatures, after re-checking the chain (nothing sent otherwise)."""
    request = read_request(request_file)
    signatures = _signatures(signature_files)
    with _registrar(sender, sender_password_file, sends=True) as (_, registrar):
        result = registrar.submit_consent(request, signatures)
    if "warning" in result:  # plaintext withdrawn here, but earlier copies cannot be recalled
        _err.print(f"warning: {result['warning']}", markup=False, soft_wrap=True)
    if as_json:
        _print_json(result)
        return
    if request.action == "SetTerms":
        sys.stdout.write(
            f"terms of {result['subject']} are now version {result['version']}: "
            f"{result['terms_cid']}\n"
        )
    else:
        sys.stdout.write(f"revoked terms version {result['version']} of {result['subject']}\n")
