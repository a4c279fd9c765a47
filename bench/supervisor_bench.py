"""Supervisor figures: up of 4 and 50 workers, respawn and registration after SIGKILL,
orphan re-queue, supervisor RSS and idle CPU at 50 workers, end-to-end throughput with
4 workers and a fast agent. Prints one JSON object.

    .venv/bin/python bench/supervisor_bench.py [--kills 10] [--tasks 200]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.common import header, poll, summary
from claude_orchestrator.conf.credentials import read_team_credential
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team

BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = Path(__file__).resolve().parent.parent / "tests" / "fake_agent.py"


class Bench:
    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        lines = [
            '[team]\nname = "bench"\n\n[agents.claude]\n',
            f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]\n",
        ]
        lines += [f'\n[[worker]]\nname = "w{i}"\n' for i in range(1, workers + 1)]
        (root / "team.toml").write_text("".join(lines))
        self.env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BIN, "-f", str(self.root / "team.toml"), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )

    def state(self, name: str) -> Path:
        return self.root / ".claude-orchestrator" / name

    def workers(self) -> dict[str, int]:
        try:
            table = json.loads(self.state("run/workers.json").read_text())
        except (OSError, ValueError):
            return {}
        return {n: int(v["pid"]) for n, v in table.items()}

    def supervisor_pid(self) -> int:
        return int(json.loads(self.state("run/supervisor.pid").read_text()))

    def team(self) -> tuple[Team, Any]:
        hosts = json.loads(self.state("run/zookeeper.json").read_text())["hosts"]
        auth = read_team_credential(self.state("."))  # the embedded team is authenticated
        client = connect(ZkOptions(hosts, auth=auth))
        return Team(client, "bench"), client


def timed_up(b: Bench) -> float:
    start = time.perf_counter()
    b.cli("up", "-d", "--wait", "300s")
    return time.perf_counter() - start


def kill_cycle(b: Bench, team: Team, name: str) -> tuple[float, float]:
    old = b.workers()[name]
    # kill only a worker whose start has counted (up > startsecs): a younger one's death is a
    # failed start, which backs off by design and is not what this measures
    poll(lambda: time.time() - psutil.Process(old).create_time() > 2.5, 60)  # ±1 s accuracy
    old_iid = team.registry.resolve_name(name)
    os.kill(old, signal.SIGKILL)
    t0 = time.perf_counter()
    poll(lambda: b.workers().get(name, old) != old)
    respawn = time.perf_counter() - t0

    def registered() -> bool:
        try:
            return team.registry.resolve_name(name) != old_iid
        except Exception:
            return False

    poll(registered)
    return respawn, time.perf_counter() - t0


def requeue_cycle(b: Bench, team: Team) -> float:
    # long enough to be killed in the middle of, short enough not to hold a worker after the
    # cancel below (the agent of a cancelled task runs on until it ends)
    spec = validate_spec({"title": "long", "description": "fake-agent:sleep=3"}, "bench")
    tid = push(team.tasks, [spec], "bench", time.time())[0].id
    rec = poll(lambda: (r := team.tasks.get(tid)).status == "in_progress" and r)
    holder = str(rec.claimed_by).rsplit("-", 1)[0]
    os.kill(b.workers()[holder], signal.SIGKILL)
    t0 = time.perf_counter()
    poll(lambda: team.tasks.get(tid).retry_count == 1)
    took = time.perf_counter() - t0
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.taskmodel import Action, Change

    op = Actor.operator()
    poll(lambda: team.tasks.get(tid).status in ("pending", "claimed", "in_progress"))
    team.tasks.transition(tid, Change(Action.CANCEL, by=op.label, at="bench"), op, time.time())
    return took


def throughput(team: Team, tasks: int) -> dict[str, Any]:
    """Push ``tasks`` at once; seconds until all are completed, told by a watch on the
    completed folder (polling would spend the cores the team is measured on)."""
    from kazoo.recipe.watchers import ChildrenWatch

    spec = validate_spec({"title": "fast", "description": "quick"}, "bench")
    completed = team.tasks.paths.state_folder("completed")
    before = len(team.tasks.entries(completed))
    all_done = threading.Event()

    def seen(children: list[str]) -> bool:
        if len(children) - before >= tasks:
            all_done.set()
            return False  # stop watching
        return True

    start = time.perf_counter()
    push(team.tasks, [spec] * tasks, "bench", time.time())
    ChildrenWatch(team.client, completed, seen)
    if not all_done.wait(600):
        raise TimeoutError("the tasks were not all completed")
    took = time.perf_counter() - start
    return {"tasks": tasks, "seconds": round(took, 2), "tasks_per_s": round(tasks / took, 1)}


def _instances(team: Team) -> list[dict[str, Any]]:
    return [team.registry.find(i) or {} for i in team.registry.ids()]


def four_workers(kills: int, tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-sup-") as tmp:
        b = Bench(Path(tmp), 4)
        up_s = timed_up(b)
        team, client = b.team()
        try:
            cycles = [kill_cycle(b, team, f"w{1 + i % 4}") for i in range(kills)]
            requeue = [requeue_cycle(b, team) for _ in range(kills)]
            poll(lambda: not any(i.get("current_task") for i in _instances(team)), 60, 0.1)
            tp = throughput(team, tasks)
        finally:
            disconnect(client)
            b.cli("down")
    return {
        "up_4_workers_s": round(up_s, 2),
        "respawn": summary([c[0] for c in cycles]),
        "registered": summary([c[1] for c in cycles]),
        "requeue": summary(requeue),
        "throughput_4_workers": tp,
    }


def fifty_workers() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-sup50-") as tmp:
        b = Bench(Path(tmp), 50)
        up_s = timed_up(b)
        time.sleep(5)  # let start-up settle before measuring idle
        proc = psutil.Process(b.supervisor_pid())
        proc.cpu_percent(None)
        time.sleep(10)
        cpu = proc.cpu_percent(None)
        rss = proc.memory_info().rss / 2**20
        b.cli("down")
    return {
        "up_50_workers_s": round(up_s, 2),
        "supervisor_rss_mib_50": round(rss, 1),
        "supervisor_idle_cpu_pct_50": round(cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    report = {
        **header(),
        **four_workers(args.kills, args.tasks),
        **fifty_workers(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
