"""The team's spend (issue 13 §2, §3; docs/governor.md): one counter record,
``governor/spend``, ``{total_usd, by_worker, by_chain, by_day, since, updated_at}``, added
to by every worker as it reports a run with a cost (a version-checked write; no scan of the
tasks). Budgets are compared with it: ``[team] budget_usd`` with the total, ``[[worker]]
budget_usd`` with the worker's share. ``budget --reset`` starts it again from zero (``since``).

Bounded: ``by_day`` keeps the last ``DAYS_KEPT`` days, ``by_chain`` the last ``CHAINS_KEPT``
chains that spent.

SUSPENDED / LOST: writes retried by ``retrying`` until their deadline; a worker whose add
could not be written logs it (the run's cost stays on its task).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import NoNodeError

from claude_orchestrator.zk.codec import decode, encode, iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.txn import put_versioned, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.conf.team import TeamConfig

DAYS_KEPT = 31
CHAINS_KEPT = 50


class Spend(NamedTuple):
    total_usd: float = 0.0
    by_worker: Mapping[str, float] = {}
    by_chain: Mapping[str, float] = {}
    by_day: Mapping[str, float] = {}
    since: str | None = None  # the last reset
    updated_at: str | None = None

    def today(self, now: float) -> float:
        return float(self.by_day.get(day_of(now), 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_usd": round(self.total_usd, 6),
            "by_worker": {k: round(v, 6) for k, v in self.by_worker.items()},
            "by_chain": {k: round(v, 6) for k, v in self.by_chain.items()},
            "by_day": {k: round(v, 6) for k, v in self.by_day.items()},
            "since": self.since,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spend:
        return cls(
            total_usd=float(data.get("total_usd") or 0.0),
            by_worker=_amounts(data.get("by_worker")),
            by_chain=_amounts(data.get("by_chain")),
            by_day=_amounts(data.get("by_day")),
            since=data.get("since"),
            updated_at=data.get("updated_at"),
        )

    def plus(self, cost: float, worker: str, chain: str | None, now: float) -> Spend:
        day = day_of(now)
        by_chain = dict(self.by_chain)
        if chain:
            by_chain[chain] = by_chain.pop(chain, 0.0) + cost  # the newest last
        return self._replace(
            total_usd=self.total_usd + cost,
            by_worker={**self.by_worker, worker: self.by_worker.get(worker, 0.0) + cost},
            by_chain=dict(list(by_chain.items())[-CHAINS_KEPT:]),
            by_day=_last_days({**self.by_day, day: self.by_day.get(day, 0.0) + cost}),
            updated_at=iso(now),
        )


def _last_days(by_day: Mapping[str, float]) -> dict[str, float]:
    return dict(sorted(by_day.items())[-DAYS_KEPT:])


def _amounts(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def parse_spend(data: bytes | None, path: str) -> Spend:
    """The record as a watch hands it over (none yet, or unreadable: nothing spent)."""
    if not data:
        return Spend()
    try:
        return Spend.from_dict(decode(data, path))
    except (ValueError, TypeError):
        return Spend()


class SpendStore:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client, self.path = client, TeamPaths(team).spend

    def read(self) -> tuple[Spend, int | None]:
        try:
            data, stat = self.client.get(self.path)
        except NoNodeError:
            return Spend(), None
        return parse_spend(data, self.path), stat.version

    def get(self) -> Spend:
        return retrying(self.client, lambda: self.read()[0])

    def add(self, cost: float, worker: str, chain: str | None, now: float) -> Spend:
        """Add a run's ``cost`` (USD) for ``worker`` (and ``chain``): the new record."""
        return self._write(lambda old: old.plus(cost, worker, chain, now))

    def reset(self, now: float) -> tuple[Spend, Spend]:
        """``budget --reset``: zero, from now on. The record before, and after."""
        before = self.get()
        return before, self._write(lambda old: Spend(since=iso(now), updated_at=iso(now)))

    def _write(self, make: Callable[[Spend], Spend]) -> Spend:
        def step() -> Spend:
            while True:
                old, version = self.read()
                new = make(old)
                if put_versioned(self.client, self.path, encode(new.to_dict(), "spend"), version):
                    return new

        return retrying(self.client, step)


def budget_view(team: TeamConfig, spend: Spend | None, now: float) -> dict[str, Any]:
    """``budget`` and ``status``: each budget of the team file, what is spent under it, and
    whether it stops claims now (``stopped``: the workers it holds)."""
    spend = spend or Spend()
    workers = {}
    for spec in team.workers:
        spent = spend.by_worker.get(spec.name, 0.0)
        reached = spec.budget_usd is not None and spent >= spec.budget_usd
        workers[spec.name] = {
            "budget_usd": spec.budget_usd,
            "spent_usd": round(spent, 6),
            "reached": reached,
        }
    over = team.budget_usd is not None and spend.total_usd >= team.budget_usd
    stopped = sorted(workers) if over else sorted(n for n, w in workers.items() if w["reached"])
    return {
        "team": {
            "budget_usd": team.budget_usd,
            "spent_usd": round(spend.total_usd, 6),
            "today_usd": round(spend.today(now), 6),
            "reached": over,
        },
        "workers": workers,
        "by_chain": {k: round(v, 6) for k, v in spend.by_chain.items()},
        "since": spend.since,
        "stopped": stopped,
    }
