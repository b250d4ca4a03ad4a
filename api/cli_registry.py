"""``heritage community|item|terms|custody|derivative``: the registry, from the command line.

Thin: parse, call :class:`ledger.registry.Registry`, format. Keys:

- keyholders sign with keystores in ``<data dir>/keys``. ``--signer ADDRESS`` (repeatable)
  names them; without it, every keyholder of the community whose key is here is used, lowest
  addresses first, as many as the action needs.
- ``--password-file FILE`` (repeatable): one file unlocks every signer, or one file per
  ``--signer``, in the same order. Without it each passphrase is asked for (hidden prompt).
- the sender pays the gas: anvil's dev account on the local chain; elsewhere ``--sender
  ADDRESS`` (a key in the keystore) with ``--sender-password-file``.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli.py).

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ledger.errors import UsageError
from ledger.ipfs.unixfs import CHUNK_SIZE, ImportOptions
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress

    from ledger.registry import CustodyRecorded, ItemRegistration, Progress, Registry, SignerKeys

__all__ = [
    "community_app",
    "custody_app",
    "derivative_app",
    "item_app",
    "registrar_session",
    "terms_app",
]

community_app = typer.Typer(
    help="Communities: create, show, rotate keyholders.", no_args_is_help=True
)
item_app = typer.Typer(
    help="Items: register files (alone or as a batch), show, history.", no_args_is_help=True
)
terms_app = typer.Typer(
    help="Terms of an item or batch: set a new version, revoke.", no_args_is_help=True
)
custody_app = typer.Typer(
    help="Custody: transfer or repatriate stewardship, lend an item and record its return.",
    no_args_is_help=True,
)
derivative_app = typer.Typer(
    help="Derivatives: restorations, reconstructions, AI-enhanced versions.", no_args_is_help=True
)

_err = Console(stderr=True, highlight=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only what a script needs.")]
Signers = Annotated[
    list[str] | None,
    typer.Option(
        "--signer",
        help="A keyholder who signs (repeatable; default: every keyholder with a key here).",
    ),
]
PasswordFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--password-file",
        help="Passphrase file: one for every signer, or one per --signer in order.",
        dir_okay=False,
    ),
]
Sender = Annotated[
    str | None,
    typer.Option(
        "--sender", help="Keystore address that pays gas (default on anvil: dev account)."
    ),
]
SenderPasswordFile = Annotated[
    Path | None,
    typer.Option("--sender-password-file", help="Passphrase file of --sender.", dir_okay=False),
]
CommunityOpt = Annotated[str, typer.Option("--community", "-c", help="Community id (0x…) or name.")]
TermsOpt = Annotated[Path, typer.Option("--terms", help="Terms document (a JSON file).")]
Item = Annotated[str, typer.Argument(help="A CID (v0 or v1) or a 0x claim key.")]
ClaimOpt = Annotated[
    str | None,
    typer.Option(
        "--community",
        "-c",
        help="Whose claim ITEM names, when several communities claim the content: the "
        "community (id or name) that registered or now stewards it.",
    ),
]
Keyholders = Annotated[
    list[str], typer.Option("--keyholder", "-k", help="Keyholder address (repeatable).")
]
Threshold = Annotated[int, typer.Option("--threshold", "-t", min=1, help="Signatures needed (k).")]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _passphrases(
    signers: list[str] | None, files: list[Path] | None
) -> "Callable[[ChecksumAddress], str]":
    from ledger.keys import read_passphrase_file

    named = [s.lower() for s in signers or []]
    paths = list(files or [])
    if len(paths) > 1 and len(paths) != len(named):
        raise UsageError(
            f"{len(paths)} --password-file options for {len(named)} --signer options",
            hint="pass one --password-file for every signer, or one per --signer in order",
        )
    cache: dict[str, str] = {}

    def passphrase(address: "ChecksumAddress") -> str:
        if address in cache:
            return cache[address]
        if len(paths) == 1:
            value = read_passphrase_file(paths[0])
        elif paths:
            value = read_passphrase_file(paths[named.index(address.lower())])
        else:
            value = typer.prompt(
                f"Passphrase of {address}", hide_input=True, err=True, show_default=False
            )
        cache[address] = value
        return value

    return passphrase


def signer_keys(
    settings: Settings, signers: list[str] | None, files: list[Path] | None
) -> "SignerKeys":
    """The keys of --signer (default: every keyholder key here), their passphrases from
    --password-file (one for all, or one per signer) or asked for."""
    from ledger.registry import SignerKeys

    return SignerKeys(
        settings,
        _passphrases(signers, files),
        tuple(signers) if signers else None,
    )


def _sender_account(settings: Settings, sender: str, sender_file: Path | None) -> "LocalAccount":
    from ledger.keys import load_signer, read_passphrase_file

    if sender_file is not None:
        passphrase = read_passphrase_file(sender_file)
    else:
        passphrase = typer.prompt(
            f"Passphrase of the sender {sender}", hide_input=True, err=True, show_default=False
        )
    return load_signer(settings, sender, passphrase)


#: The chain id anvil runs with unless told otherwise.
ANVIL_CHAIN_ID = 31337


@contextmanager
def registrar_session(
    sender: str | None = None, sender_file: Path | None = None, *, sends: bool = False
) -> "Iterator[tuple[Settings, Registry]]":
    """The settings and a :class:`Registry` for one command, closed after it; ``sends``: with
    the account that pays for transactions (``--sender``, else anvil's dev account when this is
    a local development chain: the local anvil of the data directory, or any chain with
    anvil's default id 31337)."""
    from ledger.registry import Registry

    settings = load_settings()
    with Registry(settings) as registrar:
        if sends and sender is not None:
            registrar.session.use_sender(_sender_account(settings, sender, sender_file))
        elif sends:
            from local_chain import anvil_dev_account, uses_outside_chain

            if not uses_outside_chain(settings) or registrar.client.chain_id() == ANVIL_CHAIN_ID:
                registrar.session.use_sender(anvil_dev_account())
        yield settings, registrar


_registrar = registrar_session  # the name the commands here were written with


@contextmanager
def _progress(quiet: bool) -> "Iterator[Progress | None]":
    """Progress bars (files added, items registered) on stderr, unless quiet or not a tty."""
    if quiet or not _err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=_err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


def _claimant(registrar: "Registry", community: str | None) -> bytes | None:
    return None if community is None else registrar.reader.resolve_community(community)


def _print_other_claims(entries: "Sequence[ItemRegistration]") -> None:
    """A note on stderr for content that other communities claim too (never a refusal)."""
    for entry in entries:
        if entry.other_claims:
            named = ", ".join(
                f"{c.kind} 0x{c.key.hex()} by community 0x{c.community.hex()}"
                for c in entry.other_claims
            )
            _err.print(
                f"note: {entry.cid} is also claimed by other communities: {named}; each "
                "claim is its own, and `heritage verify` reports them all",
                markup=False,
                soft_wrap=True,  # keys and CIDs stay whole, to be copied
            )


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- community -------------------------------------------------------------------------------


@community_app.command("create")
def community_create(
    name: Annotated[
        str, typer.Argument(help="The community's name (with the keyholders, it gives the id).")
    ],
    keyholders: Keyholders,
    threshold: Threshold,
    salt: Annotated[
        str | None,
        typer.Option(
            "--salt",
            help="0x and 64 hex digits: create with this salt instead of the name's. The id "
            "is derived from the salt and the keyholders either way.",
        ),
    ] = None,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="JSON object merged into the community document."),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a community of keyholders with threshold k; every keyholder signs."""
    from ledger.documents import parse_community_id, read_json_file

    explicit = parse_community_id(salt) if salt is not None else None
    if salt is not None and explicit is None:
        raise UsageError(f"--salt {salt!r} is not 0x and 64 hex digits")
    extra = read_json_file(document) if document is not None else None
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        view = registrar.communities.create(
            name,
            keyholders,
            threshold,
            signer_keys(settings, signer, password_file),
            salt=explicit,
            extra=extra,
        )
    if as_json:
        _print_json(view.to_json())
        return
    sys.stdout.write(
        f"created community {name} 0x{view.id.hex()}: {view.threshold} of "
        f"{len(view.keyholders)} keyholders, document {view.document_cid}\n"
    )


@community_app.command("show")
def community_show(
    community: Annotated[str, typer.Argument(help="Community id (0x…) or name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a community: keyholders, threshold, document, rotations, items."""
    with _registrar() as (_, registrar):
        view = registrar.communities.show(registrar.reader.resolve_community(community))
    if as_json:
        _print_json(view.to_json())
        return
    sys.stdout.write(
        f"community 0x{view.id.hex()}\n"
        f"  threshold   {view.threshold} of {len(view.keyholders)}\n"
        f"  keyholders  {', '.join(view.keyholders)}\n"
        f"  document    {view.document_cid}\n"
        f"  rotations   {view.rotations}\n"
        f"  created in  block {view.created_block}\n"
        f"  items       {view.items}\n"
    )


@community_app.command("rotate")
def community_rotate(
    community: Annotated[str, typer.Argument(help="Community id (0x…) or name.")],
    keyholders: Keyholders,
    threshold: Threshold,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="JSON object merged into the new community document."),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace the keyholders and threshold; k of the current keyholders sign."""
    from ledger.documents import read_json_file

    extra = read_json_file(document) if document is not None else None
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        view = registrar.communities.rotate(
            registrar.reader.resolve_community(community),
            keyholders,
            threshold,
            signer_keys(settings, signer, password_file),
            extra=extra,
        )
    if as_json:
        _print_json(view.to_json())
        return
    sys.stdout.write(
        f"rotated community 0x{view.id.hex()}: now {view.threshold} of "
        f"{len(view.keyholders)} ({', '.join(view.keyholders)})\n"
    )


# ---- item ------------------------------------------------------------------------------------


@item_app.command("register")
def item_register(
    paths: Annotated[list[Path], typer.Argument(help="Files to register.")],
    community: CommunityOpt,
    terms: TermsOpt,
    batch: Annotated[
        bool, typer.Option("--batch", help="Register all files in one transaction (Merkle root).")
    ] = False,
    cid_version: Annotated[
        int, typer.Option("--cid-version", min=0, max=1, help="CID version (default 1).")
    ] = 1,
    raw_leaves: Annotated[
        bool | None,
        typer.Option("--raw-leaves/--no-raw-leaves", help="Raw leaves (default: CIDv1 only)."),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            min=1,
            max=1_048_576,
            help="Bytes per chunk, as `ipfs add --chunker=size-N` (default 262144). Recorded "
            "in the metadata; `heritage verify FILE` needs it again as --chunk-size.",
        ),
    ] = CHUNK_SIZE,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    quiet: Quiet = False,
    as_json: JsonFlag = False,
) -> None:
    """Add files and the terms document to IPFS, pin them, and register them on chain."""
    options = ImportOptions(cid_version=cid_version, raw_leaves=raw_leaves, chunk_size=chunk_size)
    with (
        _registrar(sender, sender_password_file, sends=True) as (settings, registrar),
        _progress(quiet or as_json) as tick,
    ):
        keys = signer_keys(settings, signer, password_file)
        community_id = registrar.reader.resolve_community(community)
        if batch:
            result = registrar.items.register_batch(
                paths, community_id, terms, keys, options=options, progress=tick
            )
            if as_json:
                _print_json(result.to_json())
                return
            _print_other_claims(result.items)
            for entry in result.items:
                sys.stdout.write(
                    f"{entry.cid}\n"
                    if quiet
                    else f"registered {entry.cid} 0x{entry.key.hex()} {entry.path}\n"
                )
            if not quiet:
                sys.stdout.write(
                    f"batch 0x{result.root.hex()}: {len(result.items)} items, manifest "
                    f"{result.manifest_cid}, terms {result.terms_cid}, "
                    f"transaction {'0x' + result.tx.tx_hash.hex()}\n"
                )
            return
        items = registrar.items.register(
            paths, community_id, terms, keys, options=options, progress=tick
        )
    if as_json:
        _print_json([i.to_json() for i in items])
        return
    _print_other_claims(items)
    for entry in items:
        if quiet:
            sys.stdout.write(f"{entry.cid}\n")
        else:
            sys.stdout.write(f"registered {entry.cid} 0x{entry.key.hex()} {entry.path}\n")


@item_app.command("show")
def item_show(item: Item, community: ClaimOpt = None, as_json: JsonFlag = False) -> None:
    """Show an item: its registered CID, community, steward, terms, metadata, batch."""
    with _registrar() as (_, registrar):
        view = registrar.items.show(item, _claimant(registrar, community))
    if as_json:
        _print_json(view.to_json())
        return
    state = "REVOKED" if view.revoked else "current"
    lines = [
        f"{view.kind} 0x{view.key.hex()}",
        f"  cid         {view.registered_cid}",
        f"  community   0x{view.community.hex()}",
        f"  steward     0x{view.steward.hex()}",
        f"  terms       {view.terms_cid} (version {view.terms_version}, {state})",
        f"  metadata    {view.metadata_cid}",
    ]
    if view.metadata is not None and view.metadata.get("type") == "heritage/sealed-item":
        lines.append(
            f"              encrypted: {view.metadata.get('size')} bytes of ciphertext "
            "(keyholders: `heritage item decrypt`)"
        )
    elif view.metadata is not None:
        lines.append(
            f"              {view.metadata.get('name')}, {view.metadata.get('size')} bytes, "
            f"{view.metadata.get('media_type')}"
        )
    if view.parent is not None:
        lines.append(f"  parent      0x{view.parent.hex()}")
        lines.append(f"  method      {view.method_cid} (AI-enhanced: {view.ai_enhanced})")
    if view.batch is not None and "root" in view.batch:
        proof = "valid on chain" if view.batch["proof_valid_on_chain"] else "NOT VALID on chain"
        lines.append(
            f"  batch       {view.batch['root']} (item {view.batch['position']}, proof {proof})"
        )
        lines.append(f"  manifest    {view.batch['manifest_cid']}")
    if view.block is not None:
        lines.append(f"  registered  block {view.block} by {view.registrant}")
    sys.stdout.write("\n".join(lines) + "\n")


@item_app.command("history")
def item_history(item: Item, community: ClaimOpt = None, as_json: JsonFlag = False) -> None:
    """Registration, terms changes, revocations and custody events of an item, in order."""
    with _registrar() as (_, registrar):
        entries = registrar.items.history(item, _claimant(registrar, community))
    if as_json:
        _print_json([e.to_json() for e in entries])
        return
    for entry in entries:
        detail = ", ".join(
            f"{k}={'0x' + v.hex() if isinstance(v, bytes) else v}"
            for k, v in entry.fields.items()
            if k in ("version", "action_name", "counterparty", "community", "terms")
        )
        sys.stdout.write(
            f"{_when(entry.timestamp)}  block {entry.block_number}  {entry.event}  {detail}\n"
        )


@item_app.command("proof")
def item_proof(
    items: Annotated[list[str], typer.Argument(help="CIDs or 0x item keys.", metavar="ITEM...")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write proofs.json.")],
) -> None:
    """Write everything needed to verify ITEMs offline (`heritage verify --proofs FILE`)."""
    from ledger.verify import gather, proofs_document

    with _registrar() as (_, registrar):
        document = proofs_document(gather(registrar.reader, items))
    output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _err.print(f"wrote proofs of {len(document['items'])} item(s) to {output}", markup=False)


@item_app.command("export")
def item_export(
    item: Item,
    output: Annotated[Path, typer.Option("--output", "-o", help="A new folder for the bag.")],
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Write ITEM's preservation package: a BagIt bag (content, documents, signatures, event
    history, proofs, on-chain references) of one community's claim."""
    from ledger.verify import export_bag

    with _registrar() as (_, registrar):
        result = export_bag(registrar.reader, item, output, _claimant(registrar, community))
    if as_json:
        _print_json(result)
    else:
        _err.print(f"wrote the bag of {result['cid']} to {output}", markup=False)


@item_app.command("decrypt")
def item_decrypt(
    item: Item,
    key: Annotated[
        str,
        typer.Option(
            "--key",
            help="The keyholder's address (its encryption key is in the keystore here), or a "
            "key file written by `heritage keys export`.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="A new file for the plaintext.")],
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="The key's passphrase (else a hidden prompt).", dir_okay=False
        ),
    ] = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Decrypt an encrypted ITEM for a keyholder, and check the plaintext against the
    registered commitment; the file appears at OUTPUT only if every check passes."""
    from eth_utils.address import is_address, to_checksum_address

    from ledger.keys import read_passphrase_file

    if password_file is not None:
        passphrase = read_passphrase_file(password_file)
    else:
        shown = to_checksum_address(key) if is_address(key) else key
        passphrase = typer.prompt(
            f"Passphrase of {shown}", hide_input=True, err=True, show_default=False
        )
    with _registrar() as (_, registrar):
        result = registrar.sealing.decrypt(
            item, key, passphrase, output, _claimant(registrar, community)
        )
    if as_json:
        _print_json(result.to_json())
        return
    verdict = {
        True: "matches the commitment on chain",
        None: "the record has no commitment to check",
        False: "DOES NOT match",
    }[result.commitment_matches]
    sys.stdout.write(
        f"decrypted 0x{result.key.hex()} to {result.output} ({result.size} bytes)\n"
        f"  plaintext cid {result.plaintext_cid}: {verdict}\n"
    )


# ---- terms -----------------------------------------------------------------------------------


@terms_app.command("set")
def terms_set(
    item: Item,
    terms: TermsOpt,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the next terms version of an item, derivative or batch (k of n of its steward)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.terms.set(
            item,
            terms,
            signer_keys(settings, signer, password_file),
            _claimant(registrar, community),
        ).to_json()
    if as_json:
        _print_json(result)
        return
    sys.stdout.write(
        f"terms of {result['subject']} are now version {result['version']}: {result['terms_cid']}\n"
    )
    if "warning" in result:
        _err.print(f"warning: {result['warning']}", markup=False)


@terms_app.command("revoke")
def terms_revoke(
    item: Item,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke the current terms of an item (an item of a batch: that item alone)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.terms.revoke(
            item, signer_keys(settings, signer, password_file), _claimant(registrar, community)
        ).to_json()
    if as_json:
        _print_json(result)
        return
    sys.stdout.write(f"revoked terms version {result['version']} of {result['subject']}\n")
    if "warning" in result:
        _err.print(f"warning: {result['warning']}", markup=False)


# ---- custody ---------------------------------------------------------------------------------


CustodyDocument = Annotated[
    Path | None,
    typer.Option("--document", help="JSON object merged into the custody document."),
]


def _print_custody(recorded: "CustodyRecorded", as_json: bool, verb: str) -> None:
    result = recorded.to_json()
    if as_json:
        _print_json(result)
        return
    sys.stdout.write(
        f"{verb} {result['item']} from {result['from']} to {result['to']} "
        f"(document {result['document_cid']})\n"
    )


@custody_app.command("transfer")
def custody_transfer(
    item: Item,
    to: Annotated[str, typer.Option("--to", help="Receiving community id (0x…) or name.")],
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Transfer stewardship of an item to another community (k of n of both sign)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.custody.transfer(
            item,
            registrar.reader.resolve_community(to),
            signer_keys(settings, signer, password_file),
            document=document,
            community=_claimant(registrar, community),
        )
    _print_custody(result, as_json, "transferred")


@custody_app.command("repatriate")
def custody_repatriate(
    item: Item,
    to: Annotated[str, typer.Option("--to", help="Receiving community id (0x…) or name.")],
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Repatriate an item to its community of origin: stewardship moves (k of n of both sign)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.custody.repatriate(
            item,
            registrar.reader.resolve_community(to),
            signer_keys(settings, signer, password_file),
            document=document,
            community=_claimant(registrar, community),
        )
    _print_custody(result, as_json, "repatriated")


@custody_app.command("loan")
def custody_loan(
    item: Item,
    to: Annotated[
        str,
        typer.Option("--to", help="Borrower: a community id (0x…) or name, or any 0x 32-byte id."),
    ],
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Lend an item (k of n of its steward sign; stewardship does not move)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.custody.loan(
            item,
            registrar.reader.resolve_community(to),
            signer_keys(settings, signer, password_file),
            document=document,
            community=_claimant(registrar, community),
        )
    _print_custody(result, as_json, "lent")


@custody_app.command("return")
def custody_return(
    item: Item,
    document: CustodyDocument = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Record the return of a lent item from its borrower (k of n of its steward sign)."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.custody.return_(
            item,
            signer_keys(settings, signer, password_file),
            document=document,
            community=_claimant(registrar, community),
        )
    _print_custody(result, as_json, "returned")


# ---- derivative ------------------------------------------------------------------------------


@derivative_app.command("add")
def derivative_add(
    parent: Annotated[str, typer.Argument(help="The parent: a CID or a 0x claim key.")],
    path: Annotated[Path, typer.Argument(help="The derivative's file.")],
    community: Annotated[
        str, typer.Option("--community", "-c", help="The deriving community (id or name).")
    ],
    terms: TermsOpt,
    method: Annotated[
        Path,
        typer.Option(
            "--method", help="How it was made: a method document (docs/derivatives.md)."
        ),
    ],
    ai_enhanced: Annotated[
        bool,
        typer.Option(
            "--ai-enhanced",
            help="Made or enhanced with generative AI; refused unless the parent's terms "
            "consent to AI enhancement.",
        ),
    ] = False,
    parent_community: Annotated[
        str | None,
        typer.Option(
            "--parent-community",
            help="Whose claim PARENT names, when several communities claim its content.",
        ),
    ] = None,
    parent_signer: Annotated[
        list[str] | None,
        typer.Option(
            "--parent-signer",
            help="A keyholder of the parent's steward who consents (repeatable); needed when "
            "another community holds the parent, never taken from the keystore unasked.",
        ),
    ] = None,
    parent_password_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--parent-password-file",
            help="Passphrase file: one for every --parent-signer, or one per signer in order.",
            dir_okay=False,
        ),
    ] = None,
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a derivative (restoration, 3D reconstruction, AI-enhanced) of an item, with
    the consent of k keyholders of the parent's steward."""
    with _registrar(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.derivatives.add(
            parent,
            path,
            registrar.reader.resolve_community(community),
            terms,
            method,
            signer_keys(settings, signer, password_file),
            ai_enhanced=ai_enhanced,
            parent_community=_claimant(registrar, parent_community),
            parent_keys=None
            if not parent_signer
            else signer_keys(settings, parent_signer, parent_password_file),
        ).to_json()
    if as_json:
        _print_json(result)
        return
    sys.stdout.write(
        f"registered derivative {result['cid']} {result['item']} of {result['parent']}"
        f"{' (AI-enhanced)' if ai_enhanced else ''}\n"
    )
