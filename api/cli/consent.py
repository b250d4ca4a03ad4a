"""``heritage consent``: k-of-n consent collected offline, one file per signer: terms (set,
revoke), keyholder rotations, custody records (transfer, repatriation, loan, return),
derivatives and corrected descriptions.

Thin: parse, call :mod:`ledger.consent` and :class:`ledger.registry.Registry`,
format. ``request`` and ``submit`` talk to the chain; ``sign`` and ``status`` need neither
the chain nor IPFS, so a keyholder can sign on a machine that is never online.

``status`` exits 0 when the request has every signature it needs, and
:data:`EXIT_INCOMPLETE` (5) when some are missing, so scripts can wait for it; the CLI's other
statuses keep their meaning (1 other error, 2 usage or an unreadable file, 3 chain down).
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from api.cli.common import (
    JsonFlag,
    PasswordFiles,
    Sender,
    SenderPasswordFile,
    Signers,
    claimant,
    err,
    print_json,
    read_passphrase,
    registrar_session,
    signer_keys,
    spinner,
)
from api.cli.custody import CUSTODY_WORDS, custody_action
from api.cli.item import read_description_file
from ledger.errors import ExitCode, UsageError
from ledger.settings import load_settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress

    from ledger.consent import ConsentRequest, ConsentSignature, ConsentStatus
    from ledger.registry import SignerKeys

__all__ = ["EXIT_INCOMPLETE", "consent_app"]

#: `heritage consent status`: the request is valid but some signatures are still missing.
EXIT_INCOMPLETE: Final[int] = ExitCode.CONSENT_PENDING  # 5, as `consent submit` then exits

consent_app = typer.Typer(
    help="k-of-n consent collected offline (terms, keyholder rotation, custody, derivatives, "
    "descriptions): request, "
    "sign, status, submit.",
    no_args_is_help=True,
)

#: ``heritage consent request ACTION TARGET``: the action words (the custody ones as
#: ``heritage custody`` names them).
_ACTION_WORDS: Final = ("rotate", *CUSTODY_WORDS)

RequestArg = Annotated[Path, typer.Argument(help="The request file (`heritage consent request`).")]
SignatureArgs = Annotated[
    list[Path], typer.Argument(help="Signature files, one per keyholder (`heritage consent sign`).")
]


def _signatures(paths: list[Path]) -> "list[tuple[str, ConsentSignature]]":
    from ledger.consent import read_signature

    return [(str(path), read_signature(path)) for path in paths]


def _opener_keys(openers: list[str] | None, password_file: Path | None) -> "SignerKeys":
    """Whose encryption key re-wraps sealed items, and its passphrase (asked for only when an
    encrypted item needs it)."""
    from ledger.registry import SignerKeys

    cache: dict[str, str] = {}

    def passphrase(address: "ChecksumAddress") -> str:
        if address not in cache:
            cache[address] = read_passphrase(
                password_file, f"Passphrase of the encryption key of {address}"
            )
        return cache[address]

    return SignerKeys(load_settings(), passphrase, tuple(openers) if openers else None)


def _utc(seconds: int) -> str:
    """A deadline in unix seconds as ISO 8601 in UTC, to the second: 2027-06-01T02:00:00Z."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(request: "ConsentRequest") -> str:
    sides = " and ".join(
        f"{c.threshold} of {len(c.keyholders)} keyholders"
        + ("" if role == "keyholders" else f" of the {role}")
        for role, c in request.parties()
    )
    if request.action in ("SetTerms", "RevokeTerms"):
        about = f"terms version {request.version}"
    elif request.action == "SetDescription":
        about = f"description version {request.version}"
    elif request.action == "ConsentDerivative":
        about = f"a derivative by community 0x{bytes(request.typed.message['community']).hex()}"
    elif request.action == "RegisterItem":
        encrypted = (request.registration or {}).get("encrypted")
        about = "a new item" + (", encrypted" if encrypted else "")
    else:
        about = f"nonce {request.version}"
    return (
        f"{request.action} request for {request.item} ({about}): {sides} must sign before "
        f"{_utc(request.deadline)}; digest 0x{request.digest.hex()}"
    )


@consent_app.command("request")
def consent_request(
    target: Annotated[
        list[str],
        typer.Argument(
            metavar="[ACTION] ITEM_OR_COMMUNITY",
            help="ITEM (a CID or 0x item key) with --terms or --revoke; or an ACTION and its "
            "target: rotate COMMUNITY, transfer|repatriate|loan ITEM --to ..., return ITEM, "
            "describe ITEM --description D.json, register PATH -c C --terms T.json.",
            show_default=False,
        ),
    ],
    terms: Annotated[
        Path | None, typer.Option("--terms", help="The new terms document (a JSON file).")
    ] = None,
    description: Annotated[
        Path | None,
        typer.Option(
            "--description",
            help="describe: the corrected description document (a JSON file); derivative: "
            "the derivative's description, bound into its metadata; register: the item's "
            "description.",
        ),
    ] = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Ask to revoke the current terms instead.")
    ] = False,
    keyholders: Annotated[
        list[str] | None,
        typer.Option("--keyholder", "-k", help="rotate: a keyholder after it (repeatable)."),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option("--threshold", "-t", min=1, help="rotate: signatures needed after it (k)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="transfer, repatriate: the receiving community (0x id or name); loan: the "
            "borrower (a community, or any 0x 32-byte id).",
        ),
    ] = None,
    document: Annotated[
        Path | None,
        typer.Option(
            "--document", help="rotate, custody: JSON object merged into the signed document."
        ),
    ] = None,
    opener: Annotated[
        list[str] | None,
        typer.Option(
            "--opener",
            help="rotate, transfer, repatriate: a current keyholder whose encryption key here "
            "re-wraps encrypted items (repeatable; default: any with one here); describe: "
            "the keyholder whose encryption key seals an encrypted item's correction.",
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="Passphrase file of the --opener's encryption key.",
            dir_okay=False,
        ),
    ] = None,
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
    community: Annotated[
        str | None,
        typer.Option(
            "--community",
            "-c",
            help="terms, custody: whose claim ITEM names, when several communities claim it; "
            "derivative: the deriving community.",
        ),
    ] = None,
    method: Annotated[
        Path | None,
        typer.Option("--method", help="derivative: how it was made (a method document)."),
    ] = None,
    ai_enhanced: Annotated[
        bool,
        typer.Option(
            "--ai-enhanced",
            help="derivative: made or enhanced with generative AI (the parent's terms must "
            "consent).",
        ),
    ] = False,
    parent_community: Annotated[
        str | None,
        typer.Option(
            "--parent-community",
            help="derivative: whose claim PARENT names, when several communities claim it.",
        ),
    ] = None,
) -> None:
    """Write a request for keyholders to sign offline: SetTerms (next version) or RevokeTerms
    of ITEM; `rotate COMMUNITY -k ... -t K` (the new community document, and encrypted items
    re-wrapped for the new keyholders, are published now); `transfer|repatriate ITEM --to C`
    (k of both communities sign; encrypted content re-wrapped for the receiver now);
    `loan ITEM --to B`; `return ITEM`; `derivative PARENT PATH -c C --terms T --method M
    [--description D.json]` (k of the parent's steward consent to C's derivative, its
    description bound into its metadata; the file and documents are added
    and pinned now, and `consent submit` registers it with k of C signing there);
    `describe ITEM --description D.json` (the next description version; the document is
    checked, added and pinned now; an item of a batch by its leaf; an encrypted item's
    correction sealed now with `--opener ADDR --password-file F`, and opened by each signer
    with their own key); `register PATH -c C --terms T [--description D]` (a new item of C:
    the file, encrypted first when the terms require it, and its documents are added and
    pinned now; `consent submit` registers it)."""
    from ledger.documents import read_json_file

    valid_for = valid_hours * 3600
    if target and target[0] == "register":
        given = {
            "--keyholder": keyholders, "--threshold": threshold, "--to": to,
            "--document": document, "--opener": opener, "--method": method,
            "--parent-community": parent_community, "--revoke": revoke or None,
            "--ai-enhanced": ai_enhanced or None,
        }  # fmt: skip
        stray = [name for name, value in given.items() if value is not None]
        if stray:
            raise UsageError(f"{', '.join(stray)} do not go with register")
        _register_request(target, community, terms, description, valid_for, output)
        return
    if target and target[0] == "describe":
        if len(target) != 2 or description is None:
            raise UsageError(
                "a description's correction names the item and the new description",
                hint="`heritage consent request describe ITEM --description D.json -o "
                "request.json`",
            )
        stray = [
            name
            for name, value in (
                ("--terms", terms), ("--keyholder", keyholders), ("--threshold", threshold),
                ("--to", to), ("--document", document),
                ("--method", method), ("--parent-community", parent_community),
            )
            if value is not None
        ] + (["--revoke"] if revoke else []) + (["--ai-enhanced"] if ai_enhanced else [])
        if stray:
            raise UsageError(f"{', '.join(stray)} do not go with describe")
        read_description_file(description)  # every problem listed, exit 4, before any work
        with registrar_session() as (_, registrar):
            request = registrar.descriptions.request(
                target[1],
                description,
                valid_for=valid_for,
                community=claimant(registrar, community),
                keys=_opener_keys(opener, password_file) if opener else None,
            )
        _write_request(request, output)
        return
    if target and target[0] == "derivative":
        if len(target) != 3:
            raise UsageError(
                "a derivative's consent names the parent and the derivative's file",
                hint="`heritage consent request derivative PARENT PATH -c COMMUNITY --terms "
                "T.json --method M.json -o request.json`",
            )
        if community is None or terms is None or method is None:
            raise UsageError(
                "a derivative's consent needs -c COMMUNITY (the deriving one), --terms and "
                "--method"
            )
        # An invalid description: every problem listed, exit 4, before any work.
        described = None if description is None else read_description_file(description)
        with registrar_session() as (_, registrar):
            request = registrar.derivatives.request(
                target[1],
                Path(target[2]),
                registrar.reader.resolve_community(community),
                terms,
                method,
                ai_enhanced=ai_enhanced,
                parent_community=claimant(registrar, parent_community),
                valid_for=valid_for,
                description=described,
            )
        _write_request(request, output)
        return
    if description is not None:
        raise UsageError("--description goes with `describe`, `derivative` and `register`")
    if method is not None or ai_enhanced or parent_community is not None:
        raise UsageError("--method, --ai-enhanced and --parent-community go with `derivative`")
    if len(target) == 1 and target[0] not in _ACTION_WORDS:
        if (terms is None) == (not revoke):
            raise UsageError(
                "say what to ask for: --terms TERMS.json (new terms) or --revoke",
                hint="pass exactly one of the two",
            )
        stray = [
            name
            for name, value in (
                ("--keyholder", keyholders), ("--threshold", threshold), ("--to", to),
                ("--document", document), ("--opener", opener),
            )
            if value is not None
        ]
        if stray:
            raise UsageError(
                f"{', '.join(stray)} belong to the rotate and custody requests, not to terms",
                hint="`heritage consent request ITEM --terms T.json | --revoke`",
            )
        with registrar_session() as (_, registrar):
            request = registrar.consent.terms_request(
                target[0],
                terms,
                valid_for=valid_for,
                community=claimant(registrar, community),
            )
    else:
        if len(target) != 2 or target[0] not in _ACTION_WORDS:
            raise UsageError(
                f"{' '.join(target)!r} is not ITEM, nor ACTION and its target",
                hint=f"ACTION is one of {', '.join(_ACTION_WORDS)}, e.g. `heritage consent "
                "request rotate COMMUNITY -k ADDR -k ADDR -t 2 -o request.json`",
            )
        action, subject = target
        if terms is not None or revoke:
            raise UsageError(f"--terms and --revoke do not go with {action}")
        keys = _opener_keys(opener, password_file)
        with registrar_session() as (_, registrar):
            if action == "rotate":
                if not keyholders or threshold is None:
                    raise UsageError(
                        "a rotation names the keyholders after it and their threshold",
                        hint="pass --keyholder ADDR (repeatable) and --threshold K",
                    )
                if to is not None:
                    raise UsageError("--to does not go with rotate")
                request = registrar.communities.rotation_request(
                    registrar.reader.resolve_community(subject),
                    keyholders,
                    threshold,
                    keys,
                    extra=read_json_file(document) if document is not None else None,
                    valid_for=valid_for,
                )
            else:
                if keyholders or threshold is not None:
                    raise UsageError(f"--keyholder and --threshold do not go with {action}")
                request = registrar.custody.request(
                    subject,
                    custody_action(action),
                    None if to is None else registrar.reader.resolve_community(to),
                    keys,
                    document=document,
                    valid_for=valid_for,
                    community=claimant(registrar, community),
                )
    _write_request(request, output)


def _register_request(
    target: list[str],
    community: str | None,
    terms: Path | None,
    description: Path | None,
    valid_for: int,
    output: Path | None,
) -> None:
    """``consent request register PATH -c C --terms T [--description D]``."""
    if len(target) != 2 or community is None or terms is None:
        raise UsageError(
            "a registration names the file, the community and its terms",
            hint="`heritage consent request register PATH -c COMMUNITY --terms T.json "
            "[--description D.json] -o request.json`",
        )
    # every problem of the description listed (exit 4) before any work
    parsed = read_description_file(description) if description is not None else None
    with registrar_session() as (_, registrar):
        request = registrar.registrations.request(
            Path(target[1]),
            registrar.reader.resolve_community(community),
            terms,
            description=parsed,
            valid_for=valid_for,
        )
    _write_request(request, output)


def _write_request(request: "ConsentRequest", output: Path | None) -> None:
    from ledger.consent import encode_request, write_new_file

    data = encode_request(request)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_new_file(output, data)
    err.print(_summary(request), markup=False, soft_wrap=True)


def _opened_description(
    request: "ConsentRequest", key: str, passphrase: str
) -> "dict[str, Any]":
    """A sealed SetDescription's text, opened with the signer's own encryption key (the
    request holds only the sealed bytes and the item's envelope): what they are asked to
    sign, shown before they sign it. Refused when their key cannot open it."""
    from eth_utils.address import is_address

    from ledger import crypto
    from ledger.consent import sealed_description_parts
    from ledger.keys import load_encryption_key, load_encryption_key_file
    from ledger.registry.descriptions import unseal_description

    assert request.document is not None
    sealed, envelope, item = sealed_description_parts(request.document, "the request")
    with spinner(f"opening the sealed description with the encryption key of {key}"):
        if key.startswith("0x") and is_address(key):
            pair = load_encryption_key(load_settings(), key, passphrase)
        else:  # a key file of `heritage keys export`, which holds the encryption key too
            pair = load_encryption_key_file(Path(key), passphrase)
        data_key = crypto.unwrap(
            crypto.Envelope.from_document(envelope, "the request's envelope"), pair, item
        )
        return unseal_description(sealed, data_key, "the sealed description").to_json()


def _signer(key: str, password_file: Path | None, passphrase: str | None = None) -> "LocalAccount":
    """The key to sign with: an address in the data directory's keystore, or a keystore file."""
    from eth_utils.address import is_address

    from ledger.keys import load_keystore_file, load_signer

    if passphrase is None:
        passphrase = read_passphrase(password_file, f"Passphrase of {key}")
    if key.startswith("0x") and is_address(key):
        with spinner(f"unlocking the key of {key}"):
            return load_signer(load_settings(), key, passphrase)
    path = Path(key)
    if not path.is_file():
        raise UsageError(
            f"--key {key} is neither an address nor a keystore file",
            hint="pass 0x and 40 hex digits (a key in `heritage keys list`) or a keystore path",
        )
    with spinner(f"unlocking {path}"):
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
    deriving: Annotated[
        bool,
        typer.Option(
            "--deriving",
            help="derivative: sign its registration, as a keyholder of the deriving community.",
        ),
    ] = False,
) -> None:
    """Show what a request asks, then sign it with one keyholder's key (offline). With
    --deriving, a keyholder of a derivative's deriving community signs its registration."""
    from ledger.consent import (
        describe_request,
        encode_signature,
        read_request,
        sign_registration,
        sign_request,
        write_new_file,
    )

    request = read_request(request_file)
    passphrase: str | None = None
    opened = None
    if request.sealed:
        passphrase = read_passphrase(password_file, f"Passphrase of {key}")
        opened = _opened_description(request, key, passphrase)
    err.print("You are asked to sign:", markup=False)
    rows = describe_request(request, opened=opened)
    if deriving:
        community = "0x" + bytes(request.typed.message.get("community", b"")).hex()
        rows = [("action", f"RegisterDerivative: REGISTER it as community {community}'s"), *rows]
    for label, value in rows:
        err.print(f"  {label:<14}{value}", markup=False, soft_wrap=True)
    if not yes and not typer.confirm("Sign this?", default=False, err=True):
        raise UsageError("not signed", hint="nothing was written")
    account = _signer(key, password_file, passphrase)
    signature = (sign_registration if deriving else sign_request)(request, account)
    write_new_file(output, encode_signature(signature))
    err.print(f"signed by {signature.signer}: {output}", markup=False, soft_wrap=True)


def _write_status(status: "ConsentStatus") -> None:
    from ledger.consent import proven_by

    request = status.request
    out = sys.stdout
    about = (
        f"terms version {request.version}"
        if request.action in ("SetTerms", "RevokeTerms")
        else f"description version {request.version}"
        if request.action == "SetDescription"
        else "a new item"
        if request.action == "RegisterItem"
        else f"nonce {request.version}"
    )
    if len(status.parties) == 1:
        out.write(
            f"{request.action} of {request.item}, {about}: "
            f"{len(status.signed)} of {request.threshold} needed signatures\n"
        )
        for address, _ in status.signed:
            out.write(f"  signed   {address}\n")
        for address in status.missing:
            out.write(f"  missing  {address}\n")
    else:
        out.write(f"{request.action} of {request.item}, {about}: k of each community sign\n")
        for party in status.parties:
            out.write(
                f"  {party.role} 0x{party.community.id.hex()}: {len(party.signed)} of "
                f"{party.community.threshold} needed signatures\n"
            )
            for address, _ in party.signed:
                out.write(f"    signed   {address}\n")
            for address in party.missing:
                out.write(f"    missing  {address}\n")
    out.write(f"keyholders of {proven_by(request.history)}\n")
    if request.receiver_history is not None:
        out.write(f"receiver's keyholders of {proven_by(request.receiver_history)}\n")
    if status.complete:
        out.write("ready: submit it with `heritage consent submit`\n")
    else:
        out.write(f"{status.needed} more signature(s) needed\n")


@consent_app.command(
    "status",
    epilog=f"Exit status: 0 when every signature needed is there, {EXIT_INCOMPLETE} when some "
    "are still missing, 2 for an unreadable or edited file, 1 for any other refusal (a "
    "signature for another request, by a stranger or twice, an expired request).",
)
def consent_status(
    request_file: RequestArg,
    signature_files: Annotated[
        list[Path] | None,
        typer.Argument(help="Signature files, one per keyholder (`heritage consent sign`)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Which keyholders have signed a request, which are missing, how many more are needed
    (offline). Exits 0 when complete, 5 when signatures are missing."""
    from ledger.consent import collect, read_request

    request = read_request(request_file)
    # A deriving keyholder's signature of a derivative's registration (`sign --deriving`) is
    # checked at submit, against the chain: not one of the request's own.
    given = _signatures(signature_files or [])
    own = [(w, s) for w, s in given if s.action != "RegisterDerivative"]
    status = collect(request, own, now=int(time.time()))
    if as_json:
        print_json(status.to_json())
    else:
        _write_status(status)
    if not status.complete:
        raise typer.Exit(EXIT_INCOMPLETE)


@consent_app.command("submit")
def consent_submit(
    request_file: RequestArg,
    signature_files: SignatureArgs,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a request with k signatures (k of each community for a transfer or repatriation),
    after re-checking the chain (nothing sent otherwise). A derivative's consent registers
    the derivative: k keyholders of the deriving community sign here (--signer,
    --password-file), or their signature files (`consent sign --deriving`) go with the rest."""
    from ledger.consent import read_request

    request = read_request(request_file)
    every = _signatures(signature_files)
    # A derivative's registration signed offline by the deriving community: apart.
    registration = [(w, s) for w, s in every if s.action == "RegisterDerivative"]
    signatures = [(w, s) for w, s in every if s.action != "RegisterDerivative"]
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        keys = (
            signer_keys(settings, signer, password_file)
            if request.action == "ConsentDerivative" and not registration
            else None
        )
        result = registrar.consent.submit(request, signatures, keys, registration).to_json()
    if "warning" in result:  # plaintext withdrawn here, but earlier copies cannot be recalled
        err.print(f"warning: {result['warning']}", markup=False, soft_wrap=True)
    if as_json:
        print_json(result)
        return
    if request.action == "SetTerms":
        sys.stdout.write(
            f"terms of {result['subject']} are now version {result['version']}: "
            f"{result['terms_cid']}\n"
        )
    elif request.action == "RevokeTerms":
        sys.stdout.write(f"revoked terms version {result['version']} of {result['subject']}\n")
    elif request.action == "SetDescription":
        sys.stdout.write(
            f"description of {result['subject']} is now version {result['version']}: "
            f"{result['description_cid']}\n"
        )
    elif request.action == "RegisterItem":
        sys.stdout.write(f"registered {result['cid']} as item {result['item']}\n")
    elif request.action == "ConsentDerivative":
        sys.stdout.write(
            f"registered derivative {result['cid']} {result['item']} of {result['parent']}, "
            f"with the consent of its steward {result['parent_steward']}\n"
        )
    elif request.action == "RotateKeyholders":
        sys.stdout.write(
            f"rotated community {result['community']}: now {result['threshold']} of "
            f"{len(result['keyholders'])} ({', '.join(result['keyholders'])}), document "
            f"{result['document_cid']}\n"
        )
    else:
        sys.stdout.write(
            f"recorded the {result['action']} of {result['item']} from {result['from']} to "
            f"{result['to']} (document {result['document_cid']})\n"
        )
