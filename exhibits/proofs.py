"""proofs.json: each derived file's CID tied to its master's on-chain claim (stub: the proofs
slice fills it; docs/exhibit.md documents the format)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exhibits.model import ChainRef, Exhibited

__all__ = ["proofs_document"]


def proofs_document(
    chain: ChainRef, items: Sequence[Exhibited], *, built_at: datetime
) -> dict[str, Any]:
    """The proofs document of these shown items (JSON values, deterministic)."""
    raise NotImplementedError
