"""Registration signed offline: `consent request register` (the file staged and pinned, nothing
sent), one signature file per keyholder, then `consent submit` registers it. Encrypted items
leave nothing of their plaintext in the request, the node or its answer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.chain import Community
from ledger.consent import (
    ConsentRequest,
    Domain,
    build_derivative_request,
    build_register_request,
    check_signatures,
    describe_request,
    encode_request,
    pack_registration,
    parse_request,
    registration_typed,
    sign_registration,
    sign_request,
)
from ledger.documents import DEFAULT_IMPORT, SEALED_ITEM_TYPE, metadata_document
from ledger.errors import (
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentMismatch,
    ConsentStale,
    DuplicateClaim,
    InvalidTerms,
    NotFound,
)
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.registry import Registry
from ledger.rights.description import parse_description
from tests import registry_support
from tests.hypothesis_profiles import examples
from tests.ledger.test_consent_offline import (
    JSON_VALUES,
    _holders,
    _round_trip,
    keyholder_history,
)
from tests.ledger.test_crypto_workflow import leaks, sealed_community
from tests.reaching import reached, reaches
from tests.registry_support import PASSPHRASE, keyed_community, sent
from tests.rights_support import public_terms, restricted_terms, write_terms

chain_settings = registry_support.chain_settings
registrar = registry_support.registrar

DESCRIPTION = {
    "type": "heritage/description",
    "version": 1,
    "title": {"en": "Whale-bone comb", "mi": "Heru iwi tohorā"},
}


def _description(tmp_path: Path, title: str) -> Path:
    path = tmp_path / "description.json"
    path.write_text(json.dumps({**DESCRIPTION, "title": {"en": title}}), encoding="utf-8")
    return path


def test_a_public_item_registered_with_k_signatures_collected_offline(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "comb-" + tmp_path.name
    keyed_community(registrar, name, 3, 2)
    community = registrar.reader.resolve_community(name)
    data = b"comb scan " + os.urandom(2000)
    path = tmp_path / "comb.obj"
    path.write_bytes(data)
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    description = parse_description(json.dumps(DESCRIPTION).encode(), "description")
    before = sent(registrar)
    request = registrar.registrations.request(path, community, terms, description=description)
    assert sent(registrar) == before  # a request sends nothing
    # The CID of the bytes (CIDv1, raw leaves: the default import), the claim key by its
    # definition keccak(community ‖ keccak(cid)).
    expected = import_bytes(data, ImportOptions(cid_version=1)).cid
    assert request.item == str(expected)
    assert request.subject == keccak(community + keccak(bytes(expected)))
    assert request.action == "RegisterItem" and request.community == community
    assert request.registration == {"encrypted": False}
    assert request.document is not None and request.document["description"] == DESCRIPTION
    pins = registrar.node.pin_ls()
    assert expected in pins  # pinned when the request is made
    holders = _holders(registrar, community)
    read, files = _round_trip(request, tmp_path, holders[0])
    with pytest.raises(ConsentIncomplete):
        registrar.consent.submit(read, files)  # 1 of the 2 needed
    assert sent(registrar) == before
    (tmp_path / "k").mkdir()
    read, files = _round_trip(request, tmp_path / "k", holders[0], holders[2])
    result = registrar.consent.submit(read, files).to_json()
    assert sent(registrar) == before + 1
    assert result["cid"] == str(expected) and result["item"] == "0x" + request.subject.hex()
    shown = registrar.items.show(str(expected), community)
    assert (shown.kind, shown.community) == ("item", community)
    assert shown.metadata is not None and shown.metadata["name"] == "comb.obj"
    # A replay: the claim exists, nothing is sent.
    with pytest.raises(DuplicateClaim):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before + 1


def test_an_encrypted_registration_leaves_no_plaintext_in_the_request_or_the_node(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "sacred-" + tmp_path.name
    holders, _ = sealed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    secret = b"karakia, verse 3: " + os.urandom(4000)
    path = tmp_path / "karakia-recording.wav"
    path.write_bytes(secret)
    terms = write_terms(tmp_path / "terms.json", restricted_terms(community))
    title = "Karakia of the " + os.urandom(6).hex()
    described = parse_description(_description(tmp_path, title).read_bytes(), "d")
    request = registrar.registrations.request(path, community, terms, description=described)
    assert request.registration == {"encrypted": True}
    assert request.document is not None and request.document["type"] == SEALED_ITEM_TYPE
    plain_cid = import_bytes(secret, ImportOptions(cid_version=1)).cid
    text = encode_request(request)
    for shown in (str(plain_cid).encode(), b"karakia-recording", title.encode()):
        assert shown not in text
    assert leaks(text, [secret]) == []
    read, files = _round_trip(request, tmp_path, *_holders(registrar, community)[:1])
    result = registrar.consent.submit(read, files).to_json()
    assert result["cid"] == request.item and result["path"] == ""
    stored = b"".join(
        p.read_bytes() for p in (registrar.settings.data_dir / "blocks").rglob("*.data")
    )
    assert leaks(stored, [secret]) == [] and title.encode() not in stored
    # A keyholder opens it: the plaintext, and the description sealed with it.
    out = tmp_path / "opened.wav"
    registrar.sealing.decrypt(request.item, holders[0], PASSPHRASE, out)
    assert out.read_bytes() == secret


def test_bad_terms_and_claimed_content_keep_nothing(registrar: Registry, tmp_path: Path) -> None:
    name = "keep-" + tmp_path.name
    keys = keyed_community(registrar, name, 1, 1)
    community = registrar.reader.resolve_community(name)
    path = tmp_path / "bowl.obj"
    path.write_bytes(os.urandom(900))
    broken = write_terms(tmp_path / "broken.json", {"type": "heritage/terms", "version": 1})
    pins = registrar.node.pin_ls()
    with pytest.raises(InvalidTerms):
        registrar.registrations.request(path, community, broken, description=None)
    # other communities' terms are not this one's
    foreign = write_terms(tmp_path / "foreign.json", public_terms(b"\x01" * 32))
    with pytest.raises(InvalidTerms):
        registrar.registrations.request(path, community, foreign)
    assert registrar.node.pin_ls() == pins
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    registrar.items.register([path], community, terms, keys)
    pins = registrar.node.pin_ls()
    with pytest.raises(DuplicateClaim):
        registrar.registrations.request(path, community, terms)
    assert registrar.node.pin_ls() == pins


def test_an_edited_registration_request_is_refused(registrar: Registry, tmp_path: Path) -> None:
    name = "edit-" + tmp_path.name
    keyed_community(registrar, name, 1, 1)
    community = registrar.reader.resolve_community(name)
    path = tmp_path / "kite.obj"
    path.write_bytes(os.urandom(700))
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    request = registrar.registrations.request(path, community, terms)
    original = json.loads(encode_request(request))
    assert parse_request(encode_request(request), "r").digest == request.digest
    edits = [
        ("registration", {"encrypted": True}),
        ("terms_document", {**original["terms_document"], "license": "CC0-1.0"}),
        ("document", {**original["document"], "name": "other.obj"}),
        ("registration", None),
    ]
    for field, value in edits:
        edited = json.dumps({**original, field: value}).encode()
        with pytest.raises(ConsentFileInvalid):
            parse_request(edited, "edited")
    # the item named is the subject signed: another CID is refused too
    other = str(import_bytes(b"another file", ImportOptions(cid_version=1)).cid)
    with pytest.raises(ConsentFileInvalid):
        parse_request(json.dumps({**original, "item": other}).encode(), "edited")



def test_a_rotation_or_a_missing_document_refuses_the_submission(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "rotated-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    path = tmp_path / "drum.obj"
    path.write_bytes(os.urandom(800))
    terms = write_terms(tmp_path / "terms.json", public_terms(community))
    request = registrar.registrations.request(path, community, terms)
    holders = _holders(registrar, community)
    read, files = _round_trip(request, tmp_path, holders[0])
    # The file is gone from this node (unpinned and collected): refused, nothing sent.
    cid = import_bytes(path.read_bytes(), ImportOptions(cid_version=1)).cid
    registrar.node.pin_rm(cid)
    registrar.node.gc()
    before = sent(registrar)
    with pytest.raises(NotFound, match="not on this IPFS node"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    # A rotation since the request: its signatures no longer count.
    registrar.communities.rotate(community, [holders[0].address], 1, keys)
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="rotation"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before

# ---- the request file (pure) -------------------------------------------------------------------

DOMAIN = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
FOUNDERS = sorted(
    (Account.from_key(bytes([70 + i]) * 32) for i in range(3)), key=lambda a: int(a.address, 16)
)
HISTORY = keyholder_history(FOUNDERS, 2)
BASKET = import_bytes(b"a woven basket", ImportOptions(cid_version=1))


def registration() -> ConsentRequest:
    community = Community.of(HISTORY.community, [a.address for a in FOUNDERS], 2)
    metadata = {
        **metadata_document(BASKET.cid, "basket.obj", BASKET.filesize, DEFAULT_IMPORT),
        "description": DESCRIPTION,
    }
    return build_register_request(
        DOMAIN, community, bytes(BASKET.cid), metadata, public_terms(community.id),
        bytes(32), 1_700_000_060, item=str(BASKET.cid), created_at=1_700_000_000,
        history=HISTORY, encrypted=False,
    )  # fmt: skip


REGISTRATION_PATHS = st.sampled_from(
    [
        ("item",), ("keyholders",), ("threshold",), ("terms_cid",), ("terms_document",),
        ("terms_document", "license"), ("document",), ("document", "name"), ("document", "cid"),
        ("document", "description"), ("registration",), ("registration", "encrypted"),
        ("receiver",), ("batch",), ("typed_data", "message", "cid"),
        ("typed_data", "message", "commitment"), ("typed_data", "message", "metadata"),
        ("typed_data", "primaryType"),
    ]
)


def test_a_registration_request_round_trips_and_says_what_it_registers() -> None:
    request = registration()
    parsed = parse_request(encode_request(request), "r.json")
    assert parsed == request and parsed.subject == keccak(
        HISTORY.community + keccak(bytes(BASKET.cid))
    )
    rows = dict(describe_request(parsed))
    assert rows["action"].startswith(f"RegisterItem: REGISTER {BASKET.cid} as an item of ")
    assert rows["encrypted"].startswith("no") and "Whale-bone comb" in rows["metadata"]


@reaches(0.8)
@settings(max_examples=examples())
@given(REGISTRATION_PATHS, JSON_VALUES)
def test_any_edit_of_a_registration_request_is_refused_cleanly(
    path: tuple[str, ...], value: Any
) -> None:
    """Fuzzed fields of a registration request: refused (ConsentFileInvalid, never another
    exception), or what is signed and what a signer is shown are exactly as they were."""
    request = registration()
    document = json.loads(encode_request(request))
    target = document
    for part in path[:-1]:
        target = target[part]
    original = target.get(path[-1])
    target[path[-1]] = value
    try:
        parsed = parse_request(json.dumps(document).encode(), "r.json")
    except ConsentFileInvalid:
        assert json.dumps(value, sort_keys=True) != json.dumps(original, sort_keys=True)
    else:
        assert parsed == request
        assert describe_request(parsed) == describe_request(request)
    reached()


def test_a_derivatives_registration_needs_k_of_the_deriving_community() -> None:
    steward = Community.of(HISTORY.community, [a.address for a in FOUNDERS], 2)
    deriving_keys = sorted(
        (Account.from_key(bytes([90 + i]) * 32) for i in range(3)),
        key=lambda a: int(a.address, 16),
    )
    deriving = Community.of(b"\x07" * 32, [a.address for a in deriving_keys], 2)
    request = build_derivative_request(
        DOMAIN, steward, b"\x01" * 32, deriving.id, bytes(BASKET.cid), {"method": "scan"}, False,
        1_700_000_060, item="0x" + "01" * 32, created_at=1_700_000_000, history=HISTORY,
        metadata=b"\x02" * 32, terms=b"\x03" * 32, name="basket.glb",
    )  # fmt: skip
    signed = [(f"s{i}", sign_registration(request, a)) for i, a in enumerate(deriving_keys)]
    packed, signers = pack_registration(request, signed[:2], deriving)
    assert signers == tuple(a.address for a in deriving_keys[:2]) and len(packed) == 130
    # what the registry checks: k of the deriving community over RegisterDerivative
    check_signatures(
        registration_typed(request).digest(), deriving.keyholders, deriving.threshold, packed
    )
    with pytest.raises(ConsentIncomplete):
        pack_registration(request, signed[:1], deriving)
    with pytest.raises(ConsentMismatch):
        pack_registration(request, [signed[0], signed[0]], deriving)
    consent_signature = ("c", sign_request(request, FOUNDERS[0]))  # the steward's, not these
    with pytest.raises(ConsentMismatch):
        pack_registration(request, [consent_signature, *signed[:2]], deriving)
    outsider = sign_registration(request, FOUNDERS[1])
    with pytest.raises(ConsentMismatch):
        pack_registration(request, [("o", outsider), *signed[:2]], deriving)
