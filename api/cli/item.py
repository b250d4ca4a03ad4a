"""``heritage item register|describe|show|history|proof|export|decrypt``: registered items.

Thin: parse, call :class:`ledger.registry.Registry` (and :mod:`ledger.verify` for
proofs and bags), format. Who signs and who pays the gas: see :mod:`api.cli.common`.
"""

# No `from __future__ import annotations`: typer reads the annotations of every command
# when the CLI starts, and would compile each one kept as a string (see api/cli/__init__.py).

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import (
    ClaimOpt,
    Item,
    JsonFlag,
    PasswordFiles,
    Quiet,
    Sender,
    SenderPasswordFile,
    Signers,
    TermsOpt,
    claimant,
    err,
    print_json,
    read_passphrase,
    registrar_session,
    signer_keys,
    stage_progress,
)
from ledger.errors import HeritageError, UsageError
from ledger.ipfs.unixfs import CHUNK_SIZE, ImportOptions

if TYPE_CHECKING:
    from ledger.registry import ItemRegistration, Registry
    from ledger.rights.description import Description

__all__ = ["item_app", "read_description_file"]

item_app = typer.Typer(
    help="Items: register files (alone or as a batch), show, history.", no_args_is_help=True
)

CommunityOpt = Annotated[str, typer.Option("--community", "-c", help="Community id (0x…) or name.")]
DescriptionOpt = Annotated[
    Path | None,
    typer.Option(
        "--description",
        help="Description document (a JSON file, docs/description.md) of the file(s) given.",
        dir_okay=False,
    ),
]


def _print_other_claims(entries: "Sequence[ItemRegistration]") -> None:
    """A note on stderr for content that other communities claim too (never a refusal)."""
    for entry in entries:
        if entry.other_claims:
            named = ", ".join(
                f"{c.kind} 0x{c.key.hex()} by community 0x{c.community.hex()}"
                for c in entry.other_claims
            )
            err.print(
                f"note: {entry.cid} is also claimed by other communities: {named}; each "
                "claim is its own, and `heritage verify` reports them all",
                markup=False,
                soft_wrap=True,  # keys and CIDs stay whole, to be copied
            )


def read_description_file(path: Path) -> "Description":
    """The description file at ``path``; when it is invalid, every problem is listed on
    stderr (one line each: the field, the message, the rule) and InvalidDescription (exit 4)
    is raised, before anything is added or sent."""
    from ledger.errors import InvalidDescription
    from ledger.registry import read_description

    try:
        return read_description(path)
    except InvalidDescription as exc:
        err.print(f"{path}: {len(exc.problems)} problem(s):", markup=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(
                f"  {problem.pointer or '/'}: {problem.message} [rule: {problem.rule}]",
                markup=False,
                soft_wrap=True,
            )
        raise


def _parse_catalog(catalog: Path, language: str | None) -> "Mapping[str, Description]":
    """The catalog's descriptions by file; when it is invalid, every problem is listed on
    stderr (row, column, rule) and InvalidCatalog (exit 4) is raised, nothing added or sent."""
    from ledger.errors import InvalidCatalog
    from ledger.rights.catalog import parse_catalog

    try:
        return parse_catalog(catalog, language=language)
    except InvalidCatalog as exc:
        err.print(f"{catalog}: {len(exc.problems)} problem(s):", markup=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(f"  {problem.text()}", markup=False, soft_wrap=True)
        raise


def _described_paths(
    paths: list[Path], description: Path | None, catalog: Path | None, language: str | None
) -> "tuple[list[Path], list[Description | None] | None]":
    """The files and each one's description: one --description for every file, or the
    --catalog's row of each (every file it names when no PATH is given)."""
    from ledger.registry import catalog_files

    if description is not None and catalog is not None:
        raise UsageError(
            "--description and --catalog both describe the files", hint="pass one of the two"
        )
    if language is not None and catalog is None:
        raise UsageError("--catalog-language goes with --catalog")
    if catalog is not None:
        files, described = catalog_files(catalog, _parse_catalog(catalog, language), paths)
        return files, list(described)
    if description is None:
        return paths, None
    bound = read_description_file(description)
    return paths, [bound] * len(paths)


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


#: What registration adds to an encrypted item's line: only ciphertext reached IPFS.
_ENCRYPTED_NOTE = " (encrypted: only ciphertext was added to IPFS)"


def _encrypted(terms: Path) -> bool:
    """Whether items registered under the terms file (already checked by the registration)
    were encrypted: every access protocol not ``public`` (docs/encryption.md)."""
    from ledger.rights.model import parse_terms
    from ledger.rights.policy import requires_encryption

    return requires_encryption(parse_terms(json.loads(terms.read_text(encoding="utf-8"))))


@item_app.command("register")
def item_register(
    community: CommunityOpt,
    terms: TermsOpt,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files to register (with --catalog: default, every file it names)."),
    ] = None,
    description: DescriptionOpt = None,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            help="Catalog CSV (docs/catalog.md): one description per file, by its `file` "
            "column, a path relative to the CSV's folder.",
            dir_okay=False,
        ),
    ] = None,
    catalog_language: Annotated[
        str | None,
        typer.Option(
            "--catalog-language",
            help="The language (BCP 47 tag) of the catalog's columns that name none "
            "(`title` rather than `title@en`).",
        ),
    ] = None,
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
    """Add files and the terms document to IPFS, pin them, and register them on chain; a
    description is bound into each file's metadata (sealed with it under restricted terms)."""
    options = ImportOptions(cid_version=cid_version, raw_leaves=raw_leaves, chunk_size=chunk_size)
    # Read before anything else: an invalid description is refused with nothing added or sent.
    files, descriptions = _described_paths(
        list(paths or []), description, catalog, catalog_language
    )
    with (
        registrar_session(sender, sender_password_file, sends=True) as (settings, registrar),
        stage_progress(quiet or as_json) as tick,
    ):
        keys = signer_keys(settings, signer, password_file, quiet=quiet or as_json)
        community_id = registrar.reader.resolve_community(community)
        if batch:
            result = registrar.items.register_batch(
                files,
                community_id,
                terms,
                keys,
                options=options,
                progress=tick,
                descriptions=descriptions,
            )
            encrypted = _encrypted(terms)
            if as_json:
                shown = result.to_json()
                shown["encrypted"] = encrypted
                shown["items"] = [i | {"encrypted": encrypted} for i in shown["items"]]
                print_json(shown)
                return
            _print_other_claims(result.items)
            for entry in result.items:
                sys.stdout.write(
                    f"{entry.cid}\n"
                    if quiet
                    else f"registered {entry.cid} 0x{entry.key.hex()} {entry.path}"
                    f"{_ENCRYPTED_NOTE if encrypted else ''}\n"
                )
            if not quiet:
                sys.stdout.write(
                    f"batch 0x{result.root.hex()}: {len(result.items)} items, manifest "
                    f"{result.manifest_cid}, terms {result.terms_cid}, "
                    f"transaction {'0x' + result.tx.tx_hash.hex()}\n"
                )
            return
        items = registrar.items.register(
            files,
            community_id,
            terms,
            keys,
            options=options,
            progress=tick,
            descriptions=descriptions,
        )
    encrypted = _encrypted(terms)
    if as_json:
        print_json([i.to_json() | {"encrypted": encrypted} for i in items])
        return
    _print_other_claims(items)
    for entry in items:
        if quiet:
            sys.stdout.write(f"{entry.cid}\n")
        else:
            note = _ENCRYPTED_NOTE if encrypted else ""
            sys.stdout.write(f"registered {entry.cid} 0x{entry.key.hex()} {entry.path}{note}\n")


@item_app.command("describe")
def item_describe(
    item: Item,
    description: Annotated[
        Path,
        typer.Option(
            "--description",
            help="The corrected description document (a JSON file, docs/description.md).",
            dir_okay=False,
        ),
    ],
    signer: Signers = None,
    password_file: PasswordFiles = None,
    sender: Sender = None,
    sender_password_file: SenderPasswordFile = None,
    community: ClaimOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish a corrected description of an item or derivative (the next version, k of n of
    its steward); every earlier version stays on the record."""
    document = read_description_file(description)  # refused (exit 4) before anything is sent
    with registrar_session(sender, sender_password_file, sends=True) as (settings, registrar):
        result = registrar.descriptions.describe(
            item,
            document,
            signer_keys(settings, signer, password_file),
            claimant(registrar, community),
        ).to_json()
    if as_json:
        print_json(result)
        return
    sys.stdout.write(
        f"description of {result['subject']} is now version {result['version']}: "
        f"{result['description_cid']}\n"
    )


def _community_namer(registrar: "Registry") -> "Callable[[bytes], str]":
    """``0x… (name)``: a community id with the name its document gives (memoised)."""
    names: dict[bytes, str] = {}

    def name_of(community: bytes) -> str:
        if community not in names:
            try:
                name = registrar.reader.community_document(community).get("name")
            except HeritageError:
                name = None  # not a community (a borrower id), or its document is not here
            names[community] = f"0x{community.hex()}" + (
                f" ({name})" if isinstance(name, str) and name else ""
            )
        return names[community]

    return name_of


def _terms_document(registrar: "Registry", terms_cid: str | None) -> "dict[str, Any] | None":
    """The terms document a CID names, from this node; None when it is not here."""
    from ledger.ipfs.cid import Cid

    if terms_cid is None:
        return None
    try:
        document = json.loads(registrar.reader.node.block_get(Cid.parse(terms_cid)))
    except (HeritageError, ValueError):
        return None
    return document if isinstance(document, dict) else None


@item_app.command("show")
def item_show(item: Item, community: ClaimOpt = None, as_json: JsonFlag = False) -> None:
    """Show an item: its registered CID, community and steward (with their names), its terms
    in words (license, rights statement, labels by name, access), an open loan, metadata
    (or "withdrawn" after a revocation), batch, and the title of its current description."""
    from api.cli.words import open_loan, terms_in_words, terms_lines
    from ledger.registry import description_history

    with registrar_session() as (_, registrar):
        claim = registrar.reader.resolve(item, claimant(registrar, community))
        view = registrar.items.show(item, claimant(registrar, community))
        versions = () if claim.kind == "batch" else description_history(registrar.reader, claim)
        loan = open_loan(registrar.items.history(item, claimant(registrar, community)))
        name_of = _community_namer(registrar)
        terms_document = _terms_document(registrar, view.terms_cid)
        words = None if terms_document is None else terms_in_words(terms_document)
        community_text, steward_text = name_of(view.community), name_of(view.steward)
        borrower = None if loan is None else name_of(loan.fields["counterparty"])
    current = versions[-1] if versions else None
    withdrawn = view.metadata is None and view.metadata_cid is not None and view.revoked
    if as_json:
        print_json(
            view.to_json()
            | {
                "description": None if current is None else current.to_json(),
                "terms_in_words": words,
                "metadata_withdrawn": withdrawn,
                "loan": None
                if loan is None
                else {
                    "borrower": "0x" + bytes(loan.fields["counterparty"]).hex(),
                    "block": loan.block_number,
                    "since": _when(loan.timestamp),
                },
            }
        )
        return
    state = "REVOKED" if view.revoked else "current"
    lines = [
        f"{view.kind} 0x{view.key.hex()}",
        f"  cid         {view.registered_cid}",
        f"  community   {community_text}",
        f"  steward     {steward_text}",
    ]
    if loan is not None:
        lines.append(f"  on loan     to {borrower} since {_when(loan.timestamp)}")
    lines.append(f"  terms       {view.terms_cid} (version {view.terms_version}, {state})")
    if words is not None:
        lines.extend(f"              {line}" for line in terms_lines(words))
    else:
        lines.append("              (the terms document is not on this IPFS node)")
    lines.append(f"  metadata    {view.metadata_cid}")
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
    elif withdrawn:
        lines.append("              withdrawn: the terms were revoked and the metadata removed")
    elif view.metadata_cid is not None:
        lines.append("              (not on this IPFS node)")
    if current is not None:
        title = (
            "(sealed with the item)"
            if current.sealed
            else repr(current.title)
            if current.title is not None
            else f"(unreadable: {current.problem})"
        )
        lines.append(f"  title       {title} (description version {current.version})")
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


_HISTORY_FIELDS = (
    "version", "action_name", "counterparty", "community", "steward", "terms", "description",
)  # fmt: skip


@item_app.command("history")
def item_history(item: Item, community: ClaimOpt = None, as_json: JsonFlag = False) -> None:
    """Registration, terms changes, revocations, description corrections and custody events
    of an item, in order; terms and descriptions by their CIDs, communities with their names
    (``--json``: each entry's ``cids`` too)."""
    from api.cli.words import DIGEST_FIELDS, history_fields
    from ledger.documents import document_cid

    def cid_of(digest: bytes) -> str:
        return str(document_cid(digest))

    with registrar_session() as (_, registrar):
        entries = registrar.items.history(item, claimant(registrar, community))
        name_of = _community_namer(registrar)
        shown = [history_fields(e.fields, cid_of, name_of) for e in entries]
    if as_json:
        print_json(
            [
                e.to_json()
                | {
                    "cids": {
                        k: cid_of(v)
                        for k, v in e.fields.items()
                        if k in DIGEST_FIELDS
                        and isinstance(v, bytes)
                        and len(v) == 32
                        and v != bytes(32)
                    }
                }
                for e in entries
            ]
        )
        return
    for entry, fields in zip(entries, shown, strict=True):
        detail = ", ".join(f"{k}={v}" for k, v in fields.items() if k in _HISTORY_FIELDS)
        sys.stdout.write(
            f"{_when(entry.timestamp)}  block {entry.block_number}  {entry.event}  {detail}\n"
        )


@item_app.command("proof")
def item_proof(
    items: Annotated[list[str], typer.Argument(help="CIDs or 0x item keys.", metavar="ITEM...")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write proofs.json.")],
    as_json: JsonFlag = False,
) -> None:
    """Write everything needed to verify ITEMs offline (`heritage verify --proofs FILE`)."""
    from ledger.verify import gather, proofs_document

    with registrar_session() as (_, registrar):
        document = proofs_document(gather(registrar.reader, items))
    output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if as_json:
        print_json(
            {
                "path": str(output),
                "claims": document["claims"],
                "block": document["chain"]["snapshot"]["block_number"],
            }
        )
        return
    err.print(f"wrote proofs of {len(document['items'])} item(s) to {output}", markup=False)


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

    with registrar_session() as (_, registrar):
        result = export_bag(registrar.reader, item, output, claimant(registrar, community))
    if as_json:
        print_json(result)
    else:
        err.print(f"wrote the bag of {result['cid']} to {output}", markup=False)


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

    shown = to_checksum_address(key) if is_address(key) else key
    passphrase = read_passphrase(password_file, f"Passphrase of {shown}")
    with registrar_session() as (_, registrar):
        result = registrar.sealing.decrypt(
            item, key, passphrase, output, claimant(registrar, community)
        )
    if as_json:
        print_json(result.to_json())
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
