"""Salesforce -> Notion sync DAGs: one full-sync and one incremental DAG per enabled object in
include/config/sync.yaml (or $SF_NOTION_SYNC_CONFIG), and the hourly retry DAG.

Thin on purpose: the factory in sf_notion_sync.airflow.dag_factory builds every DAG.
"""

from sf_notion_sync.airflow.dag_factory import build_dags

globals().update(build_dags())
