"""The published JSON Schema (draft 2020-12) of a terms document, built from the vocabularies.

``terms.schema.json`` beside this module is the published file and the one the validator
loads; :func:`build_schema` is how it is made, and a test checks that the file is current.
Regenerate it after changing a vocabulary with::

    .venv/bin/python -m ledger.rights.schema

The schema checks shape and vocabulary. What JSON Schema cannot say portably is checked in
:mod:`ledger.rights.model` (a time zone that exists, a calendar date that exists, an embargo
before the expiry), and both report the same way: a JSON pointer and a rule name.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any, Final

from ledger.rights.vocabulary import (
    ACCESS_PROTOCOLS,
    GROUP_KINDS,
    LABELS,
    RIGHTS_STATEMENTS,
    SPDX_LICENSE_IDS,
)

__all__ = ["SCHEMA_ID", "SCHEMA_RESOURCE", "build_schema", "load_schema", "schema_text"]

SCHEMA_ID: Final = "https://heritage-ledger.org/schemas/terms/1.json"
SCHEMA_RESOURCE: Final = "terms.schema.json"

# ECMA-262 regular expressions (the dialect JSON Schema names), anchored at both ends.
_COMMUNITY: Final = "^0x[0-9a-f]{64}$"
_DATE: Final = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# RFC 3339 date-time with a required offset: a moment, never a local wall-clock time.
# At most microseconds, what a Python datetime holds, so no boundary is silently rounded.
_DATE_TIME: Final = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_MONTH_DAY: Final = "^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
# RFC 5646 well-formed language tag (langtag, private use, or a grandfathered tag).
_LANGTAG: Final = (
    "([A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    "(-[A-Za-z]{4})?"
    "(-([A-Za-z]{2}|[0-9]{3}))?"
    "(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    "(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*"
    "(-[Xx](-[A-Za-z0-9]{1,8})+)?"
)
_PRIVATE_USE: Final = "[Xx](-[A-Za-z0-9]{1,8})+"
_GRANDFATHERED: Final = (
    "en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|"
    "i-pwn|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE|art-lojban|cel-gaulish|no-bok|"
    "no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang"
)
_BCP47: Final = f"^({_LANGTAG}|{_PRIVATE_USE}|{_GRANDFATHERED})$"
_EMAIL: Final = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"
_URL: Final = "^https?://[^\\s]+$"


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _field_is(name: str, condition: dict[str, Any]) -> dict[str, Any]:
    # An "if" that holds only for an object that has the field: "required" and "properties"
    # are vacuously true of non-objects, which would fire the "then" on null or a number.
    return {"type": "object", "required": [name], "properties": {name: condition}}


def build_schema() -> dict[str, Any]:
    """The terms schema as a JSON value (pure; the published file is this, serialized)."""
    group = {
        "type": "object",
        "description": "A named sub-group of a protocol (Mukurtu: by role, gender, …).",
        "required": ["kind", "name"],
        "additionalProperties": False,
        "properties": {"kind": {"enum": list(GROUP_KINDS)}, "name": _text(200)},
    }
    protocol = {
        "type": "object",
        "required": ["protocol"],
        "additionalProperties": False,
        "properties": {
            "protocol": {"enum": list(ACCESS_PROTOCOLS)},
            "groups": {"type": "array", "minItems": 1, "uniqueItems": True, "items": group},
        },
        "allOf": [
            {
                "if": _field_is("protocol", {"const": "public"}),
                "then": {"not": {"required": ["groups"]}},
            },
            {
                "if": _field_is("protocol", {"const": "restricted"}),
                "then": {"required": ["groups"]},
            },
        ],
    }
    season = {
        "type": "object",
        "description": "Whole local days from..to inclusive; from after to wraps the year end.",
        "required": ["from", "to"],
        "additionalProperties": False,
        "properties": {
            "from": {"type": "string", "pattern": _MONTH_DAY},
            "to": {"type": "string", "pattern": _MONTH_DAY},
        },
    }
    display = {
        "type": "object",
        "required": ["time_zone"],
        "additionalProperties": False,
        "properties": {
            "time_zone": {"type": "string", "minLength": 1, "maxLength": 64},
            "embargo_until": {"type": "string", "format": "date-time", "pattern": _DATE_TIME},
            "expires": {"type": "string", "format": "date-time", "pattern": _DATE_TIME},
            "seasons": {"type": "array", "minItems": 1, "maxItems": 24, "items": season},
        },
    }
    location = {
        "type": "object",
        "required": ["precision"],
        "additionalProperties": False,
        "properties": {
            "precision": {"enum": ["exact", "coarsened", "hidden"]},
            "distance_m": {"type": "integer", "minimum": 1, "maximum": 20_037_508},
        },
        "allOf": [
            {
                "if": _field_is("precision", {"const": "coarsened"}),
                "then": {"required": ["distance_m"]},
            },
            {
                "if": _field_is("precision", {"enum": ["exact", "hidden"]}),
                "then": {"not": {"required": ["distance_m"]}},
            },
        ],
    }
    contact = {
        "type": "object",
        "required": ["name"],
        "anyOf": [{"required": ["email"]}, {"required": ["url"]}],
        "additionalProperties": False,
        "properties": {
            "name": _text(200),
            "email": {"type": "string", "maxLength": 254, "pattern": _EMAIL},
            "url": {"type": "string", "maxLength": 2000, "pattern": _URL},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Heritage Ledger terms document",
        "description": "Rights, protocols and display conditions of a registered item; "
        "see docs/terms.md. Generated by ledger/rights/schema.py: do not edit.",
        "type": "object",
        "required": ["type", "version", "community", "access"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "heritage/terms"},
            "version": {"const": 1},
            "community": {"type": "string", "pattern": _COMMUNITY},
            "license": {"enum": sorted(SPDX_LICENSE_IDS)},
            "rights_statement": {"enum": [s.uri for s in RIGHTS_STATEMENTS]},
            "labels": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": list(LABELS)},
            },
            "access": {"type": "array", "minItems": 1, "maxItems": 64, "items": protocol},
            "display": display,
            "public_display_grant": {
                "type": "object",
                "required": ["rights_holder", "date"],
                "additionalProperties": False,
                "properties": {
                    "rights_holder": _text(500),
                    "date": {"type": "string", "format": "date", "pattern": _DATE},
                    "note": _text(2000),
                },
            },
            "ai_use": {
                "type": "object",
                "required": ["training", "enhancement"],
                "additionalProperties": False,
                "properties": {
                    "training": {"type": "boolean"},
                    "enhancement": {"type": "boolean"},
                },
            },
            "location": location,
            "attribution": _text(2000),
            "languages": {
                "type": "array",
                "uniqueItems": True,
                "maxItems": 64,
                "items": {"type": "string", "maxLength": 64, "pattern": _BCP47},
            },
            "contact": contact,
        },
    }


def schema_text(schema: dict[str, Any]) -> str:
    """The published serialization: indented, keys in build order, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def load_schema() -> dict[str, Any]:
    """The published schema, read from the package data."""
    text = resources.files("ledger.rights").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


if __name__ == "__main__":  # regenerate the published file
    target = resources.files("ledger.rights").joinpath(SCHEMA_RESOURCE)
    with resources.as_file(target) as path:
        path.write_text(schema_text(build_schema()), encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
