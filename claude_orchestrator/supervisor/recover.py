"""The supervisor's fast path for a worker it reaped, and registration checks.

When a worker process dies, its ephemeral instance node would live on until
the session timeout; the supervisor removes it at once and puts the tasks it
held back: recovered with ``retry_count + 1`` after a crash, released
without counting after a stop we asked for.
"""

from __future__ import annotations

from typing import Any

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.recovery import give_back_instance
from claude_orchestrator.zk.team import Team


def registered(team: Team, name: str) -> dict[str, Any] | None:
    """The instance record registered under ``name``, if any."""
    try:
        return team.registry.find(team.registry.resolve_name(name))
    except NotFoundError:  # never registered, or already gone
        return None


def instance_of(team: Team, name: str, pid: int) -> dict[str, Any] | None:
    """The instance registered under ``name`` by process ``pid``, if any."""
    inst = registered(team, name)
    return inst if inst is not None and inst.get("pid") == pid else None


def clean_dead_worker(
    team: Team, name: str, pid: int, counted: bool, now: float
) -> list[tuple[str, str]]:
    """Unregister a reaped worker's instance and recover/release its tasks."""
    inst = instance_of(team, name, pid)
    if inst is None:
        return []
    iid = str(inst["id"])
    team.registry.unregister(iid)
    verb = "recovered: worker {} died (supervisor)" if counted else "released: worker {} stopped"
    note = verb.format(name)
    given = give_back_instance(team.tasks, iid, now, note, counted, "supervisor", not counted)
    return [(rec["id"], str(rec["status"])) for rec in given]


def registered_pids(team: Team, names: list[str]) -> dict[str, int]:
    """name → pid of the process registered under it (only for the given names)."""
    out = {}
    for name in names:
        inst = registered(team, name)
        if inst is not None and isinstance(inst.get("pid"), int):
            out[name] = int(inst["pid"])
    return out


def heartbeat_age(team: Team, name: str, pid: int, now: float) -> float | None:
    """Seconds since the worker registered as ``name`` by ``pid`` last beat; None if unknown."""
    inst = instance_of(team, name, pid)
    beat = inst.get("heartbeat_at") if inst else None
    return now - parse_iso(beat) if isinstance(beat, str) else None
