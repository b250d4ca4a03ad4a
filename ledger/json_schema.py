"""JSON Schema as the project's documents use it (terms, descriptions, exhibit specs): draft
2020-12 with ECMA-262 pattern anchoring, and RFC 6901 pointers naming the failing field. Pure.

JSON Schema patterns are ECMA-262 regular expressions, where ``$`` ends the input; Python's
``$`` also matches before a final newline, which would let ``"en\\n"`` through a tag pattern.
Every validator made here anchors a trailing ``$`` with ``\\Z`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["json_pointer", "schema_validator"]


def _pattern_message(instance: str, pattern: str) -> str:
    return f"{instance!r} does not match {pattern!r}"


def schema_validator(
    schema: Mapping[str, Any], *, pattern_message: Callable[[str, str], str] = _pattern_message
) -> Any:
    """A draft 2020-12 validator of ``schema`` (checked first) whose ``pattern`` keyword
    anchors as ECMA-262 does; ``pattern_message(instance, pattern)`` words a mismatch."""
    Draft202012Validator.check_schema(schema)

    def pattern(
        validator: Any, pattern: str, instance: Any, _schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "string"):
            return
        python = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
        if re.search(python, instance) is None:
            yield ValidationError(pattern_message(instance, pattern))

    extended = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": pattern}
    )
    return extended(schema)


def json_pointer(path: Iterable[Any]) -> str:
    """RFC 6901: "~" is written "~0" and "/" is written "~1" inside a reference token."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)
