# The Airflow image for docker-compose.yaml, built from this project's lock (uv.lock is the
# constraint file: every package, Airflow included, at the version the tests ran with).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:slim-${AIRFLOW_VERSION}-python${PYTHON_VERSION}

USER airflow
COPY --chown=airflow:root pyproject.toml uv.lock README.md /opt/sf-notion-sync/
COPY --chown=airflow:root plugins/sf_notion_sync /opt/sf-notion-sync/plugins/sf_notion_sync
RUN pip install --no-cache-dir uv==0.13.8 \
 && cd /opt/sf-notion-sync \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && uv pip install --python "$(command -v python)" --no-deps -r /tmp/requirements.txt \
 && uv pip install --python "$(command -v python)" --no-deps /opt/sf-notion-sync \
 && rm /tmp/requirements.txt
