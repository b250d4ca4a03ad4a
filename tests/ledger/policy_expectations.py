"""What the display policy is expected to decide, written by hand from the published meaning of
each entry — never generated from ``ledger.rights.policy.POLICY_TABLE``.

Every row says what one access protocol, license, rights statement, or Local Contexts Label or
Notice is expected to do to PUBLIC DISPLAY in an exhibit (a non-commercial publication that
anyone in the world may open, which cannot check who is looking), and where that reading comes
from: the published text of the entry, by URL and clause. The expected effects:

- ``allows``: nothing in the entry stands in the way of public display;
- ``denies``: public display goes against the entry, whatever else the terms say;
- ``needs a grant``: only the rights holder can permit it (``public_display_grant``);
- ``needs a season``: only inside the seasonal window the terms give.

``tests/ledger/test_policy_expectations.py`` holds ``decide`` to these rows, and the property
tests of ``test_rights_policy.py`` draw their allowing and denying sets from here. When code and
table disagree, a test fails until a person changes one of the two on purpose (and
docs/display-policy.md with it).

Quotations are abridged; the published page is the authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ACCESS",
    "EXPECTATIONS",
    "LABELS",
    "LICENSES",
    "STATEMENTS",
    "UNREVIEWED_LICENSES",
    "Expectation",
    "Expected",
]

Expected = Literal["allows", "denies", "needs a grant", "needs a season"]


@dataclass(frozen=True, slots=True)
class Expectation:
    field: str  # "access", "license", "rights_statement" or "labels"
    value: str
    expected: Expected
    source: str


# ---- access protocols (docs/terms.md, after Mukurtu's cultural protocols) --------------------

_TERMS_DOC = "docs/terms.md, 'access'"
ACCESS: Final = (
    Expectation("access", "public", "allows", f"{_TERMS_DOC}: public — open to everyone"),
    Expectation("access", "community", "denies",
                f"{_TERMS_DOC}: community — members of the community only"),
    Expectation("access", "restricted", "denies",
                f"{_TERMS_DOC}: restricted — named sub-groups only (role, gender, clan …)"),
)

# ---- licenses --------------------------------------------------------------------------------
# Creative Commons 4.0 legal code §2(a)(1): the licensor grants the right to "reproduce and
# Share the Licensed Material", and "Share" includes public display; NC variants add "for
# NonCommercial purposes only" (an exhibit is non-commercial); ND variants still permit sharing
# the material unadapted. Versions 1.0–3.0 (and their ports): legal code §3 "License Grant",
# "to ... display publicly, perform publicly ... the Work"; NC variants §4(b)/§4(c) "not ...
# primarily intended for or directed toward commercial advantage".

_CC4 = "§2(a)(1)(A): reproduce and Share (incl. public display)"
_CC3 = "§3 License Grant: 'display publicly, perform publicly'"
_NC4 = "; NonCommercial purposes only (an exhibit is non-commercial)"
_NC3 = "; §4 no use 'primarily intended for ... commercial advantage'"


def _cc(spdx: str, url: str, clause: str) -> Expectation:
    return Expectation("license", spdx, "allows", f"{url} {clause}")


LICENSES: Final = (
    _cc("CC-BY-1.0", "https://creativecommons.org/licenses/by/1.0/legalcode", _CC3),
    _cc("CC-BY-2.0", "https://creativecommons.org/licenses/by/2.0/legalcode", _CC3),
    _cc("CC-BY-2.5", "https://creativecommons.org/licenses/by/2.5/legalcode", _CC3),
    _cc("CC-BY-2.5-AU", "https://creativecommons.org/licenses/by/2.5/au/legalcode", _CC3),
    _cc("CC-BY-3.0", "https://creativecommons.org/licenses/by/3.0/legalcode", _CC3),
    _cc("CC-BY-3.0-AT", "https://creativecommons.org/licenses/by/3.0/at/legalcode", _CC3),
    _cc("CC-BY-3.0-AU", "https://creativecommons.org/licenses/by/3.0/au/legalcode", _CC3),
    _cc("CC-BY-3.0-DE", "https://creativecommons.org/licenses/by/3.0/de/legalcode", _CC3),
    _cc("CC-BY-3.0-IGO", "https://creativecommons.org/licenses/by/3.0/igo/legalcode", _CC3),
    _cc("CC-BY-3.0-NL", "https://creativecommons.org/licenses/by/3.0/nl/legalcode", _CC3),
    _cc("CC-BY-3.0-US", "https://creativecommons.org/licenses/by/3.0/us/legalcode", _CC3),
    _cc("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/legalcode", _CC4),
    _cc("CC-BY-NC-1.0", "https://creativecommons.org/licenses/by-nc/1.0/legalcode", _CC3 + _NC3),
    _cc("CC-BY-NC-2.0", "https://creativecommons.org/licenses/by-nc/2.0/legalcode", _CC3 + _NC3),
    _cc("CC-BY-NC-2.5", "https://creativecommons.org/licenses/by-nc/2.5/legalcode", _CC3 + _NC3),
    _cc("CC-BY-NC-3.0", "https://creativecommons.org/licenses/by-nc/3.0/legalcode", _CC3 + _NC3),
    _cc("CC-BY-NC-3.0-DE", "https://creativecommons.org/licenses/by-nc/3.0/de/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-3.0-IGO", "https://creativecommons.org/licenses/by-nc/3.0/igo/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/legalcode", _CC4 + _NC4),
    _cc("CC-BY-NC-ND-1.0", "https://creativecommons.org/licenses/by-nd-nc/1.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-2.0", "https://creativecommons.org/licenses/by-nc-nd/2.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-2.5", "https://creativecommons.org/licenses/by-nc-nd/2.5/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-3.0", "https://creativecommons.org/licenses/by-nc-nd/3.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-3.0-DE", "https://creativecommons.org/licenses/by-nc-nd/3.0/de/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-3.0-IGO", "https://creativecommons.org/licenses/by-nc-nd/3.0/igo/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-ND-4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/legalcode",
        _CC4 + _NC4),
    _cc("CC-BY-NC-SA-1.0", "https://creativecommons.org/licenses/by-nc-sa/1.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-2.0", "https://creativecommons.org/licenses/by-nc-sa/2.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-2.0-DE", "https://creativecommons.org/licenses/by-nc-sa/2.0/de/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-2.0-FR", "https://creativecommons.org/licenses/by-nc-sa/2.0/fr/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-2.0-UK", "https://creativecommons.org/licenses/by-nc-sa/2.0/uk/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-2.5", "https://creativecommons.org/licenses/by-nc-sa/2.5/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-3.0", "https://creativecommons.org/licenses/by-nc-sa/3.0/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-3.0-DE", "https://creativecommons.org/licenses/by-nc-sa/3.0/de/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-3.0-IGO", "https://creativecommons.org/licenses/by-nc-sa/3.0/igo/legalcode",
        _CC3 + _NC3),
    _cc("CC-BY-NC-SA-4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode",
        _CC4 + _NC4),
    _cc("CC-BY-ND-1.0", "https://creativecommons.org/licenses/by-nd/1.0/legalcode", _CC3),
    _cc("CC-BY-ND-2.0", "https://creativecommons.org/licenses/by-nd/2.0/legalcode", _CC3),
    _cc("CC-BY-ND-2.5", "https://creativecommons.org/licenses/by-nd/2.5/legalcode", _CC3),
    _cc("CC-BY-ND-3.0", "https://creativecommons.org/licenses/by-nd/3.0/legalcode", _CC3),
    _cc("CC-BY-ND-3.0-DE", "https://creativecommons.org/licenses/by-nd/3.0/de/legalcode", _CC3),
    _cc("CC-BY-ND-4.0", "https://creativecommons.org/licenses/by-nd/4.0/legalcode",
        _CC4 + "; ND: Share unadapted material"),
    _cc("CC-BY-SA-1.0", "https://creativecommons.org/licenses/by-sa/1.0/legalcode", _CC3),
    _cc("CC-BY-SA-2.0", "https://creativecommons.org/licenses/by-sa/2.0/legalcode", _CC3),
    _cc("CC-BY-SA-2.0-UK", "https://creativecommons.org/licenses/by-sa/2.0/uk/legalcode", _CC3),
    _cc("CC-BY-SA-2.1-JP", "https://creativecommons.org/licenses/by-sa/2.1/jp/legalcode", _CC3),
    _cc("CC-BY-SA-2.5", "https://creativecommons.org/licenses/by-sa/2.5/legalcode", _CC3),
    _cc("CC-BY-SA-3.0", "https://creativecommons.org/licenses/by-sa/3.0/legalcode", _CC3),
    _cc("CC-BY-SA-3.0-AT", "https://creativecommons.org/licenses/by-sa/3.0/at/legalcode", _CC3),
    _cc("CC-BY-SA-3.0-DE", "https://creativecommons.org/licenses/by-sa/3.0/de/legalcode", _CC3),
    _cc("CC-BY-SA-3.0-IGO", "https://creativecommons.org/licenses/by-sa/3.0/igo/legalcode", _CC3),
    _cc("CC-BY-SA-4.0", "https://creativecommons.org/licenses/by-sa/4.0/legalcode", _CC4),
    _cc("CC-SA-1.0", "https://creativecommons.org/licenses/sa/1.0/legalcode", _CC3),
    _cc("CC-PDDC", "https://creativecommons.org/licenses/publicdomain/",
        "Public Domain Dedication: 'anyone ... may ... publicly perform or display the work'"),
    _cc("CC-PDM-1.0", "https://creativecommons.org/publicdomain/mark/1.0/",
        "'You can copy, modify, distribute and perform the work ... without asking permission'"),
    _cc("CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/legalcode",
        "§2 Waiver of all copyright and related rights, incl. to 'communicate, ... display'"),
    _cc("PDDL-1.0", "https://opendatacommons.org/licenses/pddl/1-0/",
        "§3.1 dedication to the public domain; §1.0 use 'for any purpose'"),
    _cc("ODC-By-1.0", "https://opendatacommons.org/licenses/by/1-0/",
        "§2.2/§3.1 rights to 'communicate to the public' and display, with attribution"),
    _cc("ODbL-1.0", "https://opendatacommons.org/licenses/odbl/1-0/",
        "§3.1 rights to 'communicate to the public' and display, with attribution and share-alike"),
)

# SPDX licenses nobody here has reviewed for cultural heritage display: docs/display-policy.md,
# 'Unknown licenses' — an id on the SPDX list but not reviewed denies until reviewed.
_UNREVIEWED = "docs/display-policy.md 'Unknown licenses': on the SPDX list, not reviewed: denies"
UNREVIEWED_LICENSES: Final = tuple(
    Expectation("license", spdx, "denies", f"{_UNREVIEWED} (a software license)")
    for spdx in ("MIT", "Apache-2.0", "GPL-3.0-only", "LGPL-2.1-or-later", "BSD-3-Clause",
                 "MPL-2.0", "AGPL-3.0-or-later", "0BSD")
)

# ---- RightsStatements.org (https://rightsstatements.org/page/1.0/?language=en; each
# statement's page is its URI, e.g. http://rightsstatements.org/vocab/InC/1.0/) ---------------


def _rs(short: str, expected: Expected, clause: str) -> Expectation:
    uri = f"http://rightsstatements.org/vocab/{short}/1.0/"
    return Expectation("rights_statement", uri, expected, f"{uri}: {clause}")


STATEMENTS: Final = (
    _rs("InC", "needs a grant",
        "'For other uses you need to obtain permission from the rights-holder(s)'"),
    _rs("InC-OW-EU", "needs a grant",
        "orphan work under Directive 2012/28/EU, uses by EU institutions only; 'For other uses "
        "you need to obtain permission from the rights-holder(s)'"),
    _rs("InC-EDU", "needs a grant",
        "'no permission is required ... for educational uses. For other uses you need to obtain "
        "permission from the rights-holder(s)' (a public exhibit is not only educational)"),
    _rs("InC-NC", "allows",
        "'no permission is required from the rights-holder(s) for non-commercial uses' (an "
        "exhibit is non-commercial; the statement may only be used where the rights-holder "
        "authorized it)"),
    _rs("InC-RUU", "needs a grant",
        "in copyright, rights-holder(s) not located or identified: nobody has permitted it"),
    _rs("NoC-CR", "needs a grant",
        "'the organization ... is contractually required to limit the use of this Item'"),
    _rs("NoC-NC", "allows",
        "'You can, without permission, copy, modify, distribute, display, or perform the Item, "
        "for non-commercial uses'"),
    _rs("NoC-OKLR", "needs a grant",
        "'laws other than copyright are known to impose restrictions on the use of this Item'"),
    _rs("NoC-US", "needs a grant",
        "public domain in the United States, but 'a determination was not made as to its "
        "copyright status under the copyright laws of other countries': a public site is "
        "open to every country, and unknown means no"),
    _rs("CNE", "needs a grant",
        "'The copyright and related rights status of this Item has not been evaluated'"),
    _rs("UND", "needs a grant",
        "'the organization was unable to make a conclusive determination as to the copyright "
        "status'"),
    _rs("NKC", "allows",
        "'reasonably believes that the Item is not restricted by copyright or related rights'"),
)

# ---- Local Contexts Labels and Notices ------------------------------------------------------
# https://localcontexts.org/labels/traditional-knowledge-labels/ (TK),
# https://localcontexts.org/labels/biocultural-labels/ (BC), https://localcontexts.org/notices/
# and https://localcontexts.org/labels/about-the-labels/ (Provenance, Protocol and Permission
# Labels: "Permission Labels indicate what activities the community has approved as generally
# acceptable. Other uses require direct engagement with primary cultural authorities").

_TK = "https://localcontexts.org/labels/traditional-knowledge-labels/"
_BC = "https://localcontexts.org/labels/biocultural-labels/"
_NOTICES = "https://localcontexts.org/notices/"


def _label(label: str, expected: Expected, page: str, clause: str) -> Expectation:
    return Expectation("labels", label, expected, f"{page} {clause}")


LABELS: Final = (
    _label("tk:attribution", "allows", _TK,
           "TK A: asks future users to apply the correct attribution (the exhibit shows it)"),
    _label("tk:clan", "denies", _TK,
           "TK CL: conditions for use and circulation follow clan membership and protocols"),
    _label("tk:family", "denies", _TK,
           "TK F: shared within family groups; other use needs the family's permission"),
    _label("tk:multiple-communities", "denies", _TK,
           "TK MC: several communities hold responsibility and custodianship; the registry "
           "holds one community's consent, which cannot speak for the others"),
    _label("tk:community-voice", "allows", _TK,
           "TK CV: the community's own voice and context, shared to be heard"),
    _label("tk:creative", "allows", _TK,
           "TK CR: names the creative relationship of the community to the material"),
    _label("tk:verified", "allows", _TK,
           "TK V: the community has approved how the material is circulated and represented"),
    _label("tk:non-verified", "denies", _TK,
           "TK NV: the community has concerns about how the material is circulated and has not "
           "verified or approved it (a Protocol Label, not a note)"),
    _label("tk:seasonal", "needs a season", _TK,
           "TK S: may be heard or used only at certain times of year"),
    _label("tk:women-general", "denies", _TK,
           "TK WG: traditionally shared among women; a public site cannot tell who looks"),
    _label("tk:men-general", "denies", _TK,
           "TK MG: traditionally shared among men; a public site cannot tell who looks"),
    _label("tk:men-restricted", "denies", _TK,
           "TK MR: for initiated or authorized men only"),
    _label("tk:women-restricted", "denies", _TK,
           "TK WR: for initiated or authorized women only"),
    _label("tk:culturally-sensitive", "denies", _TK,
           "TK CS: cultural or historical sensitivities; care in access needs the community"),
    _label("tk:secret-sacred", "denies", _TK,
           "TK SS: secret or sacred, not for public circulation"),
    _label("tk:open-to-commercialization", "allows", _TK,
           "TK OC: the community is open to commercial use, so to display"),
    _label("tk:non-commercial", "allows", _TK,
           "TK NC: available for non-commercial use (an exhibit is non-commercial)"),
    _label("tk:community-use-only", "denies", _TK,
           "TK CO: for use by the community only, not for outside circulation"),
    _label("tk:outreach", "allows", _TK,
           "TK O: the community approves use for educational outreach activities"),
    _label("tk:open-to-collaboration", "allows", _TK,
           "TK CB: the community is open to collaboration; no access limit"),
    _label("bc:provenance", "allows", _BC,
           "BC P: names the community's inherent interest (the exhibit shows it)"),
    _label("bc:multiple-communities", "denies", _BC,
           "BC MC: several communities hold responsibility; one community's consent cannot "
           "speak for the others"),
    _label("bc:clan", "denies", _BC, "BC CL: use follows clan protocols and membership"),
    _label("bc:consent-verified", "allows", _BC,
           "BC CV: the community has verified consent for use"),
    _label("bc:consent-non-verified", "denies", _BC,
           "BC CNV: consent for use has not been verified by the community"),
    _label("bc:research-use", "denies", _BC,
           "BC R: the community supports use for research; public display is another use "
           "and needs engagement with the community (Permission Labels, about-the-labels)"),
    _label("bc:open-to-collaboration", "allows", _BC,
           "BC CB: the community is open to collaboration; no access limit"),
    _label("bc:open-to-commercialization", "allows", _BC,
           "BC OC: the community is open to commercial use, so to display"),
    _label("bc:outreach", "allows", _BC,
           "BC O: the community approves use for educational outreach activities"),
    _label("bc:non-commercial", "allows", _BC,
           "BC NC: available for non-commercial use (an exhibit is non-commercial)"),
    _label("notice:tk", "denies", _NOTICES,
           "TK Notice: cultural rights and responsibilities need further attention; Labels "
           "are yet to be set by the community"),
    _label("notice:bc", "denies", _NOTICES,
           "BC Notice: rights of Indigenous peoples in the material need further attention; "
           "Labels are yet to be set"),
    _label("notice:attribution-incomplete", "allows", _NOTICES,
           "Attribution Incomplete Notice: the record's attribution is incomplete (no access "
           "rule)"),
    _label("notice:open-to-collaborate", "allows", _NOTICES,
           "Open to Collaborate Notice: the institution commits to collaborate (no access rule)"),
)

EXPECTATIONS: Final = (*ACCESS, *LICENSES, *UNREVIEWED_LICENSES, *STATEMENTS, *LABELS)
