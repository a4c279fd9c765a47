"""The embedded ZooKeeper of a team with no ``zookeeper`` configured.

Data lives in ``.claude-orchestrator/zookeeper/`` and survives ``down``/``up``;
``run/zookeeper.json`` tells every command run with the same team file where
the server listens. A server left running by a supervisor that died is
adopted only if it proves to be ours (conf/serverproof.py: live, our uid,
ZooKeeperServerMain with this state dir's config, holding the recorded port)
and answers ``ruok``; anything else on that port is an impostor that would
capture the team credential, so the run file is discarded and a new server
starts on another port.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import logs_dir, zookeeper_data_dir, zookeeper_run_file
from claude_orchestrator.conf.serverproof import verified_server
from claude_orchestrator.conf.team import DEFAULT_ZOOKEEPER_HEAP
from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.supervisor.runfiles import read_json, write_private
from claude_orchestrator.supervisor.zkserver import ZkServer, four_letter, free_port


@dataclass
class EmbeddedZk:
    state_dir: Path
    server: ZkServer | None = None
    adopted_pid: int | None = None
    heap: str = DEFAULT_ZOOKEEPER_HEAP  # -Xmx of a server we start (an adopted one keeps its own)
    # called when a server we started exits (an adopted one is not our child)
    on_server_exit: Callable[[ExitInfo], None] | None = field(default=None, repr=False)

    @property
    def run_file(self) -> Path:
        return zookeeper_run_file(self.state_dir)

    def read_run_file(self) -> dict[str, Any]:
        data = read_json(self.run_file)
        return data if isinstance(data, dict) else {}

    def ensure_running(self) -> str:
        """Reuse a live server of this state dir, or start one; return its hosts."""
        info = verified_server(self.state_dir)
        if info is not None and four_letter(info["port"], "ruok") == "imok":
            self.adopted_pid = info["pid"]
            return str(info["hosts"])
        port = int(self.read_run_file().get("port") or 0)
        self.run_file.unlink(missing_ok=True)  # stale, or not ours
        return self.start(port if port and _port_free(port) else free_port())

    def start(self, port: int) -> str:
        data = zookeeper_data_dir(self.state_dir)
        self.server = ZkServer(data, port=port, heap=self.heap, on_exit=self.on_server_exit)
        self.server.start()
        self._write_run_file()
        return self.server.hosts

    def _write_run_file(self) -> None:
        server = self.server
        if server is None or server.proc is None:
            return
        info = {"hosts": server.hosts, "port": server.port, "pid": server.proc.pid}
        write_private(self.run_file, info)
        _link_log(server.data_dir, self.state_dir)

    def pid(self) -> int | None:
        if self.server is not None and self.server.proc is not None:
            return self.server.proc.pid
        return self.adopted_pid

    def stop(self) -> None:
        """Stop the server (ours or adopted) and remove the run file."""
        if self.server is not None:
            self.server.stop()
        elif self.adopted_pid:
            _terminate(self.adopted_pid)
        self.run_file.unlink(missing_ok=True)


def stop_recorded_server(state_dir: Path) -> bool:
    """``down`` without a supervisor: stop the server its run file names, if alive."""
    emb = EmbeddedZk(state_dir)
    info = verified_server(state_dir)
    if info is None:  # stale, or an impostor's pid: never signal it
        emb.run_file.unlink(missing_ok=True)
        return False
    emb.adopted_pid = info["pid"]
    emb.stop()
    return True


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """TERM the server, KILL it if it is still there after ``timeout`` (an adopted server
    is not our child: it has exited once it is a zombie, spawn/exited.py)."""
    import psutil

    from claude_orchestrator.spawn.exited import wait_exited

    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        if wait_exited([proc], timeout):
            proc.kill()
    except psutil.NoSuchProcess:
        pass


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _link_log(data_dir: Path, state_dir: Path) -> None:
    """Make the server's log visible under logs/ with the other logs."""
    logs = logs_dir(state_dir)
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    link = logs / "zookeeper.log"
    if not link.exists():
        try:
            link.symlink_to(data_dir / "zookeeper.log")
        except OSError:
            pass
