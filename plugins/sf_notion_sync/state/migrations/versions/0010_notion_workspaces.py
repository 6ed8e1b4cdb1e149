"""Notion workspaces: each connection's workspace, and a workspace's learned limit (state/workspaces.py, issue 17).

Revision ID: 0010_notion_workspaces
Revises: 0009_batch_checkpoint
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_notion_workspaces"
down_revision = "0009_batch_checkpoint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notion_connection_workspace",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_notion_connection_workspace"),
    )
    op.create_table(
        "notion_workspace_limit",
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limited", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("workspace", name="pk_notion_workspace_limit"),
    )


def downgrade() -> None:
    op.drop_table("notion_workspace_limit")
    op.drop_table("notion_connection_workspace")
