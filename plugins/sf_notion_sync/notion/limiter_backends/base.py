"""The backend interface: atomic reserve and pause on the state of a budget's keys."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from ..pacing import BudgetState, WindowBudget

T = TypeVar("T")


class BudgetKeys(NamedTuple):
    """The keys one reservation reads: the connection's (written), its workspace's and an endpoint's."""

    connection: str
    workspace: str
    endpoint: str | None = None


class LimiterBackend(ABC):
    name = "abstract"

    @abstractmethod
    def read(self, key: str) -> BudgetState: ...

    def read_many(self, keys: list[str]) -> list[BudgetState]:
        """The states of ``keys`` (not one snapshot: a hint for choosing, never a reservation)."""
        return [self.read(k) for k in keys]

    @abstractmethod
    def reserve(
        self, keys: BudgetKeys, budget: WindowBudget, now: float, lane: str, max_wait: float | None,
        queued: bool = False, not_before: float = 0.0, hold: bool = True,
    ) -> tuple[float, str]:
        """``budget.reserve`` on the keys' states in one atomic step: the wait and the outcome (pacing.OUTCOMES)."""

    @abstractmethod
    def pause(
        self, key: str, budget: WindowBudget, now: float, retry_after: float, reason: str, adaptive: bool,
        factor_cap: float | None = None,
    ) -> BudgetState:
        """``budget.pause`` on the key's state in one atomic step; returns the new state."""

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release connections (nothing by default)."""


class TransactBackend(LimiterBackend):
    """Backends that run the pure functions inside one read-modify-write transaction."""

    @abstractmethod
    def transact(
        self, key: str, read_keys: list[str],
        fn: Callable[[BudgetState, list[BudgetState]], tuple[BudgetState | None, T]],
    ) -> T:
        """Run ``fn(state of key, states of read_keys)`` atomically; store the state it returns unless None."""

    def reserve(self, keys, budget, now, lane, max_wait, queued=False, not_before=0.0, hold=True):
        read_keys = [keys.workspace] + ([keys.endpoint] if keys.endpoint else [])

        def fn(conn: BudgetState, others: list[BudgetState]) -> tuple[BudgetState | None, tuple[float, str]]:
            endpoint_paused_until = others[1].paused_until if keys.endpoint else 0.0
            new, wait, outcome = budget.reserve(conn, others[0], endpoint_paused_until, now, lane, max_wait, queued,
                                              not_before, hold)
            return new, (wait, outcome)

        return self.transact(keys.connection, read_keys, fn)

    def pause(self, key, budget, now, retry_after, reason, adaptive, factor_cap=None):
        def fn(state: BudgetState, _: list[BudgetState]) -> tuple[BudgetState, BudgetState]:
            new = budget.pause(state, now, retry_after, reason, adaptive, factor_cap)
            return new, new

        return self.transact(key, [], fn)
