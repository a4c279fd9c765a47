"""Chains (issue 11): ``plan`` makes a chain and its plan task in one transaction, ``chains``
and ``show-chain`` read them, the claim gate holds a stopped chain's tasks back, and
``cancel-chain`` stops a chain and cancels its open tasks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.zk.chaingraph import validate_graph
from claude_orchestrator.zk.chains import ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.chainsteps import PlanAnswer, complete_plan
from claude_orchestrator.zk.claim import claim_as
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change
from claude_orchestrator.zk.team import Team
from tests.clihelp import Cli


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def test_plan_creates_a_chain_with_its_plan_task(co: Cli) -> None:
    out = co.ok("plan", "Build a login page")
    assert out == {
        "chain_id": "chain-0000000001",
        "status": "planning",
        "goal": "Build a login page",
    }
    chain = co.ok("show-chain", "--chain-id", out["chain_id"])
    assert chain["status"] == "planning" and chain["max_rounds"] == 3
    assert chain["stages"] == ["build", "verify", "review"]
    [task] = chain["tasks"]
    assert task["id"] == chain["plan_task"] and task["link"] == "plan"
    shown = co.ok("show-task", "--task-id", task["id"])
    assert shown["chain_id"] == out["chain_id"] and shown["description"] == "Build a login page"
    assert shown["title"] == "plan: Build a login page"
    listed = co.ok("chains")
    assert [c["chain_id"] for c in listed] == [out["chain_id"]]
    assert co.ok("chains", "--status", "running") == []
    second = co.ok("plan", "-", "--max-rounds", "5", "--budget", "2.5", input="Another goal\n")
    assert second["chain_id"] == "chain-0000000002"
    assert co.ok("show-chain", "--chain-id", second["chain_id"])["budget_usd"] == 2.5


def test_plan_refuses_bad_input_and_writes_nothing(co: Cli) -> None:
    for args in ((), ("a", "--from-file", "-"), ("   ",), ("x", "--max-rounds", "0")):
        r = co("plan", *args)
        assert r.code == 2 and r.err.startswith("error:") and "Traceback" not in r.err, args
    assert co.ok("chains") == []
    r = co("show-chain", "--chain-id", "chain-1")
    assert r.code == 2 and "chain-NNNNNNNNNN" in r.err
    assert co("show-chain", "--chain-id", "chain-0000000009").code == 1
    assert co("chains", "--status", "bogus").code == 2


def test_the_claim_gate_holds_a_stopped_chains_tasks_back(team: Team) -> None:
    store = ChainStore(team.client, "test")
    chain, task = store.create(team.tasks, "goal", "test", time.time(), PlanOptions())
    iid = team.registry.register(Registration("p1", "planner", "/tmp", False), time.time())["id"]
    store.update(chain.id, lambda c: {"status": ChainStatus.NEEDS_HUMAN}, "t", time.time(), "x")
    assert claim_as(team.tasks, iid, time.time()) is None  # held back
    store.update(chain.id, lambda c: {"status": ChainStatus.PLANNING}, "t", time.time(), "x")
    claimed = claim_as(team.tasks, iid, time.time())
    assert claimed is not None and claimed.id == task.id


def test_cancel_chain_stops_it_and_cancels_its_open_tasks(co: Cli) -> None:
    chain_id = co.ok("plan", "goal")["chain_id"]
    out = co.ok("cancel-chain", "--chain-id", chain_id)
    assert out["status"] == "cancelled" and len(out["cancelled_tasks"]) == 1
    shown = co.ok("show-chain", "--chain-id", chain_id)
    assert shown["status"] == "cancelled" and shown["tasks"][0]["status"] == "cancelled"
    again = co.ok("cancel-chain", "--chain-id", chain_id)  # idempotent
    assert again["status"] == "cancelled" and again["cancelled_tasks"] == []


def planned_chain(team: Team, graph: dict[str, Any], opts: PlanOptions | None = None) -> str:
    """A chain whose plan task is completed with ``graph`` (as a worker would)."""
    store = ChainStore(team.client, "test")
    chain, task = store.create(team.tasks, "goal", "test", time.time(), opts or PlanOptions())
    plan_with(team, task.id, graph)
    return chain.id


def plan_with(team: Team, task_id: str, graph: dict[str, Any]) -> None:
    """The planner ``planner-1`` claims plan task ``task_id`` and answers ``graph``."""
    found = team.registry.named("planner-1")
    reg = Registration("planner-1", "planner", "/tmp", False)
    iid = found["id"] if found else team.registry.register(reg, time.time())["id"]
    actor = Actor(label=iid, instance_id=iid, name="planner-1", role="planner")
    claimed = claim_as(team.tasks, iid, time.time())
    assert claimed is not None and claimed.id == task_id
    task = claimed
    now = time.time()
    team.tasks.transition(task.id, Change(Action.START, by=iid, at=iso(now)), actor, now)
    answer = PlanAnswer(raw="", graph=validate_graph(graph))
    session = {"session_id": "4f9a7f3e-0000-4000-8000-000000000001", "log": "/tmp/x"}
    done = Change(Action.COMPLETE, by=iid, at=iso(now), session=session)
    complete_plan(team.tasks, task.id, done, actor, now, answer)


def test_complete_task_takes_a_verdict_for_a_chains_verify_stage(co: Cli, team: Team) -> None:
    chain_id = planned_chain(team, {"title": "t", "items": [{"key": "a", "title": "A"}]})
    iid = co.ok("register", "--name", "w1", "--role", "builder")["id"]
    build = co.ok("claim-task", CO_INSTANCE_ID=iid)
    assert (build["link"], build["item"], build["round"]) == ("build", "a", 1)
    co.ok("task-start", "--task-id", build["id"], CO_INSTANCE_ID=iid)
    r = co("complete-task", "--task-id", build["id"], "--verdict", "pass", CO_INSTANCE_ID=iid)
    assert r.code == 0  # a verdict on the work stage is recorded, not required
    verify = co.ok("claim-task", CO_INSTANCE_ID=iid)
    assert verify["link"] == "verify"
    co.ok("task-start", "--task-id", verify["id"], CO_INSTANCE_ID=iid)
    r = co("complete-task", "--task-id", verify["id"], CO_INSTANCE_ID=iid)
    assert r.code == 3 and "without a verdict" in r.err  # never an implicit pass
    assert co.ok("show-task", "--task-id", verify["id"])["status"] == "in_progress"
    done = co.ok(
        "complete-task",
        "--task-id",
        verify["id"],
        "--verdict",
        "revise",
        "--result",
        "missing tests",
        "--feedback",
        "add a test",
        CO_INSTANCE_ID=iid,
    )
    assert done["verdict"] == {
        "verdict": "revise",
        "reason": "missing tests",
        "feedback": ["add a test"],
        "evidence": None,
    }
    chain = co.ok("show-chain", "--chain-id", chain_id)
    assert chain["items"]["a"]["round"] == 2
    rounds = sorted((t["link"], t["round"], t["status"]) for t in chain["tasks"] if t["round"])
    assert ("review", 1, "cancelled") in rounds and ("build", 2, "pending") in rounds
    r = co("complete-task", "--task-id", chain["plan_task"], "--verdict", "pass")
    assert r.code == 2 and "not a stage" in r.err


def test_the_approval_gate_approve_and_reject(co: Cli, team: Team) -> None:
    graph = {"title": "t", "items": [{"key": "a", "title": "A"}]}
    chain_id = planned_chain(team, graph, PlanOptions(approve_plan=True))
    chain = co.ok("show-chain", "--chain-id", chain_id)
    assert chain["status"] == "awaiting_approval" and chain["graph"]["title"] == "t"
    assert [t["link"] for t in chain["tasks"]] == ["plan"]  # nothing pushed yet
    assert [c["chain_id"] for c in co.ok("chains", "--status", "awaiting_approval")] == [chain_id]
    out = co.ok("reject", "--chain-id", chain_id, "--feedback", "split A in two")
    assert out["status"] == "planning"
    again = co.ok("show-chain", "--chain-id", chain_id)
    replan = co.ok("show-task", "--task-id", again["plan_task"])
    assert "split A in two" in replan["description"] and '"title": "t"' in replan["description"]
    assert replan["assignee"] == "planner-1"  # the same planner, its session resumed
    assert replan["session"]["session_id"] == "4f9a7f3e-0000-4000-8000-000000000001"
    r = co("approve", "--chain-id", chain_id)
    assert r.code == 3 and "awaiting approval" in r.err  # planning: nothing to approve
    plan_with(team, again["plan_task"], graph)
    assert co.ok("approve", "--chain-id", chain_id)["status"] == "running"
    links = sorted(t["link"] for t in co.ok("show-chain", "--chain-id", chain_id)["tasks"])
    assert links == ["accept", "build", "plan", "plan", "review", "verify"]
    assert co("reject", "--chain-id", chain_id, "--feedback", "x").code == 3


def test_cancel_task_on_a_chains_task_stops_the_chain(co: Cli, team: Team) -> None:
    chain_id = planned_chain(team, {"title": "t", "items": [{"key": "a", "title": "A"}]})
    build = next(
        t for t in co.ok("show-chain", "--chain-id", chain_id)["tasks"] if t["link"] == "build"
    )
    out = co.ok("cancel-task", "--task-id", build["id"], "--reason", "wrong goal")
    assert out["status"] == "cancelled"
    chain = co.ok("show-chain", "--chain-id", chain_id)
    assert chain["status"] == "cancelled" and build["id"] in chain["reason"]
    assert {t["status"] for t in chain["tasks"] if t["link"] != "plan"} == {"cancelled"}


def test_the_leader_sweeps_a_chain_whose_stage_failed_outside_a_worker(team: Team) -> None:
    from claude_orchestrator.zk.chainverdict import sweep_chains

    chain_id = planned_chain(team, {"title": "t", "items": [{"key": "a", "title": "A"}]})
    store = ChainStore(team.client, "test")
    build_id = store.get(chain_id).items["a"]["tasks"]["build"]
    now = time.time()
    op = Actor.operator()
    team.tasks.transition(build_id, Change(Action.CANCEL, by="x", at=iso(now)), op, now)
    assert sweep_chains(team.tasks, "leader", now) == []  # cancelled is not failed
    assert store.get(chain_id).status is ChainStatus.RUNNING
    other = planned_chain(team, {"title": "u", "items": [{"key": "b", "title": "B"}]})
    iid = team.registry.register(Registration("w9", "builder", "/tmp", False), now)["id"]
    actor = Actor(label=iid, instance_id=iid, name="w9", role="builder")
    claimed = claim_as(team.tasks, iid, now)
    assert claimed is not None and claimed.chain_id == other
    fail = Change(Action.FAIL, by=iid, at=iso(now), reason="disk full", note="disk full")
    team.tasks.transition(claimed.id, fail, actor, now)  # a hand's task-fail: no chain step
    assert sweep_chains(team.tasks, "leader", now) == [other]
    chain = store.get(other)
    assert chain.status is ChainStatus.NEEDS_HUMAN and "disk full" in str(chain.reason)
    assert sweep_chains(team.tasks, "leader", now) == []  # once
