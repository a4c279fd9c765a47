"""What one worker needs to run: identity, agent, places, timings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_orchestrator.conf.agents import AgentSpec
from claude_orchestrator.conf.gitconf import DEFAULT_GIT, GitConfig
from claude_orchestrator.conf.hooks import NO_HOOK_CONFIG, HookConfig
from claude_orchestrator.conf.pipeline import DEFAULT_PIPELINE, PipelineConfig
from claude_orchestrator.zk.client import ZkOptions


@dataclass(frozen=True)
class WorkerSettings:
    name: str
    role: str
    work_dir: Path
    agent: AgentSpec
    team: str
    zk: ZkOptions
    state_dir: Path
    project_dir: Path  # where .claude-orchestrator/templates overrides are looked up
    team_file: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # the team file's worker env
    grace: float = 30.0  # SIGTERM: how long a running agent may finish
    reconcile_s: float = 30.0  # periodic re-read even when no watch fired
    heartbeat_every: float = 10.0  # the loop's proof of life (see supervisor stuck detection)
    credential_vars: tuple[str, ...] = ()  # variables holding the team credential: never passed on
    host: str = ""  # this host's name in the team (settings.host); "" for the hostname
    pipeline: PipelineConfig = DEFAULT_PIPELINE  # the team's [pipeline] (checks, max_items)
    #: ``[pipeline.stage.X] agent``: the agent a chain's stage X runs instead of ``agent``
    stage_agents: Mapping[str, AgentSpec] = field(default_factory=dict)
    git: GitConfig = DEFAULT_GIT  # [team] isolation and [git]: a chain stage's git (gitstage.py)
    team_budget_usd: float | None = None  # [team] budget_usd (worker/governor.py)
    budget_usd: float | None = None  # [[worker]] budget_usd
    hooks: HookConfig = NO_HOOK_CONFIG  # [hooks]: the task events' (worker/governor.py)

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "sessions" / self.name
