"""The hosts of a team and which of them were lost (issue 10; docs/hosts.md).

Each supervisor keeps ``hosts/<host>`` (persistent): ``{pid, workers: [{name, role}],
session_timeout}``, written when its worker list changes and deleted when it stops
cleanly. Its snapshot ``supervisors/<host>`` is ephemeral, so a record whose snapshot is
gone belongs to a host that died or was cut off. The leader marks it ``lost_at`` (when it
found the snapshot gone) and ``last_seen`` (that less the supervisor's session timeout: when
its session went silent, as closely as anyone can tell), and clears what nobody will answer
there: the control requests and replies under ``control/<host>`` (the folder is kept: a
host that comes back watches it again). ``ps`` shows such a host's workers as ``lost``. A
host that comes back writes its record afresh; ``down --all`` forgets the lost ones.

SUSPENDED / LOST: every call here is one-shot and raises the connection error to its
caller (a lane job: the next pass starts over; ``ps``: reports it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from claude_orchestrator.zk.codec import decode_lenient, encode
from claude_orchestrator.zk.paths import TeamPaths, child

if TYPE_CHECKING:
    from kazoo.client import KazooClient


class HostRecord(NamedTuple):
    pid: int
    workers: tuple[tuple[str, str], ...]  # (name, role)
    session_timeout: float  # its supervisor's: how long before being found gone it was seen


def record_host(client: KazooClient, team: str, host: str, record: HostRecord) -> None:
    """This host's record: its supervisor and the (name, role) of each of its workers."""
    listed = [{"name": name, "role": role} for name, role in record.workers]
    data = encode({"pid": record.pid, "workers": listed, "session_timeout": record.session_timeout})
    path = TeamPaths(team).host_record(host)
    try:
        client.set(path, data)
    except NoNodeError:
        try:
            client.create(path, data, makepath=True)
        except NodeExistsError:
            client.set(path, data)


def forget_host(client: KazooClient, team: str, host: str) -> None:
    try:
        client.delete(TeamPaths(team).host_record(host))
    except NoNodeError:
        pass


def read_hosts(client: KazooClient, team: str) -> dict[str, dict[str, Any]]:
    """Every host's record (the reads pipelined)."""
    folder = TeamPaths(team).hosts
    try:
        names = client.get_children(folder)
    except NoNodeError:
        return {}
    pending = [(name, client.get_async(child(folder, name))) for name in names]
    found = {}
    for name, result in pending:
        try:
            data, _ = result.get()
        except NoNodeError:
            continue
        found[name] = decode_lenient(data)
    return found


def lost_hosts(client: KazooClient, team: str) -> dict[str, dict[str, Any]]:
    """The records of hosts whose supervisor is gone without stopping cleanly."""
    paths = TeamPaths(team)
    records = read_hosts(client, team)
    if not records:
        return {}
    try:
        alive = set(client.get_children(paths.supervisors))
    except NoNodeError:
        alive = set()
    return {host: rec for host, rec in records.items() if host not in alive}


def mark_lost(client: KazooClient, team: str, now: float) -> list[str]:
    """The leader's part: stamp each newly lost host ``lost_at`` (version-checked: a host
    that came back meanwhile wins) and clear its control requests. The hosts it marked."""
    paths = TeamPaths(team)
    marked = []
    for host, rec in lost_hosts(client, team).items():
        if "lost_at" in rec:
            continue
        try:
            data, stat = client.get(paths.host_record(host))
            found = decode_lenient(data)
            client.set(
                paths.host_record(host),
                encode({**found, "lost_at": now, "last_seen": now - _timeout(found)}),
                version=stat.version,
            )
        except (NoNodeError, BadVersionError):
            continue
        _clear_control(client, paths.control_host(host))
        marked.append(host)
    return marked


def _clear_control(client: KazooClient, folder: str) -> None:
    try:
        names = client.get_children(folder)
    except NoNodeError:
        return
    for name in names:
        try:
            client.delete(child(folder, name))
        except NoNodeError:
            pass


def _timeout(record: dict[str, Any]) -> float:
    value = record.get("session_timeout")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 0.0
