"""Is the server named by ``run/zookeeper.json`` really the team's embedded ZooKeeper?

After an unclean stop the run file outlives its server, and any local user may then listen on
the recorded port: a client that trusted the file would hand that user the team credential. A
recorded server is believed only if its pid is alive and not a zombie, runs as our uid, is
``ZooKeeperServerMain`` started with this state dir's config, and itself holds the listening
socket of the recorded port. Anything else: the file is stale (``None``).

Linux only (``/proc``), standard library only, so the settings layer can use it too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import zookeeper_data_dir, zookeeper_run_file

MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
_TCP_LISTEN = "0A"


def server_config_path(state_dir: Path) -> Path:
    """The config file the embedded server is started with."""
    return zookeeper_data_dir(state_dir) / "zoo.cfg"


def read_run_file(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(zookeeper_run_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verified_server(state_dir: Path) -> dict[str, Any] | None:
    """The run file's content if it names our live server, else None."""
    info = read_run_file(state_dir)
    pid, port = info.get("pid"), info.get("port")
    if not (isinstance(pid, int) and isinstance(port, int) and isinstance(info.get("hosts"), str)):
        return None
    return info if is_our_server(pid, port, server_config_path(state_dir)) else None


def is_our_server(pid: int, port: int, config: Path) -> bool:
    proc = Path(f"/proc/{pid}")
    return (
        _alive_and_ours(proc)
        and _runs_config(proc, config)
        and bool(_socket_inodes(proc) & _listening_inodes(port))
    )


def _alive_and_ours(proc: Path) -> bool:
    try:
        status = (proc / "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    state = fields.get("State", "").split()
    uids = fields.get("Uid", "").split()
    return bool(state) and state[0] not in ("Z", "X") and uids[:1] == [str(os.getuid())]


def _runs_config(proc: Path, config: Path) -> bool:
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [arg.decode(errors="replace") for arg in argv]
    return MAIN_CLASS in args and str(config) in args


def _socket_inodes(proc: Path) -> set[str]:
    inodes = set()
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _listening_inodes(port: int) -> set[str]:
    """Inodes of sockets listening on ``port`` (IPv4 or IPv6), from /proc/net."""
    wanted = f"{port:04X}"
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _TCP_LISTEN and cols[1].rsplit(":", 1)[-1] == wanted:
                found.add(cols[9])
    return found
