"""Item descriptions on the record (stub: the descriptions slice of issue 12 fills it)."""

from __future__ import annotations

from ledger.registry.reader import RegistryReader
from ledger.registry.results import Claim
from ledger.rights.description import Description

__all__ = ["latest_description"]


def latest_description(reader: RegistryReader, claim: Claim) -> tuple[Description, int] | None:
    """The claim's current description and its version (1: given at registration, then one
    per correction), or None when it has none. Sealed (restricted) items: None."""
    return None
