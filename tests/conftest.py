"""Shared fixtures: a real Redis database, SQLite and PostgreSQL stores, and a tiny T5."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from config.settings import Settings, load_settings, set_active_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DIALOGSUM_DIR = Path(os.environ.get("RECAP_DIALOGSUM_DIR", REPO_ROOT.parent / "shared" / "data" / "dialogsum"))
# Each concurrently running test session may pick its own database with RECAP_TEST_REDIS_DB.
REDIS_DB = int(os.environ.get("RECAP_TEST_REDIS_DB", "15"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
POSTGRES_ADMIN_URL = os.environ.get("RECAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture(scope="session")
def dialogsum_dir() -> Path:
    if not (DIALOGSUM_DIR / "test.jsonl").exists():
        pytest.fail(f"DialogSum not found at {DIALOGSUM_DIR}; set RECAP_DIALOGSUM_DIR")
    return DIALOGSUM_DIR


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, dialogsum_dir: Path) -> Path:
    from worker.model.tiny import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("models") / "tiny-t5", dialogsum_dir=dialogsum_dir)


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    from worker.model.tiny import build_tiny_lora

    return build_tiny_lora(tiny_model, tmp_path_factory.mktemp("adapters") / "tiny-lora")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recap.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    from sqlalchemy import create_engine, text

    name = f"recap_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str, tiny_model: Path) -> Iterator[Settings]:
    """Active settings for one test: real Redis db, a fresh SQLite store, the tiny T5."""
    active = load_settings(
        redis_url=REDIS_URL, store_url=sqlite_url, model=str(tiny_model), max_new_tokens=16,
        slack_bot_token="xoxb-test", slack_signing_secret="secret", discord_token="discord-test",
    )
    set_active_settings(active)
    yield active
    set_active_settings(None)
