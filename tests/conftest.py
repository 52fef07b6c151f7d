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
SHARED_DIALOGSUM = REPO_ROOT.parent / "shared" / "data" / "dialogsum"
HUB_DIALOGSUM = "knkarthick/dialogsum"
NO_DIALOGSUM = ("DialogSum not found: set RECAP_DIALOGSUM_DIR to a folder with train/validation/test.jsonl "
                f"(or put it at {SHARED_DIALOGSUM}, or go online so `datasets` can fetch {HUB_DIALOGSUM})")
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


def _is_dialogsum(folder: Path) -> bool:
    return all((folder / f"{split}.jsonl").is_file() for split in ("train", "validation", "test"))


def _from_hub(cache: Path) -> Path | None:
    """DialogSum through `datasets`, saved once as JSONL; None at once when the hub is unreachable."""
    if _is_dialogsum(cache):
        return cache
    from worker.model.loading import hub_reachable

    if not hub_reachable(timeout_s=2.0):
        return None
    from datasets import load_dataset

    cache.mkdir(parents=True, exist_ok=True)
    for split, rows in load_dataset(HUB_DIALOGSUM).items():
        rows.to_json(str(cache / f"{split}.jsonl"), lines=True, force_ascii=False)
    return cache if _is_dialogsum(cache) else None


def find_dialogsum() -> Path | None:
    """RECAP_DIALOGSUM_DIR, then ../shared/data/dialogsum beside the checkout, then the hub (online only)."""
    configured = os.environ.get("RECAP_DIALOGSUM_DIR")
    for folder in ([Path(configured)] if configured else []) + [SHARED_DIALOGSUM]:
        if _is_dialogsum(folder):
            return folder
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recap" / "dialogsum"
    return _from_hub(cache)


@pytest.fixture(scope="session")
def dialogsum_found() -> Path | None:
    return find_dialogsum()


@pytest.fixture(scope="session")
def dialogsum_dir(dialogsum_found: Path | None) -> Path:
    """Only tests about DialogSum itself ask for this; without the data set they are skipped, not failed."""
    if dialogsum_found is None:
        pytest.skip(NO_DIALOGSUM)
    return dialogsum_found


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, dialogsum_found: Path | None) -> Path:
    """Its tokenizer learns from DialogSum when present, else from chats the project generates."""
    from worker.model.tiny import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("models") / "tiny-t5", dialogsum_dir=dialogsum_found)


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    from worker.model.tiny import build_tiny_lora

    return build_tiny_lora(tiny_model, tmp_path_factory.mktemp("adapters") / "tiny-lora")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recap.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL store for this test session, at the head revision as `recap store upgrade` leaves it
    (services never create tables on PostgreSQL), dropped at the end."""
    from sqlalchemy import create_engine, text

    from bot.store.schema import upgrade_store

    name = f"recap_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade_store(url)
    yield url
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
