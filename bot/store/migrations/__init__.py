"""Alembic migrations of the store's schema (run by `recap store upgrade`; see bot.store.schema)."""
