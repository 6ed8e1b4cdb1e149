"""The real-time lane's replay id in the state database: forward only by position, gaps counted."""

from __future__ import annotations

import pytest

from sf_notion_sync.state.store import StateStore


@pytest.fixture
def store(tmp_path):
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")  # migrated
    yield store
    store.engine.dispose()


def test_nothing_stored_until_advanced(store):
    assert store.get_replay("Account") is None
    assert store.advance_replay("Account", b"\x00\x01", 1)
    state = store.get_replay("Account")
    assert (state.replay_id, state.position, state.gaps) == (b"\x00\x01", 1, 0)


def test_an_older_position_never_overwrites_a_newer_one(store):
    store.advance_replay("Account", b"\x00\x05", 5)
    assert not store.advance_replay("Account", b"\x00\x03", 3)  # a run that finished late
    assert store.get_replay("Account").replay_id == b"\x00\x05"
    assert store.advance_replay("Account", b"\x00\x09", 6)
    assert store.get_replay("Contact") is None  # per object


def test_a_gap_is_counted_and_an_expired_id_forgotten(store):
    store.advance_replay("Account", b"\x00\x05", 5)
    store.record_gap("Account", "GAP_OVERFLOW")
    assert store.get_replay("Account").replay_id == b"\x00\x05"
    store.record_gap("Account", "replay id expired", forget_replay=True)
    state = store.get_replay("Account")
    assert (state.replay_id, state.position, state.gaps, state.last_gap_reason) == (None, 5, 2, "replay id expired")
    assert store.advance_replay("Account", b"\x00\x01", 1)  # a fresh id after the gap is taken
