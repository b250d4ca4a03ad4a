"""Claims under random interleavings: three communities register (alone and in batches),
revoke, move custody and add derivatives in any order, on the session's anvil with the
embedded node. After every step, verification of each content as each community agrees with a
model of that community's claims, and without a community it says ``disputed`` exactly when
two or more communities claim the content. So no action of one community can change the
verdict about another's claim, except a custody move, which both sides sign.

The default profile runs a few short programs (CI-sized); ``HYPOTHESIS_PROFILE=deep`` (make
test-deep) runs many more, longer ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.types import RPCEndpoint

from ledger.errors import DuplicateClaim
from ledger.ipfs.unixfs import import_path
from ledger.registration import DEFAULT_IMPORT, Registrar, SignerKeys
from ledger.verify.report import Status, verify_online
from tests.ledger import test_registration as registration_tests
from tests.ledger.test_registration import PASSPHRASE, keyed_community
from tests.rights_support import public_terms, write_terms

chain_settings = registration_tests.chain_settings
registrar = registration_tests.registrar

NAMES = ("aroha", "mallory", "tane")
CONTENTS = 4
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"


@dataclass
class Claim:
    """The model of one claim: who made it, who stewards it, and whether it stands."""

    key: bytes
    community: str
    content: int  # index into the machine's files; derivatives have contents of their own
    kind: str  # "item", "batch-item" or "derivative"
    steward: str
    revoked: bool = False
    parent: Claim | None = None

    def expected(self) -> Status:
        if self.revoked:
            return Status.REVOKED
        ancestor = self.parent
        while ancestor is not None:
            if ancestor.revoked:
                return Status.PARENT_REVOKED
            ancestor = ancestor.parent
        return Status.VERIFIED


@dataclass
class World:
    registrar: Registrar
    folder: Path
    ids: dict[str, bytes] = field(default_factory=dict)
    terms: dict[str, Path] = field(default_factory=dict)


class Claims(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[Claim] = []
        self.files: list[Path] = []
        self.cids: list[str] = []
        self.steps = 0

    @initialize()
    def communities(self) -> None:
        world = self.world
        snapshot = world.registrar.w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])
        self._snapshot = snapshot["result"]
        run = len(list(world.folder.iterdir()))
        folder = world.folder / f"run{run}"
        folder.mkdir()
        world.ids.clear()
        for name in NAMES:
            unique = f"{name}-{run}"
            keyed_community(world.registrar, unique, 1, 1)
            world.ids[name] = world.registrar.resolve_community(unique)
            world.terms[name] = write_terms(
                folder / f"terms-{name}.json",
                public_terms(world.ids[name], ai_use={"training": False, "enhancement": True}),
            )
        for i in range(CONTENTS):
            path = folder / f"content{i}.txt"
            path.write_bytes(os.urandom(32) + b"\n")
            self.files.append(path)
            self.cids.append(str(import_path(path, DEFAULT_IMPORT)[-1].cid))

    def teardown(self) -> None:
        if hasattr(self, "_snapshot"):
            self.world.registrar.w3.provider.make_request(
                RPCEndpoint("evm_revert"), [self._snapshot]
            )
            self.world.registrar.client.resync_nonce()  # the sender's nonce went back too

    # -- helpers -----------------------------------------------------------------------------

    @property
    def keys(self) -> SignerKeys:
        return SignerKeys(self.world.registrar.settings, lambda _a: PASSPHRASE)

    def _claims_by(self, community: str, content: int) -> list[Claim]:
        return [c for c in self.claims if c.community == community and c.content == content]

    def _new_content(self) -> int:
        path = self.world.folder / f"derived-{len(self.files)}-{os.urandom(4).hex()}.txt"
        path.write_bytes(os.urandom(32) + b"\n")
        self.files.append(path)
        self.cids.append(str(import_path(path, DEFAULT_IMPORT)[-1].cid))
        return len(self.files) - 1

    # -- rules -------------------------------------------------------------------------------

    @rule(community=st.sampled_from(NAMES), content=st.integers(0, CONTENTS - 1))
    def register(self, community: str, content: int) -> None:
        reg = self.world.registrar
        if self._claims_by(community, content):
            with pytest.raises(DuplicateClaim):
                reg.register([self.files[content]], self.world.ids[community],
                             self.world.terms[community], self.keys)  # fmt: skip
            event("refused: second claim by one community")
            return
        (result,) = reg.register(
            [self.files[content]], self.world.ids[community], self.world.terms[community],
            self.keys,
        )  # fmt: skip
        # The claim key from its definition: keccak256(abi.encode(community, keccak256(cid))).
        assert result.key == keccak(self.world.ids[community] + keccak(bytes(result.cid)))
        self.claims.append(Claim(result.key, community, content, "item", community))
        self.steps += 1

    @rule(
        community=st.sampled_from(NAMES),
        contents=st.sets(st.integers(0, CONTENTS - 1), min_size=2, max_size=3),
    )
    def register_batch(self, community: str, contents: set[int]) -> None:
        reg = self.world.registrar
        ordered = sorted(contents)
        paths = [self.files[i] for i in ordered]
        if any(self._claims_by(community, i) for i in ordered):
            with pytest.raises(DuplicateClaim):
                reg.register_batch(paths, self.world.ids[community],
                                   self.world.terms[community], self.keys)  # fmt: skip
            event("refused: batch with content the community claims")
            return
        result = reg.register_batch(
            paths, self.world.ids[community], self.world.terms[community], self.keys
        )
        for i, item in zip(ordered, result.items, strict=True):
            self.claims.append(Claim(item.key, community, i, "batch-item", community))
        self.steps += 1

    @rule(data=st.data())
    @precondition(lambda self: any(not c.revoked for c in self.claims))
    def revoke(self, data: st.DataObject) -> None:
        claim = data.draw(st.sampled_from([c for c in self.claims if not c.revoked]))
        self.world.registrar.revoke_terms(
            "0x" + claim.key.hex(), self.keys, self.world.ids[claim.steward]
        )
        claim.revoked = True
        self.steps += 1

    @rule(data=st.data(), to=st.sampled_from(NAMES))
    @precondition(lambda self: any(c.kind != "batch-item" for c in self.claims))
    def transfer(self, data: st.DataObject, to: str) -> None:
        claim = data.draw(st.sampled_from([c for c in self.claims if c.kind != "batch-item"]))
        # Keep "the claim a community stewards on a content" one claim at most.
        if claim.steward == to or any(
            c.content == claim.content and to in (c.steward, c.community) for c in self.claims
        ):
            return
        self.world.registrar.transfer_custody(
            "0x" + claim.key.hex(),
            self.world.ids[to],
            self.keys,
            community=self.world.ids[claim.steward],
        )
        claim.steward = to
        self.steps += 1

    @rule(data=st.data(), community=st.sampled_from(NAMES))
    @precondition(lambda self: any(c.kind != "batch-item" and not c.revoked for c in self.claims))
    def derive(self, data: st.DataObject, community: str) -> None:
        parent = data.draw(
            st.sampled_from([c for c in self.claims if c.kind != "batch-item" and not c.revoked])
        )
        content = self._new_content()
        method = self.world.folder / f"method-{content}.json"
        method.write_text('{"method": "retopology"}')
        holder = self.world.ids[parent.steward]
        holder_keys = SignerKeys(
            self.world.registrar.settings,
            lambda _a: PASSPHRASE,
            tuple(self.world.registrar.community(holder).keyholders),
        )
        result = self.world.registrar.add_derivative(
            "0x" + parent.key.hex(),
            self.files[content],
            self.world.ids[community],
            self.world.terms[community],
            method,
            self.keys,
            parent_keys=None if parent.steward == community else holder_keys,
        )
        key = bytes.fromhex(result["item"][2:])
        self.claims.append(Claim(key, community, content, "derivative", community, parent=parent))
        self.steps += 1

    # -- what must hold after every step ------------------------------------------------------

    @invariant()
    def verification_agrees_with_the_model(self) -> None:
        if not self.files:
            return
        reg = self.world.registrar
        for content, cid in enumerate(self.cids):
            claims = [c for c in self.claims if c.content == content]
            claimants = {c.community for c in claims}
            plain = verify_online(reg, cid)
            if len(claimants) > 1:
                assert plain.status is Status.DISPUTED, (cid, plain.status)
            elif claims:
                assert plain.status is claims[0].expected(), (cid, plain.status)
            else:
                assert plain.status is Status.UNKNOWN
            for name in NAMES:
                report = verify_online(reg, cid, communities=[self.world.ids[name]])
                stewarded = [c for c in claims if c.steward == name]
                if not claims:
                    assert report.status is Status.UNKNOWN
                elif not stewarded:
                    assert report.status is Status.NO_CLAIM, (cid, name, report.status)
                else:
                    (claim,) = stewarded
                    assert report.status is claim.expected(), (cid, name, report.status)
                    event(f"verdict checked: {claim.expected().value}")


@pytest.fixture
def world(registrar: Registrar, tmp_path: Path) -> Iterator[World]:
    folder = tmp_path / "machine"
    folder.mkdir()
    yield World(registrar, folder)


def test_claims_of_one_community_never_change_another_communitys_verdict(world: World) -> None:
    steps: list[int] = []

    class Bound(Claims):
        def __init__(self) -> None:
            self.world = world
            super().__init__()

        def teardown(self) -> None:
            steps.append(self.steps)
            super().teardown()

    run_state_machine_as_test(
        Bound,
        settings=settings(
            max_examples=25 if DEEP else 3,
            stateful_step_count=20 if DEEP else 6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The programs did things: a run of refusals only would prove nothing.
    assert sum(steps) >= len(steps), steps
