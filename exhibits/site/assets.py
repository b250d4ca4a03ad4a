"""The static assets a site serves: vendored three.js and model-viewer, and the site's own
scripts and styles (stub: the front-end slice fills it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["VENDOR_STYLE_HASHES", "copy_assets"]

#: CSP style-src sources ('sha256-…') for the styles the vendored libraries inject.
VENDOR_STYLE_HASHES: tuple[str, ...] = ()


def copy_assets(out: Path) -> list[str]:
    """Copy every asset into ``out/assets/`` and return their paths relative to ``out``."""
    raise NotImplementedError
