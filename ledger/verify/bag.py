"""Preservation packages: an item as a BagIt bag (RFC 8493, written with the ``bagit`` package).

Payload (``data/``)::

    content/<cid>        the registered bytes (for a non-public item: its ciphertext, which is
                         what was registered; a plaintext never enters a bag)
    documents/<cid>      metadata, terms, method, custody and manifest documents, as stored
    signatures.json      every EIP-712 message signed about the item, and who signed it
    events.json          a PREMIS-style event history (registration, terms changes,
                         revocation, custody, derivation) with times and transaction hashes
    proofs.json          the offline proofs (see :mod:`ledger.verify.proofs`)
    references.json      chain id, registry, item key, record key, blocks and transactions

``bag-info.txt`` names the expected CID (``Heritage-CID``), so ``heritage verify DIR`` checks
the content against it with the proofs in the bag, with no chain.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import bagit

from ledger.errors import (
    BlockNotFound,
    EvidenceInvalid,
    EvidenceMalformed,
    NotFound,
    UsageError,
)
from ledger.ipfs.cid import Cid
from ledger.registry import RegistryReader as Registrar
from ledger.verify.evidence import Assessment, Evidence, assess
from ledger.verify.gather import gather
from ledger.verify.proofs import proofs_document, read_proofs
from ledger.verify.report import (
    ContentCheck,
    Report,
    community_in,
    compute_cid,
    import_options,
    judge,
)

__all__ = ["BAG_CID_TAG", "export_bag", "premis_events", "verify_bag"]

BAG_CID_TAG: Final = "Heritage-CID"
_ITEM_TAG: Final = "Heritage-Item"
_PREMIS_TYPES: Final = {
    "ItemRegistered": "registration",
    "BatchRegistered": "registration",
    "DerivativeRegistered": "derivation",
    "TermsSet": "terms change",
    "TermsRevoked": "revocation",
    "CustodyRecorded": "custody",
}


def _h(value: bytes) -> str:
    return "0x" + value.hex()


def premis_events(a: Assessment) -> list[dict[str, Any]]:
    """The item's history as PREMIS 3 event entities (in JSON), oldest first."""
    custody = {c.event.position: c for c in a.custody}
    events: list[dict[str, Any]] = []
    for e in a.events:
        detail = e.event
        if e.event == "CustodyRecorded" and e.position in custody:
            step = custody[e.position]
            detail = f"custody {step.action} from {_h(step.source)} to {_h(step.destination)}"
        elif e.event in ("TermsSet", "TermsRevoked"):
            detail = f"{e.event} version {e.fields['version']}"
        elif e.event == "DerivativeRegistered" and a.parent is not None:
            ai = "AI-enhanced " if a.ai_enhanced else ""
            detail = f"{ai}derivative of {a.parent.cid} (method {a.method_cid})"
        events.append(
            {
                "eventIdentifier": {
                    "eventIdentifierType": "evm-log",
                    "eventIdentifierValue": f"{_h(e.tx_hash)}:{e.log_index}",
                },
                "eventType": _PREMIS_TYPES[e.event],
                "eventDateTime": _iso(e.timestamp),
                "eventDetailInformation": [{"eventDetail": detail}],
                "eventOutcomeInformation": [{"eventOutcome": "recorded on chain"}],
                "linkingAgentIdentifier": [
                    {
                        "linkingAgentIdentifierType": "heritage-community",
                        "linkingAgentIdentifierValue": _h(e.fields.get("community", b"")),
                    }
                ],
                "linkingObjectIdentifier": [
                    {"linkingObjectIdentifierType": "cid", "linkingObjectIdentifierValue": a.cid}
                ],
                "blockNumber": e.block_number,
                "blockHash": _h(e.block_hash),
                "transactionHash": _h(e.tx_hash),
            }
        )
    return events


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def export_bag(
    registrar: Registrar, item: str, target: Path, community: bytes | None = None
) -> dict[str, Any]:
    """Write the preservation bag of ITEM's claim into ``target`` (a new or empty folder):
    the one claim ITEM names (``community`` picks among several communities' claims on a
    CID; without it several are refused, listed)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not an empty folder", hint="name a new folder")
    claim = registrar.resolve(item, community)
    evidence = gather(registrar, [_h(claim.key)])
    first = evidence.items[0]
    assessment, _ = assess(evidence, first.key)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    content = target / "content" / first.cid
    content.parent.mkdir()
    try:
        with content.open("wb") as out:
            for chunk in registrar.node.cat(first.cid):
                out.write(chunk)
    except BlockNotFound:
        # Leave nothing half-written: the folder as it was found.
        shutil.rmtree(target if created else content.parent)
        raise NotFound(
            f"the content of {first.cid} is not on this IPFS node, so it cannot be bagged",
            hint="import it first (e.g. `heritage ipfs car-import`); a revoked public item's "
            "bytes are withdrawn from this node",
        ) from None
    for cid, data in evidence.documents.items():
        _write(target / "documents" / cid, data)
    proofs = proofs_document(evidence)
    _write(target / "proofs.json", _json(proofs))
    _write(target / "signatures.json", _json(proofs["signatures"]))
    _write(target / "events.json", _json(premis_events(assessment)))
    references = {
        "chain_id": evidence.chain_id,
        "registry": evidence.registry,
        "item": _h(first.key),
        "cid": first.cid,
        "record_key": _h(assessment.record_key),
        "snapshot": {"block_number": evidence.snapshot_block,
                     "block_hash": _h(evidence.snapshot_hash)},
        "transactions": [
            {"event": e.event, "block_number": e.block_number, "block_hash": _h(e.block_hash),
             "tx_hash": _h(e.tx_hash), "log_index": e.log_index}
            for e in assessment.events
        ],
    }
    _write(target / "references.json", _json(references))
    bagit.make_bag(
        str(target),
        {
            BAG_CID_TAG: first.cid,
            _ITEM_TAG: _h(first.key),
            "External-Identifier": first.cid,
            "External-Description": "Heritage Ledger preservation package of a registered item",
            "Source-Organization": _h(assessment.steward),
        },
        checksums=["sha256"],
    )
    return {"bag": str(target), "cid": first.cid, "item": _h(first.key),
            "files": 1 + len(evidence.documents) + 4}


def _cid_of(evidence: Evidence, key: bytes) -> str:
    item = evidence.item(key)
    return "" if item is None else item.cid


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _regular(path: Path, what: str) -> Path:
    try:
        mode = path.lstat().st_mode
    except OSError:
        raise EvidenceMalformed(f"the bag has no {what}", hint="is this a heritage bag?") from None
    if not stat.S_ISREG(mode):
        raise EvidenceMalformed(
            f"the bag's {what} is not a regular file (a symlink or a folder)",
            hint="a bag must hold its files itself",
        )
    return path


def verify_bag(folder: Path, communities: Sequence[str] = ()) -> Report:
    """Verify a preservation bag offline: its content against the CID it names, with the
    proofs it carries, then the bag's own manifests; ``communities`` (ids or names) as
    ``--community`` names them."""
    _regular(folder / "bagit.txt", "bagit.txt")
    info = _regular(folder / "bag-info.txt", "bag-info.txt")
    tags: dict[str, str] = {}
    for line in info.read_text("utf-8", errors="replace").splitlines()[:200]:
        name, sep, value = line.partition(":")
        if sep:
            tags[name.strip()] = value.strip()
    expected_text = tags.get(BAG_CID_TAG)
    if not expected_text:
        raise EvidenceMalformed(f"the bag's bag-info.txt has no {BAG_CID_TAG}",
                                hint="is this a heritage bag?")
    expected = Cid.parse(expected_text)  # InvalidCid: a clear error for a hostile tag
    name = str(expected)
    if os.sep in name or name.startswith("."):
        raise EvidenceMalformed("the bag's CID is not a plain name")
    content = _regular(folder / "data" / "content" / name, f"content file data/content/{name}")
    proofs_path = _regular(folder / "data" / "proofs.json", "data/proofs.json")
    evidence: Evidence = read_proofs(proofs_path.read_bytes(), "the bag's data/proofs.json")
    claims = [k for k in evidence.claim_keys if _cid_of(evidence, k) == name]
    if not claims:
        raise EvidenceInvalid(f"the bag's proofs say nothing about its CID {name}")
    assessed = {k: assess(evidence, k) for k in claims}
    computed = compute_cid(content, import_options(assessed[claims[0]][0].metadata, expected))
    check = ContentCheck(str(content), str(computed), name, "bag", computed == expected)
    # Every claim the bag's proofs hold on its CID (one, as `item export` writes them), judged
    # as online verification judges them: several communities' claims are a dispute.
    named = [community_in(evidence, c) for c in communities]
    report = judge(evidence, claims, "bag", lambda _: check, expected=named, assessed=assessed)
    if check.matches:
        try:
            bagit.Bag(str(folder)).validate()
        except bagit.BagError as exc:
            raise EvidenceInvalid(f"the bag does not validate: {str(exc)[:300]}",
                                  hint="its manifests or tag files were changed") from None
    return report
