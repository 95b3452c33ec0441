"""Tables of the orders flow."""
