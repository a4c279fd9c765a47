"""A team against a 3-server ensemble (issue 10 §4): commands take the multi-server connect
string, and killing the ensemble's own leader mid-run loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.taskmodel import TaskStatus
from claude_orchestrator.zk.team import Team
from tests.ensemble import ZkEnsemble
from tests.helpers import exited, wait_until

pytestmark = pytest.mark.slow

BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"
TASKS = 30


def team_file(root: Path) -> Path:
    path = root / "team.toml"
    agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
    workers = "".join(f'\n[[worker]]\nname = "w{i}"\n' for i in (1, 2))
    path.write_text(f'[team]\nname = "ens"\n\n[agents.claude]\ncommand = {agent}\n{workers}')
    return path


def completions(team: Team, task_id: str) -> int:
    rec = team.tasks.get(task_id)
    return sum(1 for entry in rec.history if entry.to is TaskStatus.COMPLETED)


def test_killing_the_ensemble_leader_mid_run_loses_and_duplicates_nothing(
    ensemble: ZkEnsemble, tmp_path: Path
) -> None:
    toml = team_file(tmp_path)
    env = {**os.environ, "ZK_HOSTS": ensemble.hosts, "CO_TEAM": "ens", "CO_INSTANCE_ID": ""}
    cli = [BIN, "-f", str(toml), "-z", ensemble.hosts]
    pushed = subprocess.run(
        [*cli, "push-task", "--title", "via the CLI"], env=env, capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr  # a multi-server connect string
    workers = [
        subprocess.Popen(
            [BIN, "-f", str(toml), "worker", "--name", f"w{i}"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for i in (1, 2)
    ]
    client = connect(ZkOptions(ensemble.hosts))
    team = Team(client, "ens")
    try:
        spec = validate_spec({"title": "t", "description": "fake-agent:sleep=0.2"}, "test")
        ids = [t.id for t in push(team.tasks, [spec] * TASKS, "test", time.time())]
        ids.append(json.loads(pushed.stdout)["id"])

        def done() -> int:
            return sum(team.tasks.get(i).status is TaskStatus.COMPLETED for i in ids)

        wait_until(lambda: done() >= 5, 60, "a few tasks completed")
        victim = ensemble.leader()
        victim.kill()  # the ensemble's own leader, mid-run
        wait_until(lambda: done() == len(ids), 120, "every task completed")
        assert [i for i in ids if completions(team, i) != 1] == []
        assert ensemble.leader() is not victim  # a new one was elected
    finally:
        disconnect(client)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(30)
    for proc in workers:
        assert exited(proc.pid)
    assert not [p for p in psutil.process_iter(["cwd"]) if _agent_under(p, tmp_path)]


def _agent_under(proc: psutil.Process, root: Path) -> bool:
    try:
        return str(FAKE_AGENT) in proc.cmdline() and proc.cwd().startswith(str(root))
    except psutil.Error:
        return False
