"""The store's schema: created and upgraded with Alembic, one process at a time, checked at start-up.

Services never create tables: they check the revision and name the command to run. Only a new SQLite
file (a first `recap demo`) is created on the spot, through the same migrations. Concurrent upgrades
(five containers starting at once) queue on a PostgreSQL advisory lock, or a lock file beside SQLite.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

# Alembic logs its plugin set-up (on import) and its context on every check at INFO; our commands print
# what matters, so only its warnings reach the log.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.store.errors import StoreError, StoreUnavailableError, is_transient, safe_url  # noqa: E402

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
# pg_advisory_xact_lock key for upgrades: "RECAP" in ASCII, so it is recognisable in pg_locks.
UPGRADE_LOCK_KEY = 0x5245434150
UPGRADE_HINT = "run `recap store upgrade` (or `recap doctor --fix`)"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, *, busy_timeout_s: float = 10.0) -> Engine:
    """An engine for the store. SQLite runs in WAL mode with a busy timeout, so readers never block the
    writer and a write burst waits for the lock instead of failing with "database is locked"."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, pool_pre_ping=True,
                           connect_args={"check_same_thread": False, "timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    return engine


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def has_tables(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(inspect(connection).get_table_names())


@contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the store's upgrade lock until it commits."""
    path = sqlite_file(str(engine.url))
    if path is None:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
            yield connection
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        with engine.begin() as connection:
            yield connection


def upgrade_engine(engine: Engine) -> tuple[str | None, str]:
    """Bring the store to the head revision; returns (revision before, revision after).

    A store from before migrations has the baseline's tables and no `alembic_version`: the baseline then
    creates only what is missing, so its rows stay where they are."""
    with _upgrade_lock(engine) as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        if before != head_revision():
            command.upgrade(alembic_config(connection), "head")
    return before, head_revision()


def upgrade_store(url: str) -> tuple[str | None, str]:
    """`recap store upgrade`: create or upgrade the store at ``url``."""
    engine = make_engine(url)
    try:
        return upgrade_engine(engine)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver error means the same to the operator
        kind = StoreUnavailableError if is_transient(exc) else StoreError
        raise kind(f"Cannot upgrade the store at RECAP_STORE_URL ({safe_url(url)}): {exc}") from exc
    finally:
        engine.dispose()


def revision_problem(revision: str | None, tables: bool, url: str) -> str | None:
    """Why a store at ``revision`` cannot be used by this code, or None when it is at the head."""
    head = head_revision()
    where = f"The store at {safe_url(url)}"
    if revision == head:
        return None
    if revision is None and not tables:
        return f"{where} has no tables yet; {UPGRADE_HINT} to create them (revision {head})."
    if revision is None:
        return f"{where} was created before schema migrations; {UPGRADE_HINT} to bring it to revision {head}."
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision not in known:
        return f"{where} is at revision {revision}, newer than this version of Recap knows ({head}). Update Recap."
    return f"{where} is at revision {revision}; this version of Recap needs {head}: {UPGRADE_HINT}."


def check_revision(engine: Engine, url: str) -> None:
    """Raise StoreError naming `recap store upgrade` unless the store is at the head revision."""
    problem = _problem(engine, url)
    if problem is not None and sqlite_file(url) is not None:
        # SQLite commits DDL as it goes: another process may be half-way through creating this file's schema.
        with _upgrade_lock(engine):
            pass
        problem = _problem(engine, url)
    if problem is not None:
        raise StoreError(problem)


def _problem(engine: Engine, url: str) -> str | None:
    revision = current_revision(engine)
    return revision_problem(revision, revision is not None or has_tables(engine), url)
