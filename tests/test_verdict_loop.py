"""The verdict loop end to end (issue 11): a real worker plays every stage with the fake
agent; a verifier's ``revise`` makes round 2 with the feedback in the builder's prompt and
the builder's session resumed; passes carry the chain to ``done``; the round cap ends in
``needs_human``; a verdict stage with no verdict is a failed run, never a pass."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import Cli
from tests.helpers import wait_until
from tests.test_plan_stage import Planner, fenced, option

pytestmark = pytest.mark.slow

ONE = {"title": "Login", "items": [{"key": "api", "title": "Login API", "criteria": ["200"]}]}


def verdict(outcome: str, reason: str = "", *feedback: str) -> str:
    block = {"verdict": outcome, "reason": reason, "feedback": list(feedback)}
    return f"I checked it.\n\n```json\n{json.dumps(block)}\n```\n"


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


@pytest.fixture
def worker(zk_hosts: str, tmp_path: Path) -> Iterator[Planner]:
    (tmp_path / "w").mkdir()
    w = Planner(zk_hosts, tmp_path / "w")
    yield w
    w.stop()


def chain_of(co: Cli, chain_id: str) -> dict[str, Any]:
    found: dict[str, Any] = co.ok("show-chain", "--chain-id", chain_id)
    return found


def test_revise_makes_round_two_and_passes_end_the_chain_done(co: Cli, worker: Planner) -> None:
    worker.give(
        fenced(ONE),
        "built it",
        verdict("revise", "no tests", "add a test for a wrong password"),
        "built it again, with the test",
        verdict("pass", "tests pass"),
        verdict("pass", "clean"),
        verdict("pass", "the goal is met"),
    )
    chain_id = co.ok("plan", "Build a login API")["chain_id"]
    worker.start()
    done = wait_until(lambda: chain_of(co, chain_id)["status"] in ("done", "needs_human"), 60)
    chain = chain_of(co, chain_id)
    assert chain["status"] == "done", chain.get("reason")
    api = chain["items"]["api"]
    assert api["round"] == 2 and api["status"] == "passed"
    assert [(v["stage"], v["round"], v["verdict"]) for v in api["verdicts"]] == [
        ("verify", 1, "revise"),
        ("verify", 2, "pass"),
        ("review", 2, "pass"),
    ]
    calls = worker.calls()
    assert len(calls) == 7
    build1, build2 = calls[1], calls[3]
    assert "add a test for a wrong password" in build2["prompt"]  # the feedback
    assert build2["prompt"].startswith("# Build api (round 2)")
    assert "verify of round 1: no tests" in build2["prompt"]
    assert f"--resume={option(build1, '--session-id')}" in build2["argv"]  # the same session
    names = ("CO_CHAIN_ID", "CO_LINK", "CO_ITEM", "CO_ROUND")
    assert [build2["env"].get(k) for k in names] == [chain_id, "build", "api", "2"]
    tasks = {(t["link"], t["round"]): t for t in chain["tasks"] if t["link"] != "plan"}
    assert tasks[("review", 1)]["status"] == "cancelled"  # superseded, never run
    assert tasks[("verify", 1)]["verdict"]["verdict"] == "revise"
    accept = co.ok("show-task", "--task-id", chain["accept_task"])
    assert accept["depends_on"] == [tasks[("review", 2)]["id"]] and done


def test_the_round_cap_ends_in_needs_human(co: Cli, worker: Planner) -> None:
    worker.give(
        fenced(ONE),
        "built",
        verdict("revise", "still wrong", "fix it"),
        "built again",
        verdict("revise", "still wrong", "fix it"),
        "built",
    )
    chain_id = co.ok("plan", "Build a login API", "--max-rounds", "2")["chain_id"]
    worker.start()
    wait_until(lambda: chain_of(co, chain_id)["status"] != "planning", 30)
    wait_until(lambda: chain_of(co, chain_id)["status"] == "needs_human", 60, "the cap")
    chain = chain_of(co, chain_id)
    assert "2 rounds without passing verify" in chain["reason"]
    assert chain["items"]["api"]["round"] == 2
    assert not [t for t in chain["tasks"] if t.get("round") == 3]  # no third round


def test_a_verdict_stage_without_a_verdict_is_a_failed_run(co: Cli, worker: Planner) -> None:
    """Retried like any task, never a pass; once its retries are spent the chain needs a
    human, in the same transaction as the last failure."""
    worker.give(fenced(ONE), "built", "looks fine to me")  # no verdict block, ever again
    chain_id = co.ok("plan", "Build a login API")["chain_id"]
    worker.start()
    wait_until(lambda: chain_of(co, chain_id)["status"] == "needs_human", 60, "a human needed")
    chain = chain_of(co, chain_id)
    verify_line = next(t for t in chain["tasks"] if t["link"] == "verify")
    verify = co.ok("show-task", "--task-id", verify_line["id"])
    assert verify["status"] == "failed" and verify["retry_count"] == 3
    assert "without a verdict" in verify["reason"]
    assert f"verify of api ({verify['id']}) failed after 3 retries" in chain["reason"]
    review = next(t for t in chain["tasks"] if t["link"] == "review")
    assert review["status"] == "pending"  # never advanced by a missing verdict
    # every run cost money: plan, build and the four verify runs
    wait_until(lambda: chain_of(co, chain_id)["cost_usd"] >= 0.0738, 10, "their cost counted")
    assert len(worker.calls()) == 6


def test_the_budget_stops_the_chain(co: Cli, worker: Planner) -> None:
    worker.give(fenced(ONE), "built", verdict("pass", "ok"))  # each session costs $0.0123
    chain_id = co.ok("plan", "Build a login API", "--budget", "0.02")["chain_id"]
    worker.start()
    wait_until(lambda: chain_of(co, chain_id)["status"] == "needs_human", 60, "over budget")
    chain = chain_of(co, chain_id)
    assert chain["reason"].startswith("over budget: $0.0246 spent of $0.0200")
    assert chain["cost_usd"] == 0.0246
    verify = next(t for t in chain["tasks"] if t["link"] == "verify")
    assert verify["status"] == "pending" and len(worker.calls()) == 2  # nothing claimed past it


# fails the first time it runs, passes after: its output says which run it is
FLAKY_CHECK = (
    "import pathlib, sys; p = pathlib.Path('runs'); n = int(p.read_text()) if p.exists() else 0;"
    " p.write_text(str(n + 1)); print('check run', n); sys.exit(1 if n == 0 else 0)"
)


def test_a_failing_check_turns_the_build_into_a_revise(
    co: Cli, zk_hosts: str, tmp_path: Path
) -> None:
    (tmp_path / "c").mkdir()
    argv = json.dumps([sys.executable, "-c", FLAKY_CHECK])
    w = Planner(zk_hosts, tmp_path / "c", f"\n[pipeline]\nchecks = [{argv}]\n")
    try:
        w.give(fenced(ONE), "built", "built again", *[verdict("pass", "ok")] * 3)
        chain_id = co.ok("plan", "Build a login API")["chain_id"]
        w.start()
        wait_until(lambda: chain_of(co, chain_id)["status"] == "done", 60, "the chain done")
        chain = chain_of(co, chain_id)
        builds = sorted(
            (t for t in chain["tasks"] if t["link"] == "build"), key=lambda t: t["round"]
        )
        first = co.ok("show-task", "--task-id", builds[0]["id"])
        [check] = first["checks"]
        assert check["exit_code"] == 1 and "check run 0" in check["output_tail"]
        assert first["verdict"]["verdict"] == "revise" and "exited 1" in first["verdict"]["reason"]
        second = co.ok("show-task", "--task-id", builds[1]["id"])
        assert second["checks"][0]["exit_code"] == 0
        calls = w.calls()
        assert "check run 0" in calls[2]["prompt"]  # round 2's build was told what failed
        assert len(calls) == 6  # round 1's verify never ran: the check failed first
        verify = calls[3]["prompt"]  # round 2's verify: the build's report and its checks
        assert verify.startswith("# Verify api (round 2)") and "built again" in verify
        assert ": exit 0 in " in verify and '"verdict": "pass"' in verify
    finally:
        w.stop()


def test_a_stage_runs_the_agent_its_pipeline_names(co: Cli, zk_hosts: str, tmp_path: Path) -> None:
    """``[pipeline.stage.review] agent``: the review runs another agent (here a custom one
    reading text), never the builder's session."""
    (tmp_path / "r").mkdir()
    command = json.dumps([sys.executable, str(Path(__file__).with_name("fake_agent.py"))])
    pipeline = (
        f'\n[agents.rev]\ncommand = {command}\nargs = ["--output-format", "text"]\n'
        '\n[pipeline.stage.review]\nagent = "rev"\n'
    )
    w = Planner(zk_hosts, tmp_path / "r", pipeline)
    try:
        w.give(fenced(ONE), "built", *[verdict("pass", "ok")] * 3)
        chain_id = co.ok("plan", "Build a login API")["chain_id"]
        w.start()
        wait_until(lambda: chain_of(co, chain_id)["status"] == "done", 60, "the chain done")
        calls = w.calls()
        review = next(c for c in calls if c["env"].get("CO_LINK") == "review")
        build = next(c for c in calls if c["env"].get("CO_LINK") == "build")
        assert "text" in review["argv"] and not any("--session-id" in a for a in review["argv"])
        assert any(a.startswith("--session-id=") for a in build["argv"])
    finally:
        w.stop()
