"""Public display of content that any number of communities may claim: deny wins.

Content addressing says what the bytes are, not who holds them, so the registry lets every
community claim any content (ProvenanceRegistry: a claim is (community, content)). Whether
the bytes may be shown publicly is therefore decided over every claim on them, not over one
picked by the shower: :func:`decide_content` allows display only when

- at least one claim exists;
- all claims are by one community: content that two or more communities claim (revoked
  claims included) is *disputed*, and disputed content is never shown;
- no claim is revoked, and no derivative claim's parent claim is revoked;
- every claim's current terms are at hand and :func:`~ledger.rights.policy.decide` allows
  each of them at that moment.

Pure: claims and a moment in, a :class:`DisplayDecision` out, with every claim's reasons
(pointers start with ``/claims/<claim key>``). The exhibit generator and the HTTP API ask this,
never :func:`decide` of one claim alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ledger.rights.model import Terms
from ledger.rights.policy import DisplayDecision, Reason, decide

__all__ = ["ClaimTerms", "decide_content"]


@dataclass(frozen=True, slots=True)
class ClaimTerms:
    """One community's claim on the content, as the chain and IPFS say it stands now."""

    claim: bytes  # the claim key
    community: bytes  # the claiming community
    terms: Terms | None  # its current terms; None when the document is missing or unparsable
    revoked: bool
    parent_revoked: bool = False  # a derivative whose parent claim is revoked


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def decide_content(claims: Sequence[ClaimTerms], at: datetime) -> DisplayDecision:
    """May the content these claims are about be shown publicly at ``at``? Deny wins."""
    if not claims:
        return DisplayDecision(
            False, (Reason("content.unclaimed", "/claims", "no community claims it", True),)
        )
    reasons: list[Reason] = []
    communities = list(dict.fromkeys(c.community for c in claims))
    if len(communities) > 1:
        named = ", ".join(_hex(c) for c in communities)
        reasons.append(
            Reason(
                "content.disputed",
                "/claims",
                f"{len(communities)} communities claim it ({named}, first to last): disputed "
                "content is never shown",
                True,
            )
        )
    allowed = len(communities) == 1
    for claim in claims:
        where = f"/claims/{_hex(claim.claim)}"
        if claim.revoked:
            reasons.append(Reason("claim.revoked", where, "its terms are revoked", True))
        if claim.parent_revoked:
            reasons.append(
                Reason("claim.parent-revoked", where, "it derives from a revoked claim", True)
            )
        if claim.terms is None:
            reasons.append(
                Reason(
                    "claim.terms-unavailable",
                    where,
                    "its current terms document is not at hand or does not parse",
                    True,
                )
            )
            allowed = False
            continue
        decision = decide(claim.terms, at)
        reasons += [replace(r, pointer=where + r.pointer) for r in decision.reasons]
        allowed = allowed and decision.allowed and not claim.revoked and not claim.parent_revoked
    return DisplayDecision(allowed and not any(r.denies for r in reasons), tuple(reasons))
