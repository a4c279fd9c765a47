"""Leadership of a team: the ephemeral ``/leader`` node (DESIGN §3).

Exactly one supervisor leads (sweeps orphans); a second supervisor for the
same team on the same host is refused while the first is alive. A leader
node left by a supervisor of this host that died (kill -9; its pid gone, a
zombie, or reused by another program) is deleted at once; one left by
another host's supervisor lives until its session expires: the new
supervisor waits for that, up to twice the session timeout.

SUSPENDED: the leader stops sweeping (``is_leader`` checks the connection).
LOST: the node is gone with the session; ``ensure`` re-contends on the next
check after the reconnect.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.zk.paths import TeamPaths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


class AlreadyRunningError(OrchestratorError):
    """Another live supervisor leads this team from this host."""


class Leadership:
    def __init__(
        self, client: KazooClient, team: str, session_timeout: float, host: str | None = None
    ) -> None:
        self.client = client
        self.path = TeamPaths(team).leader
        self.session_timeout = session_timeout
        self.me = {"host": host or socket.gethostname(), "pid": os.getpid()}

    def acquire(self, deadline_s: float | None = None) -> None:
        """Become leader, waiting out a dead predecessor's session; refuse a live one."""
        from kazoo.exceptions import NodeExistsError

        deadline = time.monotonic() + (deadline_s or self.session_timeout * 2 + 5)
        while True:
            try:
                self.client.create(
                    self.path, json.dumps(self.me).encode(), ephemeral=True, makepath=True
                )
                return
            except NodeExistsError:
                self._check_holder()
            if time.monotonic() > deadline:
                raise AlreadyRunningError(f"the team's leader node {self.path} is still held")
            time.sleep(0.2)  # a dead holder's session is expiring; bounded by the deadline

    def _check_holder(self) -> None:
        """Refuse a live supervisor of this host; clear the node of a dead one at once
        (a crashed supervisor's node would otherwise live until its session expires)."""
        from kazoo.exceptions import BadVersionError, NoNodeError

        from claude_orchestrator.supervisor.procs import is_supervisor

        try:
            data, stat = self.client.get(self.path)
        except NoNodeError:
            return
        holder = _decode(data)
        pid = holder.get("pid")
        if holder.get("host") != self.me["host"] or not isinstance(pid, int):
            return  # another host's supervisor: wait for its session to end
        if pid != os.getpid() and is_supervisor(pid):
            raise AlreadyRunningError(
                f"a supervisor for this team is already running on this host (pid {pid}); "
                "use 'up' again to start missing workers through it, or 'down' first"
            )
        try:
            self.client.delete(self.path, version=stat.version)
        except (NoNodeError, BadVersionError):
            pass  # gone or replaced meanwhile: the next create decides

    def holder(self) -> dict[str, Any] | None:
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self.client.get(self.path)
        except NoNodeError:
            return None
        return _decode(data)

    def is_leader(self) -> bool:
        """True only while connected and the node belongs to our current session."""
        if not self.client.connected:
            return False
        stat = self.client.exists(self.path)
        session = self.client.client_id[0] if self.client.client_id else None
        return stat is not None and stat.ephemeralOwner == session

    def ensure(self) -> bool:
        """After a reconnect: lead again if the node went with a lost session."""
        from kazoo.exceptions import NodeExistsError

        if self.is_leader():
            return True
        try:
            self.client.create(self.path, json.dumps(self.me).encode(), ephemeral=True)
        except NodeExistsError:
            return False
        return True

    def release(self) -> None:
        from kazoo.exceptions import NoNodeError

        if self.is_leader():
            try:
                self.client.delete(self.path)
            except NoNodeError:
                pass


def _decode(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data.decode())
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
