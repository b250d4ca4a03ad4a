"""Property tests that show they reach their assertion.

A Hypothesis test whose examples all return early (or are all rejected by ``assume``) passes
without checking anything. Decorate it with :func:`reaches` (outermost, above ``@given``) and
call :func:`reached` where the example has been checked: the test then fails unless at least
``fraction`` of the examples it ran (and never fewer than one) got there. Hypothesis also counts
calls that it abandons while drawing (an overrun, an invalid draw), so even a test that never
returns early reaches a little under 100 %. Each call also
records a Hypothesis ``event``, so ``--hypothesis-show-statistics`` shows the share.

``tests/test_property_tests_reach.py`` fails for any ``@given`` test without ``@reaches``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import event

__all__ = ["reached", "reaches"]

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(slots=True)
class _Tally:
    examples: int = 0
    reached: int = 0


_TALLY: ContextVar[_Tally | None] = ContextVar("reaching_tally", default=None)


def reached(label: str = "reached its assertion") -> None:
    """Record that this example got to the check that matters."""
    event(label)
    tally = _TALLY.get()
    if tally is None:
        raise RuntimeError("reached() outside a test decorated with @reaches")
    tally.reached += 1


def reaches(fraction: float = 0.5) -> Callable[[_F], _F]:
    """Fail the property test unless ``fraction`` of its examples call :func:`reached`."""

    def decorate(test: _F) -> _F:
        hypothesis = getattr(test, "hypothesis", None)
        if hypothesis is None:
            raise TypeError(f"@reaches goes above @given, not on {test.__name__}")
        inner = hypothesis.inner_test

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            tally = _TALLY.get()
            if tally is not None:
                tally.examples += 1
            return inner(*args, **kwargs)

        hypothesis.inner_test = counted

        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            tally = _Tally()
            token = _TALLY.set(tally)
            try:
                result = test(*args, **kwargs)
            finally:
                _TALLY.reset(token)
            floor = max(1, math.ceil(fraction * tally.examples))
            assert tally.reached >= floor, (
                f"{test.__name__}: only {tally.reached} of {tally.examples} examples reached "
                f"the assertion (at least {floor} must)"
            )
            return result

        run.reaches_fraction = fraction  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate
