"""What ``up``, ``run`` and ``leader`` settle before a supervisor starts.

The supervisor's config from the resolved settings, the credential it and its workers use,
and the check that every agent it would start can start (a broken one is refused, exit 2).
A supervisor runs its own host's share of the team (``TeamConfig.on_host``, docs/hosts.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_orchestrator.conf.settings import Settings
from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.supervisor.config import SupervisorConfig


def supervisor_config(
    settings: Settings, only: tuple[str, ...], spawn: bool, down_timeout: float
) -> SupervisorConfig:
    """The config of a supervisor for ``settings``: ``only`` the named workers (all when
    empty), spawning none when not ``spawn`` (``leader``)."""
    from claude_orchestrator.zk.client import ZkOptions

    s = settings
    auth = team_auth(s, spawn)
    zk = None if s.embedded else ZkOptions(s.zk_hosts, s.connect_timeout, s.session_timeout, auth)
    return SupervisorConfig(
        team=host_team(s),
        team_name=s.team,
        team_file=s.team_file,
        zk=zk,
        only=only,
        spawn_workers=spawn,
        down_timeout=down_timeout,
        connect_timeout=s.connect_timeout,
        session_timeout=s.session_timeout,
        stuck_after=s.stuck_after,
        auth=auth,
        host=s.host,
    )


def host_team(settings: Settings) -> TeamConfig:
    """The workers this host's supervisor runs: those placed on ``settings.host`` (all of a
    team that names no host); ConfigError when one's work dir does not exist here."""
    return settings.team_config.on_host(settings.host)


def team_auth(settings: Settings, spawning: bool = True) -> str | None:
    """The credential the supervisor and its workers use: the team's, generated (0600) for
    the embedded server on first use unless the team is insecure; and refuse to spawn agents
    that execute task text without one (conf/exposure.py)."""
    from claude_orchestrator.conf.credentials import ensure_team_credential
    from claude_orchestrator.conf.exposure import refuse_open_exposure

    team = settings.team_config
    auth = settings.auth
    if auth is None and settings.embedded and not team.insecure:
        auth = ensure_team_credential(settings.state_dir)
    if spawning:
        agents = checked_agents(settings)
        refuse_open_exposure(agents, auth is not None, team.insecure)
    return auth


def checked_agents(settings: Settings, names: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The agent of each of this host's workers (of ``names``, or all), after the check that
    each can start (conf/agentcheck.py): ``up``, ``restart`` and ``reload`` refuse a broken
    one, exit 2. Another host's workers are that host's to check."""
    from claude_orchestrator.conf.agentcheck import check_agent_command, check_agents
    from claude_orchestrator.conf.agents import resolve_agent
    from claude_orchestrator.conf.machine import agent_team

    team = agent_team(host_team(settings), Path.home())  # the global `command` too
    workers = [w for w in team.workers if not names or w.name in names]
    agents = [(w.name, resolve_agent(w.agent, team.agents.get(w.agent))) for w in workers]
    check_agents(workers, dict(agents))
    for stage, name in team.pipeline.stage_agents.items():  # any of our workers runs these
        for w in workers:
            spec = resolve_agent(name, team.agents.get(name))
            check_agent_command(f"{w.name} (stage {stage})", spec, w.work_dir)
    return agents
