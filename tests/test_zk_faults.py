"""Faults against a real ZooKeeper: session expiry, server restart, racing processes,
an unreachable server, ACLs, and claimers that lose races."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from claude_orchestrator.errors import IdentityError, TaskStateError, ZkUnavailableError
from claude_orchestrator.supervisor.zkserver import ZkServer, free_port
from claude_orchestrator.zk import claim as claim_mod
from claude_orchestrator.zk import recovery
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.query import counts, list_tasks
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change, Task
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import retrying
from tests.helpers import claim, wait_until

TEAM = "test"
REPO = Path(__file__).resolve().parent.parent


def now() -> float:
    return time.time()


def add_many(team: Team, n: int, **fields: Any) -> list[Task]:
    specs = [validate_spec({"title": f"task {i}", **fields}, "test") for i in range(n)]
    return push(team.tasks, specs, "op", now())


def worker(team: Team, name: str, lease: bool = False) -> Actor:
    reg = Registration(name, "developer", "/tmp", session_bound=not lease)
    inst = team.registry.register(reg, now())
    return Actor(label=inst["id"], instance_id=inst["id"], name=name, role="developer")


def act(team: Team, task_id: str, action: Action, actor: Actor, **kw: Any) -> Task:
    ch = Change(action, by=actor.label, at="2026-01-01T00:00:00Z", **kw)
    return team.tasks.transition(task_id, ch, actor, now())


def completions(rec: Task) -> int:
    return sum(1 for h in rec.history if h.to == "completed")


def expire_session(victim: KazooClient, hosts: str, timeout: float = 15.0) -> None:
    """Expire ``victim``'s session on the server (kazoo's test-harness trick).

    A second client attaches to the same session and closes it. If the victim
    reconnects in between, the session moves back to it and survives, so
    repeat until the victim itself reports LOST.
    """
    lost = threading.Event()

    def on_state(state: str) -> bool:
        if state == "LOST":
            lost.set()
            return True  # kazoo removes a listener that returns True
        return False

    victim.add_listener(on_state)
    deadline = time.monotonic() + timeout
    while not lost.is_set():
        assert time.monotonic() < deadline, "could not expire the session"
        twin = KazooClient(hosts, client_id=victim.client_id)
        twin.start(timeout=10)
        twin.stop()
        twin.close()
        lost.wait(2.0)  # bounded wait for the victim to notice, then try again


@pytest.mark.slow
def test_expired_session_is_recovered_and_its_late_complete_is_fenced(
    team: Team, zk_hosts: str
) -> None:
    task = add_many(team, 1)[0]
    worker_client = connect(ZkOptions(zk_hosts, session_timeout=1.0))
    try:
        cut_off = Team(worker_client, TEAM)
        old = worker(cut_off, "old")
        assert claim(cut_off.tasks, old, now()).id == task.id  # type: ignore[union-attr]
        act(cut_off, task.id, Action.START, old)
        old_session = worker_client.client_id[0]

        expire_session(worker_client, zk_hosts)
        wait_until(
            lambda: team.registry.find(str(old.instance_id)) is None,
            10,
            "the expired worker's instance node to vanish",
        )
        wait_until(
            lambda: worker_client.connected and worker_client.client_id[0] != old_session,
            15,
            "the old worker's client to reconnect with a new session",
        )
        with pytest.raises(IdentityError):  # gone, but not yet swept
            act(cut_off, task.id, Action.COMPLETE, old, result="stale")

        assert recovery.sweep(team.tasks, now()).recovered == [task.id]
        new = worker(team, "new")
        assert claim(team.tasks, new, now()).id == task.id  # type: ignore[union-attr]
        with pytest.raises(TaskStateError):
            act(cut_off, task.id, Action.COMPLETE, old, result="stale")
        done = act(team, task.id, Action.COMPLETE, new, result="fresh")
    finally:
        disconnect(worker_client)

    assert done.result == "fresh" and done.retry_count == 1
    final = team.tasks.get(task.id)
    assert final.status == "completed" and final.result == "fresh"
    assert completions(final) == 1 and counts(team.tasks)["completed"] == 1


@pytest.mark.slow
def test_server_restart_keeps_every_task_and_claim(own_server: ZkServer) -> None:
    c = connect(ZkOptions(own_server.hosts, session_timeout=2.0))
    try:
        team = Team(c, "restart")
        tasks = add_many(team, 12)
        ids = [t.id for t in tasks]
        cli = worker(team, "cli", lease=True)
        held = [claim(team.tasks, cli, now(), spread=1) for _ in range(5)]
        for rec in held[:2]:
            act(team, rec.id, Action.START, cli)  # type: ignore[union-attr]
        act(team, ids[-1], Action.CANCEL, Actor.operator())
        before = {i: team.tasks.get(i) for i in ids}
        before_counts = counts(team.tasks)

        own_server.stop()
        wait_until(lambda: not c.connected, 10, "the client to notice the server is gone")
        own_server.start()  # same port, same data dir
        wait_until(lambda: c.connected, 20, "the client to reconnect")

        assert retrying(c, lambda: {i: team.tasks.get(i) for i in ids}) == before
        assert counts(team.tasks) == before_counts
        assert team.registry.get(str(cli.instance_id))["kind"] == "lease"

        for rec in held:
            act(team, rec.id, Action.COMPLETE, cli, result="after restart")  # type: ignore[union-attr]
        while (got := claim(team.tasks, cli, now())) is not None:
            act(team, got.id, Action.COMPLETE, cli, result="after restart")
        late = add_many(team, 1)[0]
    finally:
        disconnect(c)

    assert late.id == "task-0000000013"  # the id counter survived too
    check = connect(ZkOptions(own_server.hosts))
    try:
        final = list_tasks(Team(check, "restart").tasks)
    finally:
        disconnect(check)
    by_id = {r.id: r for r in final}
    assert sorted(by_id) == [*ids, late.id]
    assert [by_id[i].status for i in ids[:-1]] == ["completed"] * 11
    assert by_id[ids[-1]].status == "cancelled"
    assert all(completions(by_id[i]) == 1 for i in ids[:-1])


RACER = r"""
import json, sys, threading, time
from claude_orchestrator.zk.claim import claim_as
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.team import Team

hosts, name, gate = sys.argv[1:4]
client = connect(ZkOptions(hosts))
team = Team(client, "test")
inst = team.registry.register(Registration(name, "dev", "/tmp", True), time.time())
actor = Actor(label=inst["id"], instance_id=inst["id"], name=name, role="dev")
go = threading.Event()
client.DataWatch(gate, lambda data, stat: go.set() if stat is not None else None)
if not go.wait(60):
    sys.exit("the start gate never opened")
claimed = []
while (task := claim_as(team.tasks, inst["id"], time.time())) is not None:
    claimed.append(task.id)
    change = Change(Action.COMPLETE, by=actor.label, at=iso(time.time()), result=name)
    team.tasks.transition(task.id, change, actor, time.time())
print(json.dumps(claimed))
disconnect(client)
"""


@pytest.mark.slow
def test_racing_processes_claim_every_task_exactly_once(team: Team, zk_hosts: str) -> None:
    total, racers = 200, 4
    ids = {t.id for t in add_many(team, total)}
    gate = "/start-gate"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, zk_hosts, f"racer{n}", gate],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(racers)
    ]
    try:
        wait_until(lambda: len(team.registry.ids()) == racers, 30, "every racer to register")
        team.client.create(gate)
        outputs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * racers, [err for _, err in outputs]
    claimed = {f"racer{n}": json.loads(out) for n, (out, _) in enumerate(outputs)}
    every = [i for got in claimed.values() for i in got]
    assert len(every) == len(set(every)) == total
    assert set(every) == ids
    assert counts(team.tasks)["completed"] == total
    for rec in list_tasks(team.tasks):
        assert completions(rec) == 1
        assert rec.id in claimed[str(rec.result)]


def test_claim_that_loses_races_still_finds_the_remaining_tasks(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [t.id for t in add_many(team, 8)]
    me, rival = worker(team, "me"), worker(team, "rival")
    real_attempt = claim_mod._attempt
    steals = {"left": 2}

    def racing(store: Any, entry_path: str, actor: Actor, at: float) -> Any:
        if steals["left"] and actor is me:
            steals["left"] -= 1  # the rival commits this candidate just before us
            assert real_attempt(store, entry_path, rival, at) is not None
        return real_attempt(store, entry_path, actor, at)

    monkeypatch.setattr(claim_mod, "_attempt", racing)
    monkeypatch.setattr(random, "randrange", lambda n: n - 1)  # always skip ahead
    got = claim(team.tasks, me, now(), spread=4)
    assert got is not None, "claim gave up while six tasks were still pending"
    assert got.id not in (ids[0], ids[4])
    now_counts = counts(team.tasks)
    assert (now_counts["pending"], now_counts["active"]) == (5, 3)


def test_unreachable_zookeeper_fails_fast_with_a_clear_error() -> None:
    port = free_port()  # bound and released: nothing listens there
    started = time.monotonic()
    with pytest.raises(ZkUnavailableError, match=f"127.0.0.1:{port}") as err:
        connect(ZkOptions(f"127.0.0.1:{port}", connect_timeout=1.0))
    assert time.monotonic() - started < 5.0
    assert err.value.exit_code == 4


@pytest.fixture
def secure_team(zk_hosts: str) -> Iterator[Team]:
    owner = connect(ZkOptions(zk_hosts, auth="user:pw"))
    try:
        yield Team(owner, "secure")
    finally:
        owner.delete("/claude-orchestrator", recursive=True)  # the anonymous teardown cannot
        disconnect(owner)


def test_acl_refuses_an_unauthenticated_client(secure_team: Team, zk_hosts: str) -> None:
    team = secure_team
    task = add_many(team, 1)[0]
    w = worker(team, "w")
    team.inboxes.send([str(w.instance_id)], "secret", "op", "info", now())
    team.context.set("key", "secret", "op", now())
    paths = team.tasks.paths
    entry = team.tasks.entries(paths.queue_any)[0]

    anon = connect(ZkOptions(zk_hosts))
    try:
        for path in (
            paths.record(task.id),
            paths.instance(str(w.instance_id)),
            paths.context_key("key"),
            paths.root,
        ):
            with pytest.raises(NoAuthError):
                anon.get(path)
        with pytest.raises(NoAuthError):
            anon.get_children(paths.unread(str(w.instance_id)))
        with pytest.raises(NoAuthError):
            anon.delete(f"{paths.queue_any}/{entry}")
        with pytest.raises(NoAuthError):
            anon.delete(paths.record(task.id))
        with pytest.raises(NoAuthError):
            anon.create(f"{paths.queue_any}/1-0000000099")
        with pytest.raises(NoAuthError):
            anon.create(f"{paths.records}/task-0000000099", b"{}")
        # the shared root stays open so teams with other credentials can coexist
        anon.create("/claude-orchestrator/other-team")
        anon.delete("/claude-orchestrator/other-team")
    finally:
        disconnect(anon)

    same_creds = connect(ZkOptions(zk_hosts, auth="user:pw"))
    try:
        assert Team(same_creds, "secure").tasks.get(task.id).title == "task 0"
    finally:
        disconnect(same_creds)
    assert team.tasks.entries(paths.queue_any) == [entry]
