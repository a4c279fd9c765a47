"""``leader`` (no spawning) shows the hand-registered team, blocked tasks and its name."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

import pytest

from claude_orchestrator.supervisor.snapshot import Snapshot
from claude_orchestrator.supervisor.teamread import read_snapshots
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from tests.clihelp import BIN
from tests.helpers import wait_until
from tests.test_supervisor import Project, project

__all__ = ["project"]  # the fixture, used by name
pytestmark = pytest.mark.slow


def test_leader_shows_registered_instances_blocked_reasons_and_its_name(
    project: Project, zk_hosts: str
) -> None:
    def cli(*args: str) -> Any:
        return project.ok("-z", zk_hosts, *args)

    jerry = cli("register", "--name", "jerry", "--role", "developer")["id"]
    cli("register", "--name", "bob", "--role", "tester")
    tid = cli("push-task", "--title", "deploy")["id"]
    assert cli("-i", jerry, "claim-task")["id"] == tid
    cli("-i", jerry, "task-block", "--task-id", tid, "--reason", "no deploy key")
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    argv = [BIN, "-f", str(project.root / "team.toml"), "-z", zk_hosts, "leader", "--no-tui"]
    leader = subprocess.Popen(
        [*argv, "--name", "tom"], cwd=project.root, env=env, stdout=subprocess.DEVNULL
    )
    client = connect(ZkOptions(zk_hosts))
    try:

        def seen() -> Snapshot | None:
            snaps = read_snapshots(client, "sup")
            return snaps[0] if snaps and snaps[0].blocked and snaps[0].workers else None

        def all_three() -> Snapshot | None:
            snap = seen()
            return snap if snap is not None and len(snap.workers) == 3 else None

        snap = wait_until(all_three, 30, "the leader's snapshot with its own inbox")
        assert {(w.name, w.role, w.state) for w in snap.workers} == {
            ("jerry", "developer", "running"),
            ("bob", "tester", "running"),
            ("tom", "leader", "running"),  # the leader's inbox, named by --name
        }
        assert [(t.id, t.reason) for t in snap.blocked] == [(tid, "no deploy key")]
        assert snap.name == "tom"
    finally:
        disconnect(client)
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(30) == 0


def test_ps_shows_a_silent_supervisor_s_workers_as_unknown_with_the_snapshot_age(
    project: Project, zk_hosts: str
) -> None:
    import json
    import time

    from claude_orchestrator.supervisor.snapshot import STALE_AFTER, WorkerRow
    from claude_orchestrator.zk.paths import TeamPaths

    project.ok("-z", zk_hosts, "set-context", "--key", "k", "--value", "v")  # the team's tree
    row = WorkerRow("w1", "dev", "frozen-host", "running", pid=4242, started_at=time.time())
    taken = time.time() - STALE_AFTER - 95
    snap = Snapshot("sup", "frozen-host", 4242, zk_hosts, False, True, taken, workers=(row,))
    client = connect(ZkOptions(zk_hosts))
    try:
        path = TeamPaths("sup").supervisor("frozen-host")
        client.create(path, json.dumps(snap.to_dict()).encode(), makepath=True)
        rows = project.ok("-z", zk_hosts, "ps", "--json")
        assert rows[0]["state"] == "unknown" and rows[0]["snapshot_age"] > STALE_AFTER + 90
        text = project.ok("-z", zk_hosts, "ps")
        assert "running" not in text and "unknown" in text
        assert "frozen-host (pid 4242) stopped publishing" in text and "2m0" in text
    finally:
        disconnect(client)


def test_a_short_task_shows_claimed_and_completed_once_each(project: Project) -> None:
    project.ok("up", "-d")
    tid = project.ok("push-task", "--title", "quick")["id"]
    log = project.root / ".claude-orchestrator/logs/supervisor.log"

    def lines() -> list[str]:
        return [line for line in log.read_text().splitlines() if f" {tid}" in line]

    wait_until(lambda: any(" completed " in line for line in lines()), 30, "completed event")
    kinds = [line.split()[1] for line in lines()]
    assert kinds == ["claimed", "completed"]
    assert all(" w1 " in line or " w2 " in line for line in lines())
    project.ok("down")
