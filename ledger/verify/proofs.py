"""``proofs.json``: evidence about items, written so that it can be checked with no chain.

The document (published schema: ``ledger/schemas/proofs.schema.json``)::

    {"type": "heritage/proofs", "version": 2,
     "chain": {"chain_id", "registry", "snapshot": {"block_number", "block_hash"}},
     "claims": ["0x…" ...],
     "items": [ {item, community, cid, kind, registration, events, batch} ... ],
     "communities": [ {community, events: [CommunityCreated, KeyholdersRotated ...]} ... ],
     "documents": [ {cid, data (base64)} ... ],
     "records": [ {item, record_key, record, digest} ... ],
     "signatures": [ {event, tx_hash, primary_type, typed_data, digest, keyholders,
                      threshold, signers} ... ],
     "seal": "0x…"}

A claim is one community's claim on some bytes: ``item`` is its claim key,
``keccak256(abi.encode(community, keccak256(cid)))``, and ``community`` the claimant. ``claims``
lists the claims the file was written for (for a CID: every community's claim on it, in chain
order); the other items are the parents of derivatives among them. Version 1 files (items
keyed by CID alone) predate claims and are refused.

Every event carries its raw signed transaction, from which signatures and deadlines are read;
for readers and other tools, ``records`` spells out each item's registry record and the digest
the registry stores for it (``records(key)`` on chain), and ``signatures`` each EIP-712
message and who signed it — a reader recomputes both and refuses a file whose copy differs.
``seal`` is the sha2-256 of the RFC 8785 canonical form of everything else, so that an edit
anywhere, even in a field no other check covers (a block hash, a timestamp), is refused. The
seal proves nothing about who wrote the file; the signatures and transaction hashes do that.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, Final

import jsonschema
import rfc8785

from ledger import strict_json
from ledger.errors import EvidenceInvalid, EvidenceMalformed, LimitExceeded
from ledger.verify.assess import CheckCache, derived_records
from ledger.verify.evidence import (
    ChainEvent,
    Evidence,
    ItemEvidence,
    _bytes,
    _int,
    _str,
    document_bytes,
)

__all__ = [
    "MAX_PROOFS_BYTES",
    "PROOFS_TYPE",
    "load_schema",
    "parse_proofs",
    "proofs_document",
    "read_proofs",
]

PROOFS_TYPE: Final = "heritage/proofs"
PROOFS_VERSION: Final = 2
#: A proofs file larger than this is refused before it is parsed.
MAX_PROOFS_BYTES: Final = 256 << 20


@cache
def load_schema(name: str) -> Mapping[str, Any]:
    """A published JSON Schema from ``ledger/schemas/`` (``proofs`` or ``verify-report``)."""
    text = resources.files("ledger").joinpath("schemas", f"{name}.schema.json").read_text()
    schema: Mapping[str, Any] = json.loads(text)
    return schema


def _seal(document: Mapping[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "seal"}
    return "0x" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def proofs_document(evidence: Evidence, cache: CheckCache | None = None) -> dict[str, Any]:
    """The JSON form of ``evidence``, sealed."""
    document: dict[str, Any] = {
        "type": PROOFS_TYPE,
        "version": PROOFS_VERSION,
        "chain": {
            "chain_id": evidence.chain_id,
            "registry": evidence.registry,
            "snapshot": {
                "block_number": evidence.snapshot_block,
                "block_hash": "0x" + evidence.snapshot_hash.hex(),
            },
        },
        "claims": ["0x" + k.hex() for k in evidence.claim_keys],
        "items": [i.to_json() for i in evidence.items],
        "communities": [
            {"community": "0x" + c.hex(), "events": [e.to_json() for e in events]}
            for c, events in sorted(evidence.communities.items())
        ],
        "documents": [
            {"cid": cid, "data": base64.b64encode(data).decode("ascii")}
            for cid, data in sorted(evidence.documents.items())
        ],
        **derived_records(evidence, cache),
    }
    document["seal"] = _seal(document)
    return document


def parse_proofs(
    document: Any, where: str = "proofs.json", cache: CheckCache | None = None
) -> Evidence:
    """The evidence in a proofs document: schema, seal and signature records checked."""
    if isinstance(document, dict) and document.get("version") == 1:
        raise EvidenceMalformed(
            f"{where} is a version 1 proofs file, written before claims were keyed by "
            "community and content",
            hint="export the proofs again with `heritage item proof`",
        )
    try:
        jsonschema.validate(document, load_schema("proofs"))
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise EvidenceMalformed(
            f"{where} does not follow the proofs schema at {path}: {exc.message[:200]}",
            hint="pass a file written by `heritage item proof`",
        ) from None
    if document["seal"] != _seal(document):
        raise EvidenceInvalid(
            f"{where} was changed after it was written: its seal does not match its content",
            hint="export the proofs again with `heritage item proof`",
        )
    chain = document["chain"]
    communities: dict[bytes, tuple[ChainEvent, ...]] = {}
    for i, entry in enumerate(document["communities"]):
        key = _bytes(entry["community"], f"communities[{i}].community", 32)
        if key in communities:
            raise EvidenceInvalid(f"{where} lists community 0x{key.hex()} twice")
        communities[key] = tuple(
            ChainEvent.from_json(e, f"communities[{i}].events[{j}]")
            for j, e in enumerate(entry["events"])
        )
    documents: dict[str, bytes] = {}
    for i, entry in enumerate(document["documents"]):
        documents[_str(entry["cid"], f"documents[{i}].cid")] = document_bytes(
            entry["data"], f"documents[{i}].data"
        )
    evidence = Evidence(
        chain_id=_int(chain["chain_id"], "chain.chain_id"),
        registry=chain["registry"],
        snapshot_block=_int(chain["snapshot"]["block_number"], "chain.snapshot.block_number"),
        snapshot_hash=_bytes(chain["snapshot"]["block_hash"], "chain.snapshot.block_hash", 32),
        items=tuple(
            ItemEvidence.from_json(item, f"items[{i}]") for i, item in enumerate(document["items"])
        ),
        communities=communities,
        documents=documents,
        claims=tuple(
            _bytes(k, f"claims[{i}]", 32) for i, k in enumerate(document["claims"])
        ),
    )
    if len(set(evidence.claims)) != len(evidence.claims) or any(
        evidence.item(k) is None for k in evidence.claims
    ):
        raise EvidenceInvalid(
            f"{where} lists a claim twice, or one that none of its items is",
            hint="export the proofs again with `heritage item proof`",
        )
    derived = derived_records(evidence, cache)
    for name in ("records", "signatures"):
        if _normalised(derived[name]) != _normalised(document[name]):
            raise EvidenceInvalid(
                f"the {name} listed in {where} are not those its events and transactions give",
                hint="export the proofs again with `heritage item proof`",
            )
    return evidence


def _normalised(records: Sequence[Any]) -> str:
    return json.dumps(records, sort_keys=True)


#: A proofs document nests 7 levels deep; anything far deeper is hostile.
MAX_DEPTH: Final = 32


def read_proofs(data: bytes, where: str, cache: CheckCache | None = None) -> Evidence:
    """Parse the bytes of a proofs file (size- and depth-capped, strict JSON)."""
    if len(data) > MAX_PROOFS_BYTES:
        raise LimitExceeded(f"{where} is {len(data)} bytes; proofs files are capped at 256 MiB")
    try:
        document = strict_json.loads(data, max_depth=MAX_DEPTH)
    except ValueError as exc:
        raise EvidenceMalformed(
            f"{where} is not JSON: {str(exc)[:200]}",
            hint="pass a file written by `heritage item proof`",
        ) from None
    return parse_proofs(document, where, cache)

