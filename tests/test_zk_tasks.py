"""Task store against a real ZooKeeper: transitions, order, retries, deps, assignment."""

from __future__ import annotations

import time
from typing import Any

import pytest

from claude_orchestrator.errors import IdentityError, NotFoundError, SizeLimitError, TaskStateError
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.query import counts, list_tasks
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change, Task
from claude_orchestrator.zk.team import Team
from tests.helpers import claim

OPERATOR = Actor.operator()


def now() -> float:
    return time.time()


def add(team: Team, title: str = "t", **fields: Any) -> Task:
    return push(team.tasks, [validate_spec({"title": title, **fields}, "test")], "op", now())[0]


def worker(team: Team, name: str = "w1", role: str = "developer", lease: bool = False) -> Actor:
    inst = team.registry.register(Registration(name, role, "/tmp", not lease), now())
    return Actor(label=inst["id"], instance_id=inst["id"], name=name, role=role)


def act(team: Team, task_id: str, action: Action, actor: Actor, **kw: Any) -> Task:
    ch = Change(action, by=actor.label, at="2026-01-01T00:00:00Z", **kw)
    return team.tasks.transition(task_id, ch, actor, now())


def test_push_assigns_sequential_ids_and_pending_state(team: Team) -> None:
    a, b = add(team, "a"), add(team, "b")
    assert a.id == "task-0000000001" and b.id == "task-0000000002"
    assert a.status == "pending" and a.priority == 1 and a.max_retries == 3
    assert team.tasks.get(a.id).title == "a"


def test_claim_order_is_priority_then_fifo(team: Team) -> None:
    w = worker(team)
    ids = [
        add(team, "low", priority=5).id,
        add(team, "hi", priority=0).id,
        add(team, "mid1").id,
        add(team, "mid2").id,
    ]
    got = [claim(team.tasks, w, now(), spread=1).id for _ in range(4)]  # type: ignore[union-attr]
    assert got == [ids[1], ids[2], ids[3], ids[0]]
    assert claim(team.tasks, w, now()) is None


def test_assigned_tasks_come_first_and_are_never_taken_by_others(team: Team) -> None:
    w1, w2 = worker(team, "w1", "developer"), worker(team, "w2", "tester")
    open_task = add(team, "open", priority=0)
    mine = add(team, "mine", priority=9, assignee="w1")
    role = add(team, "role", priority=5, assignee="role:developer")
    assert claim(team.tasks, w2, now()).id == open_task.id  # type: ignore[union-attr]
    assert claim(team.tasks, w2, now()) is None
    assert claim(team.tasks, w1, now()).id == role.id  # type: ignore[union-attr]
    assert claim(team.tasks, w1, now()).id == mine.id  # type: ignore[union-attr]


def test_full_lifecycle_records_history(team: Team) -> None:
    w = worker(team)
    t = add(team)
    claim(team.tasks, w, now())
    act(team, t.id, Action.START, w)
    done = act(team, t.id, Action.COMPLETE, w, result="ok")
    assert done.status == "completed" and done.result == "ok"
    assert [h.to for h in done.history] == ["pending", "claimed", "in_progress", "completed"]
    assert counts(team.tasks)["completed"] == 1


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], Action.START),
        ([], Action.COMPLETE),
        ([], Action.UNBLOCK),
        ([], Action.RETRY),
        ([Action.START, Action.COMPLETE], Action.CANCEL),
        ([Action.START, Action.COMPLETE], Action.FAIL),
        ([Action.START], Action.START),
        ([Action.START, Action.FAIL], Action.COMPLETE),
        ([Action.START, Action.BLOCK], Action.START),
    ],
)
def test_illegal_transitions_are_refused(team: Team, setup: list[Action], action: Action) -> None:
    w = worker(team)
    t = add(team)
    if setup:
        claim(team.tasks, w, now())
    for step in setup:
        act(team, t.id, step, w)
    before = team.tasks.get(t.id)
    with pytest.raises(TaskStateError):
        act(team, t.id, action, w)
    assert team.tasks.get(t.id) == before


def test_block_unblock_does_not_count_a_retry_and_keeps_place(team: Team) -> None:
    w = worker(team)
    first, second = add(team, "first"), add(team, "second")
    claim(team.tasks, w, now(), spread=1)
    act(team, first.id, Action.BLOCK, w, reason="need input")
    back = act(team, first.id, Action.UNBLOCK, OPERATOR)
    assert back.retry_count == 0 and back.status == "pending"
    assert claim(team.tasks, w, now(), spread=1).id == first.id  # type: ignore[union-attr]
    del second


def test_retry_counts_keeps_id_and_stops_at_max(team: Team) -> None:
    w = worker(team)
    t = add(team, max_retries=1)
    add(team, "later")
    claim(team.tasks, w, now(), spread=1)
    act(team, t.id, Action.FAIL, w, reason="boom")
    again = act(team, t.id, Action.RETRY, OPERATOR)
    assert again.id == t.id and again.retry_count == 1
    assert claim(team.tasks, w, now(), spread=1).id == t.id  # type: ignore[union-attr]
    act(team, t.id, Action.FAIL, w, reason="boom")
    with pytest.raises(TaskStateError, match="retries are spent"):
        act(team, t.id, Action.RETRY, OPERATOR)


def test_cancel_from_any_non_final_state(team: Team) -> None:
    w = worker(team)
    a, b = add(team, "a"), add(team, "b")
    claim(team.tasks, w, now(), spread=1)
    assert act(team, a.id, Action.CANCEL, OPERATOR).status == "cancelled"
    assert act(team, b.id, Action.CANCEL, OPERATOR).status == "cancelled"
    assert counts(team.tasks)["cancelled"] == 2 and counts(team.tasks)["active"] == 0


def test_only_the_claimer_may_complete(team: Team) -> None:
    w1, w2 = worker(team, "w1"), worker(team, "w2")
    t = add(team)
    claim(team.tasks, w1, now())
    with pytest.raises(TaskStateError, match="claimed by"):
        act(team, t.id, Action.COMPLETE, w2)
    with pytest.raises(TaskStateError, match="claimed by"):
        act(team, t.id, Action.COMPLETE, OPERATOR)


def test_depends_on_holds_a_task_until_its_dependencies_complete(team: Team) -> None:
    w = worker(team)
    a = add(team, "a")
    b = add(team, "b", depends_on=[a.id], priority=0)
    assert b.ready is False
    assert claim(team.tasks, w, now()).id == a.id  # type: ignore[union-attr]
    assert claim(team.tasks, w, now()) is None
    act(team, a.id, Action.COMPLETE, w)
    assert team.tasks.get(b.id).ready is True
    assert claim(team.tasks, w, now()).id == b.id  # type: ignore[union-attr]


def test_batch_push_with_local_references(team: Team) -> None:
    specs = [
        validate_spec(s, "x") for s in ({"title": "one"}, {"title": "two", "depends_on": ["#1"]})
    ]
    one, two = push(team.tasks, specs, "op", now())
    assert two.depends_on == (one.id,) and two.ready is False
    assert [t.id for t in list_tasks(team.tasks, status="pending")] == [one.id, two.id]


def test_push_refuses_unknown_dependency_and_writes_nothing(team: Team) -> None:
    with pytest.raises(NotFoundError):
        add(team, "x", depends_on=["task-0000000099"])
    assert list_tasks(team.tasks) == []


def test_oversize_description_is_refused_naming_the_limit(team: Team) -> None:
    with pytest.raises(SizeLimitError, match="limit is 262,144 bytes"):
        add(team, "big", description="x" * 300_000)
    assert list_tasks(team.tasks) == []


def test_claim_needs_a_registered_identity(team: Team) -> None:
    add(team)
    with pytest.raises(IdentityError):
        claim(team.tasks, OPERATOR, now())
    ghost = Actor(label="ghost", instance_id="ghost-1", name="ghost")
    with pytest.raises(IdentityError):
        claim(team.tasks, ghost, now())


def test_list_filters(team: Team) -> None:
    add(team, "a", chain_id="c1", assignee="w1")
    add(team, "b", chain_id="c2")
    assert [t.title for t in list_tasks(team.tasks, chain_id="c1")] == ["a"]
    assert [t.title for t in list_tasks(team.tasks, assignee="w1")] == ["a"]


def test_claimers_racing_in_threads_claim_each_task_exactly_once(zk_hosts: str) -> None:
    import threading

    from claude_orchestrator.zk.claim import Claimer
    from claude_orchestrator.zk.client import ZkOptions, connect, disconnect

    setup = connect(ZkOptions(zk_hosts))
    pushed = push(
        Team(setup, "race").tasks, [validate_spec({"title": "x"}, "t")] * 150, "op", now()
    )
    claimed: list[list[str]] = [[] for _ in range(6)]

    def run(n: int) -> None:
        client = connect(ZkOptions(zk_hosts))
        team = Team(client, "race")
        actor = worker(team, f"r{n}")
        claimer = Claimer(team.tasks, actor, spread=12)
        while (task := claimer.claim(now())) is not None:
            claimed[n].append(task.id)
        disconnect(client)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [tid for ids in claimed for tid in ids]
    assert sorted(every) == sorted(t.id for t in pushed)  # all claimed, none twice
    assert counts(Team(setup, "race").tasks)["pending"] == 0
    disconnect(setup)


def test_claimer_sees_a_new_higher_priority_task_after_refresh(team: Team) -> None:
    from claude_orchestrator.zk.claim import Claimer

    w = worker(team)
    add(team, "a")
    add(team, "b")
    claimer = Claimer(team.tasks, w, spread=1)
    assert claimer.claim(now()).title == "a"  # type: ignore[union-attr]
    add(team, "urgent", priority=0)
    claimer.refresh()
    assert claimer.claim(now()).title == "urgent"  # type: ignore[union-attr]
    assert claimer.claim(now()).title == "b"  # type: ignore[union-attr]
    assert claimer.claim(now()) is None


def test_releases_on_stop_are_free_only_a_few_times(team: Team) -> None:
    from claude_orchestrator.zk.taskmodel import FREE_RELEASES

    tid = add(team, max_retries=1).id
    w = worker(team)
    statuses = []
    for _ in range(FREE_RELEASES + 2):
        claim(team.tasks, w, now())
        rec = act(team, tid, Action.RELEASE, w, on_stop=True)
        statuses.append((rec.status, rec.retry_count))
    free = [("pending", 0)] * FREE_RELEASES
    assert statuses == [*free, ("pending", 1), ("failed", 1)]  # then it counts, then it fails
    assert "released on stop" in str(rec.reason)


def test_a_release_that_is_not_a_stop_stays_free(team: Team) -> None:
    from claude_orchestrator.zk.taskmodel import FREE_RELEASES

    tid = add(team, max_retries=0).id
    w = worker(team)
    for _ in range(FREE_RELEASES + 2):
        claim(team.tasks, w, now())
        rec = act(team, tid, Action.RELEASE, w)
    assert rec.status == "pending" and rec.retry_count == 0


def test_a_workers_start_and_complete_write_without_reading(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = add(team)
    w = worker(team)._replace(session_bound=True)  # a worker's own instance
    assert claim(team.tasks, w, now()).id == t.id  # type: ignore[union-attr]
    reads: list[str] = []
    real = team.client.get_async  # kazoo's get() goes through it too

    def counted(path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(team.client, "get_async", counted)
    act(team, t.id, Action.START, w)
    act(team, t.id, Action.COMPLETE, w, result="ok")
    assert reads == []  # each wrote on the version the write before made
    monkeypatch.undo()
    assert team.tasks.get(t.id).status == "completed"


def test_a_workers_stale_write_reads_again_and_a_gone_worker_writes_nothing(team: Team) -> None:
    first, second = add(team), add(team)
    w = worker(team)._replace(session_bound=True)
    claim(team.tasks, w, now())
    # someone else writes the record after the claim: the remembered version is stale
    path = team.tasks.paths.record(first.id)
    team.client.set(path, team.client.get(path)[0])
    assert act(team, first.id, Action.START, w).status == "in_progress"
    claim(team.tasks, w, now())
    team.client.delete(team.tasks.paths.instance(str(w.instance_id)))  # its session ended
    with pytest.raises(TaskStateError, match="no longer valid"):
        act(team, second.id, Action.START, w)
    assert team.tasks.get(second.id).status == "claimed"  # nothing written
