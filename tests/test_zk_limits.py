"""Writes larger than one ZooKeeper packet, pushes validated whole before the first write,
partial failures that say what committed, and the team's task-data quota — real ZooKeeper."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.errors import (
    NotFoundError,
    PartialWriteError,
    QuotaError,
    SizeLimitError,
)
from claude_orchestrator.zk import push as push_module
from claude_orchestrator.zk.claim import claim_as
from claude_orchestrator.zk.codec import decode, iso
from claude_orchestrator.zk.inbox import Inboxes
from claude_orchestrator.zk.push import id_ranges, push, validate_spec
from claude_orchestrator.zk.query import list_tasks
from claude_orchestrator.zk.quota import TASK_BYTES, recount
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import Txn

BIG = 250 * 1024  # within the description limit; five of them are 1.25 MB


def now() -> float:
    return time.time()


def specs(*raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [validate_spec(r, f"tasks.jsonl:{n}") for n, r in enumerate(raw, 1)]


def member(team: Team, name: str) -> str:
    return str(team.registry.register(Registration(name, "dev", "/tmp", True), now())["id"])


def counter_version(team: Team) -> int:
    return int(team.client.exists(team.tasks.paths.counter).version)


def test_five_250k_tasks_are_pushed_in_batches_that_fit_a_packet(team: Team) -> None:
    started = time.monotonic()
    pushed = push(
        team.tasks,
        specs(*({"title": f"t{i}", "description": "x" * BIG} for i in range(5))),
        "op",
        now(),
    )
    assert time.monotonic() - started < 5
    assert [t.title for t in list_tasks(team.tasks)] == ["t0", "t1", "t2", "t3", "t4"]
    assert all(len(team.tasks.get(t.id).description) == BIG for t in pushed)


def test_a_250k_broadcast_to_five_instances_reaches_all_five(team: Team) -> None:
    ids = [member(team, f"w{i}") for i in range(5)]
    started = time.monotonic()
    sent = team.inboxes.send(ids, "y" * BIG, "op", "info", now())
    assert time.monotonic() - started < 5
    assert sorted(m["to"] for m in sent) == sorted(ids)
    assert all(len(team.inboxes.unread_ids(i)) == 1 for i in ids)


def test_bad_dependency_on_line_51_writes_nothing(team: Team) -> None:
    raw: list[dict[str, Any]] = [{"title": f"t{i}"} for i in range(60)]
    raw[50]["depends_on"] = ["task-0000000999"]
    before = counter_version(team)
    with pytest.raises(NotFoundError, match=r"tasks\.jsonl:51: depends on task-0000000999"):
        push(team.tasks, specs(*raw), "op", now())
    assert list_tasks(team.tasks) == [] and counter_version(team) == before


def test_local_references_across_batches_resolve(team: Team) -> None:
    raw: list[dict[str, Any]] = [{"title": f"t{i}"} for i in range(120)]
    raw[110]["depends_on"] = ["#3", "#60"]
    pushed = push(team.tasks, specs(*raw), "op", now())
    assert pushed[110].depends_on == (pushed[2].id, pushed[59].id)
    assert [t.id for t in pushed] == [f"task-{n:010d}" for n in range(1, 121)]


def test_a_later_batch_failing_names_exactly_what_was_pushed(
    team: Team, client: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = push(team.tasks, specs({"title": "dep"}), "op", now())[0].id
    raw: list[dict[str, Any]] = [{"title": f"t{i}"} for i in range(60)]
    raw[55]["depends_on"] = [dep]
    real = push_module._push_batch

    def then_lose_the_dependency(*args: Any, **kw: Any) -> Any:
        done = real(*args, **kw)
        client.delete(team.tasks.paths.record(dep))  # another client removes it meanwhile
        return done

    monkeypatch.setattr(push_module, "_push_batch", then_lose_the_dependency)
    with pytest.raises(PartialWriteError) as caught:
        push(team.tasks, specs(*raw), "op", now())
    committed = [f"task-{n:010d}" for n in range(2, 52)]
    assert caught.value.committed == committed
    assert "pushed 50 of 60 tasks (task-0000000002..task-0000000051)" in str(caught.value)
    assert [t.id for t in list_tasks(team.tasks)] == committed


def test_id_ranges_fold_consecutive_ids() -> None:
    ids = ["task-0000000001", "task-0000000002", "task-0000000003", "task-0000000007"]
    assert id_ranges(ids) == ["task-0000000001..task-0000000003", "task-0000000007"]


def test_push_past_the_quota_is_refused_naming_it_and_writes_nothing(team: Team) -> None:
    push(team.tasks, specs({"title": "a", "description": "x" * 6000}), "op", now(), quota=10_000)
    before = counter_version(team)
    with pytest.raises(QuotaError, match=r"quota is 10,000 bytes \(\[team\] max_task_bytes\)"):
        push(
            team.tasks, specs({"title": "b", "description": "x" * 6000}), "op", now(), quota=10_000
        )
    assert [t.title for t in list_tasks(team.tasks)] == ["a"] and counter_version(team) == before


def test_a_multi_batch_push_past_the_quota_writes_nothing(team: Team) -> None:
    raw = [{"title": f"t{i}", "description": "x" * BIG} for i in range(5)]
    with pytest.raises(QuotaError):
        push(team.tasks, specs(*raw), "op", now(), quota=1_000_000)
    assert list_tasks(team.tasks) == []


def test_the_running_total_matches_the_stored_records(team: Team) -> None:
    push(
        team.tasks,
        specs(*({"title": f"t{i}", "description": "d" * i} for i in range(70))),
        "op",
        now(),
    )
    data, _ = team.client.get(team.tasks.paths.counter)
    assert decode(data)[TASK_BYTES] == recount(team.client, team.tasks.paths)


def test_a_total_from_before_the_quota_is_recounted(team: Team) -> None:
    push(team.tasks, specs({"title": "a", "description": "x" * 6000}), "op", now())
    team.client.set(team.tasks.paths.counter, b"")  # as a tree from an older version left it
    with pytest.raises(QuotaError):
        push(
            team.tasks, specs({"title": "b", "description": "x" * 6000}), "op", now(), quota=10_000
        )


def test_the_oldest_finished_tasks_make_room_before_a_push_is_refused(team: Team) -> None:
    old = push(team.tasks, specs({"title": "old", "description": "x" * 6000}), "op", now())[0]
    w = member(team, "w")
    claim_as(team.tasks, w, now())
    change = Change(Action.COMPLETE, by=w, at=iso(now()), result="ok")
    team.tasks.transition(old.id, change, Actor(label=w, instance_id=w), now())
    push(team.tasks, specs({"title": "new", "description": "x" * 6000}), "op", now(), quota=10_000)
    assert [t.title for t in list_tasks(team.tasks)] == ["new"]
    with pytest.raises(NotFoundError):
        team.tasks.get(old.id)


def test_a_later_broadcast_batch_failing_names_who_has_the_message(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [member(team, f"w{i}") for i in range(5)]
    real = Inboxes._send_batch
    calls: list[list[str]] = []

    def then_lose_the_last(self: Inboxes, batch: list[str], msg: dict[str, Any]) -> Any:
        calls.append(batch)
        done = real(self, batch, msg)
        if len(calls) == 1:
            team.registry.unregister(ids[-1])  # the last recipient leaves meanwhile
        return done

    monkeypatch.setattr(Inboxes, "_send_batch", then_lose_the_last)
    with pytest.raises(PartialWriteError) as caught:
        team.inboxes.send(ids, "y" * BIG, "op", "info", now())
    first = calls[0]
    assert 0 < len(first) < 5
    assert [c.split("/")[0] for c in caught.value.committed] == first
    assert f"delivered to {len(first)} of 5 recipients" in str(caught.value)
    assert all(len(team.inboxes.unread_ids(i)) == (1 if i in first else 0) for i in ids[:-1])


def test_a_transaction_over_the_packet_limit_is_refused_before_it_is_sent(team: Team) -> None:
    t = Txn(team.client)
    for n in range(2):
        t.create(f"{team.tasks.paths.root}/big-{n}", b"z" * 600_000)
    with pytest.raises(SizeLimitError, match="the limit is 1,000,000 bytes"):
        t.commit()
    assert team.client.connected and team.client.exists(f"{team.tasks.paths.root}/big-0") is None
