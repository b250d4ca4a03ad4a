"""What the API's endpoints share: one registry over the settings, used under a lock, and
the public catalogue of items (computed once per chain head).

The registry is opened on first use, so the app starts on an empty data directory with no
chain: until a deployment and a chain answer, every operation that needs them raises
:class:`~ledger.errors.ChainUnavailable` (503). A chain that goes away drops the registry,
which is opened again on the next request.

The catalogue is every claim of every community, as :func:`exhibits.gather.gather` finds it
(verification's evidence, sealed items never decrypted), each with the decision of
:func:`ledger.rights.claims.decide_content` now: content is public only when every claim on
it allows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from ledger.chain import deployment_path
from ledger.errors import ChainError, ChainUnavailable, NotFound
from ledger.settings import Settings

__all__ = ["FRESH_SECONDS", "Catalogue", "Entry", "Service"]

#: How long a look at the chain's head serves reads of the catalogue.
FRESH_SECONDS: Final = 1.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry:
    """One claim of the catalogue: the candidate (exhibits.model.Candidate) and whether its
    content may be shown publicly now, with the decision's reasons as JSON."""

    candidate: Any
    public: bool
    reasons: tuple[dict[str, Any], ...]
    title: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    block: int
    at: datetime
    entries: tuple[Entry, ...]
    communities: dict[bytes, str | None]


class Service:
    """The registry of ``settings`` for the endpoints (one at a time, under a lock)."""

    def __init__(
        self, settings: Settings, exhibits: Path | None = None, sender: Any = None
    ) -> None:
        self.settings = settings
        self.sender = sender  # eth_account LocalAccount: pays for what the API sends
        #: Where exhibit builds go: outside the data directory, as every site must be.
        self.exhibits = exhibits or settings.data_dir.with_name(
            settings.data_dir.name + "-exhibits"
        )
        self._lock = threading.RLock()
        self._registry: Any = None
        self._catalogue: Catalogue | None = None
        self._found: tuple[int, tuple[Any, ...], dict[bytes, str | None]] | None = None
        self._looked = 0.0  # time.monotonic() of the last look at the chain

    def close(self) -> None:
        with self._lock:
            if self._registry is not None:
                self._registry.close()
                self._registry = None

    def _open(self) -> Any:
        from ledger.registry import Registry

        path = deployment_path(self.settings)
        if not path.is_file():
            raise ChainUnavailable(
                f"no registry deployment at {path}: no chain has been set up for this data "
                "directory",
                hint="start the local chain (`heritage chain start`) or set HERITAGE_DEPLOYMENT",
            )
        registry = Registry(self.settings)
        # Requests run in a pool of threads, and the app closes on yet another: the session
        # must keep no per-thread index connection, so each use opens its own.
        registry.session._owner = -1
        return registry

    @contextmanager
    def registry(self) -> Iterator[Any]:
        """The registry (ledger.registry.Registry), held for the caller alone."""
        with self._lock:
            if self._registry is None:
                self._registry = self._open()
            try:
                yield self._registry
            except ChainError:
                self._registry.close()
                self._registry = None
                raise

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The data directory for the caller alone, with the shared registry closed (for
        work that opens its own, such as an exhibit build)."""
        with self._lock:
            self.close()
            yield

    @contextmanager
    def sending(self) -> Iterator[Any]:
        """The registry with a sender that pays for transactions (the app's, else anvil's
        dev account on a local development chain); the catalogue is read again after."""
        from local_chain import ANVIL_CHAIN_ID, anvil_dev_account, uses_outside_chain

        with self.registry() as registry:
            if self.sender is not None:
                registry.session.use_sender(self.sender)
            elif (
                not uses_outside_chain(self.settings)
                or registry.client.chain_id() == ANVIL_CHAIN_ID
            ):
                registry.session.use_sender(anvil_dev_account())
            try:
                yield registry
            finally:
                self._looked = 0.0
                self._found = None

    def run(self, work: Callable[[Any], T]) -> T:
        with self.registry() as registry:
            return work(registry)

    def catalogue(self) -> Catalogue:
        """Every claim with its public decision now, recomputed when the chain moved on.
        Within :data:`FRESH_SECONDS` of the last look, the chain is not asked again: a read
        then costs no chain round trip (answers lag the chain by at most that)."""
        cached = self._catalogue
        if cached is not None and time.monotonic() - self._looked < FRESH_SECONDS:
            return cached
        with self.registry() as registry:
            with registry.reader.event_index() as index:
                ids = index.community_ids()
            with registry.session.chain_errors():
                latest = int(registry.session.w3.eth.block_number)
            found = self._found
            if found is None or found[0] != latest or len(found[2]) != len(ids):
                found = (latest, *_gather(registry, ids))
                self._found = found
            # Decided again at every look: terms change with time (seasons, embargoes, expiry).
            catalogue = _decide(found[0], found[1], found[2], datetime.now(UTC))
            self._catalogue = catalogue
            self._looked = time.monotonic()
            return catalogue


def _gather(registry: Any, ids: list[bytes]) -> tuple[tuple[Any, ...], dict[bytes, str | None]]:
    """Every claim of the communities ``ids`` (exhibits.model.Candidate) and their names."""
    from exhibits.gather import gather
    from exhibits.spec import ExhibitSpec, Selection

    names: dict[bytes, str | None] = {}
    for community in ids:
        try:
            name = registry.reader.community_document(community).get("name")
        except NotFound:
            name = None
        names[community] = name if isinstance(name, str) else None
    if not ids:
        return (), names
    spec = ExhibitSpec(
        title=(("en", "catalogue"),),
        languages=("en",),
        selection=Selection(communities=tuple("0x" + c.hex() for c in ids)),
    )
    return gather(registry.reader, spec).candidates, names


def _decide(
    block: int, candidates: tuple[Any, ...], names: dict[bytes, str | None], now: datetime
) -> Catalogue:
    from exhibits.select import display_title
    from ledger.rights.claims import decide_content

    entries = []
    for candidate in candidates:
        decision = decide_content(candidate.claims, now)
        entries.append(
            Entry(
                candidate=candidate,
                public=decision.allowed and not candidate.sealed,
                reasons=tuple(r.to_json() for r in decision.reasons),
                title="" if candidate.sealed else display_title(candidate, ("en",)),
            )
        )
    return Catalogue(block, now, tuple(entries), names)
