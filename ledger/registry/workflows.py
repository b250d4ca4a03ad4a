"""The registry: one session and one object per workflow, wired together for one command.

``registry.communities.create(...)``, ``registry.items.register(...)``,
``registry.terms.revoke(...)``, ``registry.custody.transfer(...)``,
``registry.derivatives.add(...)``, ``registry.descriptions.describe(...)``,
``registry.consent.submit(...)``, ``registry.registrations.request(...)``,
``registry.sealing.decrypt(...)``; ``registry.reader`` is the read side that verification
takes. The caller chooses the sender that pays the gas (``sender=`` or
``registry.session.use_sender``).
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from ledger.chain import RegistryClient
from ledger.ipfs.backend import EmbeddedNode, KuboNode
from ledger.registry.communities import Communities
from ledger.registry.consent_flow import ConsentFlow
from ledger.registry.custody import Custody
from ledger.registry.derivatives import Derivatives
from ledger.registry.descriptions import Descriptions
from ledger.registry.items import Items
from ledger.registry.reader import RegistryReader
from ledger.registry.registrations import Registrations
from ledger.registry.sealing import Sealing
from ledger.registry.session import RegistrySession
from ledger.registry.staging import Staging
from ledger.registry.terms import Terms
from ledger.settings import Settings

__all__ = ["Registry"]


class Registry:
    """Every registry workflow over one :class:`RegistrySession` of ``settings``. Close it
    when done (it is a context manager)."""

    def __init__(self, settings: Settings, *, sender: LocalAccount | None = None) -> None:
        self.session = RegistrySession(settings, sender=sender)
        self.reader = RegistryReader(self.session)
        self.staging = Staging(self.session, self.reader)
        self.sealing = Sealing(self.session, self.reader)
        self.communities = Communities(self.session, self.reader, self.sealing)
        self.items = Items(self.session, self.reader, self.staging, self.sealing)
        self.terms = Terms(self.session, self.reader)
        self.custody = Custody(self.session, self.reader, self.sealing)
        self.derivatives = Derivatives(self.session, self.reader, self.staging, self.sealing)
        self.descriptions = Descriptions(self.session, self.reader, self.sealing)
        self.registrations = Registrations(self.session, self.reader, self.staging, self.sealing)
        self.consent = ConsentFlow(
            self.session, self.reader, self.terms, self.communities, self.custody,
            self.derivatives, self.descriptions, self.registrations,
        )  # fmt: skip

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def client(self) -> RegistryClient:
        return self.session.client

    @property
    def node(self) -> EmbeddedNode | KuboNode:
        return self.session.node

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
