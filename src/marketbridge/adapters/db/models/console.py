"""Tables of the console flow."""
