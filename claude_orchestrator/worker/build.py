"""From effective settings (and the team file's entry, if any) to WorkerSettings.

Precedence: command-line flag > the team file's [[worker]] entry > defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.conf.agents import resolve_agent
from claude_orchestrator.conf.machine import agent_team
from claude_orchestrator.conf.names import require_name
from claude_orchestrator.conf.settings import Settings
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.worker.isolation import prepare_worktree
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.client import ZkOptions


@dataclass(frozen=True)
class WorkerFlags:
    name: str
    role: str | None = None
    work_dir: Path | None = None
    agent: str | None = None
    grace: float | None = None


def worker_settings(s: Settings, flags: WorkerFlags, cwd: Path) -> WorkerSettings:
    """Checked before anything connects: the name and role become node names and paths."""
    require_name("--name", flags.name)
    if flags.role is not None:
        require_name("--role", flags.role)
    team = agent_team(s.team_config, Path.home())  # the global `command` (conf/machine.py)
    spec = team.find_worker(flags.name)  # a name the team file lacks runs on the defaults
    if spec is not None and spec.host not in (None, s.host):
        raise ConfigError(
            f"worker '{spec.name}' runs on host '{spec.host}' (team file), and this host is "
            f"'{s.host}': start it there, or pass --host {spec.host} if this is that host"
        )
    agent_name = flags.agent or (spec.agent if spec else team.agent)
    work_dir = (flags.work_dir or (spec.work_dir if spec else cwd)).resolve()
    if team.git.worktrees and flags.work_dir is None:  # the worker's stable worktree
        work_dir = prepare_worktree(team, flags.name).resolve()
    if not work_dir.is_dir():
        raise ConfigError(f"--work-dir: directory '{work_dir}' does not exist")
    zk = ZkOptions(s.zk_hosts, s.connect_timeout, s.session_timeout, s.auth, team_id=s.team_id)
    return WorkerSettings(
        name=flags.name,
        role=flags.role or (spec.role if spec else "worker"),
        work_dir=work_dir,
        agent=resolve_agent(agent_name, team.agents.get(agent_name)),
        team=s.team,
        zk=zk,
        state_dir=s.state_dir,
        project_dir=team.root,
        team_file=s.team_file,
        env=dict(spec.env) if spec else {},
        grace=flags.grace if flags.grace is not None else 30.0,
        heartbeat_every=min(10.0, s.stuck_after / 3),
        credential_vars=(team.auth.removeprefix("env:"),) if team.auth else (),
        host=s.host,
        pipeline=team.pipeline,
        git=team.git,
        team_budget_usd=team.budget_usd,
        budget_usd=spec.budget_usd if spec else None,
        hooks=team.hooks,
        stage_agents={
            stage: resolve_agent(name, team.agents.get(name))
            for stage, name in team.pipeline.stage_agents.items()
        },
    )
