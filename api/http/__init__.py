"""The HTTP API (``create_app`` in :mod:`api.app`), one module per concern:

- :mod:`api.http.errors`: the one error form, its OpenAPI declaration, the handlers;
- :mod:`api.http.limits`: upload size, per-client rate and request time;
- :mod:`api.http.auth`: EIP-712 request signatures by community keyholders, spent nonces;
- :mod:`api.http.service`: the registry the endpoints share, and the public catalogue;
- :mod:`api.http.schemas`: the answers' shapes;
- :mod:`api.http.catalog`: communities, items, their terms and descriptions;
- :mod:`api.http.verify`: verification of a CID or an uploaded file;
- :mod:`api.http.events`: the paged event feed;
- :mod:`api.http.exhibits`: exhibit builds: built from a spec, listed, downloaded;
- :mod:`api.http.consent`: writes through k-of-n consent (requests, then submission).
"""

from __future__ import annotations

__all__: list[str] = []
