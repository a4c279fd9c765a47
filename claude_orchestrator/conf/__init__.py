"""Configuration: team.toml and config.json loading, validation, defaults."""

from claude_orchestrator.conf.duration import parse_duration
from claude_orchestrator.conf.settings import Settings, resolve_settings
from claude_orchestrator.conf.team import (
    PRESET_NAMES,
    AgentConfig,
    RestartMode,
    TeamConfig,
    WorkerSpec,
    load_team,
    team_from_defaults,
)
from claude_orchestrator.conf.userconfig import (
    global_config_path,
    project_config_path,
    read_config,
    write_config,
)

__all__ = [
    "PRESET_NAMES",
    "AgentConfig",
    "RestartMode",
    "Settings",
    "TeamConfig",
    "WorkerSpec",
    "global_config_path",
    "load_team",
    "parse_duration",
    "project_config_path",
    "read_config",
    "resolve_settings",
    "team_from_defaults",
    "write_config",
]
