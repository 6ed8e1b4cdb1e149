"""The pacing arithmetic alone: the window guarantee under random arrivals, use, shape, lanes, pauses."""

from __future__ import annotations

import heapq
import random
from dataclasses import replace

import pytest

from sf_notion_sync.notion.pacing import (
    ENDPOINT_PAUSED,
    LANE_BULK,
    LANE_FAST,
    LATER,
    TAKEN,
    TURN,
    BudgetState,
    WindowBudget,
    WorkspacePolicy,
)

T0 = 1_800_000_000.0
IDLE = BudgetState()
MAX_EVENTS = 200_000


def near(expected):
    """Times near 1.8e9 s carry ~0.2 µs of float noise."""
    return pytest.approx(expected, abs=1e-6)


def budget(requests=40, window_s=2.0, slack_s=0.02, burst=4, fast_lane_cap=0.2, **kw) -> WindowBudget:
    return WindowBudget(requests, window_s, slack_s, burst, fast_lane_cap, **kw)


def max_in_window(times: list[float], window_s: float) -> int:
    """The most sends any half-open span [t, t + window_s) holds (spans starting at a send are the worst)."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < start + window_s:
            j += 1
        best = max(best, j - i)
    return best


class Sim:
    """Workers on a virtual clock: each reserves, waits for its slot, 'sends', and asks again after a
    latency; a reservation beyond ``max_wait`` takes nothing and the worker asks again at that time; a
    worker given a turn asks again at it (queued)."""

    def __init__(self, b: WindowBudget, seed: int = 0) -> None:
        self.b, self.rng = b, random.Random(seed)
        self.conn, self.workspace, self.endpoint_until = IDLE, IDLE, 0.0
        self.sends: list[tuple[float, str, bool]] = []  # (slot, lane, fast log entry)
        self.outcome = TAKEN
        self.turns = 0

    def reserve(self, now: float, lane: str = LANE_BULK, max_wait: float | None = None,
                queued: bool = False) -> float | None:
        """The wait, or None when nothing was taken (``outcome`` says why, ``wait`` how long)."""
        new, self.wait, self.outcome = self.b.reserve(self.conn, self.workspace, self.endpoint_until, now, lane,
                                                      max_wait, queued)
        if self.outcome != TAKEN:
            self.conn = new or self.conn
            self.turns += self.outcome == TURN
            return None
        self.sends.append((now + self.wait, lane, new.fast is not self.conn.fast))  # a new fast log: a fast slot
        self.conn = new
        return self.wait

    def run(self, workers: int, until: float, latency=(0.0, 0.05), fast_share=0.0, max_wait=None,
            start=(T0, T0), idle=0.0, probes=()) -> list[float]:
        """Returns the waits of one-off fast-lane requests at the times ``probes``."""
        rng = self.rng
        asks = [(rng.uniform(*start), i, False) for i in range(workers)] + [(t, -1, False) for t in probes]
        heapq.heapify(asks)
        probe_waits = []
        for _ in range(MAX_EVENTS):
            if not asks:
                break
            now, i, queued = heapq.heappop(asks)
            if now >= until:
                continue
            if i < 0:
                probe_waits.append(self.reserve(now, LANE_FAST))
                continue
            lane = LANE_FAST if rng.random() < fast_share else LANE_BULK
            wait = self.reserve(now, lane, max_wait, queued)
            if wait is None:  # deferred, or a turn: it comes back then
                heapq.heappush(asks, (now + self.wait, i, self.outcome == TURN))
                continue
            pause = rng.expovariate(1 / idle) if idle and rng.random() < 0.1 else 0.0
            heapq.heappush(asks, (now + wait + rng.uniform(*latency) + pause, i, False))
        else:
            raise AssertionError(f"the simulation did not end in {MAX_EVENTS} events")
        return probe_waits

    def slots(self, lane: str | None = None) -> list[float]:
        return sorted(t for t, ln, _ in self.sends if lane is None or ln == lane)


# --- the guarantee ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_no_window_length_span_exceeds_the_budget_under_random_arrivals(seed):
    rng = random.Random(seed)
    b = budget(requests=rng.choice([1, 3, 10, 40, 180]), window_s=rng.choice([1.0, 2.0, 60.0]),
               slack_s=0.0 if seed % 5 == 0 else 0.01, burst=1, fast_lane_cap=rng.choice([0.0, 0.2, 1.0]))
    b = budget(requests=b.requests, window_s=b.window_s, slack_s=b.slack_s * b.window_s,
               burst=rng.randint(1, b.requests), fast_lane_cap=b.fast_lane_cap,
               hold_intervals=rng.choice([None, 1.0, 2.0]))
    sim = Sim(b, seed)
    sim.run(workers=rng.randint(1, 12), until=T0 + 6 * b.window_s, latency=(0.0, rng.choice([0.0, 0.01, 0.5])),
            fast_share=rng.random(), max_wait=rng.choice([None, 0.0, b.window_s / 4]),
            start=(T0, T0 + rng.choice([0.0, 3 * b.window_s])), idle=rng.choice([0.0, b.window_s]))
    times = sim.slots()
    assert times, "nobody was served"
    assert max_in_window(times, b.window_s) <= b.requests
    fast = sorted(t for t, _, fast in sim.sends if fast)
    assert max_in_window(fast, b.window_s) <= b.fast_slots(b.requests)


def test_the_log_makes_every_n_plus_one_sends_span_more_than_a_window():
    b = budget(requests=5, window_s=1.0, slack_s=0.01, burst=5)
    sim = Sim(b)
    sim.run(workers=50, until=T0 + 10, latency=(0.0, 0.0))
    times = sim.slots()
    assert all(times[i + 5] - times[i] >= 1.01 - 1e-6 for i in range(len(times) - 5))


# --- use: no idle gaps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("burst", [1, 4, 40])
@pytest.mark.parametrize("workers", [1, 4, 16])
def test_a_run_of_k_windows_sends_about_k_budgets(burst, workers):
    b = budget(requests=40, window_s=2.0, slack_s=0.02, burst=burst)
    k = 10
    sim = Sim(b, seed=workers)
    sim.run(workers=workers, until=T0 + k * 2.0 + 5, latency=(0.001, 0.01))
    sent = sum(1 for t in sim.slots() if t < T0 + k * 2.0)
    assert sent <= k * 40
    assert sent >= 0.98 * k * 40  # the slack costs 1%


def test_bulk_alone_uses_the_whole_budget_despite_the_fast_lane_cap():
    b = budget(fast_lane_cap=0.5)
    sim = Sim(b)
    sim.run(workers=8, until=T0 + 20.0, latency=(0.001, 0.005))
    assert sum(1 for t in sim.slots() if t < T0 + 20.0) >= 0.98 * 400


# --- shape ---------------------------------------------------------------------------------------------------


def test_a_burst_then_even_spacing():
    b = budget(requests=10, window_s=1.0, slack_s=0.01, burst=3)
    sim = Sim(b)
    waits = [sim.reserve(T0) for _ in range(12)]
    interval = 1.01 / 10
    assert waits[:3] == near([0.0] * 3)
    assert waits[3:10] == near([interval * k for k in range(1, 8)])
    assert waits[10] == near(1.01)  # the log: the burst's first slot + the window + slack
    assert waits[11] == near(1.01 + interval)  # the next window is paced, not another burst


def test_the_whole_budget_may_go_in_one_burst_and_idle_time_earns_it_back():
    b = budget(requests=10, window_s=1.0, slack_s=0.01, burst=10)
    sim = Sim(b)
    assert [sim.reserve(T0) for _ in range(10)] == near([0.0] * 10)
    assert sim.reserve(T0) == near(1.01)
    later = T0 + 100
    assert [sim.reserve(later) for _ in range(10)] == near([0.0] * 10)


def test_max_wait_reports_without_taking():
    b = budget(requests=2, window_s=1.0, slack_s=0.0, burst=2)
    sim = Sim(b)
    sim.reserve(T0), sim.reserve(T0)
    assert sim.reserve(T0, max_wait=0.5) is None
    assert b.reserve(sim.conn, IDLE, 0.0, T0, max_wait=0.5) == (None, near(1.0), LATER)
    assert sim.reserve(T0) == near(1.0)  # the slot was still free


# --- fast lane -------------------------------------------------------------------------------------------------


def test_a_fast_request_goes_right_after_the_slots_bulk_holds():
    """Bulk saturates: each of 4 workers holds one future slot; a fast request waits for those, plus at
    most one interval, where a bulk caller asking at that moment waits for the pacing."""
    b = budget(requests=40, window_s=2.0, slack_s=0.02, burst=4)
    sim = Sim(b)
    sim.run(workers=4, until=T0 + 10.0, latency=(0.005, 0.005))
    now = T0 + 10.0
    held = [t for t in sim.slots() if t > now]
    assert 1 <= len(held) <= 4
    fast_wait = sim.reserve(now, LANE_FAST)
    assert fast_wait <= max(held) - now + b.span_s / 40 + 1e-9
    bulk_wait = sim.reserve(now, LANE_BULK)
    assert bulk_wait > fast_wait  # a bulk caller not yet served queues behind it


def test_fast_lane_latency_stays_about_one_interval_under_a_saturating_bulk_load():
    b = budget(requests=40, window_s=2.0, slack_s=0.02, burst=4)
    sim = Sim(b, seed=3)
    probes = [T0 + 0.3 + k * 0.5 for k in range(40)]  # a fast request now and then, amid the bulk load
    waits = sim.run(workers=4, until=T0 + 21.0, latency=(0.001, 0.01), probes=probes)
    interval = b.span_s / 40
    assert len(waits) == 40
    assert max(waits[4:]) <= 5 * interval + 1e-6  # after the first window: 4 bulk slots held + one interval
    assert max(waits) <= 4 * interval + b.burst * interval + 1e-6  # in it: the opening burst's gap


@pytest.mark.parametrize("workers", [4, 8, 32])
def test_a_fast_requests_wait_is_bounded_however_many_bulk_callers_hold(workers):
    """Issue 11: bulk callers hold no slot more than an interval ahead (two when back at their turn; a turn
    instead), so a fast request waits at most 3 intervals behind 4, 8 or 32 saturating callers; holding as
    before, it waits for them all."""
    probes = [T0 + 0.3 + k * 0.37 for k in range(50)]
    interval = 2.02 / 40
    waits = {}
    for hold in (None, 1.0):
        sim = Sim(budget(requests=40, window_s=2.0, slack_s=0.02, burst=4, hold_intervals=hold), seed=workers)
        waits[hold] = sim.run(workers=workers, until=T0 + 21.0, latency=(0.001, 0.05), probes=probes)
        assert sum(1 for t in sim.slots() if t < T0 + 20.0) >= 0.98 * 400  # the budget is still all used
    after_first_window = [w for t, w in zip(probes, waits[1.0], strict=True) if t > T0 + 2.02]
    assert max(after_first_window) <= 3 * interval + 1e-6
    assert max(waits[1.0]) <= (4 + 1) * interval + 1e-6  # in it: the opening burst of 4 spent the log
    assert max(waits[None]) >= (workers - 2) * interval  # the old way: behind every slot held


@pytest.mark.parametrize("workers", [4, 32])
def test_turns_come_one_by_one_not_as_a_herd(workers):
    sim = Sim(budget(requests=40, window_s=2.0, slack_s=0.02, burst=4, hold_intervals=1.0), seed=1)
    sim.run(workers=workers, until=T0 + 20.0, latency=(0.001, 0.05))
    assert sim.turns <= 1.1 * len(sim.sends)  # about one turn per send, not one per waiting caller


def test_a_turn_is_an_interval_before_its_slot_and_turns_are_spaced():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=1, hold_intervals=1.0)
    sim = Sim(b)
    assert sim.reserve(T0) == 0.0
    assert sim.reserve(T0) == near(0.1)  # within one interval: taken
    turns = []
    for _ in range(3):
        assert sim.reserve(T0) is None and sim.outcome == TURN
        turns.append(sim.wait)
    assert turns == near([0.1, 0.2, 0.3])  # slot 0.2 - one interval, then one interval apart
    assert sim.reserve(T0 + 0.1, queued=True) == near(0.1)  # back at its turn: the next slot is its own
    assert sim.reserve(T0 + 0.1) is None and sim.wait == near(0.3)  # a newcomer queues behind the turns out
    assert sim.reserve(T0 + 0.1, LANE_FAST) == near(0.1)  # a fast request goes before the holders, with the last slot
    assert sim.reserve(T0 + 0.2, queued=True) == near(0.2)  # pushed by one: still within twice the hold
    assert b.reserve(sim.conn, IDLE, 0.0, T0 + 0.2, max_wait=0.05).outcome == LATER  # a deferring caller


def test_a_caller_back_at_its_turn_during_a_pause_goes_to_the_back_of_the_line():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=1, hold_intervals=1.0)
    sim = Sim(b)
    sim.reserve(T0), sim.reserve(T0), sim.reserve(T0)
    assert sim.outcome == TURN and sim.wait == near(0.1)
    sim.conn = b.pause(sim.conn, T0 + 0.05, 5.0, "connection", adaptive=False)
    assert sim.reserve(T0 + 0.1, queued=True) is None and sim.wait == near(4.85)  # the pause's end - 1 interval
    assert sim.reserve(T0 + 0.1) is None and sim.wait == near(4.95)  # the next one behind it
    assert sim.conn.sent == near((T0, T0 + 0.1))  # nothing held during the pause


def test_the_fast_lane_cap_bounds_its_share_of_any_window():
    b = budget(requests=40, window_s=2.0, slack_s=0.02, burst=4, fast_lane_cap=0.25)
    sim = Sim(b, seed=5)
    sim.run(workers=8, until=T0 + 20.0, latency=(0.001, 0.01), fast_share=0.7)
    fast = sorted(t for t, _, fast in sim.sends if fast)
    assert max_in_window(fast, 2.0) <= 10
    assert max_in_window(sim.slots(), 2.0) <= 40
    assert sum(1 for t in sim.slots() if t < T0 + 20.0) >= 0.98 * 400  # over the cap, fast requests queue as bulk


def test_a_zero_cap_gives_the_fast_lane_no_priority():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=1, fast_lane_cap=0.0)
    sim = Sim(b)
    sim.reserve(T0)
    assert sim.reserve(T0, LANE_FAST) == near(0.1) and sim.conn.fast == ()


# --- pauses ---------------------------------------------------------------------------------------------------


def test_connection_pause_then_the_full_budget_again():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=10)
    paused = b.pause(IDLE, T0, 5.0, "connection", adaptive=False)
    assert paused.paused_until == T0 + 5 and paused.factor == 1.0 and paused.last_429_reason == "connection"
    sim = Sim(b)
    sim.conn = paused
    assert [sim.reserve(T0 + 1) for _ in range(10)] == [near(4.0)] * 10  # no cut, the whole burst


def test_workspace_pause_cuts_once_per_episode_and_recovers_by_steps():
    policy = WorkspacePolicy(cut=0.5, floor=0.2, step=0.1, period_s=10.0)
    b = budget(requests=40, policy=policy)
    ws = b.pause(IDLE, T0, 2.0, "workspace", adaptive=True)
    ws = b.pause(ws, T0 + 1, 2.0, "workspace", adaptive=True)  # the same episode: no second cut
    assert ws.paused_until == T0 + 3 and ws.factor == 0.5
    assert [b.effective(ws, T0 + dt) for dt in (2, 12.9, 13, 33, 1000)] == [20, 20, 24, 32, 40]  # after the pause
    for i in range(5):  # new episodes, never below the floor
        ws = b.pause(ws, T0 + 10 + i * 3, 1.0, "workspace", adaptive=True)
    assert b.effective(ws, T0 + 23) == 8


def test_a_measured_level_replaces_the_blind_cut_and_never_raises_the_budget():
    b = budget(requests=480, policy=WorkspacePolicy(cut=0.75, step=0.0025, period_s=10.0))
    ws = b.pause(IDLE, T0, 4.0, "workspace", adaptive=True, factor_cap=0.6)  # 288 of 480 sent when it answered
    assert ws.factor == 0.6
    ws = replace(ws, factor=0.625)  # the probe has climbed back to 300, the limit answers again at 300 sent
    ws = b.pause(ws, T0 + 100, 1.0, "workspace", adaptive=True, factor_cap=0.6)
    assert ws.factor == 0.6  # back to the level measured, not 0.625 x 0.75 (225 of 480) on top
    ws = b.pause(ws, T0 + 200, 1.0, "workspace", adaptive=True, factor_cap=0.9)
    assert ws.factor == pytest.approx(0.6 + 0.0025 * 9, abs=1e-9)  # a higher measure never raises it


def test_a_cut_budget_is_paced_at_its_share():
    b = budget(requests=40, window_s=2.0, slack_s=0.0, burst=1, policy=WorkspacePolicy(cut=0.5, period_s=100.0))
    sim = Sim(b)
    sim.workspace = b.pause(IDLE, T0 - 1, 1.0, "workspace", adaptive=True)
    sim.run(workers=8, until=T0 + 20.0, latency=(0.001, 0.002))
    assert max_in_window(sim.slots(), 2.0) <= 20
    assert sum(1 for t in sim.slots() if t < T0 + 20.0) >= 0.98 * 200


def test_a_workspace_pause_holds_every_connection_of_it():
    b = budget()
    ws = b.pause(IDLE, T0, 2.0, "workspace", adaptive=True)
    one, other = BudgetState(), b.reserve(IDLE, IDLE, 0.0, T0 - 10)[0]  # two connections, one workspace
    assert b.reserve(one, ws, 0.0, T0)[1] == near(2.0) and b.reserve(other, ws, 0.0, T0)[1] == near(2.0)
    assert b.reserve(one, IDLE, 0.0, T0)[1] == 0.0  # another workspace's connection
    conn = b.pause(IDLE, T0, 1.0, "connection", adaptive=False)
    assert b.reserve(conn, IDLE, 0.0, T0)[1] == near(1.0) and b.reserve(one, IDLE, 0.0, T0)[1] == 0.0


def test_a_paused_endpoint_takes_no_slot_and_holds_up_nothing_else():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=1)
    sim = Sim(b)
    sim.reserve(T0)
    sim.endpoint_until = T0 + 30.0
    assert b.reserve(sim.conn, IDLE, sim.endpoint_until, T0) == (None, near(30.0), ENDPOINT_PAUSED)
    sim.endpoint_until = 0.0  # another endpoint
    assert sim.reserve(T0) == near(0.1)  # as if the paused endpoint's request had not asked


def test_status_figures():
    b = budget(requests=10, window_s=1.0, slack_s=0.0, burst=10)
    sim = Sim(b)
    for _ in range(4):
        sim.reserve(T0)
    assert b.used(sim.conn, T0) == 4 and b.available(sim.conn, IDLE, T0) == 6
    assert b.used(sim.conn, T0 + 1.5) == 0 and b.available(sim.conn, IDLE, T0 + 1.5) == 10
    paused = b.pause(sim.conn, T0, 9.0, "connection", adaptive=False)
    assert b.available(paused, IDLE, T0 + 2) == 0


@pytest.mark.parametrize("kw", [{"requests": 0}, {"window_s": 0}, {"burst": 0}, {"burst": 41},
                                {"fast_lane_cap": 1.5}, {"slack_s": -1}])
def test_bad_budgets_are_refused(kw):
    with pytest.raises(ValueError):
        budget(**kw)
