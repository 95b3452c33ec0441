"""Tables of the refunds flow."""
