"""The web pages the API app serves beside its JSON (``api.web.pages.router``): a catalogue of
public items with an item page each, a verify page that computes a file's CID in the browser,
and the exhibit builds with their counts. Rendered with jinja2, no wallet needed, not in the
OpenAPI document (docs/api.md, "Web pages").

- :mod:`api.web.views`: what the pages show, from the API's public catalogue (pure);
- :mod:`api.web.pages`: the routes, the one jinja2 environment, the static files and the CSP.
"""

from __future__ import annotations

__all__: list[str] = []
