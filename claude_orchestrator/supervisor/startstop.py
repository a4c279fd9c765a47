"""The supervisor's ZooKeeper at start and at stop: which server, with what options,
the workers a dead predecessor left, and leaving without hanging on a server that is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.supervisor import cleanup
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.embedded import EmbeddedZk
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.supervisor.merger import Merger
from claude_orchestrator.supervisor.publish import Publisher
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.client import ZkOptions, disconnect
from claude_orchestrator.zk.team import Team

LEAVE_TIMEOUT = 2.0  # at most this long for the last ZooKeeper steps of a stopping supervisor


def embedded_server(
    cfg: SupervisorConfig, on_exit: Callable[[ExitStatus], None]
) -> EmbeddedZk | None:
    """The embedded server to run or adopt; None when one is configured."""
    if cfg.zk is not None:
        return None
    return EmbeddedZk(cfg.team.state_dir, heap=cfg.team.zookeeper_heap, on_server_exit=on_exit)


def zk_options(cfg: SupervisorConfig, hosts: str) -> ZkOptions:
    base = cfg.zk or ZkOptions(hosts, cfg.connect_timeout, cfg.session_timeout, cfg.auth)
    return ZkOptions(hosts, base.connect_timeout, base.session_timeout, base.auth)


def replace_leftovers(cfg: SupervisorConfig, team: Team) -> list[str]:
    """Workers a dead supervisor left running are stopped cleanly (their tasks released),
    to be started again by us: nothing is duplicated. Their names."""
    leftovers = cleanup.recorded_workers(cfg.team.state_dir)
    if leftovers:
        cleanup.stop_groups(leftovers, cfg.down_timeout)
        cleanup.release_tasks(team, leftovers)
    return sorted(leftovers)


def leave(
    team: Team,
    lane: ZkLane,
    publisher: Publisher | None,
    leadership: Leadership | None,
    clean: bool,
    merger: Merger | None = None,
) -> None:
    """Withdraw, resign and disconnect on the lane, but never wait on ZooKeeper for long:
    with the server gone, stopping the team must not hang. ``clean``: every worker stopped.
    The merge queue stops first (a merge under way is finished by the next leader)."""
    if merger is not None:
        merger.stop()

    def job() -> None:
        if publisher is not None:
            publisher.withdraw(clean)
        if leadership is not None:
            leadership.release()

    lane.submit(job)
    lane.drain(LEAVE_TIMEOUT)
    lane.close()
    closer = threading.Thread(target=disconnect, args=(team.client,), daemon=True)
    closer.start()
    closer.join(LEAVE_TIMEOUT)
