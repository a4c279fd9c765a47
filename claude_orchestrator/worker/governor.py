"""A worker's side of the fleet governor (issue 13; docs/governor.md): it claims nothing
while its agent is paused or a budget it runs under is spent, pauses the agent for the
whole team when a run ends on a limit, and adds each run's cost to the team's spend.

The pause record of the worker's agent (zk/governor.py) and, when a budget applies, the
team's spend counter (zk/spend.py) are watched with DataWatches — kazoo re-arms them after a
reconnect and reads them again — and kept here; the callbacks (kazoo's thread) only keep
what they read and wake the loop. ``wait`` tells the loop how long it may sleep, so it wakes
by itself when a pause ends: no polling. A hold starting or ending is said on the worker's
instance (``paused``: ``{agent, until, reason, budget}``; ``ps`` shows it).

SUSPENDED / LOST: the last records seen hold; the watches read them again on reconnect. A
spend that cannot be added is logged (the run's cost stays on its task).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.recipe.watchers import DataWatch

from claude_orchestrator.errors import ZkError
from claude_orchestrator.spawn.hooks import NO_HOOKS, Hooks
from claude_orchestrator.spawn.limits import Limit
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.governor import (
    NO_BUDGETS,
    Budgets,
    Hold,
    Pause,
    Pauses,
    hold_of,
    parse_pause,
)
from claude_orchestrator.zk.spend import Spend, SpendStore, parse_spend

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class Governor:
    def __init__(
        self,
        pauses: Pauses,
        agent: str,
        by: str,
        wake: Callable[[], None],
        budgets: Budgets = NO_BUDGETS,
        hooks: Hooks = NO_HOOKS,
    ) -> None:
        self.pauses, self.agent, self.by, self.wake = pauses, agent, by, wake
        self.budgets, self.hooks = budgets, hooks
        self.store = SpendStore(pauses.client, pauses.paths.team)
        self.pause: Pause | None = None
        self.spend = Spend()
        self.shown: Hold | None = None  # the hold the instance last said (None: none)
        self.report: Callable[[], None] | None = None  # writes ``state`` on the instance

    def watch(self) -> None:
        DataWatch(self.pauses.client, self.pauses.path(self.agent), self._pause_changed)
        if self.budgets.any():
            DataWatch(self.pauses.client, self.store.path, self._spend_changed)

    def _pause_changed(self, data: bytes | None, _stat: Any) -> None:
        """kazoo's thread: keep the record, wake the loop to look again."""
        self.pause = parse_pause(data, self.pauses.path(self.agent))
        self.wake()

    def _spend_changed(self, data: bytes | None, _stat: Any) -> None:
        self.spend = parse_spend(data, self.store.path)
        self.wake()

    def hold(self, now: float) -> Hold | None:
        """Why the worker must not claim now (None: it may)."""
        return hold_of(self.pause, self.spend, self.budgets, self.by, now)

    def blocks(self, now: float) -> bool:
        """Whether the worker must not claim now; a change is said on the instance."""
        hold = self.hold(now)
        if hold != self.shown:
            self.shown = hold
            if self.report is not None:
                self.report()
        return hold is not None

    def state(self) -> dict[str, Any] | None:
        """What the instance says: ``{agent, until, reason, budget}`` while held, else None."""
        if self.shown is None:
            return None
        until = iso(self.shown.until) if self.shown.until is not None else None
        reason, budget = self.shown.reason, self.shown.budget
        return {"agent": self.agent, "until": until, "reason": reason, "budget": budget}

    def wait(self, default: float, now: float) -> float:
        """How long the loop may sleep: no later than the pause's end."""
        hold = self.hold(now)
        if hold is None or hold.until is None:
            return default
        return min(default, hold.until - now + 0.01)

    def hit(self, limit: Limit, now: float | None = None) -> Pause:
        """A run ended on ``limit``: pause the agent for every worker running it."""
        pause = self.pauses.on_limit(self.agent, limit.until, limit.reason, self.by, now)
        self.pause = pause  # at once, before the watch says so
        shown = time.strftime("%H:%M:%S", time.localtime(pause.until_ts))
        log.warning("%s paused until %s: %s", self.agent, shown, pause.reason)
        event = {"agent": self.agent, "worker": self.by, **pause.to_dict()}
        self.hooks.fire("on_pause", {**event, "team": self.pauses.paths.team})
        return pause

    def spent(self, cost: float | None, chain: str | None, now: float) -> None:
        """Add a run's cost to the team's spend (kept here at once: the next claim of this
        worker already sees it)."""
        if not cost or cost <= 0:
            return
        try:
            self.spend = self.store.add(cost, self.by, chain, now)
        except ZkError as exc:
            log.warning("spend of $%.4f not added: %s", cost, exc)


def open_governor(client: KazooClient, ws: WorkerSettings, wake: Callable[[], None]) -> Governor:
    """The governor of worker ``ws``, watching its agent's pause and its budgets' spend."""
    budgets = Budgets(ws.team_budget_usd, ws.budget_usd)
    hooks = Hooks(ws.hooks.commands, os.environ, ws.credential_vars, ws.hooks.timeout)
    governor = Governor(Pauses(client, ws.team), ws.agent.name, ws.name, wake, budgets, hooks)
    governor.watch()
    return governor
