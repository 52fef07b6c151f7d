"""`recap store upgrade`: create or upgrade the store's schema (Alembic), then say where and at which revision.

A module of its own, outside `bot.store`, so that `recap --help` does not import SQLAlchemy and Alembic.
"""

from __future__ import annotations

import typer


def upgrade_command() -> None:
    """Create the store's tables or bring them to the latest revision (safe to run from several processes)."""
    from bot.store.errors import safe_url
    from bot.store.schema import upgrade_store
    from config.settings import load_settings

    url = load_settings().store_url
    before, after = upgrade_store(url)
    if before == after:
        typer.echo(f"Store {safe_url(url)} is at revision {after} (up to date).")
    else:
        typer.echo(f"Store {safe_url(url)} upgraded from {before or 'no revision'} to revision {after}.")
