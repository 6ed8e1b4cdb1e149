"""DAG factories: one full-sync and one incremental DAG per enabled object in sync.yaml, plus the retry DAG.

Parsing reads only the YAML file: no network, no database. Each task opens its connections when it
runs, calls one engine function, and passes batch descriptors and counts (never records) on XCom.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, get_current_context, task

from sf_notion_sync.airflow.assets import FAST_LANE_ALIAS, object_asset, record_sync_event
from sf_notion_sync.airflow.notifiers import SyncAlertNotifier
from sf_notion_sync.airflow.operators import NOTION_POOL, NotionSyncOperator
from sf_notion_sync.config import AlertSettings, ObjectConfig, SyncConfig, load_config
from sf_notion_sync.notion.limiter import LANE_BULK, LANE_FAST

if TYPE_CHECKING:
    from sf_notion_sync.sync.resync import Resync

OWNER = "data-engineering"
RETRY_DAG_ID = "sf_notion_retry"
FAST_LANE_DAG_ID = "sf_notion_fast_lane"
FAST_LANE_PRIORITY = 100
"""Far above bulk batches (1) and retries (5): the pool hands a free slot to the fast lane first."""
FAST_LANE_MAX_ACTIVE_RUNS = 8
INCREMENTAL_RUN_BUDGET_SECONDS = 600
"""One incremental run takes at most this many seconds of the Notion budget (2/3 of a 15-minute
schedule), leaving room for the fast lane and retries; a larger backlog chains the next run."""
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)
BATCH_LABEL = "{{ task.batch['object_name'] }} #{{ task.batch['batch_index'] }} (seq {{ task.batch['first_seq'] }}-{{ task.batch['last_seq'] }})"


def _default_args(retries: int = 2) -> dict[str, Any]:
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }


def _dag(dag_id: str, description: str, schedule: Any, params: dict[str, Any], tags: list[str],
         doc_md: str, alerts: AlertSettings, max_active_runs: int = 1, retries: int = 2) -> DAG:
    """What every DAG of this package shares: owner, retries, no catchup, the failure alert."""
    return DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=max_active_runs,
        default_args=_default_args(retries),
        on_failure_callback=SyncAlertNotifier(alerts),
        params=params,
        tags=["salesforce", "notion", *tags],
        doc_md=doc_md,
    )


def _run_id(object_name: str) -> str:
    """The sync run of this DAG run for one object (the retry DAG runs several objects per DAG run)."""
    context = get_current_context()
    run_id = context["dag_run"].run_id
    return f"{run_id}:{object_name}" if context["dag"].dag_id == RETRY_DAG_ID else run_id


def _dag_id() -> str:
    return get_current_context()["dag"].dag_id


def _sync_context(object_name: str, **kwargs: Any):
    from sf_notion_sync.airflow.context import open_sync_context

    return open_sync_context(object_name, run_id=_run_id(object_name), dag_id=_dag_id(), **kwargs)


@task(task_id="preflight")
def preflight(object_name: str) -> dict[str, Any]:
    """Check mapping vs Salesforce describe and the Notion schema before any write (one clear error)."""
    from airflow.sdk.exceptions import AirflowFailException

    from sf_notion_sync.airflow.hooks import connection_type
    from sf_notion_sync.config import load_config, notion_connection_problems
    from sf_notion_sync.sync import preflight as engine_preflight

    problems = notion_connection_problems(load_config(), connection_type, only=object_name)
    if problems:
        raise AirflowFailException("sync.yaml names Notion connections Airflow cannot use:\n"
                                   + "\n".join(f"  - {p}" for p in problems))
    with _sync_context(object_name, migrate=True) as ctx:
        return engine_preflight(ctx)


@task(task_id="extract")
def extract(object_name: str, mode: str, params: dict | None = None) -> dict[str, Any]:
    """Stream Salesforce records into the staging table (never XCom); returns counts."""
    from sf_notion_sync.sync import extract_to_staging

    params = dict(params or {})
    resync = _resync(mode, params)
    with _sync_context(object_name) as ctx:
        limit = params.get("limit") or params.get("max_records") or None
        if mode == "incremental" and not limit and resync is None:
            limit = max(1, int(ctx.budget_rps * INCREMENTAL_RUN_BUDGET_SECONDS))
        return extract_to_staging(ctx, mode=mode, limit=limit, record_ids=params.get("record_ids") or None,
                                  resync=resync)


def _resync(mode: str, params: dict[str, Any]) -> Resync | None:
    """The window this run re-syncs, or None for a live run: the data interval of a backfill run (or of
    a run asked to `reprocess` it) of the incremental DAG; `modified_since`/`modified_before` of a full sync."""
    from sf_notion_sync.sync.resync import Resync

    force = bool(params.get("force"))
    if mode == "full":
        since, before = params.get("modified_since"), params.get("modified_before")
        if not (since or before):
            if force:
                raise ValueError("Param force rewrites a bounded re-sync: set modified_since and/or modified_before")
            return None
        if params.get("reconcile"):
            raise ValueError("Param reconcile needs every record, and modified_since/modified_before bound this "
                             "run: clear one or the other")
        return Resync.parse(since, before, force=force)
    context = get_current_context()
    if context["dag_run"].run_type != BACKFILL_RUN_TYPE and not params.get("reprocess"):
        if force:
            raise ValueError("Param force rewrites a re-sync: use it in a backfill, or with reprocess: true")
        return None
    if params.get("max_records"):
        raise ValueError("a re-sync covers its whole data interval and never chains: clear max_records")
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise ValueError(f"run {context['dag_run'].run_id} has no data interval to reprocess: trigger it with a "
                         "logical_date (and data_interval_start/data_interval_end), or run a backfill")
    return Resync(start, end, force=force)


@task(task_id="plan")
def plan(object_name: str, max_map_length: int, params: dict | None = None) -> list[dict[str, Any]]:
    """Batch descriptors (seq ranges over staging) sized from recorded throughput."""
    from sf_notion_sync.sync import plan_batches

    params = dict(params or {})
    with _sync_context(object_name) as ctx:
        return plan_batches(ctx, batch_size=params.get("batch_size") or None, max_map_length=max_map_length)


@task(task_id="reconcile", trigger_rule="none_failed")
def reconcile(object_name: str, extracted: dict[str, Any], params: dict | None = None) -> dict[str, Any]:
    """With the `sweep_duplicates` Param, trash the extra pages of records that have more than one;
    then trash Notion pages whose Salesforce record is gone: when the `reconcile` Param is on, or when
    an incremental run found Salesforce's getDeleted window missed and extracted everything."""
    from sf_notion_sync.sync import reconcile as engine_reconcile
    from sf_notion_sync.sync import sweep_duplicates
    from sf_notion_sync.sync.dedupe import EXAMPLES_KEY

    params = dict(params or {})
    trash_gone = bool(params.get("reconcile") or extracted.get("reconcile"))
    sweep = bool(params.get("sweep_duplicates"))
    if not (trash_gone or sweep):
        return {"skipped": True}
    result: dict[str, Any] = {}
    with _sync_context(object_name, dry_run=bool(params.get("dry_run"))) as ctx:
        if sweep:  # first: the pages it keeps are the ones reconcile then judges
            swept = sweep_duplicates(ctx)
            result["sweep"] = {k: v for k, v in swept.items() if k != EXAMPLES_KEY}  # XCom: counts only
        if trash_gone:
            result.update(engine_reconcile(ctx))
    return result


@task(task_id="finish", trigger_rule="all_done")
def finish(object_name: str) -> dict[str, Any]:
    """Summary of the run (counts, duration, budget use, 429s by reason), logged and stored; then fails
    when an upstream task failed, so that the DAG run (whose leaf this is) fails and alerts too."""
    from airflow.sdk.exceptions import AirflowFailException

    from sf_notion_sync.airflow.context import preflight_found
    from sf_notion_sync.airflow.notifiers import deliver
    from sf_notion_sync.airflow.upstream import failed_upstream
    from sf_notion_sync.alerts import alerts_after_run
    from sf_notion_sync.sync import finish_run

    context = get_current_context()
    failed = failed_upstream(context)
    # a reconcile task that failed or was skipped upstream left no result (this DAG may have none)
    reconciled = context["ti"].xcom_pull(task_ids="reconcile") is not None
    with _sync_context(object_name) as ctx:
        if ctx.store.get_run(ctx.run_id) is None:
            raise AirflowFailException(f"{object_name}: nothing was staged, so there is no run to summarise; "
                                       f"failed upstream: {', '.join(failed) or 'none'} (see their logs)")
        summary = finish_run(ctx, reconciled=reconciled, connection_problems=preflight_found("connection_problems"))
        run = ctx.store.get_run(ctx.run_id)
        alerts = alerts_after_run(ctx.store, ctx.obj, summary, run.started_at,
                                  max_attempts=ctx.config.defaults.retry.max_attempts)
    if alerts:
        summary["alerts"] = {"kinds": [a.kind for a in alerts], "sent": deliver(alerts, ctx.obj.alerts)}
    record_sync_event(context, ctx.obj, summary)
    for key, value in summary.items():
        print(f"{key:<24} {value}")
    if failed:
        raise AirflowFailException(f"run {summary['run_id']} is {summary['status']} (summary stored): "
                                   f"failed upstream: {', '.join(failed)}")
    return summary


def _sync_batches(object_name: str, batches: Any, priority_weight: int = 1, lane: str = LANE_BULK) -> Any:
    return NotionSyncOperator.partial(
        task_id="sync_batch",
        object_name=object_name,
        lane=lane,
        dry_run="{{ params.dry_run }}",
        pool=NOTION_POOL,
        priority_weight=priority_weight,
        map_index_template=BATCH_LABEL,
    ).expand(batch=batches)


SWEEP_DESCRIPTION = ("In reconcile, trash the extra pages of records that have more than one (keeps the mapped, "
                     "else the oldest); costs one query per 100 pages plus one request per duplicate.")

FORCE_PARAM = Param(False, type="boolean",
                    description="Re-sync only: rewrite every record of the window, also those Notion holds "
                                "unchanged (a repair after people edited pages by hand); one request per record.")

FULL_SYNC_PARAMS = {
    "dry_run": Param(False, type="boolean", description="Build and validate every page, send no Notion write."),
    "limit": Param(None, type=["null", "integer"], minimum=1, description="Sync only the first N records."),
    "batch_size": Param(None, type=["null", "integer"], minimum=1,
                        description="Override the dynamic batch sizer (records per mapped task)."),
    "reconcile": Param(False, type="boolean",
                       description="Trash Notion pages whose Salesforce record no longer exists."),
    "sweep_duplicates": Param(True, type="boolean", description=SWEEP_DESCRIPTION),
    "modified_since": Param(None, type=["null", "string"], format="date-time",
                            description="Bounded re-sync: only records whose SystemModstamp is at or after "
                                        "this (UTC if no offset); moves no watermark."),
    "modified_before": Param(None, type=["null", "string"], format="date-time",
                             description="Bounded re-sync: only records whose SystemModstamp is before this."),
    "force": FORCE_PARAM,
}


def full_sync_dag(obj: ObjectConfig, config: SyncConfig) -> DAG:
    dag_id = f"sf_notion_full_sync__{obj.name.lower()}"
    with _dag(dag_id, f"Full sync of Salesforce {obj.name} into Notion", obj.schedules.full, FULL_SYNC_PARAMS,
              ["full-sync", obj.name], FULL_SYNC_DOC.format(object=obj.name, pool=NOTION_POOL), obj.alerts) as dag:
        checked = preflight(obj.name)
        extracted = extract(obj.name, "full")
        batches = plan(obj.name, config.defaults.max_map_length)
        synced = _sync_batches(obj.name, batches)
        reconciled = reconcile(obj.name, extracted)
        checked >> extracted >> batches
        synced >> reconciled >> finish.override(outlets=[object_asset(obj)])(obj.name)
    return dag


INCREMENTAL_PARAMS = {
    "dry_run": Param(False, type="boolean", description="Build and validate every page, send no Notion write."),
    "record_ids": Param([], type="array", items={"type": "string"},
                        description=f"Sync only these Salesforce Ids (queued behind this DAG's runs; "
                                    f"{FAST_LANE_DAG_ID} syncs them now)."),
    "max_records": Param(None, type=["null", "integer"], minimum=1,
                         description="This run's share: at most this many changed records (default: the "
                                     f"budget x {INCREMENTAL_RUN_BUDGET_SECONDS} s); a larger backlog chains."),
    "sweep_duplicates": Param(False, type="boolean", description=SWEEP_DESCRIPTION),
    "reprocess": Param(False, type="boolean",
                       description="Re-sync the records whose SystemModstamp lies in this run's data interval "
                                   "(as a backfill run does) instead of reading from the watermark."),
    "force": FORCE_PARAM,
}
BACKFILL_RUN_TYPE = "backfill"


@task.branch(task_id="chain")
def chain(extracted: dict[str, Any], summary: dict[str, Any]) -> str | None:
    """The plan's queueable chaining: a backlog remains when the run hit its share of the budget;
    go again at once, or after the budget reopens when this run was rate limited; else stop.
    A re-sync (a backfill run) covers its window whole and never chains: the live chain owns the backlog."""
    if extracted.get("resync"):
        return None
    limit = extracted.get("limit")
    backlog = bool(limit) and extracted.get("staged", 0) - extracted.get("deleted", 0) >= limit
    if not backlog or summary.get("status") == "incomplete":
        return None
    return "wait_for_budget" if summary.get("rate_limited_429s") else "trigger_next"


def _intervals(cron: str | None) -> Any:
    """A cron schedule as contiguous data intervals [previous fire, this fire), whatever
    `create_cron_data_intervals` says: a backfill run re-syncs its interval, so intervals must tile time."""
    from airflow.sdk import CronDataIntervalTimetable

    return None if cron is None else CronDataIntervalTimetable(cron, timezone="UTC")


def incremental_dag(obj: ObjectConfig, config: SyncConfig) -> DAG:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from sf_notion_sync.airflow.sensors import NotionBudgetSensor

    dag_id = f"sf_notion_incremental__{obj.name.lower()}"
    with _dag(dag_id, f"Incremental sync of Salesforce {obj.name} changes and deletes into Notion",
              _intervals(obj.schedules.incremental), INCREMENTAL_PARAMS, ["incremental", obj.name],
              INCREMENTAL_DOC.format(object=obj.name, pool=NOTION_POOL), obj.alerts) as dag:
        checked = preflight(obj.name)
        extracted = extract(obj.name, "incremental")
        batches = plan(obj.name, config.defaults.max_map_length)
        synced = _sync_batches(obj.name, batches)
        summary = finish.override(outlets=[object_asset(obj)])(obj.name)
        checked >> extracted >> batches
        synced >> reconcile(obj.name, extracted) >> summary
        decision = chain(extracted, summary)
        wait = NotionBudgetSensor(task_id="wait_for_budget", deferrable=True, poke_interval=30,
                                  timeout=6 * 3600)
        trigger_next = TriggerDagRunOperator(
            task_id="trigger_next", trigger_dag_id=dag_id, conf={"chained_from": "{{ run_id }}"},
            trigger_rule="none_failed_min_one_success",
        )
        decision >> [wait, trigger_next]
        wait >> trigger_next
    return dag


@task(task_id="stage_due")
def stage_due(object_name: str, params: dict | None = None) -> dict[str, Any]:
    """Re-read from Salesforce the records whose retry is due (or the Ids asked for in the Params)."""
    from sf_notion_sync.sync import extract_to_staging
    from sf_notion_sync.sync.retry import select_due

    params = dict(params or {})
    with _sync_context(object_name) as ctx:
        asked = [i for i in params.get("record_ids") or [] if params.get("object") in (None, "", object_name)]
        due = asked or select_due(ctx, limit=int(params.get("max_records") or 1000))
        return extract_to_staging(ctx, record_ids=due)


RETRY_PARAMS = {
    "object": Param("", type="string", description="With record_ids: the Salesforce object they belong to."),
    "record_ids": Param([], type="array", items={"type": "string"},
                        description="Retry these Salesforce Ids now, whatever their backoff says."),
    "max_records": Param(1000, type="integer", minimum=1, description="Records per object per run."),
    "dry_run": Param(False, type="boolean", description="Build and validate, send no Notion write."),
}


@task(task_id="purge_usage")
def purge_usage(retention_days: int) -> dict[str, int]:
    """Drop API usage buckets and run metrics past the retention: once per retry run, each an indexed DELETE."""
    from sf_notion_sync.airflow.hooks import SyncStateHook
    from sf_notion_sync.state.store import utcnow

    state = SyncStateHook()
    try:
        store = state.get_store()
        return {"purged": store.purge_api_usage(retention_days), "retention_days": retention_days,
                "purged_run_metrics": store.purge_run_metrics(retention_days, now=utcnow())}
    finally:
        state.engine.dispose()


def _all_recipients(config: SyncConfig) -> AlertSettings:
    """The retry and fast-lane DAGs serve every object: their failure reaches the recipients of each."""
    emails = [e for obj in config.enabled_objects() for e in obj.alerts.emails]
    return replace(config.defaults.alerts, emails=tuple(dict.fromkeys([*config.defaults.alerts.emails, *emails])))


def retry_dag(config: SyncConfig) -> DAG:
    from airflow.sdk import TaskGroup

    with _dag(RETRY_DAG_ID, "Hourly retry of failed and rate-limited records, with per-record backoff and a dead letter",
              config.retry.schedule, RETRY_PARAMS, ["retry"], RETRY_DOC.format(pool=NOTION_POOL),
              _all_recipients(config)) as dag:
        purge_usage(config.defaults.usage.retention_days)
        for obj in config.salesforce_objects():
            with TaskGroup(group_id=obj.name.lower()):
                staged = stage_due(obj.name)
                batches = plan(obj.name, config.defaults.max_map_length)
                synced = _sync_batches(obj.name, batches, priority_weight=5)
                staged >> batches
                synced >> finish.override(outlets=[object_asset(obj)])(obj.name)
    return dag


@task(task_id="stage")
def stage_records(params: dict | None = None) -> dict[str, Any]:
    """Re-read the asked records from Salesforce (deleted ones included, so they are trashed)."""
    from sf_notion_sync.sync import extract_to_staging

    params = dict(params or {})
    ids = [i.strip() for i in params.get("record_ids") or [] if i and i.strip()]
    if not ids:
        raise ValueError("conf record_ids is empty: give the Salesforce Ids to sync")
    with _sync_context(params["object"]) as ctx:
        return extract_to_staging(ctx, record_ids=ids)


FAST_LANE_OBJECT = "{{ params.object }}"


def fast_lane_dag(config: SyncConfig) -> DAG:
    """Given records now: several runs at once, batches ahead of bulk ones in the pool, and requests
    ahead of bulk ones in the budget (up to the fast lane's cap), so a full sync running meanwhile does
    not starve it, and leaves it nothing idle when there is no fast-lane work."""
    objects = sorted(obj.name for obj in config.salesforce_objects())
    params = {
        "object": Param(objects[0] if objects else "", type="string", enum=objects or [""],
                        description="The Salesforce object the Ids belong to."),
        "record_ids": Param([], type="array", items={"type": "string"}, description="Salesforce Ids to sync."),
        "dry_run": Param(False, type="boolean", description="Build and validate, send no Notion write."),
    }
    with _dag(FAST_LANE_DAG_ID, "Sync given Salesforce records into Notion now (the fast lane)", None, params,
              ["fast-lane"], FAST_LANE_DOC.format(pool=NOTION_POOL), _all_recipients(config),
              max_active_runs=FAST_LANE_MAX_ACTIVE_RUNS, retries=1) as dag:
        batches = plan(FAST_LANE_OBJECT, config.defaults.max_map_length)
        synced = _sync_batches(FAST_LANE_OBJECT, batches, priority_weight=FAST_LANE_PRIORITY, lane=LANE_FAST)
        stage_records() >> batches
        synced >> finish.override(outlets=[FAST_LANE_ALIAS])(FAST_LANE_OBJECT)
    return dag


def build_dags(config: SyncConfig | None = None) -> dict[str, DAG]:
    """Every DAG the config asks for, by dag_id (for a DAG file's `globals().update(...)`)."""
    config = config or load_config()
    dags: dict[str, DAG] = {}
    for obj in config.salesforce_objects():
        for dag in (full_sync_dag(obj, config), incremental_dag(obj, config)):
            dags[dag.dag_id] = dag
    dags[RETRY_DAG_ID] = retry_dag(config)
    dags[FAST_LANE_DAG_ID] = fast_lane_dag(config)
    from sf_notion_sync.airflow.realtime_dag import realtime_dags  # it builds on this module's tasks

    dags.update(realtime_dags(config))
    return dags


FULL_SYNC_DOC = """
### Full sync: Salesforce {object} → Notion

Extracts every {object} record (REST below the Bulk threshold, Bulk API 2.0 above it) into the
staging table, plans batches sized from recorded throughput, and syncs them as mapped
`sync_batch` tasks in pool `{pool}` (the Notion budget). Unchanged records cost no Notion request;
new records get an intent row before the create, so a dead worker never causes a duplicate page.

**Params:** `dry_run` (validate, no writes) · `limit` (first N records) · `batch_size` (override
the sizer) · `reconcile` (trash pages whose record is gone) · `sweep_duplicates` (on by default: in
reconcile, trash the extra pages of a record that has more than one, keeping the mapped or oldest;
one query per 100 pages plus one request per duplicate; each one is in `sync_log` and alerted) ·
`modified_since` / `modified_before` (a bounded re-sync, below) · `force` (with them: rewrite every
record of the window, also unchanged ones).

**Not backfilled.** A full sync reads every record as it is now, whatever its run's data interval,
so a backfill would repeat the same full read once per interval. For a bounded re-sync, trigger it
with `modified_since` and/or `modified_before`: only records whose SystemModstamp lies in
[since, before) are read, those Notion holds unchanged cost no request (all of them are rewritten
with `force`), a newer version written meanwhile is never overwritten, no watermark moves, and
deletes in the window are applied while getDeleted still covers it (15 days), else the summary's
`deletes` says they were not checked. A bounded run never reconciles (it does not see every record).

Failed records land in `sync_log` and are retried by `sf_notion_retry`. The `finish` task logs the
summary: counts, duration, achieved Notion requests/s, and the share of the budget used (requests ÷
budget × windows spanned), with the 429s by reason (connection, workspace, endpoint).
"""


INCREMENTAL_DOC = """
### Incremental sync: Salesforce {object} changes → Notion

Reads changes since the watermark (`SystemModstamp >=` watermark minus an overlap, deduplicated by
Id) and deletes (getDeleted within Salesforce's 15-day window, else a reconcile), then syncs them as
mapped `sync_batch` tasks in pool `{pool}`. The watermark advances only after the writes it covers
are committed. One run takes at most its share of the budget: when a backlog remains, `chain`
triggers the next run at once; when the run was rate limited, `wait_for_budget` defers (no worker
slot held) until the Notion budget reopens.

**Params:** `dry_run` · `max_records` (this run's share) · `record_ids` (just these Ids; for
"now", trigger `sf_notion_fast_lane` instead: it does not queue behind this DAG's runs) ·
`sweep_duplicates` (off by default: the full sync's duplicate sweep, in this run's reconcile) ·
`reprocess` · `force` (below).

**Backfills.** A backfill run (`airflow backfill create --dag-id <this DAG> --from-date ... --to-date
...`, or the UI's Backfill button), or a run with an explicit data interval and `reprocess: true`,
re-syncs exactly the records whose SystemModstamp lies in its data interval [start, end): read from
Salesforce (Bulk API 2.0 above the threshold), written only where they differ from what Notion was
last sent (everything with `force: true`, a repair after hand edits), in the same pool and budget as
the live chain. It never moves the watermark or the deletes cursor, never chains, and never writes an
older version over a newer one the live chain wrote meanwhile. Deletes in the interval are applied
while getDeleted still covers it (15 days); otherwise the summary's `deletes` says "not checked".
"""


FAST_LANE_DOC = """
### Fast lane: given Salesforce records → Notion, now

Trigger with conf `{{"object": "Account", "record_ids": ["001..."]}}` (UI, REST API, or
`sf-notion-sync sync-records --object Account --ids ID1,ID2 --wait`). Re-reads those records (deleted
ones are trashed), writes them in pool `{pool}` ahead of bulk batches (priority weight), and its
Notion requests go ahead of bulk ones in the shared budget, up to a cap (connection extra
`fast_lane_share`, default 0.2 of it; nothing is kept idle), so a full sync running at the same time
does not starve it. Several runs may run at once; no watermark moves.
"""


RETRY_DOC = """
### Retry: failed and rate-limited records, hourly

For each object, `stage_due` picks the `sync_log` entries whose `next_retry_at` has passed —
rate-limited first, then the oldest — and re-reads those records from Salesforce (never a stale
copy). Validation failures are retried only once the record's SystemModstamp or the mapping
changed. Batches run in pool `{pool}` ahead of bulk work (higher priority weight). Each failure
backs off exponentially with jitter (`defaults.retry` in sync.yaml); after `max_attempts` a record
is **Dead**: shown in `sync_log` and alerted. A validation failure is Dead at once, with its reason.
`purge_usage` drops API usage buckets older than `defaults.usage.retention_days`. A failed run of
any sync DAG alerts (email and webhook from `alerts` in sync.yaml).

**Params:** `object` + `record_ids` (retry these now) · `max_records` · `dry_run`.
"""
