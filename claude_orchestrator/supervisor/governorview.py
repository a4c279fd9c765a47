"""How the team file's workers stand under the fleet governor, for ``ps`` and the dashboard
(issue 13; docs/governor.md): derived from the records — each agent's pause, the team's
spend and the team file's budgets — by the same rule the workers claim by
(``zk.governor.hold_of``), never from what a worker last wrote about itself.

The supervisor watches the pause records of its workers' agents (and the spend, when a budget
applies) and asks for a full reading when one changes; a pause that ends by the clock is
shown ended at the next snapshot, which the publisher schedules for then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from kazoo.recipe.watchers import DataWatch

from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.supervisor.snapshot import WorkerRow
from claude_orchestrator.zk.governor import Budgets, Pause, Pauses, hold_of
from claude_orchestrator.zk.spend import Spend, SpendStore


class GovernorState(NamedTuple):
    pauses: Mapping[str, Pause]  # agent -> its pause record
    spend: Spend


def read_governor(client: Any, team: str) -> GovernorState:
    """The pause records and the spend counter (a listing and a read each)."""
    pauses = {pause.agent: pause for pause in Pauses(client, team).all()}
    return GovernorState(pauses, SpendStore(client, team).get())


class GovernorView:
    def __init__(self, team: TeamConfig) -> None:
        self.workers = {
            spec.name: (spec.agent, Budgets(team.budget_usd, spec.budget_usd))
            for spec in team.workers
        }

    def watch(self, client: Any, team: str, changed: Callable[[], None]) -> None:
        """Not a job: set before the loop runs; ``changed`` is called from kazoo's thread."""
        pauses = Pauses(client, team)
        for agent in sorted({agent for agent, _ in self.workers.values()}):
            DataWatch(client, pauses.path(agent), lambda _d, _s: changed())
        if any(budgets.any() for _, budgets in self.workers.values()):
            DataWatch(client, SpendStore(client, team).path, lambda _d, _s: changed())

    def rows(
        self, rows: Iterable[WorkerRow], state: GovernorState | None, now: float
    ) -> list[WorkerRow]:
        """``rows`` with each worker's hold as the records say at ``now``."""
        if state is None:
            return list(rows)
        out = []
        for row in rows:
            agent, budgets = self.workers.get(row.name, ("", Budgets()))
            hold = hold_of(state.pauses.get(agent), state.spend, budgets, row.name, now)
            until, reason = (hold.until, hold.reason) if hold is not None else (None, None)
            out.append(replace(row, paused_until=until, paused_reason=reason))
        return out

    def next_end(self, state: GovernorState | None, now: float) -> float | None:
        """When the first running pause of our workers' agents ends (epoch), if any."""
        if state is None:
            return None
        agents = {agent for agent, _ in self.workers.values()}
        ends = [p.until_ts for a, p in state.pauses.items() if a in agents and p.active(now)]
        return min(ends, default=None)
