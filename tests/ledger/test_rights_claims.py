"""Public display over every claim on the content: deny wins, disputed content never shows."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.rights import ClaimTerms, Terms, decide_content, parse_terms
from tests.reaching import reached, reaches
from tests.rights_support import public_terms, restricted_terms

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
AROHA = b"\xa1" * 32
MALLORY = b"\xb2" * 32
OTHER = b"\xc3" * 32


@functools.cache
def terms_of(community: bytes, public: bool) -> Terms:
    return parse_terms(public_terms(community) if public else restricted_terms(community))


def claim(community: bytes, n: int, *, public: bool = True, **flags: bool) -> ClaimTerms:
    return ClaimTerms(
        claim=bytes([n]) * 32,
        community=community,
        terms=terms_of(community, public),
        revoked=flags.get("revoked", False),
        parent_revoked=flags.get("parent_revoked", False),
    )


def codes(decision: object) -> set[str]:
    return {r.code for r in decision.reasons}  # type: ignore[attr-defined]


def test_one_community_with_public_terms_is_shown_with_its_claims_reasons() -> None:
    decision = decide_content([claim(AROHA, 1)], NOW)
    assert decision.allowed
    assert all(r.pointer.startswith("/claims/0x" + "01" * 32) for r in decision.reasons)
    assert "access.public" in codes(decision)


def test_nothing_claimed_is_never_shown() -> None:
    decision = decide_content([], NOW)
    assert not decision.allowed
    assert codes(decision) == {"content.unclaimed"}


def test_a_second_community_makes_content_disputed_even_when_both_allow() -> None:
    decision = decide_content([claim(AROHA, 1), claim(MALLORY, 2)], NOW)
    assert not decision.allowed
    (disputed,) = [r for r in decision.reasons if r.code == "content.disputed"]
    # Named first to last, as they claimed it.
    assert disputed.message.index(AROHA.hex()) < disputed.message.index(MALLORY.hex())


def test_a_revoked_claim_is_never_undone_by_another_communitys_public_claim() -> None:
    # Aroha revoked; Mallory then claims the same bytes with public terms.
    decision = decide_content([claim(AROHA, 1, revoked=True), claim(MALLORY, 2)], NOW)
    assert not decision.allowed
    assert {"claim.revoked", "content.disputed"} <= codes(decision)


def test_deny_wins_among_one_communitys_claims() -> None:
    decision = decide_content([claim(AROHA, 1), claim(AROHA, 2, public=False)], NOW)
    assert not decision.allowed
    assert "access.not-public" in codes(decision)
    assert "content.disputed" not in codes(decision)


def test_revoked_parent_unavailable_terms_and_revocation_each_deny() -> None:
    for flags, code in (
        ({"revoked": True}, "claim.revoked"),
        ({"parent_revoked": True}, "claim.parent-revoked"),
    ):
        decision = decide_content([claim(AROHA, 1, **flags)], NOW)
        assert not decision.allowed and code in codes(decision)
    missing = ClaimTerms(b"\x05" * 32, AROHA, None, revoked=False)
    decision = decide_content([missing], NOW)
    assert not decision.allowed and "claim.terms-unavailable" in codes(decision)


_CLAIMS = st.lists(
    st.tuples(
        st.sampled_from([AROHA, MALLORY, OTHER]),
        st.booleans(),  # public terms
        st.booleans(),  # revoked
        st.booleans(),  # parent revoked
    ),
    min_size=1,
    max_size=6,
)


@reaches(0.8)
@settings(max_examples=200, deadline=None)
@given(_CLAIMS)
def test_content_is_shown_exactly_when_one_community_holds_only_clean_public_claims(
    drawn: list[tuple[bytes, bool, bool, bool]],
) -> None:
    claims = [
        claim(c, i + 1, public=p, revoked=r, parent_revoked=pr)
        for i, (c, p, r, pr) in enumerate(drawn)
    ]
    # The oracle, stated from the rule itself rather than from the code: one claimant, and
    # every claim public, unrevoked, with an unrevoked parent.
    expected = len({c for c, _, _, _ in drawn}) == 1 and all(
        p and not r and not pr for _, p, r, pr in drawn
    )
    event("shown" if expected else "denied")
    decision = decide_content(claims, NOW)
    assert decision.allowed == expected
    assert decision.allowed == (not decision.denials)
    # Adding any claim by another community can only deny.
    stranger = claim(b"\xee" * 32, 99)
    assert not decide_content([*claims, stranger], NOW).allowed
    reached()
