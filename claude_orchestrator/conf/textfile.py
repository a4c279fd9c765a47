"""Reading a user-supplied text file with an error that names it."""

from __future__ import annotations

from pathlib import Path

from claude_orchestrator.errors import ConfigError


def read_text(path: Path, what: str, error: type[ConfigError] = ConfigError) -> str:
    """The file's UTF-8 text, or ``error`` saying which file could not be read and why."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: cannot read {what}: not valid UTF-8") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
