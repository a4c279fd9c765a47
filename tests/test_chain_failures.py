"""A chain under failures (issue 11), with the real supervisor: a worker killed mid-stage
(the stage is recovered, the chain goes on) and the supervisor killed between two stages
(nothing lost, nothing duplicated). Every stage of the chain completes exactly once."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import exited, give_answers, wait_until
from tests.teamdir import TeamDir
from tests.test_plan_stage import fenced
from tests.test_verdict_loop import ONE, verdict

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


class Project(TeamDir):
    """A team of one worker on the embedded server; its fake agent answers from files."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, CO_SESSION_TIMEOUT="4s")
        self.answers = root / "answers"
        self.answers.mkdir()
        agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
        mode = f"answers={self.answers}"
        (root / "team.toml").write_text(
            f'[team]\nname = "chains"\n\n[agents.claude]\ncommand = {agent}\n\n'
            f'[[worker]]\nname = "w1"\nenv = {{ FAKE_AGENT_MODE = "{mode}" }}\n'
        )

    def give(self, *answers: str) -> None:
        give_answers(self.answers, answers)

    def chain(self, chain_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("show-chain", "--chain-id", chain_id)
        return found

    def task(self, chain_id: str, link: str) -> dict[str, Any] | None:
        return next((t for t in self.chain(chain_id)["tasks"] if t["link"] == link), None)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    p = Project(tmp_path)
    yield p
    p.stop_all()


def in_progress(p: Project, chain_id: str, link: str) -> dict[str, Any] | None:
    task = p.task(chain_id, link)
    return task if task is not None and task["status"] == "in_progress" else None


def completed_once(p: Project, chain_id: str) -> None:
    """Every stage task of the chain was completed exactly once."""
    for line in p.chain(chain_id)["tasks"]:
        task = p.ok("show-task", "--task-id", line["id"])
        done = [h for h in task["history"] if h["to"] == "completed"]
        assert len(done) == 1, (task["id"], task["history"])


def test_a_worker_killed_mid_stage_is_recovered_and_the_chain_goes_on(project: Project) -> None:
    p = project
    p.give(fenced(ONE), "hang", "built", *[verdict("pass", "ok")] * 3)
    p.ok("up", "-d")
    chain_id = p.ok("plan", "Build a login API")["chain_id"]
    build = wait_until(lambda: in_progress(p, chain_id, "build"), 30, "the build running")
    worker = next(w for w in p.ok("ps", "--json") if w["name"] == "w1")
    os.kill(worker["pid"], signal.SIGKILL)  # mid-stage; the supervisor reaps it
    wait_until(lambda: p.chain(chain_id)["status"] == "done", 60, "the chain done")
    shown = p.ok("show-task", "--task-id", build["id"])
    assert shown["retry_count"] == 1 and "recovered" in str(shown["history"])
    completed_once(p, chain_id)
    assert exited(worker["pid"])


def test_the_supervisor_killed_between_two_stages_loses_and_duplicates_nothing(
    project: Project,
) -> None:
    p = project
    p.give(fenced(ONE), "built", "hang", *[verdict("pass", "ok")] * 3)
    p.ok("up", "-d")
    chain_id = p.ok("plan", "Build a login API")["chain_id"]
    wait_until(lambda: in_progress(p, chain_id, "verify"), 30, "the build done, verify running")
    pid = int((p.root / ".claude-orchestrator/run/supervisor.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: exited(pid), 10, "the supervisor gone")
    p.ok("up", "-d")  # replaces the worker it left, releasing its task
    wait_until(lambda: p.chain(chain_id)["status"] == "done", 60, "the chain done")
    completed_once(p, chain_id)
    verify = p.ok("show-task", "--task-id", p.task(chain_id, "verify")["id"])  # type: ignore[index]
    assert verify["retry_count"] == 0  # released by the replacement, not counted as a retry
