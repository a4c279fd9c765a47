"""A project directory with a team file, driven through the installed CLI as a person would
(`claude-orchestrator -f team.toml …` run there); every process started from it is found by
its working directory, so a test can check by pid that nothing was left behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psutil

from tests.clihelp import BIN


class TeamDir:
    def __init__(self, root: Path, **env: str) -> None:
        self.root, self.extra_env = root, env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
        env.update(CO_INSTANCE_ID="", **self.extra_env)
        return subprocess.run(
            [BIN, "-f", str(self.root / "team.toml"), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> Any:
        """The command's JSON (or its text), asserting it succeeded."""
        r = self.run(*args)
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return json.loads(r.stdout) if r.stdout.startswith(("{", "[")) else r.stdout

    def processes(self) -> list[psutil.Process]:
        """Every process working under this directory (supervisor, workers, agents)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != os.getpid() and proc.cwd().startswith(str(self.root)):
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def stop_all(self) -> None:
        """A test's teardown: ``down``, then kill whatever of it is left."""
        self.run("down", "--timeout", "2s")
        for proc in self.processes():
            proc.kill()
