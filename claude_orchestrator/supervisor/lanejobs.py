"""The supervisor's ZooKeeper work, as jobs for its lane (zklane.py).

Each function builds a job: it runs on the lane thread, makes its ZooKeeper calls
there (a call made while disconnected blocks only the lane), and hands anything
that changes supervisor state back through ``done``, which posts it to the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from claude_orchestrator.spawn.kill import kill_session
from claude_orchestrator.supervisor.control import ControlServer
from claude_orchestrator.supervisor.effects import PutBack
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.supervisor.taskevents import watch_folders
from claude_orchestrator.zk.recovery import recover_worker, release_worker
from claude_orchestrator.zk.recovery import sweep as sweep_tasks
from claude_orchestrator.zk.team import Team

Job = Callable[[], None]


def put_back(team: Team, effect: PutBack, killed: Callable[[str], None]) -> Job:
    """Make sure nothing of a dead worker's session still runs, then remove its instance
    and put its tasks back: recovered after a crash, released after a stop we asked for.
    What happened to its tasks shows as task events, from their history."""
    put = recover_worker if effect.counted else release_worker

    def job() -> None:
        for agent in kill_session(effect.pid):  # whatever the quick pass missed or forked
            killed(f"pid {agent} outlived it")
        put(team.tasks, effect.name, effect.pid, time.time())

    return job


def registered_pids(team: Team, names: list[str], done: Callable[[dict[str, int]], None]) -> Job:
    """The pid each of ``names`` registered with."""
    return lambda: done(team.registry.pids(names))


def heartbeat_ages(
    team: Team,
    running: list[tuple[str, int]],
    done: Callable[[dict[tuple[str, int], float | None]], None],
) -> Job:
    """How old each running worker's last heartbeat is (None: not known)."""

    def job() -> None:
        if not team.client.connected:
            return
        now = time.time()
        done({(n, p): team.registry.heartbeat_age(n, p, now) for n, p in running})

    return job


def sweep(team: Team, leadership: Leadership) -> Job:
    """The leader's sweep (zk/recovery.py); its recoveries show as task events."""

    def job() -> None:
        if leadership.is_leader():
            sweep_tasks(team.tasks, time.time())

    return job


def reply(
    control: ControlServer, req_name: str, result: dict[str, Any], done: Callable[[Any], None]
) -> Job:
    """Answer a control request; a reply that cannot be written is kept and sent on the
    next pass, so the command never runs twice."""

    def job() -> None:
        try:
            control.reply(req_name, result)
        except Exception:
            control.unsent[req_name] = result
            raise
        finally:
            done(None)

    return job


def watch_task_folders(team: Team, changed: Callable[[], None]) -> None:
    """Not a job: set at start-up, before the loop runs. ``changed`` is called from
    kazoo's thread whenever a task state folder changes."""
    watch_folders(team.client, team.tasks, changed)
