"""Descriptions on the record, against the session's real anvil and each test's embedded IPFS
node: bound into the metadata at registration (sealed with a restricted item's metadata),
corrected with k of n online and offline, read back version by version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from eth_account.signers.local import LocalAccount

from ledger import crypto
from ledger.consent import (
    ConsentRequest,
    ConsentSignature,
    encode_request,
    encode_signature,
    read_request,
    read_signature,
    sealed_description_parts,
    sign_request,
    write_new_file,
)
from ledger.documents import document_cid
from ledger.errors import (
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentStale,
    InvalidDescription,
    LimitExceeded,
    UsageError,
)
from ledger.ipfs.cid import Cid
from ledger.keys import load_encryption_key, load_signer
from ledger.registry import (
    Registry,
    SignerKeys,
    description_history,
    latest_description,
)
from ledger.registry.descriptions import unseal_description
from ledger.rights.description import Description, description_from_json
from tests import registry_support
from tests.ledger.test_crypto_workflow import sealed_community
from tests.registry_support import PASSPHRASE, keyed_community, sent, write_files
from tests.rights_support import public_terms, restricted_terms, write_terms

chain_settings = registry_support.chain_settings
registrar = registry_support.registrar


def description(title: str, **extra: Any) -> dict[str, Any]:
    return {"type": "heritage/description", "version": 1, "title": {"en": title}, **extra}


def write_description(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def community_with_item(
    registrar: Registry, tmp_path: Path, document: dict[str, Any] | None
) -> tuple[str, bytes, SignerKeys]:
    name = "desc-" + tmp_path.name
    keys = keyed_community(registrar, name, 3, 2)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    (result,) = registrar.items.register(
        write_files(tmp_path / "files", 1),
        community,
        terms,
        keys,
        descriptions=None if document is None else [description_from_json(document)],
    )
    return str(result.cid), community, keys


def test_registration_binds_the_description_into_the_signed_metadata(
    registrar: Registry, tmp_path: Path
) -> None:
    document = description(
        "Carved paddle <b>&</b> {{7*7}}",
        subjects=["waka", "carving"],
        place={"name": "Ōtaki", "lat": -40.75, "lon": 175.15},
    )
    item, _, _ = community_with_item(registrar, tmp_path, document)
    claim = registrar.reader.resolve(item)
    record = registrar.client.find_record(claim.key)
    metadata = registrar.node.block_get(document_cid(record.metadata))
    # The digest the k keyholders signed (the record's) is over a document holding the
    # description exactly as written, markup included.
    assert hashlib.sha256(metadata).digest() == record.metadata
    assert json.loads(metadata)["description"] == document
    found = latest_description(registrar.reader, claim)
    assert found is not None
    assert found == (description_from_json(document), 1)
    [first] = description_history(registrar.reader, claim)
    assert first.version == 1 and first.block is None
    assert first.digest == hashlib.sha256(rfc8785.dumps(document)).digest()


def test_an_item_without_a_description_has_none(registrar: Registry, tmp_path: Path) -> None:
    item, _, _ = community_with_item(registrar, tmp_path, None)
    claim = registrar.reader.resolve(item)
    assert latest_description(registrar.reader, claim) is None
    assert description_history(registrar.reader, claim) == ()


def test_corrections_keep_every_version_and_the_latest_wins(
    registrar: Registry, tmp_path: Path
) -> None:
    item, community, keys = community_with_item(registrar, tmp_path, description("Paddle"))
    claim = registrar.reader.resolve(item)
    second = description("Carved paddle", description={"en": "Used in ceremony."})
    before = sent(registrar)
    result = registrar.descriptions.describe(
        item, write_description(tmp_path / "d2.json", second), keys
    )
    assert sent(registrar) == before + 1
    digest = hashlib.sha256(rfc8785.dumps(second)).digest()
    assert (result.version, result.description_cid) == (2, str(document_cid(digest)))
    assert registrar.node.block_get(document_cid(digest)) == rfc8785.dumps(second)
    assert str(document_cid(digest)) in {str(c) for c in registrar.node.pin_ls()}
    third = Description(title=description_from_json(description("Hoe")).title)
    assert registrar.descriptions.describe(item, third, keys).version == 3
    versions = description_history(registrar.reader, claim)
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.title for v in versions] == ["Paddle", "Carved paddle", "Hoe"]
    assert versions[1].steward == community and versions[1].block is not None
    assert latest_description(registrar.reader, claim) == (third, 3)
    # As of an earlier block: the version current then.
    assert versions[1].block is not None and versions[2].block is not None
    at_second = latest_description(registrar.reader, claim, until_block=versions[1].block)
    assert at_second is not None and at_second[1] == 2
    earlier = latest_description(registrar.reader, claim, until_block=versions[1].block - 1)
    assert earlier is not None and earlier[1] == 1
    assert registrar.client.description_version(claim.key) == 3
    events = [e.event for e in registrar.items.history(item)]
    assert events == ["ItemRegistered", "DescriptionSet", "DescriptionSet"]


def test_a_missing_latest_document_gives_no_description_not_an_old_one(
    registrar: Registry, tmp_path: Path
) -> None:
    item, _, keys = community_with_item(registrar, tmp_path, description("Old wording"))
    result = registrar.descriptions.describe(
        item, write_description(tmp_path / "d2.json", description("New wording")), keys
    )
    cid = Cid.parse(result.description_cid)
    registrar.node.pin_rm(cid, recursive=False)
    registrar.node.gc()
    claim = registrar.reader.resolve(item)
    assert latest_description(registrar.reader, claim) is None
    current = description_history(registrar.reader, claim)[-1]
    assert current.description is None and current.problem is not None


def test_an_invalid_description_is_refused_with_nothing_sent(
    registrar: Registry, tmp_path: Path
) -> None:
    item, _, keys = community_with_item(registrar, tmp_path, description("Paddle"))
    bad = write_description(tmp_path / "bad.json", {**description("x"), "title": {"en_US": "x"}})
    before = sent(registrar)
    with pytest.raises(InvalidDescription, match="language-tag") as caught:
        registrar.descriptions.describe(item, bad, keys)
    assert caught.value.exit_code == 4
    with pytest.raises(InvalidDescription):
        registrar.descriptions.request(item, bad)
    assert sent(registrar) == before
    assert registrar.client.description_version(registrar.reader.resolve(item).key) == 1


def test_a_description_too_big_for_one_metadata_block_is_refused(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "big-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    long = "ā" * 199_000  # 2 bytes each in UTF-8: ~400 kB per language
    big = description_from_json(
        description("Song", transcript={"en": long, "mi": long, "fr": long})
    )
    before, pins = sent(registrar), registrar.node.pin_ls()
    with pytest.raises(LimitExceeded, match="1 MiB"):
        registrar.items.register(
            write_files(tmp_path / "files", 1), community, terms, keys, descriptions=[big]
        )
    assert sent(registrar) == before
    assert registrar.node.pin_ls() == pins  # nothing pinned, the terms included


def test_batch_items_carry_their_own_descriptions(registrar: Registry, tmp_path: Path) -> None:
    name = "batch-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    files = write_files(tmp_path / "files", 3)
    described = [description_from_json(description(f"Item {i}")) for i in range(2)] + [None]
    batch = registrar.items.register_batch(files, community, terms, keys, descriptions=described)
    for entry, expected in zip(batch.items, described, strict=True):
        claim = registrar.reader.resolve(str(entry.cid))
        assert claim.kind == "batch-item"
        found = latest_description(registrar.reader, claim)
        assert found == (None if expected is None else (expected, 1))
    # An item of a batch is corrected by its leaf (proven against the batch's root), online
    # and offline, each item on its own; a whole batch has no description to correct.
    first, second, third = (str(e.cid) for e in batch.items)
    corrected = description_from_json(description("Item 0, corrected"))
    published = registrar.descriptions.describe(first, corrected, keys)
    assert published.version == 2
    assert latest_description(registrar.reader, registrar.reader.resolve(first)) == (corrected, 2)
    assert latest_description(registrar.reader, registrar.reader.resolve(second)) == (
        described[1], 1,
    )  # fmt: skip
    assert "DescriptionSet" in [e.event for e in registrar.items.history(first)]
    assert "DescriptionSet" not in [e.event for e in registrar.items.history(second)]
    offline = description("Item 2, described at last")
    request = registrar.descriptions.request(
        third, write_description(tmp_path / "d3.json", offline)
    )
    read, signed = _round_trip(request, tmp_path, *_holders(registrar, community)[:1])
    third_claim = registrar.reader.resolve(third)
    assert (read.batch_root, read.batch_item) == (batch.batch, third_claim.content)
    assert registrar.consent.submit(read, signed).to_json()["version"] == 2
    found = latest_description(registrar.reader, registrar.reader.resolve(third))
    assert found == (description_from_json(offline), 2)
    [version_1, version_2] = description_history(registrar.reader, registrar.reader.resolve(first))
    assert (version_1.description, version_2.description) == (described[0], corrected)
    with pytest.raises(UsageError, match="whole batch"):
        registrar.descriptions.describe("0x" + batch.batch.hex(), corrected, keys)


def _open_sealed_metadata(registrar: Registry, item: str, holder: str) -> dict[str, Any]:
    claim = registrar.reader.resolve(item)
    record = registrar.client.find_record(claim.key)
    sealed = registrar.session.metadata(record.metadata)
    assert sealed is not None and sealed["type"] == "heritage/sealed-item"
    steward = registrar.client.steward_of(claim.key, record)
    content = claim.content_key()
    envelope = registrar.reader.current_envelope(content, claim.key, steward, sealed)
    pair = load_encryption_key(registrar.settings, holder, PASSPHRASE)
    data_key = crypto.unwrap(registrar.reader.envelope(envelope), pair, content)
    opened = crypto.open_bytes(
        data_key, registrar.node.block_get(Cid.parse(str(sealed["sealed_metadata"])))
    )
    private: dict[str, Any] = json.loads(opened)
    return private


def test_a_sealed_items_description_is_sealed_with_its_metadata(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "sealed-desc-" + tmp_path.name
    holders, keys = sealed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))
    canary = "CANARY-" + tmp_path.name + "-kōrero tapu"
    document = description(canary, context={"mi": canary + " context"})
    (result,) = registrar.items.register(
        write_files(tmp_path / "files", 1),
        community,
        terms,
        keys,
        descriptions=[description_from_json(document)],
    )
    item = str(result.cid)
    # The keyholders can open it: the description is in the sealed metadata.
    assert _open_sealed_metadata(registrar, item, holders[0])["description"] == document
    # Nobody else can read it anywhere here: not in a block, the index, or the pins.
    registrar.items.history(item)  # the index is synced and written
    secrets = [canary.encode(), canary.encode("unicode_escape")]
    for path in registrar.settings.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    claim = registrar.reader.resolve(item)
    assert latest_description(registrar.reader, claim) is None
    assert description_history(registrar.reader, claim) == ()

    # A correction is sealed with the item: only ciphertext is stored, and named on chain.
    second = description(canary + " corrected")
    before = sent(registrar)
    published = registrar.descriptions.describe(item, description_from_json(second), keys)
    assert published.version == 2 and sent(registrar) == before + 1
    block = registrar.node.block_get(Cid.parse(published.description_cid))
    with registrar.reader.event_index() as index:
        [corrected] = index.descriptions(claim.key)
    assert corrected.fields["description"] == hashlib.sha256(block).digest()
    pair = load_encryption_key(registrar.settings, holders[1], PASSPHRASE)
    record = registrar.client.find_record(claim.key)
    metadata = registrar.session.metadata(record.metadata)
    assert metadata is not None
    envelope = registrar.reader.envelope(
        registrar.reader.current_envelope(claim.content_key(), claim.key, community, metadata)
    )
    data_key = crypto.unwrap(envelope, pair, claim.content_key())
    assert unseal_description(block, data_key, "v2") == description_from_json(second)
    for path in registrar.settings.data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert latest_description(registrar.reader, claim) is None
    [version] = description_history(registrar.reader, claim)
    assert (version.version, version.sealed, version.description) == (2, True, None)

    # Offline: the request is sealed when it is made (the content key opened with a
    # keyholder's encryption key here); the file holds the sealed bytes and the envelope only,
    # and each signer opens it with their own key to read what they sign.
    third = description(canary + " third")
    with pytest.raises(UsageError, match="--opener"):
        registrar.descriptions.request(item, write_description(tmp_path / "d3.json", third))
    request = registrar.descriptions.request(
        item, write_description(tmp_path / "d3.json", third), keys=keys
    )
    read, signed = _round_trip(request, tmp_path, *_holders(registrar, community)[:1])
    assert read.sealed and read.version == 3
    request_bytes = encode_request(read)
    assert canary.encode() not in request_bytes and b"third" not in request_bytes
    sealed, envelope_document, item_key = sealed_description_parts(read.document or {}, "r")
    pair = load_encryption_key(registrar.settings, holders[0], PASSPHRASE)
    opened_key = crypto.unwrap(
        crypto.Envelope.from_document(envelope_document), pair, item_key
    )
    assert unseal_description(sealed, opened_key, "r") == description_from_json(third)
    block_before = registrar.session.w3.eth.block_number
    submitted = registrar.consent.submit(read, signed).to_json()
    assert submitted["version"] == 3
    stored = registrar.node.block_get(Cid.parse(submitted["description_cid"]))
    assert stored == sealed  # the sealed bytes alone are stored and named on chain
    # Never in plaintext: not in any file of the data directory (node blocks, index, pins)
    # nor in any transaction or log on chain since the request was made.
    for path in registrar.settings.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert canary.encode() not in data and canary.encode("unicode_escape") not in data
    w3 = registrar.session.w3
    for number in range(block_before + 1, w3.eth.block_number + 1):
        block_data = w3.eth.get_block(number, full_transactions=True)
        for tx in block_data["transactions"]:
            assert not isinstance(tx, bytes)
            assert canary.encode() not in bytes(tx["input"])
            for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                assert canary.encode() not in bytes(log["data"])
    [_, version_3] = description_history(registrar.reader, claim)
    assert (version_3.version, version_3.sealed, version_3.description) == (3, True, None)


# ---- offline consent -------------------------------------------------------------------------


def _holders(registrar: Registry, community: bytes) -> list[LocalAccount]:
    return [
        load_signer(registrar.settings, a, PASSPHRASE)
        for a in registrar.session.community(community).keyholders
    ]


def _round_trip(
    request: ConsentRequest, tmp_path: Path, *signers: LocalAccount
) -> tuple[ConsentRequest, list[tuple[str, ConsentSignature]]]:
    path = tmp_path / f"request-{request.digest.hex()[:8]}.json"
    write_new_file(path, encode_request(request))
    read = read_request(path)
    files = []
    for account in signers:
        sig_path = tmp_path / f"{account.address}-{request.digest.hex()[:8]}.json"
        write_new_file(sig_path, encode_signature(sign_request(read, account)))
        files.append((str(sig_path), read_signature(sig_path)))
    return read, files


def test_a_correction_collected_offline(registrar: Registry, tmp_path: Path) -> None:
    item, community, _ = community_with_item(registrar, tmp_path, description("Paddle"))
    holders = _holders(registrar, community)
    second = description("Hoe whakairo", alt_text={"en": "A carved wooden paddle."})
    request = registrar.descriptions.request(
        item, write_description(tmp_path / "d2.json", second)
    )
    assert (request.action, request.version) == ("SetDescription", 2)
    read, files = _round_trip(request, tmp_path, holders[2], holders[0])
    assert read.document == second
    before = sent(registrar)
    with pytest.raises(ConsentIncomplete):  # one of two
        registrar.consent.submit(read, files[:1])
    assert sent(registrar) == before
    result = registrar.consent.submit(read, files).to_json()
    assert sent(registrar) == before + 1
    assert result["version"] == 2 and len(result["signers"]) == 2
    claim = registrar.reader.resolve(item)
    assert latest_description(registrar.reader, claim) == (description_from_json(second), 2)
    # The same signed request cannot be sent again: version 2 is taken.
    with pytest.raises(ConsentStale, match="description version 2"):
        registrar.consent.submit(read, files)


def test_an_online_correction_makes_a_request_stale(registrar: Registry, tmp_path: Path) -> None:
    item, community, keys = community_with_item(registrar, tmp_path, description("Paddle"))
    holders = _holders(registrar, community)
    request = registrar.descriptions.request(
        item, write_description(tmp_path / "d2.json", description("Offline"))
    )
    read, files = _round_trip(request, tmp_path, holders[0], holders[1])
    registrar.descriptions.describe(
        item, write_description(tmp_path / "d3.json", description("Online")), keys
    )
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="the current version is 2, so the next is 3"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before


def test_an_edited_description_request_is_refused(registrar: Registry, tmp_path: Path) -> None:
    item, _, _ = community_with_item(registrar, tmp_path, description("Paddle"))
    request = registrar.descriptions.request(
        item, write_description(tmp_path / "d2.json", description("Honest"))
    )
    path = tmp_path / "request.json"
    write_new_file(path, encode_request(request))
    edited = json.loads(path.read_text())
    edited["document"]["title"] = {"en": "Forged"}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(edited))
    with pytest.raises(ConsentFileInvalid, match="does not hash"):
        read_request(forged)


def test_a_corrected_item_still_verifies_online_and_from_its_proofs(
    registrar: Registry, tmp_path: Path
) -> None:
    from ledger.verify import (
        Status,
        gather,
        parse_proofs,
        proofs_document,
        verify_offline,
        verify_online,
    )

    item, _, keys = community_with_item(registrar, tmp_path, description("Paddle"))
    registrar.descriptions.describe(
        item, write_description(tmp_path / "d2.json", description("Carved paddle")), keys
    )
    assert verify_online(registrar.reader, item).status is Status.VERIFIED
    document = json.loads(json.dumps(proofs_document(gather(registrar.reader, [item]))))
    evidence = parse_proofs(document, "proofs.json")
    assert verify_offline(evidence, cid=item).status is Status.VERIFIED


def test_the_exhibit_gathers_the_current_description(registrar: Registry, tmp_path: Path) -> None:
    from exhibits.gather import gather
    from exhibits.spec import parse_spec

    item, community, keys = community_with_item(registrar, tmp_path, description("Paddle"))
    spec = parse_spec(
        f'title = "T"\nlanguages = ["en"]\n[select]\ncommunities = ["0x{community.hex()}"]\n'
    )
    [first] = gather(registrar.reader, spec).candidates
    assert (first.description_version, first.description) == (
        1, description_from_json(description("Paddle")),
    )  # fmt: skip
    registrar.descriptions.describe(
        item, write_description(tmp_path / "d2.json", description("Carved paddle")), keys
    )
    [second] = gather(registrar.reader, spec).candidates
    assert second.description_version == 2 and second.description is not None
    assert second.description.text("title") is not None
    assert second.description == description_from_json(description("Carved paddle"))
