"""Sealing: the envelopes of restricted (encrypted) items, re-wrapping them, decrypting.

Terms that require encryption (:func:`ledger.rights.requires_encryption`) seal each file for
the encryption keys that the community's current, keyholder-signed document lists (staged by
:mod:`ledger.registry.staging`). A rotation re-wraps every sealed item the community stewards
(items, derivatives, items of batches) for the new keyholders and names the new envelopes in
the new community document ("envelopes"); a transfer or repatriation re-wraps for the
receiver and names them in the custody document. The reader's ``current_envelope`` picks
among them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address

from ledger import crypto, strict_json
from ledger.chain import KIND_DERIVATIVE, Community, Record
from ledger.documents import ENVELOPE_INDEX_TYPE, SEALED_ITEM_TYPE, parse_json_document
from ledger.errors import (
    ConsentMismatch,
    ConsentStale,
    DecryptionFailed,
    HeritageError,
    NotFound,
    UsageError,
)
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_path
from ledger.keys import (
    encryption_key_info,
    load_encryption_key,
    load_encryption_key_file,
)
from ledger.registry.reader import RegistryReader
from ledger.registry.results import Content, DecryptedItem, to_hex
from ledger.registry.session import RegistrySession
from ledger.registry.signers import SignerKeys
from ledger.registry.staging import Seal
from ledger.rights import parse_terms, requires_encryption

__all__ = ["Sealing"]

_ZERO32: Final = bytes(32)


def _decryption_mismatch(message: str) -> DecryptionFailed:
    """A decryption whose result does not match what was registered: nothing is written."""
    return DecryptionFailed(message, hint="the stored item or its metadata was altered")


class Sealing:
    """Encryption keys of communities, envelopes re-wrapped for new readers, decryption."""

    def __init__(self, session: RegistrySession, reader: RegistryReader) -> None:
        self.session = session
        self.reader = reader

    # -- who items are sealed for ------------------------------------------------------------

    def encryption_keys_document(
        self, keyholders: Sequence[str], previous: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{"encryption_keys": [...]}``: each keyholder's public encryption key, from the
        keystore here or else from the ``previous`` community document (a keyholder whose
        keys live elsewhere keeps the key the keyholders signed before), for the community
        document (which the keyholders sign)."""
        earlier = {
            e.get("address"): e
            for e in (previous or {}).get("encryption_keys", [])
            if isinstance(e, dict)
        }
        entries: list[dict[str, Any]] = []
        for address in keyholders:
            try:
                info = encryption_key_info(self.session.settings, address)
            except NotFound:
                if address in earlier:
                    key = crypto.EncryptionPublicKey.from_json(earlier[address])
                    entries.append({"address": address, **key.to_json()})
                continue
            entries.append({"address": info.address, **info.public.to_json()})
        return {"encryption_keys": entries} if entries else {}

    def recipients(
        self,
        community: Community,
        reason: str = "these terms require encryption",
        *,
        refused: str = "nothing was added",
    ) -> tuple[crypto.EncryptionPublicKey, ...]:
        """The encryption keys of ``community``'s keyholders that its current (signed) document
        lists; UsageError (``reason``, ``refused``) when it lists none."""
        entries = self.reader.community_document(community.id).get("encryption_keys")
        found: list[crypto.EncryptionPublicKey] = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("address") in community.keyholders:
                found.append(
                    crypto.EncryptionPublicKey.from_json(
                        entry, f"an encryption key of community {to_hex(community.id)}"
                    )
                )
        if not found:
            raise UsageError(
                f"{reason}, but the document of community {to_hex(community.id)} names no "
                f"keyholder encryption key; {refused}",
                hint="create the keyholders' keys with `heritage keys new-encryption ADDRESS`, "
                "then publish them with `heritage community rotate` (same keyholders)",
            )
        return tuple(found)

    def seal_for(self, terms_document: Mapping[str, Any], community: Community) -> Seal | None:
        """How to seal items under these terms; None when they allow public access."""
        if not requires_encryption(parse_terms(terms_document)):
            return None
        return Seal(community.id, self.recipients(community))

    def openers(self, community: Community, keys: SignerKeys) -> list[str]:
        """The keyholders of ``community`` whose encryption key is in the keystore here (of
        those ``keys`` names, when it names some): who can open sealed items to re-wrap them.
        Their passphrases are asked for only when an item needs one."""
        found: list[str] = []
        for address in community.keyholders:
            if keys.addresses is not None and address not in keys.addresses:
                continue
            try:
                encryption_key_info(self.session.settings, address)
            except NotFound:
                continue
            found.append(address)
        return found

    def content_key_of(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        keys: SignerKeys,
        why: str,
        *,
        only: bytes | None = None,
    ) -> bytes:
        """The content key of the sealed item or derivative ``subject`` (``only``: the item of
        that content key in the batch ``subject``), opened with the encryption key of one of
        ``steward``'s keyholders here (of those ``keys`` names) that its current envelope is
        wrapped for: what seals a corrected description with the item. UsageError (``why``:
        what needs it) when no such key is here."""
        return self.open_envelope(subject, record, steward, keys, why, only=only)[0]

    def open_envelope(
        self,
        subject: bytes,
        record: Record,
        steward: Community,
        keys: SignerKeys,
        why: str,
        *,
        only: bytes | None = None,
    ) -> tuple[bytes, crypto.Envelope, bytes]:
        """:meth:`content_key_of`, with the current envelope it was opened from and the item
        key that envelope wraps it for (what a keyholder elsewhere needs to open it again)."""
        [content] = self.reader.contents(subject, record, only)
        if content.metadata is None or not content.sealed:
            raise UsageError(f"item {to_hex(content.key)} is not encrypted")
        envelope = self.reader.envelope(
            self.reader.current_envelope(content.key, subject, steward.id, content.metadata)
        )
        for address in self.openers(steward, keys):
            pair = load_encryption_key(
                self.session.settings, address, keys.passphrase(to_checksum_address(address))
            )
            if pair.public.key_id in envelope.key_ids():
                return crypto.unwrap(envelope, pair, content.key), envelope, content.key
        raise UsageError(
            f"{why} needs the content key of the encrypted item {to_hex(content.key)}, opened "
            "with the encryption key of a signing keyholder it is wrapped for; none is here; "
            "nothing was sent",
            hint="run it where such a keyholder's encryption key is, naming that keyholder "
            "with --signer (--opener for a request)",
        )

    # -- re-wrapping -------------------------------------------------------------------------

    def _rewrap(
        self,
        sealed: Sequence[tuple[bytes, Content]],
        steward: bytes,
        recipients: Sequence[crypto.EncryptionPublicKey],
        openers: Sequence[str],
        keys: SignerKeys,
        why: str,
    ) -> dict[str, str]:
        """Re-wrap the content key of each sealed ``(subject, content)`` of ``steward`` for
        ``recipients``, opened with the encryption key of a keyholder of ``openers`` that its
        current envelope is wrapped for: ``{item key: new envelope CID}`` (each envelope put
        and pinned)."""
        loaded: dict[str, crypto.EncryptionKeyPair | None] = {}
        envelopes: dict[str, str] = {}
        for subject, content in sealed:
            assert content.metadata is not None  # sealed
            current = self.reader.envelope(
                self.reader.current_envelope(content.key, subject, steward, content.metadata)
            )
            holder: crypto.EncryptionKeyPair | None = None
            for address in openers:
                if address not in loaded:
                    try:
                        loaded[address] = load_encryption_key(
                            self.session.settings,
                            address,
                            keys.passphrase(to_checksum_address(address)),
                        )
                    except NotFound:
                        loaded[address] = None
                pair = loaded[address]
                if pair is not None and pair.public.key_id in current.key_ids():
                    holder = pair
                    break
            if holder is None:
                raise UsageError(
                    f"{why} re-wraps the encrypted item {to_hex(content.key)}, which needs the "
                    f"encryption key of a signing keyholder it is wrapped for; none of "
                    f"{', '.join(openers) or 'the keyholders'} has one here; nothing was sent",
                    hint="run it where such a keyholder's encryption key is, naming that "
                    "keyholder with --signer (--opener for `heritage consent request`)",
                )
            fresh = crypto.rewrap(current, holder, recipients, item=content.key)
            _, cid = self.session.put_document(fresh.to_document())
            envelopes[to_hex(content.key)] = str(cid)
        return envelopes

    def _envelope_index(self, community_id: bytes, envelopes: Mapping[str, str]) -> Cid:
        _, cid = self.session.put_document(
            {
                "type": ENVELOPE_INDEX_TYPE,
                "version": 1,
                "community": to_hex(community_id),
                "envelopes": dict(envelopes),
            }
        )
        return cid

    def sealed_stewarded(self, community_id: bytes) -> list[tuple[bytes, Content]]:
        """Every sealed file ``community_id`` stewards now, with its registry subject."""
        return [
            (subject, content)
            for subject, record in self.reader.stewarded(community_id)
            for content in self.reader.contents(subject, record)
            if content.sealed
        ]

    def rewrap_for_rotation(
        self,
        community_id: bytes,
        following: Sequence[str],
        keys: SignerKeys,
        openers: Sequence[str],
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Re-wrap every sealed item the community stewards (items, derivatives and the items
        of batches, registered by it or moved to it) for the keyholders that follow;
        ``{"envelopes": CID}`` of the new envelope index, for the community document."""
        recipients: list[crypto.EncryptionPublicKey] = []
        listed = self.encryption_keys_document(following, previous)
        for entry in listed.get("encryption_keys", []):
            recipients.append(crypto.EncryptionPublicKey.from_json(entry))
        sealed = self.sealed_stewarded(community_id)
        if not sealed:
            return {}
        if not recipients:
            raise UsageError(
                "the community has encrypted items, but none of the new keyholders has an "
                "encryption key here, so nobody could open them after the rotation",
                hint="create them with `heritage keys new-encryption ADDRESS` first",
            )
        envelopes = self._rewrap(sealed, community_id, recipients, openers, keys, "the rotation")
        return {"envelopes": str(self._envelope_index(community_id, envelopes))}

    def rewrap_for_move(
        self,
        key: bytes,
        record: Record,
        steward: bytes,
        receiver: Community,
        openers: Sequence[str],
        keys: SignerKeys,
        name: str,
    ) -> dict[str, Any]:
        """A transfer or repatriation of sealed content re-wraps it for the receiver's
        keyholders (opened by one of ``openers``, keyholders of the steward);
        ``{"envelopes": CID}`` for the custody document, which both communities sign."""
        sealed = [(key, c) for c in self.reader.contents(key, record) if c.sealed]
        if not sealed:
            return {}
        recipients = self.recipients(
            receiver, f"{to_hex(key)} is encrypted", refused="nothing was sent"
        )
        envelopes = self._rewrap(sealed, steward, recipients, openers, keys, f"the {name}")
        return {"envelopes": str(self._envelope_index(receiver.id, envelopes))}

    def check_rewrap(
        self,
        listing: object,
        sealed: Sequence[bytes],
        allowed: frozenset[bytes],
        what: str,
    ) -> None:
        """Before a request that re-wrapped sealed items is sent: its envelope index
        (``listing``, the CID its document names) lists exactly the items ``sealed`` names now,
        and each envelope is here, is for its item and is wrapped for ``allowed`` keys only (the
        ones the signed documents list). Anything else: refused, nothing sent."""
        if listing is None and not sealed:
            return
        gone = "; submit where the request was made, or import its blocks (a CAR file) here"
        envelopes: Any = None
        if isinstance(listing, str):
            try:
                index_document = strict_json.loads(
                    self.session.node.block_get(Cid.parse(listing))
                )
            except (HeritageError, ValueError):
                raise NotFound(
                    f"{what}: the envelope index {listing} that the request's document names "
                    "is not on this IPFS node",
                    hint=f"nothing was sent{gone}",
                ) from None
            if (
                isinstance(index_document, dict)
                and index_document.get("type") == ENVELOPE_INDEX_TYPE
            ):
                envelopes = index_document.get("envelopes")
            if not isinstance(envelopes, dict):
                raise ConsentMismatch(
                    f"{what}: {listing} is not an envelope index",
                    hint="the request was not made by heritage, or was edited; nothing was sent",
                )
        listed = set(envelopes or {})
        now = {to_hex(k) for k in sealed}
        if listed != now:
            added, left = sorted(now - listed), sorted(listed - now)
            raise ConsentStale(
                f"{what}: the encrypted items (by content key) re-wrapped when the request was "
                "made are not the ones stewarded now"
                + (f"; not re-wrapped (registered or moved here since): {', '.join(added)}"
                   if added else "")
                + (f"; no longer stewarded: {', '.join(left)}" if left else ""),
                hint="make a new request, which re-wraps what is stewarded now; nothing was sent",
            )
        for key_hex, cid_text in (envelopes or {}).items():
            try:
                envelope = self.reader.envelope(Cid.parse(str(cid_text)))
            except HeritageError:
                raise NotFound(
                    f"{what}: the envelope {cid_text!s:.80} of {key_hex} is not on this IPFS node "
                    "or does not parse",
                    hint=f"nothing was sent{gone}",
                ) from None
            if to_hex(envelope.item) != key_hex or not envelope.key_ids() <= allowed:
                raise ConsentMismatch(
                    f"{what}: the envelope {cid_text} of {key_hex} is not wrapped for the keys "
                    "the signed document lists",
                    hint="the request was not made by heritage, or was edited; nothing was sent",
                )

    # -- decrypting --------------------------------------------------------------------------

    def _sealed_item(self, key: bytes, metadata: bytes) -> dict[str, Any]:
        document = self.session.metadata(metadata)
        if document is None:
            raise NotFound(
                f"the metadata of item {to_hex(key)} is not on this IPFS node",
                hint="import the item's blocks (e.g. from a CAR file)",
            )
        if document.get("type") != SEALED_ITEM_TYPE:
            raise UsageError(
                f"item {to_hex(key)} is not encrypted", hint="`heritage ipfs get` its CID instead"
            )
        return dict(document)

    def decrypt(
        self,
        item: str,
        holder: str,
        passphrase: str,
        output: Path,
        community: bytes | None = None,
    ) -> DecryptedItem:
        """Decrypt ITEM into ``output`` (all or nothing) with the encryption key of keyholder
        ``holder`` (an address whose key is in the keystore here, or the path of a file written
        by `heritage keys export`), then check the plaintext's CID against the sealed metadata
        and the record's commitment before the file appears at ``output``."""
        target = output.expanduser()
        if target.exists() or target.is_symlink():
            raise UsageError(f"{target} already exists", hint="choose a new output path")
        if not target.parent.is_dir():
            raise UsageError(f"{target.parent} is not a directory")
        client, node = self.session.client, self.session.node
        resolved = self.reader.resolve(item, community)
        key = resolved.key
        content = resolved.content_key()
        if resolved.batch_root is not None:
            root = resolved.batch_root
            batch_record = client.find_record(root)
            membership = self.reader.batch_membership(root, content)
            metadata = bytes.fromhex(membership["metadata"][2:])
            commitment = bytes.fromhex(membership["commitment"][2:])
            steward = client.steward_of(root, batch_record)
            subject = root
        else:
            record = client.find_record(key)
            metadata, commitment = record.metadata, record.commitment
            if record.kind == KIND_DERIVATIVE:
                # the registry binds the derivation (method, AI flag) in place of a commitment
                commitment = _ZERO32
            steward = client.steward_of(key, record)
            subject = key
        sealed = self._sealed_item(key, metadata)
        # Envelopes are bound to (and listed by) the content key of the ciphertext's CID.
        envelope_cid = self.reader.current_envelope(content, subject, steward, sealed)
        if is_address(holder):
            keypair = load_encryption_key(self.session.settings, holder, passphrase)
        elif Path(holder).expanduser().is_file():
            keypair = load_encryption_key_file(Path(holder).expanduser(), passphrase)
        else:
            raise UsageError(
                f"--key {holder!r} is neither an address nor a key file",
                hint="a keyholder's address (its key is here) or a `heritage keys export` file",
            )
        data_key = crypto.unwrap(self.reader.envelope(envelope_cid), keypair, content)
        private = parse_json_document(
            crypto.open_bytes(
                data_key,
                node.block_get(Cid.parse(str(sealed["sealed_metadata"]))),
                where="the sealed metadata",
            ),
            "the sealed metadata",
        )
        imported = private.get("import", {})
        options = ImportOptions(
            cid_version=int(imported["cid_version"]),
            raw_leaves=bool(imported["raw_leaves"]),
            chunk_size=int(imported["chunk_size"]),
        )
        work = self.session.temp_dir()
        cipher_path = work / f"{os.urandom(12).hex()}.sealed"
        plain_path = target.with_name(f".{target.name}.{os.urandom(8).hex()}.partial")
        try:
            node.get(str(sealed["cid"]), cipher_path)
            crypto.decrypt_file(data_key, cipher_path, plain_path)
            plain_cid = import_path(plain_path, options)[-1].cid
            if str(plain_cid) != private.get("cid"):
                # no CID in the message: errors may end up in logs, and these name the plaintext
                raise _decryption_mismatch(
                    f"the decrypted plaintext of {item} is not the one its sealed metadata names"
                )
            matches: bool | None = None
            if commitment != _ZERO32:
                salt = bytes.fromhex(str(private["commitment_salt"])[2:])
                matches = crypto.plaintext_commitment(salt, plain_cid) == commitment
                if not matches:
                    raise _decryption_mismatch(
                        f"the plaintext of {item} does not match the commitment on chain"
                    )
            try:
                os.link(plain_path, target)
            except FileExistsError:
                raise UsageError(f"{target} already exists") from None
        finally:
            cipher_path.unlink(missing_ok=True)
            plain_path.unlink(missing_ok=True)
        return DecryptedItem(
            key,
            str(sealed["cid"]),
            str(plain_cid),
            str(private.get("name", "")),
            int(private.get("size", 0)),
            target,
            str(envelope_cid),
            matches,
        )
