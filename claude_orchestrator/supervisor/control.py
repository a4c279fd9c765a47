"""Control commands (up, restart, reload, down, ping) travel as ZooKeeper nodes.

Each command is one class (commands.py); this is its transport: the client half writes a sequential
request under ``control/<host>/`` and waits for the matching reply; the
executor half (the supervisor of that host) is told by a ChildrenWatch,
runs the command on its own loop, and writes the reply and deletes the
request in one ``multi()``. Replies say what changed:
``{"started": [...], "stopped": [...], "restarted": [...], "kept": [...]}``.

Arguments are checked on both halves against the command's schema (control_schema.py);
a bad request is answered ``{"error": ...}`` and deleted. Replies are bounded:
the client deletes its reply once read (and its request if it gives up or is
interrupted); the executor deletes replies left uncollected for REPLY_TTL_S.

SUSPENDED: a request in flight waits for its reply until its timeout.
LOST: requests are persistent nodes, so none is lost with a session; a
supervisor that re-arms after a reconnect answers what is pending.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import OrchestratorError, ZkError
from claude_orchestrator.supervisor.commands import command, parse_request
from claude_orchestrator.supervisor.control_schema import BadRequestError, Request
from claude_orchestrator.zk.paths import TeamPaths, control_reply
from claude_orchestrator.zk.txn import Txn, TxnConflict

if TYPE_CHECKING:
    from kazoo.client import KazooClient

log = logging.getLogger("claude_orchestrator.supervisor")

REPLY_TTL_S = 60.0  # an uncollected reply is deleted this long after the executor first saw it
FORGET_WAIT_S = 2.0


class NoSupervisorError(OrchestratorError):
    """No supervisor answered a control request in time."""


def require_supervisor(client: KazooClient, team: str) -> None:
    """NoSupervisorError at once when no supervisor of ``team`` is alive anywhere: no
    leader node and no published snapshot (both are ephemeral: they go with their process)."""
    from kazoo.exceptions import NoNodeError

    paths = TeamPaths(team)
    if client.exists(paths.leader) is not None:
        return
    try:
        if client.get_children(paths.supervisors):
            return
    except NoNodeError:
        pass
    raise NoSupervisorError(
        f"no supervisor is running for team '{team}' (no leader, no published snapshot): "
        "start the team with 'up'"
    )


class ControlClient:
    """The client half: send one command to a host's supervisor, wait for its reply."""

    def __init__(self, client: KazooClient, team: str, host: str | None = None) -> None:
        self.client = client
        self.host = host or socket.gethostname()
        self.paths = TeamPaths(team)
        self.folder = self.paths.control_host(self.host)

    def request(self, name: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send command ``name``; its reply. Bad arguments are refused before anything is
        written."""
        cmd = command(name)
        body = cmd.body(cmd.request(args), time.time())
        self.client.ensure_path(self.folder)
        req = self.client.create(
            self.paths.control_node(self.host, "req-"), json.dumps(body).encode(), sequence=True
        )
        try:
            return self._await(control_reply(req), timeout)
        except BaseException:
            # gave up, interrupted or lost: a request nobody waits for must not run later
            self._forget(req)
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
                return _decode_reply(data)
            # watches are hints (and dropped on disconnect): re-check at least every 0.5 s
            seen.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        raise NoSupervisorError(f"no supervisor answered within {timeout:g}s")

    def _delete(self, path: str) -> None:
        from kazoo.exceptions import NoNodeError

        try:
            self.client.delete(path)
        except NoNodeError:
            pass

    def _forget(self, path: str) -> None:
        """Best-effort delete that never hangs (kazoo queues calls while disconnected)."""
        try:
            self.client.delete_async(path).get(timeout=FORGET_WAIT_S)
        except Exception:  # already failing: the original error is the one to report
            log.debug("could not delete control request %s", path, exc_info=True)


class ControlServer:
    """The executor half: reads and checks requests, writes replies, prunes old ones.

    A request that fails its schema is answered with ``{"error": ...}`` and
    deleted at once, so it never stands in front of later ones. ``unsent``
    holds results whose reply could not be written (ZooKeeper went away): the
    supervisor sends them on the next pass instead of running a command twice.
    """

    def __init__(
        self,
        client: KazooClient,
        team: str,
        notify: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        host: str | None = None,
    ) -> None:
        self.client = client
        self.host = host or socket.gethostname()
        self.paths = TeamPaths(team)
        self.folder = self.paths.control_host(self.host)
        self.notify = notify
        self.clock = clock
        self.replies_seen: dict[str, float] = {}  # reply name -> when first listed
        self.unsent: dict[str, dict[str, Any]] = {}  # request name -> its result

    def arm(self) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        self.client.ensure_path(self.folder)
        ChildrenWatch(self.client, self.folder, lambda _children: self.notify())

    def pending(self) -> list[tuple[str, Request]]:
        """The checked requests waiting, oldest first; bad ones are answered here."""
        children = self.client.get_children(self.folder)
        self.prune([c for c in children if c.startswith("reply-")])
        out = []
        for name in sorted(c for c in children if c.startswith("req-")):
            request = self._read(name)
            if request is not None:
                out.append((name, request))
        return out

    def _read(self, name: str) -> Request | None:
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self.client.get(self.paths.control_node(self.host, name))
        except NoNodeError:
            return None  # its client gave up and deleted it
        try:
            return parse_request(data)
        except BadRequestError as exc:
            log.warning("control request %s refused: %s", name, exc)
            self.reply(name, {"error": f"bad control request: {exc}"})
            return None

    def reply(self, req_name: str, result: dict[str, Any]) -> None:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        t = Txn(self.client)
        t.create(
            self.paths.control_node(self.host, control_reply(req_name)), json.dumps(result).encode()
        )
        t.delete(self.paths.control_node(self.host, req_name))
        try:
            t.commit()
        except TxnConflict as exc:
            # answered already, or its client gave up: nothing to do
            if not isinstance(exc.cause, (NodeExistsError, NoNodeError)):
                raise ZkError(f"could not answer control request {req_name}: {exc}") from exc

    def prune(self, replies: list[str]) -> None:
        """Delete replies first listed more than REPLY_TTL_S ago: their clients are gone."""
        from kazoo.exceptions import NoNodeError

        now = self.clock()
        self.replies_seen = {name: self.replies_seen.get(name, now) for name in replies}
        for name, seen in list(self.replies_seen.items()):
            if now - seen > REPLY_TTL_S:
                try:
                    self.client.delete(self.paths.control_node(self.host, name))
                except NoNodeError:
                    pass
                del self.replies_seen[name]


def _decode_reply(data: bytes) -> dict[str, Any]:
    try:
        reply = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        reply = None
    if not isinstance(reply, dict):
        raise ZkError("the supervisor's reply is not a JSON object")
    return reply


def _setter(event: threading.Event) -> Callable[[Any], None]:
    return lambda _watched: event.set()
