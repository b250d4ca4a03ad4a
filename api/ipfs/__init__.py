"""The embedded IPFS node's HTTP face: a subset of Kubo's RPC API and a trustless gateway.

``create_ipfs_app(settings, node)`` serves both on one port. One module each:

- :mod:`api.ipfs.app`: ``create_ipfs_app``, the wiring;
- :mod:`api.ipfs.rpc`: the ``/api/v0`` endpoints, Kubo's request and response shapes;
- :mod:`api.ipfs.gateway`: ``GET|HEAD /ipfs/<cid>[/<path>]``, files, directories, ranges,
  ``?format=raw|car|tar``;
- :mod:`api.ipfs.multipart`: the request-size limit and the streaming multipart parser;
- :mod:`api.ipfs.params`: Kubo's query parameters, parsed as Go parses them.

Routes parse, call the node, and format; everything else (tree assembly of ``add -r``, pin
walks, reading UnixFS) lives in :mod:`ledger.ipfs`.
"""

from __future__ import annotations

from api.ipfs.app import create_ipfs_app

__all__ = ["create_ipfs_app"]
