"""Global options, declared once and accepted before or after the subcommand.

Each option stores what it was given in ``ctx.meta`` under FLAGS; a value
given after the subcommand is parsed later and so wins, as users expect.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from claude_orchestrator.errors import UsageError

FLAGS = "claude_orchestrator.flags"
F = TypeVar("F", bound=Callable[..., Any])


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.meta.setdefault(FLAGS, {})[key] = value

    return callback


def _opt(*decls: str, key: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, callback=_store(key), is_eager=True, **kw)


GLOBAL_OPTIONS = [
    _opt(
        "-z",
        "--zookeeper",
        "--zk-hosts",  # the seed's name
        key="zookeeper",
        metavar="HOSTS",
        help="ZooKeeper hosts (env ZK_HOSTS; default: the team's server, else 127.0.0.1:2181).",
    ),
    _opt(
        "-i",
        "--instance-id",
        key="instance_id",
        metavar="ID",
        help="Act as this instance (env CO_INSTANCE_ID; default: the saved config).",
    ),
    _opt(
        "-f",
        "--file",
        key="file",
        metavar="TEAM_TOML",
        help="Team file (env CO_TEAM_FILE; default: ./team.toml when present).",
    ),
    _opt(
        "--team",
        key="team",
        metavar="NAME",
        help="Team name (env CO_TEAM).",
    ),
    _opt(
        "--host",
        key="host",
        metavar="NAME",
        help="This host's name in the team (env CO_HOST; default: the machine's hostname).",
    ),
    _opt("--json/--no-json", key="json", default=None, help="Machine-readable output, or not."),
    _opt(
        "--connect-timeout",
        key="connect_timeout",
        metavar="DURATION",
        help="Give up reaching ZooKeeper after this long (env CO_CONNECT_TIMEOUT; default 10s).",
    ),
]


def global_options(func: F) -> F:
    for option in reversed(GLOBAL_OPTIONS):
        func = option(func)
    return func


def read_text(value: str | None) -> str | None:
    """'-' means: read the text from standard input."""
    if value == "-":
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"standard input is not valid UTF-8 text (byte {exc.start})") from exc
    return value


def check_utf8(args: list[str]) -> None:
    """Refuse command-line values holding bytes that are not UTF-8 (Python keeps them
    as lone surrogates, which no JSON or ZooKeeper write can encode)."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise UsageError(f"argument is not valid UTF-8 text: '{shown[:80]}'") from exc


task_id_option = click.option(
    "--task-id",
    envvar="CO_TASK_ID",
    required=True,
    metavar="ID",
    help="The task (env CO_TASK_ID, set for agents by the worker).",
)


def alias(command: click.Command, name: str) -> click.Command:
    """The same command under another name (the seed's 0.4 names)."""
    import copy

    twin = copy.copy(command)
    twin.name = name
    twin.help = f"The seed 0.4 name of '{command.name}'. {command.help or ''}".rstrip()
    twin.short_help = f"= {command.name} (seed 0.4 name)."
    return twin


#: the watch commands wait for the first change by default, as the seed's did (agents call
#: them and wait); ``--once`` spells that default out (earlier releases streamed without it)
follow_option = click.option(
    "--follow/--once",
    default=False,
    help="Print every change until interrupted / exit after the first change (default).",
)
