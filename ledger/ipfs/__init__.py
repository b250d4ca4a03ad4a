"""Content addressing and the embedded IPFS node.

Public surface: CIDs, the Kubo-identical UnixFS importer, the blockstore, CAR files and the
``IpfsBackend`` Protocol with its embedded and remote (Kubo) implementations.
"""

from ledger.ipfs.backend import CarImportResult, EmbeddedNode, IpfsBackend, KuboNode, open_backend
from ledger.ipfs.blockstore import Blockstore, CorruptEntry
from ledger.ipfs.car import CarReader, write_car
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid
from ledger.ipfs.unixfs import (
    ImportedEntry,
    ImportOptions,
    import_bytes,
    import_path,
    import_stream,
)

__all__ = [
    "DAG_CBOR",
    "DAG_PB",
    "RAW",
    "Blockstore",
    "CarImportResult",
    "CarReader",
    "Cid",
    "CorruptEntry",
    "EmbeddedNode",
    "ImportOptions",
    "ImportedEntry",
    "IpfsBackend",
    "KuboNode",
    "import_bytes",
    "import_path",
    "import_stream",
    "open_backend",
    "write_car",
]
