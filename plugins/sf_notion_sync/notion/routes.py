"""Several Notion connections writing one workspace: which one sends a request, and the workspace's budget.

Notion counts each connection's requests, and separately all requests of a workspace's connections
(developers.notion.com, "Request limits": "a separate limit is shared across all connections in the
workspace"). So K integrations that the target databases are shared with can send up to K times one
connection's budget, until the workspace's limit. Each request takes the permit that comes first:

* the connection is the one whose next slot is earliest (read, not reserved: a hint), ties in turn;
* several connections share a workspace bucket: a limiter on the workspace's own key, at its known (or
  learned) limit, else at the sum of the connections' budgets. While it *binds* -- that limit is below
  the sum, or a workspace cut is in force -- a request first takes the bucket's slot (its turns give the
  fast lane priority across connections), then the chosen connection's slot at or after it. Otherwise
  (nothing binds above the connections' own budgets) a request costs one reservation, as with one
  connection.

A workspace 429 pauses every connection of the workspace (their limiters share its key) and cuts the
workspace's budget to what was sent in the window ending then (the connections' logs), times
``LEARN_MARGIN``; the cut recovers by ``PROBE_STEP`` a window (pacing.WorkspacePolicy), a slow probe
upward. The bucket carries the cut, not the connections (``follows_cut=False``): a connection cut to its
share would be held back after the pause by the burst its log remembers, idle for half a window. When
the limit is not configured, the cut level is the *learned* limit: ``on_learned`` keeps it (the state
database) so that the next run starts from it instead of meeting the limit again.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .limiter import REASON_WORKSPACE, LimiterStatus, NotionRateLimiter, TurnGiven
from .pacing import LANE_BULK

LEARN_MARGIN = 0.95
"""Share of what was sent when the workspace limit answered that the budget is cut to: the count includes
requests refused in the same burst, so the limit itself lies a little under it."""
PROBE_STEP = 0.0025
"""Share of the connections' budgets together that a workspace cut gets back per window: a slow probe
upward. Every 429 of the workspace limit pauses all of its connections, so meeting it again soon costs
more than the few requests a faster probe would win (bench_connections, 5% a window: 52 workspace 429s in
38 windows, 0.87 of the limit)."""
PROBE_HEADROOM = 1.05
"""A run that starts from a learned workspace limit plans this much above it: a slow probe for a limit
that has grown (another integration of the workspace went quiet), met again at worst once."""


@dataclass(frozen=True)
class Route:
    """One connection a request may go through: its Airflow connection id, token and budget."""

    name: str
    token: str = field(repr=False)
    limiter: NotionRateLimiter


@dataclass(frozen=True)
class WorkspaceLimit:
    """The workspace bucket's size: ``requests`` per window, ``learned`` or configured."""

    requests: int
    learned: bool


class Routes:
    """The connections of a run and the workspace bucket they share (None: a lone connection's own).

    ``binding``: the bucket's size is below the connections' budgets together, so it paces every request
    (without it, only while a cut is in force). ``shared``: they are a workspace's connections (default:
    several, or a bucket); ``learned``: the workspace's limit is being learned; ``on_learned(requests)``
    receives each new level.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        workspace: NotionRateLimiter | None = None,
        *,
        binding: bool = True,
        shared: bool | None = None,
        learned: bool = False,
        on_learned: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not routes:
            raise ValueError("at least one Notion connection is needed")
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"Notion connections listed twice: {names}")
        if workspace is not None and any(r.limiter.workspace_key != workspace.workspace_key for r in routes):
            raise ValueError("every connection must share the workspace bucket's workspace key")
        if workspace is not None and len(routes) > 1 and any(r.limiter.budget.follows_cut for r in routes):
            raise ValueError("under a workspace bucket, the bucket carries a workspace cut: build the "
                             "connections' limiters with follows_cut=False")
        self.routes = tuple(routes)
        self.workspace = workspace
        self.binding = binding
        self.shared = workspace is not None or len(self.routes) > 1 if shared is None else shared
        """Whether the routes are a workspace's connections, a workspace 429 measured over all of them."""
        self.learned = learned
        self.on_learned = on_learned
        self.clock = clock
        self._turn = itertools.count()

    @property
    def primary(self) -> Route:
        return self.routes[0]

    def __repr__(self) -> str:
        return (f"Routes({[r.name for r in self.routes]}, workspace={self.workspace!r}, binding={self.binding}, "
                f"learned={self.learned})")

    def take(
        self, *, lane: str = LANE_BULK, endpoint: str | None = None, max_wait: float | None = None,
        queued: bool = False, queued_on: Route | None = None,
    ) -> tuple[Route, float]:
        """The route to send through and the wait before sending; the slots are taken. Raises what
        NotionRateLimiter.reserve raises when nothing is taken (call again after its wait). A turn is a
        connection's when the bucket does not bind: TurnGiven then names it (``route``), and the caller
        comes back to it (``queued_on``) instead of choosing again -- elsewhere it would hold no place,
        and the turns it left would push that connection's line ever further out."""
        now = self.clock()
        route, hint, cut = self._choose(now, lane, endpoint, queued_on if queued else None)
        if self.workspace is None or not (self.binding or cut):
            try:  # on the limiter's own clock (a test's may run ahead through a pause)
                return route, route.limiter.reserve(max_wait=max_wait, lane=lane, endpoint=endpoint, queued=queued)
            except TurnGiven as turn:
                turn.route = route
                raise
        wait = self.workspace.reserve(now, max_wait=max_wait, lane=lane, queued=queued, not_before=hint)
        if max_wait is not None and wait > max_wait:
            return route, wait  # nothing taken: the caller defers, holding no connection slot either
        # the workspace's slot is held: the connection's comes at or after it, however far (no turn)
        return route, route.limiter.reserve(now, lane=lane, endpoint=endpoint, not_before=now + wait, hold=False)

    def _choose(self, now: float, lane: str, endpoint: str | None,
                queued_on: Route | None) -> tuple[Route, float, bool]:
        """The route whose next slot is earliest, ties taken in turn (``queued_on``: that one), its next
        slot (a hint), and whether a workspace cut is in force. A lone route needs no read."""
        if len(self.routes) == 1 or (queued_on is not None and self.workspace is None):
            return queued_on or self.primary, now, False
        start = next(self._turn) % len(self.routes)
        ordered = self.routes[start:] + self.routes[:start]
        keys = [route.limiter.state_keys(endpoint) for route in ordered]
        backend = ordered[0].limiter.backend
        if all(route.limiter.backend is backend for route in ordered):  # one read for all (hooks share one)
            flat = backend.read_many([k for group in keys for k in group])
            states = [flat[i * len(keys[0]):(i + 1) * len(keys[0])] for i in range(len(keys))]
        else:
            states = [route.limiter.backend.read_many(group) for route, group in zip(ordered, keys, strict=True)]
        hints = [route.limiter.next_slot((s[0], s[1], s[2] if endpoint else None), now, lane)
                 for route, s in zip(ordered, states, strict=True)]
        cut = self.workspace is not None and self.workspace.budget.factor(states[0][1], now) < 1.0
        if queued_on is not None:
            return queued_on, hints[ordered.index(queued_on)], cut
        best = min(range(len(ordered)), key=hints.__getitem__)
        return ordered[best], hints[best], cut

    def pause(self, route: Route, retry_after: float, reason: str, endpoint: str | None) -> None:
        """A 429 (or 529) through ``route``: pause what it concerns; a workspace limit also cuts the budget
        to what was sent when it answered, and a limit being learned is kept."""
        if reason != REASON_WORKSPACE or not self.shared:
            route.limiter.pause(retry_after, reason, endpoint=endpoint)
            return
        first = not route.limiter.status().paused  # the episode's first 429: what was sent is the measure
        level = max(1, math.floor(self.sent() * LEARN_MARGIN))
        route.limiter.pause(retry_after, reason, endpoint=endpoint, factor_cap=level / self.ceiling)
        if first and self.learned and self.on_learned is not None:
            self.on_learned(level)

    @property
    def ceiling(self) -> int:
        """Requests per window a workspace cut is a share of: the bucket's base (the connections' budgets
        together, in its window), else its size, else the connections' together."""
        if self.workspace is not None:
            return self.workspace.budget.cut_base or self.workspace.requests
        return sum(r.limiter.requests for r in self.routes)

    def sent(self) -> int:
        """Requests sent in the window ending now, through every connection of the workspace: the bucket's
        log when every request goes through it, else the connections' (a bucket that binds only through
        a cut has seen none of what came before)."""
        return self.workspace.used() if self.workspace and self.binding else sum(r.limiter.used() for r in self.routes)

    def status(self) -> list[tuple[str, LimiterStatus]]:
        """Each connection's budget as its limiter sees it, then the workspace bucket's (named ``workspace``)."""
        rows = [(r.name, r.limiter.status()) for r in self.routes]
        return rows + ([("workspace", self.workspace.status())] if self.workspace else [])

    def close(self) -> None:
        """Close each limiter's backend once (the connections of a workspace may share one)."""
        backends = {id(r.limiter.backend): r.limiter.backend for r in self.routes}
        if self.workspace is not None:
            backends.setdefault(id(self.workspace.backend), self.workspace.backend)
        for backend in backends.values():
            backend.close()


def planned_limit(connection_requests: Sequence[int], configured: int | None, learned: int | None) -> WorkspaceLimit:
    """The workspace bucket's size: the configured limit; else a learned one plus PROBE_HEADROOM; else the
    sum of the connections' budgets (nothing binds yet: the first workspace 429 teaches the limit).
    Never above that sum, which the connections could not send anyway."""
    total = sum(connection_requests)
    if configured:
        return WorkspaceLimit(min(total, configured), learned=False)
    if learned:
        return WorkspaceLimit(min(total, math.ceil(learned * PROBE_HEADROOM)), learned=True)
    return WorkspaceLimit(total, learned=True)
