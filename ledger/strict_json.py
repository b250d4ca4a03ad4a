"""JSON that comes from outside the program, parsed strictly.

Terms files, consent requests and signatures, proofs files, keystores, deployment files and
documents fetched from IPFS are all read with :func:`loads`, which refuses:

* nesting deeper than a limit, before the decoder runs: CPython's C decoder recurses once per
  level, and under a raised recursion limit a file of a few hundred thousand ``[`` overflows
  the C stack and kills the process instead of raising;
* the same key twice in one object: two readers could otherwise see two different documents
  (Python keeps the last value, other parsers the first);
* ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON.

Every refusal is a :class:`ValueError` that says why (a :class:`UnicodeDecodeError` for bytes
that are not UTF-8 is one too); callers turn it into the error of their own input.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "loads", "nesting_exceeds"]

#: Deeper than any document this program writes (proofs files nest 7 levels, terms 5).
MAX_DEPTH: Final = 64

#: The tokens that matter for nesting: a string (an unterminated one runs to the end, so the
#: scan never restarts inside it and stays linear), a run of other text, or one character.
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"?|[^"\[\]{}]+|.', re.DOTALL)


def nesting_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` deep (brackets inside
    strings do not count); stops at the first level too deep."""
    depth = 0
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif char in ("]", "}"):
            depth -= 1
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} appears twice in one object")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of the JSON ``data`` (UTF-8 when bytes), or :class:`ValueError` saying why."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if nesting_exceeds(text, max_depth):
        raise ValueError(f"it nests arrays and objects more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("it nests too deeply to parse") from None
