"""The control commands: each one class holding its argument schema, its client half and
its executor half.

The client half (``request``) checks arguments before anything is written and builds the
request body; control.py carries it to a host's supervisor as a ZooKeeper node. The
executor half (``execute``) runs on that supervisor's loop with a request checked again
against the same schema (anyone with write access to ``control/`` can write a node by
hand), acts on a ``CommandTarget`` — the supervisor, seen through a narrow surface — and
returns an ``Outcome``: a reply that says what changed (``started``, ``stopped``,
``restarted``, ``kept``) and the pool's effects. Whatever goes wrong while one runs
becomes an ``{"error": ...}`` reply; it never reaches the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.control_schema import (
    BadRequestError,
    Request,
    args_body,
    args_of,
    parse_args,
    parse_body,
)
from claude_orchestrator.supervisor.effects import Outcome

if TYPE_CHECKING:
    from claude_orchestrator.supervisor.pool import WorkerPool

log = logging.getLogger("claude_orchestrator.supervisor")


class CommandTarget(Protocol):
    """What an executor acts on (supervisor/arbiter.py's ``Supervisor``)."""

    @property
    def pool(self) -> WorkerPool: ...

    def reread_team(self) -> Outcome:
        """Read the team file again and make the pool converge on it."""
        ...

    def shut_down(self, timeout: float | None) -> Outcome:
        """Stop every worker, then the supervisor."""
        ...


class Command:
    name: ClassVar[str]
    args: ClassVar[tuple[str, ...]] = ()  # the arguments it accepts (all optional)

    # -- the client half ------------------------------------------------------
    def request(self, args: Mapping[str, Any]) -> Request:
        """The checked request; BadRequestError (a usage error) before anything is sent."""
        return parse_args(self.name, self.args, args)

    def body(self, request: Request, at: float) -> dict[str, Any]:
        return {"command": self.name, "args": args_body(request, self.args), "at": at}

    # -- the executor half ------------------------------------------------------
    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        raise NotImplementedError


class Up(Command):
    name = "up"
    args = ("workers",)

    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        return target.pool.bring_up(request.workers)


class Restart(Command):
    name = "restart"
    args = ("workers",)

    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        return target.pool.restart(request.workers)


class Reload(Command):
    name = "reload"

    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        return target.reread_team()


class Down(Command):
    name = "down"
    args = ("timeout",)

    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        return target.shut_down(request.timeout)


class Ping(Command):
    name = "ping"

    def execute(self, target: CommandTarget, request: Request) -> Outcome:
        return Outcome({"pong": True, "workers": target.pool.states()}, [])


COMMANDS: dict[str, Command] = {c.name: c() for c in (Up, Restart, Reload, Down, Ping)}


def command(name: str) -> Command:
    found = COMMANDS.get(name)
    if found is None:
        raise BadRequestError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    return found


def check_args(name: str, args: Mapping[str, Any]) -> Request:
    """The client half's check of ``name`` with ``args``, or BadRequestError."""
    return command(name).request(args)


def parse_request(data: bytes) -> Request:
    """A request node's bytes as a checked Request, or BadRequestError."""
    body = parse_body(data)
    name = body.get("command")
    found = command(name) if isinstance(name, str) else None
    if found is None:
        raise BadRequestError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    return found.request(args_of(body))


def execute(target: CommandTarget, request: Request) -> Outcome:
    """Run a checked request's executor half; any failure is an error reply."""
    try:
        return command(request.command).execute(target, request)
    except OrchestratorError as exc:
        return Outcome({"error": str(exc)}, [])
    except Exception as exc:  # a bug must not leave the request unanswered
        log.exception("control command %s failed", request.command)
        return Outcome({"error": f"{request.command} failed: {type(exc).__name__}: {exc}"}, [])
