"""sandbox/mirakl."""
