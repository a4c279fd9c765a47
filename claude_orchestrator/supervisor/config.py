"""What a supervisor is started with (built by launch.py from the settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from claude_orchestrator.conf.team import TeamConfig, load_team
from claude_orchestrator.zk.client import ZkOptions


@dataclass(frozen=True)
class SupervisorConfig:
    team: TeamConfig
    team_name: str
    team_file: Path | None
    zk: ZkOptions | None  # None: the embedded server (hosts filled in at start)
    only: tuple[str, ...] = ()  # workers to start (empty: all)
    spawn_workers: bool = True  # False: `leader` — coordinate and show, spawn nothing
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    down_timeout: float = 10.0
    sweep_every: float = 10.0
    auth: str | None = None  # digest "user:password" for the embedded server's clients
    stuck_after: float = 90.0  # a RUNNING worker whose heartbeat is older is killed
    connect_timeout: float = 10.0
    session_timeout: float = 10.0
    host: str = ""  # this host's name in the team (settings: --host, CO_HOST, the hostname)

    @property
    def host_name(self) -> str:
        import socket

        return self.host or socket.gethostname()

    def reread(self) -> SupervisorConfig:
        """This config with the team file read again: this host's workers only."""
        if self.team_file is None:
            return self
        return replace(self, team=load_team(self.team_file).on_host(self.host_name))
