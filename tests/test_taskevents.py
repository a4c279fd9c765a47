"""Task events from the records' history, against a real ZooKeeper."""

from __future__ import annotations

import threading
import time

from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.supervisor.taskevents import (
    EventMarks,
    TaskEventFeed,
    kind_of,
)
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change, HistoryEntry, Task, TaskStatus
from claude_orchestrator.zk.team import Team
from tests.helpers import claim, wait_until


class Shown:
    """As the supervisor uses them: the lane's scan, then the loop's diff."""

    def __init__(self) -> None:
        self.feed = TaskEventFeed()
        self.marks = EventMarks(self.feed.since)

    def scan(self, store: object) -> list[EventLine]:
        return self.marks.fresh(self.feed.scan(store))


def add(team: Team, title: str) -> Task:
    return push(team.tasks, [validate_spec({"title": title}, "test")], "op", time.time())[0]


def jerry(team: Team, name: str = "jerry") -> Actor:
    reg = Registration(name, "developer", "/tmp", session_bound=True, lease_s=120)
    inst = team.registry.register(reg, time.time())
    return Actor(label=inst["id"], instance_id=inst["id"], name=name, role="developer")


def act(team: Team, task_id: str, action: Action, actor: Actor, **kw: object) -> None:
    change = Change(action, by=actor.label, at=iso(time.time()), **kw)  # type: ignore[arg-type]
    team.tasks.transition(task_id, change, actor, time.time())


def claimed(team: Team, title: str) -> tuple[Shown, Task, Actor]:
    """A feed past its baseline, and a task pushed and claimed by jerry after it."""
    feed = Shown()
    feed.scan(team.tasks)
    task = add(team, title)
    actor = jerry(team)
    claim(team.tasks, actor, time.time(), spread=1)
    return feed, task, actor


def entry(frm: str | None, to: str, note: str | None = None) -> HistoryEntry:
    """A history entry as a record holds it (``{at, from, to, by, note}``)."""
    start = None if frm is None else TaskStatus(frm)
    return HistoryEntry("2026-01-01T00:00:00Z", start, TaskStatus(to), "x", note)


def test_kind_of_names_the_changes_worth_a_line() -> None:
    assert kind_of(entry(None, "pending")) is None  # created
    assert kind_of(entry("pending", "claimed")) == "claimed"
    assert kind_of(entry("claimed", "in_progress")) is None
    assert kind_of(entry("in_progress", "completed")) == "completed"
    assert kind_of(entry("claimed", "pending", "recovered: x")) == "recovered"
    assert kind_of(entry("claimed", "pending", "released: x")) == "released"
    assert kind_of(entry("failed", "pending")) == "retried"


def test_feed_shows_a_short_task_claimed_and_completed_between_two_scans(team: Team) -> None:
    feed = Shown()
    assert feed.scan(team.tasks) == []  # the baseline
    task = add(team, "quick one")
    actor = jerry(team)
    before = time.time()
    got = claim(team.tasks, actor, time.time(), spread=1)
    assert got is not None and got.id == task.id
    act(team, task.id, Action.COMPLETE, actor, result="done")
    lines = feed.scan(team.tasks)
    assert [(e.kind, e.worker, e.task) for e in lines] == [
        ("claimed", "jerry", task.id),
        ("completed", "jerry", task.id),
    ]
    assert all(before <= e.at <= time.time() for e in lines)
    assert "quick one" in lines[0].text
    assert feed.scan(team.tasks) == []  # each change once


def test_feed_shows_a_recovery_once(team: Team) -> None:
    feed, task, actor = claimed(team, "orphan")
    feed.scan(team.tasks)
    team.tasks.recover(task.id, actor.label, time.time(), "recovered: jerry is gone")
    lines = feed.scan(team.tasks)
    assert [(e.kind, e.task, e.worker) for e in lines] == [("recovered", task.id, "jerry")]
    assert "jerry is gone" in lines[0].text
    assert feed.scan(team.tasks) == []


def test_feed_reports_blocked_reason(team: Team) -> None:
    feed, task, actor = claimed(team, "needs help")
    act(team, task.id, Action.BLOCK, actor, reason="no database")
    kinds = {e.kind: e for e in feed.scan(team.tasks)}
    assert set(kinds) == {"claimed", "blocked"}
    assert "no database" in kinds["blocked"].text


def test_a_scan_watches_its_folders_once(team: Team) -> None:
    fired: list[object] = []
    feed = TaskEventFeed(changed=fired.append)
    team.tasks.ensure_layout()
    feed.scan(team.tasks)
    add(team, "t")
    actor = jerry(team)
    claim(team.tasks, actor, time.time(), spread=1)  # into active: the watch fires
    wait_until(lambda: len(fired) == 1, 5, "a call after the claim")
    task = add(team, "u")
    claim(team.tasks, actor, time.time(), spread=1)  # active changes again
    # a barrier: ZooKeeper sends a session's events in order and kazoo calls back in order,
    # so once a watch set after the claim has fired, any event of the claim has come too
    barrier = threading.Event()
    marker = f"{team.tasks.paths.root}/barrier"
    team.client.exists(marker, watch=lambda _event: barrier.set())
    team.client.create(marker)
    wait_until(barrier.is_set, 5, "the barrier's event")
    assert len(fired) == 1  # one-shot: nothing more until the next scan
    feed.scan(team.tasks)
    act(team, task.id, Action.COMPLETE, actor)
    wait_until(lambda: len(fired) >= 2, 5, "a call after the next scan's change")


def test_feed_sees_a_task_recovered_and_claimed_again_between_two_scans(team: Team) -> None:
    feed, task, actor = claimed(team, "twice")
    feed.scan(team.tasks)
    team.tasks.recover(task.id, actor.label, time.time(), "recovered: jerry is gone")
    claim(team.tasks, jerry(team, "bob"), time.time(), spread=1)  # same entry in active/
    lines = feed.scan(team.tasks)
    assert [(e.kind, e.worker) for e in lines] == [("recovered", "jerry"), ("claimed", "bob")]
