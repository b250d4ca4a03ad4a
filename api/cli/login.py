"""``heritage login``: a one-time link that signs a keyholder in to the API's web pages.

It signs a sign-in token (:mod:`api.http.signin`: the API's EIP-712 domain, the signer, a
random nonce, an expiry at most 12 hours ahead) with the keyholder's key from the keystore,
offline, and prints ``<api>/login#token=…``: the token rides in the fragment, which a browser
never sends, so it reaches no server log and no Referer. Opened once, it is spent.
"""

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import JsonFlag, err, out, print_json, read_passphrase, spinner
from ledger.errors import UsageError

__all__ = ["login_command"]


def login_command(
    signer: Annotated[
        str, typer.Option("--signer", help="The keyholder: an address in the keystore.")
    ],
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="Passphrase file of the key.", dir_okay=False),
    ] = None,
    api: Annotated[
        str, typer.Option("--api", help="The API's base URL, as the browser reaches it.")
    ] = "http://127.0.0.1:8000",
    valid_minutes: Annotated[
        int,
        typer.Option(
            "--valid-minutes", min=1, max=720, help="How long the link and its session last."
        ),
    ] = 60,
    chain_id: Annotated[
        int | None,
        typer.Option(
            "--chain-id", help="The API's chain (default: this data directory's deployment)."
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Print a one-time link that signs a keyholder in to the API's web pages."""
    import os
    import time

    from eth_utils.address import is_address

    from api.http.signin import sign_in_token
    from ledger.chain.deployment import deployment_path, read_deployment
    from ledger.keys import load_signer
    from ledger.settings import load_settings

    if not (signer.startswith("0x") and is_address(signer)):
        raise UsageError(
            f"--signer {signer[:60]!r} is not an address",
            hint="pass 0x and 40 hex digits (a key in `heritage keys list`)",
        )
    if not api.startswith(("http://", "https://")):
        raise UsageError(
            f"--api {api[:60]!r} is not an http(s) URL", hint="pass e.g. http://127.0.0.1:8000"
        )
    settings = load_settings()
    if chain_id is None:
        chain_id = read_deployment(deployment_path(settings)).chain_id
    passphrase = read_passphrase(password_file, f"Passphrase of {signer}")
    with spinner(f"unlocking the key of {signer}", json_output):
        account = load_signer(settings, signer, passphrase)
    expiry = int(time.time()) + 60 * valid_minutes
    nonce = os.urandom(32)
    token = sign_in_token(bytes(account.key), chain_id=chain_id, nonce=nonce, expiry=expiry)
    url = api.rstrip("/") + "/login#token=" + token
    if json_output:
        print_json({"signer": account.address, "expiry": expiry, "token": token, "url": url})
        return
    err.print(
        f"One-time sign-in link for {account.address}, valid {valid_minutes} min "
        "(open it once, in your browser; anyone holding it can sign in as you until then):",
        markup=False,
        soft_wrap=True,
    )
    out.print(url, markup=False, soft_wrap=True)
