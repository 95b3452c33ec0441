"""adapters/mirakl."""
