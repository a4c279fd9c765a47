"""Worker footprint: what one ``claude-orchestrator worker`` process costs while it waits
for work. Prints one JSON object: the idle worker's RSS (MiB), the import time and module
count of its start-up (``-X importtime``), and the time from spawn to its instance node in
ZooKeeper (p50/p95 over N runs).

    .venv/bin/python bench/worker_footprint.py [--runs 20] [--compare DIR]

Each worker is started as the supervisor starts it (``-f team.toml worker --name NAME``,
procs.py ``worker_argv``) against a private server, with an authenticated team as the
embedded server's. ``--compare DIR`` runs a second source tree (a ``git worktree`` of an
older commit, say) the same way, alternating runs with this one: the machine's speed
drifts, so old and new are measured interleaved, never one after the other. Both trees
are byte-compiled first, as a wheel install leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.common import header, private_server, summary
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.paths import TeamPaths

HERE = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = HERE / "tests" / "fake_agent.py"
AUTH = "bench:footprint-secret"
#: how long a registered worker sits idle before its memory is read
SETTLE_S = 1.0


def team_file(root: Path, hosts: str) -> Path:
    path = root / "team.toml"
    path.write_text(
        f'[team]\nname = "fp"\nzookeeper = "{hosts}"\nauth = "env:CO_BENCH_AUTH"\n\n'
        f"[agents.claude]\ncommand = [{json.dumps(sys.executable)}, "
        f"{json.dumps(str(FAKE_AGENT))}]\n"
    )
    return path


class Arrivals:
    """Instance nodes as they appear, seen through a children watch (no polling)."""

    def __init__(self, client: Any, path: str) -> None:
        self.cond = threading.Condition()
        self.seen: dict[str, float] = {}
        client.ensure_path(path)
        client.ChildrenWatch(path, self._on_children)

    def _on_children(self, children: list[str]) -> None:
        now = time.perf_counter()
        with self.cond:
            for child in children:
                self.seen.setdefault(child, now)
            self.cond.notify_all()

    def wait_for(self, name: str, timeout: float = 30.0) -> float:
        """When an instance of worker ``name`` first appeared."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [t for c, t in self.seen.items() if c.rsplit("-", 1)[0] == name]
                if hits:
                    return min(hits)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"worker {name} never registered")
                self.cond.wait(left)


def source_env(src: Path, env: dict[str, str]) -> dict[str, str]:
    """Run the CLI from source tree ``src`` (ahead of the installed package)."""
    return {**env, "PYTHONPATH": str(src)}


def one_run(
    src: Path, tf: Path, name: str, arrivals: Arrivals, env: dict[str, str]
) -> tuple[float, float, bool]:
    """Spawn one worker: seconds from spawn to registered, idle RSS in MiB, and whether
    OpenSSL's libcrypto is mapped into it."""
    argv = [BIN, "-f", str(tf), "worker", "--name", name]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=source_env(src, env),
        cwd=tf.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        registered = arrivals.wait_for(name) - start
        time.sleep(SETTLE_S)  # idle: its session and watches are set up
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return registered, rss, "libcrypto" in maps


#: modules an idle worker has no use for, reported when they are loaded
WATCHED = ("click", "rich", "ssl", "psutil", "dataclasses", "uuid", "importlib.resources")


def import_profile(src: Path, tf: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    """Modules a worker imports up to its idle loop, and the import time they cost (the sum
    of ``-X importtime``'s self times, median of ``runs``; the tool's own overhead is in it)."""
    totals: list[float] = []
    names: set[str] = set()
    for i in range(runs):
        argv = [sys.executable, "-X", "importtime", BIN, "-f", str(tf), "worker"]
        proc = subprocess.Popen(
            [*argv, "--name", f"imp{i}"],
            env=source_env(src, env),
            cwd=tf.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3.0)  # ample for start-up: the import log is complete by then
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:")]
        rows = [r for r in rows if r[0].split(":")[1].strip().isdigit()]
        totals.append(sum(int(r[0].split(":")[1]) for r in rows) / 1000)
        names = {r[2].strip() for r in rows}
    return {
        "modules": len(names),
        "import_self_ms": round(statistics.median(totals), 1),
        "loaded_of_watched": [m for m in WATCHED if m in names],
    }


def compile_tree(src: Path) -> None:
    import compileall

    compileall.compile_dir(str(src / "claude_orchestrator"), quiet=1)


def measure(trees: dict[str, Path], runs: int) -> dict[str, Any]:
    with private_server() as server, tempfile.TemporaryDirectory(prefix="co-fp-") as tmp:
        hosts = f"127.0.0.1:{server.port}"
        tf = team_file(Path(tmp), hosts)
        env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
        env["CO_BENCH_AUTH"] = AUTH
        client = connect(ZkOptions(hosts, auth=AUTH))
        try:
            arrivals = Arrivals(client, TeamPaths("fp").instances)
            one_run(next(iter(trees.values())), tf, "warm", arrivals, env)  # creates the tree
            samples: dict[str, list[tuple[float, float, bool]]] = {label: [] for label in trees}
            for i in range(runs):
                for label, src in trees.items():  # alternating: drift hits both alike
                    samples[label].append(one_run(src, tf, f"{label}{i}", arrivals, env))
            profiles = {label: import_profile(src, tf, env, 3) for label, src in trees.items()}
        finally:
            disconnect(client)
    return {
        label: {
            "idle_rss_mib": round(statistics.median(r for _, r, _ in rows), 1),
            "libcrypto_mapped": any(mapped for _, _, mapped in rows),
            "spawn_to_registered": summary([t for t, _, _ in rows]),
            **profiles[label],
        }
        for label, rows in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare", type=Path, help="an older source tree, run alternately")
    args = parser.parse_args()
    trees = {"new": HERE}
    if args.compare is not None:
        trees = {"old": args.compare.resolve(), "new": HERE}
    for src in trees.values():
        compile_tree(src)
    print(json.dumps({**header(), **measure(trees, args.runs)}, indent=2))


if __name__ == "__main__":
    main()
