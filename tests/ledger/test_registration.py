"""ledger.documents (pure), and the ledger.registry workflows in-process against a real anvil
and the embedded IPFS node."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.documents import (
    canonical_json,
    community_salt,
    document_cid,
    metadata_document,
    parse_community_id,
    parse_json_document,
)
from ledger.errors import DuplicateLeaves, InvalidTerms, LimitExceeded, NotFound, UsageError
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.unixfs import ImportOptions, import_path
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from tests import registry_support
from tests.reaching import reached, reaches
from tests.registry_support import PASSPHRASE, keyed_community, sent, settings_on, write_files
from tests.rights_support import public_terms, restricted_terms, write_terms

# The shared fixtures (tests/registry_support.py): the session's anvil and a registrar on it.
chain_settings = registry_support.chain_settings
registrar = registry_support.registrar

# ---- documents -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@reaches(0.8)
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_canonical_json_round_trips_and_is_one_byte_form(document: dict[str, Any]) -> None:
    data = canonical_json(document)
    assert parse_json_document(data, "doc") == document
    # Key order and whitespace of the source do not change the bytes (so nor the CID).
    shuffled = json.dumps(dict(reversed(list(document.items()))), indent=3).encode()
    assert canonical_json(parse_json_document(shuffled, "doc")) == data
    reached()


def test_canonical_json_form() -> None:
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


def test_canonical_json_matches_the_rfc_8785_example() -> None:
    """RFC 8785, section 3.2.2: the sample input and its canonical output."""
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_numbers_outside_i_json_have_no_canonical_form() -> None:
    with pytest.raises(UsageError, match="no canonical JSON form"):
        canonical_json({"n": 2**60})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"license: CC-BY", "is not JSON"),
        (b"\xff\xfe{}", "is not JSON"),
        (b'{"a": NaN}', "is not JSON"),
        (b'{"a": Infinity}', "is not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b"", "is not JSON"),
    ],
)
def test_documents_must_be_json_objects(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_json_document(data, "terms.json")
    assert "terms.json" in caught.value.message


def test_a_document_is_one_block_of_at_most_one_mebibyte() -> None:
    big = b'{"a": "' + b"x" * (1 << 20) + b'"}'
    with pytest.raises(LimitExceeded):
        parse_json_document(big, "big.json")


def test_document_cid_is_cidv1_raw_of_the_digest() -> None:
    data = canonical_json({"license": "CC0-1.0"})
    cid = document_cid(hashlib.sha256(data).digest())
    assert cid == Cid.for_block(data, RAW, 1)
    assert str(cid).startswith("bafkrei")


def test_community_salts_and_ids() -> None:
    assert community_salt("museum") == community_salt("museum")
    assert community_salt("museum") != community_salt("Museum")
    assert len(community_salt("museum")) == 32
    assert parse_community_id("museum") is None
    assert parse_community_id("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    with pytest.raises(UsageError):
        community_salt("  ")
    with pytest.raises(UsageError, match="32-byte"):
        parse_community_id("0x1234")


@pytest.mark.parametrize(
    "options",
    [
        ImportOptions(cid_version=1),
        ImportOptions(cid_version=0),
        ImportOptions(cid_version=1, raw_leaves=False, chunk_size=65536),
    ],
)
def test_metadata_records_what_recomputes_the_cid(tmp_path: Path, options: ImportOptions) -> None:
    path = tmp_path / "scan.tif"
    path.write_bytes(os.urandom(600_000))  # several chunks: a real DAG
    cid = import_path(path, options)[-1].cid
    meta = metadata_document(cid, path.name, 600_000, options)
    assert meta["media_type"] == "image/tiff"
    assert meta["size"] == 600_000
    recorded = meta["import"]
    again = ImportOptions(
        cid_version=recorded["cid_version"],
        raw_leaves=recorded["raw_leaves"],
        chunk_size=recorded["chunk_size"],
    )
    assert str(import_path(path, again)[-1].cid) == meta["cid"] == str(cid)


def test_unknown_extensions_get_a_generic_media_type() -> None:
    cid = Cid.for_block(b"x", RAW)
    assert metadata_document(cid, "model.zzz", 1, ImportOptions())["media_type"] == (
        "application/octet-stream"
    )


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        # IANA's model/ registrations (RFC 2077 tree): obj, stl, gltf-binary.
        ("bowl.obj", "model/obj"),
        ("bowl.stl", "model/stl"),
        ("bowl.glb", "model/gltf-binary"),
        # PLY is not registered: its unregistered form in the same tree, whatever the case.
        ("bowl.ply", "model/x-ply"),
        ("BOWL.PLY", "model/x-ply"),
    ],
)
def test_3d_masters_get_model_media_types(name: str, media_type: str) -> None:
    cid = Cid.for_block(b"x", RAW)
    assert metadata_document(cid, name, 1, ImportOptions())["media_type"] == media_type


# ---- workflows against a real anvil ----------------------------------------------------------


def test_register_binds_the_documents_on_chain(registrar: Registry, tmp_path: Path) -> None:
    keys = keyed_community(registrar, "bind-" + tmp_path.name, 3, 2)
    document = public_terms(registrar.reader.resolve_community("bind-" + tmp_path.name))
    terms = write_terms(tmp_path / "terms.json", document)
    calls: list[tuple[str, int, int]] = []
    files = write_files(tmp_path / "files", 3)
    results = registrar.items.register(
        files,
        registrar.reader.resolve_community("bind-" + tmp_path.name),
        terms,
        keys,
        progress=lambda *a: calls.append(a),
    )
    assert calls[:3] == [("adding", 1, 3), ("adding", 2, 3), ("adding", 3, 3)]
    assert calls[-1] == ("registering", 3, 3)
    terms_digest = hashlib.sha256(canonical_json(document)).digest()
    for result in results:
        record = registrar.client.find_record(result.key)
        # The claim key, from its definition: keccak256(abi.encode(community, keccak256(cid))).
        community_id = registrar.reader.resolve_community("bind-" + tmp_path.name)
        assert result.key == keccak(community_id + keccak(bytes(result.cid)))
        # The record's digests name exactly the stored documents.
        metadata_block = registrar.node.block_get(result.metadata_cid)
        assert hashlib.sha256(metadata_block).digest() == record.metadata
        assert record.terms == terms_digest
        assert registrar.node.block_get(document_cid(terms_digest)) == canonical_json(document)
        assert json.loads(metadata_block)["cid"] == str(result.cid)


def test_a_failed_batch_pins_and_sends_nothing(registrar: Registry, tmp_path: Path) -> None:
    name = "dup-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    terms = write_terms(
        tmp_path / "terms.json", public_terms(registrar.reader.resolve_community(name))
    )
    files = write_files(tmp_path / "files", 4)
    (tmp_path / "files" / "again.obj").write_bytes(files[3].read_bytes())  # last one repeated
    pins = registrar.node.pin_ls()
    before = sent(registrar)
    with pytest.raises(DuplicateLeaves, match=r"again\.obj"):
        registrar.items.register_batch(
            [*files, tmp_path / "files" / "again.obj"],
            registrar.reader.resolve_community(name),
            terms,
            keys,
        )
    with pytest.raises(DuplicateLeaves):  # first one repeated, single registrations
        registrar.items.register(
            [files[0], *files], registrar.reader.resolve_community(name), terms, keys
        )
    assert registrar.node.pin_ls() == pins
    assert sent(registrar) == before


def test_unknown_community_fails_before_anything_is_added(
    registrar: Registry, tmp_path: Path
) -> None:
    nobody = community_salt("nobody-" + tmp_path.name)  # an id no community has
    terms = write_terms(tmp_path / "terms.json", public_terms(nobody))
    files = write_files(tmp_path / "files", 1)
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    with pytest.raises(NotFound, match="not registered"):
        registrar.items.register(files, nobody, terms, keys)
    assert not registrar.settings.blocks_dir.exists()  # the node was never even opened


def test_invalid_or_foreign_terms_are_refused_with_nothing_pinned_or_sent(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "terms-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    community = registrar.reader.resolve_community(name)
    files = write_files(tmp_path / "files", 2)
    pins = registrar.node.pin_ls()
    before = sent(registrar)
    invalid = public_terms(community, labels=["tk:secret-sacred", "tk:no-such-label"])
    bad = write_terms(tmp_path / "bad.json", invalid)
    with pytest.raises(InvalidTerms) as caught:
        registrar.items.register(files, community, bad, keys)
    assert [(p.pointer, p.rule) for p in caught.value.problems] == [("/labels/1", "enum")]
    assert "/labels/1" in caught.value.message and "bad.json" in caught.value.message
    with pytest.raises(InvalidTerms):
        registrar.items.register_batch(files, community, bad, keys)
    # Valid terms of another community: refused too, naming /community.
    foreign = write_terms(tmp_path / "foreign.json", restricted_terms(community_salt("other")))
    with pytest.raises(InvalidTerms) as caught:
        registrar.items.register(files, community, foreign, keys)
    assert [(p.pointer, p.rule) for p in caught.value.problems] == [
        ("/community", "registering-community")
    ]
    assert caught.value.exit_code == 4
    assert registrar.node.pin_ls() == pins  # nothing added or pinned …
    assert sent(registrar) == before  # … and nothing sent
    # The same files under valid terms of this community go through; then `terms set`
    # refuses a foreign document before signing or sending.
    (result,) = registrar.items.register(files[:1], community, write_terms(
        tmp_path / "good.json", public_terms(community)), keys)  # fmt: skip
    after = sent(registrar)
    with pytest.raises(InvalidTerms, match="/community"):
        registrar.terms.set(str(result.cid), foreign, keys)
    assert sent(registrar) == after


def test_a_name_taken_first_by_other_keyholders_blocks_no_one(registrar: Registry) -> None:
    """Ids derive from the name's salt and the keyholders: a squatter who creates a name
    first gets an id of its own, and the name then resolves to neither, ambiguously."""
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)

    def holders(n: int) -> list[str]:
        made = [new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True) for _ in range(n)]
        return [k.address for k in made]

    squatter = registrar.communities.create("the museum", holders(1), 1, keys)
    assert registrar.reader.resolve_community("the museum") == squatter.id
    real_holders = holders(3)
    real = registrar.communities.create("the museum", real_holders, 2, keys)
    assert real.id != squatter.id
    assert sorted(real.keyholders) == sorted(real_holders)
    with pytest.raises(UsageError, match="2 communities are named 'the museum'") as caught:
        registrar.reader.resolve_community("the museum")
    assert "0x" + real.id.hex() in caught.value.message
    assert "0x" + squatter.id.hex() in caught.value.message
    assert registrar.reader.resolve_community("0x" + real.id.hex()) == real.id
    assert registrar.communities.show(real.id).threshold == 2
    # The same name, keyholders and threshold again is the same id: refused, nothing sent.
    with pytest.raises(UsageError, match="already exists"):
        registrar.communities.create("the museum", real_holders, 2, keys)
    with pytest.raises(NotFound, match="no community named"):
        registrar.reader.resolve_community("no such museum")


def test_resolve_tries_both_versions_of_a_dag_pb_cid(registrar: Registry) -> None:
    v0 = Cid.from_digest(bytes(32), DAG_PB, 0)
    with pytest.raises(NotFound) as caught:
        registrar.reader.resolve(str(v0.to_v1()))
    assert str(v0.to_v1()) in caught.value.message
    assert "not registered" in caught.value.message


def test_the_sender_is_required_off_anvil(chain_settings: Settings, tmp_path: Path) -> None:
    settings = settings_on(chain_settings, tmp_path / "data")
    with Registry(settings) as registrar:  # no sender chosen
        keys = SignerKeys(settings, lambda _address: PASSPHRASE)
        with pytest.raises(UsageError, match="no sender"):
            registrar.communities.create("x", [to_checksum_address("0x" + "11" * 20)], 1, keys)


def test_a_batch_whose_manifest_exceeds_a_block_pins_and_sends_nothing(
    registrar: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "big-" + tmp_path.name
    keys = keyed_community(registrar, name, 1, 1)
    terms = write_terms(
        tmp_path / "terms.json", public_terms(registrar.reader.resolve_community(name))
    )
    files = write_files(tmp_path / "files", 8)
    pins = registrar.node.pin_ls()
    before = sent(registrar)
    # A 4 KiB block limit stands in for 1 MiB: 8 items' manifest is about 4.5 KiB.
    monkeypatch.setattr("ledger.registry.items.MAX_DOCUMENT_BYTES", 4096)
    with pytest.raises(LimitExceeded, match="smaller batches"):
        registrar.items.register_batch(files, registrar.reader.resolve_community(name), terms, keys)
    assert registrar.node.pin_ls() == pins
    assert sent(registrar) == before
    monkeypatch.undo()
    batch = registrar.items.register_batch(
        files, registrar.reader.resolve_community(name), terms, keys
    )
    assert len(canonical_json(json.loads(registrar.node.block_get(batch.manifest_cid)))) > 4096


def test_custody_loans_and_returns_keep_the_steward_and_return_needs_an_open_loan(
    registrar: Registry, tmp_path: Path
) -> None:
    name = "custody-" + tmp_path.name
    keys = keyed_community(registrar, name, 2, 1)
    steward = registrar.reader.resolve_community(name)
    terms = write_terms(tmp_path / "terms.json", public_terms(steward))
    (result,) = registrar.items.register(write_files(tmp_path / "files", 1), steward, terms, keys)
    item = str(result.cid)
    pins = registrar.node.pin_ls()
    before = sent(registrar)
    with pytest.raises(UsageError, match="not on loan"):
        registrar.custody.return_(item, keys)
    assert sent(registrar) == before  # nothing sent
    assert registrar.node.pin_ls() == pins  # no custody document stored
    with pytest.raises(UsageError, match="non-zero"):
        registrar.custody.loan(item, bytes(32), keys)
    with pytest.raises(UsageError, match="cannot borrow"):
        registrar.custody.loan(item, steward, keys)
    assert sent(registrar) == before

    borrower = os.urandom(32)
    loan = tmp_path / "loan.json"
    loan.write_text('{"insurance": 250000}')
    lent = registrar.custody.loan(item, borrower, keys, document=loan).to_json()
    assert registrar.custody.current_borrower(result.key) == borrower
    assert registrar.client.steward_of(result.key, registrar.client.find_record(result.key)) == (
        steward
    )
    returned = registrar.custody.return_(item, keys).to_json()
    assert registrar.custody.current_borrower(result.key) is None
    assert sent(registrar) == before + 2
    custody = [e for e in registrar.items.history(item) if e.event == "CustodyRecorded"]
    assert [e.fields["action_name"] for e in custody] == ["loan", "return"]
    assert [e.fields["counterparty"] for e in custody] == [borrower, borrower]
    assert [e.fields["nonce"] for e in custody] == [lent["nonce"], returned["nonce"]] == [0, 1]
    document = json.loads(registrar.node.block_get(document_cid(custody[0].fields["document"])))
    assert (document["action"], document["insurance"]) == ("loan", 250000)
    assert registrar.client.custody_nonce(result.key) == 2
