"""`heritage community|item|terms|custody|derivative`, run as real processes against a real
anvil (one per module) and the embedded IPFS node of each test's own data directory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from ledger.documents import canonical_json
from ledger.ipfs.cid import RAW, Cid
from ledger.merkle import BATCH_LEAF_TYPES, leaf_hash, verify
from local_chain import ANVIL_DEV_ACCOUNT_0
from tests import registry_support
from tests.registry_support import CLI_PASSPHRASE as PASSPHRASE
from tests.registry_support import HERITAGE, TermsFile, Workspace
from tests.rights_support import public_terms, write_terms

REPO = Path(__file__).resolve().parents[2]

# The shared fixtures (tests/registry_support.py): the session's chain, a workspace on it.
chain = registry_support.chain
ws = registry_support.ws
terms = registry_support.terms


def raw_cid_of_document(document: Any) -> str:
    return str(Cid.from_digest(hashlib.sha256(canonical_json(document)).digest(), RAW))


def claim_hex(community: str, cid: Cid) -> str:
    """A claim key from its definition, keccak256(abi.encode(community, keccak256(cid)))."""
    return "0x" + keccak(bytes.fromhex(community[2:]) + keccak(bytes(cid))).hex()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


# ---- communities and single registration ---------------------------------------------------


def test_community_create_and_show(ws: Workspace) -> None:
    name = unique("museum")
    community, holders = ws.community(name)
    shown = ws.json("community", "show", name)  # by name …
    assert shown == ws.json("community", "show", community)  # … and by id
    assert shown["id"] == community
    assert shown["keyholders"] == holders
    assert shown["threshold"] == 2
    assert shown["rotations"] == 0
    document = {
        "type": "heritage/community",
        "version": 1,
        "name": name,
        "keyholders": holders,
        "threshold": 2,
    }
    assert shown["document_cid"] == raw_cid_of_document(document)
    assert shown["document_cid"] in ws.pins()


def test_register_single_items_then_show_and_history(ws: Workspace, terms: TermsFile) -> None:
    name = unique("archive")
    community, _ = ws.community(name)
    files = ws.files(2)
    before = ws.chain.sent()
    registered = ws.json(
        "item", "register", *map(str, files), "--community", name, "--terms", str(terms(name)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert ws.chain.sent() == before + 2  # one transaction per item
    assert [r["path"] for r in registered] == [str(f) for f in files]
    terms_cid = raw_cid_of_document(json.loads(terms(name).read_text()))
    pins = ws.pins()
    assert pins[terms_cid] == "direct"
    for entry, path in zip(registered, files, strict=True):
        # The CID is Kubo's `ipfs add --cid-version 1` CID, and the key is the claim key:
        # keccak256(abi.encode(community, keccak256(cid bytes))).
        expected = ws.run("cid", "--cid-version", "1", str(path)).stdout.strip()
        assert entry["cid"] == expected
        assert entry["item"] == claim_hex(community, Cid.parse(expected))
        assert pins[expected] == "recursive"
        assert pins[entry["metadata_cid"]] == "direct"

        shown = ws.json("item", "show", entry["cid"])
        assert shown == ws.json("item", "show", entry["item"])
        assert shown["kind"] == "item"
        assert shown["registered_cid"] == expected
        assert shown["community"] == community
        assert shown["steward"] == community
        assert shown["terms_cid"] == terms_cid
        assert (shown["terms_version"], shown["revoked"]) == (1, False)
        assert shown["metadata_cid"] == entry["metadata_cid"]
        assert shown["metadata"] == {
            "type": "heritage/item-metadata",
            "version": 1,
            "cid": expected,
            "name": path.name,
            "size": path.stat().st_size,
            "media_type": "text/plain",
            "import": {
                "cid_version": 1,
                "raw_leaves": True,
                "chunk_size": 262144,
                "chunker": "size-262144",
                "layout": "balanced",
                "max_links": 174,
                "hash": "sha2-256",
            },
        }
        # The metadata CID names exactly the canonical document.
        assert entry["metadata_cid"] == raw_cid_of_document(shown["metadata"])

        history = ws.json("item", "history", entry["cid"])
        assert [h["event"] for h in history] == ["ItemRegistered"]
        assert history[0]["fields"]["cid_text"] == expected

    text = ws.run("item", "show", registered[0]["cid"]).stdout
    assert "item 0x" in text and terms_cid in text and "current" in text
    assert ws.json("community", "show", name)["items"] == 2


def test_a_cidv0_item_is_found_by_either_cid_version(ws: Workspace, terms: TermsFile) -> None:
    name = unique("v0")
    ws.community(name, 1, 1)
    (path,) = ws.files(1)
    (entry,) = ws.json(
        "item", "register", str(path), "-c", name, "--terms", str(terms(name)),
        "--cid-version", "0",
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    v0 = Cid.parse(entry["cid"])
    assert v0.version == 0
    by_v1 = ws.json("item", "show", str(v0.to_v1()))
    assert by_v1["registered_cid"] == str(v0)  # the binary CID that was registered: v0
    assert by_v1["item"] == claim_hex(ws.json("community", "show", name)["id"], v0)
    assert by_v1["metadata"]["import"]["cid_version"] == 0


# ---- batches ---------------------------------------------------------------------------------


def test_batch_registers_in_one_transaction_and_item_show_finds_membership(
    ws: Workspace, terms: TermsFile
) -> None:
    name = unique("batch")
    community, _ = ws.community(name)
    files = ws.files(5, "b")
    before = ws.chain.sent()
    batch = ws.json(
        "item", "register", *map(str, files), "-c", name, "--terms", str(terms(name)), "--batch",
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert ws.chain.sent() == before + 1
    assert batch["count"] == 5
    root = bytes.fromhex(batch["root"][2:])
    pins = ws.pins()
    assert pins[batch["manifest_cid"]] == "direct"
    manifest = json.loads(
        ws.run("ipfs", "cat", batch["manifest_cid"]).stdout
    )  # a raw block reads as its bytes
    assert manifest["root"] == batch["root"]
    assert [i["cid"] for i in manifest["items"]] == [i["cid"] for i in batch["items"]]

    # The manifest's tree is a StandardMerkleTree dump that @openzeppelin/merkle-tree loads and
    # whose proofs it computes itself.
    script = (
        'import { StandardMerkleTree } from "@openzeppelin/merkle-tree";'
        'import { readFileSync } from "node:fs";'
        "const t = StandardMerkleTree.load(JSON.parse(readFileSync(0, 'utf8')));"
        "t.validate();"
        "console.log(JSON.stringify({root: t.root, proofs: [...t.entries()].map(([i]) => "
        "t.getProof(i))}));"
    )
    oz = json.loads(
        subprocess.run(
            ["node", "--input-type=module", "-e", script],
            input=json.dumps(manifest["tree"]),
            capture_output=True, text=True, check=True, cwd=REPO, timeout=120,
        ).stdout
    )  # fmt: skip
    assert oz["root"] == batch["root"]

    for position, entry in enumerate(batch["items"]):
        shown = ws.json("item", "show", entry["cid"])
        assert shown["kind"] == "batch-item"
        assert shown["registered_cid"] == entry["cid"]
        assert shown["community"] == community
        assert shown["terms_cid"] == batch["terms_cid"]
        membership = shown["batch"]
        assert membership["root"] == batch["root"]
        assert membership["position"] == position
        assert membership["proof_valid_on_chain"] is True
        assert membership["proof"] == oz["proofs"][position]
        assert entry["item"] == claim_hex(community, Cid.parse(entry["cid"]))
        key = keccak(bytes(Cid.parse(entry["cid"])))  # leaves hold the content key
        leaf = leaf_hash(
            BATCH_LEAF_TYPES,
            [key, bytes.fromhex(membership["metadata"][2:]), bytes(32)],
        )
        assert verify(root, leaf, [bytes.fromhex(p[2:]) for p in membership["proof"]])
        assert shown["metadata"]["name"] == files[position].name

    # The batch key is keccak256(abi.encode(community, root)); it and the root are ITEMs too.
    assert batch["batch"] == "0x" + keccak(bytes.fromhex(community[2:]) + root).hex()
    assert ws.json("item", "show", batch["batch"]) == ws.json("item", "show", batch["root"])
    assert ws.json("item", "show", batch["root"])["kind"] == "batch"
    assert ws.json("item", "show", batch["root"])["batch"] == {
        "count": 5,
        "manifest_cid": batch["manifest_cid"],
    }


def test_batch_membership_is_rebuilt_from_the_chain_after_local_state_is_lost(
    ws: Workspace, terms: TermsFile
) -> None:
    name = unique("batch-rebuild")
    ws.community(name)
    files = ws.files(4, "z")
    batch = ws.json(
        "item", "register", *map(str, files), "-c", name, "--terms", str(terms(name)), "--batch",
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    before = {p: ws.json("item", "show", i["cid"])["batch"] for p, i in enumerate(batch["items"])}
    # The manifest's digest is on chain (BatchRegistered, and the record's commitment).
    manifest = ws.run("ipfs", "cat", batch["manifest_cid"]).stdout.encode()
    assert raw_cid_of_document(json.loads(manifest)) == batch["manifest_cid"]
    # Lose every bit of local state but the blockstore and keys: the index and any cache.
    (ws.data / "index.sqlite").unlink()
    assert not (ws.data / "batches.sqlite").exists()  # no local membership book any more
    assert ws.json("index", "rebuild")["events"] > 0
    for position, entry in enumerate(batch["items"]):
        shown = ws.json("item", "show", entry["cid"])
        assert shown["kind"] == "batch-item"
        assert shown["registered_cid"] == entry["cid"]
        membership = shown["batch"]
        assert membership == before[position]
        assert membership["root"] == batch["root"]
        assert membership["manifest_cid"] == batch["manifest_cid"]
        assert membership["position"] == position
        assert membership["proof_valid_on_chain"] is True


def test_revoking_one_item_of_a_batch_leaves_the_others(ws: Workspace, terms: TermsFile) -> None:
    name = unique("batch-revoke")
    ws.community(name)
    files = ws.files(3, "r")
    batch = ws.json(
        "item", "register", *map(str, files), "-c", name, "--terms", str(terms(name)), "--batch",
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    first, second, _ = batch["items"]
    revoked = ws.json("terms", "revoke", first["cid"], "--password-file", str(ws.password_file))
    # batchItemSubject(batch key, content key) = keccak256(abi.encode(batch, content))
    content = keccak(bytes(Cid.parse(first["cid"])))
    subject = keccak(bytes.fromhex(batch["batch"][2:]) + content)
    assert revoked["subject"] == "0x" + subject.hex()
    assert ws.json("item", "show", first["cid"])["revoked"] is True
    assert ws.json("item", "show", second["cid"])["revoked"] is False
    assert ws.json("item", "show", batch["root"])["revoked"] is False
    events = [h["event"] for h in ws.json("item", "history", first["cid"])]
    assert events == ["BatchRegistered", "TermsRevoked"]
    assert [h["event"] for h in ws.json("item", "history", second["cid"])] == ["BatchRegistered"]
    # Terms of a batch item are the batch's: setting them names the batch instead.
    proc = ws.run(
        "terms", "set", second["cid"], "--terms", str(terms(name)),
        "--password-file", str(ws.password_file), check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert batch["batch"] in proc.stderr


# ---- terms, custody, derivatives, rotation -----------------------------------------------------


def test_terms_set_then_revoke(ws: Workspace, terms: TermsFile, tmp_path: Path) -> None:
    name = unique("terms")
    ws.community(name)
    (path,) = ws.files(1)
    (entry,) = ws.json(
        "item", "register", str(path), "-c", name, "--terms", str(terms(name)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    newer = write_terms(
        tmp_path / "terms-v2.json", public_terms(ws.community_id(name), license="CC0-1.0")
    )
    set_result = ws.json(
        "terms", "set", entry["cid"], "--terms", str(newer),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert set_result["version"] == 2
    assert set_result["terms_cid"] == raw_cid_of_document(json.loads(newer.read_text()))
    shown = ws.json("item", "show", entry["item"])
    assert (shown["terms_version"], shown["terms_cid"]) == (2, set_result["terms_cid"])
    ws.json("terms", "revoke", entry["cid"], "--password-file", str(ws.password_file))
    shown = ws.json("item", "show", entry["item"])
    assert (shown["terms_version"], shown["revoked"]) == (2, True)
    events = [h["event"] for h in ws.json("item", "history", entry["cid"])]
    assert events == ["ItemRegistered", "TermsSet", "TermsRevoked"]
    again = ws.run(
        "terms", "revoke", entry["cid"], "--password-file", str(ws.password_file), check=False
    )
    assert again.returncode == 2 and "already revoked" in again.stderr


def test_custody_transfer_derivative_and_rotation(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    museum = unique("museum")
    tribe = unique("tribe")
    museum_id, _ = ws.community(museum)
    tribe_id, _ = ws.community(tribe, 2, 2)
    (path, derived) = ws.files(2, "c")
    (entry,) = ws.json(
        "item", "register", str(path), "-c", museum, "--terms", str(terms(museum)),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    moved = ws.json(
        "custody", "transfer", entry["cid"], "--to", tribe,
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert (moved["from"], moved["to"]) == (museum_id, tribe_id)
    shown = ws.json("item", "show", entry["cid"])
    assert (shown["community"], shown["steward"]) == (museum_id, tribe_id)
    history = ws.json("item", "history", entry["cid"])
    assert [h["event"] for h in history] == ["ItemRegistered", "CustodyRecorded"]
    assert history[1]["fields"]["action_name"] == "transfer"

    method = tmp_path / "method.json"
    method.write_text('{"method": "photogrammetry", "software": "Meshroom"}')
    # The parent's terms say `"ai_use": {"enhancement": false}`: an AI-enhanced derivative is
    # refused before anything is sent.
    before = ws.chain.sent()
    refused = ws.run(
        "derivative", "add", entry["cid"], str(derived), "-c", tribe, "--terms", str(terms(tribe)),
        "--method", str(method), "--ai-enhanced", "--password-file", str(ws.password_file),
        check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "do not consent to AI enhancement" in refused.stderr
    assert ws.chain.sent() == before
    # The steward (the tribe, since the transfer) consents to AI enhancement in new terms.
    ai_terms = write_terms(
        tmp_path / "ai-terms.json",
        public_terms(
            ws.community_id(tribe),
            license="CC-BY-NC-4.0",
            ai_use={"training": False, "enhancement": True},
        ),
    )
    ws.json("terms", "set", entry["cid"], "--terms", str(ai_terms),
            "--password-file", str(ws.password_file))  # fmt: skip
    derivative = ws.json(
        "derivative", "add", entry["cid"], str(derived), "-c", tribe, "--terms", str(terms(tribe)),
        "--method", str(method), "--ai-enhanced", "--password-file", str(ws.password_file),
    )  # fmt: skip
    shown = ws.json("item", "show", derivative["cid"])
    assert shown["kind"] == "derivative"
    assert shown["parent"] == entry["item"]
    assert shown["ai_enhanced"] is True
    assert shown["method_cid"] == derivative["method_cid"]
    assert shown["method_cid"] == raw_cid_of_document(json.loads(method.read_text()))

    # Rotation: k of the current keyholders replace the set; the new set then signs.
    fresh = ws.new_keys(2)
    args = ["community", "rotate", tribe, "--threshold", "1"]
    for holder in fresh:
        args += ["--keyholder", holder]
    rotated = ws.json(*args, "--password-file", str(ws.password_file))
    assert rotated["keyholders"] == fresh
    assert (rotated["threshold"], rotated["rotations"]) == (1, 1)
    # The tribe, now 1 of the new 2, sets the terms of the item it stewards.
    result = ws.json(
        "terms", "set", entry["cid"], "--terms", str(terms(tribe)), "--signer", fresh[1],
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert result["version"] == 3


def test_loan_then_return_in_history_and_stewardship_stays(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    museum = unique("lender")
    museum_id, holders = ws.community(museum)
    (path,) = ws.files(1, "l")
    pw = ["--password-file", str(ws.password_file)]
    (entry,) = ws.json("item", "register", str(path), "-c", museum,
                       "--terms", str(terms(museum)), *pw)  # fmt: skip
    borrower = "0x" + os.urandom(32).hex()  # an institution that is no community

    # No loan is open: a return is refused, and nothing is sent.
    sent_before = ws.chain.sent()
    early = ws.run("custody", "return", entry["cid"], *pw, check=False)
    assert early.returncode == 2, early.stdout
    assert "error[usage_error]" in early.stderr and "not on loan" in early.stderr
    assert ws.chain.sent() == sent_before

    terms_of_loan = tmp_path / "loan.json"
    terms_of_loan.write_text('{"exhibition": "Voices", "until": "2027-03-01"}')
    lent = ws.json("custody", "loan", entry["cid"], "--to", borrower,
                   "--document", str(terms_of_loan), *pw)  # fmt: skip
    assert (lent["action"], lent["from"], lent["to"]) == ("loan", museum_id, borrower)
    loan_document = {
        "exhibition": "Voices", "until": "2027-03-01", "type": "heritage/custody", "version": 1,
        "action": "loan", "item": entry["item"], "from": museum_id, "to": borrower, "nonce": 0,
    }  # fmt: skip
    assert lent["document_cid"] == raw_cid_of_document(loan_document)
    # A loan does not move stewardship: the museum alone still sets the terms.
    shown = ws.json("item", "show", entry["cid"])
    assert (shown["community"], shown["steward"]) == (museum_id, museum_id)
    assert ws.json("terms", "set", entry["cid"], "--terms", str(terms(museum)),
                   "--signer", holders[0], "--signer", holders[2], *pw)["version"] == 2  # fmt: skip

    receipt = tmp_path / "receipt.json"
    receipt.write_text('{"condition": "as lent"}')
    returned = ws.json("custody", "return", entry["cid"], "--document", str(receipt), *pw)
    assert (returned["action"], returned["counterparty"]) == ("return", borrower)
    assert (returned["from"], returned["to"], returned["nonce"]) == (borrower, museum_id, 1)
    return_document = {
        "condition": "as lent", "type": "heritage/custody", "version": 1, "action": "return",
        "item": entry["item"], "from": borrower, "to": museum_id, "nonce": 1,
    }  # fmt: skip
    assert returned["document_cid"] == raw_cid_of_document(return_document)

    history = ws.json("item", "history", entry["cid"])
    custody = [h["fields"] for h in history if h["event"] == "CustodyRecorded"]
    assert [h["event"] for h in history] == [
        "ItemRegistered", "CustodyRecorded", "TermsSet", "CustodyRecorded",
    ]  # fmt: skip
    assert [c["action_name"] for c in custody] == ["loan", "return"]
    assert [c["counterparty"] for c in custody] == [borrower, borrower]
    assert [c["document"] for c in custody] == [
        "0x" + hashlib.sha256(canonical_json(d)).hexdigest()
        for d in (loan_document, return_document)
    ]
    assert ws.json("item", "show", entry["cid"])["steward"] == museum_id
    text = ws.run("item", "history", entry["cid"]).stdout
    assert "action_name=loan" in text and "action_name=return" in text

    # The loan is closed: a second return is refused before sending.
    sent_before = ws.chain.sent()
    again = ws.run("custody", "return", entry["cid"], *pw, check=False)
    assert again.returncode == 2 and "not on loan" in again.stderr
    assert ws.chain.sent() == sent_before


def test_repatriation_moves_stewardship(ws: Workspace, terms: TermsFile, tmp_path: Path) -> None:
    museum = unique("holder")
    origin = unique("origin")
    museum_id, museum_holders = ws.community(museum)
    origin_id, origin_holders = ws.community(origin, 2, 2)
    (path,) = ws.files(1, "r")
    pw = ["--password-file", str(ws.password_file)]
    (entry,) = ws.json("item", "register", str(path), "-c", museum,
                       "--terms", str(terms(museum)), *pw)  # fmt: skip
    agreement = tmp_path / "agreement.json"
    agreement.write_text('{"agreement": "return of ancestral belongings"}')
    # The steward alone cannot repatriate: the receiving community signs too.
    sent_before = ws.chain.sent()
    alone = ws.run("custody", "repatriate", entry["cid"], "--to", origin,
                   "--signer", museum_holders[0], "--signer", museum_holders[1], *pw,
                   check=False)  # fmt: skip
    assert alone.returncode == 2 and "(receiver) needs 2 signatures" in alone.stderr
    assert ws.chain.sent() == sent_before

    moved = ws.json("custody", "repatriate", entry["cid"], "--to", origin,
                    "--document", str(agreement), *pw)  # fmt: skip
    assert (moved["action"], moved["from"], moved["to"]) == ("repatriation", museum_id, origin_id)
    assert moved["document_cid"] == raw_cid_of_document({
        "agreement": "return of ancestral belongings", "type": "heritage/custody", "version": 1,
        "action": "repatriation", "item": entry["item"], "from": museum_id, "to": origin_id,
        "nonce": 0,
    })  # fmt: skip
    shown = ws.json("item", "show", entry["cid"])
    assert (shown["community"], shown["steward"]) == (museum_id, origin_id)
    history = ws.json("item", "history", entry["cid"])
    assert [h["event"] for h in history] == ["ItemRegistered", "CustodyRecorded"]
    assert history[1]["fields"]["action_name"] == "repatriation"

    # Terms are now the origin community's to set: the museum's keys are refused.
    sent_before = ws.chain.sent()
    refused = ws.run("terms", "set", entry["cid"], "--terms", str(terms(origin)),
                     "--signer", museum_holders[0], "--signer", museum_holders[1], *pw,
                     check=False)  # fmt: skip
    assert refused.returncode == 2 and "not a keyholder of community" in refused.stderr
    assert ws.chain.sent() == sent_before
    result = ws.json("terms", "set", entry["cid"], "--terms", str(terms(origin)),
                     "--signer", origin_holders[0], "--signer", origin_holders[1], *pw)  # fmt: skip
    assert result["version"] == 2


# ---- bad input: a clear error, nothing sent ----------------------------------------------------


def test_bad_input_is_a_clear_error_and_nothing_is_sent(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    name = unique("strict")
    ws.community(name)
    files = ws.files(3, "x")
    pins_before = ws.pins()
    sent_before = ws.chain.sent()
    pw = ["--password-file", str(ws.password_file)]

    def fails(*args: str) -> subprocess.CompletedProcess[str]:
        proc = ws.run(*args, check=False)
        assert proc.returncode != 0, proc.stdout
        assert proc.stderr.startswith("error["), proc.stderr
        return proc

    nobody = unique("nobody")  # valid terms of a community that was never created
    unknown = fails("item", "register", str(files[0]), "-c", nobody, "--terms",
                    str(terms(nobody)), *pw)  # fmt: skip
    assert "error[not_found]" in unknown.stderr and "no community named" in unknown.stderr

    not_json = tmp_path / "terms.txt"
    not_json.write_text("license: CC-BY")
    bad_terms = fails("item", "register", str(files[0]), "-c", name, "--terms", str(not_json), *pw)
    assert "error[usage_error]" in bad_terms.stderr and "is not JSON" in bad_terms.stderr
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    assert (
        "not an object"
        in fails("item", "register", str(files[0]), "-c", name, "--terms", str(array), *pw).stderr
    )
    # Terms are validated (exit 4, the field and the rule named), and must be this community's.
    invalid = write_terms(
        tmp_path / "invalid.json", public_terms(ws.community_id(name), license="CC-BY-5.0")
    )
    refused = fails("item", "register", str(files[0]), "-c", name, "--terms", str(invalid), *pw)
    assert refused.returncode == 4 and "error[invalid_terms]" in refused.stderr
    assert "/license" in refused.stderr and "[rule: enum]" in refused.stderr
    foreign = terms(unique("other"))
    refused = fails("item", "register", str(files[0]), str(files[1]), "-c", name,
                    "--terms", str(foreign), "--batch", *pw)  # fmt: skip
    assert refused.returncode == 4 and "registering-community" in refused.stderr

    missing = fails("item", "register", str(tmp_path / "nope.tif"), "-c", name, "--terms",
                    str(terms(name)), *pw)  # fmt: skip
    assert "nope.tif does not exist" in missing.stderr

    copy = tmp_path / "copy-of-first.txt"
    copy.write_bytes(files[0].read_bytes())
    duplicate = fails("item", "register", str(files[0]), str(files[1]), str(copy), "-c", name,
                      "--terms", str(terms(name)), "--batch", *pw)  # fmt: skip
    assert "error[duplicate_leaves]" in duplicate.stderr
    assert "copy-of-first.txt" in duplicate.stderr

    not_registered = fails("item", "show", ws.run("cid", "--cid-version", "1", str(files[1]))
                           .stdout.strip())  # fmt: skip
    assert "error[not_found]" in not_registered.stderr
    assert "is not registered" in not_registered.stderr
    assert "error[not_found]" in fails("item", "history", "0x" + "ab" * 32).stderr
    assert "error[usage_error]" in fails("item", "show", "0x1234").stderr
    assert "error[invalid_cid]" in fails("item", "show", "not-a-cid").stderr
    assert "error[not_found]" in fails("community", "show", unique("ghost")).stderr

    assert ws.chain.sent() == sent_before  # nothing sent
    assert ws.pins() == pins_before  # nothing pinned

    # Only then, a good registration of the same files works.
    ws.json("item", "register", str(files[0]), str(files[1]), "-c", name,
            "--terms", str(terms(name)), "--batch", *pw)  # fmt: skip
    # And a community claiming the same content twice is refused before sending: alone after
    # alone, alone after in a batch, in a batch after alone.
    sent = ws.chain.sent()
    (single,) = ws.json("item", "register", str(files[2]), "-c", name,
                        "--terms", str(terms(name)), *pw)  # fmt: skip
    again = fails("item", "register", str(files[2]), "-c", name, "--terms", str(terms(name)), *pw)
    assert "error[duplicate_claim]" in again.stderr and single["cid"] in again.stderr
    assert "already claimed by this community" in again.stderr
    in_batch = fails("item", "register", str(files[1]), "-c", name, "--terms", str(terms(name)),
                     *pw)  # fmt: skip
    assert "error[duplicate_claim]" in in_batch.stderr and "batch-item" in in_batch.stderr
    (tmp_path / "fresh.txt").write_text("content no one has claimed yet\n")
    batch_again = fails("item", "register", str(files[2]), str(tmp_path / "fresh.txt"), "-c",
                        name, "--terms", str(terms(name)), "--batch", *pw)  # fmt: skip
    assert "error[duplicate_claim]" in batch_again.stderr
    assert ws.chain.sent() == sent + 1


def test_signers_and_password_files_are_checked(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    name = unique("signers")
    _, holders = ws.community(name)
    (path,) = ws.files(1)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    sent = ws.chain.sent()
    base = ["item", "register", str(path), "-c", name, "--terms", str(terms(name))]
    proc = ws.run(*base, "--password-file", str(wrong), check=False)
    assert "error[wrong_passphrase]" in proc.stderr
    assert PASSPHRASE not in proc.stderr and "not the passphrase" not in proc.stderr
    stranger = ws.new_keys(1)[0]
    proc = ws.run(*base, "--signer", stranger, "--password-file", str(ws.password_file),
                  check=False)  # fmt: skip
    assert "is not a keyholder" in proc.stderr
    proc = ws.run(*base, "--signer", holders[0], "--password-file", str(ws.password_file),
                  check=False)  # fmt: skip
    assert "needs 2 signatures" in proc.stderr
    proc = ws.run(*base, "--signer", holders[0], "--signer", holders[2],
                  "--password-file", str(ws.password_file), "--password-file", str(wrong),
                  check=False)  # fmt: skip
    assert "error[wrong_passphrase]" in proc.stderr  # the second file is holders[2]'s
    assert ws.chain.sent() == sent
    # One file per signer, in order.
    right = tmp_path / "right"
    right.write_text(PASSPHRASE)
    ws.json(*base, "--signer", holders[0], "--signer", holders[2],
            "--password-file", str(ws.password_file), "--password-file", str(right))  # fmt: skip
    assert ws.chain.sent() == sent + 1


def test_a_keystore_sender_pays_and_quiet_prints_only_cids(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    name = unique("relay")
    ws.community(name, 1, 1)
    (payer,) = ws.new_keys(1)
    w3 = ws.chain.w3()
    funded = w3.eth.send_transaction(
        {
            "from": to_checksum_address(ANVIL_DEV_ACCOUNT_0),
            "to": to_checksum_address(payer),
            "value": Web3.to_wei(1, "ether"),
        }
    )
    w3.eth.wait_for_transaction_receipt(funded)
    dev_sent = ws.chain.sent()
    files = ws.files(2, "q")
    proc = ws.run(
        "item", "register", *map(str, files), "-c", name, "--terms", str(terms(name)), "--quiet",
        "--password-file", str(ws.password_file),
        "--sender", payer, "--sender-password-file", str(ws.password_file),
    )  # fmt: skip
    cids = proc.stdout.split()
    assert cids == [ws.run("cid", "--cid-version", "1", str(f)).stdout.strip() for f in files]
    assert proc.stderr == ""
    assert ws.chain.sent() == dev_sent  # the dev account paid nothing …
    assert w3.eth.get_transaction_count(to_checksum_address(payer)) == 2  # … the sender did
    assert ws.json("item", "show", cids[0])["registrant"] == payer
    # A batch item's text view names its batch and the proof's verdict.
    more = ws.files(2, "t")
    ws.run("item", "register", *map(str, more), "-c", name, "--terms", str(terms(name)), "--batch",
           "--password-file", str(ws.password_file))  # fmt: skip
    text = ws.run("item", "show", ws.run("cid", "--cid-version", "1", str(more[1])).stdout.strip())
    assert "batch-item 0x" in text.stdout and "proof valid on chain" in text.stdout


def test_terms_of_a_batch_are_set_on_its_root_and_reach_every_item(
    ws: Workspace, terms: TermsFile, tmp_path: Path
) -> None:
    name = unique("batch-terms")
    ws.community(name)
    batch = ws.json(
        "item", "register", *map(str, ws.files(3, "s")), "-c", name, "--terms", str(terms(name)),
        "--batch", "--password-file", str(ws.password_file),
    )  # fmt: skip
    newer = write_terms(
        tmp_path / "v2.json",
        public_terms(
            ws.community_id(name),
            license=None,
            rights_statement="http://rightsstatements.org/vocab/InC/1.0/",
        ),
    )
    result = ws.json(
        "terms", "set", batch["root"], "--terms", str(newer),
        "--password-file", str(ws.password_file),
    )  # fmt: skip
    assert result["version"] == 2
    for entry in batch["items"]:
        shown = ws.json("item", "show", entry["cid"])
        assert (shown["terms_cid"], shown["terms_version"]) == (result["terms_cid"], 2)
    history = ws.json("item", "history", batch["items"][0]["cid"])
    assert [h["event"] for h in history] == ["BatchRegistered", "TermsSet"]


def test_progress_bar_on_a_terminal_and_not_with_json(ws: Workspace, terms: TermsFile) -> None:
    import pty
    import select

    name = unique("progress")
    ws.community(name, 1, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env |= {
        "HERITAGE_DATA_DIR": str(ws.data),
        "HERITAGE_RPC_URL": ws.chain.settings.rpc_url,
        "HERITAGE_DEPLOYMENT": str(ws.chain.deployment),
        "HERITAGE_FSYNC": "false",
        "COLUMNS": "120",
    }

    def stderr_on_a_tty(*flags: str) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [str(HERITAGE), "item", "register", *map(str, ws.files(40, "p")), "-c", name,
             "--terms", str(terms(name)), "--password-file", str(ws.password_file), *flags],
            env=env, stdout=subprocess.PIPE, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        seen = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                piece = os.read(leader, 65536)
            except OSError:
                break
            if not piece:
                break
            seen += piece
        os.close(leader)
        assert proc.wait(timeout=120) == 0
        assert proc.stdout is not None
        proc.stdout.close()
        return seen.decode("utf-8", "replace")

    shown = stderr_on_a_tty()
    assert "adding" in shown and "40/40" in shown
    assert stderr_on_a_tty("--json") == ""
    assert stderr_on_a_tty("--quiet") == ""
