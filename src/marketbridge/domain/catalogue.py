"""Pure rules of the catalogue flow (no I/O)."""
