"""Indexes for the dashboard's reads of sync_log at a million rows.

The dashboard counts sync_log by object and status (and its dedupe rows) in one pass, which the covering
index (object_name, status, operation) answers without reading the table; its newest open rows come
from a partial index on (updated_at, id) over the open rows, instead of sorting every open row. At
1,000,000 rows (benchmarks/bench_scale.py) both reads took over 1 s on SQLite.

Revision ID: 0007_dashboard_log_indexes
Revises: 0005_staging_one_row_per_id
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_dashboard_log_indexes"
down_revision = "0005_staging_one_row_per_id"
branch_labels = None
depends_on = None

_COUNTS = "ix_sync_log_object_name_status_operation"
_OPEN = "ix_sync_log_open_updated"
_OPEN_WHERE = sa.text("status <> 'Success'")


def upgrade() -> None:
    op.create_index(_COUNTS, "sync_log", ["object_name", "status", "operation"])
    op.create_index(_OPEN, "sync_log", ["updated_at", "id"], sqlite_where=_OPEN_WHERE, postgresql_where=_OPEN_WHERE)


def downgrade() -> None:
    op.drop_index(_OPEN, table_name="sync_log")
    op.drop_index(_COUNTS, table_name="sync_log")
