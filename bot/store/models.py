"""Tables. Dialogue text is stored only for workspaces that opted in to sharing it for training."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Summary(Base):
    __tablename__ = "summaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="summary")  # summary | digest
    platform: Mapped[str] = mapped_column(String(16), index=True)
    workspace: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(64), default="")
    thread: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requester: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(255))
    adapter: Mapped[str | None] = mapped_column(String(255), nullable=True)
    prompt_version: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text, default="")
    generation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    message_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # Per-job timings (revision 0002; none on older rows). generate_ms is this job's own share of its batch;
    # overhead_ms is everything the job spent except generating; latency_ms stays the whole generate call.
    queue_wait_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    generate_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overhead_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backend: Mapped[str | None] = mapped_column(String(32), nullable=True)  # transformers | ctranslate2
    compute_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # float32, int8...
    adapter_name: Mapped[str | None] = mapped_column(String(64), nullable=True)  # registry name that served it
    experiment_arm: Mapped[str | None] = mapped_column(String(16), nullable=True)  # control | candidate

    feedback: Mapped[list[Feedback]] = relationship(back_populates="summary", cascade="all, delete-orphan")


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("summary_id", "voter_hash", name="one_live_vote"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary_id: Mapped[int] = mapped_column(ForeignKey("summaries.id", ondelete="CASCADE"), index=True)
    voter_hash: Mapped[str] = mapped_column(String(64))
    rating: Mapped[int] = mapped_column(Integer)  # +1 or -1
    source: Mapped[str] = mapped_column(String(32), default="button")  # button | reaction | playground
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    summary: Mapped[Summary] = relationship(back_populates="feedback")


class SummaryMessage(Base):
    """Every message a summary was posted as: a long one is split, and a vote on any part counts.

    `Summary.message_ref` keeps the one message with the buttons; this table adds all the parts.
    """

    __tablename__ = "summary_messages"
    __table_args__ = (UniqueConstraint("platform", "message_ref", name="one_summary_per_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary_id: Mapped[int] = mapped_column(ForeignKey("summaries.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    message_ref: Mapped[str] = mapped_column(String(255))


class WorkspaceSetting(Base):
    """Per-workspace switches. Sharing dialogue text for training is off unless an admin turns it on."""

    __tablename__ = "workspace_settings"
    __table_args__ = (UniqueConstraint("platform", "workspace", name="one_setting_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))
    share_dialogues: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SharedDialogue(Base):
    """Dialogue text kept for training, only for opted-in workspaces and only until expires_at."""

    __tablename__ = "shared_dialogues"

    summary_id: Mapped[int] = mapped_column(ForeignKey("summaries.id", ondelete="CASCADE"), primary_key=True)
    dialogue: Mapped[str] = mapped_column(Text)
    # The model's output before names were restored: training pairs keep #PersonN# tags on both sides.
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class StoreMeta(Base):
    """Store-wide values that must outlive any process: the voter salt (revision 0002)."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
