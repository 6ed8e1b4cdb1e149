# The first call bootstraps everything from python3 alone: uv in .tools/, then .venv from uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
RUN := $(VENV)/bin/python -m sf_notion_sync.cli
PYTEST_ARGS ?=
# The project's own bytecode, for the same reason as the venv's (see $(SYNCED)); stale files are recompiled.
COMPILE := $(VENV)/bin/python -m compileall -q plugins dags
TEST_WORKERS ?= 2

.PHONY: all demo test bench lint airflow sandbox clean
all: test

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on our CI machine) nothing else
# writes it, and every Airflow task process would compile Airflow from source again (~7 s of CPU each).
$(SYNCED): $(UV) pyproject.toml uv.lock Makefile
	$(UV) sync --frozen --compile-bytecode
	@touch $@

## demo: the main job end to end on the sandbox emulators and a local Airflow (SQLite)
demo: $(SYNCED)
	$(COMPILE)
	$(RUN) demo $(DEMO_ARGS)

## test: the whole test suite (PostgreSQL/Redis tests skip when those are not running, fail under CI);
##       TEST_WORKERS pytest-xdist processes, a test module's tests on one worker (0: no xdist)
test: $(SYNCED)
	$(COMPILE) tests
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## bench: throughput, latency and memory measurements, printed with their ratio to the limits
bench: $(SYNCED)
	$(COMPILE) benchmarks
	$(VENV)/bin/python benchmarks/run_all.py  # BENCH=name for one

lint: $(SYNCED)
	$(VENV)/bin/ruff check .

## airflow: a local Airflow (API server, scheduler, DAG processor, triggerer) on http://127.0.0.1:8080;
##          EXECUTOR=celery: CeleryExecutor with WORKERS Celery workers on local PostgreSQL and Redis
EXECUTOR ?= local
WORKERS ?= 2
airflow: $(SYNCED)
	$(RUN) airflow --executor $(EXECUTOR) --workers $(WORKERS)

## sandbox: the Notion and Salesforce emulators in the foreground, printing the connection settings
sandbox: $(SYNCED)
	$(RUN) sandbox --state-dir .sandbox --print-env-file .sandbox/airflow.env $(SANDBOX_ARGS)

clean:
	rm -rf .airflow .sandbox .pytest_cache .ruff_cache
