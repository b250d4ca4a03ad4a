"""Terms documents for tests: valid ``heritage/terms`` documents that other tests build on.

``public_terms`` is allowed for public display at any moment (no display window, every access
protocol ``public``, an open license, no denying label); ``restricted_terms`` is valid but
denied (access protocol ``community``, TK Community Use Only). Keep these signatures stable:
tests across the project call them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["public_terms", "restricted_terms", "write_terms"]


def _community_hex(community: bytes) -> str:
    if len(community) != 32:
        raise ValueError(f"a community id is 32 bytes, got {len(community)}")
    return "0x" + community.hex()


def public_terms(community: bytes, **overrides: Any) -> dict[str, Any]:
    """A valid terms document of ``community`` whose display decision is ALLOWED now.

    Each keyword replaces the top-level field of that name; ``None`` removes the field.
    """
    document: dict[str, Any] = {
        "type": "heritage/terms",
        "version": 1,
        "community": _community_hex(community),
        "license": "CC-BY-4.0",
        "labels": ["tk:attribution"],
        "access": [{"protocol": "public"}],
        "ai_use": {"training": False, "enhancement": False},
        "location": {"precision": "coarsened", "distance_m": 10000},
        "attribution": "Courtesy of the community's keepers",
        "languages": ["en"],
        "contact": {"name": "Collections desk", "email": "collections@example.org"},
    }
    for name, value in overrides.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def restricted_terms(community: bytes) -> dict[str, Any]:
    """A valid terms document of ``community`` for community eyes only: always denied."""
    return public_terms(
        community,
        license=None,
        rights_statement="http://rightsstatements.org/vocab/InC/1.0/",
        labels=["tk:community-use-only"],
        access=[{"protocol": "community"}],
        location={"precision": "hidden"},
    )


def write_terms(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as JSON to ``path`` (parents created) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
