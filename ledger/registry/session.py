"""The registry session: what every workflow shares for one command.

The deployment, the web3 connection and the :class:`~ledger.chain.RegistryClient` (relayed
by a sender account the caller chooses: the session never picks one), the IPFS node (an
``IpfsBackend``, opened on first use), the event index (one connection kept for the thread
that made the session), document storage, and the chain's clock. Close it when done.

This is the one module of the registry that imports from the local chain's package: which
deployment file the settings name (``deployment_path``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger import strict_json
from ledger.chain import (
    Community,
    Deployment,
    RegistryClient,
    TxJournal,
    chain_errors,
    connect,
    deployment_path,
    read_deployment,
)
from ledger.consent import CommunityHistory, read_history
from ledger.documents import MAX_DOCUMENT_BYTES, canonical_json, document_cid
from ledger.errors import ChainError, HeritageError, LimitExceeded, NotFound, UsageError
from ledger.index import EventIndex, Web3Reader, index_path
from ledger.ipfs.backend import EmbeddedNode, KuboNode, open_backend
from ledger.ipfs.cid import RAW, Cid
from ledger.registry.results import to_hex
from ledger.settings import Settings

__all__ = ["CONSENT_REQUEST_SECONDS", "DEADLINE_SECONDS", "RegistrySession"]

#: How long a signature made for an online action stays valid.
DEADLINE_SECONDS: Final = 3600
#: How long an offline consent request stays signable unless told otherwise: a week, as
#: keyholders sign when they can; the deadline is in what they sign, so it cannot be extended.
CONSENT_REQUEST_SECONDS: Final = 7 * 24 * 3600
_ZERO32: Final = bytes(32)


class RegistrySession:
    """The deployment, chain client, IPFS node and event index of ``settings``; transactions
    are relayed by ``sender`` (it pays the gas; None: views only until :meth:`use_sender`)."""

    def __init__(self, settings: Settings, *, sender: LocalAccount | None = None) -> None:
        self.settings = settings
        self.deployment: Deployment = read_deployment(deployment_path(settings))
        self.w3 = connect(settings.rpc_url)
        self._sender = sender
        self.client = RegistryClient(
            self.w3,
            self.deployment.registry_address,
            sender if sender is not None else Account.create(),  # views only
            TxJournal.in_data_dir(settings.data_dir, fsync=settings.fsync),
            from_block=self.deployment.deploy_block,
        )
        self._node: EmbeddedNode | KuboNode | None = None
        # The event index's connection, kept open for the thread that made this session
        # (SQLite connections belong to one thread): opening one costs more than a
        # verification's queries. (the index, the file's inode when it was opened)
        self._owner = threading.get_ident()
        self._kept_index: tuple[EventIndex, int] | None = None

    def use_sender(self, sender: LocalAccount) -> None:
        """Relay transactions from ``sender`` (it pays the gas)."""
        self._sender = sender
        self.client.sender = sender
        self.client.resync_nonce()

    def require_sender(self) -> None:
        """UsageError unless a sender was chosen: nothing can be sent without one."""
        if self._sender is None:
            raise UsageError(
                "no sender account to pay for the transaction",
                hint="on a chain other than a local anvil, pass --sender ADDRESS (a key in "
                "the keystore) and its --sender-password-file",
            )

    def close(self) -> None:
        if self._kept_index is not None:
            self._kept_index[0].close()
            self._kept_index = None
        if self._node is not None:
            self._node.close()  # the embedded node's pin database, or a remote node's session
            self._node = None

    def __enter__(self) -> RegistrySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the IPFS node and documents ---------------------------------------------------------

    @property
    def node(self) -> EmbeddedNode | KuboNode:
        if self._node is None:
            self._node = open_backend(self.settings)
        return self._node

    def put_document(self, document: Mapping[str, Any], *, pin: bool = True) -> tuple[bytes, Cid]:
        """Store ``document`` as one raw block (pinned unless told): (its digest, its CID)."""
        data = canonical_json(document)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise LimitExceeded(
                f"a {document.get('type', 'document')} of {len(data)} bytes does not fit in one "
                "1 MiB block",
                hint="split the batch into smaller ones",
            )
        cid = self.node.block_put(data, RAW)
        if pin:
            self.node.pin_add(cid, recursive=False)
        return hashlib.sha256(data).digest(), cid

    def metadata(self, digest: bytes) -> Mapping[str, Any] | None:
        """The JSON object stored under the document digest ``digest``; None when it is not on
        this node (the digest on chain still names it) or is not a JSON object."""
        try:
            document = strict_json.loads(self.node.block_get(document_cid(digest)))
        except (HeritageError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def temp_dir(self) -> Path:
        """The data directory's private scratch folder (ciphertexts on their way in or out)."""
        folder = self.settings.data_dir / "tmp"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    # -- the chain ---------------------------------------------------------------------------

    def chain_errors(self) -> AbstractContextManager[None]:
        """Transport failures of this chain raised as the project's chain errors."""
        return chain_errors(self.settings.rpc_url)

    def chain_time(self) -> int:
        """The timestamp of the chain's latest block."""
        with self.chain_errors():
            return int(self.w3.eth.get_block("latest")["timestamp"])

    def deadline(self) -> int:
        """The deadline an online action's signatures carry."""
        return self.chain_time() + DEADLINE_SECONDS

    def request_clock(self, valid_for: int) -> int:
        """The chain's time now, for a request that ``valid_for`` seconds must cover."""
        if valid_for < 60:
            raise UsageError(f"a request valid for {valid_for} s cannot be signed in time")
        return self.chain_time()

    def community(self, community: bytes) -> Community:
        """The current configuration of ``community``, from the index, checked on chain."""
        if self.client.community_config(community) == _ZERO32:
            raise NotFound(
                f"community {to_hex(community)} is not registered on this chain",
                hint="create it with `heritage community create`, or check the id or name",
            )
        with self.event_index() as index:
            record = index.community(community)
        current = Community.of(community, record.keyholders, record.threshold)
        if not self.client.community_matches(current):
            raise ChainError(
                f"the index's keyholders of {to_hex(community)} are not the ones the registry "
                "holds",
                hint="run `heritage index rebuild`",
            )
        return current

    def community_history(self, community: bytes) -> CommunityHistory:
        """The keyholder history of ``community`` that proves its keyholders offline."""
        with self.event_index() as index:
            return read_history(index, self.client, community)

    # -- the event index ---------------------------------------------------------------------

    @contextmanager
    def event_index(self, *, sync: bool = True) -> Iterator[EventIndex]:
        """The event index, synced with the chain; ``sync=False``: as the last sync left it,
        for a caller that has just synced it."""
        keep = threading.get_ident() == self._owner
        with self.chain_errors():
            index = self._kept() if keep else self._open_index()
            try:
                if sync:
                    index.sync()
                yield index
            finally:
                if not keep:
                    index.close()

    def _open_index(self) -> EventIndex:
        return EventIndex(
            index_path(self.settings),
            Web3Reader(self.w3),
            self.deployment.registry_address,
            self.deployment.deploy_block,
        )

    def _kept(self) -> EventIndex:
        """The owner thread's index, reopened when its file was replaced since."""
        path = index_path(self.settings)
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            inode = -1
        if self._kept_index is not None and self._kept_index[1] != inode:
            self._kept_index[0].close()
            self._kept_index = None
        if self._kept_index is None:
            index = self._open_index()
            self._kept_index = (index, path.stat().st_ino)
        return self._kept_index[0]
