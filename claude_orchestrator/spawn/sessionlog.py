"""The per-session log file: a header line, the agent's raw output, a footer line.

The file is private (0600, in 0700 directories it creates: DESIGN §9) and the header
never shows a secret: each given secret string is masked, and the prompt (whatever
follows a ``--`` argument) is cut to its first 200 characters.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.process import ExitInfo

PROMPT_SHOWN = 200  # characters of the prompt kept in the header
MASK = "***"


class SessionLog:
    """The per-session log file: a header line, the raw output, a footer line."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._at_line_start = True
        try:
            _make_private_dirs(path.parent)
            flags = os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
            self._fd: int | None = os.open(path, flags, 0o600)
            os.fchmod(self._fd, 0o600)  # also when it already existed or the umask is odd
        except OSError as err:
            raise SpawnError(f"cannot open session log {path}: {err}") from err

    @property
    def path(self) -> Path:
        return self._path

    def header(
        self, argv: Sequence[str], cwd: Path, started_at: float, secrets: Sequence[str] = ()
    ) -> None:
        """Write the start line: time, cwd and argv with secrets masked, prompt shortened."""
        shown = display_argv(argv, secrets)
        where = _mask(str(cwd), secrets)
        line = f"# claude-orchestrator session start {_iso(started_at)} cwd={where} argv={shown}"
        self._write_line(line)

    def note(self, text: str) -> None:
        """One line of ours in the log (``# claude-orchestrator TEXT``), on a line of its own."""
        self._write_line(f"# claude-orchestrator {text}")

    def sink(self, label: str, stream: str, chunk: bytes) -> None:
        """A Sink: both streams' raw bytes, as they come, into the one file."""
        self._write(chunk)

    def footer(self, info: ExitInfo) -> None:
        """Write the end line: time, how the child ended, how long it ran."""
        when = _iso(time.time())
        self._write_line(
            f"# claude-orchestrator session end {when} {info.description}"
            f" duration={info.duration_s:.2f}s"
        )

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _write_line(self, line: str) -> None:
        # The output may have ended mid-line; the footer still starts on a line of its own.
        with self._lock:
            prefix = "" if self._at_line_start else "\n"
            self._write_locked(f"{prefix}{line}\n".encode())

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        if self._fd is None:
            raise SpawnError(f"session log {self._path} is closed")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as err:
            raise SpawnError(f"cannot write session log {self._path}: {err}") from err
        if data:
            self._at_line_start = data.endswith(b"\n")


def display_argv(argv: Sequence[str], secrets: Sequence[str] = ()) -> str:
    """argv as one shell-quoted line for display only: secrets masked, prompt shortened."""
    shown = [_mask(arg, secrets) for arg in argv]
    if "--" in shown:
        after = shown.index("--") + 1
        shown[after:] = [_shorten(arg) for arg in shown[after:]]
    line = _mask(shlex.join(shown), secrets)  # again: a secret may span arguments
    return line.replace("\r", "\\r").replace("\n", "\\n")  # one line, whatever the prompt


def _mask(text: str, secrets: Sequence[str]) -> str:
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _shorten(arg: str) -> str:
    return arg if len(arg) <= PROMPT_SHOWN else arg[:PROMPT_SHOWN] + "…"


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700; leave existing ones."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created concurrently: not ours to chmod
        path.chmod(0o700)  # the umask may have removed bits


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
