"""The orphan sweep against a real ZooKeeper: recovery, leases, fencing, promotion, pruning."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.errors import IdentityError, NotFoundError, TaskStateError
from claude_orchestrator.zk import recovery
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.query import counts
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change, Task
from claude_orchestrator.zk.team import Team
from tests.helpers import claim, wait_until

TEAM = "test"


def now() -> float:
    return time.time()


def add(team: Team, title: str = "t", **fields: Any) -> Task:
    return push(team.tasks, [validate_spec({"title": title, **fields}, "test")], "op", now())[0]


def worker(team: Team, name: str = "w1", lease: bool = False, at: float | None = None) -> Actor:
    reg = Registration(name, "developer", "/tmp", session_bound=not lease, lease_s=120)
    inst = team.registry.register(reg, now() if at is None else at)
    return Actor(label=inst["id"], instance_id=inst["id"], name=name, role="developer")


def act(
    team: Team, task_id: str, action: Action, actor: Actor, at: float | None = None, **kw: Any
) -> Task:
    ch = Change(action, by=actor.label, at="2026-01-01T00:00:00Z", **kw)
    return team.tasks.transition(task_id, ch, actor, now() if at is None else at)


def take(team: Team, actor: Actor, at: float | None = None) -> Task:
    got = claim(team.tasks, actor, now() if at is None else at, spread=1)
    assert got is not None, "expected a claimable task"
    return got


@pytest.fixture
def clients(zk_hosts: str) -> Iterator[Callable[[], KazooClient]]:
    """A factory of extra clients (each its own session), all stopped at the end."""
    made: list[KazooClient] = []

    def make() -> KazooClient:
        c = connect(ZkOptions(zk_hosts))
        made.append(c)
        return c

    yield make
    for c in made:
        disconnect(c)


def dying_worker(clients: Callable[[], KazooClient], name: str) -> tuple[Team, Actor]:
    """A session-bound worker on its own client, to be stopped by the test."""
    own = Team(clients(), TEAM)
    return own, worker(own, name)


def stop(team_of_worker: Team, actor: Actor, observer: Team) -> None:
    disconnect(team_of_worker.client)
    wait_until(
        lambda: observer.registry.find(str(actor.instance_id)) is None,
        5,
        "the stopped worker's instance node to vanish",
    )


def test_sweep_recovers_a_task_of_a_vanished_worker_and_it_keeps_its_place(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    first, second, third = add(team, "first"), add(team, "second"), add(team, "third")
    own, dead = dying_worker(clients, "dead")
    assert take(own, dead).id == first.id
    act(own, first.id, Action.START, dead)
    stop(own, dead, team)

    report = recovery.sweep(team.tasks, now())
    assert report.recovered == [first.id] and report.failed == []
    back = team.tasks.get(first.id)
    assert back.status == "pending" and back.retry_count == 1
    assert back.claimed_by is None and back.started_at is None
    assert back.history[-1].to == "pending" and "recovered" in str(back.history[-1].note)

    alive = worker(team, "alive")
    got = [take(team, alive).id for _ in range(3)]
    assert got == [first.id, second.id, third.id]


def test_sweep_fails_a_task_whose_retries_are_spent(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    t = add(team, "fragile", max_retries=0)
    own, dead = dying_worker(clients, "dead")
    take(own, dead)
    stop(own, dead, team)

    report = recovery.sweep(team.tasks, now())
    assert report.failed == [t.id] and report.recovered == []
    failed = team.tasks.get(t.id)
    assert failed.status == "failed" and failed.retry_count == 0
    assert "max_retries" in str(failed.reason)
    assert counts(team.tasks)["failed"] == 1 and counts(team.tasks)["active"] == 0


def test_sweep_counts_every_recovery_until_the_retries_are_spent(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    t = add(team, "flaky", max_retries=2)
    for n in range(3):
        own, dead = dying_worker(clients, f"dead{n}")
        take(own, dead)
        stop(own, dead, team)
        recovery.sweep(team.tasks, now())
    final = team.tasks.get(t.id)
    assert final.status == "failed" and final.retry_count == 2


def test_sweep_is_idempotent(team: Team, clients: Callable[[], KazooClient]) -> None:
    t = add(team)
    add(team, "untouched")
    own, dead = dying_worker(clients, "dead")
    take(own, dead)
    stop(own, dead, team)
    at = now()
    first = recovery.sweep(team.tasks, at)
    assert first.recovered == [t.id]
    assert team.tasks.client.exists(team.tasks.paths.inbox(str(dead.instance_id))) is None
    after_first = (team.tasks.get(t.id), counts(team.tasks))

    second = recovery.sweep(team.tasks, at)
    assert second == recovery.SweepReport()
    assert (team.tasks.get(t.id), counts(team.tasks)) == after_first
    assert after_first[0].retry_count == 1


def test_sweep_leaves_tasks_of_live_workers_alone(team: Team) -> None:
    t = add(team)
    session_w, lease_w = worker(team, "s"), worker(team, "l", lease=True)
    add(team, "second")
    take(team, session_w)
    take(team, lease_w)
    report = recovery.sweep(team.tasks, now())
    assert report == recovery.SweepReport()
    assert team.tasks.get(t.id).claimed_by == session_w.instance_id
    assert counts(team.tasks)["active"] == 2


def test_sweep_expires_a_lease_past_its_end_and_recovers_its_tasks(team: Team) -> None:
    t0 = now()
    t = add(team)
    cli = worker(team, "cli", lease=True, at=t0)
    take(team, cli, at=t0)

    report = recovery.sweep(team.tasks, t0 + 200)
    assert report.expired == [cli.instance_id]
    assert report.recovered == [t.id]
    assert team.registry.find(str(cli.instance_id)) is None
    with pytest.raises(NotFoundError):
        team.registry.resolve_name("cli")
    assert team.tasks.get(t.id).status == "pending"


def test_heartbeat_extends_the_lease(team: Team) -> None:
    t0 = now()
    t = add(team)
    cli = worker(team, "cli", lease=True, at=t0)
    take(team, cli, at=t0)
    team.registry.heartbeat(str(cli.instance_id), t0 + 60, current_task=t.id)

    report = recovery.sweep(team.tasks, t0 + 100)
    assert report.expired == [] and report.recovered == []
    inst = team.registry.get(str(cli.instance_id))
    assert inst["current_task"] == t.id
    assert team.tasks.get(t.id).claimed_by == cli.instance_id
    assert recovery.sweep(team.tasks, t0 + 60 + 121).expired == [cli.instance_id]


def test_expired_lease_cannot_complete_before_the_sweep_runs(team: Team) -> None:
    t0 = now()
    t = add(team)
    cli = worker(team, "cli", lease=True, at=t0)
    take(team, cli, at=t0)
    with pytest.raises(IdentityError, match="lease"):
        act(team, t.id, Action.COMPLETE, cli, at=t0 + 200)
    assert team.tasks.get(t.id).status == "claimed"


def test_lease_claim_survives_its_client_and_completes_from_another(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    t = add(team)
    first_call = Team(clients(), TEAM)  # one-shot `claim-task`
    cli = worker(first_call, "cli", lease=True)
    assert take(first_call, cli).id == t.id
    disconnect(first_call.client)

    assert recovery.sweep(team.tasks, now()).recovered == []  # a lease outlives its client
    later_call = Team(clients(), TEAM)  # a later, separate `complete-task -i ID`
    same = Actor(label=str(cli.instance_id), instance_id=cli.instance_id, name="cli")
    done = act(later_call, t.id, Action.COMPLETE, same, result="ok")
    assert done.status == "completed" and done.result == "ok"
    assert done.claimed_by == cli.instance_id


def test_old_claimer_is_fenced_after_recovery_and_reclaim(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    t = add(team)
    own, old = dying_worker(clients, "old")
    take(own, old)
    stop(own, old, team)
    recovery.sweep(team.tasks, now())
    new = worker(team, "new")
    assert take(team, new).id == t.id

    with pytest.raises(TaskStateError, match="claimed by"):
        act(team, t.id, Action.COMPLETE, old, result="stale")
    for action in (Action.FAIL, Action.BLOCK, Action.START):
        with pytest.raises(TaskStateError):
            act(team, t.id, action, old)
    rec = team.tasks.get(t.id)
    assert rec.status == "claimed" and rec.claimed_by == new.instance_id
    assert act(team, t.id, Action.COMPLETE, new, result="fresh").result == "fresh"


def test_old_claimer_cannot_complete_a_recovered_pending_task(
    team: Team, clients: Callable[[], KazooClient]
) -> None:
    t = add(team)
    own, old = dying_worker(clients, "old")
    take(own, old)
    stop(own, old, team)
    recovery.sweep(team.tasks, now())
    with pytest.raises(TaskStateError):
        act(team, t.id, Action.COMPLETE, old, result="stale")
    assert team.tasks.get(t.id).status == "pending"


@pytest.mark.parametrize("known_id", [True, False])
def test_recover_worker_requeues_only_that_instances_tasks(
    team: Team, clients: Callable[[], KazooClient], known_id: bool
) -> None:
    a, b, c = add(team, "a"), add(team, "b"), add(team, "c")
    own, dead = dying_worker(clients, "dead")
    alive = worker(team, "alive")
    take(own, dead)  # a: its current task
    own.registry.heartbeat(str(dead.instance_id), now(), a.id)
    take(team, alive)  # b
    take(own, dead)  # c: claimed, not current yet
    iid = str(dead.instance_id) if known_id else None
    got = recovery.recover_worker(team.tasks, "dead", os.getpid(), now(), iid)
    assert sorted(got) == sorted([(a.id, "pending"), (c.id, "pending")])
    assert team.tasks.get(a.id).retry_count == 1 and team.tasks.get(c.id).retry_count == 1
    assert team.tasks.get(b.id).claimed_by == alive.instance_id
    assert team.registry.find(str(dead.instance_id)) is None  # unregistered after
    assert recovery.recover_worker(team.tasks, "dead", os.getpid(), now(), iid) == []


def test_a_stale_current_task_is_left_alone(team: Team) -> None:
    done, held = add(team, "done"), add(team, "held")
    w = worker(team, "w")
    take(team, w)
    act(team, done.id, Action.COMPLETE, w)  # the worker died before clearing current_task
    team.registry.heartbeat(str(w.instance_id), now(), done.id)
    take(team, w)
    assert recovery.recover_worker(team.tasks, "w", os.getpid(), now()) == [(held.id, "pending")]
    assert team.tasks.get(done.id).status == "completed"


@pytest.mark.parametrize("dies", [True, False])
def test_a_reaped_worker_is_unregistered_and_its_task_recovered_or_released(
    team: Team, dies: bool
) -> None:
    task = add(team)
    take(team, worker(team, "w"))
    put_back = recovery.recover_worker if dies else recovery.release_worker
    assert put_back(team.tasks, "w", os.getpid() + 1, now()) == []  # another process's
    assert put_back(team.tasks, "w", os.getpid(), now()) == [(task.id, "pending")]
    rec = team.tasks.get(task.id)
    assert rec.retry_count == (1 if dies else 0) and team.registry.named("w") is None
    note = "recovered: worker w died (supervisor)" if dies else "released: worker w stopped"
    assert rec.history[-1].note == note


def test_sweep_promotes_a_waiting_task_whose_completer_crashed_before_promoting(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = add(team, "dep")
    waiting = add(team, "after", depends_on=[dep.id])
    w = worker(team)
    take(team, w)
    with monkeypatch.context() as m:  # the completer dies between commit and promotion
        m.setattr(team.tasks, "promote_dependents", lambda task_id, now: [])
        act(team, dep.id, Action.COMPLETE, w)
    assert team.tasks.get(waiting.id).ready is False
    assert claim(team.tasks, w, now()) is None

    assert recovery.sweep(team.tasks, now()).promoted == [waiting.id]
    assert team.tasks.get(waiting.id).ready is True
    assert take(team, w).id == waiting.id
    assert recovery.sweep(team.tasks, now()).promoted == []


def test_prune_finished_keeps_the_newest_completed(team: Team) -> None:
    w = worker(team)
    ids = [add(team, f"t{i}").id for i in range(5)]
    for task_id in ids:
        take(team, w)
        act(team, task_id, Action.COMPLETE, w)
    cancelled = add(team, "dropped").id
    act(team, cancelled, Action.CANCEL, Actor.operator())

    assert recovery.prune_finished(team.tasks, keep=3) == 3
    for task_id in ids[:3]:
        with pytest.raises(NotFoundError):
            team.tasks.get(task_id)
    assert [team.tasks.get(i).status for i in ids[3:]] == ["completed", "completed"]
    assert team.tasks.get(cancelled).status == "cancelled"
    assert counts(team.tasks)["completed"] == 2 and counts(team.tasks)["cancelled"] == 1
    recovery.sweep(team.tasks, now(), finished_keep=3)  # nothing beyond 3: nothing pruned
    assert counts(team.tasks)["completed"] == 2 and counts(team.tasks)["cancelled"] == 1
    recovery.sweep(team.tasks, now(), finished_keep=1)
    assert counts(team.tasks)["completed"] + counts(team.tasks)["cancelled"] == 1


def test_a_heartbeat_writes_on_its_last_write_and_reads_when_that_is_stale(
    team: Team, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = worker(team, "beat")
    iid = str(w.instance_id)
    team.registry.heartbeat(iid, now(), current_task="task-0000000001")
    reads: list[str] = []
    real_get = team.client.get

    def counted_get(path: str, *args: Any) -> Any:
        reads.append(path)
        return real_get(path, *args)

    monkeypatch.setattr(team.client, "get", counted_get)
    team.registry.heartbeat(iid, now(), current_task="")
    assert reads == []  # the second beat wrote on the version the first one made
    other = connect(ZkOptions(zk_hosts))
    try:  # another writer (a `heartbeat` command for the same instance, say)
        Team(other, "test").registry.heartbeat(iid, now(), None, {"cost_usd": 1.5})
    finally:
        disconnect(other)
    beat = team.registry.heartbeat(iid, now(), current_task="task-0000000002")
    assert reads and beat["cost_usd"] == 1.5  # the stale version failed; it read, kept theirs
    assert team.registry.get(iid)["current_task"] == "task-0000000002"
    team.registry.unregister(iid)
    with pytest.raises(IdentityError, match="not registered"):
        team.registry.heartbeat(iid, now(), current_task="")
