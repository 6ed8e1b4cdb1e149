"""Counters of the exactly-once machinery: creates adopted after an unknown outcome, intents left
unresolved, duplicate pages trashed by the sweep.

Revision ID: 0002_exactly_once_counters
Revises: 0001_initial
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_exactly_once_counters"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_RUN = ("adopted", "unresolved", "duplicates_trashed")
_BATCH = ("adopted", "unresolved")


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        for name in _RUN:
            batch.add_column(_counter(name))
    with op.batch_alter_table("sync_batch") as batch:
        for name in _BATCH:
            batch.add_column(_counter(name))


def downgrade() -> None:
    with op.batch_alter_table("sync_batch") as batch:
        for name in _BATCH:
            batch.drop_column(name)
    with op.batch_alter_table("sync_run") as batch:
        for name in _RUN:
            batch.drop_column(name)
