"""Dispatch latency into an idle worker: push → claimed → started (agent about to spawn)
→ agent process running. Prints one JSON object.

    .venv/bin/python bench/dispatch_latency.py [--tasks 40]

Each task is pushed only when the worker is idle again (the previous one completed), so
every push meets a worker blocked on its watches. Timestamps come from the task record
(created_at, claimed_at, started_at) and from the fake agent, which notes the time it
started (its Python start-up is not counted as dispatch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import header, poll, private_server, summary
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"


def team_file(project: Path) -> Path:
    path = project / "team.toml"
    path.write_text(
        '[team]\nname = "bench"\n\n[agents.claude]\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]\n\n"
        '[[worker]]\nname = "w1"\n'
    )
    return path


def measure(hosts: str, tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-dispatch-") as tmp:
        project = Path(tmp)
        env = {**os.environ, "ZK_HOSTS": hosts, "CO_INSTANCE_ID": ""}
        worker = subprocess.Popen(
            [BIN, "-f", str(team_file(project)), "worker", "--name", "w1"],
            cwd=project,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        client = connect(ZkOptions(hosts))
        team = Team(client, "bench")
        try:
            poll(team.registry.ids)
            return _run(team, tasks)
        finally:
            worker.terminate()
            worker.wait(30)
            disconnect(client)


def _run(team: Team, tasks: int) -> dict[str, Any]:
    claimed, started = [], []
    spec = validate_spec({"title": "bench", "description": "noop"}, "bench")
    for _ in range(tasks):
        time.sleep(0.05)  # let the worker settle back into waiting on its watches
        rec = push(team.tasks, [spec], "bench", time.time())[0]
        task_id = rec.id
        done = poll(lambda: _finished(team, task_id))  # noqa: B023 - polled before the loop moves on
        created = parse_iso(done.created_at)
        claimed.append(parse_iso(str(done.claimed_at)) - created)
        started.append(parse_iso(str(done.started_at)) - created)
    return {"push_to_claimed": summary(claimed), "push_to_started": summary(started)}


def _finished(team: Team, task_id: str) -> Task | None:
    rec = team.tasks.get(task_id)
    return rec if rec.status in ("completed", "failed") else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    with private_server() as server:
        report = {
            **header(),
            "tasks": args.tasks,
            **measure(server.hosts, args.tasks),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
