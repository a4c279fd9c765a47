"""Which host's supervisor a control command goes to (issue 10; docs/hosts.md).

``restart`` and ``up`` with worker names go to the supervisor of each worker's host, as the
team file places it (``[[worker]] host``, ``[team] default_host``); a worker the file places
nowhere, and a name it does not know (that supervisor says so), go to this host's. Without
names a command concerns this host's supervisor only, like ``down``; ``down --all`` asks
every host's supervisor that is alive, and forgets the hosts that were lost.

Every target is checked before anything is sent: a host whose supervisor is not running
(no published snapshot) is an error naming the host and its workers, and nothing was asked
of the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NoNodeError

from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.control import ControlClient, NoSupervisorError
from claude_orchestrator.zk.hosts import forget_host, lost_hosts
from claude_orchestrator.zk.paths import TeamPaths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def by_host(team: TeamConfig, names: Sequence[str], here: str) -> dict[str, list[str]]:
    """Host → the named workers its supervisor runs (no names: this host, all of its own)."""
    groups: dict[str, list[str]] = {} if names else {here: []}
    for name in names:
        spec = team.find_worker(name)
        host = spec.host if spec is not None and spec.host is not None else here
        groups.setdefault(host, []).append(name)
    return groups


def live_hosts(client: KazooClient, team: str) -> list[str]:
    """The hosts whose supervisor is alive (its snapshot is ephemeral), sorted."""
    try:
        return sorted(client.get_children(TeamPaths(team).supervisors))
    except NoNodeError:
        return []


def send_to_hosts(
    client: KazooClient,
    team: str,
    requests: dict[str, dict[str, Any]],
    command: str,
    timeout: float,
    running_here: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Send ``command`` with each host's arguments to that host's supervisor, every target
    checked first (``running_here``: this host, whose supervisor is known to run even if it
    has not published yet); host → its reply. A reply with an error raises it, naming the
    host when there are several."""
    alive = {*live_hosts(client, team), running_here}
    missing = [host for host in requests if host not in alive]
    if missing:
        raise NoSupervisorError(_missing_text(team, missing, requests))
    replies = {}
    for host, args in requests.items():
        reply = ControlClient(client, team, host).request(command, args, timeout)
        if "error" in reply:
            where = f"host '{host}': " if len(requests) > 1 else ""
            raise OrchestratorError(f"{where}{reply['error']}")
        replies[host] = reply
    return replies


def merged(replies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One reply from several hosts' replies: their lists joined, the rest of the first."""
    out: dict[str, Any] = {}
    for reply in replies.values():
        for key, value in reply.items():
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = [*out[key], *value]
            else:
                out.setdefault(key, value)
    return out


def _missing_text(team: str, hosts: list[str], requests: dict[str, dict[str, Any]]) -> str:
    parts = []
    for host in hosts:
        workers = requests[host].get("workers") or []
        suffix = f" (workers {', '.join(workers)})" if workers else ""
        parts.append(f"'{host}'{suffix}")
    return (
        f"no supervisor of team '{team}' is running on host {', '.join(parts)}: "
        "start it there with 'up'"
    )


def down_elsewhere(
    client: KazooClient, team: str, here: str, timeout: float, grace: float
) -> dict[str, dict[str, Any]]:
    """``down --all``: ask every other host's live supervisor to stop its workers within
    ``timeout``, then wait (at most ``timeout + grace``) for each to withdraw its snapshot,
    which it does last. Host → its reply, with ``supervisor`` set to ``stopped`` once gone."""
    others = [host for host in live_hosts(client, team) if host != here]
    requests = {host: {"timeout": timeout} for host in others}
    replies = send_to_hosts(client, team, requests, "down", 15.0)
    deadline = time.monotonic() + timeout + grace
    for host, reply in replies.items():
        if _wait_withdrawn(client, TeamPaths(team).supervisor(host), deadline):
            reply["supervisor"] = "stopped"
    for host in lost_hosts(client, team):  # gone without stopping: nothing left to stop
        if host != here:
            forget_host(client, team, host)
    return replies


def _wait_withdrawn(client: KazooClient, path: str, deadline: float) -> bool:
    """Until ``path`` is gone (a watch wakes us; the deadline bounds it). Whether it went."""
    while True:
        gone = threading.Event()
        if client.exists(path, watch=lambda _event, done=gone: done.set()) is None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        gone.wait(left)
