"""Documents: the pure byte forms the ledger stores and signs.

Documents (community, item metadata, terms, method, custody, batch manifest) are canonical
JSON (RFC 8785: sorted keys, no spaces, UTF-8) stored as single raw blocks, so each is named
by ``CIDv1(raw, sha2-256(document))`` and its digest is the ``bytes32`` the registry holds.
Nothing here does I/O beyond reading a file it is given.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath
from typing import Any, Final

import rfc8785
from eth_utils.crypto import keccak

from ledger import strict_json
from ledger.errors import LimitExceeded, UsageError
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import ImportOptions

__all__ = [
    "DEFAULT_IMPORT",
    "ENVELOPE_INDEX_TYPE",
    "EXTRA_MEDIA_TYPES",
    "MAX_DOCUMENT_BYTES",
    "SEALED_ITEM_TYPE",
    "canonical_json",
    "community_salt",
    "document_cid",
    "media_type_of",
    "metadata_document",
    "parse_bytes32",
    "parse_community_id",
    "parse_json_document",
    "read_json_file",
]

#: What registration uses unless told otherwise: CIDv1, raw leaves, 256 KiB chunks.
DEFAULT_IMPORT: Final = ImportOptions(cid_version=1)
#: A document is one raw block; IPFS nodes refuse blocks over 1 MiB from the network.
MAX_DOCUMENT_BYTES: Final = 1 << 20
#: The public metadata document of a sealed (encrypted) item; see docs/encryption.md.
SEALED_ITEM_TYPE: Final = "heritage/sealed-item"
#: The envelopes re-wrapped by a keyholder rotation, named by the new community document.
ENVELOPE_INDEX_TYPE: Final = "heritage/envelope-index"
_COMMUNITY_DOMAIN: Final = b"heritage-ledger/community\x00"


def canonical_json(value: Any) -> bytes:
    """The one byte form of a document: the JSON Canonicalization Scheme (RFC 8785)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise UsageError(
            f"this document has no canonical JSON form: {exc}",
            hint="numbers must be finite and integers within ±2**53 (I-JSON, RFC 7493)",
        ) from None


def parse_json_document(data: bytes, where: str) -> dict[str, Any]:
    """A JSON object from ``data`` (UTF-8, no NaN/Infinity), or :class:`UsageError`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise LimitExceeded(
            f"{where} is {len(data)} bytes; a document is one block of at most 1 MiB"
        )
    try:
        document = strict_json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{where} is not JSON: {exc}", hint="pass a UTF-8 JSON file") from None
    if not isinstance(document, dict):
        raise UsageError(
            f"{where} is JSON but not an object ({type(document).__name__})",
            hint='a document is a JSON object, e.g. {"license": "CC-BY-4.0"}',
        )
    return document


def read_json_file(path: Path) -> dict[str, Any]:
    """The JSON object in the file at ``path``."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    return parse_json_document(path.read_bytes(), str(path))


def document_cid(digest: bytes) -> Cid:
    """The CID of a document from its sha2-256 digest: CIDv1(raw, digest)."""
    return Cid.from_digest(digest, RAW)


def community_salt(name: str) -> bytes:
    """The salt a community named ``name`` is created with: keccak256 of a domain tag and the
    UTF-8 name. The registry derives the id from the salt and the initial keyholder set
    (:func:`ledger.chain.community_id`), so a name resolves through the salts on chain."""
    if not name.strip():
        raise UsageError("a community name cannot be empty")
    return keccak(_COMMUNITY_DOMAIN + name.encode("utf-8"))


def parse_bytes32(text: str) -> bytes | None:
    """The 32 bytes of ``text`` if it is ``0x`` and 64 hex digits; None otherwise."""
    body = text[2:] if text[:2] in ("0x", "0X") else None
    if body is None or len(body) != 64:
        return None
    try:
        return bytes.fromhex(body)
    except ValueError:
        return None


def parse_community_id(text: str) -> bytes | None:
    """The id in ``text`` if it is ``0x`` and 64 hex digits; None for a name."""
    key = parse_bytes32(text)
    if key is None and text.startswith(("0x", "0X")):
        raise UsageError(
            f"{text!r} is not a 32-byte community id", hint="0x followed by 64 hex digits"
        )
    return key


#: Media types Python's table lacks, by extension. PLY has no IANA registration (the model/
#: tree of RFC 2077 holds obj, stl, mtl, gltf, but no ply), so it takes the unregistered
#: form in the same tree, as its siblings' type and common practice (file sniffers, web
#: frameworks' tables) have it; ``model/ply`` and ``application/x-ply`` are read as models too
#: (exhibits.derive.dispatch).
EXTRA_MEDIA_TYPES: Final = {".ply": "model/x-ply"}


def media_type_of(name: str) -> str:
    """The media type of a file named ``name``: Python's table, then
    :data:`EXTRA_MEDIA_TYPES`; ``application/octet-stream`` when neither knows it."""
    media_type, _ = mimetypes.guess_type(name, strict=False)
    if media_type is None:
        media_type = EXTRA_MEDIA_TYPES.get(PurePosixPath(name).suffix.lower())
    return media_type or "application/octet-stream"


def metadata_document(cid: Cid, name: str, size: int, options: ImportOptions) -> dict[str, Any]:
    """An item's metadata: enough to recompute its CID from the file (the import settings)."""
    media_type = media_type_of(name)
    return {
        "type": "heritage/item-metadata",
        "version": 1,
        "cid": str(cid),
        "name": name,
        "size": size,
        "media_type": media_type,
        "import": {
            "cid_version": options.cid_version,
            "raw_leaves": options.leaves_raw,
            "chunk_size": options.chunk_size,
            "chunker": f"size-{options.chunk_size}",
            "layout": "balanced",
            "max_links": 174,
            "hash": "sha2-256",
        },
    }
