"""web/routers."""
