"""The rights model and the display-policy compiler.

A terms document (``type: heritage/terms``, see docs/terms.md) is validated against the
published JSON Schema (:data:`SCHEMA_RESOURCE`), becomes :class:`Terms`, and
:func:`decide` turns it and a moment into a :class:`DisplayDecision`: deny by default, every
reason given; :func:`decide_content` decides content over every community's claim on it
(deny wins, disputed content is never shown). The table behind the decision is
:data:`POLICY_TABLE`, rendered in docs/display-policy.md.

A description document (``type: heritage/description``, see docs/description.md) becomes
:class:`Description` through :func:`parse_description`; :func:`place_for_display` shows its
place only as precisely as the terms' location allows.
"""

from ledger.rights.claims import ClaimTerms, decide_content
from ledger.rights.description import (
    Description,
    DescriptionProblem,
    LocalText,
    Place,
    check_description,
    parse_description,
    place_for_display,
)
from ledger.rights.model import Terms, TermsProblem, check_terms, parse_terms
from ledger.rights.policy import (
    POLICY_TABLE,
    DisplayDecision,
    Effect,
    PolicyRule,
    Reason,
    decide,
    decide_document,
    requires_encryption,
)
from ledger.rights.schema import SCHEMA_RESOURCE, load_schema

__all__ = [
    "POLICY_TABLE",
    "SCHEMA_RESOURCE",
    "ClaimTerms",
    "Description",
    "DescriptionProblem",
    "DisplayDecision",
    "Effect",
    "LocalText",
    "Place",
    "PolicyRule",
    "Reason",
    "Terms",
    "TermsProblem",
    "check_description",
    "check_terms",
    "decide",
    "decide_content",
    "decide_document",
    "load_schema",
    "parse_description",
    "parse_terms",
    "place_for_display",
    "requires_encryption",
]
