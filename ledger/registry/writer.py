"""The parts every write workflow of the registry works with (registering items, derivatives
and offline registrations): the session that sends, the reader, the staging of files on the
node and the sealing of restricted content. One place, so the workflows are made alike."""

from __future__ import annotations

from ledger.registry.reader import RegistryReader
from ledger.registry.sealing import Sealing
from ledger.registry.session import RegistrySession
from ledger.registry.staging import Staging

__all__ = ["Writer"]


class Writer:
    """A write workflow's collaborators, shared with the registry's other workflows."""

    def __init__(
        self,
        session: RegistrySession,
        reader: RegistryReader,
        staging: Staging,
        sealing: Sealing,
    ) -> None:
        self.session = session
        self.reader = reader
        self.staging = staging
        self.sealing = sealing
