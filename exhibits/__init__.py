"""Heritage Ledger exhibits: static sites that show only what an item's terms allow.

The package reads an exhibit spec (:mod:`exhibits.spec`), gathers the claims it selects from
the chain, the index and the IPFS node (:mod:`exhibits.gather`), decides them
(:mod:`exhibits.select`), derives the files a site serves instead of its masters
(:mod:`exhibits.derive`), renders the site (:mod:`exhibits.site`), checks it for what it must
not hold (:mod:`exhibits.scan`, the leak scan) and reports (:mod:`exhibits.report`);
:mod:`exhibits.build` runs the whole. Only the spec is imported here, so that reading a spec
loads neither Pillow nor the registry; ``exhibits.preview(spec)`` (the gallery as a pythreejs
scene for Jupyter, :mod:`exhibits.notebook`) is loaded when first asked for.
"""

from typing import Any

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


def __getattr__(name: str) -> Any:
    # pythreejs (the notebook extra) and the registry load only for the preview itself.
    if name == "preview":
        from exhibits.notebook import preview

        return preview
    raise AttributeError(f"module 'exhibits' has no attribute {name!r}")
