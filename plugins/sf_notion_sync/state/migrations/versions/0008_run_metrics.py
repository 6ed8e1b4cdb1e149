"""Run metrics for the operator's view: per-minute throughput of each run, lossy changes per record,
and what each object's last preflight saw of its Notion data source (state/run_metrics.py).

Revision ID: 0008_run_metrics
Revises: 0007_dashboard_log_indexes
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_run_metrics"
down_revision = "0007_dashboard_log_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    zero = {"nullable": False, "server_default": sa.text("0")}
    op.create_table(
        "sync_run_minute",
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("records", sa.Integer(), **zero),
        sa.Column("notion_requests", sa.Integer(), **zero),
        sa.Column("rate_limited_429s", sa.Integer(), **zero),
        sa.Column("budget_rps", sa.Double(), nullable=True),
        sa.Column("budget_key", sa.String(128), nullable=True),
        sa.Column("workspace_key", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "minute", name="pk_sync_run_minute"),
    )
    op.create_index("ix_sync_run_minute_minute", "sync_run_minute", ["minute"])
    op.create_table(
        "sync_lossy_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("sf_id", sa.String(18), nullable=False),
        sa.Column("property_name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_lossy_change"),
    )
    op.create_index("ix_sync_lossy_change_run_id_property_name_kind", "sync_lossy_change",
                    ["run_id", "property_name", "kind"])
    op.create_table(
        "preflight_schema",
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("data_source_id", sa.String(64), nullable=True),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_name", name="pk_preflight_schema"),
    )


def downgrade() -> None:
    op.drop_table("preflight_schema")
    op.drop_index("ix_sync_lossy_change_run_id_property_name_kind", table_name="sync_lossy_change")
    op.drop_table("sync_lossy_change")
    op.drop_index("ix_sync_run_minute_minute", table_name="sync_run_minute")
    op.drop_table("sync_run_minute")
