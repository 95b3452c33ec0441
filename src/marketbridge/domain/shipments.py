"""Pure rules of the shipments flow (no I/O)."""
