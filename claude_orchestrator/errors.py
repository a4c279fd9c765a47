"""The one exception hierarchy of the core.

The core raises these; only the CLI turns them into messages and exit codes
(DESIGN §6): usage/config errors exit 2, illegal task transitions 3, an
unreachable ZooKeeper 4, everything else 1.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error the core raises on purpose."""

    exit_code = 1


class ConfigError(OrchestratorError):
    """A team file, config file, flag or environment value is invalid."""

    exit_code = 2


class UsageError(OrchestratorError):
    """A command was called with arguments that cannot work together."""

    exit_code = 2


class ZkError(OrchestratorError):
    """ZooKeeper refused or failed an operation."""


class NotAuthorisedError(ZkError):
    """ZooKeeper refused the operation: this identity may not touch that node."""


class PartialWriteError(ZkError):
    """A write too large for one transaction failed after some of its parts committed.

    ``committed`` names exactly what was written (task ids, or message ids).
    """

    def __init__(self, message: str, committed: list[str]) -> None:
        super().__init__(message)
        self.committed = committed


class ZkUnavailableError(ZkError):
    """ZooKeeper could not be reached within the connect timeout."""

    exit_code = 4


class NotFoundError(OrchestratorError):
    """A task, instance, message or key named by the caller does not exist."""


class SizeLimitError(OrchestratorError):
    """A value is larger than the limit allowed for it in ZooKeeper."""


class QuotaError(SizeLimitError):
    """A write would take the team past a documented total-size quota."""


class ConflictError(OrchestratorError):
    """A compare-and-set lost: the value changed since it was read."""


class IdentityError(OrchestratorError):
    """The command needs an instance identity and has none, or a stale one."""


class TaskStateError(OrchestratorError):
    """An illegal task-state transition, or one attempted by a non-owner."""

    exit_code = 3


class SpawnError(OrchestratorError):
    """A child process could not be started or controlled."""


class AgentStartError(SpawnError):
    """A worker's agent could not be started (not found, not executable, a bad interpreter,
    its work dir gone): restarting the worker cannot help until someone fixes it."""

    exit_code = 2
