"""Initial sync state schema: every table created explicitly.

Revision ID: 0001_initial
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_usage",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("requests", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("errors", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("latency_ms_sum", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("latency_ms_max", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket_start", "api", "endpoint", "status", "dag_id", name=op.f("pk_api_usage")
        ),
    )
    op.create_table(
        "batch_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("records_per_s", sa.Double(), nullable=False),
        sa.Column("errors", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited_429s", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_metrics")),
    )
    op.create_index(
        op.f("ix_batch_metrics_object_name_finished_at"),
        "batch_metrics",
        ["object_name", "finished_at"],
        unique=False,
    )
    op.create_table(
        "rate_limit_state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("tat", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("paused_until", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_factor", sa.Double(), server_default=sa.text("1"), nullable=False),
        sa.Column("last_429_at", sa.Double(), nullable=True),
        sa.Column("last_429_reason", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_state")),
    )
    op.create_table(
        "record_map",
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("notion_page_id", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("trashed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("object_name", "sf_id", name=op.f("pk_record_map")),
    )
    op.create_index(
        op.f("ix_record_map_object_name_notion_page_id"),
        "record_map",
        ["object_name", "notion_page_id"],
        unique=False,
    )
    op.create_table(
        "staging_record",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_staging_record")),
    )
    op.create_index(
        op.f("ix_staging_record_run_id_sf_id"), "staging_record", ["run_id", "sf_id"], unique=False
    )
    op.create_table(
        "sync_batch",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited_429s", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("records_per_s", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "batch_index", name=op.f("pk_sync_batch")),
    )
    op.create_table(
        "sync_intent",
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_name", "sf_id", name=op.f("pk_sync_intent")),
    )
    op.create_index(op.f("ix_sync_intent_run_id"), "sync_intent", ["run_id"], unique=False)
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_retry_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("notion_request_id", sa.String(length=100), nullable=True),
        sa.Column("fatal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sf_system_modstamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mapping_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_log")),
    )
    op.create_index(op.f("ix_sync_log_run_id"), "sync_log", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_sync_log_status_next_retry_at"), "sync_log", ["status", "next_retry_at"], unique=False
    )
    op.create_index(
        "uq_sync_log_open",
        "sync_log",
        ["object_name", "sf_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'Success'"),
        postgresql_where=sa.text("status <> 'Success'"),
    )
    op.create_table(
        "sync_run",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("processed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("trashed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited_429s", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("notion_requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("records_per_s", sa.Double(), nullable=True),
        sa.Column("achieved_rps", sa.Double(), nullable=True),
        sa.Column("budget_rps", sa.Double(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("params", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_sync_run")),
    )
    op.create_index(op.f("ix_sync_run_dag_id_started_at"), "sync_run", ["dag_id", "started_at"], unique=False)
    op.create_index(
        op.f("ix_sync_run_object_name_started_at"), "sync_run", ["object_name", "started_at"], unique=False
    )
    op.create_table(
        "watermark",
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ids_at_value", sa.Text(), server_default="[]", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_name", "kind", name=op.f("pk_watermark")),
    )


def downgrade() -> None:
    op.drop_table("watermark")
    op.drop_index(op.f("ix_sync_run_object_name_started_at"), table_name="sync_run")
    op.drop_index(op.f("ix_sync_run_dag_id_started_at"), table_name="sync_run")
    op.drop_table("sync_run")
    op.drop_index(
        "uq_sync_log_open",
        table_name="sync_log",
        sqlite_where=sa.text("status <> 'Success'"),
        postgresql_where=sa.text("status <> 'Success'"),
    )
    op.drop_index(op.f("ix_sync_log_status_next_retry_at"), table_name="sync_log")
    op.drop_index(op.f("ix_sync_log_run_id"), table_name="sync_log")
    op.drop_table("sync_log")
    op.drop_index(op.f("ix_sync_intent_run_id"), table_name="sync_intent")
    op.drop_table("sync_intent")
    op.drop_table("sync_batch")
    op.drop_index(op.f("ix_staging_record_run_id_sf_id"), table_name="staging_record")
    op.drop_table("staging_record")
    op.drop_index(op.f("ix_record_map_object_name_notion_page_id"), table_name="record_map")
    op.drop_table("record_map")
    op.drop_table("rate_limit_state")
    op.drop_index(op.f("ix_batch_metrics_object_name_finished_at"), table_name="batch_metrics")
    op.drop_table("batch_metrics")
    op.drop_table("api_usage")
