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
from starlette.types import ASGIApp

from api.ipfs_app import create_ipfs_app
from ledger import crypto
from ledger.crypto import KEM_HYBRID, KEM_X25519, Kem
from ledger.errors import BlockNotFound, DecryptionFailed, UsageError
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.keys import load_encryption_key, new_key
from ledger.registration import (
    SEALED_ITEM_TYPE,
    Registrar,
    SignerKeys,
    document_cid,
)
from tests.ledger import test_registration as registration_tests
from tests.ledger.test_registration import PASSPHRASE
from tests.rights_support import public_terms, restricted_terms, write_terms

# The registrar fixtures of test_registration, reused (pytest finds fixtures among globals).
chain_settings = registration_tests.chain_settings
registrar = registration_tests.registrar

MiB = 1 << 20


def sealed_community(
    registrar: Registrar, name: str, n: int, k: int, kem: Kem = KEM_HYBRID
) -> tuple[list[ChecksumAddress], SignerKeys]:
    """A community of ``n`` keyholders that each hold an encryption key of ``kem``."""
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=kem).address
        for _ in range(n)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    registrar.create_community(name, holders, k, keys)
    return holders, keys


def windows(data: bytes, width: int = 48, step: int = 16 * 1024) -> list[bytes]:
    """Distinctive slices of ``data``: any stored chunk of it contains several."""
    if len(data) <= width:
        return [data]
    return [data[i : i + width] for i in range(0, len(data) - width, step)]


def leaks(haystack: bytes, plaintexts: list[bytes]) -> list[int]:
    return [i for i, p in enumerate(plaintexts) for w in windows(p) if w in haystack]


def test_restricted_items_are_sealed_decryptable_and_leave_no_plaintext(
    registrar: Registrar,
    tmp_path: Path,
    serve: Callable[[ASGIApp], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = "sealed-" + tmp_path.name
    holders, keys = sealed_community(registrar, name, 3, 2)
    community = registrar.resolve_community(name)
    big = os.urandom(2 * MiB + 12345)  # distinctive, several chunks and segments
    small = b"sacred song, verse 7: " + os.urandom(24).hex().encode()
    files = tmp_path / "files"
    files.mkdir()
    (files / "ceremony-recording.wav").write_bytes(big)
    (files / "song.txt").write_bytes(small)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))

    # the community document carries each keyholder's encryption key, bound on chain
    with registrar._index() as index:
        digest = index.community(community).document
    community_doc = json.loads(registrar.node.block_get(document_cid(digest)))
    listed = {e["address"]: e["key_id"] for e in community_doc["encryption_keys"]}
    for address in holders:
        pair = load_encryption_key(registrar.settings, address, PASSPHRASE)
        assert listed[address] == "0x" + pair.public.key_id.hex()

    results = registrar.register(
        [files / "ceremony-recording.wav", files / "song.txt"], community, terms, keys
    )
    again = registrar.register([files / "song.txt"], community, terms, keys)
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
        decrypted = registrar.decrypt_item(str(result.cid), holders[1], PASSPHRASE, out)
        assert out.read_bytes() == plaintext
        assert decrypted.plaintext_cid == str(plain_cid)
        assert decrypted.commitment_matches is True
    # the same plaintext twice: two ciphertexts, two CIDs, two items
    assert again[0].cid != results[1].cid and again[0].key != results[1].key

    # a key that is not a keyholder's cannot open it, and nothing is written
    stranger = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_HYBRID)
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.decrypt_item(str(results[1].cid), stranger.address, PASSPHRASE, tmp_path / "x")
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


def test_public_terms_are_not_encrypted(registrar: Registrar, tmp_path: Path) -> None:
    name = "open-" + tmp_path.name
    _, keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    path = tmp_path / "open.obj"
    path.write_bytes(os.urandom(300))
    terms = write_terms(tmp_path / "t.json", public_terms(registrar.resolve_community(name)))
    (result,) = registrar.register([path], registrar.resolve_community(name), terms, keys)
    assert result.cid == import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
    # the scanner of the leak test finds a public plaintext where it is (a negative control)
    stored = b"".join(
        p.read_bytes() for p in (registrar.settings.data_dir / "blocks").rglob("*.data")
    )
    assert leaks(stored, [path.read_bytes()]) != []
    with pytest.raises(UsageError, match="not encrypted"):
        registrar.decrypt_item(str(result.cid), "0x" + "11" * 20, PASSPHRASE, tmp_path / "o")


def test_restricted_terms_without_encryption_keys_add_nothing(
    registrar: Registrar, tmp_path: Path
) -> None:
    name = "nokeys-" + tmp_path.name
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address for _ in range(2)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    registrar.create_community(name, holders, 1, keys)
    path = tmp_path / "secret.obj"
    path.write_bytes(b"do not add me " + os.urandom(64))
    terms = write_terms(tmp_path / "t.json", restricted_terms(registrar.resolve_community(name)))
    pins = registrar.node.pin_ls()
    with pytest.raises(UsageError, match="names no keyholder encryption key"):
        registrar.register([path], registrar.resolve_community(name), terms, keys)
    assert registrar.node.pin_ls() == pins
    plain = import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(plain)


def test_rotation_rewraps_and_a_removed_keyholder_is_shut_out(
    registrar: Registrar, tmp_path: Path
) -> None:
    name = "rotate-" + tmp_path.name
    (a, b), keys = sealed_community(registrar, name, 2, 1)
    community = registrar.resolve_community(name)
    c = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_HYBRID)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    before = tmp_path / "before.bin"
    before.write_bytes(os.urandom(5000))
    (old,) = registrar.register([before], community, terms, keys)
    # b can open it while b is a keyholder
    registrar.decrypt_item(str(old.cid), b, PASSPHRASE, tmp_path / "b-old")

    signer_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.rotate_community(community, [a, c.address], 1, signer_a)
    after = tmp_path / "after.bin"
    after.write_bytes(os.urandom(5000))
    (new,) = registrar.register([after], community, terms, signer_a)

    # the removed keyholder cannot open an item added after the rotation...
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.decrypt_item(str(new.cid), b, PASSPHRASE, tmp_path / "b-new")
    # ...nor the current (re-wrapped) envelope of the older item
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        registrar.decrypt_item(str(old.cid), b, PASSPHRASE, tmp_path / "b-old-2")
    assert not (tmp_path / "b-new").exists() and not (tmp_path / "b-old-2").exists()
    # the new keyholder opens both, through the envelope the new community document names
    registrar.decrypt_item(str(old.cid), c.address, PASSPHRASE, tmp_path / "c-old")
    registrar.decrypt_item(str(new.cid), c.address, PASSPHRASE, tmp_path / "c-new")
    assert (tmp_path / "c-old").read_bytes() == before.read_bytes()
    assert (tmp_path / "c-new").read_bytes() == after.read_bytes()
    with registrar._index() as index:
        digest = index.community(community).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    assert hashlib.sha256(registrar.node.block_get(document_cid(digest))).digest() == digest
    listing = json.loads(registrar.node.block_get(Cid.parse(document["envelopes"])))
    assert set(listing["envelopes"]) == {"0x" + old.key.hex()}


def test_restricting_or_revoking_public_terms_withdraws_the_plaintext(
    registrar: Registrar, tmp_path: Path
) -> None:
    name = "withdraw-" + tmp_path.name
    _, keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.resolve_community(name)
    public = write_terms(tmp_path / "public.json", public_terms(community))
    restricted = write_terms(tmp_path / "restricted.json", restricted_terms(community))
    paths = []
    for label in ("a", "b"):
        path = tmp_path / f"{label}.obj"
        path.write_bytes(os.urandom(400_000))  # a DAG of several blocks
        paths.append(path)
    first, second = registrar.register(paths, community, public, keys)
    (sealed,) = registrar.register([tmp_path / "a.obj"], community, restricted, keys)
    assert registrar.node.block_get(first.cid)

    # public -> restricted: unpinned and collected here, with the warning
    result = registrar.set_terms(str(first.cid), restricted, keys)
    assert set(result["unpinned"]) == {str(first.cid), str(first.metadata_cid)}
    assert "cannot be recalled" in result["warning"]
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(first.cid)
    # revocation of a public item: the same
    revoked = registrar.revoke_terms(str(second.cid), keys)
    assert str(second.cid) in revoked["unpinned"]
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(second.cid)
    # a sealed item keeps its ciphertext: nothing public to withdraw
    kept = registrar.revoke_terms(str(sealed.cid), keys)
    assert "unpinned" not in kept
    assert registrar.node.block_get(sealed.cid)


def test_rotation_keeps_the_signed_key_of_a_keyholder_whose_keys_are_elsewhere(
    registrar: Registrar, tmp_path: Path
) -> None:
    name = "elsewhere-" + tmp_path.name
    (a, b), _ = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.resolve_community(name)
    b_key = load_encryption_key(registrar.settings, b, PASSPHRASE).public
    # b's keys move to another machine: neither file is here any more
    (registrar.settings.data_dir / "keys" / "encryption" / f"{b}.json").unlink()
    (registrar.settings.data_dir / "keys" / f"{b}.json").unlink()
    c = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
    signer_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    registrar.rotate_community(community, [a, b, c.address], 1, signer_a)
    with registrar._index() as index:
        digest = index.community(community).document
    document = json.loads(registrar.node.block_get(document_cid(digest)))
    listed = {e["address"]: e["key_id"] for e in document["encryption_keys"]}
    assert listed[b] == "0x" + b_key.key_id.hex()
    assert set(listed) == {a, b, c.address}


def test_a_restricted_batch_is_sealed_and_its_items_decrypt(
    registrar: Registrar, tmp_path: Path
) -> None:
    name = "batch-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    paths = []
    for i in range(3):
        path = tmp_path / f"secret-name-{i}.obj"
        path.write_bytes(os.urandom(3000 + i))
        paths.append(path)
    batch = registrar.register_batch(paths, community, terms, keys)
    manifest = registrar.node.block_get(batch.manifest_cid)
    assert b"secret-name" not in manifest
    for path, entry in zip(paths, batch.items, strict=True):
        plain = import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
        assert entry.cid != plain and str(plain).encode() not in manifest
        out = tmp_path / f"out-{path.name}"
        result = registrar.decrypt_item(str(entry.cid), a, PASSPHRASE, out)
        assert out.read_bytes() == path.read_bytes()
        assert result.commitment_matches is True  # the leaf's commitment, proven on chain


def test_a_restricted_derivative_is_sealed_too(registrar: Registrar, tmp_path: Path) -> None:
    name = "derivative-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    parent = tmp_path / "parent.obj"
    parent.write_bytes(os.urandom(2000))
    (registered,) = registrar.register([parent], community, terms, keys)
    child = tmp_path / "child-scan.glb"
    child.write_bytes(os.urandom(3000))
    method = tmp_path / "method.json"
    method.write_text('{"method": "retopology"}')
    result = registrar.add_derivative(str(registered.cid), child, community, terms, method, keys)
    plain = import_bytes(child.read_bytes(), ImportOptions(cid_version=1)).cid
    assert result["cid"] != str(plain)
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(plain)
    out = tmp_path / "child.out"
    decrypted = registrar.decrypt_item(result["cid"], a, PASSPHRASE, out)
    assert out.read_bytes() == child.read_bytes()
    # the registry's derivative record has no commitment field: the sealed metadata's CID
    # check is what remains, and the result says so
    assert decrypted.commitment_matches is None
    assert decrypted.plaintext_cid == str(plain)
