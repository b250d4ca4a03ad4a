"""``heritage verify``: is this the registered file, who holds it, under which terms?

Thin: parse, call :mod:`ledger.verify`, print the verdict (in plain words, or ``--json``
following ``ledger/schemas/verify-report.schema.json``) and exit with its status
(:class:`ledger.errors.ExitCode`, docs/exit-codes.md): 0 verified, 10 keyholders changed since
signing, 11 revoked, 12 tampered, 13 unknown (or no claim by the community named with
--community), 14 signature failure, 15 disputed (several communities claim the content, none
named), 16 the parent claim of a derivative is revoked; 2 a usage error, 3 the chain is
unavailable, 1 any other error.

PATH_OR_CID is a CID (or a 0x claim key) when it parses as one, else a path, which must exist:
a mistyped file name is never looked up on chain as if it were a CID.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import out, print_json, read_passphrase
from ledger.errors import ChainUnavailable, ExitCode, HeritageError, NoSuchFile, UsageError
from ledger.ipfs.unixfs import CHUNK_SIZE
from ledger.settings import load_settings

if TYPE_CHECKING:
    from ledger.crypto import EncryptionKeyPair
    from ledger.registry import RegistryReader
    from ledger.verify import Report

__all__ = ["verify_command"]


def _print(report: "Report", as_json: bool, *, chunks: int | None = None) -> None:
    """The report; ``chunks``: the chunk size a bare file was hashed with."""
    if as_json:
        print_json(report.to_json())
        return
    out.print(report.summary(), markup=False, soft_wrap=True)
    a = report.assessment
    if report.status.value == "unknown" and chunks is not None:
        out.print(
            f"  hint: no registered item gives this file's CID with {chunks}-byte chunks, as "
            "CIDv1 or CIDv0; if it was added with another chunk size, pass --chunk-size N, "
            "or --expect CID; a keyholder checks a restricted original with --key ADDRESS",
            markup=False,
            soft_wrap=True,
        )
    if report.status.value == "unknown":
        return
    if len(report.claims) > 1 or a is None:
        for line in report.claim_lines():
            out.print(f"  {line}", markup=False, soft_wrap=True)
    if a is None:
        return
    for step in a.custody:
        out.print(
            f"  custody: {step.action} from 0x{step.source.hex()} to 0x{step.destination.hex()}"
            f" (block {step.event.block_number}, tx 0x{step.event.tx_hash.hex()})",
            markup=False,
            soft_wrap=True,
        )
    for problem in report.problems:
        out.print(f"  problem: {problem}", markup=False, soft_wrap=True)


def _target(target: str) -> tuple[Path | None, str | None]:
    """(the path, None) or (None, the CID or key) that PATH_OR_CID names."""
    from ledger.verify.report import names_an_item

    if not target.strip():
        raise UsageError(
            "PATH_OR_CID is empty",
            hint="pass a file, a bag folder or a CID, e.g. `heritage verify scan.ply`",
        )
    if names_an_item(target):
        return None, target
    path = Path(target)
    if not path.exists():
        raise NoSuchFile(
            f"no such file: {target}",
            hint="check the path; a CID or a 0x item key is verified on chain as it is",
        )
    return path, None


def verify_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A CID or 0x item key (whatever parses as one), else a file or a preservation "
            "bag (folder), which must exist.",
            metavar="PATH_OR_CID",
        ),
    ],
    expect: Annotated[
        str | None, typer.Option("--expect", help="The CID the file should give.")
    ] = None,
    proofs: Annotated[
        Path | None,
        typer.Option(
            "--proofs",
            help="Verify offline from this proofs.json (no chain); or, with an exhibit "
            "site's proofs.json, verify a file the site serves as a derivative of its "
            "registered master (that reads the chain).",
            dir_okay=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            min=1,
            max=1_048_576,
            help="Hash a bare file with chunks of this many bytes (as `ipfs add "
            "--chunker=size-N`); the default is 262144.",
        ),
    ] = None,
    community: Annotated[
        list[str] | None,
        typer.Option(
            "--community",
            "-c",
            help="The community (id or name) you expect to hold the item; repeatable. The "
            "verdict is about the claim it stewards now; other claims are listed.",
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="A keyholder address whose encryption key is in the keystore here; "
            "repeatable: a file that is no registered item is checked against the restricted "
            "items it can open (their plaintext commitments).",
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="Passphrase of the --key keys (else a hidden prompt); with no --key, every "
            "encryption key in the keystore that it opens is tried.",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (see the published schema).")
    ] = False,
) -> None:
    """Verify a file, a bag or a CID: every community's claim on it, registration,
    signatures, revocation, custody, lineage."""
    from ledger.registry import RegistryReader, RegistrySession
    from ledger.verify import CheckCache, read_proofs, verify_bag, verify_offline, verify_online
    from ledger.verify.report import community_in

    path, cid = _target(target)
    named = community or []
    if chunk_size is not None and (proofs is not None or (path is not None and path.is_dir())):
        raise UsageError(
            "--chunk-size is for a file verified against the chain; proofs and bags record "
            "each item's settings"
        )
    if key and (proofs is not None or (path is not None and path.is_dir())):
        raise UsageError(
            "--key checks a restricted original against the chain; proofs and bags carry "
            "registered bytes only"
        )
    if proofs is not None:
        if not proofs.exists():
            raise NoSuchFile(
                f"no such file: {proofs}", hint="pass the file `heritage item proof` wrote"
            )
        if not proofs.is_file():
            raise UsageError(f"{proofs} is not a file", hint="pass a proofs.json file")
        data = _read_proofs_file(proofs)
        if _is_exhibit_proofs(data):
            _verify_served(data, proofs, path, expect=expect, named=named, as_json=as_json)
        checks = CheckCache()  # what reading the proofs checked, reused by the verdict
        evidence = read_proofs(data, str(proofs), checks)
        if path is not None and path.is_dir():
            raise UsageError("--proofs checks a file or a CID; a bag carries its own proofs")
        expected = [community_in(evidence, c) for c in named]
        report = (
            verify_offline(evidence, path=path, expect=expect, communities=expected, cache=checks)
            if path is not None
            else verify_offline(evidence, cid=cid, communities=expected, cache=checks)
        )
    elif path is not None and path.is_dir():
        if expect is not None:
            raise UsageError("a bag names its own expected CID; --expect is for a file")
        report = verify_bag(path, named)
    else:
        try:
            with RegistrySession(load_settings()) as session:
                registrar = RegistryReader(session)
                expected = [registrar.resolve_community(c) for c in named]
                holders = (
                    _holders(registrar, key or [], password_file)
                    if path is not None and path.is_file()
                    else []
                )
                report = verify_online(
                    registrar,
                    target,
                    expect=expect,
                    chunk_size=chunk_size,
                    communities=expected,
                    holders=holders,
                )
        except ChainUnavailable as exc:
            # Exit 3, as every command that needs the chain; verify's hint adds the offline way.
            raise ChainUnavailable(
                exc.message, hint="start the chain, or verify offline with --proofs FILE"
            ) from None
    bare = path is not None and path.is_file() and expect is None and proofs is None
    _print(report, as_json, chunks=(chunk_size or CHUNK_SIZE) if bare else None)
    raise typer.Exit(ExitCode(report.exit_code))  # a status outside the table fails loudly


def _read_proofs_file(proofs: Path) -> bytes:
    """The bytes of a proofs file, refused unread when over either format's cap."""
    from ledger.verify.exhibit_proofs import MAX_EXHIBIT_PROOFS_BYTES
    from ledger.verify.proofs import MAX_PROOFS_BYTES

    cap = max(MAX_PROOFS_BYTES, MAX_EXHIBIT_PROOFS_BYTES)
    size = proofs.stat().st_size
    if size > cap:
        from ledger.errors import LimitExceeded

        raise LimitExceeded(
            f"{proofs} is {size:,} bytes; proofs files are capped at {cap:,}",
            hint="pass the proofs.json of an item or of an exhibit site",
        )
    return proofs.read_bytes()


def _is_exhibit_proofs(data: bytes) -> bool:
    from ledger.verify.exhibit_proofs import is_exhibit_proofs

    return is_exhibit_proofs(data)


def _verify_served(
    data: bytes,
    proofs: Path,
    path: Path | None,
    *,
    expect: str | None,
    named: list[str],
    as_json: bool,
) -> None:
    """``verify FILE --proofs`` with an exhibit's proofs.json: a served file, judged as a
    derivative of its master (docs/verify.md, "Files an exhibit serves"); exits."""
    from ledger.registry import RegistryReader, RegistrySession
    from ledger.verify.exhibit_proofs import parse_exhibit_proofs, verify_served

    if path is None or not path.is_file():
        raise UsageError(
            "an exhibit's proofs.json checks a file the site serves",
            hint="pass the file, e.g. `heritage verify site/items/0x…/files/image.jpg "
            "--proofs site/proofs.json`",
        )
    if expect is not None or named:
        raise UsageError(
            "--expect and --community do not apply to an exhibit's proofs: they name each "
            "file's CID and its master's claim"
        )
    parsed = parse_exhibit_proofs(data, str(proofs))
    try:
        with RegistrySession(load_settings()) as session:
            report = verify_served(
                RegistryReader(session), path, parsed, chain_id=session.deployment.chain_id
            )
    except ChainUnavailable as exc:
        raise ChainUnavailable(
            exc.message,
            hint="a served file is checked against its master's claim on chain: start the "
            "chain, or point HERITAGE_RPC_URL at a node of it",
        ) from None
    if as_json:
        print_json(report.to_json())
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
        if report.master is not None:
            for line in report.master.claim_lines():
                out.print(f"  master: {line}", markup=False, soft_wrap=True)
    raise typer.Exit(ExitCode(report.exit_code))


def _holders(
    registrar: "RegistryReader", keys: list[str], password_file: Path | None
) -> "list[tuple[str, EncryptionKeyPair]]":
    """The keyholders' opened encryption keys: each --key (its passphrase from the file, or
    asked for), or with only --password-file, every key in the keystore it opens."""
    from eth_utils.address import is_address, to_checksum_address

    from ledger.keys import list_encryption_keys, load_encryption_key, read_passphrase_file

    if not keys and password_file is None:
        return []
    passphrase = read_passphrase_file(password_file) if password_file is not None else None
    if keys:
        opened: list[tuple[str, EncryptionKeyPair]] = []
        for address in keys:
            if not is_address(address):
                raise UsageError(f"--key {address!r} is not an address", hint="0x and 40 hex")
            secret = (
                passphrase
                if passphrase is not None
                else read_passphrase(None, f"Passphrase of {to_checksum_address(address)}")
            )
            opened.append(
                (
                    to_checksum_address(address),
                    load_encryption_key(registrar.settings, address, secret),
                )
            )
        return opened
    assert passphrase is not None
    tried: list[tuple[str, EncryptionKeyPair]] = []
    for info in list_encryption_keys(registrar.settings):
        try:
            tried.append(
                (info.address, load_encryption_key(registrar.settings, info.address, passphrase))
            )
        except HeritageError:
            continue  # another passphrase: not this verifier's key
    return tried
