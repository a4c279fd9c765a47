"""Child processes: start, stream, stop (arrives with the worker runtime)."""

from claude_orchestrator.spawn.process import Child, ChildSpec, ExitInfo, Sink, run
from claude_orchestrator.spawn.sessionlog import SessionLog, display_argv

__all__ = ["Child", "ChildSpec", "ExitInfo", "SessionLog", "Sink", "display_argv", "run"]
