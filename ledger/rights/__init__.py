"""The rights model and the display-policy compiler.

A terms document (``type: heritage/terms``, see docs/terms.md) is validated against the
published JSON Schema (:data:`SCHEMA_RESOURCE`), becomes :class:`Terms`, and
:func:`decide` turns it and a moment into a :class:`DisplayDecision`: deny by default, every
reason given. The table behind the decision is :data:`POLICY_TABLE`, rendered in
docs/display-policy.md.
"""

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
    "DisplayDecision",
    "Effect",
    "PolicyRule",
    "Reason",
    "Terms",
    "TermsProblem",
    "check_terms",
    "decide",
    "decide_document",
    "load_schema",
    "parse_terms",
    "requires_encryption",
]
