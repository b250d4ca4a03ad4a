"""Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE``: ``default`` (what ``make test``
runs, sized for CI), ``deep`` (``make test-deep``: ten times the default's examples where a test
sets no count, and every test's full count of its own) and ``mutation`` (few, derandomized and
without the example database, so that a mutant's fate is reproducible; ``make mutate``).

A slow test sets its count as ``max_examples=examples(N)`` (or ``examples()`` for the profile's
own count): ``N`` under ``deep`` and ``mutation``, :data:`DEFAULT_SHARE` of it under
``default`` (never fewer than ``least``).
So ``make test`` stays in its time budget, ``make test-deep`` runs every count in full, and a
mutant meets the same number of examples whichever profile is the default.

tests/conftest.py imports this module; the mutation driver loads it as a plugin
(``-p tests.hypothesis_profiles``) where it runs pytest without the conftest.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import settings

#: The profile in force (``HYPOTHESIS_PROFILE``, else ``default``).
PROFILE: Final = os.environ.get("HYPOTHESIS_PROFILE", "default")
#: The share of a test's own example count that the ``default`` profile runs.
DEFAULT_SHARE: Final = 0.2


def examples(count: int | None = None, *, least: int = 10) -> int:
    """A property test's example count: ``count`` (by default the profile's own count) in full
    under ``deep`` and ``mutation``; :data:`DEFAULT_SHARE` of it (at least ``least``, at most
    ``count``) under ``default``."""
    if count is None:
        count = settings().max_examples
    if PROFILE != "default":
        return count
    return min(count, max(least, round(count * DEFAULT_SHARE)))


def deep() -> bool:
    """Whether the ``deep`` profile is in force (for counts a test sizes by hand)."""
    return PROFILE == "deep"


# No deadlines: a per-example time limit is a wall-clock limit in a test, and it fails on a
# loaded two-core machine for no fault of the code.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("deep", max_examples=1000, deadline=None)
settings.register_profile("mutation", max_examples=40, derandomize=True, database=None,
                          deadline=None)  # fmt: skip
settings.load_profile(PROFILE)
