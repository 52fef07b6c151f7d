"""The store: summaries, feedback and workspace settings, on SQLite or PostgreSQL."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.store import schema
from bot.store.errors import StoreError, StoreUnavailableError, is_transient, safe_url, unavailable
from bot.store.models import Feedback, SharedDialogue, StoreMeta, Summary, SummaryMessage, WorkspaceSetting, utcnow

__all__ = ["SharedExample", "Store", "StoreError", "StoreUnavailableError", "hash_voter", "store_for"]

# The salt every store used before salts were kept in the store; doctor warns while it is in use.
LEGACY_VOTER_SALT = "recap"
SALT_KEY = "voter_salt"


@dataclass(frozen=True)
class SharedExample:
    summary_id: int
    platform: str
    workspace: str
    dialogue: str
    summary: str
    rating: int


def hash_voter(voter: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{voter}".encode()).hexdigest()[:40]


def no_store_message(url: str) -> str:
    return f"no store at {schema.sqlite_file(url)}; run `recap store upgrade` or set RECAP_STORE_URL"


class Store:
    """One database. Opening it checks the schema revision; only a new SQLite file is created here (with
    the migrations), and only when ``create`` is true: read-only commands pass False and get a StoreError.

    ``voter_salt`` None means the store's own salt, generated at random on first use and kept in the store.
    """

    def __init__(self, url: str, *, retention_days: int = 30, voter_salt: str | None = None,
                 create: bool = True, busy_timeout_s: float = 10.0) -> None:
        self.url = url
        self.retention_days = retention_days
        self._voter_salt = voter_salt
        self.engine = schema.make_engine(url, busy_timeout_s=busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._open_schema(create)
        except StoreError:
            self.engine.dispose()
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error means the same to the user
            self.engine.dispose()
            if is_transient(exc):
                raise unavailable(exc, url) from exc
            raise StoreError(f"Cannot open the store at RECAP_STORE_URL ({safe_url(url)}): {exc}") from exc

    def _open_schema(self, create: bool) -> None:
        path = schema.sqlite_file(self.url)
        if path is not None and not path.exists():
            if not create:
                raise StoreError(no_store_message(self.url))
            schema.upgrade_engine(self.engine)  # a new SQLite file: created by the migrations
            return
        if self.url.startswith("sqlite") and create and not schema.has_tables(self.engine):
            schema.upgrade_engine(self.engine)  # an empty SQLite file or an in-memory database
            return
        schema.check_revision(self.engine, self.url)

    @property
    def revision(self) -> str | None:
        return schema.current_revision(self.engine)

    @property
    def display_url(self) -> str:
        """The URL without its password: commands that read the store say which one they read."""
        return safe_url(self.url)

    @classmethod
    def open_existing(cls, url: str, **options: Any) -> Store:
        """Open a store that must already exist (read-only commands): never creates a SQLite file."""
        return cls(url, create=False, **options)

    @classmethod
    def from_settings(cls, settings: Any, *, create: bool = True) -> Store:
        return cls(settings.store_url, retention_days=settings.retention_days, voter_salt=explicit_salt(settings),
                   create=create, busy_timeout_s=getattr(settings, "store_busy_timeout_s", 10.0))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; faults that pass come out as StoreUnavailableError (retry), others unchanged."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise unavailable(exc, self.url) from exc
            raise

    # The voter salt

    @property
    def voter_salt(self) -> str:
        """RECAP_VOTER_SALT when set explicitly, else the store's own (random, made on first use)."""
        if self._voter_salt is None:
            self._voter_salt = self.stored_salt()
        return self._voter_salt

    def stored_salt(self) -> str:
        with self.session() as session:
            row = session.get(StoreMeta, SALT_KEY)
            if row is not None:
                return row.value
        try:
            with self.session() as session:
                session.add(StoreMeta(key=SALT_KEY, value=secrets.token_hex(16)))
        except IntegrityError:
            pass  # another process made it first: use theirs
        with self.session() as session:
            row = session.get(StoreMeta, SALT_KEY)
            assert row is not None
            return row.value

    def uses_legacy_salt(self) -> bool:
        """True while voter hashes use the old constant salt (doctor warns)."""
        return self.voter_salt == LEGACY_VOTER_SALT

    # Summaries

    def record_summary(self, **fields: Any) -> int:
        """Insert a summary row; the same request_id twice returns the existing row's id."""
        existing = self.get_summary_by_request(fields["request_id"])
        if existing is not None:
            return existing.id
        try:
            with self.session() as session:
                row = Summary(**fields)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            again = self.get_summary_by_request(fields["request_id"])
            if again is None:
                raise
            return again.id

    def get_summary(self, summary_id: int) -> Summary | None:
        with self.session() as session:
            return session.get(Summary, summary_id)

    def get_summary_by_request(self, request_id: str) -> Summary | None:
        with self.session() as session:
            return session.scalar(select(Summary).where(Summary.request_id == request_id))

    def mark_delivered(self, summary_id: int, message_ref: str | None) -> None:
        with self.session() as session:
            row = session.get(Summary, summary_id)
            if row is not None:
                row.delivered_at = utcnow()
                row.message_ref = message_ref

    def record_timings(self, summary_id: int, **timings: int | None) -> None:
        """Timings measured after the row was written (delivery_ms, overhead_ms)."""
        with self.session() as session:
            session.execute(update(Summary).where(Summary.id == summary_id).values(**timings))

    def find_summary_by_message(self, platform: str, message_ref: str) -> Summary | None:
        with self.session() as session:
            query = select(Summary).where(Summary.platform == platform, Summary.message_ref == message_ref)
            return session.scalar(query)

    def add_message_refs(self, summary_id: int, platform: str, refs: Iterable[str]) -> None:
        """Remember every message a summary was posted as (idempotent), for `find_summary_by_part`."""
        with self.session() as session:
            known = set(
                session.scalars(select(SummaryMessage.message_ref).where(SummaryMessage.summary_id == summary_id))
            )
            session.add_all(
                SummaryMessage(summary_id=summary_id, platform=platform, message_ref=ref)
                for ref in dict.fromkeys(refs)
                if ref not in known
            )

    def find_summary_by_part(self, platform: str, message_ref: str) -> Summary | None:
        """The summary that any of its posted parts (see `add_message_refs`) belongs to."""
        with self.session() as session:
            query = (
                select(Summary)
                .join(SummaryMessage, SummaryMessage.summary_id == Summary.id)
                .where(SummaryMessage.platform == platform, SummaryMessage.message_ref == message_ref)
            )
            return session.scalar(query)

    def recent_summaries(self, limit: int = 1000) -> list[Summary]:
        with self.session() as session:
            return list(session.scalars(select(Summary).order_by(Summary.created_at.desc()).limit(limit)))

    # Feedback

    def record_vote(self, summary_id: int, voter: str, rating: int | None, source: str = "button") -> None:
        """One live vote per voter: a new vote replaces the old one, None withdraws it."""
        if rating not in (1, -1, None):
            raise ValueError(f"rating must be 1, -1 or None, got {rating!r}")
        voter_hash = hash_voter(voter, self.voter_salt)
        with self.session() as session:
            current = session.scalar(
                select(Feedback).where(Feedback.summary_id == summary_id, Feedback.voter_hash == voter_hash)
            )
            if rating is None:
                if current is not None:
                    session.delete(current)
                return
            if current is None:
                session.add(Feedback(summary_id=summary_id, voter_hash=voter_hash, rating=rating, source=source))
            else:
                current.rating, current.source, current.updated_at = rating, source, utcnow()

    def withdraw_vote(self, summary_id: int, voter: str, rating: int) -> None:
        """Remove a vote only if it is still the given rating (a removed 👍 must not drop a later 👎)."""
        voter_hash = hash_voter(voter, self.voter_salt)
        with self.session() as session:
            session.execute(
                delete(Feedback).where(
                    Feedback.summary_id == summary_id, Feedback.voter_hash == voter_hash, Feedback.rating == rating
                )
            )

    def votes(self, summary_id: int) -> list[Feedback]:
        with self.session() as session:
            return list(session.scalars(select(Feedback).where(Feedback.summary_id == summary_id)))

    def all_feedback(self) -> list[tuple[Feedback, Summary]]:
        with self.session() as session:
            rows = session.execute(select(Feedback, Summary).join(Summary, Feedback.summary_id == Summary.id))
            return [(fb, summary) for fb, summary in rows]

    # Sharing for training (opt-in)

    def set_sharing(self, platform: str, workspace: str, enabled: bool) -> None:
        with self.session() as session:
            row = session.scalar(
                select(WorkspaceSetting).where(
                    WorkspaceSetting.platform == platform, WorkspaceSetting.workspace == workspace
                )
            )
            if row is None:
                session.add(WorkspaceSetting(platform=platform, workspace=workspace, share_dialogues=enabled))
            else:
                row.share_dialogues, row.updated_at = enabled, utcnow()

    def sharing_enabled(self, platform: str, workspace: str) -> bool:
        with self.session() as session:
            value = session.scalar(
                select(WorkspaceSetting.share_dialogues).where(
                    WorkspaceSetting.platform == platform, WorkspaceSetting.workspace == workspace
                )
            )
            return bool(value)

    def keep_dialogue(
        self, summary_id: int, platform: str, workspace: str, dialogue: str, summary: str | None = None
    ) -> bool:
        """Keep dialogue text (and the tagged model output) for training, only where the workspace opted in."""
        if not self.sharing_enabled(platform, workspace):
            return False
        expires = utcnow() + timedelta(days=self.retention_days)
        with self.session() as session:
            if session.get(SharedDialogue, summary_id) is None:
                session.add(
                    SharedDialogue(summary_id=summary_id, dialogue=dialogue, summary=summary, expires_at=expires)
                )
        return True

    def shared_examples(self, rating: int = 1) -> list[SharedExample]:
        """Pairs whose votes net out to ``rating`` (👍 beats 👎 for 1), in workspaces that still opt in."""
        net = func.sum(Feedback.rating)
        query = (
            select(Summary, SharedDialogue, net)
            .join(SharedDialogue, SharedDialogue.summary_id == Summary.id)
            .join(Feedback, Feedback.summary_id == Summary.id)
            .join(
                WorkspaceSetting,
                (WorkspaceSetting.platform == Summary.platform) & (WorkspaceSetting.workspace == Summary.workspace),
            )
            .where(WorkspaceSetting.share_dialogues.is_(True), SharedDialogue.expires_at > utcnow())
            .group_by(Summary.id, SharedDialogue.summary_id)
            .having(net * rating > 0)
        )
        with self.session() as session:
            return [
                SharedExample(summary.id, summary.platform, summary.workspace, shared.dialogue,
                              shared.summary or summary.text, rating)
                for summary, shared, _ in session.execute(query)
            ]

    # Retention

    def purge(self, now: datetime | None = None) -> int:
        """Delete summaries (and their feedback and kept dialogues) older than the retention period."""
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(days=self.retention_days)
        with self.session() as session:
            session.execute(delete(SharedDialogue).where(SharedDialogue.expires_at <= now))
            old_ids = list(session.scalars(select(Summary.id).where(Summary.created_at < cutoff)))
            if old_ids:
                session.execute(delete(Feedback).where(Feedback.summary_id.in_(old_ids)))
                session.execute(delete(SharedDialogue).where(SharedDialogue.summary_id.in_(old_ids)))
                session.execute(delete(SummaryMessage).where(SummaryMessage.summary_id.in_(old_ids)))
                session.execute(delete(Summary).where(Summary.id.in_(old_ids)))
        from bot.adapters.experiments import Experiments

        Experiments(self).purge(now)  # experiment routes go with the summaries they routed
        return len(old_ids)


def explicit_salt(settings: Any) -> str | None:
    """RECAP_VOTER_SALT if it was set (it then wins over the store's salt), else None."""
    if "voter_salt" not in getattr(settings, "model_fields_set", {"voter_salt"}):
        return None
    return settings.voter_salt.get_secret_value()


@lru_cache(maxsize=4)
def _cached_store(url: str, retention_days: int, salt: str | None, busy_timeout_s: float) -> Store:
    return Store(url, retention_days=retention_days, voter_salt=salt, busy_timeout_s=busy_timeout_s)


def store_for(settings: Any, *, create: bool = True) -> Store:
    """One Store (engine and connection pool) per process and URL, shared by jobs, deliverers and bots.

    With ``create=False`` (read-only commands) a missing SQLite file is a StoreError, never a new store."""
    if not create:
        schema_path = schema.sqlite_file(settings.store_url)
        if schema_path is not None and not schema_path.exists():
            raise StoreError(no_store_message(settings.store_url))
    return _cached_store(settings.store_url, settings.retention_days, explicit_salt(settings),
                         getattr(settings, "store_busy_timeout_s", 10.0))
