"""Encrypted registration, decryption, rotation and the no-plaintext-anywhere promise, against
the session's real anvil and the registrar's real embedded IPFS node (served for real over
HTTP for the RPC and gateway checks)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from starlette.types import ASGIApp

from api.ipfs import create_ipfs_app
from ledger import crypto
from ledger.crypto import KEM_HYBRID, KEM_X25519, Kem
from ledger.documents import SEALED_ITEM_TYPE, document_cid
from ledger.errors import BlockNotFound, DecryptionFailed, UsageError
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.keys import load_encryption_key, new_key
from ledger.registry import Registry, SignerKeys
from tests import registry_support
from tests.registry_support import PASSPHRASE
from tests.rights_support import public_terms, restricted_terms, write_terms

# The registrar fixtures of test_registration, reused (pytest finds fixtures among globals).
chain_settings = registry_support.chain_settings
registrar = registry_support.registrar

MiB = 1 << 20


def sealed_community(
    registrar: Registry, name: str, n: int, k: int, kem: Kem = KEM_HYBRID
) -> tuple[list[ChecksumAddress], SignerKeys]:
    """A community of ``n`` keyholders that each hold an encryption key of ``kem``."""
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=kem).address
        for _ in range(n)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    registrar.communities.create(name, holders, k, keys)
    return holders, keys


def keyless_community(registrar: Registry, name: str) -> tuple[bytes, SignerKeys]:
    """A community of two keyholders with Ethereum keys only (no encryption key)."""
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(2)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    registrar.communities.create(name, holders, 1, keys)
    return registrar.reader.resolve_community(name), keys


def _random_files(tmp_path: Path, label: str, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = tmp_path / f"{label}-{i}.obj"
        path.write_bytes(os.urandom(2000 + i))
        paths.append(path)
    return paths


def _opens(registrar: Registry, cid: Cid, holder: str, out: Path, plaintext: Path) -> None:
    registrar.sealing.decrypt(str(cid), holder, PASSPHRASE, out)
    assert out.read_bytes() == plaintext.read_bytes()


def _shut_out(registrar: Registry, cid: Cid, holder: str, out: Path) -> None:
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.sealing.decrypt(str(cid), holder, PASSPHRASE, out)
    assert not out.exists()


def windows(data: bytes, width: int = 48, step: int = 16 * 1024) -> list[bytes]:
    """Distinctive slices of ``data``: any stored chunk of it contains several."""
    if len(data) <= width:
        return [data]
    return [data[i : i + width] for i in range(0, len(data) - width, step)]


def leaks(haystack: bytes, plaintexts: list[bytes]) -> list[int]:
    return [i for i, p in enumerate(plaintexts) for w in windows(p) if w in haystack]


def test_restricted_items_are_sealed_decryptable_and_leave_no_plaintext(
    registrar: Registry,
    tmp_path: Path,
    serve: Callable[[ASGIApp], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = "sealed-" + tmp_path.name
    holders, keys = sealed_community(registrar, name, 3, 2)
    community = registrar.reader.resolve_community(name)
    big = os.urandom(2 * MiB + 12345)  # distinctive, several chunks and segments
    small = b"sacred song, verse 7: " + os.urandom(24).hex().encode()
    files = tmp_path / "files"
    files.mkdir()
    (files / "ceremony-recording.wav").write_bytes(big)
    (files / "song.txt").write_bytes(small)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))

    # the community document carries each keyholder's encryption key, bound on chain
    with registrar.session.event_index() as index:
        digest = index.community(community).document
    community_doc = json.loads(registrar.node.block_get(document_cid(digest)))
    listed = {e["address"]: e["key_id"] for e in community_doc["encryption_keys"]}
    for address in holders:
        pair = load_encryption_key(registrar.settings, address, PASSPHRASE)
        assert listed[address] == "0x" + pair.public.key_id.hex()

    results = registrar.items.register(
        [files / "ceremony-recording.wav", files / "song.txt"], community, terms, keys
    )
    again = registrar.items.register([files / "song.txt"], community, terms, keys)
    plain_cids = [import_bytes(p, ImportOptions(cid_version=1)).cid for p in (big, small)]
    pins = registrar.node.pin_ls()
    for result, plaintext, plain_cid in zip(results, (big, small), plain_cids, strict=True):
        record = registrar.client.find_record(result.key)
        # keyed by the ciphertext; the plaintext's blocks are nowhere on the node
        assert result.cid != plain_cid and result.cid in pins
        with pytest.raises(BlockNotFound):
            registrar.node.block_get(plain_cid)
        public = json.loads(registrar.node.block_get(result.metadata_cid))
        assert public["type"] == SEALED_ITEM_TYPE
        text = json.dumps(public)
        assert str(plain_cid) not in text and "song" not in text and "ceremony" not in text
        assert public["size"] == crypto.ciphertext_size(len(plaintext))
        assert record.commitment != bytes(32)
        # a keyholder decrypts; the plaintext CID is checked against the commitment
        out = tmp_path / f"out-{result.key.hex()[:8]}"
        decrypted = registrar.sealing.decrypt(str(result.cid), holders[1], PASSPHRASE, out)
        assert out.read_bytes() == plaintext
        assert decrypted.plaintext_cid == str(plain_cid)
        assert decrypted.commitment_matches is True
    # the same plaintext twice: two ciphertexts, two CIDs, two items
    assert again[0].cid != results[1].cid and again[0].key != results[1].key

    # a key that is not a keyholder's cannot open it, and nothing is written
    stranger = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_HYBRID)
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.sealing.decrypt(str(results[1].cid), stranger.address, PASSPHRASE, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert list((registrar.settings.data_dir / "tmp").iterdir()) == []

    secrets_ = [big, small]
    # the blockstore directory, every file in it
    for path in (registrar.settings.data_dir / "blocks").rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes(), secrets_) == [], path
    # a CAR export of every pinned DAG
    for cid in pins:
        car = b"".join(registrar.node.dag_export(cid))
        assert leaks(car, secrets_) == [], cid
    # the node's RPC and gateway answers for every pinned CID
    assert isinstance(registrar.node, EmbeddedNode)
    base = serve(create_ipfs_app(registrar.settings, registrar.node))
    with httpx.Client(base_url=base, timeout=60) as http:
        for cid in pins:
            answers = [
                http.get(f"/ipfs/{cid}"),
                http.get(f"/ipfs/{cid}", params={"format": "raw"}),
                http.get(f"/ipfs/{cid}", params={"format": "car"}),
                http.post("/api/v0/cat", params={"arg": str(cid)}),
                http.post("/api/v0/block/get", params={"arg": str(cid)}),
                http.post("/api/v0/dag/export", params={"arg": str(cid)}),
            ]
            assert any(a.status_code == 200 for a in answers)
            for answer in answers:
                assert leaks(answer.content, secrets_) == [], (cid, answer.url)
        for plain_cid in plain_cids:
            assert http.get(f"/ipfs/{plain_cid}").status_code != 200
    # the log
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert leaks(logged, secrets_) == []
    assert b"song.txt" not in logged and b"ceremony-recording" not in logged


def test_public_terms_are_not_encrypted(registrar: Registry, tmp_path: Path) -> None:
    name = "open-" + tmp_path.name
    _, keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    path = tmp_path / "open.obj"
    path.write_bytes(os.urandom(300))
    terms = write_terms(tmp_path / "t.json", public_terms(registrar.reader.resolve_community(name)))
    (result,) = registrar.items.register(
        [path], registrar.reader.resolve_community(name), terms, keys
    )
    assert result.cid == import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
    # the scanner of the leak test finds a public plaintext where it is (a negative control)
    stored = b"".join(
        p.read_bytes() for p in (registrar.settings.data_dir / "blocks").rglob("*.data")
    )
    assert leaks(stored, [path.read_bytes()]) != []
    with pytest.raises(UsageError, match="not encrypted"):
        registrar.sealing.decrypt(str(result.cid), "0x" + "11" * 20, PASSPHRASE, tmp_path / "o")


def test_restricted_terms_without_encryption_keys_add_nothing(
    registrar: Registry, tmp_path: Path
) -> None:
    community, keys = keyless_community(registrar, "nokeys-" + tmp_path.name)
    path = tmp_path / "secret.obj"
    path.write_bytes(b"do not add me " + os.urandom(64))
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    pins = registrar.node.pin_ls()
    with pytest.raises(UsageError, match="names no keyholder encryption key"):
        registrar.items.register([path], community, terms, keys)
    assert registrar.node.pin_ls() == pins
    plain = import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(plain)


def test_rotation_rewraps_and_a_removed_keyholder_is_shut_out(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "rotate-" + tmp_path.name
    (a, b), keys = sealed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    c = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_HYBRID)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    before = tmp_path / "before.bin"
    before.write_bytes(os.urandom(5000))
    (old,) = registrar.items.register([before], community, terms, keys)
    # b can open it while b is a keyholder
    registrar.sealing.decrypt(str(old.cid), b, PASSPHRASE, tmp_path / "b-old")

    signer_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.communities.rotate(community, [a, c.address], 1, signer_a)
    after = tmp_path / "after.bin"
    after.write_bytes(os.urandom(5000))
    (new,) = registrar.items.register([after], community, terms, signer_a)

    # the removed keyholder cannot open an item added after the rotation...
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.sealing.decrypt(str(new.cid), b, PASSPHRASE, tmp_path / "b-new")
    # ...nor the current (re-wrapped) envelope of the older item
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.sealing.decrypt(str(old.cid), b, PASSPHRASE, tmp_path / "b-old-2")
    assert not (tmp_path / "b-new").exists() and not (tmp_path / "b-old-2").exists()
    # the new keyholder opens both, through the envelope the new community document names
    registrar.sealing.decrypt(str(old.cid), c.address, PASSPHRASE, tmp_path / "c-old")
    registrar.sealing.decrypt(str(new.cid), c.address, PASSPHRASE, tmp_path / "c-new")
    assert (tmp_path / "c-old").read_bytes() == before.read_bytes()
    assert (tmp_path / "c-new").read_bytes() == after.read_bytes()
    with registrar.session.event_index() as index:
        digest = index.community(community).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    assert hashlib.sha256(registrar.node.block_get(document_cid(digest))).digest() == digest
    listing = json.loads(registrar.node.block_get(Cid.parse(document["envelopes"])))
    # Envelopes are listed by the content key of the ciphertext's CID, keccak256(cid).
    assert set(listing["envelopes"]) == {"0x" + keccak(bytes(old.cid)).hex()}


def test_restricting_or_revoking_public_terms_withdraws_the_plaintext(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "withdraw-" + tmp_path.name
    _, keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    public = write_terms(tmp_path / "public.json", public_terms(community))
    restricted = write_terms(tmp_path / "restricted.json", restricted_terms(community))
    paths = []
    for label in ("a", "b"):
        path = tmp_path / f"{label}.obj"
        path.write_bytes(os.urandom(400_000))  # a DAG of several blocks
        paths.append(path)
    first, second = registrar.items.register(paths, community, public, keys)
    (sealed,) = registrar.items.register([tmp_path / "a.obj"], community, restricted, keys)
    assert registrar.node.block_get(first.cid)

    # public -> restricted: unpinned and collected here, with the warning
    result = registrar.terms.set(str(first.cid), restricted, keys).to_json()
    assert set(result["unpinned"]) == {str(first.cid), str(first.metadata_cid)}
    assert "cannot be recalled" in result["warning"]
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(first.cid)
    # revocation of a public item: the same
    revoked = registrar.terms.revoke(str(second.cid), keys).to_json()
    assert str(second.cid) in revoked["unpinned"]
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(second.cid)
    # a sealed item keeps its ciphertext: nothing public to withdraw
    kept = registrar.terms.revoke(str(sealed.cid), keys).to_json()
    assert "unpinned" not in kept
    assert registrar.node.block_get(sealed.cid)

    # one item of a batch revoked: that item's plaintext alone is withdrawn
    open_files = _random_files(tmp_path, "open", 2)
    open_batch = registrar.items.register_batch(open_files, community, public, keys)
    target, rest = open_batch.items
    result = registrar.terms.revoke(str(target.cid), keys).to_json()
    assert set(result["unpinned"]) == {str(target.cid), str(target.metadata_cid)}
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(target.cid)
    assert registrar.node.block_get(rest.cid)
    # ...and an item of a sealed batch keeps its ciphertext
    sealed_batch = registrar.items.register_batch(
        _random_files(tmp_path, "sealed", 2), community, restricted, keys
    )
    kept = registrar.terms.revoke(str(sealed_batch.items[0].cid), keys).to_json()
    assert "unpinned" not in kept and kept["revoked"] is True
    assert registrar.node.block_get(sealed_batch.items[0].cid)


def test_rotation_keeps_the_signed_key_of_a_keyholder_whose_keys_are_elsewhere(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "elsewhere-" + tmp_path.name
    (a, b), _ = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    b_key = load_encryption_key(registrar.settings, b, PASSPHRASE).public
    # b's keys move to another machine: neither file is here any more
    (registrar.settings.data_dir / "keys" / "encryption" / f"{b}.json").unlink()
    (registrar.settings.data_dir / "keys" / f"{b}.json").unlink()
    c = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
    signer_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.communities.rotate(community, [a, b, c.address], 1, signer_a)
    with registrar.session.event_index() as index:
        digest = index.community(community).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    listed = {e["address"]: e["key_id"] for e in document["encryption_keys"]}
    assert listed[b] == "0x" + b_key.key_id.hex()
    assert set(listed) == {a, b, c.address}


def test_a_restricted_batch_is_sealed_and_its_items_decrypt(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "batch-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    paths = []
    for i in range(3):
        path = tmp_path / f"secret-name-{i}.obj"
        path.write_bytes(os.urandom(3000 + i))
        paths.append(path)
    batch = registrar.items.register_batch(paths, community, terms, keys)
    manifest = registrar.node.block_get(batch.manifest_cid)
    assert b"secret-name" not in manifest
    for path, entry in zip(paths, batch.items, strict=True):
        plain = import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
        assert entry.cid != plain and str(plain).encode() not in manifest
        out = tmp_path / f"out-{path.name}"
        result = registrar.sealing.decrypt(str(entry.cid), a, PASSPHRASE, out)
        assert out.read_bytes() == path.read_bytes()
        assert result.commitment_matches is True  # the leaf's commitment, proven on chain


def test_a_restricted_derivative_is_sealed_too(registrar: Registry, tmp_path: Path) -> None:
    name = "derivative-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    parent = tmp_path / "parent.obj"
    parent.write_bytes(os.urandom(2000))
    (registered,) = registrar.items.register([parent], community, terms, keys)
    child = tmp_path / "child-scan.glb"
    child.write_bytes(os.urandom(3000))
    method = tmp_path / "method.json"
    method.write_text('{"method": "retopology"}')
    result = registrar.derivatives.add(
        str(registered.cid), child, community, terms, method, keys
    ).to_json()
    plain = import_bytes(child.read_bytes(), ImportOptions(cid_version=1)).cid
    assert result["cid"] != str(plain)
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(plain)
    out = tmp_path / "child.out"
    decrypted = registrar.sealing.decrypt(result["cid"], a, PASSPHRASE, out)
    assert out.read_bytes() == child.read_bytes()
    # the registry's derivative record has no commitment field: the sealed metadata's CID
    # check is what remains, and the result says so
    assert decrypted.commitment_matches is None
    assert decrypted.plaintext_cid == str(plain)


def test_rotation_rewraps_the_items_of_a_batch(registrar: Registry, tmp_path: Path) -> None:
    name = "rotate-batch-" + tmp_path.name
    (a, b), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    c = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    old_paths = _random_files(tmp_path, "old", 2)
    old = registrar.items.register_batch(old_paths, community, terms, keys)
    # before the rotation: b opens an item of the batch, c (not yet a keyholder) cannot
    _opens(registrar, old.items[1].cid, b, tmp_path / "b-before", old_paths[1])
    _shut_out(registrar, old.items[1].cid, c.address, tmp_path / "c-before")

    signer_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.communities.rotate(community, [a, c.address], 1, signer_a)
    new_paths = _random_files(tmp_path, "new", 3)
    new_batch = registrar.items.register_batch(new_paths[:2], community, terms, signer_a)
    (new_single,) = registrar.items.register([new_paths[2]], community, terms, signer_a)

    # the keyholder added by the rotation opens every item of the older batch
    for i, (entry, path) in enumerate(zip(old.items, old_paths, strict=True)):
        _opens(registrar, entry.cid, c.address, tmp_path / f"c-old-{i}", path)
    # the removed keyholder opens neither the older batch's current envelopes nor anything
    # registered after the rotation, single or batch
    _shut_out(registrar, old.items[0].cid, b, tmp_path / "b-old")
    _shut_out(registrar, new_batch.items[0].cid, b, tmp_path / "b-new-batch")
    _shut_out(registrar, new_single.cid, b, tmp_path / "b-new-single")
    _opens(registrar, new_batch.items[1].cid, c.address, tmp_path / "c-new", new_paths[1])
    # the new community document's envelope index names the batch items by their item keys
    with registrar.session.event_index() as index:
        digest = index.community(community).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    listing = json.loads(registrar.node.block_get(Cid.parse(document["envelopes"])))
    assert set(listing["envelopes"]) == {"0x" + keccak(bytes(e.cid)).hex() for e in old.items}


def _two_sealed_communities(
    registrar: Registry, tmp_path: Path
) -> tuple[bytes, list[ChecksumAddress], bytes, list[ChecksumAddress], SignerKeys]:
    sender_name, receiver_name = "sender-" + tmp_path.name, "receiver-" + tmp_path.name
    senders, keys = sealed_community(registrar, sender_name, 2, 1, KEM_X25519)
    receivers, _ = sealed_community(registrar, receiver_name, 2, 1, KEM_X25519)
    return (
        registrar.reader.resolve_community(sender_name),
        senders,
        registrar.reader.resolve_community(receiver_name),
        receivers,
        keys,
    )


def test_custody_moves_rewrap_sealed_content_for_the_receiver(
    registrar: Registry, tmp_path: Path
) -> None:
    sender, (a, b), receiver, (c, d), keys = _two_sealed_communities(registrar, tmp_path)
    terms = write_terms(tmp_path / "t.json", restricted_terms(sender))
    single_path, *batch_paths = _random_files(tmp_path, "moved", 3)
    (single,) = registrar.items.register([single_path], sender, terms, keys)
    batch = registrar.items.register_batch(batch_paths, sender, terms, keys)
    _shut_out(registrar, single.cid, c, tmp_path / "c-before")  # not yet the receiver's

    moved = registrar.custody.transfer(str(single.cid), receiver, keys).to_json()
    registrar.custody.repatriate("0x" + batch.root.hex(), receiver, keys)
    # the receiver's keyholders open the single item and every item of the batch...
    _opens(registrar, single.cid, c, tmp_path / "c-single", single_path)
    for i, (entry, path) in enumerate(zip(batch.items, batch_paths, strict=True)):
        _opens(registrar, entry.cid, d, tmp_path / f"d-batch-{i}", path)
    # ...and the sending community's keyholders no longer hold the current envelopes
    _shut_out(registrar, single.cid, a, tmp_path / "a-single")
    _shut_out(registrar, batch.items[0].cid, b, tmp_path / "b-batch")
    # the new envelopes are named by the custody document both communities signed
    custody = json.loads(registrar.node.block_get(Cid.parse(moved["document_cid"])))
    listing = json.loads(registrar.node.block_get(Cid.parse(custody["envelopes"])))
    assert set(listing["envelopes"]) == {"0x" + keccak(bytes(single.cid)).hex()}

    # the sender's rotation leaves what it passed on alone (its signer could not open it)...
    e = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
    only_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.communities.rotate(sender, [a, e.address], 1, only_a)
    with registrar.session.event_index() as index:
        sender_digest = index.community(sender).document
    assert "envelopes" not in json.loads(registrar.node.block_get(document_cid(sender_digest)))
    _shut_out(registrar, single.cid, e.address, tmp_path / "e-single")
    # ...and the receiver's rotation re-wraps what was moved to it for its new keyholders
    only_c = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (c,))
    registrar.communities.rotate(receiver, [c, e.address], 1, only_c)
    _opens(registrar, single.cid, e.address, tmp_path / "e-single-2", single_path)
    _opens(registrar, batch.items[1].cid, e.address, tmp_path / "e-batch", batch_paths[1])
    _shut_out(registrar, single.cid, d, tmp_path / "d-single")


def test_a_sealed_item_is_not_moved_to_a_community_without_encryption_keys(
    registrar: Registry, tmp_path: Path
) -> None:
    sender_name = "keyed-" + tmp_path.name
    _, keys = sealed_community(registrar, sender_name, 2, 1, KEM_X25519)
    sender = registrar.reader.resolve_community(sender_name)
    receiver, _ = keyless_community(registrar, "keyless-" + tmp_path.name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(sender))
    (path,) = _random_files(tmp_path, "stays", 1)
    (item,) = registrar.items.register([path], sender, terms, keys)
    nonce = registrar.client.custody_nonce(item.key)
    with pytest.raises(UsageError, match="names no keyholder encryption key; nothing was sent"):
        registrar.custody.transfer(str(item.cid), receiver, keys)
    assert registrar.client.custody_nonce(item.key) == nonce
    assert registrar.items.show(str(item.cid)).steward == sender
