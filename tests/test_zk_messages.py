"""Inboxes against a real ZooKeeper: addressing, order, read marks, limits, exactly-once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.errors import NotFoundError, SizeLimitError
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import LIMITS
from claude_orchestrator.zk.inbox import READ_KEEP, Inboxes
from claude_orchestrator.zk.registry import Registration
from claude_orchestrator.zk.team import Team
from tests.helpers import wait_until

SENDER = "operator@test"


def now() -> float:
    return time.time()


def member(team: Team, name: str, role: str = "developer") -> str:
    """Register a session-bound instance; return its id."""
    inst = team.registry.register(Registration(name, role, "/tmp", True), now())
    return str(inst["id"])


def send(team: Team, to: list[str], body: str, kind: str = "info") -> list[dict[str, Any]]:
    return team.inboxes.send(to, body, SENDER, kind, now())


def unread(team: Team, iid: str) -> list[str]:
    return team.inboxes.unread_ids(iid)


@pytest.fixture
def other_client(zk_hosts: str) -> Iterator[KazooClient]:
    c = connect(ZkOptions(zk_hosts))
    yield c
    disconnect(c)


def test_send_to_one_instance_reaches_only_it(team: Team) -> None:
    a, b = member(team, "a"), member(team, "b")
    sent = send(team, [a], "hello a")
    assert [m["to"] for m in sent] == [a]
    assert sent[0]["body"] == "hello a" and sent[0]["from"] == SENDER and sent[0]["type"] == "info"
    assert "_op" not in sent[0]
    assert unread(team, a) == [sent[0]["id"]]
    assert unread(team, b) == []


def test_send_to_role_reaches_every_member_of_that_role(team: Team) -> None:
    d1, d2 = member(team, "d1", "developer"), member(team, "d2", "developer")
    t = member(team, "t1", "tester")
    devs = team.registry.members("developer")
    assert devs == sorted([d1, d2])
    sent = send(team, devs, "devs only", kind="request")
    assert sorted(m["to"] for m in sent) == sorted([d1, d2])
    assert len(unread(team, d1)) == 1 and len(unread(team, d2)) == 1
    assert unread(team, t) == []
    assert team.registry.members("nobody") == []


def test_broadcast_reaches_every_instance(team: Team) -> None:
    ids = [member(team, f"w{i}", role) for i, role in enumerate(["dev", "test", "dev"])]
    everyone = team.registry.ids()
    assert everyone == sorted(ids)
    send(team, everyone, "all hands", kind="help")
    for iid in ids:
        got = team.inboxes.poll(iid, iid, now())
        assert [(m["body"], m["type"], m["to"]) for m in got] == [("all hands", "help", iid)]


def test_poll_returns_messages_oldest_first_and_marks_them_read(team: Team) -> None:
    a = member(team, "a")
    bodies = [f"msg {i}" for i in range(12)]
    for body in bodies:
        send(team, [a], body)
    got = team.inboxes.poll(a, "reader", now())
    assert [m["body"] for m in got] == bodies
    assert all(m["read_by"] == "reader" and m["read_at"] for m in got)
    assert team.inboxes.poll(a, "reader", now()) == []
    assert unread(team, a) == []


def test_poll_include_read_returns_read_messages_too(team: Team) -> None:
    a = member(team, "a")
    send(team, [a], "first")
    assert [m["body"] for m in team.inboxes.poll(a, a, now())] == ["first"]
    send(team, [a], "second")
    both = team.inboxes.poll(a, a, now(), include_read=True)
    assert [m["body"] for m in both] == ["first", "second"]
    again = team.inboxes.poll(a, a, now(), include_read=True)
    assert [m["body"] for m in again] == ["first", "second"]
    assert team.inboxes.poll(a, a, now()) == []


def test_dismiss_deletes_unread_and_read_messages(team: Team) -> None:
    a = member(team, "a")
    first, second = (send(team, [a], body)[0]["id"] for body in ("one", "two"))
    team.inboxes.take(a, first, a, now())
    assert team.inboxes.dismiss(a, first) == {"id": first, "status": "dismissed"}
    assert team.inboxes.dismiss(a, second) == {"id": second, "status": "dismissed"}
    assert team.inboxes.poll(a, a, now(), include_read=True) == []
    with pytest.raises(NotFoundError, match="no message"):
        team.inboxes.dismiss(a, first)
    with pytest.raises(NotFoundError):
        team.inboxes.dismiss(a, "m-0000009999")


def test_inbox_of_unknown_instance_is_not_found(team: Team) -> None:
    with pytest.raises(NotFoundError, match="no inbox"):
        team.inboxes.poll("ghost-00000000", "x", now())


def test_send_to_a_vanished_instance_delivers_nothing_to_anyone(team: Team, zk_hosts: str) -> None:
    a = member(team, "a")
    gone_client = connect(ZkOptions(zk_hosts))
    gone = member(Team(gone_client, "test"), "gone")
    disconnect(gone_client)  # a clean stop removes its ephemeral instance node at once
    wait_until(lambda: team.registry.find(gone) is None, 5, "the stopped instance to vanish")
    with pytest.raises(NotFoundError, match=gone):
        send(team, [a, gone], "to both")
    assert unread(team, a) == []  # one transaction: nothing delivered to anyone


def test_oversize_message_is_refused_naming_the_limit(team: Team) -> None:
    a = member(team, "a")
    with pytest.raises(SizeLimitError, match=f"limit is {LIMITS['message']:,} bytes"):
        send(team, [a], "x" * (LIMITS["message"] + 1))
    assert unread(team, a) == []
    send(team, [a], "x" * LIMITS["message"])  # exactly at the limit is fine
    assert len(unread(team, a)) == 1


def test_read_folder_is_pruned_to_the_newest_read_keep(team: Team) -> None:
    a = member(team, "a")
    total = READ_KEEP + 7
    sent = [send(team, [a], f"m{i}")[0]["id"] for i in range(total)]
    assert len(team.inboxes.poll(a, a, now())) == total
    kept = team.inboxes.read_messages(a)
    assert [m["id"] for m in kept] == sent[-READ_KEEP:]
    assert team.inboxes.prune(a) == 0


def test_messages_are_taken_exactly_once_by_racing_clients(team: Team, zk_hosts: str) -> None:
    a = member(team, "a")
    total, takers = 200, 6
    sent = {send(team, [a], f"job {i}")[0]["id"] for i in range(total)}
    start = threading.Barrier(takers)

    def drain(n: int) -> list[str]:
        c = connect(ZkOptions(zk_hosts))
        try:
            inboxes = Inboxes(c, "test")
            start.wait(timeout=10)
            got: list[str] = []
            while ids := inboxes.unread_ids(a):
                if n % 2:  # half poll everything, half take one by one
                    got += [m["id"] for m in inboxes.poll(a, f"taker{n}", now())]
                else:
                    taken = (inboxes.take(a, mid, f"taker{n}", now()) for mid in ids)
                    got += [m["id"] for m in taken if m is not None]
            return got
        finally:
            disconnect(c)

    with ThreadPoolExecutor(takers) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(drain, n) for n in range(takers)]]
    every = [mid for r in results for mid in r]
    assert len(every) == len(set(every)) == total
    assert set(every) == sent


def test_wait_returns_when_another_client_sends(team: Team, other_client: KazooClient) -> None:
    a = member(team, "a")
    got: list[list[dict[str, Any]]] = []
    waiter = threading.Thread(target=lambda: got.append(team.inboxes.wait(a, a, 20.0, now)))
    waiter.start()
    Inboxes(other_client, "test").send([a], "wake up", "other", "info", now())
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    assert [[m["body"] for m in batch] for batch in got] == [["wake up"]]
    assert unread(team, a) == []


def test_wait_takes_messages_already_waiting(team: Team) -> None:
    a = member(team, "a")
    send(team, [a], "early")
    assert [m["body"] for m in team.inboxes.wait(a, a, 5.0, now)] == ["early"]


def test_wait_returns_nothing_at_the_timeout(team: Team) -> None:
    a = member(team, "a")
    started = time.monotonic()
    assert team.inboxes.wait(a, a, 0.3, now) == []
    assert 0.25 <= time.monotonic() - started < 3.0


def test_wait_leaves_no_watch_behind(team: Team, client: KazooClient) -> None:
    a = member(team, "a")
    listeners = len(client.state_listeners)
    for _ in range(3):
        assert team.inboxes.wait(a, a, 0.05, now) == []
    send(team, [a], "after")  # fires and ends whatever watches the waits left
    wait_until(lambda: len(client.state_listeners) == listeners, 5, "the wait watches to end")
    assert [m["body"] for m in team.inboxes.poll(a, a, now())] == ["after"]


def drop_next_reply(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The next transaction commits on the server but its reply never comes back."""
    from kazoo.exceptions import ConnectionLoss

    from claude_orchestrator.zk import txn

    real_commit = txn.Txn.commit
    drops = {"left": 1}

    def commit_then_drop(self: txn.Txn) -> list[Any]:
        results = real_commit(self)
        if drops["left"]:
            drops["left"] -= 1
            raise ConnectionLoss
        return results

    monkeypatch.setattr(txn.Txn, "commit", commit_then_drop)
    return drops


def test_take_whose_reply_was_lost_is_recognised_on_retry(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = member(team, "a")
    mid = send(team, [a], "only once")[0]["id"]
    drops = drop_next_reply(monkeypatch)
    got = team.inboxes.take(a, mid, "reader", now())
    assert drops["left"] == 0
    assert got is not None and got["body"] == "only once" and got["read_by"] == "reader"
    assert "_take" not in got
    assert unread(team, a) == [] and [m["id"] for m in team.inboxes.read_messages(a)] == [mid]


def test_send_whose_reply_was_lost_is_not_delivered_twice(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = member(team, "a"), member(team, "b")
    drops = drop_next_reply(monkeypatch)
    sent = team.inboxes.send([a, b], "once", "op", "info", now())
    assert drops["left"] == 0 and [m["to"] for m in sent] == [a, b]
    assert [len(unread(team, x)) for x in (a, b)] == [1, 1]
    assert sent[0]["id"] == unread(team, a)[0] and "_op" not in sent[0]
