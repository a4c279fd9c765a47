"""The merge queue's throughput and its overhead per merge (issue 12). Prints one JSON object.

    .venv/bin/python bench/merge_queue.py [--chains 20] [--commits 2]

In-process, against a private ZooKeeper server and a real git repository in a temp dir:
``--chains`` chains are made running, each with a branch ``co/<chain>`` of ``--commits``
commits on a file of its own, all branched from the same ``main`` (so every merge after
the first replays its commits on a target that moved), and queued for merging as an
accepted chain is. The leader's ``Merger`` (supervisor/merger.py) then drains the queue
with ``[pipeline] checks = [["true"]]``: the merges per minute, and per merge the time from
reading the queue entry to ``merged`` recorded, minus the time the checks themselves ran
(each check's ``duration_ms`` from the merge record) — the overhead the issue caps at 1 s.
The same run without checks is reported too. Every merge is checked afterwards: each
chain ``done`` and ``merged``, and ``git cherry`` finds none of its commits missing on main.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import header, private_server, summary
from claude_orchestrator.conf.team import load_team
from claude_orchestrator.spawn.git import Repo, ensure_worktree
from claude_orchestrator.spawn.gitchain import ensure_branch, land, start_at
from claude_orchestrator.spawn.gitcommit import commit_changes
from claude_orchestrator.spawn.gitrefs import LocalRefs
from claude_orchestrator.supervisor.merger import Merger
from claude_orchestrator.zk.chains import ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.merges import merge_of, with_merge
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team


class Leading:
    """The bench's supervisor always leads."""

    def is_leader(self) -> bool:
        return True


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(root: Path, checks: bool) -> Path:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "bench@example.com")
    git(root, "config", "user.name", "bench")
    (root / ".gitignore").write_text(".claude-orchestrator/\n")
    pipeline = '\n[pipeline]\nchecks = [["true"]]\n' if checks else ""
    (root / "team.toml").write_text(f'[team]\nname = "mq"\nisolation = "worktree"\n{pipeline}')
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    return root


def queue_chains(team: Team, root: Path, chains: int, commits: int) -> list[str]:
    """``chains`` running chains, each with its own branch, queued in order."""
    store, paths = ChainStore(team.client, team.name), TeamPaths(team.name)
    wt = root / ".claude-orchestrator" / "worktrees" / "bench"
    ensure_worktree(Repo(root), wt, "co/worker/bench", "main")
    team.client.ensure_path(paths.merge_queue)
    ids = []
    for n in range(chains):
        chain, _ = store.create(
            team.tasks, f"goal {n}", "bench", time.time(), PlanOptions(merge=True)
        )
        refs = LocalRefs(root)
        tip = ensure_branch(refs, f"co/{chain.id}", "main")
        start_at(wt, "co/worker/bench", tip, "bench")
        for c in range(commits):
            (wt / f"chain{n}.txt").write_text(f"{n} {c}\n")
            commit_changes(wt, f"chain {n} commit {c}")
        land(wt, refs, f"co/{chain.id}", tip)

        def queued(c: Any) -> dict[str, Any]:
            return {"status": ChainStatus.RUNNING, "extra": with_merge(c, status="queued")}

        store.update(chain.id, queued, "bench", time.time(), "accepted")
        team.client.create(paths.merge_entry(f"{chain.id}-"), b"", sequence=True)
        ids.append(chain.id)
    return ids


def drain(hosts: str, checks: bool, chains: int, commits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-bench-mq-") as tmp:
        root = make_repo(Path(tmp), checks)
        client = connect(ZkOptions(hosts, 10.0, 10.0))
        try:
            team = Team(client, f"mq-{int(time.time() * 1000)}")
            ids = queue_chains(team, root, chains, commits)
            config = load_team(root / "team.toml")
            merger = Merger(team, config, Leading(), lambda _e: None, lambda *_a: None)
            times = []
            original = merger.merge_one

            def timed(entry: str, chain_id: str) -> None:
                start = time.perf_counter()
                original(entry, chain_id)
                times.append(time.perf_counter() - start)

            merger.merge_one = timed  # type: ignore[method-assign]
            start = time.perf_counter()
            merger.drain()
            total = time.perf_counter() - start
            return _report(team, root, ids, times, total)
        finally:
            disconnect(client)


def _report(
    team: Team, root: Path, ids: list[str], times: list[float], total: float
) -> dict[str, Any]:
    store = ChainStore(team.client, team.name)
    overheads, bad = [], []
    for chain_id, took in zip(ids, times, strict=True):
        chain = store.get(chain_id)
        merge = merge_of(chain)
        checks_s = sum(c["duration_ms"] for c in merge.get("checks") or ()) / 1000
        overheads.append(took - checks_s)
        missing = "+" in git(root, "cherry", "main", f"co/{chain_id}")
        if chain.status is not ChainStatus.DONE or merge.get("status") != "merged" or missing:
            bad.append(chain_id)
    return {
        "merges": len(times),
        "merges_per_minute": round(len(times) / total * 60, 1),
        "per_merge": summary(times),
        "overhead_beyond_checks": summary(overheads),
        "not_merged_or_not_proven": bad,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=20, help="chains queued")
    parser.add_argument("--commits", type=int, default=2, help="commits per chain")
    args = parser.parse_args()
    with private_server() as server:
        with_checks = drain(server.hosts, True, args.chains, args.commits)
        without = drain(server.hosts, False, args.chains, args.commits)
    print(json.dumps({**header(), "trivial_check": with_checks, "no_checks": without}, indent=2))


if __name__ == "__main__":
    main()
