"""The leader's inbox (issue 11 §8), with the real supervisor: a message to the leading
supervisor's ``leader`` instance starts a chain as ``plan`` does and the reply names it; a
worker's question shows on the dashboard instead of becoming a chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.supervisor.teamread import read_snapshots
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from tests.helpers import wait_until
from tests.test_chain_failures import Project
from tests.test_plan_stage import fenced
from tests.test_verdict_loop import ONE, verdict

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    p = Project(tmp_path)
    yield p
    p.stop_all()


def test_a_message_to_the_leader_starts_a_chain_and_the_reply_names_it(project: Project) -> None:
    p = project
    p.give(fenced(ONE), "built", *[verdict("pass", "ok")] * 3)
    p.ok("up", "-d")
    wait_until(lambda: _leader_registered(p), 30, "the leader's inbox")
    tom = p.ok("register", "--name", "tom", "--role", "human")["id"]
    p.ok("send-message", "--to-name", "leader", "--content", "Build a login API", "-i", tom)
    reply = wait_until(lambda: _reply(p, tom), 30, "the leader's reply")
    chain_id = reply["chain_id"]
    assert chain_id.startswith("chain-") and chain_id in reply["content"]
    wait_until(lambda: p.chain(chain_id)["status"] == "done", 60, "the chain done")
    assert p.chain(chain_id)["goal"] == "Build a login API"
    p.ok("send-message", "--to-name", "leader", "--content", "from the operator")
    wait_until(lambda: len(p.ok("chains")) == 2, 30, "a chain for the operator too")


def _leader_registered(p: Project) -> bool:
    return any(i["name"] == "leader" and i["role"] == "leader" for i in p.ok("list-instances"))


def _reply(p: Project, iid: str) -> dict[str, Any] | None:
    messages = p.ok("poll-messages", "-i", iid)
    found: dict[str, Any] | None = next((m for m in messages if m.get("chain_id")), None)
    return found


def test_a_workers_message_to_the_leader_shows_on_the_dashboard(project: Project) -> None:
    p = project
    p.give("built")
    p.ok("up", "-d")
    wait_until(lambda: _leader_registered(p), 30, "the leader's inbox")
    w1 = next(i["id"] for i in p.ok("list-instances") if i["name"] == "w1")
    p.ok("send-message", "--to-name", "leader", "--content", "which port for the API?", "-i", w1)
    wait_until(lambda: _event(p, "which port for the API?"), 30, "the question on the dashboard")
    assert p.ok("chains") == []  # a worker's question is not a goal


def _event(p: Project, text: str) -> bool:
    cred = (p.root / ".claude-orchestrator/auth/team").read_text().strip()
    hosts = json.loads((p.root / ".claude-orchestrator/run/zookeeper.json").read_text())["hosts"]
    client = connect(ZkOptions(hosts, auth=cred))
    try:
        snaps = read_snapshots(client, "chains")
    finally:
        disconnect(client)
    return any(e.kind == "message" and text in e.text for s in snaps for e in s.events)
