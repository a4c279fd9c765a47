"""The executor half of each control command (the client half is control.py).

Each runs on the supervisor's loop with a request already checked against
its schema (control_schema.py) and returns a reply that says what changed:
``started``, ``stopped``, ``restarted``, ``kept``. Whatever goes wrong while
one runs becomes an ``{"error": ...}`` reply; it never reaches the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.control_schema import Request
from claude_orchestrator.supervisor.slots import AfterStop

if TYPE_CHECKING:
    from claude_orchestrator.supervisor.arbiter import Supervisor

log = logging.getLogger("claude_orchestrator.supervisor")


def execute(sup: Supervisor, request: Request) -> dict[str, Any]:
    handler = HANDLERS.get(request.command)
    if handler is None:
        return {"error": f"unknown command {request.command!r}"}
    try:
        return handler(sup, request)
    except OrchestratorError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a bug must not leave the request unanswered
        log.exception("control command %s failed", request.command)
        return {"error": f"{request.command} failed: {type(exc).__name__}: {exc}"}


def up(sup: Supervisor, request: Request) -> dict[str, Any]:
    return sup.bring_up(request.workers)


def restart(sup: Supervisor, request: Request) -> dict[str, Any]:
    names = list(request.workers or sup.slots)
    unknown = [n for n in names if n not in sup.slots]
    if unknown:
        return {"error": f"unknown worker(s): {', '.join(unknown)}"}
    restarted = []
    for name in names:
        slot = sup.slots[name]
        if not sup.stop(slot, after=AfterStop.RESTART):
            slot.tracker.reset()
            sup.start(slot)
        restarted.append(name)
    return {"restarted": restarted, "started": [], "stopped": [], "kept": []}


def reload(sup: Supervisor, request: Request | None = None) -> dict[str, Any]:
    """Re-read the team file: start added, stop removed, restart changed workers."""
    from dataclasses import replace

    from claude_orchestrator.supervisor.arbiter import reload_team
    from claude_orchestrator.supervisor.slots import Slot

    team = reload_team(sup)
    sup.cfg = replace(sup.cfg, team=team)
    wanted = {spec.name: spec for spec in team.workers}
    out: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "kept": []}
    for name in [n for n in sup.slots if n not in wanted]:
        if not sup.stop(sup.slots[name], after=AfterStop.REMOVE):
            sup.slots.pop(name, None)
        out["stopped"].append(name)
    for name, spec in wanted.items():
        slot = sup.slots.get(name)
        if slot is None:
            sup.slots[name] = slot = Slot.for_spec(spec)
            sup.start(slot)
            out["started"].append(name)
        elif slot.spec != spec:
            slot.spec = spec
            if not sup.stop(slot, after=AfterStop.RESTART):
                sup.start(slot)
            out["restarted"].append(name)
        else:
            out["kept"].append(name)
    sup.emit("reloaded", None, ", ".join(f"{k}: {len(v)}" for k, v in out.items()))
    return out


def down(sup: Supervisor, request: Request) -> dict[str, Any]:
    timeout = request.timeout or sup.cfg.down_timeout
    stopping = sup.shut_down(timeout)
    return {"stopped": stopping, "supervisor": "stopping"}


def ping(sup: Supervisor, request: Request) -> dict[str, Any]:
    return {"pong": True, "workers": {n: s.state.value for n, s in sup.slots.items()}}


HANDLERS: dict[str, Callable[[Supervisor, Request], dict[str, Any]]] = {
    "up": up,
    "restart": restart,
    "reload": reload,
    "down": down,
    "ping": ping,
}
