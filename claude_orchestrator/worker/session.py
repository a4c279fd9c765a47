"""One agent session: build the invocation, run it with its log, read the outcome.

The outcome comes from what the agent printed (stream-json for Claude Code),
not from its exit code; the full output stays in the session log and the
caller keeps only a bounded excerpt in ZooKeeper. An agent that reads its prompt
from a file gets a 0600 file next to the log (``<log name>.prompt``, in the worker's
0700 session dir), written just before the start and removed when the run ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.conf.agents import AgentSpec, OutputParser, build_invocation
from claude_orchestrator.errors import AgentStartError
from claude_orchestrator.spawn.outcome import Outcome
from claude_orchestrator.spawn.process import Child, ChildSpec, ExitInfo, Sink
from claude_orchestrator.spawn.sessionlog import SessionLog
from claude_orchestrator.spawn.streamjson import StreamJsonParser, TextOutputCollector


@dataclass(frozen=True)
class SessionResult:
    outcome: Outcome
    info: ExitInfo
    log_path: Path
    session_id: str | None

    def record(self) -> dict[str, object]:
        """The task's ``session`` field (DESIGN §4)."""
        return {
            "log": str(self.log_path),
            "session_id": self.outcome.session_id or self.session_id,
            "cost_usd": self.outcome.cost_usd,
            "num_turns": self.outcome.num_turns,
            "duration_ms": self.outcome.duration_ms or int(self.info.duration_s * 1000),
            "exit_code": self.info.exit_code,
        }


class AgentRun:
    """A started agent process with its log and output parser."""

    def __init__(
        self,
        agent: AgentSpec,
        prompt: str,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        session_id: str | None,
        resume: bool,
        label: str,
        extra_sinks: Sequence[Sink] = (),
        notes: Sequence[str] = (),
        on_exit: Callable[[ExitInfo], None] | None = None,
    ) -> None:
        self.invocation = build_invocation(
            agent, prompt, session_id, resume, log_path.with_suffix(".prompt")
        )
        self.session_id = session_id
        self.notes = tuple(notes)
        self.parser = _parser_for(agent)
        self.log = SessionLog(log_path)
        self.spec = ChildSpec(
            argv=self.invocation.argv,
            cwd=cwd,
            env=dict(env),
            stdin_data=self.invocation.stdin,
            timeout=agent.timeout,
            idle_timeout=agent.idle_timeout,
            stop_signal=agent.preset.stop_signal,
            label=label,
        )
        sinks = [self.log.sink, self.parser.feed, *extra_sinks]
        self.child = Child(self.spec, sinks, on_exit)  # on_exit: from the child's monitor

    def start(self) -> None:
        self.log.header(self.spec.argv, self.spec.cwd, time.time())
        for note in self.notes:
            self.log.note(note)
        try:
            self._write_prompt_file()
            self.child.start()
        except Exception:
            self._remove_prompt_file()
            self.log.close()
            raise

    def finish(self, info: ExitInfo) -> SessionResult:
        self._remove_prompt_file()
        self.log.footer(info)
        self.log.close()
        outcome = self.parser.outcome(info.exit_code, _signal_desc(info))
        return SessionResult(outcome, info, self.log.path, self.session_id)

    def _write_prompt_file(self) -> None:
        path, data = self.invocation.prompt_file, self.invocation.file_data
        if path is None or data is None:
            return
        path.unlink(missing_ok=True)  # a leftover of a run its worker did not outlive
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(path, flags, 0o600), "wb") as f:
            f.write(data)

    def _remove_prompt_file(self) -> None:
        if self.invocation.prompt_file is not None:
            self.invocation.prompt_file.unlink(missing_ok=True)


def cannot_start(worker: str, exc: Exception, what: str) -> AgentStartError:
    """The error a worker stops with when its agent could not be started: restarting the
    worker cannot help (the supervisor marks it fatal with this line as the reason)."""
    return AgentStartError(
        f"worker '{worker}': {exc}; {what}; the worker stops: fix the agent, then run "
        f"'up' or 'restart {worker}'"
    )


def _parser_for(agent: AgentSpec) -> StreamJsonParser | TextOutputCollector:
    if agent.parser is OutputParser.STREAM_JSON:
        return StreamJsonParser()
    return TextOutputCollector()


def _signal_desc(info: ExitInfo) -> str | None:
    return info.description if info.exit_code is None or not info.ok else None
