"""A run's Notion 429s by what they paused: the connection, the workspace or one endpoint.

Each reason calls for a different fix (a plan with a larger budget, fewer integrations sharing the
workspace, another way to read), so the summary and the dashboard count them apart. The batches of a
run are separate tasks, so the counts add up in the run's row, as its other counters do.

Revision ID: 0004_rate_limits_by_reason
Revises: 0003_window_budget
Create Date: 2026-12-16
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_rate_limits_by_reason"
down_revision = "0003_window_budget"
branch_labels = None
depends_on = None

_COLUMNS = ("rate_limited_connection", "rate_limited_workspace", "rate_limited_endpoint")


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
