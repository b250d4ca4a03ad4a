"""Heritage Ledger exhibits: static sites that show only what an item's terms allow.

The package reads an exhibit spec (:mod:`exhibits.spec`) and derives the files a site serves
instead of its masters (:mod:`exhibits.derive`, imported on its own so that reading a spec does
not load Pillow), and checks a built site for what it must not hold (:mod:`exhibits.scan`, the
leak scan); gathering and rendering follow in later modules (see
../shared/ARCHITECTURE.md's folder tree).
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
