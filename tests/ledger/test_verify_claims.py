"""Verification sees every claim (issue 10), in process against a real anvil and the embedded
IPFS node: two communities claiming the same bytes are a dispute unless the verifier names
the one it expects; a revoked claim stays revoked; a derivative of a revoked parent is never
plainly verified and carries the consent of its parent's steward; proofs carry each claim's
community; keyholders verify their own restricted originals."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from ledger.chain import claim_key, connect
from ledger.crypto import KEM_X25519
from ledger.errors import AmbiguousClaim, DuplicateClaim, EvidenceInvalid, EvidenceMalformed
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_file
from ledger.keys import load_encryption_key, new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from ledger.verify import (
    Status,
    assess,
    export_bag,
    gather,
    load_schema,
    parse_proofs,
    proofs_document,
    verify_bag,
    verify_offline,
    verify_online,
)
from local_chain import anvil_dev_account
from tests.registry_support import (
    PASSPHRASE,
    Founded,
    chain_settings,
    chain_snapshot,
    found_community,
    keyed_community,
    module_chain,
    registrar,
    settings_on,
)
from tests.rights_support import public_terms, restricted_terms, write_terms

#: The in-process registrar fixtures (the session's chain, a registrar per test), reused.
REUSED_FIXTURES = (chain_settings, module_chain, registrar)


def cid_of(path: Path) -> str:
    return str(import_file(path, ImportOptions(cid_version=1)).cid)


def claim_of(community: bytes, path: Path) -> bytes:
    return claim_key(community, bytes(Cid.parse(cid_of(path))))


def validate(report: Any) -> dict[str, Any]:
    document: dict[str, Any] = report.to_json()
    jsonschema.validate(document, load_schema("verify-report"))
    assert document["exit_code"] == report.exit_code
    return document


@dataclass
class Party:
    id: bytes
    keys: SignerKeys
    terms: Path


@dataclass
class Two:
    """Aroha (the real holder) and Mallory (1 of 2, keys of its own) on one chain."""

    registrar: Registry
    aroha: Party
    mallory: Party
    folder: Path
    aroha_name: str

    def file(self, name: str) -> Path:
        path = self.folder / name
        path.write_bytes(f"{name} {os.urandom(16).hex()}\n".encode())
        return path


@pytest.fixture(scope="module")
def founded_two(
    module_chain: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Founded, Founded]:
    """Aroha (3 keyholders, threshold 2) and Mallory (2, threshold 1), created once for this
    module."""
    folder = tmp_path_factory.mktemp("two")
    return (
        found_community(module_chain, folder / "aroha", f"Aroha-{folder.name}", 3, 2),
        found_community(module_chain, folder / "mallory", f"Mallory-{folder.name}", 2, 1),
    )


@pytest.fixture
def two(
    founded_two: tuple[Founded, Founded], registrar: Registry, tmp_path: Path
) -> Iterator[Two]:
    parties = []
    for founded in founded_two:
        keys = founded.join(registrar)
        terms = write_terms(
            tmp_path / f"{founded.name}.json",
            public_terms(founded.id, ai_use={"training": False, "enhancement": True}),
        )
        parties.append(Party(founded.id, keys, terms))
    folder = tmp_path / "files"
    folder.mkdir()
    yield Two(registrar, parties[0], parties[1], folder, founded_two[0].name)


def test_a_second_communitys_claim_on_a_batch_item_is_a_dispute(two: Two) -> None:
    reg, aroha, mallory = two.registrar, two.aroha, two.mallory
    a, b = two.file("a.txt"), two.file("b.txt")
    reg.items.register_batch([a, b], aroha.id, aroha.terms, aroha.keys)
    assert verify_online(reg.reader, str(a)).status is Status.VERIFIED  # one claim: its verdict
    reg.items.register([a], mallory.id, mallory.terms, mallory.keys)

    disputed = verify_online(reg.reader, str(a))
    assert disputed.status is Status.DISPUTED and disputed.exit_code == 15
    assert disputed.assessment is None  # never silently one of them
    assert [c.assessment.community for c in disputed.claims] == [aroha.id, mallory.id]
    assert [c.assessment.kind for c in disputed.claims] == ["batch-item", "item"]
    assert disputed.summary().startswith(f"disputed: {cid_of(a)} is claimed by 2 communities")
    assert f"first by 0x{aroha.id.hex()}" in disputed.summary()
    document = validate(disputed)
    assert document["item"] is None and len(document["other_claims"]) == 2
    assert document["claims"][0]["community_name"] == two.aroha_name
    # By CID too.
    assert verify_online(reg.reader, cid_of(a)).status is Status.DISPUTED

    for party, kind in ((aroha, "batch-item"), (mallory, "item")):
        report = verify_online(reg.reader, str(a), communities=[party.id])
        assert report.status is Status.VERIFIED, report.problems
        assert report.assessment is not None and report.assessment.community == party.id
        assert report.assessment.kind == kind and report.assessment.key == claim_of(party.id, a)
        assert [c.assessment.community for c in report.other_claims] == [
            p.id for p in (aroha, mallory) if p is not party
        ]
        assert report.content is not None and report.content.matches
        document = validate(report)
        assert document["item"]["community"] == "0x" + party.id.hex()
        assert len(document["other_claims"]) == 1
    # Named together, both communities' claims are the subject: still a dispute.
    both = verify_online(reg.reader, str(a), communities=[aroha.id, mallory.id])
    assert both.status is Status.DISPUTED
    # A community that holds no claim: exit 13, the claims still listed.
    stranger = bytes(31) + b"\x07"
    none = verify_online(reg.reader, str(a), communities=[stranger])
    assert none.status is Status.NO_CLAIM and none.exit_code == 13
    assert none.assessment is None and len(none.claims) == 2
    assert none.summary().startswith(f"no claim by 0x{stranger.hex()}")
    validate(none)
    # b.txt has Aroha's claim alone.
    only = verify_online(reg.reader, str(b))
    assert only.status is Status.VERIFIED and only.other_claims == ()
    # A claim key picks its claim.
    picked = verify_online(reg.reader, "0x" + claim_of(mallory.id, a).hex())
    assert picked.status is Status.VERIFIED
    assert picked.assessment is not None and picked.assessment.community == mallory.id


def test_a_revoked_claim_stays_revoked_beside_a_later_claim(two: Two) -> None:
    reg, aroha, mallory = two.registrar, two.aroha, two.mallory
    a, b = two.file("a.txt"), two.file("b.txt")
    reg.items.register_batch([a, b], aroha.id, aroha.terms, aroha.keys)
    reg.terms.revoke("0x" + claim_of(aroha.id, b).hex(), aroha.keys)
    revoked = verify_online(reg.reader, str(b))
    assert revoked.status is Status.REVOKED and revoked.exit_code == 11
    reg.items.register([b], mallory.id, mallory.terms, mallory.keys)

    after = verify_online(reg.reader, str(b))
    assert after.status is Status.DISPUTED  # revoked claims count
    statuses = {c.assessment.community: c.status for c in after.claims}
    assert statuses == {aroha.id: Status.REVOKED, mallory.id: Status.VERIFIED}
    assert "revoked" in after.summary()
    validate(after)
    still = verify_online(reg.reader, str(b), communities=[aroha.id])
    assert still.status is Status.REVOKED and still.exit_code == 11
    assert still.assessment is not None and still.assessment.community == aroha.id
    assert [c.assessment.community for c in still.other_claims] == [mallory.id]
    mallorys = verify_online(reg.reader, str(b), communities=[mallory.id])
    assert mallorys.status is Status.VERIFIED
    assert mallorys.assessment is not None and mallorys.assessment.key != still.assessment.key
    # Aroha's other item is untouched by either.
    assert verify_online(reg.reader, str(a)).status is Status.VERIFIED


def test_a_derivative_of_a_revoked_parent_is_never_plainly_verified(
    two: Two, tmp_path: Path
) -> None:
    reg, aroha = two.registrar, two.aroha
    c, d = two.file("c.txt"), two.file("d.txt")
    method = tmp_path / "method.json"
    method.write_text('{"method": "super-resolution", "software": "x4"}')
    reg.items.register([c], aroha.id, aroha.terms, aroha.keys)
    reg.derivatives.add(cid_of(c), d, aroha.id, aroha.terms, method, aroha.keys, ai_enhanced=True)
    report = verify_online(reg.reader, str(d))
    assert report.status is Status.VERIFIED
    a = report.assessment
    assert a is not None and a.parent is not None
    assert a.parent.key == claim_of(aroha.id, c) and a.parent_steward == aroha.id
    assert f"consented by its steward 0x{aroha.id.hex()}" in report.summary()
    document = validate(report)
    assert document["item"]["derivation"]["parent_steward"] == "0x" + aroha.id.hex()
    assert document["item"]["derivation"]["parent_revoked"] is False

    reg.terms.revoke(cid_of(c), aroha.keys)
    gone = verify_online(reg.reader, str(d))
    assert gone.status is Status.PARENT_REVOKED and gone.exit_code == 16
    assert gone.summary().startswith("parent revoked: ")
    assert f"parent claim 0x{claim_of(aroha.id, c).hex()}" in gone.summary()
    document = validate(gone)
    assert document["status"] == "parent-revoked"
    assert document["item"]["derivation"]["parent_revoked"] is True
    assert document["claims"][0]["parent"]["revoked"] is True
    # The parent itself is simply revoked.
    assert verify_online(reg.reader, str(c)).status is Status.REVOKED


def test_a_derivative_of_another_communitys_claim_carries_its_consent(
    two: Two, tmp_path: Path
) -> None:
    reg, aroha, mallory = two.registrar, two.aroha, two.mallory
    c, d = two.file("c.txt"), two.file("d.txt")
    method = tmp_path / "method.json"
    method.write_text('{"method": "photogrammetry"}')
    reg.items.register([c], aroha.id, aroha.terms, aroha.keys)
    reg.derivatives.add(
        cid_of(c), d, mallory.id, mallory.terms, method, mallory.keys, parent_keys=aroha.keys
    )
    report = verify_online(reg.reader, str(d))
    assert report.status is Status.VERIFIED, report.problems
    a = report.assessment
    assert a is not None and a.community == mallory.id and a.parent_steward == aroha.id
    assert a.parent is not None and a.parent.community == aroha.id
    evidence = gather(reg.reader, [cid_of(d)])
    document = proofs_document(evidence)
    consents = [s for s in document["signatures"] if s["primary_type"] == "ConsentDerivative"]
    assert len(consents) == 1 and consents[0]["community"] == "0x" + aroha.id.hex()
    assert len(consents[0]["signers"]) == 2  # Aroha's k
    # An event that names another consenting steward than the parent's is refused.
    derivative = evidence.item(a.key)
    assert derivative is not None
    fields = {**derivative.registration.fields, "parentSteward": mallory.id}
    forged = dataclasses.replace(
        evidence,
        items=tuple(
            dataclasses.replace(i, registration=dataclasses.replace(i.registration, fields=fields))
            if i.key == a.key else i
            for i in evidence.items
        ),
    )
    with pytest.raises(EvidenceInvalid, match="parent steward"):
        assess(forged, a.key)


def test_proofs_carry_each_claims_community_and_judge_offline(two: Two) -> None:
    reg, aroha, mallory = two.registrar, two.aroha, two.mallory
    (a,) = [two.file("a.txt")]
    reg.items.register([a], aroha.id, aroha.terms, aroha.keys)
    reg.items.register([a], mallory.id, mallory.terms, mallory.keys)
    document = json.loads(json.dumps(proofs_document(gather(reg.reader, [cid_of(a)]))))
    jsonschema.validate(document, load_schema("proofs"))
    assert document["version"] == 2
    assert document["claims"] == [
        "0x" + claim_of(aroha.id, a).hex(), "0x" + claim_of(mallory.id, a).hex()
    ]
    assert [i["community"] for i in document["items"]] == [
        "0x" + aroha.id.hex(), "0x" + mallory.id.hex()
    ]
    offline = parse_proofs(document)
    assert verify_offline(offline, path=a).status is Status.DISPUTED
    mine = verify_offline(offline, path=a, communities=[aroha.id])
    assert mine.status is Status.VERIFIED and mine.source == "proofs"
    assert mine.assessment is not None and mine.assessment.community == aroha.id
    validate(mine)
    by_key = verify_offline(offline, cid="0x" + claim_of(mallory.id, a).hex())
    assert by_key.assessment is not None and by_key.assessment.community == mallory.id
    assert len(by_key.claims) == 2
    stranger = two.file("stranger.txt")
    assert verify_offline(offline, path=stranger).status is Status.UNKNOWN
    # The community of a claim is bound to it: an edit is refused even when resealed.
    from tests.ledger.test_verify import _reseal

    edited = copy.deepcopy(document)
    edited["items"][0]["community"] = edited["items"][1]["community"]
    edited["seal"] = _reseal(edited)
    with pytest.raises(EvidenceInvalid, match="community"):
        parse_proofs(edited)
    # A claim listed that no item is, or a version 1 file, is refused.
    edited = copy.deepcopy(document)
    edited["claims"] = ["0x" + "ab" * 32]
    edited["seal"] = _reseal(edited)
    with pytest.raises(EvidenceInvalid, match="claim"):
        parse_proofs(edited)
    with pytest.raises(EvidenceMalformed, match="version 1"):
        parse_proofs({**document, "version": 1})


def test_a_keyholder_verifies_its_own_restricted_original(
    registrar: Registry, tmp_path: Path
) -> None:
    holders = [
        new_key(registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
        .address
        for _ in range(2)
    ]
    keys = SignerKeys(registrar.settings, lambda _address: PASSPHRASE)
    name = "sealed-" + tmp_path.name
    registrar.communities.create(name, holders, 1, keys)
    community = registrar.reader.resolve_community(name)
    outsider_name = "outsider-" + tmp_path.name
    outsider = new_key(
        registrar.settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
    ).address
    registrar.communities.create(outsider_name, [outsider], 1, keys)
    terms = write_terms(tmp_path / "restricted.json", restricted_terms(community))
    original = tmp_path / "song.txt"
    original.write_bytes(b"verse seven " + os.urandom(32).hex().encode())
    (result,) = registrar.items.register([original], community, terms, keys)
    plain = cid_of(original)
    assert str(result.cid) != plain

    # Without a key the original is unknown, and nothing about it is said.
    unknown = verify_online(registrar.reader, str(original))
    assert unknown.status is Status.UNKNOWN
    assert plain not in json.dumps(unknown.to_json())
    # A keyholder of another community cannot open it: still unknown.
    other = [(outsider, load_encryption_key(registrar.settings, outsider, PASSPHRASE))]
    assert verify_online(registrar.reader, str(original), holders=other).status is Status.UNKNOWN

    mine = [(holders[1], load_encryption_key(registrar.settings, holders[1], PASSPHRASE))]
    report = verify_online(registrar.reader, str(original), holders=mine)
    assert report.status is Status.VERIFIED, report.summary()
    a = report.assessment
    assert a is not None and a.encrypted and a.cid == str(result.cid)
    assert a.community == community
    assert report.content is not None and report.content.expected_from == "commitment"
    assert report.content.matches
    assert "plaintext matches the commitment on chain" in report.summary()
    validate(report)
    # Another file is not it, even for the holder.
    changed = tmp_path / "changed.txt"
    changed.write_bytes(original.read_bytes() + b"!")
    assert verify_online(registrar.reader, str(changed), holders=mine).status is Status.UNKNOWN
    # An original sealed inside a batch: its leaf holds the commitment.
    pair = [tmp_path / "verse-1.txt", tmp_path / "verse-2.txt"]
    for i, path in enumerate(pair):
        path.write_bytes(f"verse {i} ".encode() + os.urandom(16).hex().encode())
    registrar.items.register_batch(pair, community, terms, keys)
    assert verify_online(registrar.reader, str(pair[1])).status is Status.UNKNOWN
    in_batch = verify_online(registrar.reader, str(pair[1]), holders=mine)
    assert in_batch.status is Status.VERIFIED, in_batch.summary()
    assert in_batch.assessment is not None and in_batch.assessment.kind == "batch-item"
    assert in_batch.content is not None and in_batch.content.expected_from == "commitment"
    validate(in_batch)


def test_a_bag_is_of_one_communitys_claim(two: Two, tmp_path: Path) -> None:
    reg, aroha, mallory = two.registrar, two.aroha, two.mallory
    (a,) = [two.file("a.txt")]
    reg.items.register([a], aroha.id, aroha.terms, aroha.keys)
    reg.items.register([a], mallory.id, mallory.terms, mallory.keys)
    with pytest.raises(AmbiguousClaim, match="2 claims"):
        export_bag(reg.reader, cid_of(a), tmp_path / "either")
    result = export_bag(reg.reader, cid_of(a), tmp_path / "arohas", community=aroha.id)
    assert result["item"] == "0x" + claim_of(aroha.id, a).hex()
    report = verify_bag(tmp_path / "arohas")
    assert report.status is Status.VERIFIED and report.source == "bag"
    assert report.assessment is not None and report.assessment.community == aroha.id
    validate(report)
    named = verify_bag(tmp_path / "arohas", [two.aroha_name])
    assert named.status is Status.VERIFIED
    not_mallorys = verify_bag(tmp_path / "arohas", ["0x" + mallory.id.hex()])
    assert not_mallorys.status is Status.NO_CLAIM and not_mallorys.exit_code == 13


# ---- a state machine over two communities ----------------------------------------------------


@dataclass
class _Modelled:
    """What the model expects of one claim."""

    registrant: bytes
    kind: str
    steward: bytes
    order: int  # registrations so far: chain order
    revoked: bool = False
    parent: tuple[bytes, int] | None = None  # (registrant, file number) of the parent claim


def test_verification_follows_a_model_of_each_communitys_claims(
    chain_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two communities register (alone and in batches), revoke, set terms, move custody and
    derive, in any order. After every step, `verify --community X` about every file agrees
    with a model of X's claims, and without --community a file claimed by two communities is
    disputed: an action of one community never changes the verdict about the other's claim
    (custody moves, which both sign, aside)."""

    class Claims(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            root = tmp_path_factory.mktemp("model")
            settings = settings_on(chain_settings, root / "data")
            self._stack = ExitStack()
            self._stack.enter_context(chain_snapshot(connect(settings.rpc_url)))
            self.reg = self._stack.enter_context(Registry(settings))
            self.reg.session.use_sender(anvil_dev_account())
            self.parties: list[Party] = []
            for name, n, k in (("A", 2, 2), ("B", 1, 1)):
                full = f"{name}-{root.name}"
                keys = keyed_community(self.reg, full, n, k)
                community = self.reg.reader.resolve_community(full)
                terms = write_terms(root / f"{name}.json", public_terms(community))
                self.parties.append(Party(community, keys, terms))
            self.files = []
            for i in range(4):
                path = root / f"f{i}.txt"
                path.write_bytes(f"file {i} {os.urandom(8).hex()}\n".encode())
                self.files.append(path)
            self.claims: dict[tuple[bytes, int], _Modelled] = {}

        def teardown(self) -> None:
            self._stack.close()

        def _key(self, community: bytes, number: int) -> str:
            return "0x" + claim_of(community, self.files[number]).hex()

        @initialize(who=st.integers(0, 1), number=st.integers(0, 3))
        def first_claim(self, who: int, number: int) -> None:
            # Every program starts with a claim, so every run has a verdict to check (a run of
            # rules that all turned out to be no-ops would check nothing).
            self.register(who, number)

        @rule(who=st.integers(0, 1), number=st.integers(0, 3))
        def register(self, who: int, number: int) -> None:
            party = self.parties[who]
            if (party.id, number) in self.claims:
                # A community's second claim on content is refused before anything is sent.
                with pytest.raises(DuplicateClaim):
                    self.reg.items.register([self.files[number]], party.id, party.terms, party.keys)
                return
            self.reg.items.register([self.files[number]], party.id, party.terms, party.keys)
            steps.append("register")
            self.claims[(party.id, number)] = _Modelled(
                party.id, "item", party.id, len(self.claims)
            )

        @rule(who=st.integers(0, 1), numbers=st.sets(st.integers(0, 3), min_size=2, max_size=2))
        def register_batch(self, who: int, numbers: set[int]) -> None:
            party = self.parties[who]
            chosen = sorted(numbers)
            if any((party.id, n) in self.claims for n in numbers):
                with pytest.raises(DuplicateClaim):
                    self.reg.items.register_batch(
                        [self.files[n] for n in chosen], party.id, party.terms, party.keys
                    )
                return
            steps.append("batch")
            self.reg.items.register_batch(
                [self.files[n] for n in chosen], party.id, party.terms, party.keys
            )
            order = len(self.claims)
            for n in chosen:
                self.claims[(party.id, n)] = _Modelled(party.id, "batch-item", party.id, order)

        def _held(self, who: int, kinds: tuple[str, ...]) -> list[tuple[bytes, int]]:
            party = self.parties[who]
            return sorted(
                (k for k, c in self.claims.items() if c.steward == party.id and c.kind in kinds),
                key=lambda k: (k[1], k[0]),
            )

        @rule(who=st.integers(0, 1), pick=st.integers(0, 7))
        def revoke(self, who: int, pick: int) -> None:
            held = [
                k for k in self._held(who, ("item", "batch-item", "derivative"))
                if not self.claims[k].revoked
            ]
            if not held:
                return
            key = held[pick % len(held)]
            self.reg.terms.revoke(self._key(*key), self.parties[who].keys)
            steps.append("revoke")
            self.claims[key].revoked = True

        @rule(who=st.integers(0, 1), pick=st.integers(0, 7))
        def set_terms(self, who: int, pick: int) -> None:
            held = self._held(who, ("item", "derivative"))
            if not held:
                return
            key = held[pick % len(held)]
            party = self.parties[who]
            self.reg.terms.set(self._key(*key), party.terms, party.keys)
            self.claims[key].revoked = False

        @rule(who=st.integers(0, 1), pick=st.integers(0, 7))
        def transfer(self, who: int, pick: int) -> None:
            held = self._held(who, ("item", "derivative"))
            if not held:
                return
            key = held[pick % len(held)]
            receiver = self.parties[1 - who]
            self.reg.custody.transfer(self._key(*key), receiver.id, self.parties[who].keys)
            steps.append("transfer")
            self.claims[key].steward = receiver.id

        @rule(who=st.integers(0, 1), pick=st.integers(0, 7), number=st.integers(0, 3))
        def derive(self, who: int, pick: int, number: int) -> None:
            party = self.parties[who]
            parents = sorted(
                (k for k, c in self.claims.items() if c.kind in ("item", "derivative")),
                key=lambda k: (k[1], k[0]),
            )
            if not parents or (party.id, number) in self.claims:
                return
            parent = parents[pick % len(parents)]
            if parent[1] == number:
                return
            method = self.files[0].parent / "method.json"
            method.write_text('{"method": "restoration"}')
            self.reg.derivatives.add(
                self._key(*parent), self.files[number], party.id, party.terms, method,
                party.keys, parent_keys=party.keys,
            )
            steps.append("derive")
            self.claims[(party.id, number)] = _Modelled(
                party.id, "derivative", party.id, len(self.claims), parent=parent
            )

        def _expected(self, claim: _Modelled) -> Status:
            if claim.revoked:
                return Status.REVOKED
            parent = claim.parent
            while parent is not None:
                if self.claims[parent].revoked:
                    return Status.PARENT_REVOKED
                parent = self.claims[parent].parent
            return Status.VERIFIED

        @invariant()
        def verdicts_follow_the_model(self) -> None:
            for number, path in enumerate(self.files):
                on_file = {k: c for k, c in self.claims.items() if k[1] == number}
                if not on_file:
                    continue
                for party in self.parties:
                    report = verify_online(self.reg.reader, str(path), communities=[party.id])
                    # The claims it stewards: its own, and any moved to it; the verdict is
                    # about the first of them in chain order.
                    mine = sorted(
                        (c for c in on_file.values() if c.steward == party.id),
                        key=lambda c: c.order,
                    )
                    if not mine:
                        assert report.status is Status.NO_CLAIM, report.summary()
                        continue
                    assert report.status is self._expected(mine[0]), report.summary()
                    assert report.assessment is not None
                    assert report.assessment.community == mine[0].registrant
                    assert report.assessment.kind == mine[0].kind
                    assert len(report.claims) == len(on_file)
                    checked.append(report.status)
                plain = verify_online(self.reg.reader, str(path))
                registrants = {c.registrant for c in on_file.values()}
                if len(registrants) > 1:
                    assert plain.status is Status.DISPUTED, plain.summary()
                else:
                    (only,) = on_file.values()
                    assert plain.status is self._expected(only), plain.summary()

    deep = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
    steps: list[str] = []
    checked: list[Status] = []
    run_state_machine_as_test(
        Claims,
        settings=settings(
            max_examples=30 if deep else 4,
            stateful_step_count=12 if deep else 6,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Every step is a transaction and a dozen verifications: a failure is printed as
            # found, not shrunk for minutes.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )
    # The programs did things and their verdicts were checked: a run of no-ops proves nothing.
    assert len(steps) >= 4 and len(checked) >= 4, (steps, checked)


def test_a_name_in_a_community_document_is_shown_only_if_it_was_created_with_it(
    two: Two, tmp_path: Path
) -> None:
    """An impostor whose community document says "Aroha-…" but which was created under
    another name's salt is shown (and resolved offline) by id alone."""
    from ledger.documents import community_salt
    from ledger.verify.report import community_in

    reg, aroha = two.registrar, two.aroha
    aroha_name = two.aroha_name
    holder = new_key(reg.settings, PASSPHRASE, unsafe_light_kdf=True).address
    keys = SignerKeys(reg.settings, lambda _address: PASSPHRASE)
    impostor = reg.communities.create(
        aroha_name, [holder], 1, keys, salt=community_salt("someone else")
    ).id
    terms = write_terms(tmp_path / "impostor.json", public_terms(impostor))
    (a,) = [two.file("a.txt")]
    reg.items.register([a], aroha.id, aroha.terms, aroha.keys)
    reg.items.register([a], impostor, terms, keys)
    report = verify_online(reg.reader, str(a))
    assert report.status is Status.DISPUTED
    names = {c["community"]: c["community_name"] for c in validate(report)["claims"]}
    assert names == {"0x" + aroha.id.hex(): aroha_name, "0x" + impostor.hex(): None}
    evidence = gather(reg.reader, [cid_of(a)])
    assert community_in(evidence, aroha_name) == aroha.id
