"""Heritage Ledger exhibits: static sites that show only what an item's terms allow.

The package reads an exhibit spec (:mod:`exhibits.spec`), gathers the claims it selects from
the chain, the index and the IPFS node (:mod:`exhibits.gather`), decides them
(:mod:`exhibits.select`), derives the files a site serves instead of its masters
(:mod:`exhibits.derive`), renders the site (:mod:`exhibits.site`), checks it for what it must
not hold (:mod:`exhibits.scan`, the leak scan) and reports (:mod:`exhibits.report`);
:mod:`exhibits.build` runs the whole. Only the spec is imported here, so that reading a spec
loads neither Pillow nor the registry.
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
