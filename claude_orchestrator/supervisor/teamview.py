"""What ``ps`` and a second ``up`` show of the team, as plain data for the CLI to print.

The rows come from every supervisor's published snapshot (a stale one's states read
``unknown``); with no supervisor managing any worker, from the registered instances
(teamread.py ``instance_rows``): the unmanaged rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import zookeeper_run_file
from claude_orchestrator.conf.settings import Settings
from claude_orchestrator.supervisor.plaintext import duration_text
from claude_orchestrator.supervisor.runfiles import read_json, ready_file
from claude_orchestrator.supervisor.snapshot import Snapshot, WorkerRow, is_stale, rows_as_known
from claude_orchestrator.supervisor.teamread import instance_rows, read_snapshots
from claude_orchestrator.textsafe import escape
from claude_orchestrator.zk.hosts import lost_hosts


def never_started(state_dir: Path, embedded: bool) -> bool:
    """An embedded team whose server was never recorded: nothing runs, nothing to ask."""
    return embedded and not zookeeper_run_file(state_dir).exists()


@dataclass(frozen=True)
class TeamView:
    rows: list[WorkerRow]
    stale: list[Snapshot]  # supervisors that stopped publishing
    now: float
    snaps: list[Snapshot] = field(default_factory=list)  # every live supervisor's

    def json_rows(self) -> list[dict[str, Any]]:
        """The rows; each says its supervisor's role (``leader``/``standby``), and a stale
        supervisor's rows also how old their snapshot is (s)."""
        ages = {s.host: round(self.now - s.taken_at, 1) for s in self.stale}
        roles = {s.host: "leader" if s.leader else "standby" for s in self.snaps}
        return [_json_row(row, ages, roles) for row in self.rows]

    def stale_lines(self) -> list[str]:
        return [stale_line(snap, self.now) for snap in self.stale]

    def supervisor_lines(self) -> list[str]:
        """With more than one host: each supervisor's role and how old its snapshot is."""
        if len({snap.host for snap in self.snaps} | {row.host for row in self.rows}) < 2:
            return []
        return [supervisor_line(snap, self.now) for snap in self.snaps]


def team_view(team: Any, team_name: str, now: float, host: str | None = None) -> TeamView:
    """The workers of ``team`` (an opened zk Team, possibly not created yet), with those of
    lost hosts; ``host``: that host's only."""
    snaps = read_snapshots(team.client, team_name)
    rows = known_rows(snaps, now)
    if not rows:
        rows = instance_rows(team, now) if team.exists else []  # nothing created
    if team.exists:
        rows += lost_rows(lost_hosts(team.client, team_name), {row.name for row in rows})
    if host is not None:
        rows = [row for row in rows if row.host == host]
        snaps = [snap for snap in snaps if snap.host == host]
    return TeamView(rows, [s for s in snaps if is_stale(s, now)], now, snaps)


def lost_rows(lost: Mapping[str, Mapping[str, Any]], shown: set[str]) -> list[WorkerRow]:
    """The workers of hosts that went without stopping, as ``lost`` rows (those not shown
    otherwise: a worker still registered shows as it is)."""
    rows = []
    for host, record in sorted(lost.items()):
        seen = record.get("last_seen")
        last_seen = float(seen) if isinstance(seen, (int, float)) else None
        for worker in record.get("workers") or []:
            name = str(worker.get("name") or "") if isinstance(worker, Mapping) else ""
            if name and name not in shown:
                role = str(worker.get("role") or "")
                rows.append(WorkerRow(name, role, host, "lost", last_seen=last_seen))
    return rows


def known_rows(snaps: Iterable[Snapshot], now: float) -> list[WorkerRow]:
    return [row for snap in snaps for row in rows_as_known(snap, now)]


def _json_row(
    row: WorkerRow, ages: Mapping[str, float], roles: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = row.to_dict()
    if row.host in ages:
        out["snapshot_age"] = ages[row.host]
    if row.host in roles:
        out["supervisor"] = roles[row.host]
    return out


def supervisor_line(snap: Snapshot, now: float) -> str:
    role = "leader" if snap.leader else "standby"
    age = duration_text(max(0.0, now - snap.taken_at))
    return escape(
        f"supervisor on {snap.host} (pid {snap.pid}): {role}, snapshot {age} old", one_line=True
    )


def stale_line(snap: Snapshot, now: float) -> str:
    return escape(
        f"the supervisor on {snap.host} (pid {snap.pid}) stopped publishing: its snapshot "
        f"is {duration_text(now - snap.taken_at)} old, so its workers' states are unknown",
        one_line=True,
    )


def up_again(
    settings: Settings, team: Any, pid: int, reply: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """What a second ``up`` answers, as the first ``up -d`` did (``{…reply, pid, hosts,
    workers}``): states from supervisor ``pid``'s snapshot, the workers it just started
    ``starting``; in text, a worker that is down says why (JSON keeps the bare state:
    last_exit is in ``ps``)."""
    ready = read_json(ready_file(settings.state_dir)) or {}
    snaps = [s for s in read_snapshots(team.client, settings.team) if s.pid == pid]
    text = not settings.json_output
    states = {
        r.name: state_why(r.state, r.last_exit) if text else r.state for r in known_rows(snaps, now)
    }
    states.update({name: "starting" for name in reply.get("started", [])})
    hosts = snaps[0].zookeeper if snaps else ready.get("hosts", "")
    return {**reply, "pid": pid, "hosts": hosts, "workers": states}


def state_why(state: str, last_exit: str | None) -> str:
    """A worker that is down says why: ``fatal (exited 2: error: …)``."""
    return f"{state} ({last_exit})" if state in ("fatal", "backoff") and last_exit else state
