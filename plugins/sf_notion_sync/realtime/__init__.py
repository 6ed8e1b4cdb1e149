"""Real time: Salesforce change events (Pub/Sub API) turned into debounced batches for the fast lane.

No Airflow here: `batches.py` groups events and is the payload both sides read, `follow.py` keeps a
subscription going (resume, gaps, reconnects). The Airflow trigger and DAG live in sf_notion_sync.airflow.
"""
