"""A batch's checkpoint: where each of its parts resumes, saved with its counters as its writers commit.

A full sync killed mid-batch (worker, scheduler, machine) is resumed by clearing its tasks; the batch
then goes on after its last committed record instead of from its first (sync/checkpoint.py).

Revision ID: 0009_batch_checkpoint
Revises: 0008_run_metrics
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_batch_checkpoint"
down_revision = "0008_run_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_batch") as batch:
        batch.add_column(sa.Column("cursor", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_batch") as batch:
        batch.drop_column("cursor")
