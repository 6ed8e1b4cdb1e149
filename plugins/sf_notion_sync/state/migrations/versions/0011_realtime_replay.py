"""The real-time lane's replay id per object, and its gaps (state/replay_ids.py, issue 16).

Revision ID: 0011_realtime_replay
Revises: 0010_notion_workspaces
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_realtime_replay"
down_revision = "0010_notion_workspaces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "realtime_replay",
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("replay_id", sa.String(128), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_gap_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_gap_reason", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("object_name", name="pk_realtime_replay"),
    )


def downgrade() -> None:
    op.drop_table("realtime_replay")
