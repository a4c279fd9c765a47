"""The worker process, and the lean way in that the supervisor's workers take.

The supervisor starts every worker as ``claude-orchestrator [-f FILE] worker --name NAME
[--role ROLE]`` (supervisor/procs.py ``worker_argv``), and a killed worker is down until
its new process has registered; fifty of them sit idle most of the day. So that exact argv
runs here without importing click (``lean_args``, then ``run_lean``), and the process
leaves out what an idle worker never uses (``lighten``). Any other argv — help, another
option, the ``--opt=value`` spelling, a value that looks like an option, a value that is
not UTF-8 text, shell completion — goes to the click command (cli/cmd_worker.py), which
owns every message about it. Both ways run ``run_worker``: same checks, same errors, same
exit codes (the click group's translation is cli/runtime.py's ``describe``, used here too).

Nothing heavy is imported at the top: cli/main.py imports this module for every command
whose argv names ``worker``.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

if TYPE_CHECKING:
    from claude_orchestrator.conf.settings import Settings

#: the ``--grace`` default, shared with the click command's (its help shows it)
DEFAULT_GRACE = "30s"
#: click's shell-completion variable for this program: completion is click's business
COMPLETE_VAR = "_CLAUDE_ORCHESTRATOR_COMPLETE"


class LeanArgs(NamedTuple):
    team_file: str | None
    name: str
    role: str | None


def lean_args(argv: Sequence[str], env: Mapping[str, str]) -> LeanArgs | None:
    """``argv`` (without the program) when it is the supervisor's worker command line
    exactly, else None: click parses it."""
    if COMPLETE_VAR in env:
        return None
    rest = list(argv)
    team_file = None
    if rest[:1] == ["-f"] and len(rest) > 1:
        team_file, rest = rest[1], rest[2:]
    if rest[:1] != ["worker"] or len(rest) % 2 == 0:
        return None
    options: dict[str, str] = {}
    for key, value in zip(rest[1::2], rest[2::2], strict=True):
        if key not in ("--name", "--role") or key in options:
            return None
        options[key] = value
    given = [*options.values(), *([] if team_file is None else [team_file])]
    if "--name" not in options or not all(_plain(value) for value in given):
        return None
    return LeanArgs(team_file, options["--name"], options.get("--role"))


def _plain(value: str) -> bool:
    """A value click would read the same way and has nothing to say about."""
    if not value or value.startswith("-"):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_lean(args: LeanArgs) -> NoReturn:
    """Run the worker ``args`` name; errors as the click group reports them."""
    from claude_orchestrator.cli.runtime import describe, quiet_kazoo, refuse_stopped_server
    from claude_orchestrator.textsafe import escape

    lighten()
    quiet_kazoo()
    flags = {} if args.team_file is None else {"file": args.team_file}
    settings = _once(lambda: _resolve(flags))
    try:
        run_worker(
            settings, lambda: refuse_stopped_server(settings()), args.name, args.role, None, None
        )
    except KeyboardInterrupt:
        sys.stderr.write("\n")  # as click does before its exit 130
        sys.exit(130)
    except Exception as exc:  # translated as the click group does, never a traceback
        code, message = describe(exc)
        sys.stderr.write(f"error: {escape(message)}\n")
        sys.exit(code)


def _resolve(flags: dict[str, Any]) -> Settings:
    from claude_orchestrator.conf.settings import resolve_settings

    return resolve_settings(flags, os.environ, Path.cwd(), Path.home())


def _once(make: Callable[[], Settings]) -> Callable[[], Settings]:
    made: list[Settings] = []

    def get() -> Settings:
        if not made:
            made.append(make())
        return made[0]

    return get


def run_worker(
    settings: Callable[[], Settings],
    refuse_stopped_server: Callable[[], None],
    name: str,
    role: str | None,
    work_dir: Path | None,
    agent: str | None,
    grace: str = DEFAULT_GRACE,
) -> NoReturn:
    """Check the worker's configuration, then run its loop until it is stopped."""
    from claude_orchestrator.conf.agentcheck import check_agent_command
    from claude_orchestrator.conf.duration import parse_duration
    from claude_orchestrator.conf.exposure import refuse_open_exposure
    from claude_orchestrator.errors import UsageError
    from claude_orchestrator.worker.build import WorkerFlags, worker_settings
    from claude_orchestrator.worker.loop import Worker

    try:
        grace_s = parse_duration(grace)
    except ValueError as exc:
        raise UsageError(f"--grace: {exc}") from exc
    flags = WorkerFlags(name, role, work_dir, agent, grace_s)
    refuse_stopped_server()  # a team file's embedded server that is not running
    ws = worker_settings(settings(), flags, Path.cwd())
    check_agent_command(ws.name, ws.agent, ws.work_dir)
    refuse_open_exposure([(ws.name, ws.agent)], bool(ws.zk.auth), settings().team_config.insecure)
    _configure_logging()
    loop = Worker(ws)
    _install_signals(loop)
    sys.exit(loop.run())


def _configure_logging() -> None:
    import logging

    from claude_orchestrator.logtext import EscapingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("claude_orchestrator")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _install_signals(loop: Any) -> None:
    import signal

    interrupts = {"count": 0}

    def on_term(_sig: int, _frame: Any) -> None:
        loop.request_stop(now=False)

    def on_int(_sig: int, _frame: Any) -> None:
        interrupts["count"] += 1
        loop.request_stop(now=interrupts["count"] > 1)  # a second Ctrl-C stops the agent now

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)


# -- what an idle worker process leaves out ---------------------------------------------


def lighten() -> None:
    """Before anything imports them: kazoo's ``ssl`` loads when first used (never: the
    worker speaks plain TCP to ZooKeeper), and the two digests of the team's credential
    (conf/credentials.py) use Python's own SHA code, not OpenSSL's, whose library and
    start-up are megabytes of every worker's memory (docs/benchmarks.md, "Worker
    footprint"). Only in a worker process of its own: never inside another program."""
    if "_hashlib" not in sys.modules:
        sys.modules["_hashlib"] = None  # type: ignore[assignment]  # hashlib, hmac: builtins
    if "ssl" not in sys.modules:
        sys.modules["ssl"] = _Deferred("ssl")


class _Deferred(types.ModuleType):
    """A module imported on the first use of one of its attributes. ``import ssl`` binds
    this stand-in; ``ssl.SSLError`` (kazoo names it only when a socket call fails) imports
    the real module, which then answers for the stand-in."""

    _lock = threading.Lock()

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__spec__ = None  # an import statement finds it complete, never "initialising"

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # ``from ssl import X`` asks for ``__path__`` first
            raise AttributeError(attr)
        import importlib

        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)
