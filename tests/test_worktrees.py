"""Stable worktrees (issue 12 §1): with ``isolation = "worktree"`` each worker runs its agent
in ``.claude-orchestrator/worktrees/<worker>`` on its own branch, created once and reused by
every run and every ``up``; ``worktrees`` lists them with what is not yet on the target."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import BIN
from tests.helpers import wait_until
from tests.teamdir import TeamDir

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


class Repo(TeamDir):
    """A git repository holding the team file; the team isolates its workers."""

    def __init__(self, root: Path, workers: tuple[str, ...] = ("w1",)) -> None:
        super().__init__(root)
        self.record = root / "calls.jsonl"
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "t@example.com")
        git(root, "config", "user.name", "t")
        (root / ".gitignore").write_text(".claude-orchestrator/\ncalls.jsonl\n")
        self.write_team(workers)
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "start")

    def write_team(self, workers: tuple[str, ...]) -> None:
        agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
        record = f'env = {{ FAKE_AGENT_RECORD = "{self.record}" }}'
        listed = "".join(f'\n[[worker]]\nname = "{w}"\n{record}\n' for w in workers)
        (self.root / "team.toml").write_text(
            f'[team]\nname = "wt"\nisolation = "worktree"\n\n[agents.claude]\ncommand = {agent}\n'
            + listed
        )

    def cwds(self) -> list[str]:
        if not self.record.exists():
            return []
        return [json.loads(line)["cwd"] for line in self.record.read_text().splitlines()]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    r = Repo(tmp_path)
    yield r
    r.stop_all()


def test_a_worker_runs_in_its_stable_worktree_across_down_and_up(repo: Repo) -> None:
    worktree = (repo.root / ".claude-orchestrator" / "worktrees" / "w1").resolve()
    repo.ok("up", "-d")
    repo.ok("push-task", "--title", "one")
    wait_until(lambda: len(repo.cwds()) == 1, 30, "the first run")
    assert repo.cwds() == [str(worktree)]
    assert git(worktree, "symbolic-ref", "--short", "HEAD") == "co/worker/w1"
    (worktree / "made.txt").write_text("work\n")  # the agent's work, committed on its branch
    git(worktree, "add", "made.txt")
    git(worktree, "commit", "-q", "-m", "made")
    [row] = repo.ok("worktrees")
    assert row["worker"] == "w1" and row["path"].endswith("worktrees/w1") and row["exists"]
    assert row["branch"] == "co/worker/w1" and len(row["unmerged"]) == 1 and row["dirty"] == []
    repo.ok("down")
    repo.ok("up", "-d")
    repo.ok("push-task", "--title", "two")
    wait_until(lambda: len(repo.cwds()) == 2, 30, "the second run")
    assert repo.cwds() == [str(worktree)] * 2  # the same path, the same branch, its work kept
    assert (worktree / "made.txt").read_text() == "work\n"
    assert repo.ok("worktrees")[0]["unmerged"] == row["unmerged"]


def test_worktrees_says_when_the_team_does_not_isolate(tmp_path: Path) -> None:
    (tmp_path / "team.toml").write_text('[team]\nname = "shared"\n')
    r = subprocess.run(
        [BIN, "-f", str(tmp_path / "team.toml"), "worktrees"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and r.stderr.startswith("error:") and "isolation" in r.stderr


def test_prune_removes_only_what_loses_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path, ("w1", "w2"))
    try:
        repo.ok("up", "-d")
        wait_until(lambda: all(r["exists"] for r in repo.ok("worktrees")), 30, "both worktrees")
        w2 = tmp_path / ".claude-orchestrator" / "worktrees" / "w2"
        (w2 / "kept.txt").write_text("precious\n")
        git(w2, "add", "kept.txt")
        git(w2, "commit", "-q", "-m", "precious work")
        sha = git(w2, "rev-parse", "HEAD")
        repo.write_team(("w1",))  # reload stops w2 and keeps its worktree, saying why
        reloaded = repo.ok("reload")
        assert reloaded["stopped"] == ["w2"] and list(reloaded["worktrees_kept"]) == ["w2"]
        r = repo.run("down")
        assert r.returncode == 0 and f"kept {w2} (w2): 1 commit(s) not on main" in r.stderr
        kept = json.loads(r.stdout)["worktrees_kept"]
        assert kept == {"w2": {"path": str(w2), "dirty": [], "unlanded": [sha]}}
        assert w2.is_dir()  # down never removes a worktree
    finally:
        repo.stop_all()
    repo.write_team(("w3",))  # w1 and w2 removed from the team
    out = repo.ok("worktrees", "--prune")
    assert out["w1"] == {"pruned": True}
    assert out["w2"] == {"pruned": False, "dirty": [], "unlanded": [sha]}
    assert w2.is_dir() and (w2 / "kept.txt").read_text() == "precious\n"
    git(tmp_path, "cherry-pick", sha)  # its change lands on main under another sha
    assert repo.ok("worktrees", "--prune") == {"w2": {"pruned": True}}
    assert not w2.exists() and "co/worker/w2" not in git(tmp_path, "branch", "--list")
