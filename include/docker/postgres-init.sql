-- The sync state database lives beside Airflow's metadata database on the compose stack.
CREATE DATABASE sf_notion_sync OWNER airflow;
