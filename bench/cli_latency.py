"""CLI command latency (push, claim, complete; real binary, median of N) and raw
claim throughput with 1 and 8 claimer processes. Prints one JSON object.

    .venv/bin/python bench/cli_latency.py [--runs 25] [--tasks 2000]

The package's bytecode is compiled first, as a wheel install leaves it (an editable
install under PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every
run). The "floor" rows time the bare interpreters on the same machine: ``python -c pass``
and, when installed, ``node -e 0`` (the runtime of the Node tool this one re-implements).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import header, private_server, summary
from claude_orchestrator.zk.claim import Claimer
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.team import Team

BIN = str(Path(sys.executable).parent / "claude-orchestrator")


def timed_run(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    out = subprocess.run(
        [BIN, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, json.loads(out.stdout)


def compile_package() -> None:
    import compileall

    compileall.compile_dir(
        str(Path(__file__).resolve().parent.parent / "claude_orchestrator"), quiet=1
    )


def floor(runs: int) -> dict[str, Any]:
    """The same subprocess timing for the bare runtimes and for an import-only command."""
    found: dict[str, Any] = {}
    argvs = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "node -e 0": ["node", "-e", "0"],
        "claude-orchestrator --version (imports only)": [BIN, "--version"],
    }
    for label, argv in argvs.items():
        try:
            found[label] = summary([timed(argv) for _ in range(runs)])
        except FileNotFoundError:
            continue
    return found


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_latency(hosts: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "ZK_HOSTS": hosts, "CO_TEAM": "bench-cli", "HOME": cwd}
        push_s = [timed_run(["push-task", "--title", f"t{i}"], env, cwd)[0] for i in range(runs)]
        _, inst = timed_run(["register", "--name", "bench"], env, cwd)
        claim_s, complete_s = [], []
        for _ in range(runs):
            took, task = timed_run(["claim-task"], env, cwd)
            claim_s.append(took)
            args = ["complete-task", "--task-id", task["id"], "--result", "ok"]
            complete_s.append(timed_run(args, env, cwd)[0])
        config_s = [timed_run(["config"], env, cwd)[0] for _ in range(runs)]
    del inst
    return {
        "push-task": summary(push_s),
        "claim-task": summary(claim_s),
        "complete-task": summary(complete_s),
        "config (no ZooKeeper)": summary(config_s),
    }


def claimer(hosts: str, team: str, name: str, spread: int, start: Any, out: Any) -> None:
    client = connect(ZkOptions(hosts))
    t = Team(client, team)
    inst = t.registry.register(Registration(name, "bench", "/tmp", True), time.time())
    actor = Actor(label=inst["id"], instance_id=inst["id"], name=name, role="bench")
    worker = Claimer(t.tasks, actor, spread)
    start.wait()
    count = 0
    while worker.claim(time.time()) is not None:
        count += 1
    out.put((count, time.perf_counter()))
    disconnect(client)


def throughput(hosts: str, claimers: int, tasks: int) -> dict[str, Any]:
    team = f"bench-claim-{claimers}"
    client = connect(ZkOptions(hosts))
    t = Team(client, team)
    spec = validate_spec({"title": "x"}, "bench")
    push(t.tasks, [spec] * tasks, "bench", time.time())
    disconnect(client)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=claimer,
            args=(hosts, team, f"c{i}", 1 if claimers == 1 else 2 * claimers, start, out),
        )
        for i in range(claimers)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every claimer connect and register before the clock starts
    began = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(r[1] for r in results) - began
    claimed = sum(r[0] for r in results)
    return {
        "claimers": claimers,
        "claimed": claimed,
        "seconds": round(elapsed, 3),
        "claims_per_s": round(claimed / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    compile_package()
    with private_server() as server:
        report = {
            **header(),
            "floor": floor(args.runs),
            "cli_latency": cli_latency(server.hosts, args.runs),
            "claim_throughput": [throughput(server.hosts, n, args.tasks) for n in (1, 8)],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
