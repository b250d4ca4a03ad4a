"""The project's faces: the ``heritage`` command-line tool (:mod:`api.cli`, one module per
command group) and the IPFS node's HTTP face (:mod:`api.ipfs`: a subset of Kubo's RPC API
and a trustless gateway); :mod:`api.errors` turns the core's errors into HTTP answers. Thin:
they parse, call ``ledger`` and ``local_chain``, and format.
"""
