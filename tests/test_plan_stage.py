"""The plan stage end to end (issue 11): a real worker runs the fake planner; its graph is
validated, repaired through the same session when invalid, and pushed with the plan task's
completion in one transaction — or the chain needs a human, the raw answer kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import BIN, Cli
from tests.helpers import exited, give_answers, wait_until

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")

GOOD = {
    "title": "Login",
    "items": [
        {"key": "api", "title": "Login API", "description": "POST /login", "criteria": ["200"]},
        {"key": "ui", "title": "Login form", "depends_on": ["api"], "criteria": []},
    ],
}
CYCLE = {
    "title": "Login",
    "items": [
        {"key": "api", "title": "API", "depends_on": ["ui"]},
        {"key": "ui", "title": "UI", "depends_on": ["api"]},
    ],
}


def fenced(graph: dict[str, Any]) -> str:
    return f"Here is the plan.\n\n```json\n{json.dumps(graph, indent=2)}\n```\n"


class Planner:
    """One worker process ``p1`` whose fake agent answers with the files of ``answers``."""

    def __init__(self, hosts: str, root: Path, pipeline: str = "") -> None:
        self.root, self.answers, self.record = root, root / "answers", root / "calls.jsonl"
        self.answers.mkdir()
        agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
        mode = f"answers={self.answers}"
        (root / "team.toml").write_text(
            f'[team]\nname = "test"\n\n[agents.claude]\ncommand = {agent}\n\n'
            f'[[worker]]\nname = "p1"\nrole = "planner"\n'
            f'env = {{ FAKE_AGENT_MODE = "{mode}", FAKE_AGENT_RECORD = "{self.record}" }}\n'
            f"{pipeline}"
        )
        env = {**os.environ, "ZK_HOSTS": hosts, "CO_TEAM": "test", "CO_INSTANCE_ID": ""}
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def give(self, *answers: str) -> None:
        give_answers(self.answers, answers)

    def start(self) -> None:
        argv = [BIN, "-f", str(self.root / "team.toml"), "worker", "--name", "p1"]
        with open(self.root / "worker.err", "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=self.root, env=self.env, stderr=err)

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            assert exited(self.proc.pid)


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


@pytest.fixture
def planner(zk_hosts: str, tmp_path: Path) -> Iterator[Planner]:
    (tmp_path / "planner").mkdir()
    p = Planner(zk_hosts, tmp_path / "planner")
    yield p
    p.stop()


def option(call: dict[str, Any], name: str) -> str:
    return next(str(a).split("=", 1)[1] for a in call["argv"] if str(a).startswith(f"{name}="))


def settled(co: Cli, chain_id: str) -> dict[str, Any] | None:
    chain: dict[str, Any] = co.ok("show-chain", "--chain-id", chain_id)
    return chain if chain["status"] != "planning" else None


def test_a_valid_graph_is_pushed_with_the_plan_tasks_completion(co: Cli, planner: Planner) -> None:
    planner.give(fenced(GOOD), "built")
    chain_id = co.ok("plan", "Build a login page")["chain_id"]
    planner.start()
    chain = wait_until(lambda: settled(co, chain_id), 30, "the chain planned")
    assert chain["status"] == "running" and chain["title"] == "Login"
    assert list(chain["items"]) == ["api", "ui"]
    tasks = {(t["link"], t["item"]): t for t in chain["tasks"]}
    assert set(tasks) == {("plan", None), ("accept", None)} | {
        (stage, key) for stage in ("build", "verify", "review") for key in ("api", "ui")
    }
    assert tasks[("plan", None)]["status"] == "completed"
    shown = {t["id"]: co.ok("show-task", "--task-id", t["id"]) for t in chain["tasks"]}
    by_stage = {(s["link"], s.get("item")): s for s in shown.values()}
    assert by_stage[("verify", "api")]["depends_on"] == [by_stage[("build", "api")]["id"]]
    assert by_stage[("build", "ui")]["depends_on"] == [by_stage[("review", "api")]["id"]]
    assert by_stage[("accept", None)]["depends_on"] == [
        by_stage[("review", "api")]["id"],
        by_stage[("review", "ui")]["id"],
    ]
    assert {s.get("round") for s in shown.values() if s["link"] != "plan"} == {1}
    assert chain["items"]["api"]["tasks"]["build"] == by_stage[("build", "api")]["id"]
    assert "Acceptance criteria:\n- 200" in by_stage[("build", "api")]["description"]
    first = planner.calls()[0]
    assert "Build a login page" in first["prompt"] and "```json" in first["prompt"]


def test_an_invalid_graph_is_repaired_through_the_same_session(co: Cli, planner: Planner) -> None:
    planner.give(fenced(CYCLE), fenced(GOOD), "built")
    chain_id = co.ok("plan", "Build a login page")["chain_id"]
    planner.start()
    chain = wait_until(lambda: settled(co, chain_id), 30, "the chain planned")
    assert chain["status"] == "running" and list(chain["items"]) == ["api", "ui"]
    plan, repair = planner.calls()[:2]
    assert f"--resume={option(plan, '--session-id')}" in repair["argv"]
    assert "items: a cycle: api -> ui -> api" in repair["prompt"]


def test_a_graph_still_invalid_after_two_repairs_needs_a_human(co: Cli, planner: Planner) -> None:
    planner.give("no graph here", fenced(CYCLE), fenced({"title": "x", "items": []}))
    chain_id = co.ok("plan", "Build a login page")["chain_id"]
    planner.start()
    chain = wait_until(lambda: settled(co, chain_id), 30, "the chain settled")
    assert chain["status"] == "needs_human" and "after 2 repair(s)" in chain["reason"]
    assert "items: empty" in chain["reason"] and '"items": []' in chain["raw_answer"]
    assert [t["link"] for t in chain["tasks"]] == ["plan"]  # nothing half-pushed
    assert len(planner.calls()) == 3


def test_a_dry_run_prints_the_graph_and_pushes_nothing(co: Cli, planner: Planner) -> None:
    planner.give(fenced(GOOD))
    planner.start()
    chain = co.ok("plan", "Build a login page", "--dry-run")  # waits for the planner
    assert chain["status"] == "done" and chain["dry_run"] is True
    assert [i["key"] for i in chain["graph"]["items"]] == ["api", "ui"]
    shown = co.ok("show-chain", "--chain-id", chain["id"])
    assert [t["link"] for t in shown["tasks"]] == ["plan"]
