"""Offline k-of-n consent for keyholder rotations and custody records: the request files
(pure, hostile edits), and each action end to end through Registry against the session's
anvil and the embedded IPFS node, with signatures made from the request file alone by
separate keyholders (each signs with only their own key, nothing else)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain import (
    CUSTODY_LOAN,
    CUSTODY_REPATRIATION,
    CUSTODY_RETURN,
    CUSTODY_TRANSFER,
    Community,
)
from ledger.consent import (
    ConsentRequest,
    ConsentSignature,
    build_custody_request,
    build_rotation_request,
    collect,
    custody_document,
    describe_request,
    encode_request,
    encode_signature,
    parse_request,
    parse_signature,
    sign_request,
)
from ledger.crypto import KEM_X25519, EncryptionKeyPair
from ledger.documents import DEFAULT_IMPORT, document_cid
from ledger.errors import (
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentMismatch,
    ConsentStale,
    UsageError,
)
from ledger.ipfs.cid import RAW, Cid
from ledger.ipfs.unixfs import import_path
from ledger.keys import load_signer, new_key
from ledger.registry import Registry, SignerKeys
from tests import registry_support
from tests.hypothesis_profiles import examples
from tests.ledger.test_consent_offline import JSON_VALUES, _round_trip, keyholder_history
from tests.ledger.test_crypto_workflow import _opens, _shut_out, sealed_community
from tests.reaching import reached, reaches
from tests.registry_support import PASSPHRASE, keyed_community, sent, write_files
from tests.rights_support import public_terms, restricted_terms, write_terms

# The registrar fixtures of test_registration, reused (pytest finds fixtures among globals).
chain_settings = registry_support.chain_settings
registrar = registry_support.registrar

DOMAIN = consent.Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOW = 1_700_000_000
ITEM = Cid.for_block(b"a woven basket", RAW)


def accounts(n: int, seed: int = 1) -> list[LocalAccount]:
    made = [Account.from_key(bytes([seed + i]) * 32) for i in range(n)]
    return sorted(made, key=lambda a: int(a.address, 16))


#: The steward and the receiver in the pure tests: created by these founders, then rotated to
#: whichever keyholders a test gives them (each history signed as the registry requires).
FOUNDERS, RECEIVER_FOUNDERS = accounts(3, seed=40), accounts(2, seed=60)
COMMUNITY = keyholder_history(FOUNDERS, 2).community
RECEIVER = keyholder_history(RECEIVER_FOUNDERS, 1, salt=b"\x22" * 32).community
# The claim key, from its definition: keccak256(abi.encode(community, keccak256(cid))).
KEY = keccak(COMMUNITY + keccak(bytes(ITEM)))


def steward_of(keys: list[LocalAccount], k: int, rotations: int = 1) -> tuple[Community, Any]:
    """COMMUNITY with ``keys`` (k) as its keyholders after ``rotations`` rotations (at least
    one), and the history that proves it."""
    history = keyholder_history(FOUNDERS, 2, [(keys, k)] * rotations)
    return Community.of(COMMUNITY, [a.address for a in keys], k), history


def receiver_of(keys: list[LocalAccount], k: int) -> tuple[Community, Any]:
    history = keyholder_history(RECEIVER_FOUNDERS, 1, [(keys, k)], salt=b"\x22" * 32)
    return Community.of(RECEIVER, [a.address for a in keys], k), history


def as_document(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    return document


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode()


# ---- the request files (pure) ----------------------------------------------------------------


def rotation(current: list[LocalAccount], following: list[LocalAccount]) -> ConsentRequest:
    before, history = steward_of(current, 2, rotations=3)
    after = Community.of(COMMUNITY, [a.address for a in following], 2)
    document = {
        "type": "heritage/community",
        "version": 1,
        "name": "Weavers",
        "keyholders": list(after.keyholders),
        "threshold": 2,
        "rotation": 4,
    }
    return build_rotation_request(
        DOMAIN, before, after, document, 3, NOW + 60, created_at=NOW, history=history
    )


def transfer(steward: list[LocalAccount], receiver: list[LocalAccount]) -> ConsentRequest:
    ours, history = steward_of(steward, 2)
    theirs, their_history = receiver_of(receiver, 1)
    document = custody_document({"note": "to the museum"}, CUSTODY_TRANSFER, KEY, ours.id,
                                theirs.id, 7)
    return build_custody_request(
        DOMAIN, CUSTODY_TRANSFER, ours, KEY, theirs.id, document, 7, NOW + 60,
        item=str(ITEM), created_at=NOW, history=history, receiver=theirs,
        receiver_history=their_history,
    )


def test_rotation_and_custody_requests_round_trip_and_say_what_they_do() -> None:
    current, following = accounts(3), accounts(3, seed=3)  # one keyholder stays
    request = rotation(current, following)
    assert parse_request(encode_request(request), "r") == request
    assert (request.subject, request.version) == (COMMUNITY, 3)
    digest = hashlib.sha256(rfc8785.dumps(request.document)).digest()
    assert request.typed.message["document"] == digest
    assert request.document_cid == str(document_cid(digest))
    rows = dict(describe_request(request))
    assert rows["action"].startswith("RotateKeyholders: REPLACE the keyholders")
    assert "Weavers" in rows["action"]
    stays = {a.address for a in current} & {a.address for a in following}
    assert rows["removed"] == ", ".join(
        a.address for a in current if a.address not in stays
    )
    assert all(a.address in rows["after"] for a in following)

    moved = transfer(accounts(2), accounts(2, seed=9))
    assert parse_request(encode_request(moved), "r") == moved
    rows = dict(describe_request(moved))
    assert rows["action"] == (
        f"RecordCustody (transfer): TRANSFER stewardship of {ITEM} from community "
        f"0x{COMMUNITY.hex()} to community 0x{RECEIVER.hex()}"
    )
    assert rows["receiver"].endswith("sign too") and rows["custody nonce"] == "7"


def test_a_transfer_needs_k_of_both_communities() -> None:
    ours, theirs = accounts(2), accounts(2, seed=9)
    request = transfer(ours, theirs)
    status = collect(request, [("a", sign_request(request, ours[0]))], now=NOW)
    assert [p.needed for p in status.parties] == [1, 1]
    with pytest.raises(ConsentIncomplete) as caught:
        status.packed()
    assert f"0x{RECEIVER.hex()}" in caught.value.message
    files = [(f"s{i}", sign_request(request, a)) for i, a in enumerate([*ours, theirs[1]])]
    status = collect(request, files, now=NOW)
    assert status.complete
    packed, receiver = status.packed(), status.packed_receiver()
    assert receiver is not None
    assert consent.check_signatures(request.digest, request.keyholders, 2, packed) == [
        a.address for a in ours
    ]
    assert request.receiver is not None
    assert consent.check_signatures(request.digest, request.receiver.keyholders, 1, receiver) == [
        theirs[1].address
    ]
    with pytest.raises(ConsentMismatch, match="not a keyholder of community"):
        sign_request(request, Account.from_key(b"\x77" * 32))


def test_a_rotation_signature_file_carries_a_64_bit_nonce() -> None:
    keys = accounts(2)
    request = rotation(keys, keys)
    sig = sign_request(request, keys[0])
    assert parse_signature(encode_signature(sig), "s") == sig
    document = as_document(encode_signature(sig))
    document["terms_version"] = 2**64
    with pytest.raises(ConsentFileInvalid, match="2\\*\\*64 - 1"):
        parse_signature(encoded(document), "s.json")


def _rotation_edits() -> list[tuple[tuple[str, ...], Any, str]]:
    return [
        (("document", "keyholders"), [], "does not hash to the document digest"),
        (("document",), None, "carries its document"),
        (("item",), "0x" + "33" * 32, "not the id of the community being rotated"),
        (("receiver",), {"community": "0x" + "22" * 32, "keyholders": [], "threshold": 1},
         "a rotation has no receiving community"),
        (("terms_document",), {"license": "CC0-1.0"}, "no terms document and no batch"),
        (("typed_data", "message", "threshold"), 4, "threshold 4 is not between 1 and 3"),
    ]


@pytest.mark.parametrize(("path", "value", "message"), _rotation_edits())
def test_hostile_rotation_requests_are_refused(
    path: tuple[str, ...], value: Any, message: str
) -> None:
    keys = accounts(3)
    document = as_document(encode_request(rotation(keys, keys)))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConsentFileInvalid, match=message):
        parse_request(encoded(document), "r.json")


def test_a_rotation_request_carries_every_rotation_before_it() -> None:
    """A rotation's nonce is signed, so its history must hold exactly that many rotations: one
    cut short (which could prove an older set) is refused; so is a receiver set edited in."""
    keys = accounts(3)
    document = as_document(encode_request(rotation(keys, keys)))
    assert len(document["history"]["rotations"]) == 3
    document["history"]["rotations"] = document["history"]["rotations"][:2]
    with pytest.raises(ConsentFileInvalid, match="history holds 2 rotations, but the rotation "
                       "being signed has nonce 3"):
        parse_request(encoded(document), "r.json")
    moved = as_document(encode_request(transfer(accounts(2), accounts(2, seed=9))))
    outsider = Account.from_key(b"\x66" * 32).address
    moved["receiver"]["keyholders"] = sorted(
        [moved["receiver"]["keyholders"][0], outsider], key=lambda a: int(a, 16)
    )
    with pytest.raises(ConsentFileInvalid, match=r"receiver\.keyholders were edited"):
        parse_request(encoded(moved), "r.json")


def test_a_rotation_document_must_say_what_is_signed() -> None:
    """The document is re-hashed, so an edit must come with a matching digest; even then, a
    document that disagrees with the typed data is refused (what a signer is shown is what
    they sign)."""
    keys = accounts(3)
    request = rotation(keys, keys)
    document = dict(request.document or {})
    document["threshold"] = 1
    lying = ConsentRequest(
        typed=consent.TypedData(
            DOMAIN,
            "RotateKeyholders",
            {**request.typed.message, "document": hashlib.sha256(rfc8785.dumps(document)).digest()},
        ),
        item=request.item,
        keyholders=request.keyholders,
        threshold=request.threshold,
        created_at=NOW,
        document=document,
        history=request.history,
    )
    with pytest.raises(ConsentFileInvalid, match="says threshold 1, but the typed data"):
        parse_request(encode_request(lying), "r.json")
    stranger = dict(request.document or {})
    stranger["encryption_keys"] = [{"address": Account.from_key(b"\x55" * 32).address}]
    with pytest.raises(ConsentFileInvalid, match="not a new keyholder's"):
        build_rotation_request(
            DOMAIN, request.steward(), request.steward(), stranger, 3, NOW + 60, created_at=NOW,
            history=request.history,
        )


def _custody_edits() -> list[tuple[tuple[str, ...], Any, str]]:
    return [
        (("receiver",), None, "names the receiving community"),
        (("receiver", "community"), "0x" + "44" * 32, "names the receiving community"),
        (("receiver", "threshold"), 3, "the receiver: threshold 3 is not between 1 and 2"),
        (("receiver", "threshold"), 2, "receiver.threshold was edited: the file says 2, but "
         "community 0x.*'s keyholder history \\(its creation and 1 rotation\\) proves 1"),
        (("receiver_history",), None, "receiver_history .* is missing"),
        (("receiver_history", "salt"), "0x" + "33" * 32, "receiver_history does not hold"),
        (("history", "threshold"), 1, "history does not hold"),
        (("document", "to"), "0x" + "44" * 32, "does not hash to the document digest"),
        (("typed_data", "message", "action"), 9, "custody action 9 is not one the registry knows"),
        (("typed_data", "message", "action"), 2, "says action 'transfer'"),
        (("item",), str(Cid.for_block(b"another", RAW)), "does not name the subject"),
    ]


@pytest.mark.parametrize(("path", "value", "message"), _custody_edits())
def test_hostile_custody_requests_are_refused(
    path: tuple[str, ...], value: Any, message: str
) -> None:
    document = as_document(encode_request(transfer(accounts(2), accounts(2, seed=9))))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConsentFileInvalid, match=message):
        parse_request(encoded(document), "r.json")


def test_custody_documents_must_match_the_action() -> None:
    ours, history = steward_of(accounts(2), 1)
    swapped = custody_document({}, CUSTODY_LOAN, KEY, RECEIVER, COMMUNITY, 0)  # from/to wrong
    with pytest.raises(ConsentFileInvalid, match="says from"):
        build_custody_request(DOMAIN, CUSTODY_LOAN, ours, KEY, RECEIVER, swapped, 0, NOW + 60,
                              item=str(ITEM), created_at=NOW, history=history)
    back = custody_document({}, CUSTODY_RETURN, KEY, COMMUNITY, RECEIVER, 1)
    assert (back["from"], back["to"]) == ("0x" + RECEIVER.hex(), "0x" + COMMUNITY.hex())
    with pytest.raises(ConsentFileInvalid, match="zero or the steward itself"):
        build_custody_request(
            DOMAIN, CUSTODY_LOAN, ours, KEY, COMMUNITY,
            custody_document({}, CUSTODY_LOAN, KEY, COMMUNITY, COMMUNITY, 0), 0, NOW + 60,
            item=str(ITEM), created_at=NOW, history=history,
        )
    loan = custody_document({}, CUSTODY_LOAN, KEY, COMMUNITY, RECEIVER, 0)
    with pytest.raises(ConsentFileInvalid, match="signed by the steward alone"):
        build_custody_request(DOMAIN, CUSTODY_LOAN, ours, KEY, RECEIVER, loan, 0, NOW + 60,
                              item=str(ITEM), created_at=NOW, history=history,
                              receiver=Community.of(RECEIVER, [ours.keyholders[0]], 1))


def test_signatures_of_one_action_do_not_count_for_another() -> None:
    keys = accounts(3)
    rotate = rotation(keys, keys)
    moved = transfer(keys[:2], accounts(2, seed=9))
    with pytest.raises(ConsentMismatch, match="another request"):
        collect(moved, [("rotation.sig", sign_request(rotate, keys[0]))], now=NOW)


# ---- end to end, on the session's anvil ------------------------------------------------------


def _holders(registrar: Registry, addresses: list[ChecksumAddress]) -> list[LocalAccount]:
    return [load_signer(registrar.settings, a, PASSPHRASE) for a in addresses]


def _community_document(registrar: Registry, community: bytes) -> dict[str, Any]:
    with registrar.session.event_index() as index:
        digest = index.community(community).document
    document: dict[str, Any] = json.loads(registrar.node.block_get(document_cid(digest)))
    return document


def _sealed_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"restricted song words " + os.urandom(3000))
    return path


def test_rotation_collected_offline_rewraps_sealed_items(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "offline-rotate-" + tmp_path.name
    (a, b, c), keys = sealed_community(registrar, name, 3, 2, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    old_path = _sealed_file(tmp_path, "old.bin")
    (old,) = registrar.items.register([old_path], community, terms, keys)
    newcomer = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
    ).address
    nonce = registrar.client.community_nonce(community)
    # Made by keyholder a alone (its encryption key opens the sealed item): c leaves.
    only_a = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (a,))
    request = registrar.communities.rotation_request(community, [a, b, newcomer], 2, only_a)
    assert (request.action, request.version, request.subject) == (
        "RotateKeyholders", nonce, community
    )
    assert request.document is not None and "envelopes" in request.document
    # The document being signed is on IPFS already (published once, at request time).
    assert request.document_cid in {str(cid) for cid in registrar.node.pin_ls()}

    # Two of the three current keyholders sign, each from the request file alone.
    holder_b, holder_c = _holders(registrar, [b, c])
    read, files = _round_trip(request, tmp_path, holder_c, holder_b)
    before = sent(registrar)
    with pytest.raises(ConsentIncomplete):
        registrar.consent.submit(read, files[:1])
    assert sent(registrar) == before
    pinned = set(registrar.node.pin_ls())
    result = registrar.consent.submit(read, files).to_json()
    assert sent(registrar) == before + 1
    # Submitting re-wraps and publishes nothing new: all of it was pinned at request time.
    assert set(registrar.node.pin_ls()) == pinned

    after = Community.of(community, [a, b, newcomer], 2)
    assert registrar.client.community_matches(after)
    assert registrar.client.community_nonce(community) == nonce + 1
    assert result["document_cid"] == read.document_cid
    assert _community_document(registrar, community) == read.document
    assert registrar.communities.show(community).keyholders == after.keyholders

    # The newcomer opens the item registered before; c, removed, cannot open its current
    # envelope, nor an item registered after the rotation.
    _opens(registrar, old.cid, newcomer, tmp_path / "new-old", old_path)
    _shut_out(registrar, old.cid, c, tmp_path / "c-old")
    new_path = _sealed_file(tmp_path, "new.bin")
    (new,) = registrar.items.register([new_path], community, terms, keys)
    _shut_out(registrar, new.cid, c, tmp_path / "c-new")
    _opens(registrar, new.cid, newcomer, tmp_path / "new-new", new_path)

    # Replayed: the nonce moved on, nothing is sent again.
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="another rotation"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before


def test_a_sealed_item_registered_after_a_rotation_request_makes_it_stale(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "offline-rotate-stale-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, name, 2, 1, KEM_X25519)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(community))
    (first,) = registrar.items.register([_sealed_file(tmp_path, "1.bin")], community, terms, keys)
    newcomer = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
    ).address
    request = registrar.communities.rotation_request(community, [a, newcomer], 1, keys)
    read, files = _round_trip(request, tmp_path, *_holders(registrar, [a]))
    # Registered meanwhile: its envelope is for a and b, and the request's re-wrap lacks it,
    # so sending would leave the newcomer unable to open it.
    (second,) = registrar.items.register([_sealed_file(tmp_path, "2.bin")], community, terms, keys)
    before = sent(registrar)
    # Envelopes are listed by the content key of the ciphertext's CID: keccak256(cid).
    content = keccak(bytes(second.cid))
    with pytest.raises(ConsentStale, match=f"not re-wrapped.*0x{content.hex()}"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    assert registrar.client.community_nonce(community) == request.version
    assert first.key != second.key


def test_a_rotation_request_is_stale_after_another_rotation(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "offline-rotate-twice-" + tmp_path.name
    keys = keyed_community(registrar, name, 3, 2)
    community = registrar.reader.resolve_community(name)
    current = registrar.session.community(community)
    extra = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address
    first = registrar.communities.rotation_request(community, [*current.keyholders, extra], 2, keys)
    second = registrar.communities.rotation_request(
        community, list(current.keyholders[:2]), 1, keys
    )
    holders = _holders(registrar, list(current.keyholders))
    read_first, files_first = _round_trip(first, tmp_path, holders[0], holders[1])
    read_second, files_second = _round_trip(second, tmp_path, holders[1], holders[2])
    registrar.consent.submit(read_first, files_first)
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="another rotation"):
        registrar.consent.submit(read_second, files_second)
    assert sent(registrar) == before
    # The first rotation's signatures do not make the second request valid either.
    with pytest.raises(ConsentMismatch, match="another request"):
        registrar.consent.submit(read_second, files_first)


def test_transfer_collected_offline_rewraps_for_the_receiver(
    registrar: Registry, tmp_path: Path
) -> None:
    sender_name, receiver_name = "from-" + tmp_path.name, "to-" + tmp_path.name
    (a, b, c), keys = sealed_community(registrar, sender_name, 3, 2, KEM_X25519)
    (d, e, f), _ = sealed_community(registrar, receiver_name, 3, 2, KEM_X25519)
    sender = registrar.reader.resolve_community(sender_name)
    receiver = registrar.reader.resolve_community(receiver_name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(sender))
    path = _sealed_file(tmp_path, "moving.bin")
    (item,) = registrar.items.register([path], sender, terms, keys)
    _shut_out(registrar, item.cid, d, tmp_path / "d-before")

    only_b = SignerKeys(registrar.settings, lambda _address: PASSPHRASE, (b,))
    request = registrar.custody.request(str(item.cid), CUSTODY_TRANSFER, receiver, only_b)
    assert request.receiver == registrar.session.community(receiver)
    assert request.document is not None and "envelopes" in request.document

    holders = _holders(registrar, [a, c, e, f])
    read, files = _round_trip(request, tmp_path, *holders)
    before = sent(registrar)
    with pytest.raises(ConsentIncomplete, match=f"0x{receiver.hex()}"):  # the steward alone
        registrar.consent.submit(read, files[:2])
    assert sent(registrar) == before
    result = registrar.consent.submit(read, files).to_json()
    assert sent(registrar) == before + 1
    assert registrar.items.show(str(item.cid)).steward == receiver
    assert registrar.client.custody_nonce(item.key) == 1
    assert result["document_cid"] == read.document_cid
    assert (result["from"], result["to"]) == ("0x" + sender.hex(), "0x" + receiver.hex())
    assert result["signers"] == {
        "steward": sorted([a, c], key=lambda x: int(x, 16)),
        "receiver": sorted([e, f], key=lambda x: int(x, 16)),
    }
    # The receiver's keyholders open it; the sender's no longer hold the current envelope.
    _opens(registrar, item.cid, d, tmp_path / "d-after", path)
    _shut_out(registrar, item.cid, a, tmp_path / "a-after")
    # Replayed: refused, nothing sent.
    before = sent(registrar)
    with pytest.raises(ConsentStale):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before


def test_a_receiver_rotation_makes_a_transfer_request_stale(
    registrar: Registry, tmp_path: Path
) -> None:
    keys = keyed_community(registrar, "s-" + tmp_path.name, 2, 1)
    receiver_keys = keyed_community(registrar, "r-" + tmp_path.name, 2, 1)
    sender = registrar.reader.resolve_community("s-" + tmp_path.name)
    receiver = registrar.reader.resolve_community("r-" + tmp_path.name)
    terms = write_terms(tmp_path / "t.json", public_terms(sender))
    (item,) = registrar.items.register(write_files(tmp_path / "f", 1), sender, terms, keys)
    request = registrar.custody.request(str(item.cid), CUSTODY_REPATRIATION, receiver, keys)
    signers = _holders(
        registrar,
        [
            registrar.session.community(sender).keyholders[0],
            registrar.session.community(receiver).keyholders[1],
        ],
    )
    read, files = _round_trip(request, tmp_path, *signers)
    current = registrar.session.community(receiver)
    registrar.communities.rotate(receiver, list(current.keyholders), 2, receiver_keys)
    before = sent(registrar)
    with pytest.raises(ConsentStale, match=f"receiver community 0x{receiver.hex()}"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    assert registrar.items.show(str(item.cid)).steward == sender


def test_loan_and_return_collected_offline(registrar: Registry, tmp_path: Path) -> None:
    name = "offline-loan-" + tmp_path.name
    keys = keyed_community(registrar, name, 3, 2)
    community = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "t.json", public_terms(community))
    (item,) = registrar.items.register(write_files(tmp_path / "f", 1), community, terms, keys)
    museum = b"\x5a" * 32  # any institution id
    holders = _holders(registrar, list(registrar.session.community(community).keyholders))

    with pytest.raises(UsageError, match="not on loan"):
        registrar.custody.request(str(item.cid), CUSTODY_RETURN, None, keys)
    loan = registrar.custody.request(str(item.cid), CUSTODY_LOAN, museum, keys)
    other_loan = registrar.custody.request(str(item.cid), CUSTODY_LOAN, b"\x5b" * 32, keys)
    assert loan.receiver is None and loan.version == other_loan.version == 0
    read, files = _round_trip(loan, tmp_path, holders[0], holders[2])
    result = registrar.consent.submit(read, files).to_json()
    assert result["action"] == "loan" and result["to"] == "0x" + museum.hex()
    assert registrar.custody.current_borrower(item.key) == museum
    assert registrar.items.show(str(item.cid)).steward == community  # stewardship stays

    # The second loan request was made at the same custody nonce: stale now.
    read_other, files_other = _round_trip(other_loan, tmp_path, holders[1], holders[2])
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="custody nonce 0, but the item's nonce is now 1"):
        registrar.consent.submit(read_other, files_other)
    assert sent(registrar) == before

    back = registrar.custody.request(str(item.cid), CUSTODY_RETURN, None, keys)
    assert bytes(back.typed.message["counterparty"]) == museum
    read, files = _round_trip(back, tmp_path, holders[1], holders[2])
    result = registrar.consent.submit(read, files).to_json()
    assert (result["from"], result["to"]) == ("0x" + museum.hex(), "0x" + community.hex())
    assert registrar.custody.current_borrower(item.key) is None
    assert registrar.client.custody_nonce(item.key) == 2


def test_nothing_restricted_is_in_a_request_or_a_signature_file(
    registrar: Registry, tmp_path: Path
) -> None:
    sender_name, receiver_name = "leak-from-" + tmp_path.name, "leak-to-" + tmp_path.name
    (a, _), keys = sealed_community(registrar, sender_name, 2, 1, KEM_X25519)
    sealed_community(registrar, receiver_name, 2, 1, KEM_X25519)
    sender = registrar.reader.resolve_community(sender_name)
    receiver = registrar.reader.resolve_community(receiver_name)
    terms = write_terms(tmp_path / "t.json", restricted_terms(sender))
    secret = tmp_path / "sacred-song-name.bin"
    secret.write_bytes(b"words only the community may hear " + os.urandom(2000))
    (item,) = registrar.items.register([secret], sender, terms, keys)
    plain_cid = import_path(secret, DEFAULT_IMPORT)[-1].cid
    newcomer = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
    ).address
    requests = [
        registrar.communities.rotation_request(sender, [a, newcomer], 1, keys),
        registrar.custody.request(str(item.cid), CUSTODY_TRANSFER, receiver, keys),
    ]
    (holder,) = _holders(registrar, [a])
    plaintext = secret.read_bytes()
    for request in requests:
        files = [encode_request(request), encode_signature(sign_request(request, holder))]
        shown = "\n".join(f"{k} {v}" for k, v in describe_request(request)).encode()
        for data in (*files, shown):
            for needle in (
                plaintext[:40], plaintext[-40:], plaintext[:40].hex().encode(),
                str(plain_cid).encode(), bytes(plain_cid).hex().encode(), b"sacred-song-name",
            ):
                assert needle not in data
        # What it does carry for the rewrap is public: envelope CIDs, public keys, addresses.
        assert isinstance(request.document, dict) and "envelopes" in request.document


def _signature_for(request: ConsentRequest, holder: LocalAccount) -> ConsentSignature:
    return sign_request(request, holder)


def test_an_edited_custody_request_cannot_reuse_its_signatures(
    registrar: Registry, tmp_path: Path
) -> None:
    """An attacker who edits the request (to send the item elsewhere) must re-sign the digest:
    the keyholders' signature files are for the original digest only."""
    keys = keyed_community(registrar, "e-" + tmp_path.name, 2, 1)
    keyed_community(registrar, "e2-" + tmp_path.name, 2, 1)
    sender = registrar.reader.resolve_community("e-" + tmp_path.name)
    other = registrar.reader.resolve_community("e2-" + tmp_path.name)
    terms = write_terms(tmp_path / "t.json", public_terms(sender))
    (item,) = registrar.items.register(write_files(tmp_path / "f", 1), sender, terms, keys)
    request = registrar.custody.request(str(item.cid), CUSTODY_LOAN, b"\x5a" * 32, keys)
    (holder,) = _holders(registrar, [registrar.session.community(sender).keyholders[0]])
    signature = _signature_for(request, holder)
    elsewhere = custody_document({}, CUSTODY_LOAN, item.key, sender, other, request.version)
    edited = build_custody_request(
        request.typed.domain, CUSTODY_LOAN, request.steward(), item.key, other, elsewhere,
        request.version, request.deadline, item=request.item, created_at=request.created_at,
        history=request.history,
    )
    before = sent(registrar)
    with pytest.raises(ConsentMismatch, match="another request"):
        registrar.consent.submit(edited, [("holder.sig.json", signature)])
    assert sent(registrar) == before
    assert registrar.custody.current_borrower(item.key) is None


def test_a_crafted_rewrap_for_someone_else_is_refused_at_submit(
    registrar: Registry, tmp_path: Path
) -> None:
    """A requester holds the content key and could wrap it for anyone; signers see only the
    envelope index's CID. Submit checks every envelope is wrapped for the receiver's published
    keys alone, so a request that also hands the item to an outsider is refused, unsent."""
    (a, _), keys = sealed_community(registrar, "x-" + tmp_path.name, 2, 1, KEM_X25519)
    (d, _), _ = sealed_community(registrar, "y-" + tmp_path.name, 2, 1, KEM_X25519)
    sender = registrar.reader.resolve_community("x-" + tmp_path.name)
    receiver = registrar.session.community(registrar.reader.resolve_community("y-" + tmp_path.name))
    terms = write_terms(tmp_path / "t.json", restricted_terms(sender))
    (item,) = registrar.items.register([_sealed_file(tmp_path, "s.bin")], sender, terms, keys)
    genuine = registrar.custody.request(str(item.cid), CUSTODY_TRANSFER, receiver.id, keys)
    outsider = EncryptionKeyPair.generate(KEM_X25519).public
    record = registrar.client.find_record(item.key)
    sealed = [(item.key, c) for c in registrar.reader.contents(item.key, record) if c.sealed]
    recipients = [*registrar.sealing.recipients(receiver), outsider]
    envelopes = registrar.sealing._rewrap(
        sealed, sender, recipients, [a], keys, "a crafted transfer"
    )
    listing = registrar.sealing._envelope_index(receiver.id, envelopes)
    assert genuine.document is not None
    crafted_document = {**genuine.document, "envelopes": str(listing)}
    crafted = build_custody_request(
        genuine.typed.domain, CUSTODY_TRANSFER, genuine.steward(), item.key, receiver.id,
        crafted_document, genuine.version, genuine.deadline, item=genuine.item,
        created_at=genuine.created_at, history=genuine.history, receiver=receiver,
        receiver_history=genuine.receiver_history,
    )
    read, files = _round_trip(crafted, tmp_path, *_holders(registrar, [a, d]))
    before = sent(registrar)
    with pytest.raises(ConsentMismatch, match="not wrapped for the keys"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    assert registrar.items.show(str(item.cid)).steward == sender


def test_repatriation_of_a_sealed_batch_collected_offline(
    registrar: Registry, tmp_path: Path
) -> None:
    holding, origin = "museum-" + tmp_path.name, "origin-" + tmp_path.name
    (a, b, c), keys = sealed_community(registrar, holding, 3, 2, KEM_X25519)
    (d, e, f), _ = sealed_community(registrar, origin, 3, 2, KEM_X25519)
    museum = registrar.reader.resolve_community(holding)
    home = registrar.reader.resolve_community(origin)
    terms = write_terms(tmp_path / "t.json", restricted_terms(museum))
    paths = [_sealed_file(tmp_path, f"carving-{i}.bin") for i in range(2)]
    batch = registrar.items.register_batch(paths, museum, terms, keys)
    root = "0x" + batch.root.hex()
    request = registrar.custody.request(root, CUSTODY_REPATRIATION, home, keys)
    # A batch's records are under its key, keccak256(abi.encode(community, root)).
    batch_hex = "0x" + keccak(museum + batch.root).hex()
    assert dict(describe_request(request))["action"].startswith(
        f"RecordCustody (repatriation): REPATRIATE {batch_hex}"
    )
    read, files = _round_trip(request, tmp_path, *_holders(registrar, [b, c, d, f]))
    pinned = set(registrar.node.pin_ls())
    before = sent(registrar)
    registrar.consent.submit(read, files)
    assert sent(registrar) == before + 1
    assert set(registrar.node.pin_ls()) == pinned  # nothing re-wrapped or published again
    assert registrar.items.show(root).steward == home
    for i, (entry, path) in enumerate(zip(batch.items, paths, strict=True)):
        _opens(registrar, entry.cid, e, tmp_path / f"e-{i}", path)
        _shut_out(registrar, entry.cid, a, tmp_path / f"a-{i}")


ACTION_FIELD_PATHS = st.sampled_from(
    [
        ("item",), ("keyholders",), ("threshold",), ("document",), ("document", "to"),
        ("document", "nonce"), ("document", "note"), ("receiver",), ("receiver", "keyholders"),
        ("receiver", "threshold"), ("receiver", "community"), ("terms_document",), ("batch",),
        ("typed_data", "message", "counterparty"), ("typed_data", "message", "nonce"),
        ("typed_data", "message", "document"), ("typed_data", "primaryType"),
    ]
)


@reaches(0.8)
@settings(max_examples=examples())
@given(ACTION_FIELD_PATHS, JSON_VALUES)
def test_any_edit_of_a_custody_request_is_refused_cleanly(
    path: tuple[str, ...], value: Any
) -> None:
    """Fuzzed fields of a transfer request: refused (ConsentFileInvalid, never another
    exception), or what is signed and what a signer is shown are exactly as they were."""
    request = transfer(accounts(2), accounts(2, seed=9))
    document = as_document(encode_request(request))
    target = document
    for part in path[:-1]:
        target = target[part]
    original = target[path[-1]]
    target[path[-1]] = value
    try:
        parsed = parse_request(encoded(document), "r.json")
    except ConsentFileInvalid:
        assert json.dumps(value, sort_keys=True) != json.dumps(original, sort_keys=True)
    else:
        assert parsed == request
        assert describe_request(parsed) == describe_request(request)
    reached()


def test_a_signer_is_shown_where_the_keyholders_come_from() -> None:
    rows = dict(describe_request(transfer(accounts(2), accounts(2, seed=9))))
    assert rows["keyholders of"].startswith(f"community 0x{COMMUNITY.hex()} after its creation "
                                            "and 1 rotation (proven")
    assert rows["receiver's of"].startswith(f"community 0x{RECEIVER.hex()} after its creation "
                                            "and 1 rotation (proven")
