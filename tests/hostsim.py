"""Several "hosts" of one team on this machine, for the tests and the benches (issue 10).

A host is a state dir of its own (``root``, holding the team file) and a ``CO_HOST``; its
processes (supervisor, workers, agents) are found by their working directory, so a host can
be frozen (SIGSTOP) or killed outright (SIGSTOP all, then SIGKILL: nothing is respawned or
reaped meanwhile), and every process it ever had is checked by pid at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"
AUTH = "team:several-hosts-secret"  # the team's credential (``auth = "env:CO_ZK_AUTH"``)


def team_text(team: str, zk_hosts: str, workers: dict[str, tuple[int, str]]) -> str:
    """A team file placing ``count`` workers named ``<host>1…`` on each host, their fake
    agents in the given ``FAKE_AGENT_MODE``."""
    agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
    lines = [
        f'[team]\nname = "{team}"\nzookeeper = "{zk_hosts}"\nauth = "env:CO_ZK_AUTH"\n\n',
        f"[agents.claude]\ncommand = {agent}\n",
    ]
    for host, (count, mode) in workers.items():
        lines += [
            f'\n[[worker]]\nname = "{host}{i}"\nhost = "{host}"\n'
            f'env = {{ FAKE_AGENT_MODE = "{mode}" }}\n'
            for i in range(1, count + 1)
        ]
    return "".join(lines)


@dataclass
class SimHost:
    """One host: its own state dir (``root``) and ``CO_HOST``; the same team file."""

    name: str
    root: Path
    session_s: float | None  # CO_SESSION_TIMEOUT; None: the default
    seen: dict[int, float] = field(default_factory=dict)  # pid → create time, ever seen

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
        env.update(CO_INSTANCE_ID="", CO_HOST=self.name, CO_ZK_AUTH=AUTH)
        if self.session_s is not None:
            env.update(CO_SESSION_TIMEOUT=f"{self.session_s:g}s")
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BIN, "-f", str(self.root / "team.toml"), *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        if done.returncode != 0:
            raise RuntimeError(f"host {self.name}: {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def processes(self) -> list[psutil.Process]:
        """Every process of this host: the supervisor, its workers and their agents."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != os.getpid() and _under(proc.cwd(), self.root):
                    found.append(proc)
                    self.seen.setdefault(proc.pid, proc.create_time())
            except psutil.Error:
                continue
        return found

    def stop_all(self) -> list[int]:
        """Freeze the host: SIGSTOP every process (again for any started meanwhile)."""
        pids: set[int] = set()
        while new := [p for p in self.processes() if p.pid not in pids]:
            for proc in new:
                pids.add(proc.pid)
                _signal(proc.pid, signal.SIGSTOP)
        return sorted(pids)

    def stop_and_kill(self) -> list[int]:
        """The host dies: frozen first, so that nothing is respawned or reaped, then
        SIGKILL to every process."""
        pids = self.stop_all()
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        return pids


def _under(cwd: str, root: Path) -> bool:
    return cwd == str(root) or cwd.startswith(f"{root}{os.sep}")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def still_running(seen: dict[int, float]) -> list[dict[str, Any]]:
    """Those of the processes seen (pid and create time: a reused pid is not ours) that
    have not exited (a zombie has: its reaping is init's)."""
    left = []
    for pid, created in sorted(seen.items()):
        try:
            proc = psutil.Process(pid)
            if proc.create_time() != created or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            left.append({"pid": pid, "cmdline": " ".join(proc.cmdline())[:200]})
        except psutil.Error:
            continue
    return left
