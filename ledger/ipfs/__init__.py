"""Content addressing and the embedded IPFS node, one module each:

- :mod:`ledger.ipfs.cid`: CIDs (:class:`~ledger.ipfs.cid.Cid`, codecs ``RAW``, ``DAG_PB``,
  ``DAG_CBOR``);
- :mod:`ledger.ipfs.dagpb`: the dag-pb codec and UnixFS ``Data``;
- :mod:`ledger.ipfs.unixfs`: the Kubo-identical UnixFS importer (``import_path``,
  ``import_stream``, ``import_bytes``, :class:`~ledger.ipfs.unixfs.ImportOptions`);
- :mod:`ledger.ipfs.files`: reading UnixFS DAGs and exporting them safely to disk;
- :mod:`ledger.ipfs.nodecache`: a bounded cache of parsed UnixFS nodes keyed by CID;
- :mod:`ledger.ipfs.dag`: links between blocks and the DAG walker;
- :mod:`ledger.ipfs.tree`: ``ipfs add -r`` of streamed files into a directory tree;
- :mod:`ledger.ipfs.blockstore`: the on-disk blockstore with pins and GC;
- :mod:`ledger.ipfs.pins`: pin-graph walks (indirect pins, through which pin a block is kept);
- :mod:`ledger.ipfs.car`: CARv1 files;
- :mod:`ledger.ipfs.backend`: the ``IpfsBackend`` Protocol with its embedded and remote
  (Kubo) implementations, ``open_backend``.

Import from the module itself: the package imports nothing, so computing a CID (``heritage
cid``) does not load the node's storage.
"""
