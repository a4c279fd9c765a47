"""What every command process shares, click or not: how an exception becomes an ``error:``
line and an exit code (DESIGN §6), kazoo's logger kept out of the terminal, and the refusal
of a team whose embedded server is not running.

No click here: the worker's lean entry (cli/workerentry.py) uses these without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claude_orchestrator.errors import ZkUnavailableError

if TYPE_CHECKING:
    from claude_orchestrator.conf.settings import Settings


def describe(exc: Exception) -> tuple[int, str]:
    from claude_orchestrator.errors import OrchestratorError

    if isinstance(exc, OrchestratorError):
        return exc.exit_code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    return _describe_foreign(exc)


def _describe_foreign(exc: Exception) -> tuple[int, str]:
    from kazoo.exceptions import AuthFailedError, KazooException, NoAuthError

    if isinstance(exc, (NoAuthError, AuthFailedError)):
        return 1, "ZooKeeper refused access (not authorised: set the team's auth credentials)"
    if isinstance(exc, KazooException):
        return 1, f"ZooKeeper error: {type(exc).__name__} {exc}".rstrip()
    if isinstance(exc, OSError):
        return 1, str(exc)
    if isinstance(exc, UnicodeError):
        return 2, f"input is not valid UTF-8 text ({exc})"
    raise exc


def quiet_kazoo() -> None:
    """kazoo's reconnect chatter stays out of the terminal of a command that may run its
    client (the one-shot commands do not import logging at all: it is start-up time)."""
    import logging

    logging.getLogger("kazoo").addHandler(logging.NullHandler())
    logging.getLogger("kazoo").propagate = False


def refuse_stopped_server(s: Settings) -> None:
    """A team file's embedded server that is not running is known at once: no connect."""
    if s.embedded and not s.embedded_running and (hint := embedded_hint(s)):
        raise ZkUnavailableError(hint.strip(" ()"))


def embedded_hint(s: Settings) -> str:
    if s.team_file is None or s.team_config.zookeeper is not None:
        return ""
    return " (the team's embedded server is not running: start the team with 'up')"
