"""Opening the store: read-only commands, the voter salt, SQLite's WAL mode, faults that pass."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bot.store import Store, StoreError, StoreUnavailableError, store_for
from bot.store.schema import head_revision, upgrade_store
from config.settings import load_settings
from recap.cli import app

FIELDS = dict(platform="cli", model="m", prompt_version="v", text="t")


def test_read_only_open_of_a_missing_sqlite_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "recap.db"
    with pytest.raises(StoreError, match=r"no store at .*recap.db; run `recap store upgrade` or set RECAP_STORE_URL"):
        Store.open_existing(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="no store at"):
        store_for(load_settings(store_url=f"sqlite:///{path}"), create=False)
    assert not path.exists() and not path.parent.exists()


def test_read_only_open_reads_an_existing_store(sqlite_url: str) -> None:
    Store(sqlite_url).record_summary(request_id="cli:1", **FIELDS)
    assert [row.request_id for row in Store.open_existing(sqlite_url).recent_summaries()] == ["cli:1"]


def test_each_new_store_gets_its_own_random_voter_salt_and_keeps_it(tmp_path: Path) -> None:
    first, second = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    assert first.voter_salt != second.voter_salt
    assert "recap" not in (first.voter_salt, second.voter_salt) and len(first.voter_salt) == 32
    assert Store(f"sqlite:///{tmp_path / 'a.db'}").voter_salt == first.voter_salt
    summary_id = first.record_summary(request_id="cli:1", **FIELDS)
    first.record_vote(summary_id, "U1", 1)
    Store(f"sqlite:///{tmp_path / 'a.db'}").record_vote(summary_id, "U1", -1)  # a later process, the same voter
    assert [vote.rating for vote in first.votes(summary_id)] == [-1]


def test_an_explicit_voter_salt_wins(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAP_VOTER_SALT", "operator-secret")
    assert Store.from_settings(load_settings(store_url=sqlite_url)).voter_salt == "operator-secret"
    monkeypatch.delenv("RECAP_VOTER_SALT")
    stored = Store.from_settings(load_settings(store_url=sqlite_url)).voter_salt
    assert stored not in ("operator-secret", "recap")


def test_doctor_warns_while_the_old_default_salt_is_in_use(sqlite_url: str) -> None:
    env = {"RECAP_STORE_URL": sqlite_url, "RECAP_REDIS_URL": "redis://127.0.0.1:6379/3"}
    fresh = CliRunner().invoke(app, ["doctor", "--skip-model"], env=env)
    assert fresh.exit_code == 0 and "voter salt" not in fresh.output
    legacy = CliRunner().invoke(app, ["doctor", "--skip-model"], env={**env, "RECAP_VOTER_SALT": "recap"})
    assert legacy.exit_code == 0 and 'old default salt "recap"' in legacy.output and "RECAP_VOTER_SALT" in legacy.output


def test_doctor_fix_upgrades_an_old_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("CREATE TABLE summaries (id INTEGER PRIMARY KEY)").connection.close()
    env = {"RECAP_STORE_URL": f"sqlite:///{path}", "RECAP_REDIS_URL": "redis://127.0.0.1:6379/3"}
    check = CliRunner().invoke(app, ["doctor", "--skip-model"], env=env)
    assert check.exit_code == 1 and "recap store upgrade" in check.output
    fixed = CliRunner().invoke(app, ["doctor", "--skip-model", "--fix"], env=env)
    assert fixed.exit_code == 0, fixed.output
    assert f"store: tables ready at revision {head_revision()}" in fixed.output


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    store = Store(sqlite_url, busy_timeout_s=3)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000


def test_a_locked_sqlite_store_is_a_fault_that_passes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    store = Store(url, busy_timeout_s=0.2)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past our busy timeout
    try:
        with pytest.raises(StoreUnavailableError, match="unavailable right now: database is locked"):
            store.record_summary(request_id="cli:1", **FIELDS)
    finally:
        holder.execute("ROLLBACK")
    assert store.record_summary(request_id="cli:1", **FIELDS) > 0  # once the lock is gone, the same call works


def test_an_unreachable_postgresql_is_a_fault_that_passes() -> None:
    with pytest.raises(StoreUnavailableError, match="unavailable right now"):
        Store("postgresql+psycopg://postgres:pw@127.0.0.1:1/recap")


def test_a_serialization_failure_is_a_fault_that_passes(postgres_url: str) -> None:
    upgrade_store(postgres_url)
    store, other = Store(postgres_url), Store(postgres_url)
    summary_id = store.record_summary(request_id="cli:serial", **FIELDS)
    with pytest.raises(StoreUnavailableError, match="serialize"):
        with store.session() as first:
            first.connection(execution_options={"isolation_level": "SERIALIZABLE"})
            first.execute(text("SELECT text FROM summaries WHERE id = :i"), {"i": summary_id})
            with other.session() as second:
                second.execute(text("UPDATE summaries SET text = 'b' WHERE id = :i"),
                               {"i": summary_id})
            first.execute(text("UPDATE summaries SET text = 'a' WHERE id = :i"),
                          {"i": summary_id})
