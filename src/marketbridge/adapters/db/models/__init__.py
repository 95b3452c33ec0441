"""adapters/db/models."""
