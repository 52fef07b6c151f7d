"""The adapter registry, its assignments and experiments, and which adapter and arm served each summary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "adapters", _id(),
        sa.Column("name", sa.String(64), nullable=False), sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("base_model", sa.String(255), nullable=False), sa.Column("prompt_name", sa.String(64)),
        sa.Column("prompt_template", sa.Text()), sa.Column("generation", sa.JSON(), nullable=False),
        sa.Column("gate", sa.JSON()), sa.Column("state", sa.String(16), nullable=False),
        _at("created_at"), _at("updated_at"),
    )
    op.create_index("ix_adapters_name", "adapters", ["name"], unique=True)
    op.create_index("ix_adapters_base_model", "adapters", ["base_model"])
    op.create_table(
        "adapter_events", _id(),
        sa.Column("adapter_name", sa.String(64), nullable=False), sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text()), sa.Column("detail", sa.JSON(), nullable=False), _at("created_at"),
    )
    op.create_index("ix_adapter_events_adapter_name", "adapter_events", ["adapter_name"])
    op.create_table(
        "adapter_assignments", _id(),
        sa.Column("platform", sa.String(16), nullable=False), sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False), sa.Column("adapter_name", sa.String(64), nullable=False),
        _at("updated_at"),
        sa.UniqueConstraint("platform", "workspace", "channel", name="one_adapter_per_scope"),
    )
    op.create_index("ix_adapter_assignments_adapter_name", "adapter_assignments", ["adapter_name"])
    op.create_table(
        "adapter_experiments", _id(),
        sa.Column("name", sa.String(64), nullable=False), sa.Column("control", sa.String(64), nullable=False),
        sa.Column("candidate", sa.String(64), nullable=False), sa.Column("share", sa.Float(), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False), sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False), sa.Column("auto_stop", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False), sa.Column("stop_reason", sa.Text()),
        _at("started_at"), _at("stopped_at", nullable=True),
    )
    op.create_index("ix_adapter_experiments_name", "adapter_experiments", ["name"], unique=True)
    op.create_table(
        "adapter_requests", _id(),
        sa.Column("request_id", sa.String(255), nullable=False), sa.Column("adapter_name", sa.String(64)),
        sa.Column("experiment", sa.String(64)), sa.Column("arm", sa.String(16)), sa.Column("served_by", sa.String(64)),
        _at("created_at"),
    )
    op.create_index("ix_adapter_requests_request_id", "adapter_requests", ["request_id"], unique=True)
    op.create_index("ix_adapter_requests_experiment", "adapter_requests", ["experiment"])
    op.add_column("summaries", sa.Column("adapter_name", sa.String(64), nullable=True))
    op.add_column("summaries", sa.Column("experiment_arm", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("summaries") as batch:
        batch.drop_column("experiment_arm")
        batch.drop_column("adapter_name")
    for table in ("adapter_requests", "adapter_experiments", "adapter_assignments", "adapter_events", "adapters"):
        op.drop_table(table)
