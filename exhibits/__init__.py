"""Heritage Ledger exhibits: static sites that show only what an item's terms allow.

The package reads an exhibit spec (:mod:`exhibits.spec`); gathering, deriving and rendering
follow in later modules (see ../shared/ARCHITECTURE.md's folder tree).
"""

from exhibits.spec import (
    ExhibitSpec,
    Room,
    Selection,
    SpecProblem,
    check_spec,
    load_spec,
    parse_spec,
)

__all__ = [
    "ExhibitSpec",
    "Room",
    "Selection",
    "SpecProblem",
    "check_spec",
    "load_spec",
    "parse_spec",
]
