"""Heritage Ledger: contracts package (filled in by later issues)."""
