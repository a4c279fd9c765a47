"""The supervisor's ZooKeeper work, as jobs for its lane (zklane.py).

Each function builds a job: it runs on the lane thread, makes its ZooKeeper calls
there (a call made while disconnected blocks only the lane), and hands anything
that changes supervisor state back through ``done``, which posts it to the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from claude_orchestrator.spawn.kill import kill_session
from claude_orchestrator.supervisor.control import ControlServer
from claude_orchestrator.supervisor.effects import PutBack
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.zk.chainverdict import sweep_chains
from claude_orchestrator.zk.codec import decode, parse_iso
from claude_orchestrator.zk.hosts import mark_lost
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.recovery import recover_worker, release_worker
from claude_orchestrator.zk.recovery import sweep as sweep_tasks
from claude_orchestrator.zk.team import Team

log = logging.getLogger("claude_orchestrator.supervisor")

Job = Callable[[], None]


def put_back(ids: InstanceIds, effect: PutBack, killed: Callable[[str], None]) -> Job:
    """Make sure nothing of a dead worker's session still runs, then put its tasks back —
    recovered after a crash, released after a stop we asked for — and remove its instance.
    What happened to its tasks shows as task events, from their history."""
    put = recover_worker if effect.counted else release_worker

    def job() -> None:
        for agent in kill_session(effect.pid):  # whatever the quick pass missed or forked
            killed(f"pid {agent} outlived it")
        iid = ids.known(effect.name, effect.pid)
        put(ids.team.tasks, effect.name, effect.pid, time.time(), iid)

    return job


def registered_pids(
    ids: InstanceIds, names: list[str], done: Callable[[dict[str, int]], None]
) -> Job:
    """The pid each of ``names`` registered with (their instance ids are kept)."""

    def job() -> None:
        pids = {}
        for name in names:
            inst = ids.team.registry.named(name)
            if inst is not None and isinstance(inst.get("pid"), int):
                pids[name] = int(inst["pid"])
                ids.ids[name] = (pids[name], str(inst["id"]))
        done(pids)

    return job


class InstanceIds:
    """The instance id each worker process registered as, resolved from its name once and
    then kept (the lane's): a heartbeat look, a snapshot or a dead worker's put-back reads
    its instance in one read, not two, and several in one pipelined round."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.ids: dict[str, tuple[int, str]] = {}  # worker name -> (its pid, instance id)

    def known(self, name: str, pid: int) -> str | None:
        pid_iid = self.ids.get(name)
        return pid_iid[1] if pid_iid is not None and pid_iid[0] == pid else None

    def records(self, running: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        """The instance record of each (name, pid) still registered by that process: one
        pipelined round of reads for those whose id is known, a lookup by name otherwise."""
        paths = self.team.registry.paths
        asked = {
            (name, pid): self.team.client.get_async(paths.instance(self.ids[name][1]))
            for name, pid in running
            if self.known(name, pid)
        }
        found = {key: self._record(key, asked.get(key)) for key in running}
        return {key: inst for key, inst in found.items() if inst is not None}

    def _record(self, key: tuple[str, int], asked: Any) -> dict[str, Any] | None:
        try:
            inst = decode(asked.get()[0]) if asked else self.team.registry.named(key[0])
        except NoNodeError:
            inst = None
        if inst is None or inst.get("pid") != key[1]:
            self.ids.pop(key[0], None)
            return None
        self.ids[key[0]] = (key[1], str(inst["id"]))
        return inst

    def ages(self, running: list[tuple[str, int]]) -> dict[tuple[str, int], float | None]:
        """How long ago each worker last beat (None: not known)."""
        now, records = time.time(), self.records(running)
        beats = {key: records.get(key, {}).get("heartbeat_at") for key in running}
        return {key: now - parse_iso(b) if isinstance(b, str) else None for key, b in beats.items()}


def heartbeat_ages(
    ids: InstanceIds,
    running: list[tuple[str, int]],
    done: Callable[[dict[tuple[str, int], float | None]], None],
) -> Job:
    """How old each running worker's last heartbeat is (None: not known)."""

    def job() -> None:
        if ids.team.client.connected:
            done(ids.ages(running))

    return job


def sweep(
    team: Team, leadership: Leadership, done: Callable[[float | None], None], finished: set[str]
) -> Job:
    """The leader's sweep (zk/recovery.py); its recoveries show as task events. ``done``
    gets the earliest lease end it saw (epoch seconds): the next sweep is due then.
    ``finished``: the lane's memory of the chains that ended, which it never reads again."""

    def job() -> None:
        if leadership.is_leader():
            sweep_tasks(team.tasks, time.time())
            for host in mark_lost(team.client, team.name, time.time()):
                log.warning("host %s lost: its supervisor is gone without stopping", host)
            for chain_id in sweep_chains(team.tasks, "leader", time.time(), finished):
                log.warning("%s needs a human: a stage of it failed for good", chain_id)
            done(team.registry.next_lease_end)

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


def watch_pushes(team: Team, changed: Callable[[], None]) -> None:
    """Not a job: set at start-up, before the loop runs. ``changed`` is called from
    kazoo's thread whenever tasks are pushed (each push batch sets the task counter);
    the state folders are watched by the publisher's scans (taskevents.py)."""
    DataWatch(team.client, team.tasks.paths.counter, lambda _data, _stat: changed())


def watch_members(team: Team, changed: Callable[[], None]) -> None:
    """Not a job: set at start-up. ``changed`` is called from kazoo's thread whenever a
    worker registers or goes (``names/``) and whenever a host's supervisor comes or goes
    (its snapshot is ephemeral): the leader then sweeps, which re-queues what the gone held
    and marks a host that went without stopping as lost (zk/hosts.py)."""
    folder = TeamPaths(team.name).supervisors
    team.client.ensure_path(folder)  # a ChildrenWatch on a missing node stops silently
    ChildrenWatch(team.client, folder, lambda _children: changed())
    ChildrenWatch(team.client, team.registry.paths.names, lambda _children: changed())
