"""Heritage Ledger core: content addressing, rights, consent, chain client, index, verify."""

__version__ = "0.1.0"
