"""The Content-Security-Policy of every page, as a ``<meta http-equiv>`` value.

The policy is issue 12's: nothing by default, scripts from the site plus the hash of each
inline script the page runs (the import map) and ``'wasm-unsafe-eval'`` (model-viewer compiles
its meshopt decoder), styles from the site plus the hashes of the styles the vendored libraries
inject (:data:`exhibits.site.assets.VENDOR_STYLE_HASHES`), media from the site, ``data:`` and
``blob:``, no ``<base>``, no form submission.

Only inline scripts that execute are hashed. JSON-LD (``application/ld+json``) and
``application/json`` blocks are data blocks: the HTML standard's "prepare the script element"
stops at their type before any CSP check, so they need no hash (and hashing them would only
lengthen the header). An import map does go through the inline-script check, hence its hash.
A ``<meta>`` policy cannot carry ``frame-ancestors``, ``report-uri`` or ``sandbox`` (CSP 3
§ 3.3): a host that wants those sets them as a header.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

__all__ = ["csp_policy", "script_hash"]


def script_hash(text: str) -> str:
    """The CSP source expression for an inline script whose text is ``text`` (UTF-8)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def csp_policy(inline_scripts: Iterable[str], style_hashes: Iterable[str]) -> str:
    """The policy for a page running ``inline_scripts`` (their exact texts), with
    ``style_hashes`` (CSP source expressions) allowed as styles. Deterministic."""
    scripts = sorted({script_hash(text) for text in inline_scripts})
    styles = sorted(set(style_hashes))
    directives = (
        ("default-src", ["'none'"]),
        ("script-src", ["'self'", *scripts, "'wasm-unsafe-eval'"]),
        ("style-src", ["'self'", *styles]),
        ("img-src", ["'self'", "data:", "blob:"]),
        ("media-src", ["'self'", "data:", "blob:"]),
        ("connect-src", ["'self'", "data:", "blob:"]),
        ("worker-src", ["'self'", "blob:"]),
        ("font-src", ["'self'"]),
        ("manifest-src", ["'self'"]),
        ("base-uri", ["'none'"]),
        ("form-action", ["'none'"]),
    )
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)
