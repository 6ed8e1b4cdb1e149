"""One staging row per Salesforce record and run: the (run_id, sf_id) index becomes unique.

Extraction serves records in any order (Bulk API 2.0 PK chunks) and can serve an Id twice, so
staging is an upsert on (run_id, sf_id) that keeps the latest SystemModstamp. Rows staged twice
before this revision keep their last copy (the latest one: those runs read in SystemModstamp order).

Revision ID: 0005_staging_one_row_per_id
Revises: 0004_rate_limits_by_reason
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005_staging_one_row_per_id"
down_revision = "0004_rate_limits_by_reason"
branch_labels = None
depends_on = None

_INDEX = "ix_staging_record_run_id_sf_id"


def upgrade() -> None:
    op.execute(
        "DELETE FROM staging_record WHERE EXISTS (SELECT 1 FROM staging_record AS later"
        " WHERE later.run_id = staging_record.run_id AND later.sf_id = staging_record.sf_id"
        " AND later.seq > staging_record.seq)"
    )
    op.drop_index(_INDEX, table_name="staging_record")
    op.create_index(_INDEX, "staging_record", ["run_id", "sf_id"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="staging_record")
    op.create_index(_INDEX, "staging_record", ["run_id", "sf_id"], unique=False)
