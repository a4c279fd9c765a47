"""Child processes: start, stream or log, stop, reap; how they ended (``ExitStatus``)."""

from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.process import Child, ChildSpec, ExitInfo, Sink, run
from claude_orchestrator.spawn.sessionlog import SessionLog, display_argv

__all__ = [
    "Child",
    "ChildSpec",
    "ExitInfo",
    "ExitStatus",
    "SessionLog",
    "Sink",
    "display_argv",
    "run",
]
