"""What each Local Contexts Label and Notice means, in a sentence a visitor can read.

:mod:`ledger.rights.vocabulary` names the Labels and Notices; an item page also says what
each one asks of the visitor. The sentences are our short paraphrases of the purposes Local
Contexts gives on its Label and Notice pages (https://localcontexts.org/labels/…); the
community's own Label text, when it customises one, is not part of the terms document, so the
page shows these general meanings. Shown as text only: no Local Contexts icon is fetched.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LABEL_MEANINGS", "label_meaning"]

LABEL_MEANINGS: Final[dict[str, str]] = {
    # Traditional Knowledge Labels
    "tk:attribution": "The community asks that it be named as the source of this material "
    "whenever it is used.",
    "tk:clan": "This material belongs to a particular clan; use it only with the clan's "
    "permission.",
    "tk:family": "This material belongs to a particular family; use it only with the "
    "family's permission.",
    "tk:multiple-communities": "Several communities hold responsibility for this material; "
    "each should be recognised.",
    "tk:community-voice": "The community invites its members to add their own knowledge and "
    "stories about this material.",
    "tk:creative": "This material inspired, or comes from, a creative work; the "
    "community's relationship to it should be respected.",
    "tk:verified": "The community has confirmed that the care and circulation of this "
    "material follow its protocols.",
    "tk:non-verified": "The community has concerns about how this material was made or "
    "circulated; use it with care.",
    "tk:seasonal": "This material is used or heard at particular times of the year; "
    "respect those seasons.",
    "tk:women-general": "This material is traditionally shared among women; the community "
    "asks that this be respected.",
    "tk:men-general": "This material is traditionally shared among men; the community asks "
    "that this be respected.",
    "tk:men-restricted": "This material is restricted to men under the community's protocols.",
    "tk:women-restricted": "This material is restricted to women under the community's protocols.",
    "tk:culturally-sensitive": "This material is culturally sensitive; treat it with "
    "respect and ask the community before reuse.",
    "tk:secret-sacred": "This material is secret or sacred and is not for public circulation.",
    "tk:open-to-commercialization": "The community is open to commercial use of this "
    "material, in partnership and with fair benefit.",
    "tk:non-commercial": "This material must not be used for commercial purposes.",
    "tk:community-use-only": "This material is for use within the community only.",
    "tk:outreach": "The community shares this material for education and outreach.",
    "tk:open-to-collaboration": "The community is open to working with researchers and "
    "institutions on this material.",
    # Biocultural Labels
    "bc:provenance": "The community is the source of this biological or genetic material "
    "and of the knowledge about it.",
    "bc:multiple-communities": "Several communities hold responsibility for this "
    "biocultural material.",
    "bc:clan": "This biocultural material belongs to a particular clan; use it only with "
    "the clan's permission.",
    "bc:consent-verified": "The community has given free, prior and informed consent for "
    "the use of this material.",
    "bc:consent-non-verified": "The community's consent for the use of this material has "
    "not been confirmed.",
    "bc:research-use": "The community allows this material to be used for research.",
    "bc:open-to-collaboration": "The community is open to collaborating on research with "
    "this material.",
    "bc:open-to-commercialization": "The community is open to commercial use of this "
    "material, in partnership and with fair benefit.",
    "bc:outreach": "The community shares this material for education and outreach.",
    "bc:non-commercial": "This biocultural material must not be used for commercial purposes.",
    # Notices
    "notice:tk": "Traditional Knowledge rights and responsibilities may apply to this "
    "material; the community's Labels may follow.",
    "notice:bc": "Biocultural rights and interests may apply to this material; the "
    "community's Labels may follow.",
    "notice:attribution-incomplete": "The institution's record of who made or holds this "
    "material is incomplete or may be wrong.",
    "notice:open-to-collaborate": "The institution is open to working with communities on "
    "this material and its records.",
}


def label_meaning(label_id: str) -> str:
    """The meaning of a Label or Notice by its id; a generic sentence for an id this version
    does not know (terms validated against a later vocabulary)."""
    meaning = LABEL_MEANINGS.get(label_id)
    if meaning is not None:
        return meaning
    return "A Local Contexts Label or Notice: ask the community what it asks of you."
