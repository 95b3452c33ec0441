"""Tables of the stock flow."""
