"""Every integrity check of `heritage item decrypt`, each made to fire on its own.

A forging registrar (the real one, with its sealing step written again here with one edit
at a time) registers restricted items on the session's anvil and the embedded IPFS node
whose stored parts do not agree: a commitment on chain that is not the plaintext's, a salt in
the sealed metadata that is not the committed one, an envelope wrapped for another item,
sealed metadata that names another plaintext, a ciphertext truncated or with its segments
reordered. A keyholder then decrypts each: each is refused with its own error, and nothing is
written to the output path (nor left beside it, nor in the data directory's tmp/).

An honest item made by the same forger decrypts, so each refusal is the edit's doing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_typing import ChecksumAddress

from ledger import crypto
from ledger.chain import connect, content_key
from ledger.documents import SEALED_ITEM_TYPE, canonical_json, metadata_document
from ledger.errors import DecryptionFailed, UsageError
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.keys import new_key
from ledger.registry import Prepared, Registry, Seal, SignerKeys, Staging
from ledger.rights.description import Description
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests import registry_support
from tests.registry_support import PASSPHRASE, chain_snapshot, settings_on
from tests.rights_support import restricted_terms, write_terms

chain_settings = registry_support.chain_settings

SEGMENT = crypto.DEFAULT_SEGMENT_SIZE
CHUNK = SEGMENT + crypto.TAG_BYTES


def _same(value: bytes) -> bytes:
    return value


@dataclass(frozen=True)
class Forgery:
    """One edit of a sealed item's parts (the identity everywhere: an honest item)."""

    chain_commitment: Callable[[bytes], bytes] = _same
    sealed_salt: Callable[[bytes], bytes] = _same
    names_other_plaintext: bool = False
    envelope_for_another_item: bool = False
    ciphertext: Callable[[bytes], bytes] = _same


def _flip_first_bit(value: bytes) -> bytes:
    return bytes((value[0] ^ 1,)) + value[1:]


def _drop_last_segment(sealed: bytes) -> bytes:
    body = sealed[crypto.HEADER_BYTES :]
    whole = len(body) // CHUNK * CHUNK  # the full segments; the last, shorter one goes
    return sealed[: crypto.HEADER_BYTES] + body[:whole]


def _swap_segments_0_and_1(sealed: bytes) -> bytes:
    header, body = sealed[: crypto.HEADER_BYTES], sealed[crypto.HEADER_BYTES :]
    return header + body[CHUNK : 2 * CHUNK] + body[:CHUNK] + body[2 * CHUNK :]


class ForgingStaging(Staging):
    """The staging of files, sealing items as docs/encryption.md describes, with one edit."""

    forgery = Forgery()

    def prepare_sealed(
        self,
        path: Path,
        options: ImportOptions,
        seal: Seal,
        description: Description | None = None,
    ) -> Prepared:
        forgery = self.forgery
        plaintext = path.read_bytes()
        plain_cid = import_bytes(plaintext, options).cid
        named_cid = (
            import_bytes(plaintext + b" (another plaintext)", options).cid
            if forgery.names_other_plaintext
            else plain_cid
        )
        data_key = crypto.new_content_key()
        sink = io.BytesIO()
        crypto.encrypt_stream(data_key, io.BytesIO(plaintext), sink)
        cipher_path = path.with_name(path.name + ".sealed")
        cipher_path.write_bytes(forgery.ciphertext(sink.getvalue()))
        entry = self.session.node.add_path(cipher_path, options, pin=False)[-1]
        salt = os.urandom(crypto.SALT_BYTES)
        commitment = crypto.plaintext_commitment(salt, named_cid)
        private = {
            **metadata_document(named_cid, path.name, len(plaintext), options),
            "commitment_salt": "0x" + forgery.sealed_salt(salt).hex(),
            "commitment": "0x" + commitment.hex(),
        }
        sealed_metadata = crypto.seal_bytes(data_key, canonical_json(private))
        wrapped_for = content_key(bytes(entry.cid))
        if forgery.envelope_for_another_item:
            wrapped_for = content_key(bytes(plain_cid))
        envelope = crypto.wrap(data_key, wrapped_for, seal.recipients)
        # the envelope document still names the item it is filed under
        document = {**envelope.to_document(), "item": "0x" + content_key(bytes(entry.cid)).hex()}
        envelope_bytes = canonical_json(document)
        public = {
            "type": SEALED_ITEM_TYPE,
            "version": 1,
            "cid": str(entry.cid),
            "size": entry.filesize,
            "encryption": {"format": "heritage-stream-v1", "purpose": "content"},
            "import": metadata_document(entry.cid, "", entry.filesize, options)["import"],
            "envelope": str(Cid.for_block(envelope_bytes, RAW)),
            "sealed_metadata": str(Cid.for_block(sealed_metadata, RAW)),
        }
        return Prepared(
            path,
            entry,
            canonical_json(public),
            commitment=forgery.chain_commitment(commitment),
            blocks=(envelope_bytes, sealed_metadata),
            sealed=True,
        )


class ForgingRegistrar(Registry):
    """The registry, its items and derivatives staged by :class:`ForgingStaging`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.forging = ForgingStaging(self.session, self.reader)
        self.staging = self.items.staging = self.derivatives.staging = self.forging

    @property
    def forgery(self) -> Forgery:
        return self.forging.forgery

    @forgery.setter
    def forgery(self, forgery: Forgery) -> None:
        self.forging.forgery = forgery


@pytest.fixture
def forger(chain_settings: Settings, tmp_path: Path) -> Iterator[ForgingRegistrar]:
    settings = settings_on(chain_settings, tmp_path / "data")
    registrar = ForgingRegistrar(settings)
    with chain_snapshot(connect(settings.rpc_url)), registrar:
        registrar.session.use_sender(anvil_dev_account())
        yield registrar


@dataclass(frozen=True)
class Sealed:
    """A community of one keyholder (with an encryption key) and restricted terms of it."""

    community: bytes
    holder: ChecksumAddress
    keys: SignerKeys
    terms: Path


def _sealed_community(forger: ForgingRegistrar, tmp_path: Path) -> Sealed:
    holder = new_key(
        forger.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=crypto.KEM_X25519
    )
    keys = SignerKeys(forger.settings, lambda _address: PASSPHRASE)
    name = "forged-" + tmp_path.name
    forger.communities.create(name, [holder.address], 1, keys)
    community = forger.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))
    return Sealed(community, holder.address, keys, terms)


def _file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _register(
    forger: ForgingRegistrar, tmp_path: Path, forgery: Forgery
) -> tuple[Cid, ChecksumAddress, bytes]:
    """A restricted item registered with ``forgery``: its CID, a keyholder, its plaintext."""
    sealed = _sealed_community(forger, tmp_path)
    # four segments: room to truncate and reorder
    path = _file(tmp_path, "recording.wav", 3 * SEGMENT + 1000)
    forger.forgery = forgery
    (result,) = forger.items.register([path], sealed.community, sealed.terms, sealed.keys)
    return result.cid, sealed.holder, path.read_bytes()


def test_an_honest_item_of_the_forger_decrypts(forger: ForgingRegistrar, tmp_path: Path) -> None:
    cid, holder, plaintext = _register(forger, tmp_path, Forgery())
    out = tmp_path / "out" / "plain.wav"
    out.parent.mkdir()
    decrypted = forger.sealing.decrypt(str(cid), holder, PASSPHRASE, out)
    assert out.read_bytes() == plaintext
    assert decrypted.commitment_matches is True
    assert decrypted.plaintext_cid == str(import_bytes(plaintext, ImportOptions(cid_version=1)).cid)


@pytest.mark.parametrize(
    ("forgery", "refusal"),
    [
        pytest.param(Forgery(chain_commitment=_flip_first_bit),
                     "does not match the commitment on chain", id="edited-commitment"),
        pytest.param(Forgery(sealed_salt=_flip_first_bit),
                     "does not match the commitment on chain", id="edited-salt"),
        pytest.param(Forgery(envelope_for_another_item=True),
                     "does not open for item", id="swapped-envelope"),
        pytest.param(Forgery(names_other_plaintext=True),
                     "is not the one its sealed metadata names", id="names-another-plaintext"),
        pytest.param(Forgery(ciphertext=_drop_last_segment),
                     "segment 2 does not authenticate", id="truncated-stream"),
        pytest.param(Forgery(ciphertext=_swap_segments_0_and_1),
                     "segment 0 does not authenticate", id="reordered-stream"),
    ],
)  # fmt: skip
def test_each_integrity_check_refuses_its_forgery_and_writes_nothing(
    forger: ForgingRegistrar, tmp_path: Path, forgery: Forgery, refusal: str
) -> None:
    cid, holder, _ = _register(forger, tmp_path, forgery)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "plain.wav"
    with pytest.raises(DecryptionFailed, match=refusal) as refused:
        forger.sealing.decrypt(str(cid), holder, PASSPHRASE, out)
    assert refused.value.hint  # says what to do
    assert not out.exists() and not out.is_symlink()
    assert list(out_dir.iterdir()) == []  # no partial file beside it either
    work = forger.settings.data_dir / "tmp"  # made only once decryption gets that far
    assert not work.exists() or list(work.iterdir()) == []


def test_the_items_of_a_batch_are_held_to_their_leaf_commitments(
    forger: ForgingRegistrar, tmp_path: Path
) -> None:
    sealed = _sealed_community(forger, tmp_path)
    honest = [_file(tmp_path, f"honest-{i}.obj", 3000 + i) for i in range(2)]
    batch = forger.items.register_batch(honest, sealed.community, sealed.terms, sealed.keys)
    out = tmp_path / "honest.out"
    decrypted = forger.sealing.decrypt(str(batch.items[1].cid), sealed.holder, PASSPHRASE, out)
    assert out.read_bytes() == honest[1].read_bytes()
    assert decrypted.commitment_matches is True
    forger.forgery = Forgery(chain_commitment=_flip_first_bit)
    forged = [_file(tmp_path, f"forged-{i}.obj", 3000 + i) for i in range(2)]
    batch = forger.items.register_batch(forged, sealed.community, sealed.terms, sealed.keys)
    out = tmp_path / "forged.out"
    with pytest.raises(DecryptionFailed, match="does not match the commitment on chain"):
        forger.sealing.decrypt(str(batch.items[0].cid), sealed.holder, PASSPHRASE, out)
    assert not out.exists()


def test_a_derivative_has_no_commitment_and_is_held_to_its_sealed_metadata(
    forger: ForgingRegistrar, tmp_path: Path
) -> None:
    sealed = _sealed_community(forger, tmp_path)
    (parent,) = forger.items.register(
        [_file(tmp_path, "parent.obj", 2000)], sealed.community, sealed.terms, sealed.keys
    )
    method = tmp_path / "method.json"
    method.write_text('{"method": "retopology"}')
    child = _file(tmp_path, "child.glb", 3000)
    honest = forger.derivatives.add(
        str(parent.cid), child, sealed.community, sealed.terms, method, sealed.keys
    )
    out = tmp_path / "child.out"
    decrypted = forger.sealing.decrypt(honest.cid, sealed.holder, PASSPHRASE, out)
    assert out.read_bytes() == child.read_bytes()
    assert decrypted.commitment_matches is None  # the registry keeps none for a derivative
    forger.forgery = Forgery(names_other_plaintext=True)
    forged = forger.derivatives.add(
        str(parent.cid), _file(tmp_path, "other.glb", 3000), sealed.community, sealed.terms,
        method, sealed.keys,
    )
    out = tmp_path / "other.out"
    with pytest.raises(DecryptionFailed, match="is not the one its sealed metadata names"):
        forger.sealing.decrypt(forged.cid, sealed.holder, PASSPHRASE, out)
    assert not out.exists()


def test_an_output_path_taken_by_a_dangling_link_is_refused_before_anything(
    forger: ForgingRegistrar, tmp_path: Path
) -> None:
    cid, _, _ = _register(forger, tmp_path, Forgery())
    out = tmp_path / "taken"
    out.symlink_to(tmp_path / "nowhere")
    stranger = new_key(forger.settings, PASSPHRASE, unsafe_light_kdf=True,
                       encryption=crypto.KEM_X25519)  # fmt: skip
    # refused for the path, before the key is even tried (a stranger's key would fail later)
    with pytest.raises(UsageError, match="already exists"):
        forger.sealing.decrypt(str(cid), stranger.address, PASSPHRASE, out)
    assert out.is_symlink() and not out.exists()


def test_a_ciphertext_missing_from_the_node_is_reported_as_missing(
    forger: ForgingRegistrar, tmp_path: Path
) -> None:
    from ledger.errors import BlockNotFound
    from ledger.ipfs.backend import EmbeddedNode

    cid, holder, _ = _register(forger, tmp_path, Forgery())
    assert isinstance(forger.node, EmbeddedNode)
    forger.node.store.delete_block(cid.multihash)  # the ciphertext: one raw block
    out = tmp_path / "plain.wav"
    with pytest.raises(BlockNotFound):
        forger.sealing.decrypt(str(cid), holder, PASSPHRASE, out)
    assert not out.exists()
    assert list((forger.settings.data_dir / "tmp").iterdir()) == []
