"""Heritage Ledger: api package (filled in by later issues)."""
