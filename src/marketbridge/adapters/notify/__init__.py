"""Outbound notifications (alerts to people)."""
