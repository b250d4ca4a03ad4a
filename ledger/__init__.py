"""Heritage Ledger core: content addressing, rights, consent, the chain client, the event
index, the registry's workflows and verification. It imports nothing from ``api``,
``exhibits`` or ``local_chain`` (tests/test_architecture.py holds it to that).

Modules and packages, from the ground up::

    errors        one exception tree and the exit codes it maps to
    settings      HERITAGE_* settings and the data directory
    documents     canonical JSON, document CIDs, JSON document parsing (pure)
    strict_json   JSON parsing that refuses duplicates, NaN and deep nesting
    merkle        OpenZeppelin StandardMerkleTree leaves, roots and proofs
    crypto, kems  envelope encryption of restricted items (HPKE, hybrid ML-KEM + X25519)
    keys          the keystore: signing keys and encryption keys, one loader
    ipfs/         CIDs, UnixFS, blockstore, CAR, tree assembly, pins, the node backends
    rights/       the rights model and the display-policy compiler
    consent/      EIP-712 typed data and the offline k-of-n consent protocol
    chain/        the registry client, the one JSON-RPC transport, deployment files
    index/        the SQLite mirror of registry events, rebuildable from the chain
    registry/     the write-side workflows (communities, items, terms, custody, …)
    verify/       file or CID → evidence → assessment → report; proofs and bags
"""

__version__ = "0.1.0"
