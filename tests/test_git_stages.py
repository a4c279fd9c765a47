"""A chain's stages with ``isolation = "worktree"`` end to end (issue 12 §1, §2): real
supervisor, workers and git; tests/gitbot.py plays every stage from a script. Builds are
committed by the orchestrator, land on ``co/<chain-id>`` by compare-and-swap, and are
recorded on their tasks; secrets are never staged; hostile titles reach commit messages
verbatim and no shell; a build that conflicts with one that landed first is revised."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.teamdir import TeamDir

pytestmark = pytest.mark.slow

GITBOT = Path(__file__).with_name("gitbot.py")
HOSTILE = "Fix $(touch pwned) `touch pwned2` \"quoted\" 'single' -n #hash"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


class GitTeam(TeamDir):
    """A repository holding a team of ``workers`` gitbot workers in worktrees."""

    def __init__(
        self, root: Path, script: dict[str, Any], workers: int = 2, checks: bool = False
    ) -> None:
        super().__init__(root)
        self.log = root / "calls.jsonl"
        (root / "script.json").write_text(json.dumps(script))
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "t@example.com")
        git(root, "config", "user.name", "t")
        (root / ".gitignore").write_text(".claude-orchestrator/\ncalls.*\nscript.json\n")
        (root / "shared.txt").write_text("one\ntwo\nthree\n")
        self.write_team(workers, checks)
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "start")

    def write_team(self, workers: int, checks: bool) -> None:
        agent = [sys.executable, str(GITBOT)]
        env = {"GITBOT_SCRIPT": str(self.root / "script.json"), "GITBOT_LOG": str(self.log)}
        check = [*agent, "--check", str(self.root / "script.json")]
        pipeline = f"\n[pipeline]\nchecks = [{json.dumps(check)}]\n" if checks else ""
        (self.root / "team.toml").write_text(
            '[team]\nname = "gitwt"\nisolation = "worktree"\nagent = "gitbot"\n\n'
            f'[agents.gitbot]\ncommand = {json.dumps(agent)}\ntimeout = "60s"\n\n'
            f'[[worker]]\nname = "w"\nreplicas = {workers}\nenv = {toml_table(env)}\n' + pipeline
        )

    def chain(self, chain_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("show-chain", "--chain-id", chain_id)
        return found

    def run_chain(self, goal: str = "the goal") -> dict[str, Any]:
        return self.wait_ended(self.ok("plan", goal)["chain_id"])

    def wait_ended(self, chain_id: str) -> dict[str, Any]:
        ended = ("done", "needs_human", "failed", "cancelled")
        wait_until(lambda: self.chain(chain_id)["status"] in ended, 90, f"{chain_id} to end")
        return self.chain(chain_id)

    def task(self, task_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("show-task", "--task-id", task_id)
        return found

    def builds(self, chain: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.task(t["id"]) for t in chain["tasks"] if t["link"] == "build"]


def toml_table(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + " }"


def graph(*items: dict[str, Any]) -> dict[str, Any]:
    return {"title": "two items", "items": list(items)}


@pytest.fixture
def make_team(tmp_path: Path) -> Iterator[Any]:
    made: list[GitTeam] = []

    def make(script: dict[str, Any], workers: int = 2, checks: bool = False) -> GitTeam:
        team = GitTeam(tmp_path, script, workers, checks)
        made.append(team)
        team.ok("up", "-d")
        return team

    yield make
    for team in made:
        team.stop_all()


def test_builds_are_committed_and_landed_on_the_chain_branch(make_team: Any) -> None:
    script = {
        "plan": graph(
            {"key": "a", "title": HOSTILE, "description": "write a.txt"},
            {"key": "b", "title": "Second item", "description": "write b.txt"},
        ),
        "build": {
            "a": {"*": {"a.txt": "from a\n", ".env": "TOKEN=secret\n", "keys/id_rsa": "k\n"}},
            "b": {"*": {"b.txt": "from b\n", "../../../stray.txt": "outside\n"}},
        },
        "barrier": ["a", "b"],  # both start from the same tip: the second lands by a rebase
    }
    team = make_team(script)
    chain = team.run_chain()
    assert chain["status"] == "done", chain.get("reason")
    branch = chain["branch"]
    assert branch == f"co/{chain['id']}"
    files = git(team.root, "ls-tree", "-r", "--name-only", branch).split()
    assert "a.txt" in files and "b.txt" in files
    assert ".env" not in files and "keys/id_rsa" not in files  # secrets never staged
    builds = {t["item"]: t for t in team.builds(chain)}
    log = git(team.root, "log", "--format=%H", branch).split()
    for task in builds.values():
        assert task["branch"] == branch and len(task["commits"]) == 1, task
        assert task["commits"][0] in log  # what landed is what the task records
    a = builds["a"]
    assert sorted(a["git"]["refused"]) == [".env", "keys/id_rsa"]
    assert "stray.txt" in builds["b"]["git"]["outside"]  # written in the main checkout
    assert "stray.txt" not in files
    message = git(team.root, "log", "-1", "--format=%B", a["commits"][0])
    assert message == (f"{HOSTILE} ({chain['id']}, round 1)\n\nClaude-Orchestrator-Task: {a['id']}")
    assert not list(team.root.rglob("pwned*"))  # no shell ever saw the title
    merge = chain["merge"]
    assert merge["status"] == "merged" and merge["target_sha"] == git(
        team.root, "rev-parse", "main"
    )
    assert len(merge["landed"]) == 2  # every commit of the chain, proven on main
    assert merge["landed"] == [builds[k]["commits"][0] for k in ("a", "b")] or merge["landed"] == [
        builds[k]["commits"][0] for k in ("b", "a")
    ]  # a fast-forward: the same commits
    assert "+" not in git(team.root, "cherry", "main", branch)  # nothing of the chain missing


def test_a_build_that_conflicts_with_one_that_landed_is_revised(make_team: Any) -> None:
    script = {
        "plan": graph(
            {"key": "a", "title": "A", "description": "edit line two"},
            {"key": "b", "title": "B", "description": "edit line two too"},
        ),
        "build": {
            "a": {"*": {"shared.txt": "one\nTWO by a\nthree\n"}},
            "b": {"1": {"shared.txt": "one\nTWO by b\nthree\n"}, "2": {"b.txt": "b again\n"}},
        },
        "barrier": ["a", "b"],
    }
    team = make_team(script)
    chain = team.run_chain()
    assert chain["status"] == "done", chain.get("reason")
    builds = team.builds(chain)
    revised = [t for t in builds if t.get("verdict", {}).get("verdict") == "revise"]
    assert len(revised) == 1, builds
    first = revised[0]
    assert first["git"]["conflicts"] == ["shared.txt"] and first["commits"] == []
    assert "shared.txt" in first["verdict"]["reason"]
    kept = first["verdict"]["feedback"][1].split("branch ")[1].split(" ")[0]
    assert git(team.root, "show", f"{kept}:shared.txt").splitlines()[1].startswith("TWO by")
    rows = {r["worker"]: r for r in team.ok("worktrees")}
    assert kept in [b for r in rows.values() for b in r["kept"]]  # listed with its worker
    item = first["item"]
    assert chain["items"][item]["round"] == 2
    branch = f"co/{chain['id']}"
    landed = git(team.root, "ls-tree", "-r", "--name-only", branch).split()
    assert ("b.txt" in landed) == (item == "b")


def test_a_build_that_changes_nothing_is_revised(make_team: Any) -> None:
    script = {
        "plan": graph({"key": "a", "title": "A", "description": "do nothing at first"}),
        "build": {"a": {"1": {}, "2": {"a.txt": "now\n"}}},
    }
    team = make_team(script, workers=1)
    chain = team.run_chain()
    assert chain["status"] == "done", chain.get("reason")
    first, second = sorted(team.builds(chain), key=lambda t: t["round"])
    assert first["verdict"]["verdict"] == "revise" and first["commits"] == []
    assert "changed nothing" in first["verdict"]["reason"]
    assert len(second["commits"]) == 1
