"""JSON written inside a ``<script>`` element (schema.org JSON-LD, the interface words' page
data): the one kind of text the site's templates print unescaped, made so that it cannot
close the element or open a comment."""

from __future__ import annotations

import json
from typing import Any, Final

from markupsafe import Markup

__all__ = ["script_json"]

_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(value: Any) -> Markup:
    """``value`` as JSON safe to place between ``<script …>`` and ``</script>`` as is."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # Markup: this is the one string the templates print unescaped; after the translation
    # it holds no "<", so it cannot close the script element or open a comment.
    return Markup(text.translate(_ESCAPES))  # noqa: S704
