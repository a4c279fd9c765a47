"""The chaos suite's team and processes: the team dir and its CLI, finding our processes,
stopping them all at the end.

Ours are the fake agents whose cwd is under the team's directory and every process whose
command line mentions that directory (supervisor, workers, the bench's ZooKeeper).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.common import poll
from claude_orchestrator.supervisor.zkserver import ZkServer

BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = str(Path(__file__).resolve().parent.parent / "tests" / "fake_agent.py")
TEAM = "chaos"
WORKERS = 4


# -- the team -------------------------------------------------------------------------------
SCRUBBED = ("ZK_HOSTS", "CO_TEAM", "CO_TEAM_FILE", "CO_INSTANCE_ID", "CO_AGENT_AUTH")


@dataclass
class Project:
    """The team's directory, the environment of every command (with the team credential)
    and its CLI."""

    root: Path
    secret: str = field(default_factory=lambda: f"chaos:{secrets.token_hex(16)}")

    def write_team(self, port: int) -> None:
        agent = f"[{json.dumps(sys.executable)}, {json.dumps(FAKE_AGENT)}]"
        text = f'[team]\nname = "{TEAM}"\nzookeeper = "127.0.0.1:{port}"\n'
        text += f'auth = "env:CO_ZK_AUTH"\n\n[agents.claude]\ncommand = {agent}\n'
        text += "".join(f'\n[[worker]]\nname = "w{i}"\n' for i in range(1, WORKERS + 1))
        (self.root / "team.toml").write_text(text)

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env["CO_ZK_AUTH"] = self.secret
        return subprocess.run(
            [BIN, "-f", str(self.root / "team.toml"), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def supervisor(self) -> psutil.Process | None:
        try:
            text = (self.root / ".claude-orchestrator/run/supervisor.pid").read_text()
            return psutil.Process(int(json.loads(text)))
        except (OSError, ValueError, psutil.Error):
            return None


def freeze(pid: int, seconds: float) -> None:
    """SIGSTOP ``pid`` for ``seconds``; SIGCONT whatever happens meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # the fault's duration
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


# -- processes ------------------------------------------------------------------------------
@dataclass
class Scan:
    """Our processes at one moment: live workers, running agents, everything else of ours."""

    workers: dict[int, psutil.Process] = field(default_factory=dict)
    agents: dict[int, psutil.Process] = field(default_factory=dict)
    sessions: dict[int, int] = field(default_factory=dict)  # agent pid -> its session id
    others: dict[int, str] = field(default_factory=dict)  # pid -> cmdline


def scan(root: Path) -> Scan:
    """Fake agents whose cwd is under ``root``; processes whose command line mentions it."""
    mine, out = str(root), Scan()
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = proc.info["cmdline"] or []
            if FAKE_AGENT in cmd:
                if proc.cwd().startswith(mine):
                    out.sessions[proc.pid] = os.getsid(proc.pid)
                    out.agents[proc.pid] = proc
            elif any(mine in part for part in cmd):
                out.others[proc.pid] = " ".join(cmd)
                if cmd[-3:-1] == ["worker", "--name"]:
                    out.workers[proc.pid] = proc
        except (psutil.Error, ProcessLookupError):
            continue  # gone meanwhile
    return out


def age_s(proc: psutil.Process) -> float:
    try:
        return time.time() - float(proc.create_time())
    except psutil.Error:
        return 0.0


def sigkill(proc: psutil.Process) -> bool:
    """SIGKILL one process, unless it is gone (psutil checks the pid was not reused)."""
    try:
        proc.send_signal(signal.SIGKILL)
    except psutil.Error:
        return False
    return True


def leftovers(root: Path, spare: int | None) -> dict[int, str]:
    """Our processes still running (``spare`` excepted), after up to 3 s for them to go."""

    def still() -> dict[int, str]:
        s = scan(root)
        left = {**s.others, **{pid: "fake agent" for pid in s.agents}}
        left.pop(spare or 0, None)
        return left

    try:
        poll(lambda: not still(), 3.0, 0.05)
        return {}
    except TimeoutError:
        return still()


def stop_all(project: Project, zk: ZkServer) -> list[dict[str, Any]]:
    """``down``, then nothing of the team may run; stop ZooKeeper, then nothing of ours.
    Whatever is left is SIGKILLed by pid. Returns the violations found."""
    found = []
    if (project.root / "team.toml").exists():  # else the team never started
        r = project.cli("down", "--timeout", "10s", timeout=90)
        if r.returncode != 0:
            found.append({"invariant": "down failed", "stderr": r.stderr[-600:]})
    spare = zk.proc.pid if zk.proc is not None else None
    found += _kill_leftovers("down", leftovers(project.root, spare))
    zk.stop()
    found += _kill_leftovers("the bench stopped ZooKeeper", leftovers(project.root, None))
    return found


def _kill_leftovers(after: str, left: dict[int, str]) -> list[dict[str, Any]]:
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [{"invariant": f"left running after {after}", "processes": left}] if left else []
