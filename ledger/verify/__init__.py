"""Verification: file or CID → recomputed CID → on-chain record → terms, signatures,
revocation, custody and lineage → a plainly worded report; online against the chain, or
offline from ``proofs.json`` or a preservation bag.

- :mod:`ledger.verify.evidence`: the evidence model and its strict JSON form;
- :mod:`ledger.verify.assess`: the pure check of evidence (no I/O), and the cache of checks
  a verification session owns;
- :mod:`ledger.verify.gather`: evidence from the chain, the event index and IPFS, read
  through :class:`ClaimReader` (a narrow read-only interface, never the write side);
- :mod:`ledger.verify.content`: a file's bytes hashed and checked against a CID;
- :mod:`ledger.verify.proofs`: ``proofs.json`` (published schema, sealed);
- :mod:`ledger.verify.sealed`: keyholders verifying their own restricted originals;
- :mod:`ledger.verify.report`: verdicts and exit statuses, online and offline;
- :mod:`ledger.verify.bag`: BagIt preservation packages;
- :mod:`ledger.verify.exhibit_proofs`: a file an exhibit site serves, judged against the
  site's ``proofs.json`` and its master's claim on chain.
"""

from ledger.verify.assess import Assessment, CheckCache, assess
from ledger.verify.bag import export_bag, verify_bag
from ledger.verify.evidence import Evidence
from ledger.verify.gather import ClaimReader, gather
from ledger.verify.proofs import load_schema, parse_proofs, proofs_document, read_proofs
from ledger.verify.report import Report, Status, verify_offline, verify_online
from ledger.verify.sealed import SealedReader

__all__ = [
    "Assessment",
    "CheckCache",
    "ClaimReader",
    "Evidence",
    "Report",
    "SealedReader",
    "Status",
    "assess",
    "export_bag",
    "gather",
    "load_schema",
    "parse_proofs",
    "proofs_document",
    "read_proofs",
    "verify_bag",
    "verify_offline",
    "verify_online",
]
