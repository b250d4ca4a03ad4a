"""``heritage demo``: a sample collection made locally, registered on a local chain, built
into an exhibit and served, with nothing to answer.

- :mod:`~api.demo.collection`: the samples (trimesh objects, Pillow images), their
  descriptions (en, mi, fr) and terms;
- :mod:`~api.demo.ports`: default ports, or free ones when they are taken;
- :mod:`~api.demo.run`: the run (:func:`prepare_demo`, :func:`serve_node`,
  :func:`build_demo`, :func:`start_services`).
"""

from api.demo.run import (
    DEMO_PASSPHRASE,
    MARKER,
    Demo,
    DemoBuild,
    DemoOptions,
    Row,
    Services,
    build_demo,
    default_demo_dir,
    prepare_demo,
    reset_demo_dir,
    serve_node,
    start_services,
)

__all__ = [
    "DEMO_PASSPHRASE",
    "MARKER",
    "Demo",
    "DemoBuild",
    "DemoOptions",
    "Row",
    "Services",
    "build_demo",
    "default_demo_dir",
    "prepare_demo",
    "reset_demo_dir",
    "serve_node",
    "start_services",
]
