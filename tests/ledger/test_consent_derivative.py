"""A derivative of another community's claim, with that community's consent collected offline:
`consent request derivative`, one signature file per keyholder of the parent's steward, then
`consent submit`, where k of the deriving community sign too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.consent import encode_request, parse_request, sign_request
from ledger.errors import (
    ConsentFileInvalid,
    ConsentMismatch,
    ConsentStale,
    RegistryReverted,
    UsageError,
)
from ledger.ipfs.cid import Cid
from ledger.registry import Registry, SignerKeys
from ledger.verify.report import Status, verify_online
from tests import registry_support
from tests.ledger.test_consent_offline import _holders, _round_trip
from tests.registry_support import PASSPHRASE, keyed_community, sent, write_files
from tests.rights_support import public_terms, write_terms

chain_settings = registry_support.chain_settings
registrar = registry_support.registrar


def _two_communities(
    registrar: Registry, tmp_path: Path, *, ai: bool = False
) -> tuple[bytes, bytes, str, SignerKeys]:
    """Aroha (2 of 3) holds an item; Mallory (1 of 1) wants to derive from it."""
    keys = keyed_community(registrar, "aroha-" + tmp_path.name, 3, 2)
    keyed_community(registrar, "mallory-" + tmp_path.name, 1, 1)
    aroha = registrar.reader.resolve_community("aroha-" + tmp_path.name)
    mallory = registrar.reader.resolve_community("mallory-" + tmp_path.name)
    terms = write_terms(
        tmp_path / "aroha-terms.json",
        public_terms(aroha, ai_use={"training": False, "enhancement": ai}),
    )
    (parent,) = registrar.items.register(write_files(tmp_path / "parent", 1), aroha, terms, keys)
    return aroha, mallory, str(parent.cid), keys


def _request_files(tmp_path: Path, mallory: bytes) -> tuple[Path, Path, Path]:
    (derived,) = write_files(tmp_path / "derived", 1)
    terms = write_terms(tmp_path / "mallory-terms.json", public_terms(mallory))
    method = tmp_path / "method.json"
    method.write_text('{"method": "photogrammetry", "software": "Meshroom 2023.3"}')
    return derived, terms, method


def test_a_derivative_of_another_communitys_claim_registers_with_its_consent(
    registrar: Registry, tmp_path: Path
) -> None:
    aroha, mallory, parent, _ = _two_communities(registrar, tmp_path)
    derived, terms, method = _request_files(tmp_path, mallory)
    before = sent(registrar)
    request = registrar.derivatives.request(parent, derived, mallory, terms, method)
    assert sent(registrar) == before  # a request sends nothing
    assert request.action == "ConsentDerivative"
    assert request.community == aroha  # the parent's steward signs
    assert request.typed.message["community"] == mallory
    # The parent claim key, from its definition.
    assert request.subject == keccak(aroha + keccak(bytes(Cid.parse(parent))))
    holders = _holders(registrar, aroha)
    with pytest.raises(ConsentMismatch, match="not a keyholder"):
        sign_request(request, _holders(registrar, mallory)[0])
    read, files = _round_trip(request, tmp_path, holders[0], holders[2])
    with pytest.raises(UsageError, match="deriving community"):
        registrar.consent.submit(read, files)  # no keys for the deriving community
    assert sent(registrar) == before
    mallory_keys = SignerKeys(
        registrar.settings,
        lambda _a: PASSPHRASE,
        tuple(registrar.session.community(mallory).keyholders),
    )
    result = registrar.consent.submit(read, files, mallory_keys).to_json()
    assert sent(registrar) == before + 1
    assert result["parent"] == "0x" + request.subject.hex()
    assert result["parent_steward"] == "0x" + aroha.hex()
    shown = registrar.items.show(result["cid"])
    assert (shown.kind, shown.community) == ("derivative", mallory)
    assert shown.parent == request.subject
    report = verify_online(registrar.reader, result["cid"])
    assert report.status is Status.VERIFIED
    # The same consent cannot register it twice: Mallory's claim exists now.
    with pytest.raises((ConsentStale, RegistryReverted, UsageError)):
        registrar.consent.submit(read, files, mallory_keys)
    assert sent(registrar) == before + 1


def test_a_revocation_after_the_request_makes_it_stale(
    registrar: Registry, tmp_path: Path
) -> None:
    aroha, mallory, parent, keys = _two_communities(registrar, tmp_path)
    derived, terms, method = _request_files(tmp_path, mallory)
    request = registrar.derivatives.request(parent, derived, mallory, terms, method)
    read, files = _round_trip(request, tmp_path, *_holders(registrar, aroha)[:2])
    registrar.terms.revoke(parent, keys)
    before = sent(registrar)
    mallory_keys = SignerKeys(registrar.settings, lambda _a: PASSPHRASE)
    with pytest.raises(ConsentStale, match="revoked"):
        registrar.consent.submit(read, files, mallory_keys)
    assert sent(registrar) == before


def test_ai_enhancement_needs_the_parents_consent_in_its_terms(
    registrar: Registry, tmp_path: Path
) -> None:
    _, mallory, parent, _ = _two_communities(registrar, tmp_path, ai=False)
    derived, terms, method = _request_files(tmp_path, mallory)
    with pytest.raises(UsageError, match="do not consent to AI enhancement"):
        registrar.derivatives.request(parent, derived, mallory, terms, method, ai_enhanced=True)
    # With consent in the parent's terms, the request is made and says so.
    aroha2, mallory2, parent2, _ = _two_communities(registrar, tmp_path / "second", ai=True)
    derived2, terms2, method2 = _request_files(tmp_path / "second", mallory2)
    request = registrar.derivatives.request(
        parent2, derived2, mallory2, terms2, method2, ai_enhanced=True
    )
    assert request.typed.message["aiEnhanced"] is True
    assert request.community == aroha2


def test_an_edited_derivative_request_is_refused(registrar: Registry, tmp_path: Path) -> None:
    _, mallory, parent, _ = _two_communities(registrar, tmp_path)
    derived, terms, method = _request_files(tmp_path, mallory)
    request = registrar.derivatives.request(parent, derived, mallory, terms, method)
    assert parse_request(encode_request(request), "r.json") == request
    edits: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda d: d["document"].update(method="something else"), "does not hash"),
        (lambda d: d.update(derivative=None), "derivative goes with"),
        (lambda d: d["derivative"].update(extra="x"), "derivative is not"),
        (lambda d: d.update(item="0x" + "ab" * 32), "does not name the subject"),
    ]
    for edit, message in edits:
        document = json.loads(encode_request(request))
        edit(document)
        with pytest.raises(ConsentFileInvalid, match=message):
            parse_request(json.dumps(document).encode(), "r.json")


def test_a_method_document_follows_its_schema(registrar: Registry, tmp_path: Path) -> None:
    _, mallory, parent, _ = _two_communities(registrar, tmp_path)
    derived, terms, _ = _request_files(tmp_path, mallory)
    for text, where in (
        ("{}", "at /: 'method' is a required property"),
        ('{"method": "x", "secret": 1}', "Additional properties"),
        ('{"method": ""}', "at /method"),
    ):
        bad = tmp_path / "bad-method.json"
        bad.write_text(text)
        with pytest.raises(UsageError, match="not a method document") as caught:
            registrar.derivatives.request(parent, derived, mallory, terms, bad)
        assert where in caught.value.message
