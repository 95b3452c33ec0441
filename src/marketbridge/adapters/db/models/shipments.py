"""Tables of the shipments flow."""
