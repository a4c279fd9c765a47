"""Names and places of the files the orchestrator keeps on disk (DESIGN §9).

Pure path functions, so the code that writes a file and the code that reads it agree.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR_NAME = ".claude-orchestrator"
CONFIG_FILE_NAME = "config.json"


def state_dir_of(root: Path) -> Path:
    """The state directory kept next to a team file (or in the working directory)."""
    return root / STATE_DIR_NAME


def global_config_path(home: Path | None = None) -> Path:
    """``~/.claude-orchestrator/config.json`` (``home`` defaults to the user's home)."""
    return (home if home is not None else Path.home()) / STATE_DIR_NAME / CONFIG_FILE_NAME


def project_config_path(state_dir: Path) -> Path:
    """``<state_dir>/config.json``."""
    return state_dir / CONFIG_FILE_NAME


def zookeeper_run_file(state_dir: Path) -> Path:
    """Written by the embedded ZooKeeper while it runs: ``{"hosts": "127.0.0.1:PORT", ...}``."""
    return state_dir / "run" / "zookeeper.json"


def run_dir(state_dir: Path) -> Path:
    """Pid and run files of the supervisor, its workers and the embedded server."""
    return state_dir / "run"


def supervisor_pid_file(state_dir: Path) -> Path:
    return run_dir(state_dir) / "supervisor.pid"


def workers_run_file(state_dir: Path) -> Path:
    """``{"<worker>": {"pid": N, "argv": [...]}}`` for the workers a supervisor runs."""
    return run_dir(state_dir) / "workers.json"


def logs_dir(state_dir: Path) -> Path:
    """Supervisor, embedded ZooKeeper and per-worker process logs."""
    return state_dir / "logs"


def zookeeper_data_dir(state_dir: Path) -> Path:
    """The embedded server's data, kept across down/up so the queue survives."""
    return state_dir / "zookeeper"


def worktree_dir(state_dir: Path, worker: str) -> Path:
    """A worker's stable git worktree (``isolation = "worktree"``, docs/git.md)."""
    return state_dir / "worktrees" / worker
