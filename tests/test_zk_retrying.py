"""Every public store method rides out a connection blip (``retrying``), on both clients.

Each test makes the first ZooKeeper call of one method raise ``ConnectionLoss`` — as a
server restart or a dropped socket does — and shows the method still answers, where it
used to surface the blip as an error (a blip during ``poll-messages`` ended the command).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.exceptions import ConnectionLoss

from claude_orchestrator.zk.client import ZkOptions, connect, connect_oneshot, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change
from claude_orchestrator.zk.team import Team


@pytest.fixture(params=["kazoo", "oneshot"])
def team(request: pytest.FixtureRequest, zk_hosts: str) -> Iterator[Team]:
    opts = ZkOptions(zk_hosts)
    client: Any = connect(opts) if request.param == "kazoo" else connect_oneshot(opts)
    yield Team(client, "test")
    disconnect(client)


def blip(
    monkeypatch: pytest.MonkeyPatch, team: Team, method: str, after: bool = False
) -> list[int]:
    """The next ``client.<method>`` call raises ConnectionLoss: before reaching the server,
    or (``after``) once it has done its work there — a reply lost on the way back."""
    real: Callable[..., Any] = getattr(team.client, method)
    left = [1]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not left[0]:
            return real(*args, **kwargs)
        left[0] -= 1
        if after:
            real(*args, **kwargs)
        raise ConnectionLoss()

    monkeypatch.setattr(team.client, method, flaky)
    return left


def member(team: Team, name: str, session_bound: bool = True) -> str:
    reg = Registration(name, "dev", "/tmp", session_bound, lease_s=1.0)
    return str(team.registry.register(reg, time.time())["id"])


def test_registry_reads_ride_out_a_blip(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    iid = member(team, "ann")
    for method, call in (
        ("get", lambda: team.registry.find(iid)),
        ("get_children", team.registry.ids),
        ("get_children", lambda: team.registry.members("dev")),
        ("get", lambda: team.registry.resolve_name("ann")),
    ):
        left = blip(monkeypatch, team, method)
        assert call(), method
        assert left == [0], method


def test_registry_unregister_and_expiry_ride_out_a_blip(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone, lease = member(team, "ann"), member(team, "bob", session_bound=False)
    left = blip(monkeypatch, team, "get")
    assert team.registry.unregister(gone)["id"] == gone and left == [0]
    assert team.registry.find(gone) is None
    left = blip(monkeypatch, team, "get_children")
    assert team.registry.expire_leases(time.time() + 60) == [lease] and left == [0]
    assert team.registry.ids() == []


def test_inbox_poll_and_dismiss_ride_out_a_blip(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid = member(team, "ann")
    sent = [team.inboxes.send([iid], body, "op", "info", time.time())[0] for body in "ab"]
    left = blip(monkeypatch, team, "get_children")
    assert [m["body"] for m in team.inboxes.poll(iid, iid, time.time())] == ["a", "b"]
    assert left == [0]
    left = blip(monkeypatch, team, "get_children")
    assert len(team.inboxes.read_messages(iid)) == 2 and left == [0]
    left = blip(monkeypatch, team, "delete", after=True)  # deleted, but the reply was lost
    assert team.inboxes.dismiss(iid, sent[0]["id"])["status"] == "dismissed" and left == [0]
    left = blip(monkeypatch, team, "get_children")
    assert team.inboxes.prune(iid) == 0 and left == [0]
    assert [m["id"] for m in team.inboxes.read_messages(iid)] == [sent[1]["id"]]


def test_context_delete_rides_out_a_blip(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    team.context.set("k", "v", "op", time.time())
    team.context.set("lost", "v", "op", time.time())
    left = blip(monkeypatch, team, "delete")
    assert team.context.delete("k", if_version=0) == {"key": "k", "deleted": True}
    left = blip(monkeypatch, team, "delete", after=True)  # deleted, but the reply was lost
    assert team.context.delete("lost") == {"key": "lost", "deleted": True} and left == [0]
    assert team.context.keys() == []


def test_task_store_reads_ride_out_a_blip(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    iid = member(team, "ann")
    tid = push(team.tasks, [validate_spec({"title": "t"}, "t")], "op", time.time())[0].id
    change = Change(Action.CLAIM, by=iid, at="2026-01-01T00:00:00Z", claimer=iid)
    team.tasks.transition(tid, change, Actor(iid, iid), time.time())
    active = team.tasks.paths.state_folder("active")
    for method, call in (
        ("get", lambda: team.tasks.read(tid)[0]),
        ("get_children", lambda: team.tasks.entries(active)),
        ("get_children_async", lambda: team.tasks.entries_of([active])[0]),
        ("get_children", lambda: team.tasks.held_by(iid)),
    ):
        left = blip(monkeypatch, team, method)
        assert call(), method
        assert left == [0], method
