"""The write side of the ledger: registry workflows, each returning typed frozen results.

Each workflow checks its input, puts the documents it needs on IPFS, has keyholders sign
the action (EIP-712, :mod:`ledger.consent`) and relays it with a sender account that pays the
gas (:mod:`ledger.chain`). Nothing here knows about typer or rich, nor which account a local
chain offers: callers pass the sender, a :data:`Progress` callback, and format the results.

Modules::

    session       RegistrySession: deployment, chain client, sender, IPFS node, event index
    reader        RegistryReader: claims, batch membership, stewardship, envelopes (read-only;
                  what verification takes)
    signers       SignerKeys: the keyholder keys that sign
    results       the typed results (``to_json()`` is the CLI's ``--json``), Claim, Content
    inputs        the caller's files: paths, terms and method documents, checked
    staging       files added unpinned, sealed when the terms say so, pinned once checked
    sealing       envelopes: who items are sealed for, re-wrapping, decrypting
    communities   create, show, rotate (online and offline)
    items         register, register a batch, show, history
    terms         set, revoke, withdrawing public plaintext
    custody       transfer, repatriate, loan, return: one code path (online and offline)
    derivatives   derivatives with the parent steward's consent (online and offline)
    descriptions  descriptions on the record: read every version, correct (online and offline)
    consent_flow  offline terms requests, and submitting any signed request
    workflows     Registry: the session and one object per workflow
    listing       Listing: every community and claim with names, terms and titles (read-only;
                  ``heritage item list``, ``heritage community list``)
"""

from ledger.registry.communities import Communities
from ledger.registry.consent_flow import ConsentFlow, Submitted
from ledger.registry.custody import Custody
from ledger.registry.derivatives import Derivatives
from ledger.registry.descriptions import (
    Descriptions,
    DescriptionSet,
    DescriptionVersion,
    description_history,
    latest_description,
)
from ledger.registry.inputs import (
    catalog_files,
    check_paths,
    read_description,
    read_method_document,
    read_terms_document,
)
from ledger.registry.items import Items
from ledger.registry.reader import Manifest, RegistryReader
from ledger.registry.results import (
    BatchRegistration,
    Claim,
    CommunityView,
    Content,
    CustodyRecorded,
    DecryptedItem,
    DerivativeRegistration,
    ItemRegistration,
    ItemView,
    OtherClaim,
    RotationSubmitted,
    TermsConsentSubmitted,
    TermsRevoked,
    TermsSet,
    TxView,
    Withdrawal,
)
from ledger.registry.sealing import Sealing
from ledger.registry.session import CONSENT_REQUEST_SECONDS, DEADLINE_SECONDS, RegistrySession
from ledger.registry.signers import SignerKeys
from ledger.registry.staging import Prepared, Progress, Seal, Staging
from ledger.registry.terms import Terms
from ledger.registry.workflows import Registry

__all__ = [
    "CONSENT_REQUEST_SECONDS",
    "DEADLINE_SECONDS",
    "BatchRegistration",
    "Claim",
    "Communities",
    "CommunityView",
    "ConsentFlow",
    "Content",
    "Custody",
    "CustodyRecorded",
    "DecryptedItem",
    "DerivativeRegistration",
    "Derivatives",
    "DescriptionSet",
    "DescriptionVersion",
    "Descriptions",
    "ItemRegistration",
    "ItemView",
    "Items",
    "Manifest",
    "OtherClaim",
    "Prepared",
    "Progress",
    "Registry",
    "RegistryReader",
    "RegistrySession",
    "RotationSubmitted",
    "Seal",
    "Sealing",
    "SignerKeys",
    "Staging",
    "Submitted",
    "Terms",
    "TermsConsentSubmitted",
    "TermsRevoked",
    "TermsSet",
    "TxView",
    "Withdrawal",
    "catalog_files",
    "check_paths",
    "description_history",
    "latest_description",
    "read_description",
    "read_method_document",
    "read_terms_document",
]
