"""The context store against a real ZooKeeper: versions, compare-and-set, odd keys, watch."""

from __future__ import annotations

import queue
import time
from typing import Any

import pytest

from claude_orchestrator.errors import ConflictError, SizeLimitError, UsageError
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import LIMITS
from claude_orchestrator.zk.context import ContextStore
from claude_orchestrator.zk.team import Team
from tests.helpers import wait_until


def now() -> float:
    return time.time()


def put(team: Team, key: str, value: str, if_version: int | None = None) -> dict[str, Any]:
    return team.context.set(key, value, "tester", now(), if_version=if_version)


def test_context_set_get_and_version_increments(team: Team) -> None:
    first = put(team, "build", "red")
    assert first["key"] == "build" and first["value"] == "red" and first["version"] == 0
    assert first["updated_by"] == "tester" and first["updated_at"].endswith("Z")
    assert put(team, "build", "green")["version"] == 1
    assert put(team, "build", "green")["version"] == 2
    got = team.context.get("build")
    assert got == {
        "key": "build",
        "value": "green",
        "version": 2,
        "updated_by": "tester",
        "updated_at": got["updated_at"],
    }


def test_context_get_of_a_missing_key_is_not_found(team: Team) -> None:
    assert team.context.get("nope") == {"key": "nope", "value": None, "status": "not_found"}


def test_context_cas_with_the_current_version_succeeds(team: Team) -> None:
    put(team, "k", "v0")
    put(team, "k", "v1")
    done = put(team, "k", "v2", if_version=1)
    assert done["version"] == 2 and team.context.get("k")["value"] == "v2"


def test_context_cas_with_a_stale_version_conflicts_and_keeps_the_value(team: Team) -> None:
    put(team, "k", "v0")
    put(team, "k", "v1")
    with pytest.raises(ConflictError, match="version 1, not 0"):
        put(team, "k", "lost update", if_version=0)
    got = team.context.get("k")
    assert got["value"] == "v1" and got["version"] == 1


def test_context_cas_on_a_missing_key_conflicts(team: Team) -> None:
    with pytest.raises(ConflictError, match="does not exist"):
        put(team, "fresh", "v", if_version=0)
    assert team.context.get("fresh")["status"] == "not_found"


def test_context_cas_race_between_clients_lets_exactly_one_win(team: Team, zk_hosts: str) -> None:
    put(team, "counter", "0")
    other = connect(ZkOptions(zk_hosts))
    try:
        rival = ContextStore(other, "test")
        rival.set("counter", "rival", "rival", now(), if_version=0)
        with pytest.raises(ConflictError):
            put(team, "counter", "mine", if_version=0)
    finally:
        disconnect(other)
    assert team.context.get("counter")["value"] == "rival"


ODD_KEYS = [
    "a/b/c",
    "/leading/slash/",
    ".",
    "..",
    "../escape",
    "with spaces in it",
    "ключ-🔑-ü",
    "100%",
    "%2E",
    "tilde~",
    "tab\tand\nnewline",
]


def test_context_odd_keys_round_trip_through_keys(team: Team) -> None:
    for n, key in enumerate(ODD_KEYS):
        put(team, key, f"value {n}")
    assert team.context.keys() == sorted(ODD_KEYS)
    for n, key in enumerate(ODD_KEYS):
        assert team.context.get(key)["value"] == f"value {n}", key
        assert team.context.get(key)["key"] == key
    assert team.context.keys(prefix="a/") == ["a/b/c"]


@pytest.mark.parametrize("key", ["", "x" * 513])
def test_context_refuses_empty_or_overlong_keys(team: Team, key: str) -> None:
    with pytest.raises(UsageError):
        put(team, key, "v")


def test_context_delete_and_delete_of_a_missing_key(team: Team) -> None:
    put(team, "gone soon", "v")
    assert team.context.delete("gone soon") == {"key": "gone soon", "deleted": True}
    assert team.context.get("gone soon")["status"] == "not_found"
    assert team.context.keys() == []
    assert team.context.delete("gone soon") == {
        "key": "gone soon",
        "deleted": False,
        "status": "not_found",
    }


def test_context_delete_with_a_stale_version_conflicts(team: Team) -> None:
    put(team, "k", "v0")
    put(team, "k", "v1")
    with pytest.raises(ConflictError):
        team.context.delete("k", if_version=0)
    assert team.context.delete("k", if_version=1)["deleted"] is True


def test_context_oversize_value_is_refused_naming_the_limit(team: Team) -> None:
    limit = LIMITS["context value"]
    with pytest.raises(SizeLimitError, match=f"limit is {limit:,} bytes"):
        put(team, "big", "x" * (limit + 1))
    assert team.context.get("big")["status"] == "not_found"
    put(team, "big", "x" * (limit - 1024))  # well inside the limit, JSON wrapper included
    assert len(team.context.get("big")["value"]) == limit - 1024


def test_context_watch_reports_the_initial_state_and_each_change(team: Team, zk_hosts: str) -> None:
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    team.context.watch("topic/a", seen.put)
    views: list[dict[str, Any]] = []

    def saw(pred: Any, what: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            while not seen.empty():
                views.append(seen.get_nowait())
            return next((v for v in reversed(views) if pred(v)), None)

        found = wait_until(check, 10, what)
        assert found is not None
        return found

    saw(lambda v: v.get("status") == "not_found", "the initial not-found state")
    writer = connect(ZkOptions(zk_hosts))  # changes made by another client are seen too
    try:
        other = ContextStore(writer, "test")
        other.set("topic/a", "one", "writer", now())
        saw(lambda v: v.get("value") == "one" and v["version"] == 0, "the first value")
        other.set("topic/a", "two", "writer", now())
        two = saw(lambda v: v.get("value") == "two", "the second value")
        assert two["version"] == 1 and two["updated_by"] == "writer"
        other.delete("topic/a")
        views.clear()
        saw(lambda v: v.get("status") == "not_found", "the deletion")
    finally:
        disconnect(writer)


def test_context_watch_on_one_key_ignores_other_keys(team: Team) -> None:
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    put(team, "mine", "start")
    team.context.watch("mine", seen.put)
    assert seen.get(timeout=5)["value"] == "start"
    put(team, "other", "noise")
    put(team, "mine", "changed")
    assert seen.get(timeout=5)["value"] == "changed"
    assert seen.empty()


def test_context_plain_set_that_loses_a_create_race_still_writes(
    team: Team, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rival_client = connect(ZkOptions(zk_hosts))
    try:
        rival = ContextStore(rival_client, "test")
        real_read = ContextStore._read
        raced = {"left": 1}

        def read_then_rival_creates(self: ContextStore, path: str) -> Any:
            seen = real_read(self, path)
            if raced["left"] and self is team.context:
                raced["left"] -= 1  # the rival creates the key right after our read
                rival.set("shared", "rival", "rival", now())
            return seen

        monkeypatch.setattr(ContextStore, "_read", read_then_rival_creates)
        mine = put(team, "shared", "mine")  # no if_version: the last writer wins
    finally:
        disconnect(rival_client)
    assert raced["left"] == 0
    assert mine["value"] == "mine" and mine["version"] == 1
    assert team.context.get("shared")["value"] == "mine"
