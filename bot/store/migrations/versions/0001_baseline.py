"""Baseline: the store's schema exactly as `Base.metadata.create_all` made it at commit ed0bdf3.

A store created before migrations has these tables and no `alembic_version`: this revision then creates
only the tables it lacks (an older store may predate the digest tables) and leaves the others and their
rows as they are, which is what stamping the baseline would do, and a little more.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _summaries() -> None:
    op.create_table(
        "summaries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("thread", sa.String(64), nullable=True),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("adapter", sa.String(255), nullable=True),
        sa.Column("prompt_version", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("generation", sa.JSON(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("message_ref", sa.String(255), nullable=True),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_summaries_request_id", "summaries", ["request_id"], unique=True)
    op.create_index("ix_summaries_message_ref", "summaries", ["message_ref"])
    op.create_index("ix_summaries_platform", "summaries", ["platform"])
    op.create_index("ix_summaries_created_at", "summaries", ["created_at"])


def _workspace_settings() -> None:
    op.create_table(
        "workspace_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("share_dialogues", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("platform", "workspace", name="one_setting_row"),
    )


def _digest_schedules() -> None:
    op.create_table(
        "digest_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("channel_name", sa.String(255), nullable=False),
        sa.Column("target_channel", sa.String(64), nullable=False),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("window_hours", sa.Float(), nullable=False),
        sa.Column("min_messages", sa.Integer(), nullable=False),
        sa.Column("quiet_mode", sa.String(8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("enabled_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("platform", "channel", name="one_digest_schedule"),
    )


def _digest_runs() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("local_date", sa.String(10), nullable=False),
        sa.Column("scheduled_for", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("posted_refs", sa.JSON(), nullable=False),
        sa.Column("message_ref", sa.String(255), nullable=True),
        sa.Column("summary_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("platform", "channel", "local_date", name="one_digest_per_day"),
    )


def _feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("summary_id", sa.Integer(), sa.ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("voter_hash", sa.String(64), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("summary_id", "voter_hash", name="one_live_vote"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_index("ix_feedback_summary_id", "feedback", ["summary_id"])


def _summary_messages() -> None:
    op.create_table(
        "summary_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("summary_id", sa.Integer(), sa.ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("message_ref", sa.String(255), nullable=False),
        sa.UniqueConstraint("platform", "message_ref", name="one_summary_per_message"),
    )
    op.create_index("ix_summary_messages_summary_id", "summary_messages", ["summary_id"])


def _shared_dialogues() -> None:
    op.create_table(
        "shared_dialogues",
        sa.Column("summary_id", sa.Integer(), sa.ForeignKey("summaries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("dialogue", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_index("ix_shared_dialogues_expires_at", "shared_dialogues", ["expires_at"])


# In dependency order: the tables with foreign keys follow `summaries`.
TABLES: dict[str, Callable[[], None]] = {
    "summaries": _summaries, "workspace_settings": _workspace_settings, "digest_schedules": _digest_schedules,
    "digest_runs": _digest_runs, "feedback": _feedback, "summary_messages": _summary_messages,
    "shared_dialogues": _shared_dialogues,
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
