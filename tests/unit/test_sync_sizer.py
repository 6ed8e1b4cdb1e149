"""DynamicBatchSizer: batches of about target_seconds at the observed speed, within bounds and map length."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sf_notion_sync.sync.sizer import MIN_HEALTH, DynamicBatchSizer


@dataclass
class M:
    size: int
    seconds: float
    errors: int = 0
    rate_limited_429s: int = 0

    @property
    def records_per_s(self) -> float:
        return self.size / self.seconds


def test_without_history_the_budget_is_the_estimate() -> None:
    decision = DynamicBatchSizer(budget_rps=3.0, min_size=10, max_size=5000, target_seconds=180).decide(10_000)
    assert decision.batch_size == 540 and decision.batches == 19 and decision.health == 1.0


def test_history_is_size_weighted() -> None:
    sizer = DynamicBatchSizer(budget_rps=3.0, min_size=10, max_size=100_000, target_seconds=100)
    decision = sizer.decide(100_000, [M(100, 10), M(900, 10)])  # 1000 records in 20 s
    assert decision.records_per_s == 50.0 and decision.batch_size == 5000


def test_errors_and_429s_shrink_batches_down_to_a_floor() -> None:
    sizer = DynamicBatchSizer(budget_rps=10.0, min_size=1, max_size=10_000, target_seconds=100)
    assert sizer.decide(10_000, [M(100, 10, errors=10)]).batch_size == 900  # health 0.9
    assert sizer.decide(10_000, [M(100, 10, rate_limited_429s=5)]).batch_size == 800  # 429s weigh 4x
    assert sizer.health([M(100, 10, rate_limited_429s=100)]) == MIN_HEALTH


def test_bounds_apply() -> None:
    sizer = DynamicBatchSizer(budget_rps=3.0, min_size=200, max_size=300, target_seconds=180)
    assert sizer.decide(5000, [M(10, 100)]).batch_size == 200  # 0.1 rec/s -> 18 -> min
    assert sizer.decide(5000, [M(100_000, 10)]).batch_size == 300  # fast reruns -> max


def test_never_more_batches_than_max_map_length() -> None:
    sizer = DynamicBatchSizer(budget_rps=3.0, min_size=10, max_size=100, max_map_length=1024)
    decision = sizer.decide(1_000_000)
    assert decision.batches <= 1024 and decision.batch_size == 977
    assert "max_map_length" in decision.reason
    assert sizer.decide(1_000_000, requested=50).batches <= 1024


def test_requested_size_and_empty_runs() -> None:
    sizer = DynamicBatchSizer(budget_rps=3.0)
    assert sizer.decide(1000, requested=7).batch_size == 7
    assert sizer.decide(0).batches == 0
    with pytest.raises(ValueError):
        sizer.decide(10, requested=0)
    with pytest.raises(ValueError):
        DynamicBatchSizer(budget_rps=3.0, min_size=10, max_size=5)


def test_small_run_is_split_across_parallel_slots():
    sizer = DynamicBatchSizer(budget_rps=50.0, min_size=50, max_size=5000, parallelism=4)
    decision = sizer.decide(2000)
    assert decision.batch_size == 500 and decision.batches == 4
    assert "parallel" in decision.reason
    assert DynamicBatchSizer(budget_rps=50.0, min_size=50, parallelism=4).decide(120).batch_size == 50


def test_a_large_run_is_cut_into_whole_rounds_of_the_slots():
    """5 batches of the maximum on 4 slots would end with one batch running alone: 8 equal ones instead."""
    sizer = DynamicBatchSizer(budget_rps=60.0, min_size=50, max_size=2000, parallelism=4)
    decision = sizer.decide(10_000)
    assert (decision.batch_size, decision.batches) == (1250, 8) and "2 even round(s)" in decision.reason
    assert sizer.decide(8000).batch_size == 2000  # already whole rounds
