"""Staging: files added to the IPFS node for a registration, before anything is sent.

Each file is added unpinned with its metadata document built; under terms that require
encryption it is encrypted first and only its ciphertext reaches the node (see
docs/encryption.md). A description given with the file is bound into its metadata document
(``"description"``: the description document itself), so the registration's k-of-n
signatures over the metadata digest cover it; a sealed item's goes into its sealed metadata,
so it is sealed exactly as the rest of its metadata is (docs/description.md). Content the
acting community already claims is refused, and everything is pinned only once every check
has passed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import crypto
from ledger.chain import content_key
from ledger.documents import (
    MAX_DOCUMENT_BYTES,
    SEALED_ITEM_TYPE,
    canonical_json,
    metadata_document,
)
from ledger.errors import DuplicateClaim, DuplicateLeaves, LimitExceeded, UsageError
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import ImportedEntry, ImportOptions, import_path
from ledger.registry.reader import RegistryReader
from ledger.registry.results import OtherClaim, to_hex
from ledger.registry.session import RegistrySession
from ledger.rights.description import Description

__all__ = ["Prepared", "Progress", "Seal", "Staging"]

#: ``progress(stage, done, total)``: stage is "encrypting" (files under terms that require it),
#: "adding" (files) or "registering" (items).
Progress = Callable[[str, int, int], None]


def _described(
    document: dict[str, Any], description: Description | None, path: Path
) -> bytes:
    """The canonical metadata ``document`` with ``description`` bound into it (none: as it
    is); LimitExceeded when the result would not fit in one block."""
    if description is not None:
        document = {**document, "description": description.to_json()}
    data = canonical_json(document)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise LimitExceeded(
            f"the metadata of {path} with its description is {len(data)} bytes, more than "
            "one 1 MiB block",
            hint="shorten the description (a transcript is the usual culprit); nothing was "
            "sent",
        )
    return data


@dataclass(frozen=True, slots=True)
class Prepared:
    """One file added (unpinned) and its canonical metadata document."""

    path: Path
    entry: ImportedEntry
    metadata: bytes  # canonical document
    # restricted items: the record's commitment, and the raw blocks (envelope, sealed
    # metadata) the metadata document names
    commitment: bytes = bytes(32)
    blocks: tuple[bytes, ...] = ()
    sealed: bool = False

    @property
    def metadata_digest(self) -> bytes:
        return hashlib.sha256(self.metadata).digest()


@dataclass(frozen=True, slots=True)
class Seal:
    """Restricted items of one registration are sealed for these recipients (the keyholders'
    encryption keys named by the community's current, keyholder-signed document)."""

    community: bytes
    recipients: tuple[crypto.EncryptionPublicKey, ...]


class Staging:
    """Adds, checks and pins the files of one registration."""

    def __init__(self, session: RegistrySession, reader: RegistryReader) -> None:
        self.session = session
        self.reader = reader

    def prepare(
        self,
        paths: Sequence[Path],
        options: ImportOptions,
        progress: Progress | None,
        seal: Seal | None = None,
        descriptions: Sequence[Description | None] | None = None,
    ) -> list[Prepared]:
        """Add each file (unpinned) and build its metadata document, with its description
        (``descriptions``: one per path, or None) bound into it; with ``seal`` (terms that
        require encryption), only each file's ciphertext ever reaches the node, and its
        description only inside its sealed metadata."""
        if descriptions is not None and len(descriptions) != len(paths):
            raise UsageError("one description (or none) per file", hint="nothing was sent")
        prepared: list[Prepared] = []
        for i, path in enumerate(paths):
            description = None if descriptions is None else descriptions[i]
            if seal is not None:
                if progress is not None:  # encryption is the long part: say it has started
                    progress("encrypting", i, len(paths))
                prepared.append(self.prepare_sealed(path, options, seal, description))
                if progress is not None:
                    progress("encrypting", i + 1, len(paths))
            else:
                entry = self.session.node.add_path(path, options, pin=False)[-1]
                meta = metadata_document(entry.cid, path.name, entry.filesize, options)
                prepared.append(Prepared(path, entry, _described(meta, description, path)))
            if progress is not None:
                progress("adding", i + 1, len(paths))
        return prepared

    def prepare_sealed(
        self,
        path: Path,
        options: ImportOptions,
        seal: Seal,
        description: Description | None = None,
    ) -> Prepared:
        """Encrypt ``path`` and add the ciphertext (unpinned); never the plaintext.

        The item is keyed by the ciphertext's CID; its public metadata is a
        "heritage/sealed-item" document (ciphertext CID, size and import settings, envelope
        CID, sealed metadata CID); the commitment is plaintext_commitment(salt, plaintext
        CID); the plaintext's metadata (name, size, media type, CID, salt, and its description when
        there is one) is sealed with the item's content key."""
        data_key = crypto.new_content_key()
        # Hashing only (no block sink): the plaintext's CID, computed without storing a block.
        plain = import_path(path, options)[-1]
        cipher_path = self.session.temp_dir() / f"{os.urandom(12).hex()}.sealed"
        try:
            crypto.encrypt_file(data_key, path, cipher_path)
            entry = self.session.node.add_path(cipher_path, options, pin=False)[-1]
        finally:
            cipher_path.unlink(missing_ok=True)
        salt = os.urandom(crypto.SALT_BYTES)
        commitment = crypto.plaintext_commitment(salt, plain.cid)
        private = {
            **metadata_document(plain.cid, path.name, plain.filesize, options),
            "commitment_salt": to_hex(salt),
            "commitment": to_hex(commitment),
        }
        sealed_metadata = crypto.seal_bytes(data_key, _described(private, description, path))
        if len(sealed_metadata) > MAX_DOCUMENT_BYTES:  # sealing adds a header and tags
            raise LimitExceeded(
                f"the sealed metadata of {path} with its description is {len(sealed_metadata)} "
                "bytes, more than one 1 MiB block",
                hint="shorten the description; nothing was sent",
            )
        envelope = crypto.wrap(data_key, content_key(bytes(entry.cid)), seal.recipients)
        envelope_bytes = canonical_json(envelope.to_document())
        public = {
            "type": SEALED_ITEM_TYPE,
            "version": 1,
            "cid": str(entry.cid),
            "size": entry.filesize,
            "encryption": {"format": "heritage-stream-v1", "purpose": "content"},
            "import": metadata_document(entry.cid, "", entry.filesize, options)["import"],
            "envelope": str(Cid.for_block(envelope_bytes, RAW)),
            "sealed_metadata": str(Cid.for_block(sealed_metadata, RAW)),
        }
        return Prepared(
            path,
            entry,
            canonical_json(public),
            commitment=commitment,
            blocks=(envelope_bytes, sealed_metadata),
            sealed=True,
        )

    def pin_all(self, prepared: Sequence[Prepared]) -> list[Cid]:
        """Pin each file, its blocks and its metadata document: the metadata CIDs."""
        node = self.session.node
        metadata: list[Cid] = []
        for p in prepared:
            node.pin_add(p.entry.cid, recursive=True)
            for block in p.blocks:
                node.pin_add(node.block_put(block, RAW), recursive=False)
            cid = node.block_put(p.metadata, RAW)
            node.pin_add(cid, recursive=False)
            metadata.append(cid)
        return metadata

    def new_claims(
        self, community: bytes, prepared: Sequence[Prepared], where: str
    ) -> dict[bytes, tuple[OtherClaim, ...]]:
        """Content key → the other communities' claims on it, for content ``community`` is
        about to claim; DuplicateLeaves for content given twice, DuplicateClaim (nothing sent)
        for content the community already claims, alone, in a batch or as a derivative."""
        seen: dict[bytes, Path] = {}
        others: dict[bytes, tuple[OtherClaim, ...]] = {}
        for p in prepared:
            cid = bytes(p.entry.cid)
            content = content_key(cid)
            if content in seen:
                raise DuplicateLeaves(
                    f"{p.path} and {seen[content]} are the same content ({p.entry.cid}) in "
                    f"{where}",
                    hint="each file may be registered once; remove the repeat; nothing was sent",
                )
            seen[content] = p.path
            claims, _ = self.reader.claims_on(cid)
            for claim in claims:
                if claim.community == community:
                    raise DuplicateClaim(
                        f"{p.path} ({p.entry.cid}) is already claimed by this community, as "
                        f"{claim.kind} {to_hex(claim.key)}",
                        hint="`heritage item show` it; nothing was sent",
                    )
            others[content] = tuple(OtherClaim(c.key, c.community, c.kind) for c in claims)
        return others
