"""Tables of the catalogue flow."""
