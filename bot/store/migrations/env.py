"""Alembic environment: runs on the connection `bot.store.schema` hands over (under its upgrade lock).

Run by hand (`alembic -c <ini>`), it falls back to `sqlalchemy.url` or RECAP_STORE_URL.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

import bot.store.adapters  # noqa: F401 - registers the adapter registry tables on Base
import bot.store.digest  # noqa: F401 - registers the digest tables on Base
from bot.store.models import Base

config = context.config


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("RECAP_STORE_URL", "sqlite:///recap.db")
    with create_engine(url).begin() as own_connection:
        _run(own_connection)
