"""adapters/db."""
