"""The Notion budget a run plans and reports against, as a plain value read once from the connection.

The engine needs the budget's figures (to size batches, to cap an incremental run, to say how much of
the budget a run used) but not a Notion client to read them from: extract, plan and finish send no
Notion request, so they build none. The Airflow glue fills this from the connection and the pool.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sf_notion_sync.notion import constants as C

REQUESTS_PER_FLIGHT = 120
"""Requests one in-flight request carries per 60-second window: a round trip of up to 0.5 s at Notion's
latency (~250 ms median, long tail). A budget above slots × this keeps more than one request in flight."""
TAIL_SLOTS_SHARE = 0.5
"""Share of the slots that must be able to carry the whole budget: the last round's batches end unevenly
(a pause, the turns), and the ones still running, at one request in flight each, would otherwise leave
the rest of the budget idle."""
MAX_IN_FLIGHT = 4


@dataclass(frozen=True)
class NotionBudget:
    """``requests`` per ``window_s`` for each connection (Notion: 180 per 60 s on Free and Plus, 600 on
    Business and Enterprise), the fast lane's cap on it, how many batches may run at once (``pool_slots``),
    and, with several connections writing one workspace, how many (``connections``) and the workspace's
    limit over all of them (``workspace_requests`` per window; None: no workspace bucket)."""

    requests: int = C.DEFAULT_REQUESTS
    window_s: float = C.DEFAULT_WINDOW_S
    fast_lane_cap: float = C.FAST_LANE_CAP
    pool_slots: int = 1
    connections: int = 1
    workspace_requests: int | None = None

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window_s <= 0 or self.pool_slots < 1 or self.connections < 1:
            raise ValueError(f"need requests >= 1, window_s > 0, pool_slots >= 1, connections >= 1; got "
                             f"{self.requests}, {self.window_s}, {self.pool_slots}, {self.connections}")

    @property
    def total_requests(self) -> int:
        """Requests per window over every connection, up to the workspace's limit."""
        total = self.requests * self.connections
        return min(total, self.workspace_requests) if self.workspace_requests else total

    @property
    def rate(self) -> float:
        """Requests per second over a window, every connection together."""
        return self.total_requests / self.window_s

    @property
    def in_flight(self) -> int:
        """Requests each batch task keeps in flight so that half of ``pool_slots`` tasks (TAIL_SLOTS_SHARE)
        can spend the budget: one at 180 per window on 4 slots, three at 600. Time-scaled sandboxes
        scale latency with the window, so the rule reads the budget per window, not per second. The
        limiter paces them all: more in flight costs no 429, and a fast request still goes first."""
        carrying = max(1.0, self.pool_slots * TAIL_SLOTS_SHARE)
        needed = math.ceil(self.total_requests / (REQUESTS_PER_FLIGHT * carrying))
        return max(1, min(MAX_IN_FLIGHT, needed))

    def use(self, requests: int, seconds: float) -> float:
        """Share of the budget ``requests`` took over ``seconds``: requests ÷ (budget × windows spanned,
        at least one). A run shorter than a window could have spent the window's whole budget."""
        return requests / (self.total_requests * max(1.0, seconds / self.window_s))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
