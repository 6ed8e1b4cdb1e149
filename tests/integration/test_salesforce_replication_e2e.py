"""The engine against Salesforce's replication semantics: deletes are reported per whole minute, and a
purged delete log sends the incremental run to its full extraction and reconcile.

The Salesforce emulator's clock is frozen on chosen instants and each run gets a matching clock, so
nothing depends on where the real clock falls in its minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration import test_sync_engine_e2e as engine_e2e
from tests.integration.test_sync_engine_e2e import Sandbox, assert_mirrors_salesforce, make_store, run_sync

sandbox = engine_e2e.sandbox  # the engine e2e's emulators, as a fixture of this module


def _freeze(box: Sandbox, at: datetime) -> None:
    box.control(box.sf_url, "PATCH", "/_sandbox/config", {"now": at.isoformat()})


def _at(at: datetime):
    return lambda: at


def _synced_minute(box: Sandbox):
    """A store in sync (full run, then the first incremental), and an instant 10 s into a minute that lies
    after every stamp so far: where the test's deletes happen."""
    store = make_store(box.state_url)
    run_sync(box, store, "full")
    run_sync(box, store, "inc-0", mode="incremental")
    minute = (datetime.now(UTC) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    return store, minute + timedelta(seconds=10)


def test_deletes_are_applied_once_their_minute_is_covered(sandbox: Sandbox) -> None:
    store, t = _synced_minute(sandbox)
    _freeze(sandbox, t)
    gone = sandbox.control(sandbox.sf_url, "POST", "/_sandbox/mutate", {"object": "Account", "delete": 3})["deleted"]
    first = run_sync(sandbox, store, "inc-1", mode="incremental", clock=_at(t + timedelta(seconds=20)))
    assert first["trashed"] == 0  # getDeleted read the end as hh:mm:00, before the deletes
    minute = t.replace(second=0)
    covered = store.get_watermark("Account", "deleted").value
    assert covered == minute
    chained = run_sync(sandbox, store, "inc-2", mode="incremental", clock=_at(t + timedelta(seconds=40)))
    assert chained["trashed"] == 0 and store.get_watermark("Account", "deleted").value == minute  # nothing asked
    _freeze(sandbox, t + timedelta(seconds=70))
    later = run_sync(sandbox, store, "inc-3", mode="incremental", clock=_at(t + timedelta(seconds=70)))
    assert later["trashed"] == 3 and later["extracted"]["effective_mode"] == "incremental"
    assert store.get_watermark("Account", "deleted").value == minute + timedelta(minutes=1)
    assert not {p["properties"]["Salesforce Id"]["rich_text"][0]["plain_text"] for p in sandbox.pages()} & set(gone)
    assert_mirrors_salesforce(sandbox)


def test_a_purged_delete_log_falls_back_to_a_full_extraction_and_reconcile(sandbox: Sandbox) -> None:
    store, t = _synced_minute(sandbox)
    _freeze(sandbox, t)
    sandbox.control(sandbox.sf_url, "POST", "/_sandbox/mutate", {"object": "Account", "delete": 4, "update": 2})
    _freeze(sandbox, t + timedelta(minutes=10))
    sandbox.control(sandbox.sf_url, "POST", "/_sandbox/purge_deletes",
                    {"object": "Account", "before": (t + timedelta(minutes=5)).isoformat()})
    run = run_sync(sandbox, store, "inc-1", mode="incremental", clock=_at(t + timedelta(minutes=10)))
    assert "earliest date available" in run["extracted"]["fallback"]
    assert run["extracted"]["reconcile"] and run["extracted"]["effective_mode"] == "full"
    assert (run["updated"], run["trashed"]) == (2, 4)
    assert_mirrors_salesforce(sandbox)
