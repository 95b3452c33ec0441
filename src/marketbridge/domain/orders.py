"""Pure rules of the orders flow (no I/O)."""
