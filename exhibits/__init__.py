"""Heritage Ledger: exhibits package (filled in by later issues)."""
