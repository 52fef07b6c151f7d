"""Per-job timings, the backend that answered, and a key/value table for store-wide values (the voter salt).

The timing columns are nullable: rows from before this revision have none. A store that already holds
votes keeps "recap" as its voter salt, so the voter hashes it holds still match; doctor warns about it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMING_COLUMNS = ("queue_wait_ms", "generate_ms", "delivery_ms", "overhead_ms")
LEGACY_SALT = "recap"


def upgrade() -> None:
    for name in TIMING_COLUMNS:
        op.add_column("summaries", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column("summaries", sa.Column("backend", sa.String(32), nullable=True))
    op.add_column("summaries", sa.Column("compute_type", sa.String(32), nullable=True))
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().execute(sa.text("SELECT 1 FROM feedback LIMIT 1")).first() is not None:
        op.bulk_insert(meta, [{"key": "voter_salt", "value": LEGACY_SALT, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("store_meta")
    with op.batch_alter_table("summaries") as batch:
        for name in (*TIMING_COLUMNS, "backend", "compute_type"):
            batch.drop_column(name)
