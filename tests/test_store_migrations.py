"""Schema migrations: new stores, stores from before migrations (commit ed0bdf3), concurrent upgrades."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from bot.store import Base, Store, StoreError, hash_voter
from bot.store.schema import BASELINE, alembic_config, head_revision, make_engine, upgrade_store
from recap.cli import app

SAMPLES = Path(__file__).parent / "samples"
ADMIN_URL = os.environ.get("RECAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of its own, with no tables."""
    name = f"recap_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def legacy_store(url: str, dialect: str) -> None:
    """A store exactly as `create_all` made it at ed0bdf3, with a summary and a vote in it."""
    script = (SAMPLES / f"store_ed0bdf3.{dialect}.sql").read_text()
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in (part.strip() for part in script.split(";")):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                conn.exec_driver_sql(body)
        now = datetime.now(UTC)
        conn.execute(text(
            "INSERT INTO summaries (request_id, kind, platform, workspace, channel, requester, model, prompt_version,"
            " prompt, generation, input_tokens, output_tokens, message_count, latency_ms, text, public, created_at)"
            " VALUES ('slack:T1:old', 'summary', 'slack', 'T1', 'C1', 'U1', 'm', 'v1', 'p', '{}', 10, 5, 2, 99,"
            " 'An old summary.', false, :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO feedback (summary_id, voter_hash, rating, source, created_at, updated_at)"
            " SELECT id, :hash, 1, 'button', :now, :now FROM summaries"),
            {"hash": hash_voter("U1", "recap"), "now": now})
    engine.dispose()


def schema_of(url: str) -> dict[str, object]:
    engine = create_engine(url)
    inspector = inspect(engine)
    shape = {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)),
        )
        for table in inspector.get_table_names() if table != "alembic_version"
    }
    engine.dispose()
    return shape


def test_a_new_sqlite_store_is_created_by_the_migrations(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    assert store.revision == head_revision()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_the_baseline_is_the_schema_of_ed0bdf3(tmp_path: Path) -> None:
    legacy_url, baseline_url = f"sqlite:///{tmp_path / 'legacy.db'}", f"sqlite:///{tmp_path / 'baseline.db'}"
    legacy_store(legacy_url, "sqlite")
    engine = make_engine(baseline_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)
    engine.dispose()
    assert schema_of(baseline_url) == schema_of(legacy_url)


def test_head_matches_the_models_on_postgresql(fresh_postgres: str) -> None:
    assert upgrade_store(fresh_postgres) == (None, head_revision())
    engine = create_engine(fresh_postgres)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_services_do_not_create_tables_on_postgresql_and_name_the_command(fresh_postgres: str) -> None:
    with pytest.raises(StoreError, match="recap store upgrade"):
        Store(fresh_postgres)
    engine = create_engine(fresh_postgres)
    assert inspect(engine).get_table_names() == []
    engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_store_from_before_migrations_upgrades_in_place_with_its_rows(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if dialect == "sqlite" else request.getfixturevalue("fresh_postgres")
    legacy_store(url, dialect)
    with pytest.raises(StoreError, match="created before schema migrations.*recap store upgrade"):
        Store(url)
    result = CliRunner().invoke(app, ["store", "upgrade"], env={"RECAP_STORE_URL": url})
    assert result.exit_code == 0, result.output
    assert f"upgraded from no revision to revision {head_revision()}" in result.output
    store = Store(url)
    [row] = store.recent_summaries()
    assert (row.request_id, row.text, row.latency_ms, row.generate_ms) == ("slack:T1:old", "An old summary.", 99, None)
    # The old votes were hashed with the constant salt: the store keeps it, so a voter's change of mind still
    # replaces their vote instead of adding a second one, and doctor warns.
    assert store.uses_legacy_salt()
    store.record_vote(row.id, "U1", -1)
    assert [vote.rating for vote in store.votes(row.id)] == [-1]


def test_upgrade_prints_the_store_without_its_password(fresh_postgres: str) -> None:
    with_password = fresh_postgres.replace("postgres@", "postgres:hunter2@")
    result = CliRunner().invoke(app, ["store", "upgrade"], env={"RECAP_STORE_URL": with_password})
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "postgres:***@" in result.output and head_revision() in result.output


def _at_once(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.slow
def test_five_processes_upgrading_one_new_postgresql_store_at_once(fresh_postgres: str) -> None:
    env = {**os.environ, "RECAP_STORE_URL": fresh_postgres}
    results = _at_once([[sys.executable, "-m", "recap", "store", "upgrade"]] * 5, env)
    assert [r.returncode for r in results] == [0] * 5, [r.stderr for r in results]
    assert sum("upgraded from no revision" in r.stdout for r in results) == 1
    engine = create_engine(fresh_postgres)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    engine.dispose()


OPEN_AND_WRITE = """
import sys
from bot.store import Store
store = Store(sys.argv[1])
store.record_summary(request_id=sys.argv[2], platform="cli", model="m", prompt_version="v", text="t")
"""


@pytest.mark.slow
def test_five_processes_opening_one_new_sqlite_store_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    results = _at_once([[sys.executable, "-c", OPEN_AND_WRITE, url, f"cli:{n}"] for n in range(5)], dict(os.environ))
    assert [r.returncode for r in results] == [0] * 5, [r.stderr for r in results]
    assert len(Store(url).recent_summaries()) == 5
    assert sqlite3.connect(tmp_path / "new.db").execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_a_store_at_an_older_revision_names_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'older.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)
    engine.dispose()
    with pytest.raises(StoreError, match=f"at revision {BASELINE}; this version of Recap needs {head_revision()}: "
                                         "run `recap store upgrade`"):
        Store(url)


def test_upgrade_of_an_unreachable_store_exits_2_without_a_traceback() -> None:
    env = {**os.environ, "RECAP_STORE_URL": "postgresql+psycopg://postgres:secret@127.0.0.1:1/recap"}
    done = subprocess.run([sys.executable, "-m", "recap", "store", "upgrade"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "Cannot upgrade the store at RECAP_STORE_URL (postgresql+psycopg://postgres:***@127.0.0.1:1/recap)" in (
        done.stderr)
    assert "Traceback" not in done.stderr and "secret" not in done.stderr
