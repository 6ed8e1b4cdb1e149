"""The Notion budget per window: the sliding log of each budget key's latest reservations.

Notion counts requests per connection in 60-second windows ("Request limits"); the limiter keeps the
slots of the last ``requests`` reservations (JSON text) to promise that no window-length span holds
more than the budget. Rows written before have none: their first reservation starts an empty log.

Revision ID: 0003_window_budget
Revises: 0002_exactly_once_counters
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_window_budget"
down_revision = "0002_exactly_once_counters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rate_limit_state") as batch:
        batch.add_column(sa.Column("window_log", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_state") as batch:
        batch.drop_column("window_log")
