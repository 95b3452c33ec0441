"""Pure rules of the refunds flow (no I/O)."""
