"""config.json files: where an instance's identity is remembered between commands.

The global file is ``~/.claude-orchestrator/config.json``; a project's is
``<state_dir>/config.json``. Both are small JSON objects written atomically (a temporary file in
the same directory, fsync, rename) with mode 0600, in a directory created with mode 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import global_config_path, project_config_path
from claude_orchestrator.errors import ConfigError

FILE_MODE = 0o600
DIR_MODE = 0o700

__all__ = ["global_config_path", "project_config_path", "read_config", "write_config"]


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_config(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically, readable by the owner only."""
    text = json.dumps(dict(data), indent=2, sort_keys=True) + "\n"
    try:
        _make_private_dir(path.parent)
        replace_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write config file: {exc}") from None


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700 when missing; an existing one is left as it is."""
    if directory.is_dir():
        return
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask


def replace_atomically(path: Path, payload: bytes, mode: int = FILE_MODE) -> None:
    """``path`` holds ``payload`` (``mode``), whole or not at all, durably: a temp file in
    the same directory, fsynced, renamed over it, the directory fsynced."""
    import tempfile

    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
