"""Dispatch latency into an idle worker: push → claimed → started (agent about to spawn)
→ agent process running. Prints one JSON object.

    .venv/bin/python bench/dispatch_latency.py [--tasks 40]

Each task is pushed only when the worker is idle again (the previous one completed), so
every push meets a worker blocked on its watches. ``--busy N`` runs N more workers, each
busy with a long task for the whole run, so the push meets one idle worker among busy ones.
Timestamps come from the task record (created_at, claimed_at, started_at) and from the fake
agent, which notes the time it started (its Python start-up is not counted as dispatch).
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


def team_file(project: Path, workers: int) -> Path:
    path = project / "team.toml"
    path.write_text(
        '[team]\nname = "bench"\n\n[agents.claude]\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]\n"
        + "".join(f'\n[[worker]]\nname = "w{i}"\n' for i in range(1, workers + 1))
    )
    return path


def measure(hosts: str, tasks: int, busy: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-dispatch-") as tmp:
        project = Path(tmp)
        env = {**os.environ, "ZK_HOSTS": hosts, "CO_INSTANCE_ID": ""}
        toml = str(team_file(project, busy + 1))
        workers = [
            subprocess.Popen(
                [BIN, "-f", toml, "worker", "--name", f"w{i}", "--grace", "1s"],
                cwd=project,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            for i in range(1, busy + 2)
        ]
        client = connect(ZkOptions(hosts))
        team = Team(client, "bench")
        try:
            poll(lambda: len(team.registry.ids()) == busy + 1)
            _occupy(team, busy)
            return _run(team, tasks)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)
            disconnect(client)


def _occupy(team: Team, busy: int) -> None:
    """Give ``busy`` workers a task that outlasts the run; wait until they all run it."""
    if not busy:
        return
    long = validate_spec({"title": "busy", "description": "fake-agent:sleep=600"}, "bench")
    ids = [t.id for t in push(team.tasks, [long] * busy, "bench", time.time())]
    poll(lambda: all(team.tasks.get(i).status == "in_progress" for i in ids), 60, 0.01)


def _run(team: Team, tasks: int) -> dict[str, Any]:
    claimed, started = [], []
    spec = validate_spec({"title": "bench", "description": "noop"}, "bench")
    for _ in range(tasks):
        time.sleep(0.05)  # let the worker settle back into waiting on its watches
        rec = push(team.tasks, [spec], "bench", time.time())[0]
        task_id = rec.id
        done = poll(lambda: _finished(team, task_id), 30, 0.005)  # noqa: B023
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
    parser.add_argument("--busy", type=int, default=0, help="workers kept busy meanwhile")
    args = parser.parse_args()
    with private_server() as server:
        report = {
            **header(),
            "tasks": args.tasks,
            "busy_workers": args.busy,
            **measure(server.hosts, args.tasks, args.busy),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
