"""Control commands (up, restart, reload, down, ping) travel as ZooKeeper nodes.

Each command is defined once here: the client half writes a sequential
request under ``control/<host>/`` and waits for the matching reply; the
executor half (the supervisor of that host) is told by a ChildrenWatch,
runs the command on its own loop, and writes the reply and deletes the
request in one ``multi()``. Replies say what changed:
``{"started": [...], "stopped": [...], "restarted": [...], "kept": [...]}``.

SUSPENDED: a request in flight waits for its reply until its timeout.
LOST: requests are persistent nodes, so none is lost with a session; a
supervisor that re-arms after a reconnect answers what is pending.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import OrchestratorError, UsageError
from claude_orchestrator.zk.paths import TeamPaths

if TYPE_CHECKING:
    from kazoo.client import KazooClient

COMMANDS = ("up", "restart", "reload", "down", "ping")


class NoSupervisorError(OrchestratorError):
    """No supervisor answered a control request in time."""


def control_folder(team: str, host: str) -> str:
    return f"{TeamPaths(team).root}/control/{host}"


class ControlClient:
    """The client half: send one command to a host's supervisor, wait for its reply."""

    def __init__(self, client: KazooClient, team: str, host: str | None = None) -> None:
        self.client = client
        self.folder = control_folder(team, host or socket.gethostname())

    def request(self, command: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        if command not in COMMANDS:
            raise UsageError(f"unknown control command '{command}'")
        self.client.ensure_path(self.folder)
        body = {"command": command, "args": args, "at": time.time()}
        req = self.client.create(f"{self.folder}/req-", json.dumps(body).encode(), sequence=True)
        reply_path = req.replace("/req-", "/reply-")
        try:
            return self._await(reply_path, timeout)
        except NoSupervisorError:
            self._delete(req)
            raise

    def _await(self, reply_path: str, timeout: float) -> dict[str, Any]:
        from kazoo.exceptions import NoNodeError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = threading.Event()
            if self.client.exists(reply_path, watch=_setter(seen)) is not None:
                try:
                    data, _ = self.client.get(reply_path)
                except NoNodeError:
                    continue
                self._delete(reply_path)
                reply: dict[str, Any] = json.loads(data.decode())
                return reply
            # watches are hints (and dropped on disconnect): re-check at least every 0.5 s
            seen.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        raise NoSupervisorError(f"no supervisor answered within {timeout:g}s")

    def _delete(self, path: str) -> None:
        from kazoo.exceptions import NoNodeError

        try:
            self.client.delete(path)
        except NoNodeError:
            pass


class ControlServer:
    """The executor half: notices requests and writes replies; the loop runs them."""

    def __init__(self, client: KazooClient, team: str, notify: Callable[[], None]) -> None:
        self.client = client
        self.folder = control_folder(team, socket.gethostname())
        self.notify = notify

    def arm(self) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        self.client.ensure_path(self.folder)
        ChildrenWatch(self.client, self.folder, lambda _children: self.notify())

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        from kazoo.exceptions import NoNodeError

        out = []
        for name in sorted(
            c for c in self.client.get_children(self.folder) if c.startswith("req-")
        ):
            try:
                data, _ = self.client.get(f"{self.folder}/{name}")
            except NoNodeError:
                continue
            try:
                out.append((name, json.loads(data.decode())))
            except ValueError:
                self.reply(name, {"error": "malformed request"})
        return out

    def reply(self, req_name: str, result: dict[str, Any]) -> None:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        t = self.client.transaction()
        t.create(f"{self.folder}/{req_name.replace('req-', 'reply-')}", json.dumps(result).encode())
        t.delete(f"{self.folder}/{req_name}")
        results = t.commit()
        if any(isinstance(r, (NodeExistsError, NoNodeError)) for r in results):
            return  # answered already (a re-run after reconnect): nothing to do


def _setter(event: threading.Event) -> Callable[[Any], None]:
    return lambda _watched: event.set()
