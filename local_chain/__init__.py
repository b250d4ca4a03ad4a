"""Heritage Ledger: local_chain package (filled in by later issues)."""
