"""The machine-wide settings of the global config file that the seed's ``setup --command`` and
``--cache-dir`` write (``~/.claude-orchestrator/config.json``: ``command``, ``cache_dir``).

``command`` is the command line that runs the ``claude`` agent — the default agent, and the
only one the seed ran — wherever the team file does not set ``[agents.claude] command``.
Precedence: the team file > the global ``command`` > the preset's ``claude``. It is split into
argv as a POSIX shell would split it (``shlex``), but never run through a shell.

``cache_dir`` is recorded and shown by ``config``; nothing else reads it (docs/cli.md).

The global file is read here only by the commands that start agents or show the
configuration (``worker``, ``up``, ``run``, ``config``), so a broken one cannot block the others.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from claude_orchestrator.conf.agents import PRESETS
from claude_orchestrator.conf.layout import global_config_path
from claude_orchestrator.conf.team import DEFAULT_AGENT, AgentConfig, TeamConfig
from claude_orchestrator.conf.userconfig import read_config
from claude_orchestrator.errors import ConfigError


@dataclass(frozen=True)
class MachineConfig:
    """The global file's ``command`` (as argv) and ``cache_dir``; ``path`` is that file."""

    path: Path
    command: tuple[str, ...] | None = None
    cache_dir: str | None = None


def read_machine_config(home: Path) -> MachineConfig:
    """The machine-wide settings in ``home``'s global config file (none when it is missing)."""
    path = global_config_path(home)
    data = read_config(path)
    raw = data.get("command")
    command = None if raw is None else parse_command(f"{path}: command", raw)
    cache_dir = data.get("cache_dir")
    if cache_dir is not None and not (isinstance(cache_dir, str) and cache_dir):
        raise ConfigError(f"{path}: cache_dir: expected a directory path (a string)")
    return MachineConfig(path=path, command=command, cache_dir=cache_dir)


def parse_command(label: str, value: Any) -> tuple[str, ...]:
    """A command line as argv: a string split as a POSIX shell would, or a list of strings."""
    if isinstance(value, list) and all(isinstance(word, str) for word in value):
        argv = list(value)
    elif isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{label}: cannot split {value!r} into words: {exc}") from None
    else:
        raise ConfigError(f"{label}: expected a command line, got {type(value).__name__}")
    if not argv or not argv[0]:
        raise ConfigError(f"{label}: the command is empty")
    return tuple(argv)


def with_machine_command(team: TeamConfig, machine: MachineConfig) -> TeamConfig:
    """``team`` with the global ``command`` as its ``claude`` agent's command, unless the
    team file sets ``[agents.claude] command`` (the team file wins)."""
    current = team.agents.get(DEFAULT_AGENT)
    if machine.command is None or (current is not None and current.command is not None):
        return team
    claude = (current or AgentConfig(name=DEFAULT_AGENT))._replace(command=machine.command)
    return team._replace(agents=MappingProxyType({**team.agents, DEFAULT_AGENT: claude}))


def agent_team(team: TeamConfig, home: Path) -> TeamConfig:
    """The team as its agents are started: the global ``command`` applied."""
    return with_machine_command(team, read_machine_config(home))


def describe_machine(team: TeamConfig, home: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """For ``config``: the command the team's default agent runs and the cache dir, and
    where each comes from (the team file, the global file, or the default)."""
    machine = read_machine_config(home)
    agent = team.agent
    configured = team.agents.get(agent)
    if configured is not None and configured.command is not None:
        command, source = configured.command, f"team file ([agents.{agent}] command)"
    elif agent == DEFAULT_AGENT and machine.command is not None:
        command, source = machine.command, f"{machine.path}: command"
    else:
        command, source = _preset_command(agent), f"default (the {agent} preset)"
    cache_source = "none" if machine.cache_dir is None else f"{machine.path}: cache_dir"
    values = {"agent": agent, "command": shlex.join(command), "cache_dir": machine.cache_dir}
    return values, {"command": source, "cache_dir": cache_source}


def _preset_command(agent: str) -> tuple[str, ...]:
    preset = PRESETS.get(agent)
    return preset.command if preset is not None else ()
