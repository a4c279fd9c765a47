"""The team's election (zk/election.py, supervisor/leadership.py) against a real server:
one leads, the others wait in line watching only the one ahead, and the lead moves on
when the leader's session ends, resigns, or dies on this host."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.supervisor.leadership import AlreadyRunningError, Leadership
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.election import PREFIX, Election
from claude_orchestrator.zk.paths import TeamPaths, child
from tests.helpers import exited, wait_until

TEAM = "t"
PATHS = TeamPaths(TEAM)


class Contender:
    """One supervisor's election on its own session; counts the watches that fired."""

    def __init__(self, hosts: str, host: str) -> None:
        self.client = connect(ZkOptions(hosts))
        self.poked = threading.Event()
        self.election = Election(self.client, TEAM, {"host": host, "pid": 1}, self.poked.set)

    def close(self) -> None:
        disconnect(self.client)


@pytest.fixture
def three(zk_hosts: str) -> Iterator[list[Contender]]:
    found = [Contender(zk_hosts, f"h{i}") for i in range(3)]
    yield found
    for one in found:
        one.close()


def test_the_first_in_line_leads_and_the_others_stand_by(three: list[Contender]) -> None:
    assert [c.election.step() for c in three] == [True, False, False]
    assert [c.election.is_leader() for c in three] == [True, False, False]
    holder = three[2].election.holder()
    assert holder is not None and holder["host"] == "h0" and holder["since"] > 0
    assert three[0].election.step()  # looking again changes nothing
    assert [c.info["host"] for c in three[1].election.candidates()] == ["h0", "h1", "h2"]


def test_the_next_in_line_alone_is_told_when_the_leader_goes(
    three: list[Contender],
) -> None:
    for one in three:
        one.election.step()
    three[0].close()  # a dead host: its session ends, its candidate and record with it
    wait_until(three[1].poked.is_set, what="the watch of the next in line")
    assert three[1].election.step() and three[1].election.is_leader()
    # no herd: the third watches the second only. A barrier proves no event is still on its
    # way: kazoo runs one session's watch callbacks in order, and this one fires after the
    # candidate's deletion and the new record were both applied
    barrier = threading.Event()
    three[2].client.exists("/barrier", watch=lambda _event: barrier.set())
    three[1].client.create("/barrier")
    wait_until(barrier.is_set, what="the barrier's watch")
    assert not three[2].poked.is_set()
    assert not three[2].election.step()


def test_a_resigning_leader_hands_over_and_leaves_no_record(three: list[Contender]) -> None:
    for one in three[:2]:
        one.election.step()
    three[0].election.resign()
    assert not three[0].election.is_leader() and three[0].election.holder() is None
    wait_until(three[1].poked.is_set, what="the hand-over")
    assert three[1].election.step()
    assert [c.info["host"] for c in three[1].election.candidates()] == ["h1"]


def test_a_candidate_made_twice_by_a_lost_reply_is_removed(three: list[Contender]) -> None:
    first, second = three[0], three[1]
    second.election.step()
    # first's create went through but its reply was lost, then it created again: two
    # candidates of one session, the ghost ahead of the second contender
    first.client.create(child(PATHS.election, PREFIX), b"{}", ephemeral=True, sequence=True)
    first.client.create(child(PATHS.election, PREFIX), b"{}", ephemeral=True, sequence=True)
    assert not first.election.step()  # second is ahead of both
    owners = [c.owner for c in first.election.candidates()]
    assert owners.count(first.client.client_id[0]) == 1 and len(owners) == 2


def test_a_record_from_before_the_line_is_waited_for(three: list[Contender]) -> None:
    """A supervisor from before the election holds ``leader`` with no candidate: the first
    in line waits for it to go instead of taking the lead beside it."""
    old, new = three[0], three[1]
    old.client.create(PATHS.leader, b'{"host": "old", "pid": 1}', ephemeral=True, makepath=True)
    assert not new.election.step() and not new.election.is_leader()
    old.close()
    wait_until(new.poked.is_set, what="the old record's departure")
    assert new.election.step()


def test_a_leader_not_connected_does_not_lead(three: list[Contender]) -> None:
    leader = three[0]
    assert leader.election.step()
    leader.client.stop()
    assert not leader.election.is_leader()


# -- the supervisor's side: this host's live and dead supervisors --------------------------
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def lead(client: KazooClient, host: str, lane: ZkLane) -> tuple[Leadership, list[bool]]:
    won: list[bool] = []
    leadership = Leadership(client, TEAM, host, lane, lambda: won.append(True))
    return leadership, won


def test_a_dead_supervisor_of_this_host_gives_up_its_place_at_once(zk_hosts: str) -> None:
    """kill -9 of the leading supervisor: its session lives on for the session timeout, but
    the supervisor that replaces it on the same host takes the lead at start."""
    ghost = connect(ZkOptions(zk_hosts, session_timeout=30))
    mine = connect(ZkOptions(zk_hosts))
    lane = ZkLane()
    try:
        info: dict[str, Any] = {"host": "here", "pid": dead_pid()}
        Election(ghost, TEAM, info, lambda: None).step()
        leadership, won = lead(mine, "here", lane)
        leadership.start()
        assert won == [True] and leadership.is_leader()
        assert leadership.holder() == {
            "host": "here",
            "pid": os.getpid(),
            "since": (leadership.since),
        }
    finally:
        lane.close()
        disconnect(ghost)
        disconnect(mine)


def test_another_hosts_supervisor_keeps_its_place_and_we_stand_by(zk_hosts: str) -> None:
    other = connect(ZkOptions(zk_hosts))
    mine = connect(ZkOptions(zk_hosts))
    lane = ZkLane()
    try:
        Election(other, TEAM, {"host": "there", "pid": dead_pid()}, lambda: None).step()
        leadership, won = lead(mine, "here", lane)
        leadership.start()
        assert won == [] and not leadership.is_leader()
        disconnect(other)  # that host dies: the watch wakes our lane, which takes the lead
        wait_until(lambda: won, what="the standby to take the lead")
        assert leadership.is_leader()
    finally:
        lane.close()
        disconnect(mine)


def test_a_live_supervisor_of_this_host_is_refused_and_keeps_its_place(zk_hosts: str) -> None:
    # a process that looks like `claude-orchestrator up` to the process table
    live = subprocess.Popen(
        ["claude-orchestrator", "-c", "import sys; sys.stdin.read()", "up"],
        executable=sys.executable,
        stdin=subprocess.PIPE,
    )
    other = connect(ZkOptions(zk_hosts))
    mine = connect(ZkOptions(zk_hosts))
    lane = ZkLane()
    try:
        Election(other, TEAM, {"host": "here", "pid": live.pid}, lambda: None).step()
        leadership, won = lead(mine, "here", lane)
        with pytest.raises(AlreadyRunningError, match=f"pid {live.pid}"):
            leadership.start()
        assert won == [] and len(leadership.election.candidates()) == 1
    finally:
        lane.close()
        disconnect(other)
        disconnect(mine)
        live.communicate()
    assert exited(live.pid)
