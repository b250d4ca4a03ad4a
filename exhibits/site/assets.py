"""The static assets a site serves: vendored three.js and model-viewer, and the site's own
scripts and styles (stub: the front-end slice fills it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["copy_assets"]


def copy_assets(out: Path) -> list[str]:
    """Copy every asset into ``out/assets/`` and return their paths relative to ``out``."""
    raise NotImplementedError
