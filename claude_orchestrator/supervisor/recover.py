"""The supervisor's fast path for a worker it reaped, and registration checks.

When a worker process dies, its ephemeral instance node would live on until
the session timeout; the supervisor removes it at once and puts the tasks it
held back: recovered with ``retry_count + 1`` after a crash, released
without counting after a stop we asked for.
"""

from __future__ import annotations

from claude_orchestrator.errors import NotFoundError, TaskStateError
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.registry import Actor
from claude_orchestrator.zk.taskmodel import Action, Change, TaskRecord, task_id_of_entry
from claude_orchestrator.zk.team import Team


def instance_of(team: Team, name: str, pid: int) -> str | None:
    """The instance id registered under ``name`` by process ``pid``, if any."""
    try:
        iid = team.registry.resolve_name(name)
    except NotFoundError:  # never registered, or already gone
        return None
    inst = team.registry.find(iid)
    return iid if inst is not None and inst.get("pid") == pid else None


def clean_dead_worker(
    team: Team, name: str, pid: int, counted: bool, now: float
) -> list[tuple[str, str]]:
    """Unregister a reaped worker's instance and recover/release its tasks."""
    iid = instance_of(team, name, pid)
    if iid is None:
        return []
    held = _held_by(team, iid)
    team.registry.unregister(iid)
    out = []
    for task_id in held:
        rec = _give_back(team, task_id, iid, name, counted, now)
        if rec is not None:
            out.append((task_id, str(rec["status"])))
    return out


def _held_by(team: Team, iid: str) -> list[str]:
    store = team.tasks
    held = []
    for entry in store.entries(store.paths.state_folder("active")):
        task_id = task_id_of_entry(entry)
        try:
            if store.read(task_id)[0].get("claimed_by") == iid:
                held.append(task_id)
        except NotFoundError:  # moved on meanwhile
            continue
    return held


def _give_back(
    team: Team, task_id: str, iid: str, name: str, counted: bool, now: float
) -> TaskRecord | None:
    if counted:
        note = f"recovered: worker {name} died (supervisor)"
        return team.tasks.recover(task_id, iid, now, note)
    change = Change(
        Action.RELEASE, by="supervisor", at=iso(now), note=f"released: worker {name} stopped"
    )

    def guard(rec: TaskRecord) -> None:
        if rec.get("claimed_by") != iid:
            raise _Moved

    try:
        return team.tasks.transition(task_id, change, Actor(label="supervisor"), now, guard)
    except (_Moved, TaskStateError):  # someone else has it now
        return None


class _Moved(Exception):
    pass


def registered_pids(team: Team, names: list[str]) -> dict[str, int]:
    """name → pid of the process registered under it (only for the given names)."""
    out = {}
    for name in names:
        try:
            iid = team.registry.resolve_name(name)
        except NotFoundError:
            continue
        inst = team.registry.find(iid)
        if inst is not None and isinstance(inst.get("pid"), int):
            out[name] = int(inst["pid"])
    return out


def heartbeat_age(team: Team, name: str, pid: int, now: float) -> float | None:
    """Seconds since the worker registered as ``name`` by ``pid`` last beat; None if unknown."""
    from claude_orchestrator.zk.codec import parse_iso

    iid = instance_of(team, name, pid)
    inst = team.registry.find(iid) if iid else None
    beat = inst.get("heartbeat_at") if inst else None
    return now - parse_iso(beat) if isinstance(beat, str) else None
