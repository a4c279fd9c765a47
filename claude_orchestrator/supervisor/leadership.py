"""A supervisor's part in the team's election (zk/election.py; DESIGN §3, §9).

Every supervisor of the team contends; the first in line leads (sweeps orphans), the
others stand by and supervise their own workers all the same. Taking the lead is noticed
on the lane and reported to the loop (``won``), whose first act as leader is a full sweep.

A second supervisor for the team on the *same host* is refused while the first is alive.
The candidate (or leader record) of a supervisor of this host that died (kill -9: its pid
gone, a zombie, or reused by another program) is deleted at once, so the line moves on
without waiting for its session to expire; another host's lives until its session ends.

SUSPENDED: ``is_leader`` says no (not connected): no sweeping. CONNECTED again: the
supervisor calls ``contend`` (one look on the lane). LOST: the candidate went with the
session; that look joins the line again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NoNodeError

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.zk.codec import decode_lenient
from claude_orchestrator.zk.election import Election
from claude_orchestrator.zk.paths import child

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.supervisor.zklane import ZkLane


class AlreadyRunningError(OrchestratorError):
    """Another live supervisor for this team runs on this host."""


class Leadership:
    def __init__(
        self,
        client: KazooClient,
        team: str,
        host: str | None,
        lane: ZkLane,
        won: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.me: dict[str, Any] = {"host": host or socket.gethostname(), "pid": os.getpid()}
        self.election = Election(client, team, self.me, self.contend)
        self.lane = lane
        self.won = won
        self.leading = False

    def start(self) -> None:
        """At start-up, on the caller's thread: refuse a live supervisor of this host, clear
        a dead one's place, join the line and take a first look."""
        self._clear_local()
        self._look()

    def contend(self) -> None:
        """Look again (a watch fired, or the connection is back), on the lane."""
        self.lane.submit(self._look, key="lead")

    def is_leader(self) -> bool:
        return self.election.is_leader()

    def holder(self) -> dict[str, Any] | None:
        return self.election.holder()

    @property
    def since(self) -> float | None:
        return self.election.since

    def release(self) -> None:
        self.election.resign()
        self.leading = False

    def _look(self) -> None:
        leading = self.election.step()
        if leading and not self.leading:
            self.won()
        self.leading = leading

    def _clear_local(self) -> None:
        election = self.election
        for cand in election.candidates():
            if self._local_and_dead(cand.info):
                _delete_versioned(self.client, child(election.paths.election, cand.name))
        try:
            data, stat = self.client.get(election.paths.leader)
        except NoNodeError:
            return
        if self._local_and_dead(decode_lenient(data)):
            _delete_versioned(self.client, election.paths.leader, stat.version)

    def _local_and_dead(self, info: dict[str, Any]) -> bool:
        """A place held by a supervisor of this host: False if another host's; refused if
        it is alive; True if it is dead (its place can go at once)."""
        from claude_orchestrator.supervisor.procs import is_supervisor

        pid = info.get("pid")
        if info.get("host") != self.me["host"] or not isinstance(pid, int):
            return False
        if pid != os.getpid() and is_supervisor(pid):
            raise AlreadyRunningError(
                f"a supervisor for this team is already running on this host (pid {pid}); "
                "use 'up' again to start missing workers through it, or 'down' first"
            )
        return True


def _delete_versioned(client: KazooClient, path: str, version: int = -1) -> None:
    try:
        client.delete(path, version=version)
    except (NoNodeError, BadVersionError):
        pass  # gone or replaced meanwhile: the line decides
