"""The supervisor's hooks (issue 13 §4; docs/governor.md): ``on_worker_fatal`` when one of
its workers gives up restarting (every supervisor, for its own workers), ``on_chain_done``
and ``on_needs_human`` when a chain gets there (the leader only, so once for the team). Fired
from the loop, each on a thread of its own (spawn/hooks.py): supervision never waits.

A chain's change is seen by the publisher's chain reading (teamread.py ``ChainReader``),
which follows every task event; a change made while no supervisor led is not fired later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from claude_orchestrator.spawn.hooks import Hooks
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.zk.chains import Chain, ChainStatus

CHAIN_HOOKS = {ChainStatus.DONE: "on_chain_done", ChainStatus.NEEDS_HUMAN: "on_needs_human"}


class SupervisorHooks:
    def __init__(self, hooks: Hooks, team: str, is_leader: Callable[[], bool]) -> None:
        self.hooks, self.team, self.is_leader = hooks, team, is_leader

    def on_line(self, line: EventLine) -> None:
        if line.kind == "fatal" and line.worker:
            event = {"worker": line.worker, "reason": line.text, "team": self.team}
            self.hooks.fire("on_worker_fatal", event)

    def on_chain(self, chain: Chain) -> None:
        name = CHAIN_HOOKS.get(chain.status)
        if name is None or not self.is_leader():
            return
        event: dict[str, Any] = {
            "chain_id": chain.id,
            "status": chain.status.value,
            "goal": chain.goal,
            "title": chain.title,
            "reason": chain.reason,
            "cost_usd": round(chain.cost_usd, 6),
            "merge": chain.extra.get("merge"),
            "team": self.team,
        }
        self.hooks.fire(name, event)


def supervisor_hooks(cfg: SupervisorConfig, is_leader: Callable[[], bool]) -> SupervisorHooks:
    hidden = (cfg.team.auth.removeprefix("env:"),) if cfg.team.auth else ()
    config = cfg.team.hooks
    hooks = Hooks(config.commands, os.environ, hidden, config.timeout)
    return SupervisorHooks(hooks, cfg.team_name, is_leader)
