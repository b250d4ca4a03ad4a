"""``heritage demo``: a sample collection made locally, registered on a local chain, built
into an exhibit and served, with nothing to answer.

- :mod:`~api.demo.collection`: the samples (trimesh objects, Pillow images), their
  descriptions (en, mi, fr) and terms;
- :mod:`~api.demo.ports`: default ports, or free ones when they are taken;
- :mod:`~api.demo.run`: the run (:func:`build_demo`, then :func:`start_services`).
"""

from api.demo.run import (
    DEMO_PASSPHRASE,
    MARKER,
    DemoBuild,
    DemoOptions,
    Row,
    Services,
    build_demo,
    default_demo_dir,
    reset_demo_dir,
    start_services,
)

__all__ = [
    "DEMO_PASSPHRASE",
    "MARKER",
    "DemoBuild",
    "DemoOptions",
    "Row",
    "Services",
    "build_demo",
    "default_demo_dir",
    "reset_demo_dir",
    "start_services",
]
