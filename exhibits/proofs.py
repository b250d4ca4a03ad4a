"""``proofs.json``: each derived file a site serves, tied to its master's on-chain claim.

The document (docs/exhibit.md, "proofs.json"; read by the site's verify button and by
``heritage verify FILE --proofs proofs.json``)::

    {"type": "heritage/exhibit-proofs", "version": 1,
     "chain": {"chain_id", "registry"}, "built_at": "…Z",
     "items": {"0x<key>": {"claim": {key, community, cid, kind, block, transaction,
                                      terms_cid, terms_version},
                           "files": [{path, name, cid, size, media_type, import}],
                           "derivations": [DerivationRecord.to_json() …]}}}

Every file's CID is the one ``heritage cid`` gives (:func:`exhibits.derive.records.file_cid`),
and ``import`` spells out the settings that make it, so a verifier with no access to this
code can recompute it. Built from :class:`~exhibits.model.Exhibited` values only: an excluded
item has no way in. Pure and deterministic (the only time in it is ``built_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from exhibits.derive.cache import Hashes
from exhibits.derive.records import file_cid
from exhibits.model import ChainRef, Exhibited
from ledger.documents import DEFAULT_IMPORT
from ledger.errors import NaiveDatetime, UsageError
from ledger.ipfs.unixfs import MAX_LINKS

__all__ = ["IMPORT_SETTINGS", "PROOFS_TYPE", "PROOFS_VERSION", "proofs_document"]

PROOFS_TYPE: Final = "heritage/exhibit-proofs"
PROOFS_VERSION: Final = 1
#: The import settings of every derived file's CID: Kubo's defaults with raw leaves (CIDv1),
#: as ``heritage cid`` and ``ipfs add --cid-version 1`` use them.
IMPORT_SETTINGS: Final = {
    "cid_version": DEFAULT_IMPORT.cid_version,
    "raw_leaves": DEFAULT_IMPORT.leaves_raw,
    "chunk_size": DEFAULT_IMPORT.chunk_size,
    "hash": "sha2-256",
    "layout": "balanced",
    "max_links": MAX_LINKS,
}


def _when(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetime(
            "built_at has no time zone",
            hint="pass an aware datetime, e.g. datetime.now(UTC)",
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _transaction(item: str, value: str | None) -> str | None:
    """A transaction hash as the format writes it: ``0x`` and 64 lower-case hex digits."""
    if value is None:
        return None
    digits = value[2:] if value[:2] in ("0x", "0X") else value
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise UsageError(
            f"item {item}: the registering transaction {value!r} is not a transaction hash",
            hint="pass 0x and 64 hex digits, or None when it is not known",
        )
    return "0x" + digits.lower()


def _item(exhibited: Exhibited, hashes: Hashes | None) -> dict[str, Any]:
    candidate = exhibited.candidate
    item = exhibited.item_id
    files = []
    for derived in exhibited.files.files:
        computed = file_cid(derived.data) if hashes is None else hashes.cid(derived.data)
        if computed != derived.cid:
            raise UsageError(
                f"item {item}: the derived file {derived.name} does not give its listed CID",
                hint="derive it again (its cache entry may be damaged)",
            )
        files.append(
            {
                "path": f"items/{item}/files/{derived.name}",
                "name": derived.name,
                "cid": str(derived.cid),
                "size": len(derived.data),
                "media_type": derived.media_type,
                "import": dict(IMPORT_SETTINGS),
            }
        )
    listed = {str(output.get("cid")) for r in exhibited.files.records for output in r.outputs}
    for entry in files:
        if entry["cid"] not in listed:
            raise UsageError(
                f"item {item}: no derivation record lists {entry['name']}",
                hint="each derived file must come with the record of how it was made",
            )
    for record in exhibited.files.records:
        if record.master_cid != candidate.cid:
            raise UsageError(
                f"item {item}: a derivation record names another master than the item's CID",
                hint="derive the item from its own master",
            )
    return {
        "claim": {
            "key": item,
            "community": "0x" + candidate.community.hex(),
            "cid": str(candidate.cid),
            "kind": candidate.kind,
            "block": candidate.block,
            "transaction": _transaction(item, candidate.transaction),
            "terms_cid": None if candidate.terms_cid is None else str(candidate.terms_cid),
            "terms_version": candidate.terms_version,
        },
        "files": files,
        "derivations": [record.to_json() for record in exhibited.files.records],
    }


def proofs_document(
    chain: ChainRef,
    items: Sequence[Exhibited],
    *,
    built_at: datetime,
    hashes: Hashes | None = None,
) -> dict[str, Any]:
    """The proofs document of these shown items (JSON values, deterministic: items by id).

    Every derived file's CID is computed from its bytes; ``hashes`` (the build's, from
    :attr:`exhibits.derive.cache.DerivationCache.hashes`) answers for bytes it has already
    hashed in this build, so no file is hashed twice."""
    by_id: dict[str, dict[str, Any]] = {}
    for exhibited in items:
        if exhibited.item_id in by_id:
            raise UsageError(
                f"item {exhibited.item_id} is listed twice",
                hint="each shown claim is one item of the site",
            )
        by_id[exhibited.item_id] = _item(exhibited, hashes)
    return {
        "type": PROOFS_TYPE,
        "version": PROOFS_VERSION,
        "chain": {"chain_id": chain.chain_id, "registry": chain.registry},
        "built_at": _when(built_at),
        "items": {key: by_id[key] for key in sorted(by_id)},
    }
