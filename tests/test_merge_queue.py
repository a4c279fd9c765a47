"""The merge queue end to end (issue 12 §3): real supervisor, workers, git and ZooKeeper;
tests/gitbot.py plays every stage and the pipeline's check. Accepted chains land on
``main`` with every commit proven; a conflict or a check failing on the combined result
sends a chain back for a revise round, after which it lands; a leader killed between the
replay and the compare-and-swap leaves ``main`` untouched and the next leader completes it."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import wait_until
from tests.test_git_stages import GitTeam, git, graph, make_team

__all__ = ["make_team"]  # the fixture

pytestmark = pytest.mark.slow

C1, C2 = "chain-0000000001", "chain-0000000002"


def plan_two(team: GitTeam) -> tuple[dict[str, Any], dict[str, Any]]:
    ids = [team.ok("plan", f"goal {n}")["chain_id"] for n in (1, 2)]
    assert ids == [C1, C2]
    return team.wait_ended(C1), team.wait_ended(C2)


def items(*keys: str) -> dict[str, Any]:
    return graph(*({"key": k, "title": f"item {k}", "description": k} for k in keys))


def merged_ok(team: GitTeam, chain: dict[str, Any]) -> None:
    assert chain["status"] == "done", chain.get("reason")
    merge = chain["merge"]
    assert merge["status"] == "merged" and merge["landed"], merge
    main = git(team.root, "rev-list", "main").split()
    assert all(sha in main for sha in merge["landed"])
    assert "+" not in git(team.root, "cherry", "main", f"co/{chain['id']}")


def notes(chain: dict[str, Any]) -> list[str]:
    return [h["note"] for h in chain["history"]]


def test_two_chains_on_different_files_both_land(make_team: Any) -> None:
    script = {
        "plans": {C1: items("a"), C2: items("b")},
        "plan": items("unused"),
        "build": {"a": {"*": {"a.txt": "a\n"}}, "b": {"*": {"b.txt": "b\n"}}},
        "barrier": ["a", "b"],  # both chains branch from the same main
    }
    team = make_team(script)
    one, two = plan_two(team)
    merged_ok(team, one)
    merged_ok(team, two)
    files = git(team.root, "ls-tree", "--name-only", "main").split()
    assert "a.txt" in files and "b.txt" in files
    assert team.ok("merges", "--status", "merged") == team.ok("merges")
    shown = team.ok("show-merge", "--chain-id", C1)
    assert shown["chain_id"] == C1 and shown["status"] == "merged"


def test_two_chains_on_the_same_lines_the_second_is_sent_back_then_lands(make_team: Any) -> None:
    script = {
        "plans": {C1: items("x"), C2: items("y")},
        "plan": items("unused"),
        "build": {
            "x": {"*": {"shared.txt": "one\nTWO by x\nthree\n"}},
            "y": {"*": {"shared.txt": "one\nTWO by y\nthree\n"}},
        },
        "barrier": ["x", "y"],
    }
    team = make_team(script)
    one, two = plan_two(team)
    merged_ok(team, one)
    merged_ok(team, two)
    sent_back = [c for c in (one, two) if any("merge conflict" in n for n in notes(c))]
    assert len(sent_back) == 1, [notes(c) for c in (one, two)]
    chain = sent_back[0]
    [key] = chain["items"]
    assert chain["items"][key]["round"] == 2
    builds = sorted(team.builds(chain), key=lambda t: t["round"])
    assert "landing on main conflicted in shared.txt" in builds[-1]["description"]
    text = git(team.root, "show", "main:shared.txt")
    assert text == f"one\nTWO by {key}\nthree"  # the chain sent back rebuilt on top, and won


def test_a_check_failing_on_the_combined_result_sends_the_chain_back(make_team: Any) -> None:
    script = {
        "plans": {C1: items("p"), C2: items("q")},
        "plan": items("unused"),
        "build": {
            "p": {"1": {"p.txt": "p\n"}, "2": {"p.txt": "p fixed\n"}},
            "q": {"1": {"q.txt": "q\n"}, "2": {"q.txt": "q fixed\n"}},
        },
        "barrier": ["p", "q"],
        "check": {"together": ["p.txt", "q.txt"], "fixed": "fixed"},
    }
    team = make_team(script, checks=True)
    one, two = plan_two(team)
    merged_ok(team, one)
    merged_ok(team, two)
    sent_back = [c for c in (one, two) if any("merge failed" in n for n in notes(c))]
    assert len(sent_back) == 1, [notes(c) for c in (one, two)]
    last = sent_back[0]["merge"]["checks"][-1]
    assert last["exit_code"] == 0  # the checks of the merge that landed
    assert "fixed" in git(team.root, "show", f"main:{next(iter(sent_back[0]['items']))}.txt")


def test_a_leader_stopped_or_killed_mid_merge_leaves_main_untouched_and_the_next_lands_it(
    make_team: Any, tmp_path: Path
) -> None:
    block = tmp_path / "block"
    block.touch()
    script = {
        "plan": items("k"),
        "build": {"k": {"*": {"k.txt": "k\n"}}},
        "check": {"block": str(block)},
    }
    team = make_team(script, workers=1, checks=True)
    before = git(team.root, "rev-parse", "main")
    chain_id = team.ok("plan", "goal")["chain_id"]
    started = Path(f"{block}.started")
    wait_until(started.exists, 60, "the merge's check to start")
    check_pid = int(started.read_text())
    team.ok("down")  # a graceful stop kills the merge's check; the merge waits for a leader
    wait_until(lambda: gone(check_pid), 10, "the check killed by down")
    assert git(team.root, "rev-parse", "main") == before
    started.unlink()
    team.ok("up", "-d")
    wait_until(started.exists, 60, "the merge's check to start again")
    check_pid = int(started.read_text())
    supervisor = supervisor_pid(team)
    os.kill(supervisor, signal.SIGKILL)  # killed between the replay and the update-ref
    wait_until(lambda: gone(supervisor), 10, "the supervisor gone")
    os.kill(check_pid, signal.SIGKILL)  # the dead leader's check: ours to account for
    assert git(team.root, "rev-parse", "main") == before  # untouched
    assert team.chain(chain_id)["merge"]["status"] == "merging"
    block.unlink()
    team.ok("up", "-d")
    chain = team.wait_ended(chain_id)
    merged_ok(team, chain)
    assert git(team.root, "rev-parse", "main") == chain["merge"]["target_sha"] != before
    assert notes(chain).count(f"merging onto {before[:12]}") == 3  # begun thrice, landed once


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def supervisor_pid(team: GitTeam) -> int:
    pid_file = team.root / ".claude-orchestrator" / "run" / "supervisor.pid"
    return int(pid_file.read_text().split()[0])


def test_with_a_remote_the_chain_lands_on_the_remotes_target(tmp_path: Path) -> None:
    script = {"plan": items("r"), "build": {"r": {"*": {"r.txt": "r\n"}}}}
    team = GitTeam(tmp_path, script, workers=1)
    remote = tmp_path / "remote.git"
    with open(tmp_path / ".gitignore", "a") as f:
        f.write("remote.git/\n")
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path), str(remote))
    git(tmp_path, "remote", "add", "origin", str(remote))
    with open(tmp_path / "team.toml", "a") as f:
        f.write('\n[git]\nremote = "origin"\n')
    local_main = git(tmp_path, "rev-parse", "main")
    try:
        team.ok("up", "-d")
        chain = team.run_chain()
    finally:
        team.stop_all()
    assert chain["status"] == "done", chain.get("reason")
    assert git(remote, "rev-parse", "main") == chain["merge"]["target_sha"]
    assert "r.txt" in git(remote, "ls-tree", "--name-only", "main").split()
    assert git(remote, "rev-parse", f"co/{chain['id']}")  # the chain branch lives there too
    assert git(tmp_path, "rev-parse", "main") == local_main  # the local target is not moved
