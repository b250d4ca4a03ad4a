"""Keyholders verify their own restricted originals.

A sealed (encrypted) item is registered by its ciphertext's CID; the chain holds a salted
commitment to its plaintext's CID (``crypto.plaintext_commitment``), and the sealed metadata,
readable only with the item's content key, holds the salt, the plaintext CID and the import
settings it was made with. A keyholder of a community that stewards sealed items can open
each envelope addressed to its key, hash the file with the recorded settings, and check it
against the commitment on chain: ``heritage verify FILE --key ADDR`` then reports the
holder's own restricted item as verified instead of unknown.

Candidates come from the event index: every item, derivative and batch of the communities
whose current keyholders include a key given here. Nothing about a restricted item is
printed unless this key opened its envelope: a file that matches none stays ``unknown``.

The reads this needs beyond gathering's are :class:`SealedReader`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ledger import crypto, strict_json
from ledger.chain import Record, claim_key, content_key
from ledger.errors import HeritageError
from ledger.index import EventIndex
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.verify.assess import _ZERO32, CheckCache, assess
from ledger.verify.content import ContentCheck, compute_cid
from ledger.verify.gather import ChainView, ClaimReader, Gathered, gather_on

__all__ = ["SealedContent", "SealedReader", "verify_sealed"]


class SealedContent(Protocol):
    """One file registered under a registry subject, with its metadata document."""

    @property
    def key(self) -> bytes: ...  # its content key
    @property
    def cid(self) -> Cid: ...  # the registered (for a sealed item: ciphertext) CID
    @property
    def metadata(self) -> Mapping[str, Any] | None: ...  # None: not on this node
    @property
    def sealed(self) -> bool: ...


class SealedReader(ClaimReader, Protocol):
    """:class:`ClaimReader` and the reads that find a keyholder's sealed items: what a
    community stewards now (subject, record), the files under a subject, and the envelope
    of an item for its steward's current keyholders."""

    def stewarded(self, community_id: bytes) -> list[tuple[bytes, Record]]: ...
    def contents(self, subject: bytes, record: Record) -> Sequence[SealedContent]: ...
    def current_envelope(
        self, key: bytes, subject: bytes, steward: bytes, sealed: Mapping[str, Any]
    ) -> Cid: ...
    def envelope(self, cid: Cid) -> crypto.Envelope: ...


def _communities_of(index: EventIndex, addresses: set[str]) -> list[bytes]:
    """The communities whose current keyholders include one of ``addresses`` (lower case)."""
    found: list[bytes] = []
    for row in index._rows("CommunityCreated", "1 = 1", ()):
        community = bytes(row["community"])
        record = index.community(community)
        if addresses & {k.lower() for k in record.keyholders}:
            found.append(community)
    return found


def verify_sealed(
    reader: SealedReader,
    index: EventIndex,
    view: ChainView,
    path: Path,
    holders: Sequence[tuple[str, crypto.EncryptionKeyPair]],
    cache: CheckCache,
) -> tuple[Gathered, bytes, ContentCheck] | None:
    """The evidence about the sealed claim whose plaintext ``path`` is, the claim key, and
    the content check against the commitment; None when no sealed item that one of
    ``holders`` (keyholder address, its opened encryption key) can open has this plaintext."""
    by_key = {keypair.public.key_id: keypair for _, keypair in holders}
    addresses = {address.lower() for address, _ in holders}
    hashed: dict[tuple[int, bool, int], Cid] = {}
    for community in _communities_of(index, addresses):
        for subject, record in reader.stewarded(community):
            for content in reader.contents(subject, record):
                if not content.sealed or content.metadata is None:
                    continue
                sealed = content.metadata
                try:
                    envelope = reader.envelope(
                        reader.current_envelope(content.key, subject, community, sealed)
                    )
                except HeritageError:
                    continue
                holder = next(
                    (by_key[r.key_id] for r in envelope.recipients if r.key_id in by_key), None
                )
                if holder is None:
                    continue
                try:
                    data_key = crypto.unwrap(envelope, holder, content.key)
                    private = strict_json.loads(
                        crypto.open_bytes(
                            data_key,
                            reader.node.block_get(Cid.parse(str(sealed["sealed_metadata"]))),
                            where="the sealed metadata",
                        )
                    )
                    imported = private["import"]
                    options = ImportOptions(
                        cid_version=int(imported["cid_version"]),
                        raw_leaves=bool(imported["raw_leaves"]),
                        chunk_size=int(imported["chunk_size"]),
                    )
                    salt = bytes.fromhex(str(private["commitment_salt"])[2:])
                except (HeritageError, KeyError, TypeError, ValueError):
                    continue  # not openable here, or not a sealed item's metadata
                settings = (options.cid_version, options.leaves_raw, options.chunk_size)
                if settings not in hashed:
                    hashed[settings] = compute_cid(path, options)
                computed = hashed[settings]
                if str(computed) != private.get("cid"):
                    continue
                gathered = gather_on(reader, index, view, [str(content.cid)])
                claim = claim_key(record.community, bytes(content.cid))
                item = gathered.evidence.item(claim)
                if item is None or content_key(bytes(content.cid)) != content.key:
                    continue
                # The commitment the chain holds (checked with the rest of the evidence).
                a, _ = assess(gathered.evidence, claim, cache)
                commitment = item.batch.commitment if item.batch is not None else (
                    a.record.commitment if a.kind == "item" else _ZERO32
                )
                matches = commitment != _ZERO32 and (
                    crypto.plaintext_commitment(salt, computed) == commitment
                )
                check = ContentCheck(
                    str(path), str(computed), a.cid, "commitment", matches
                )
                return gathered, claim, check
    return None

