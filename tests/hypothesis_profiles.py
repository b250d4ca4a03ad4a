"""Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE``: ``default`` (modest example counts,
what ``make test`` runs), ``deep`` (ten times as many; ``make test-deep``) and ``mutation``
(few, derandomized and without the example database, so that a mutant's fate is reproducible;
``make mutate``). Tests that set ``max_examples`` themselves keep their count.

tests/conftest.py imports this module; the mutation driver loads it as a plugin
(``-p tests.hypothesis_profiles``) where it runs pytest without the conftest.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", max_examples=100)
settings.register_profile("deep", max_examples=1000, deadline=None)
settings.register_profile("mutation", max_examples=40, derandomize=True, database=None,
                          deadline=None)  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
