"""Pure rules of the stock flow (no I/O)."""
