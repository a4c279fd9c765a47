"""Running the CLI in tests: in-process through click's runner, or as the real binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from claude_orchestrator.cli.main import cli

BIN = str(Path(sys.executable).parent / "claude-orchestrator")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Invoke commands with a fixed environment (hosts, team) in a project dir."""

    def __init__(self, hosts: str, cwd: Path, team: str = "test") -> None:
        self.cwd = cwd
        self.env = {
            "ZK_HOSTS": hosts,
            "CO_TEAM": team,
            "CO_INSTANCE_ID": "",
            "CO_TEAM_FILE": "",
            "HOME": str(cwd),
            "CO_TASK_ID": "",
        }

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            r = CliRunner().invoke(cli, list(args), input=input, env={**self.env, **env})
        finally:
            os.chdir(old)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Result(r.exit_code, r.stdout, r.stderr)

    def ok(self, *args: str, input: str | None = None, **env: str) -> Any:
        r = self(*args, input=input, **env)
        assert r.code == 0, f"{args} exited {r.code}: {r.err}"
        return r.json

    def binary(self, *args: str, timeout: float = 30, **env: str) -> Result:
        full_env = {**os.environ, **self.env, **env}
        p = subprocess.run(
            [BIN, *args],
            cwd=self.cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(p.returncode, p.stdout, p.stderr)
