"""The fleet governor (issue 13): how fast a pause reaches every worker, and how many agent
runs a limit burns with it and without it. Prints one JSON object.

    .venv/bin/python bench/governor.py [--workers 4] [--rounds 20] [--tasks 20]

Real worker processes (`claude-orchestrator worker`, the fake agent) on a private ZooKeeper
server.

**Propagation.** ``--rounds`` times, with every worker idle: a pause record is written as a
worker writes it on a limit (``Pauses.on_limit``), and each worker's instance record is
watched until it says ``paused`` — the worker's watch fired, its loop woke, it declined to
claim and wrote so. The time is the instance's ``mtime`` minus the pause record's (both the
server's clock, milliseconds), per worker; then the pause is lifted and the workers are seen
to resume before the next round.

**Runs burned.** ``--tasks`` tasks pushed at once to the idle workers, every run of which
ends on the provider's limit (``fake-agent:ratelimit``: 429 retries, no result): the runs
started before every worker stopped, and those started after (the governor's target: 0 after
the first report; the first ``--workers`` runs start together, before any report). Then the
same with a failure the governor cannot recognise as a limit (``fake-agent:fail``), which is
what every limit was before it: each run costs a retry and the next claim goes straight into
the same wall until every task has failed.
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
from claude_orchestrator.zk.governor import Pauses
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"


class Rig:
    def __init__(self, hosts: str, project: Path, workers: int) -> None:
        self.project, self.record = project, project / "calls.jsonl"
        agent = json.dumps([sys.executable, str(FAKE_AGENT)])
        env_line = f'env = {{ FAKE_AGENT_RECORD = "{self.record}" }}'
        names = [f"w{i}" for i in range(1, workers + 1)]
        (project / "team.toml").write_text(
            f'[team]\nname = "bench"\n\n[agents.claude]\ncommand = {agent}\n'
            + "".join(f'\n[[worker]]\nname = "{n}"\n{env_line}\n' for n in names)
        )
        env = {**os.environ, "ZK_HOSTS": hosts, "CO_INSTANCE_ID": ""}
        toml = str(project / "team.toml")
        self.procs = [
            subprocess.Popen(
                [BIN, "-f", toml, "worker", "--name", n, "--grace", "1s"],
                cwd=project,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            for n in names
        ]
        self.client = connect(ZkOptions(hosts, 10.0, 10.0))
        self.team = Team(self.client, "bench")
        self.pauses = Pauses(self.client, "bench")
        poll(lambda: len(self.team.registry.ids()) == workers, 30)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        disconnect(self.client)

    def paused(self) -> dict[str, int | None]:
        """instance id -> the instance's mtime (ms) while it says paused, else None."""
        found: dict[str, int | None] = {}
        for iid in self.team.registry.ids():
            data, stat = self.client.get(self.team.registry.paths.instance(iid))
            found[iid] = stat.mtime if json.loads(data).get("paused") else None
        return found

    def runs(self) -> int:
        return len(self.record.read_text().splitlines()) if self.record.exists() else 0


def propagation(rig: Rig, rounds: int) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        rig.pauses.on_limit("claude", time.time() + 600, "bench", "bench")
        _, stat = rig.client.get(rig.pauses.path("claude"))
        marks = poll(lambda: (p := rig.paused()) and all(v is not None for v in p.values()) and p)
        samples += [(mtime - stat.mtime) / 1000 for mtime in marks.values()]
        rig.pauses.resume("claude")
        poll(lambda: all(v is None for v in rig.paused().values()))
    return summary(samples)


def burned(rig: Rig, tasks: int, mode: str) -> dict[str, Any]:
    before = rig.runs()
    spec = validate_spec({"title": "t", "description": f"fake-agent:{mode}"}, "bench")
    ids = [t.id for t in push(rig.team.tasks, [spec] * tasks, "bench", time.time())]
    if mode == "ratelimit":
        poll(lambda: all(v is not None for v in rig.paused().values()), 60)
        at_pause = rig.runs() - before
        time.sleep(3)  # a bench may wait: any run started after the pause would show here
        after = rig.runs() - before - at_pause
        records = [rig.team.tasks.get(i) for i in ids]
        rig.pauses.resume("claude")
        return {
            "runs_until_every_worker_paused": at_pause,
            "runs_after": after,
            "tasks_failed": sum(1 for t in records if t.status.value == "failed"),
            "retries_counted": sum(t.retry_count for t in records),
        }
    started = time.monotonic()
    poll(lambda: all(rig.team.tasks.get(i).status.value == "failed" for i in ids), 300, 0.05)
    return {
        "runs": rig.runs() - before,
        "tasks_failed": tasks,
        "seconds_until_all_failed": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    with private_server() as server, tempfile.TemporaryDirectory(prefix="co-gov-") as tmp:
        rig = Rig(server.hosts, Path(tmp), args.workers)
        try:
            report = {
                **header(),
                "workers": args.workers,
                "pause_propagation": propagation(rig, args.rounds),
                "with_the_governor": burned(rig, args.tasks, "ratelimit"),
            }
        finally:
            rig.close()
    with private_server() as server, tempfile.TemporaryDirectory(prefix="co-gov-") as tmp:
        rig = Rig(server.hosts, Path(tmp), args.workers)
        try:
            report["a_limit_it_cannot_see"] = burned(rig, args.tasks, "fail")
        finally:
            rig.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
