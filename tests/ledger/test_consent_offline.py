"""ledger.consent's offline protocol: request and signature files (pure, hostile input),
collection, and the offline flow end to end through Registry against the session's anvil and
the embedded IPFS node (request → signatures made elsewhere → submit)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import consent
from ledger.chain import Community, batch_item_subject, community_id
from ledger.consent import (
    MAX_REQUEST_BYTES,
    MAX_SIGNATURE_BYTES,
    CommunityHistory,
    ConsentRequest,
    ConsentSignature,
    Rotation,
    build_request,
    collect,
    describe_request,
    encode_request,
    encode_signature,
    parse_request,
    parse_signature,
    read_request,
    read_signature,
    sign_request,
    typed_data_json,
    write_new_file,
)
from ledger.documents import document_cid
from ledger.errors import (
    BlockNotFound,
    ConsentExpired,
    ConsentFileInvalid,
    ConsentIncomplete,
    ConsentMismatch,
    ConsentStale,
    InvalidTerms,
    LimitExceeded,
    NoSuchFile,
    UsageError,
    WrongPassphrase,
)
from ledger.ipfs.cid import RAW, Cid
from ledger.keys import export_key, load_keystore_file, load_signer, new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from tests import registry_support
from tests.hypothesis_profiles import examples
from tests.ledger.chain.test_ethers_cross_check import run_ethers
from tests.reaching import reached, reaches
from tests.registry_support import PASSPHRASE, keyed_community, sent, write_files
from tests.rights_support import public_terms, restricted_terms, write_terms

# The registrar fixtures of test_registration, reused: pytest finds fixtures among a module's
# globals, so the same anvil, data directories and snapshots serve these tests.
chain_settings = registry_support.chain_settings
registrar = registry_support.registrar

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = consent.Domain(31337, REGISTRY)
NOW = 1_700_000_000
TERMS = {"license": "CC-BY-NC-4.0", "labels": ["TK Attribution"], "note": "élan"}
ITEM = Cid.for_block(b"a carved paddle", RAW)


def subject_of(community: bytes) -> bytes:
    """The claim key, from its definition: keccak256(abi.encode(community, keccak256(cid)))."""
    return keccak(community + keccak(bytes(ITEM)))


def keyholders(n: int) -> list[LocalAccount]:
    return sorted((Account.create() for _ in range(n)), key=lambda a: int(a.address, 16))


SALT = b"\x11" * 32


def keyholder_history(
    founders: Sequence[LocalAccount],
    k: int,
    rotations: Sequence[tuple[Sequence[LocalAccount], int]] = (),
    *,
    salt: bytes = SALT,
    domain: consent.Domain = DOMAIN,
) -> CommunityHistory:
    """A keyholder history as the registry would make it: a community created by
    ``founders`` with threshold ``k``, then rotated to each (keyholders, threshold) in turn,
    each rotation signed by k of the set before it."""

    def ordered(accounts: Sequence[LocalAccount]) -> list[LocalAccount]:
        return sorted(accounts, key=lambda a: int(a.address, 16))

    signers, threshold = ordered(founders), k
    first = tuple(a.address for a in signers)
    community = community_id(salt, first, k)
    done: list[Rotation] = []
    for nonce, (following, next_threshold) in enumerate(rotations):
        after = tuple(a.address for a in ordered(following))
        document = hashlib.sha256(b"community document %d" % nonce).digest()
        message = {
            "community": community,
            "keyholders": list(after),
            "threshold": next_threshold,
            "document": document,
            "nonce": nonce,
            "deadline": NOW + 60,
        }
        typed = consent.TypedData(domain, "RotateKeyholders", message)
        packed = consent.pack_signatures(
            (a.address, consent.sign(typed, bytes(a.key))) for a in signers[:threshold]
        )
        done.append(Rotation(after, next_threshold, document, nonce, NOW + 60, packed))
        signers, threshold = ordered(following), next_threshold
    return CommunityHistory(community, salt, first, k, tuple(done))


def founded(keys: Sequence[LocalAccount], k: int) -> tuple[Community, CommunityHistory]:
    """A community just created by ``keys`` (threshold ``k``) and its history."""
    history = keyholder_history(keys, k)
    return Community.of(history.community, [a.address for a in keys], k), history


def offline_request(
    keys: list[LocalAccount], k: int = 2, action: str = "SetTerms", version: int = 2
) -> ConsentRequest:
    community, history = founded(keys, k)
    return build_request(
        DOMAIN,
        action,
        community,
        subject_of(community.id),
        version,
        NOW + 3600,
        item=str(ITEM),
        created_at=NOW,
        history=history,
        terms_document=TERMS if action == "SetTerms" else None,
    )


def files_of(*signatures: ConsentSignature) -> list[tuple[str, ConsentSignature]]:
    return [(f"sig{i}.json", s) for i, s in enumerate(signatures)]


def as_document(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    return document


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode()


# ---- building, signing, collecting -----------------------------------------------------------


def test_a_request_binds_the_terms_document_and_round_trips() -> None:
    keys = keyholders(3)
    request = offline_request(keys)
    digest = hashlib.sha256(rfc8785.dumps(TERMS)).digest()
    assert request.typed.message["terms"] == digest
    assert request.terms_cid == str(document_cid(digest))
    again = parse_request(encode_request(request), "request.json")
    assert again == request
    assert again.digest == request.digest
    # The file carries standard EIP-712 JSON: eth-account hashes it to the same digest.
    document = as_document(encode_request(request))
    assert document["typed_data"] == typed_data_json(request.typed)
    assert document["digest"] == "0x" + request.digest.hex()
    rows = dict(describe_request(request))
    assert rows["terms CID"] == request.terms_cid
    assert rows["chain id"] == "31337"
    assert rows["registry"] == REGISTRY
    assert rows["terms version"] == "2"


@reaches(0.8)
@given(
    st.sampled_from(["SetTerms", "RevokeTerms"]),
    st.integers(1, 2**32 - 1),
    st.integers(1, 5),
    st.data(),
)
def test_any_request_round_trips(action: str, version: int, n: int, data: st.DataObject) -> None:
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(n)]
    keys.sort(key=lambda a: int(a.address, 16))
    k = data.draw(st.integers(1, n))
    request = offline_request(keys, k, action, version)
    assert parse_request(encode_request(request), "r") == request
    reached()


def test_status_says_who_signed_and_who_is_missing() -> None:
    keys = keyholders(3)
    request = offline_request(keys, 2)
    status = collect(request, [], now=NOW)
    assert (status.needed, status.complete, status.signed) == (2, False, ())
    assert status.missing == tuple(a.address for a in keys)
    with pytest.raises(ConsentIncomplete) as caught:
        status.packed()
    for account in keys:  # the message names every keyholder who could still sign
        assert account.address in caught.value.message

    one = sign_request(request, keys[2])
    status = collect(request, files_of(one), now=NOW)
    assert status.needed == 1
    assert status.missing == (keys[0].address, keys[1].address)
    assert status.to_json()["signed"] == [keys[2].address]

    two = sign_request(request, keys[0])
    status = collect(request, files_of(one, two), now=NOW)
    assert status.complete
    packed = status.packed()
    # Sorted by increasing address, whatever order the files came in; the contract's check
    # (mirrored in Python) accepts it.
    assert consent.check_signatures(request.digest, request.keyholders, 2, packed) == [
        keys[0].address,
        keys[2].address,
    ]


def test_more_than_k_signatures_pack_exactly_k() -> None:
    keys = keyholders(3)
    request = offline_request(keys, 2)
    status = collect(request, files_of(*(sign_request(request, a) for a in keys)), now=NOW)
    assert len(status.packed()) == 2 * 65
    assert status.missing == ()


def test_signing_refuses_a_key_that_is_not_a_keyholder() -> None:
    request = offline_request(keyholders(2))
    with pytest.raises(ConsentMismatch, match="not a keyholder"):
        sign_request(request, Account.create())


def test_a_signature_for_another_request_is_refused() -> None:
    keys = keyholders(2)
    request = offline_request(keys, 1)
    other = offline_request(keys, 1, version=3)
    with pytest.raises(ConsentMismatch, match=r"sig0\.json is a signature for another request"):
        collect(request, files_of(sign_request(other, keys[0])), now=NOW)


def test_a_signature_by_a_stranger_is_refused() -> None:
    keys = keyholders(2)
    request = offline_request(keys, 1)
    stranger = Account.create()
    forged = ConsentSignature(
        request.digest,
        request.action,
        request.subject,
        request.version,
        stranger.address,
        consent.sign(request.typed, bytes(stranger.key)),
    )
    with pytest.raises(ConsentMismatch, match="not a keyholder"):
        collect(request, files_of(forged), now=NOW)


def test_a_duplicate_signer_is_refused_even_when_the_files_differ() -> None:
    keys = keyholders(3)
    request = offline_request(keys, 2)
    good = sign_request(request, keys[1])
    with pytest.raises(ConsentMismatch, match=r"sig2\.json and sig0\.json are both signed by"):
        collect(request, files_of(good, sign_request(request, keys[0]), good), now=NOW)


def _with_signature(sig: ConsentSignature, signature: bytes) -> ConsentSignature:
    return ConsentSignature(
        sig.request_digest, sig.action, sig.subject, sig.terms_version, sig.signer, signature
    )


def test_high_s_and_bad_v_are_refused_as_the_registry_would() -> None:
    keys = keyholders(2)
    request = offline_request(keys, 1)
    good = sign_request(request, keys[0])
    r, s, v = good.signature[:32], int.from_bytes(good.signature[32:64], "big"), good.signature[64]
    # The malleated twin (n - s, other v) recovers the same key; the registry refuses it.
    high = r + (consent.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with pytest.raises(consent.SignatureError, match=r"sig0\.json: .*high s"):
        collect(request, files_of(_with_signature(good, high)), now=NOW)
    with pytest.raises(consent.SignatureError, match=r"v = [01]; only 27 and 28"):
        bad_v = _with_signature(good, good.signature[:64] + bytes([v - 27]))
        collect(request, files_of(bad_v), now=NOW)
    with pytest.raises(consent.SignatureError, match="not a valid secp256k1"):
        zero_r = _with_signature(good, bytes(32) + good.signature[32:])
        collect(request, files_of(zero_r), now=NOW)


def test_a_signature_whose_signer_field_was_edited_is_refused() -> None:
    keys = keyholders(2)
    request = offline_request(keys, 1)
    sig = sign_request(request, keys[0])
    edited = ConsentSignature(
        sig.request_digest, sig.action, sig.subject, sig.terms_version, keys[1].address,
        sig.signature,
    )
    with pytest.raises(ConsentMismatch, match=f"signature is by {keys[0].address}"):
        collect(request, files_of(edited), now=NOW)


def test_an_expired_request_is_refused() -> None:
    keys = keyholders(1)
    request = offline_request(keys, 1)
    sig = sign_request(request, keys[0])
    assert collect(request, files_of(sig), now=request.deadline).complete  # last valid second
    with pytest.raises(ConsentExpired, match="expired"):
        collect(request, files_of(sig), now=request.deadline + 1)


# ---- hostile files ---------------------------------------------------------------------------


def test_signature_file_round_trip_and_an_edited_terms_version() -> None:
    keys = keyholders(2)
    request = offline_request(keys, 1)
    sig = sign_request(request, keys[0])
    data = encode_signature(sig)
    assert parse_signature(data, "s") == sig
    # Edited to claim another terms version: the file still parses, but no longer matches.
    document = as_document(data)
    document["terms_version"] = 7
    edited = parse_signature(encoded(document), "s.json")
    with pytest.raises(ConsentMismatch, match="says it signs SetTerms version 7"):
        collect(request, [("s.json", edited)], now=NOW)
    # Edited to another format version: refused at parse time.
    document["terms_version"] = sig.terms_version
    document["version"] = 2
    with pytest.raises(ConsentFileInvalid, match="format version 2"):
        parse_signature(encoded(document), "s.json")


def _signature_edits() -> list[tuple[str, Any, str]]:
    return [
        ("signature", "0x" + "ab" * 64, "is 64 bytes, not 65"),
        ("signature", "ab" * 65, "0x-prefixed hex"),
        ("signature", 12, "0x-prefixed hex"),
        ("signer", "0x1234", "not an Ethereum address"),
        ("request", "0x" + "00" * 31, "is 31 bytes, not 32"),
        ("terms_version", "2", "not an integer"),
        ("terms_version", True, "not an integer"),
        ("terms_version", 2**32, "not an integer"),
        ("action", "CreateCommunity", "is not one of"),
        ("type", "heritage/consent-request", "not a consent signature file"),
        ("extra", 1, "unexpected \\['extra'\\]"),
    ]


@pytest.mark.parametrize(("field", "value", "message"), _signature_edits())
def test_hostile_signature_files_are_refused(field: str, value: Any, message: str) -> None:
    keys = keyholders(1)
    document = as_document(encode_signature(sign_request(offline_request(keys, 1), keys[0])))
    document[field] = value
    with pytest.raises(ConsentFileInvalid, match=message) as caught:
        parse_signature(encoded(document), "bob.sig.json")
    assert "bob.sig.json" in caught.value.message


def test_missing_fields_truncation_and_junk_are_refused() -> None:
    keys = keyholders(1)
    request = offline_request(keys, 1)
    data = encode_request(request)
    for cut in (0, 1, len(data) // 2, len(data) - 3):
        with pytest.raises(ConsentFileInvalid, match="not valid JSON"):
            parse_request(data[:cut], "r.json")
    document = as_document(data)
    del document["keyholders"]
    with pytest.raises(ConsentFileInvalid, match=r"missing \['keyholders'\]"):
        parse_request(encoded(document), "r.json")
    for junk, message in [
        (b"[]", "not a JSON object"),
        (b'{"type": "heritage/consent-request", "version": 1, "version": 1}', "appears twice"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "more than 64 levels deep"),
        (b'"' + b'\\"' * 100_000, "not valid JSON"),  # an unterminated string of escapes
    ]:
        with pytest.raises(ConsentFileInvalid, match=message):
            parse_request(junk, "r.json")


def _request_edits() -> list[tuple[tuple[str, ...], Any, str]]:
    return [
        (("version",), 1, "format version 1; this program reads version 2"),
        (("version",), 3, "format version 3"),
        (("type",), "heritage/consent-signature", "not a consent request file"),
        (("threshold",), 1, "threshold was edited: the file says 1, but community 0x"),
        (("history",), None, "history .* is missing"),
        (("history", "threshold"), 1, "history does not hold: community 0x.* is not the id"),
        (("history", "salt"), "0x" + "22" * 32, "history does not hold"),
        (("history", "community"), "0x" + "22" * 32, "history is the history of community"),
        (("history", "rotations"), {}, "history.rotations is not a list"),
        (("history", "extra"), 1, "history is not {community, keyholders"),
        (("threshold",), 0, "threshold 0 is not between 1 and 3"),
        (("threshold",), 4, "threshold 4 is not between 1 and 3"),
        (("threshold",), "2", "not an integer"),
        (("terms_document", "license"), "CC0-1.0", "does not hash to the terms digest"),
        (("terms_cid",), "bafkreiother", "terms_cid"),
        (("digest",), "0x" + "00" * 32, "not the digest of its typed data"),
        (("typed_data", "message", "version"), 3, "not the digest of its typed data"),
        (("typed_data", "message", "version"), -1, "not an integer"),
        (("typed_data", "message", "deadline"), 2**64, "not an integer"),
        (("typed_data", "message", "extra"), 1, "has exactly"),
        (("typed_data", "domain", "name"), "Other Registry", "typed_data differs"),
        (("typed_data", "types", "SetTerms"), [], "typed_data differs"),
        (("typed_data", "primaryType"), "CreateCommunity", "primaryType is 'CreateCommunity'"),
        (("typed_data", "domain", "verifyingContract"), "0x12", "not an Ethereum address"),
        (("batch",), {"root": "0x" + "00" * 32}, "batch is not"),
        (("item",), "", "not a CID or item key"),
        (("item",), "0x" + "00" * 32, "does not name the subject being signed"),
        (("item",), str(Cid.for_block(b"another item", RAW)), "does not name the subject"),
    ]


@pytest.mark.parametrize(("path", "value", "message"), _request_edits())
def test_hostile_request_files_are_refused(path: tuple[str, ...], value: Any, message: str) -> None:
    keys = keyholders(3)
    document = as_document(encode_request(offline_request(keys, 2)))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConsentFileInvalid, match=message) as caught:
        parse_request(encoded(document), "alice/request.json")
    assert "alice/request.json" in caught.value.message


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    keys = keyholders(1)
    community, history = founded(keys, 1)
    document = {"note": "[{" * 500, "nested": [[[["ok"]]]]}
    request = build_request(
        DOMAIN, "SetTerms", community, subject_of(community.id), 2, NOW + 60,
        item=str(ITEM), created_at=NOW, history=history, terms_document=document,
    )
    assert parse_request(encode_request(request), "r").terms_document == document


def test_keyholders_and_threshold_edited_into_a_request_are_refused() -> None:
    """The keyholders and threshold are not in the digest: an attacker who adds their own key,
    swaps one, or lowers k, keeps every genuine signature valid. The history binds them to
    the community id being signed, so the edited file is refused, naming what was edited,
    before any signature is counted."""
    keys = keyholders(3)
    request = offline_request(keys, 2)
    attacker = Account.create()
    genuine = as_document(encode_request(request))
    assert genuine["history"]["keyholders"] == genuine["keyholders"]
    edits: list[tuple[list[str], int, str]] = [
        (sorted([*genuine["keyholders"], attacker.address], key=lambda a: int(a, 16)), 1,
         "keyholders were edited: the file names .*, but community 0x"),
        (sorted([*genuine["keyholders"][:2], attacker.address], key=lambda a: int(a, 16)), 2,
         "keyholders were edited"),
        (genuine["keyholders"], 1,
         "threshold was edited: the file says 1, but community 0x.*'s keyholder history "
         "\\(its creation\\) proves 2"),
    ]
    for holders, k, message in edits:
        document = {**genuine, "keyholders": holders, "threshold": k}
        with pytest.raises(ConsentFileInvalid, match=message) as caught:
            parse_request(encoded(document), "request.json")
        assert caught.value.hint == "the file was edited; make a new request"
        # Were it accepted, fewer than 2 genuine signatures (the attacker's own standing in)
        # would make it complete.
        edited = ConsentRequest(
            typed=request.typed, item=request.item,
            keyholders=tuple(to_checksum_address(h) for h in holders), threshold=k,
            created_at=NOW, history=request.history, terms_document=TERMS,
        )
        ours = [attacker] if attacker.address in holders else []
        signers = ours + keys[: k - len(ours)]
        assert len([s for s in signers if s in keys]) < 2
        files = files_of(*(sign_request(edited, s) for s in signers))
        assert collect(edited, files, now=NOW).complete
    # A history of the attacker's own proves their keys, but for another community id: the
    # id being signed is not theirs.
    theirs = keyholder_history([attacker], 1)
    forged = {**genuine, "keyholders": [attacker.address], "threshold": 1,
              "history": as_document(encode_request(offline_request([attacker], 1)))["history"]}
    assert forged["history"]["community"] == "0x" + theirs.community.hex()
    with pytest.raises(ConsentFileInvalid, match="history is the history of community 0x"):
        parse_request(encoded(forged), "request.json")


def test_a_history_proves_keyholders_through_rotations_and_forged_ones_are_refused() -> None:
    founders, second, third = keyholders(3), keyholders(2), keyholders(3)
    history = keyholder_history(founders, 2, [(second, 1), (third, 2)])
    community = Community.of(history.community, [a.address for a in third], 2)
    request = build_request(
        DOMAIN, "RevokeTerms", community, subject_of(community.id), 1, NOW + 60, item=str(ITEM),
        created_at=NOW, history=history,
    )
    assert parse_request(encode_request(request), "r") == request
    assert dict(describe_request(request))["keyholders"] == (
        f"2 of {', '.join(community.keyholders)}"
    )
    # Signed only by keyholders of the set the history ends with.
    with pytest.raises(ConsentMismatch, match="not a keyholder"):
        sign_request(request, founders[0])
    genuine = as_document(encode_request(request))
    attacker = Account.create()
    # The last rotation replaced by one to the attacker, signed by the attacker: not by k of
    # the keyholders before it.
    own = keyholder_history([attacker], 1, [([attacker], 1), ([attacker], 1)])
    fake = {**genuine["history"]["rotations"][1], "keyholders": [attacker.address],
            "threshold": 1,
            "signatures": "0x" + own.rotations[1].signatures.hex()}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rotations": [genuine["history"]["rotations"][0], fake]},
         "rotation 2 of community 0x.* is not signed by 1 of the keyholders before it"),
        ({"rotations": genuine["history"]["rotations"][::-1]}, "rotation 1 .* has nonce 1"),
        ({"rotations": [{**genuine["history"]["rotations"][0], "signatures": "0x"}]},
         "rotation 1 .* is not signed by 2"),
        ({"rotations": genuine["history"]["rotations"][:1]}, "keyholders were edited"),
    ]
    for change, message in cases:
        document = {**genuine, "history": {**genuine["history"], **change}}
        if change["rotations"] and change["rotations"][-1] is fake:
            document |= {"keyholders": [attacker.address], "threshold": 1}
        with pytest.raises(ConsentFileInvalid, match=message):
            parse_request(encoded(document), "r.json")
    # A history for another registry does not hold in this one.
    with pytest.raises(ConsentFileInvalid, match=r"rotation 1 .* is not signed"):
        build_request(
            consent.Domain(1, REGISTRY), "RevokeTerms", community, subject_of(community.id), 1,
            NOW + 60, item=str(ITEM), created_at=NOW, history=history,
        )


def test_keyholders_out_of_order_or_repeated_are_refused() -> None:
    keys = keyholders(3)
    document = as_document(encode_request(offline_request(keys, 2)))
    for holders in (document["keyholders"][::-1], [document["keyholders"][0]] * 3):
        document["keyholders"] = holders
        with pytest.raises(ConsentFileInvalid, match="strictly increasing"):
            parse_request(encoded(document), "r.json")


def test_huge_files_are_refused_without_reading_them_whole(tmp_path: Path) -> None:
    big = tmp_path / "huge.json"
    with big.open("wb") as out:
        out.truncate(MAX_REQUEST_BYTES * 4)  # sparse: costs no disk
    with pytest.raises(LimitExceeded, match=f"at most {MAX_REQUEST_BYTES} bytes"):
        read_request(big)
    with pytest.raises(LimitExceeded, match=f"at most {MAX_SIGNATURE_BYTES} bytes"):
        read_signature(big)
    with pytest.raises(NoSuchFile, match=r"no such file: .*absent\.json"):
        read_request(tmp_path / "absent.json")
    with pytest.raises(UsageError, match="is a directory"):
        read_signature(tmp_path)


def test_write_new_file_never_replaces_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sig.json"
    write_new_file(path, b"first")
    with pytest.raises(UsageError, match="already exists"):
        write_new_file(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["sig.json"]  # no temp file left


def test_a_keystore_file_signs_and_a_wrong_passphrase_is_refused(
    tmp_path: Path, settings: Settings
) -> None:
    info = new_key(settings, PASSPHRASE, unsafe_light_kdf=True)
    exported = export_key(settings, info.address, tmp_path / "alice.keystore.json")
    assert load_keystore_file(exported, PASSPHRASE).address == info.address
    with pytest.raises(WrongPassphrase) as caught:
        load_keystore_file(exported, "wrong")
    assert PASSPHRASE not in str(caught.value)
    not_keystore = tmp_path / "x.json"
    not_keystore.write_text('{"version": 3}')
    with pytest.raises(Exception, match="not a usable keystore"):
        load_keystore_file(not_keystore, PASSPHRASE)


# ---- the offline flow through Registry, on the session's anvil ------------------------------


def _setup(registrar: Registry, tmp_path: Path, n: int = 3, k: int = 2) -> tuple[str, bytes]:
    """A community of ``n`` keyholders (k of them sign) with one registered item."""
    name = "consent-" + tmp_path.name
    keys = keyed_community(registrar, name, n, k)
    terms = write_terms(
        tmp_path / "terms.json", public_terms(registrar.reader.resolve_community(name))
    )
    (result,) = registrar.items.register(
        write_files(tmp_path / "files", 1), registrar.reader.resolve_community(name), terms, keys
    )
    return str(result.cid), registrar.reader.resolve_community(name)


def _holders(registrar: Registry, community: bytes) -> list[LocalAccount]:
    return [
        load_signer(registrar.settings, a, PASSPHRASE)
        for a in registrar.session.community(community).keyholders
    ]


def _round_trip(request: ConsentRequest, tmp_path: Path, *signers: LocalAccount) -> tuple[
    ConsentRequest, list[tuple[str, ConsentSignature]]
]:
    """Through the files, as keyholders on other machines would see them."""
    path = tmp_path / f"request-{request.digest.hex()[:8]}.json"
    write_new_file(path, encode_request(request))
    read = read_request(path)
    files = []
    for account in signers:
        sig_path = tmp_path / f"{account.address}-{request.digest.hex()[:8]}.json"
        write_new_file(sig_path, encode_signature(sign_request(read, account)))
        files.append((str(sig_path), read_signature(sig_path)))
    return read, files


def test_set_terms_collected_offline(registrar: Registry, tmp_path: Path) -> None:
    item, community = _setup(registrar, tmp_path)
    holders = _holders(registrar, community)
    new_terms = restricted_terms(community)
    request = registrar.consent.terms_request(item, write_terms(tmp_path / "new.json", new_terms))
    assert (request.action, request.version) == ("SetTerms", 2)
    assert request.keyholders == registrar.session.community(community).keyholders
    read, files = _round_trip(request, tmp_path, holders[2], holders[0])
    before = sent(registrar)
    with pytest.raises(ConsentIncomplete) as caught:  # one of two
        registrar.consent.submit(read, files[:1])
    assert holders[0].address in caught.value.message
    assert holders[1].address in caught.value.message
    assert sent(registrar) == before  # nothing sent
    result = registrar.consent.submit(read, files).to_json()
    assert sent(registrar) == before + 1
    assert read.subject == keccak(community + keccak(bytes(Cid.parse(item))))
    assert result["subject"] == "0x" + read.subject.hex()
    state = registrar.client.terms_of(read.subject)
    digest = hashlib.sha256(rfc8785.dumps(new_terms)).digest()
    assert (state.version, state.terms, state.revoked) == (2, digest, False)
    assert result["terms_cid"] == read.terms_cid == str(document_cid(digest))
    assert registrar.node.block_get(document_cid(digest)) == rfc8785.dumps(new_terms)
    assert result["signers"] == sorted(
        [holders[0].address, holders[2].address], key=lambda a: int(a, 16)
    )
    # Public → restricted, as `terms set` does: the plaintext is no longer served here.
    assert item in result["unpinned"] and "cannot be recalled" in result["warning"]
    with pytest.raises(BlockNotFound):
        registrar.node.block_get(Cid.parse(item))
    # The same request cannot be sent twice: the version has moved on.
    with pytest.raises(ConsentStale, match="terms version 2"):
        registrar.consent.submit(read, files)


def test_a_rotation_makes_a_request_stale(registrar: Registry, tmp_path: Path) -> None:
    item, community = _setup(registrar, tmp_path)
    holders = _holders(registrar, community)
    cc0 = write_terms(tmp_path / "cc0.json", public_terms(community, license="CC0-1.0"))
    request = registrar.consent.terms_request(item, cc0)
    read, files = _round_trip(request, tmp_path, holders[0], holders[1])
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    newcomer = new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True).address
    registrar.communities.rotate(community, [h.address for h in holders[:2]] + [newcomer], 2, keys)
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="rotation"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    assert registrar.client.terms_of(read.subject).version == 1


def test_another_terms_change_makes_a_request_stale(registrar: Registry, tmp_path: Path) -> None:
    item, community = _setup(registrar, tmp_path)
    holders = _holders(registrar, community)
    cc0 = write_terms(tmp_path / "a.json", public_terms(community, license="CC0-1.0"))
    first = registrar.consent.terms_request(item, cc0)
    restricted = write_terms(tmp_path / "b.json", restricted_terms(community))
    second = registrar.consent.terms_request(item, restricted)
    assert first.version == second.version == 2
    read_first, files_first = _round_trip(first, tmp_path, holders[0], holders[1])
    read_second, files_second = _round_trip(second, tmp_path, holders[1], holders[2])
    registrar.consent.submit(read_first, files_first)
    before = sent(registrar)
    with pytest.raises(ConsentStale, match="the current version is 2, so the next is 3"):
        registrar.consent.submit(read_second, files_second)
    assert sent(registrar) == before
    # Signatures of the first request do not count for the second.
    with pytest.raises(ConsentMismatch, match="another request"):
        registrar.consent.submit(read_second, files_first)


def test_revoke_collected_offline_and_after_the_deadline(
    registrar: Registry, tmp_path: Path
) -> None:
    item, community = _setup(registrar, tmp_path, 2, 1)
    holders = _holders(registrar, community)
    with pytest.raises(UsageError, match="cannot be signed in time"):
        registrar.consent.terms_request(item, None, valid_for=1)
    request = registrar.consent.terms_request(item, None, valid_for=600)
    assert (request.action, request.version, request.terms_document) == ("RevokeTerms", 1, None)
    read, files = _round_trip(request, tmp_path, holders[1])
    # Past the deadline on the chain's clock: refused before anything is sent.
    registrar.session.w3.provider.make_request("evm_increaseTime", [601])  # type: ignore[arg-type]
    registrar.session.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    before = sent(registrar)
    with pytest.raises(ConsentExpired):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    fresh = registrar.consent.terms_request(item, None)
    read, files = _round_trip(fresh, tmp_path, holders[0])
    result = registrar.consent.submit(read, files).to_json()
    assert result["revoked"] is True
    assert item in result["unpinned"]  # a revoked public item is withdrawn here
    assert registrar.client.terms_of(read.subject).revoked
    with pytest.raises(UsageError, match="already revoked"):
        registrar.consent.terms_request(item, None)


def test_revoking_one_item_of_a_batch_offline(registrar: Registry, tmp_path: Path) -> None:
    name = "consent-batch-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 2)
    terms = write_terms(
        tmp_path / "terms.json", public_terms(registrar.reader.resolve_community(name))
    )
    batch = registrar.items.register_batch(
        write_files(tmp_path / "files", 3), registrar.reader.resolve_community(name), terms, keys
    )
    target = batch.items[1]
    request = registrar.consent.terms_request(str(target.cid), None)
    # batch key = keccak256(abi.encode(community, root)); the leaf holds keccak256(cid)
    batch_key = keccak(registrar.reader.resolve_community(name) + batch.root)
    content = keccak(bytes(target.cid))
    assert batch.batch == batch_key
    assert request.subject == keccak(batch_key + content)
    assert (request.batch_root, request.batch_item) == (batch_key, content)
    holders = _holders(registrar, registrar.reader.resolve_community(name))
    read, files = _round_trip(request, tmp_path, *holders)
    result = registrar.consent.submit(read, files).to_json()
    assert result["batch"] == "0x" + batch_key.hex()
    assert str(target.cid) in result["unpinned"]  # that item alone is withdrawn here
    assert str(batch.items[0].cid) not in result["unpinned"]
    assert registrar.client.terms_of(request.subject).revoked
    assert not registrar.client.terms_of(batch_key).revoked  # the rest of the batch stands
    with pytest.raises(UsageError, match="batch"):  # set terms of a batch item alone: no
        registrar.consent.terms_request(str(target.cid), terms)


def test_a_request_for_another_chain_is_refused(registrar: Registry, tmp_path: Path) -> None:
    item, community = _setup(registrar, tmp_path, 1, 1)
    request = registrar.consent.terms_request(item, None)
    elsewhere = build_request(
        consent.Domain(1, request.typed.domain.verifying_contract),
        "RevokeTerms",
        request.steward(),
        request.subject,
        request.version,
        request.deadline,
        item=item,
        created_at=request.created_at,
        history=request.history,
    )
    (holder,) = _holders(registrar, community)
    _, files = _round_trip(elsewhere, tmp_path, holder)
    with pytest.raises(ConsentMismatch, match="on chain 1"):
        registrar.consent.submit(elsewhere, files)


def test_a_request_file_signed_by_ethers_is_accepted(registrar: Registry, tmp_path: Path) -> None:
    """The request file's typed data is standard EIP-712 JSON: a wallet library signs it as it
    stands, and the registry takes that signature."""
    item, community = _setup(registrar, tmp_path, 2, 2)
    holders = _holders(registrar, community)
    cc0 = write_terms(tmp_path / "cc0.json", public_terms(community, license="CC0-1.0"))
    request = registrar.consent.terms_request(item, cc0)
    typed = as_document(encode_request(request))["typed_data"]
    cases = [{**typed, "privateKey": "0x" + bytes(h.key).hex()} for h in holders]
    files = []
    for holder, result in zip(holders, run_ethers(cases), strict=True):
        assert result["digest"] == "0x" + request.digest.hex()
        signature = ConsentSignature(
            request.digest,
            request.action,
            request.subject,
            request.version,
            holder.address,
            bytes.fromhex(result["signature"][2:]),
        )
        files.append((f"ethers-{holder.address}", signature))
    registrar.consent.submit(request, files)
    assert registrar.client.terms_of(request.subject).version == 2


def test_a_crafted_request_with_invalid_terms_is_refused_at_submit(
    registrar: Registry, tmp_path: Path
) -> None:
    """A request file made by another tool is held to the same terms rules; nothing is sent."""
    item, community = _setup(registrar, tmp_path, 1, 1)
    genuine = registrar.consent.terms_request(item, None)
    crafted = build_request(
        genuine.typed.domain,
        "SetTerms",
        genuine.steward(),
        genuine.subject,
        2,
        genuine.deadline,
        item=item,
        created_at=genuine.created_at,
        history=genuine.history,
        terms_document={"license": "CC0-1.0"},  # not a heritage/terms document
    )
    (holder,) = _holders(registrar, community)
    read, files = _round_trip(crafted, tmp_path, holder)
    before = sent(registrar)
    with pytest.raises(InvalidTerms, match="the request's terms document"):
        registrar.consent.submit(read, files)
    assert sent(registrar) == before
    assert registrar.client.terms_of(read.subject).version == 1


def test_a_batch_revoke_request_must_name_the_batch_items_subject() -> None:
    keys = keyholders(2)
    community, history = founded(keys, 1)
    root, item = b"\x33" * 32, b"\x44" * 32
    request = build_request(
        DOMAIN,
        "RevokeTerms",
        community,
        batch_item_subject(root, item),
        1,
        NOW + 60,
        item="0x" + item.hex(),
        created_at=NOW,
        history=history,
        batch=(root, item),
    )
    assert parse_request(encode_request(request), "r") == request
    document = as_document(encode_request(request))
    document["batch"]["root"] = "0x" + "55" * 32  # the same item in another batch
    with pytest.raises(ConsentFileInvalid, match="not the batch item's terms subject"):
        parse_request(encoded(document), "r.json")


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70)
)
JSON_VALUES = (
    JSON_SCALARS
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=8), JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3))
)
FIELD_PATHS = st.sampled_from(
    [
        ("type",), ("version",), ("item",), ("keyholders",), ("threshold",), ("terms_cid",),
        ("terms_document",), ("batch",), ("created_at",), ("digest",), ("typed_data",),
        ("typed_data", "domain"), ("typed_data", "domain", "chainId"), ("typed_data", "types"),
        ("typed_data", "message"), ("typed_data", "message", "subject"),
        ("typed_data", "message", "terms"), ("typed_data", "message", "deadline"),
    ]
)


@reaches(0.8)
@settings(max_examples=examples())
@given(FIELD_PATHS, JSON_VALUES)
def test_any_edit_of_a_request_is_refused_cleanly(path: tuple[str, ...], value: Any) -> None:
    """Fuzzed fields: an edit is refused (ConsentFileInvalid), or it leaves what is signed and
    what a signer is shown exactly as they were (only unsigned metadata, created_at, may move)."""
    request = offline_request([Account.from_key(b"\x01" * 32)], 1)
    document = as_document(encode_request(request))
    target = document
    for part in path[:-1]:
        target = target[part]
    original = target[path[-1]]
    target[path[-1]] = value
    try:
        parsed = parse_request(encoded(document), "r.json")
    except ConsentFileInvalid:
        # (as JSON text: True == 1 and 1.0 == 1 in Python, but they are other JSON values)
        assert json.dumps(value, sort_keys=True) != json.dumps(original, sort_keys=True)
    else:
        assert parsed.typed == request.typed
        assert describe_request(parsed) == describe_request(request)
        assert path == ("created_at",) or parsed == request
    reached()


@reaches(0.8)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_signature_file_or_a_clean_refusal(data: bytes) -> None:
    try:
        parse_signature(data, "s.json")
    except ConsentFileInvalid as exc:
        assert "s.json" in exc.message
    reached()
