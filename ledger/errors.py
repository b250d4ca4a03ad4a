"""One exception tree for the whole project.

Every error says what was wrong, with which input, and what to do. Each class carries a
stable machine-readable ``code`` that the CLI prints and the HTTP apps return, so scripts can
branch on it without parsing prose::

    HeritageError                     base of everything the project raises
    ├── ConfigError                   bad settings, data directory or environment
    ├── UsageError                    a caller passed something the operation cannot take
    │   ├── NoSuchFile                a path argument that names nothing on disk
    │   ├── LimitExceeded             input larger than a configured cap (HTTP 413)
    │   ├── AmbiguousClaim            several communities claim the content; pick one with -c
    │   ├── DuplicateClaim            the community already claims this content
    │   ├── DuplicateLeaves           a Merkle batch that holds the same leaf twice
    │   ├── InvalidDocument           a document of ours that breaks its schema (``problems``)
    │   │   ├── InvalidTerms          a terms document (CLI exit 4)
    │   │   ├── InvalidDescription    a description document (CLI exit 4)
    │   │   ├── InvalidCatalog        a catalog CSV: descriptions of many files (CLI exit 4)
    │   │   ├── InvalidExhibitSpec    an exhibit spec (CLI exit 4)
    │   │   └── InvalidExhibitProofs  an exhibit site's proofs.json (CLI exit 4)
    │   └── NaiveDatetime             a moment without a UTC offset, where one is needed
    ├── NotFound                      a thing that was asked for is not there (HTTP 404)
    │   └── BlockNotFound
    ├── IpfsError                     content addressing, blocks, DAGs, CAR files
    │   ├── InvalidCid                a string or bytes that is not a CID we can use
    │   ├── UnsupportedCodec          a codec or hash function we do not handle
    │   ├── MalformedBlock            bytes that do not decode as their codec says
    │   │   └── DagTooDeep            a DAG nested deeper than the node will walk (HTTP 422)
    │   ├── CorruptBlock              stored bytes that no longer hash to their CID
    │   ├── CarError                  a CAR file that cannot be imported as a whole
    │   ├── UnsafePath                an archive name that would escape its target
    │   ├── ShardingRequired          a directory too large for a single dag-pb node
    │   └── RemoteNodeError           a remote IPFS node failed or is unsupported
    ├── ChainError                    the EVM chain, the local node, the registry deployment
    │   ├── ChainUnavailable          no chain answers at the configured RPC URL (CLI exit 3)
    │   ├── RegistryReverted          the registry refused a call: its custom error, decoded
    │   └── JournalCorrupt            a file in <data dir>/journal/ that cannot be read back
    ├── ConsentError                  offline k-of-n consent: request and signature files
    │   ├── ConsentFileInvalid        a request or signature file that does not parse (exit 2)
    │   ├── ConsentMismatch           a signature for another request, or by a non-keyholder
    │   ├── ConsentIncomplete         fewer than k keyholders have signed
    │   ├── ConsentExpired            the request's deadline has passed
    │   └── ConsentStale              the chain changed since the request was made
    ├── KeystoreError                 keystore files in <data dir>/keys/
    │   ├── KeyExists                 a key with that address is already in the keystore
    │   └── WrongPassphrase           the passphrase does not decrypt the keystore file
    ├── CryptoError                   encryption of restricted items (ledger.crypto)
    │   └── DecryptionFailed          a ciphertext or wrapped key that does not authenticate
    ├── InvalidMedia                  a master file that does not decode as the media it claims
    ├── LeakFound                     a built exhibit holds a form of an excluded item (``hits``)
    ├── EventIndexError               the SQLite event index (index.sqlite)
    │   └── IndexSchemaMismatch       index.sqlite has another schema version
    └── EvidenceInvalid               a proofs file or BagIt bag whose parts do not hold together
        └── EvidenceMalformed         a proofs file or bag that cannot even be read (CLI exit 2)

The CLI's exit statuses are :class:`ExitCode`, the one table (docs/exit-codes.md); each error
names its status in ``exit_code``.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "AmbiguousClaim",
    "BlockNotFound",
    "CarError",
    "ChainError",
    "ChainUnavailable",
    "ConfigError",
    "ConsentError",
    "ConsentExpired",
    "ConsentFileInvalid",
    "ConsentIncomplete",
    "ConsentMismatch",
    "ConsentStale",
    "CorruptBlock",
    "CryptoError",
    "DagTooDeep",
    "DecryptionFailed",
    "DuplicateClaim",
    "DuplicateLeaves",
    "EventIndexError",
    "EvidenceInvalid",
    "EvidenceMalformed",
    "ExitCode",
    "HeritageError",
    "IndexSchemaMismatch",
    "InvalidCatalog",
    "InvalidCid",
    "InvalidDescription",
    "InvalidDocument",
    "InvalidExhibitProofs",
    "InvalidExhibitSpec",
    "InvalidMedia",
    "InvalidTerms",
    "IpfsError",
    "JournalCorrupt",
    "KeyExists",
    "KeystoreError",
    "LeakFound",
    "LimitExceeded",
    "MalformedBlock",
    "NaiveDatetime",
    "NoSuchFile",
    "NotFound",
    "RegistryReverted",
    "RemoteNodeError",
    "ShardingRequired",
    "UnsafePath",
    "UnsupportedCodec",
    "UsageError",
    "WrongPassphrase",
]


class ExitCode(enum.IntEnum):
    """Every exit status of the ``heritage`` CLI, in one place (docs/exit-codes.md is the same
    table, checked by a test). A status names one outcome for every command, except 3 and 4,
    which ``terms check`` (a command that never reads the chain) gives its own meanings."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    CHAIN_UNAVAILABLE = 3
    TERMS_DENIED = 3  # `terms check`: the document does not allow public display now
    TERMS_INVALID = 4  # `terms check`: the document breaks the schema
    SPEC_INVALID = 4  # `exhibit build`: the exhibit spec breaks its schema
    DESCRIPTION_INVALID = 4  # `item register|describe`: the description breaks its schema
    CATALOG_INVALID = 4  # `item register --catalog`: a row or column of the catalog CSV is wrong
    PROOFS_INVALID = 4  # `verify --proofs`: an exhibit's proofs.json breaks its schema
    CONSENT_PENDING = 5  # `consent status` / `consent submit`: signatures are missing
    KEYHOLDERS_CHANGED = 10  # `verify`: verified, but the signing keyholders were replaced
    REVOKED = 11
    TAMPERED = 12
    UNKNOWN = 13
    SIGNATURE_FAILURE = 14
    DISPUTED = 15  # `verify`: two or more communities claim the content
    PARENT_REVOKED = 16  # `verify`: a derivative whose parent's claim is revoked
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class HeritageError(Exception):
    """Base of every error the project raises on purpose."""

    code: str = "heritage_error"
    http_status: int = 400
    exit_code: int = ExitCode.FAILURE  # for the CLI: one of ExitCode, nothing else

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(HeritageError):
    code = "config_error"


class UsageError(HeritageError):
    code = "usage_error"
    exit_code = ExitCode.USAGE


class NoSuchFile(UsageError):
    """A path argument that names nothing on disk."""

    code = "no_such_file"


class LimitExceeded(UsageError):
    code = "limit_exceeded"
    http_status = 413


class NotFound(HeritageError):
    code = "not_found"
    http_status = 404


class IpfsError(HeritageError):
    code = "ipfs_error"


class BlockNotFound(NotFound, IpfsError):
    code = "block_not_found"


class InvalidCid(IpfsError):
    code = "invalid_cid"
    exit_code = ExitCode.USAGE


class UnsupportedCodec(IpfsError):
    code = "unsupported_codec"


class MalformedBlock(IpfsError):
    code = "malformed_block"


class DagTooDeep(MalformedBlock):
    """A DAG nested deeper than the node walks: refused before any byte of it is sent."""

    code = "dag_too_deep"
    http_status = 422


class CorruptBlock(IpfsError):
    code = "corrupt_block"
    http_status = 500

    def __init__(self, cid: str, path: str) -> None:
        self.cid = cid
        self.path = path
        super().__init__(
            f"block {cid} stored at {path} does not hash to its CID",
            hint="run `heritage ipfs verify`, then re-import the block from a good copy",
        )


class CarError(IpfsError):
    code = "car_invalid"


class UnsafePath(IpfsError):
    code = "unsafe_path"


class ShardingRequired(IpfsError):
    code = "sharding_required"


class RemoteNodeError(IpfsError):
    code = "remote_node_error"
    http_status = 502


class ChainError(HeritageError):
    code = "chain_error"
    http_status = 502


class ChainUnavailable(ChainError):
    code = "chain_unavailable"
    http_status = 503
    exit_code = ExitCode.CHAIN_UNAVAILABLE  # every command that needs the chain


class AmbiguousClaim(UsageError):
    """Several communities claim the content an ITEM names, and none was picked."""

    code = "ambiguous_claim"
    http_status = 409


class DuplicateClaim(UsageError):
    """The community already claims this content (alone, in a batch or as a derivative)."""

    code = "duplicate_claim"
    http_status = 409


class DuplicateLeaves(UsageError):
    code = "duplicate_leaves"


class InvalidDocument(UsageError):
    """A document of ours (terms, description, exhibit spec) that is not valid: ``problems``
    holds one entry per broken rule, each with ``pointer`` (RFC 6901 JSON pointer), ``rule``
    and ``message``."""

    code = "invalid_document"

    def __init__(self, message: str, *, problems: tuple[Any, ...], hint: str | None = None) -> None:
        self.problems = problems
        super().__init__(message, hint=hint)


class InvalidTerms(InvalidDocument):
    """A terms document that is not valid (see :class:`InvalidDocument`)."""

    code = "invalid_terms"
    exit_code = ExitCode.TERMS_INVALID  # `heritage terms check`: 0 allowed, 3 denied, 4 invalid


class InvalidDescription(InvalidDocument):
    """A description document that is not valid (see :class:`InvalidDocument`)."""

    code = "invalid_description"
    exit_code = ExitCode.DESCRIPTION_INVALID


class InvalidCatalog(InvalidDocument):
    """A catalog CSV (descriptions of many files, docs/catalog.md) that is not valid: each
    problem names its row, column and rule (see :class:`InvalidDocument`)."""

    code = "invalid_catalog"
    exit_code = ExitCode.CATALOG_INVALID


class InvalidExhibitSpec(InvalidDocument):
    """An exhibit spec (TOML) that is not valid (see :class:`InvalidDocument`)."""

    code = "invalid_exhibit_spec"
    exit_code = ExitCode.SPEC_INVALID


class InvalidExhibitProofs(InvalidDocument):
    """An exhibit site's ``proofs.json`` that is not valid: too large, not JSON, off its
    schema, or contradicting itself (see :class:`InvalidDocument`)."""

    code = "invalid_exhibit_proofs"
    exit_code = ExitCode.PROOFS_INVALID


class NaiveDatetime(UsageError):
    code = "naive_datetime"


class InvalidMedia(HeritageError):
    """A master file (an image, a model, a recording) that does not decode as what it claims to
    be: truncated, corrupt or another kind of file. Deriving from it fails; the master itself is
    left as it is."""

    code = "invalid_media"
    http_status = 422


class LeakFound(HeritageError):
    """A built exhibit site holds a form of an excluded item's CID, key, title or file name, or
    something the leak scan cannot check (a symbolic link, a compressed file that does not
    decompress). ``hits`` holds the scan's hits: labels, paths and forms, never a secret."""

    code = "leak_found"
    http_status = 500

    def __init__(self, message: str, *, hits: tuple[Any, ...], hint: str | None = None) -> None:
        self.hits = hits
        super().__init__(message, hint=hint)


class ConsentError(HeritageError):
    code = "consent_error"


class ConsentFileInvalid(ConsentError):
    code = "consent_file_invalid"
    exit_code = ExitCode.USAGE


class ConsentMismatch(ConsentError):
    code = "consent_mismatch"


class ConsentIncomplete(ConsentError):
    code = "consent_incomplete"
    http_status = 409
    exit_code = ExitCode.CONSENT_PENDING  # as `heritage consent status` says it


class ConsentExpired(ConsentError):
    code = "consent_expired"
    http_status = 409


class ConsentStale(ConsentError):
    code = "consent_stale"
    http_status = 409


class KeystoreError(HeritageError):
    code = "keystore_error"


class KeyExists(KeystoreError):
    code = "key_exists"


class WrongPassphrase(KeystoreError):
    code = "wrong_passphrase"


class CryptoError(HeritageError):
    code = "crypto_error"


class DecryptionFailed(CryptoError):
    """Nothing of the plaintext is released: the ciphertext, the envelope or the key is wrong."""

    code = "decryption_failed"


class EventIndexError(HeritageError):
    code = "index_error"


class IndexSchemaMismatch(EventIndexError):
    code = "index_schema_mismatch"


class EvidenceInvalid(HeritageError):
    """Offline evidence (``proofs.json``, a preservation bag) that contradicts itself: a digest,
    a transaction hash, a Merkle proof or a field that does not match what it claims."""

    code = "evidence_invalid"


class EvidenceMalformed(EvidenceInvalid):
    """Offline evidence that is not even well-formed (not JSON, not the published schema)."""

    code = "evidence_malformed"
    exit_code = ExitCode.USAGE


class RegistryReverted(ChainError):
    """The registry reverted a call or transaction; ``error_name`` and ``error_args`` are its
    custom error, decoded from the ABI by selector ("Unknown" when no entry matches)."""

    code = "registry_reverted"
    http_status = 409

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        error_name: str,
        error_args: dict[str, Any],
        selector: bytes,
        data: bytes,
        function: str,
        tx_hash: bytes | None = None,
    ) -> None:
        self.error_name = error_name
        self.error_args = error_args
        self.selector = selector
        self.data = data
        self.function = function
        self.tx_hash = tx_hash
        super().__init__(message, hint=hint)


class JournalCorrupt(ChainError):
    code = "journal_corrupt"
    http_status = 500
