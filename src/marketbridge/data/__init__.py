"""Data files shipped with the package (see COMMON-PASSWORDS.md)."""
