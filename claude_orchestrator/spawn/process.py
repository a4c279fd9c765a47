"""One child process: start it in its own process group (inside the caller's session),
stream its output to sinks, enforce its time limits, stop it, reap it.

A *reaper* thread blocks in ``Popen.wait()`` (the one place the child is reaped). A *monitor*
thread reads stdout/stderr through a selector, feeds the sinks, runs the wall-clock, idle and
kill deadlines as the selector timeout, then clears the group and drains the pipes. stop() and
kill() signal the group and wake the monitor through a self-pipe (safe from signal handlers).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.kill import clear_group, signal_group
from claude_orchestrator.spawn.starterror import start_error

log = logging.getLogger(__name__)

Sink = Callable[[str, str, bytes], None]  # (label, "stdout" | "stderr", chunk)

_CHUNK = 65536
# Drain the pipes this long at most once the group is gone (matters only for a setsid escapee).
_DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class ChildSpec:
    """What to run and the limits to run it under."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]  # the complete environment of the child
    stdin_data: bytes | None = None  # None: stdin is /dev/null; else written, then closed
    timeout: float | None = None  # wall-clock limit, seconds
    idle_timeout: float | None = None  # no output on stdout/stderr for this long -> stop
    stop_signal: int = signal.SIGTERM  # what a graceful stop sends to the process group
    grace: float = 10.0  # after stop_signal, SIGKILL the group if it is still alive
    label: str = ""  # passed to the sinks as their first argument
    # None: stdout and stderr go to the sinks through pipes. A path: both are appended to
    # that file (0600, its folder made 0700) and no sink runs: a supervisor's worker.
    output: Path | None = None
    # The child leads a session of its own instead of a process group inside ours. What it
    # leaves in its session is the caller's to clear (the supervisor kills the session):
    # its group is not cleared here, so nothing delays the report of its exit.
    new_session: bool = False


@dataclass(frozen=True)
class ExitInfo(ExitStatus):
    """How a child ended (its ``ExitStatus``) and what of ours was involved."""

    duration_s: float
    timed_out: bool = False  # the wall-clock timeout fired
    idle_timed_out: bool = False  # the idle timeout fired
    stopped: bool = False  # stop() or kill() was requested by us

    @property
    def description(self) -> str:
        """``exit 3``, ``killed by SIGKILL``, ``timed out after 30s (killed by SIGTERM)``."""
        status = self.describe(terse=True)
        after = f"{round(self.duration_s, 1):g}s"
        if self.timed_out:
            return f"timed out after {after} ({status})"
        if self.idle_timed_out:
            return f"idle timeout: no output, stopped after {after} ({status})"
        return f"stopped ({status})" if self.stopped else status

    @property
    def ok(self) -> bool:
        """Exit code 0 and no timeout or stop of ours was involved."""
        fired = self.timed_out or self.idle_timed_out or self.stopped
        return self.exit_code == 0 and not fired


class Child:
    """One child process in its own process group (see the module docstring)."""

    def __init__(
        self,
        spec: ChildSpec,
        sinks: Sequence[Sink] = (),
        on_exit: Callable[[ExitInfo], None] | None = None,
    ) -> None:
        self._spec = spec
        self._sinks = tuple(sinks)
        self._on_exit = on_exit  # called once, from the monitor thread, after wait() is ready
        self._name = spec.label or os.path.basename(spec.argv[0] if spec.argv else "")
        # Reentrant: stop() may run in a signal handler on a thread that holds the lock.
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pgid = 0  # process_group=0 makes the child its group's leader: pgid == pid
        self._wake_r = self._wake_w = -1
        self._started = self._last_output = self._ended = 0.0
        self._returncode: int | None = None
        self._stopping = False
        self._kill_at: float | None = None
        self._stopped = self._timed_out = self._idle_timed_out = False
        self._done = threading.Event()
        self._info: ExitInfo | None = None
        self._threads: dict[str, threading.Thread] = {}

    def start(self) -> None:
        """Start the child; SpawnError if it cannot be executed (nothing is left running)."""
        with self._lock:
            if self._proc is not None:
                raise SpawnError(f"{self._name}: already started")
            # The wake pipe exists before _proc is set: stop() may come any time after that.
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            try:
                proc = _popen(self._spec)
            except SpawnError:
                os.close(self._wake_r)
                os.close(self._wake_w)
                raise
            self._started = self._last_output = time.monotonic()
            self._proc, self._pgid = proc, proc.pid
            self._start_threads(proc)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def wait(self, timeout: float | None = None) -> ExitInfo | None:
        """The exit information, or None if still running after ``timeout`` seconds."""
        if self._proc is None:
            raise SpawnError(f"{self._name}: wait() before start()")
        return self._info if self._done.wait(timeout) else None

    def stop(self, grace: float | None = None) -> None:
        """Send stop_signal to the group now, SIGKILL after ``grace``; idempotent."""
        with self._lock:
            if self._proc is None or self._done.is_set():
                return
            self._stopped = self._stopped or self._returncode is None
            self._begin_stop(self._spec.grace if grace is None else grace)

    def kill(self) -> None:
        """SIGKILL the whole process group now."""
        with self._lock:
            if self._proc is None or self._done.is_set():
                return
            self._stopped = self._stopped or self._returncode is None
            self._stopping, self._kill_at = True, None
            signal_group(self._pgid, signal.SIGKILL)

    def alive(self) -> bool:
        """True from start() until the exit has been fully handled."""
        return self._proc is not None and not self._done.is_set()

    def _start_threads(self, proc: subprocess.Popen[bytes]) -> None:
        data = self._spec.stdin_data
        if data is not None and proc.stdin is not None:
            self._threads["feeder"] = _thread(f"{self._name}-feeder", _feed, proc.stdin, data)
        self._threads["reaper"] = _thread(f"{self._name}-reaper", self._reap, proc)
        _thread(f"{self._name}-monitor", self._monitor, proc)

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        returncode = proc.wait()  # the one place the child is reaped
        with self._lock:
            self._returncode = returncode
            self._ended = time.monotonic()
            self._wake()

    def _monitor(self, proc: subprocess.Popen[bytes]) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._wake_r, selectors.EVENT_READ)  # data None
            for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
                if pipe is not None:
                    selector.register(pipe.fileno(), selectors.EVENT_READ, stream)
            self._pump(selector)
        except Exception:
            log.exception("%s: output monitor failed; killing the group", self._name)
        finally:
            selector.close()
            self._finish(proc)

    def _pump(self, selector: selectors.BaseSelector) -> None:
        """Deliver output and fire deadlines until the child is reaped and its pipes drained."""
        drain_until: float | None = None
        while drain_until is None or (
            len(selector.get_map()) > 1 and time.monotonic() < drain_until
        ):
            for key, _ in selector.select(self._enforce_deadlines(drain_until)):
                self._on_ready(selector, key)
            if drain_until is None and self._reaped():
                if not self._spec.new_session:
                    clear_group(self._pgid)
                drain_until = time.monotonic() + _DRAIN_TIMEOUT

    def _on_ready(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        if key.data is None:
            os.read(key.fd, 512)  # a wake-up only makes the loop re-check its deadlines
            return
        try:
            chunk = os.read(key.fd, _CHUNK)  # readable: returns what is there, never blocks
        except OSError:
            chunk = b""
        if not chunk:
            selector.unregister(key.fd)
            return
        with self._lock:
            self._last_output = time.monotonic()
        self._deliver(key.data, chunk)

    def _deliver(self, stream: str, chunk: bytes) -> None:
        for sink in self._sinks:
            try:
                sink(self._spec.label, stream, chunk)
            except Exception:
                log.exception("%s: sink %r failed on %s", self._name, sink, stream)

    def _finish(self, proc: subprocess.Popen[bytes]) -> None:
        if not self._reaped():  # only after a monitor failure
            self.kill()
            self._threads["reaper"].join()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        if "feeder" in self._threads:
            self._threads["feeder"].join(_DRAIN_TIMEOUT)
        with self._lock:
            self._info = info = self._exit_info()
            self._done.set()
            os.close(self._wake_r)
            os.close(self._wake_w)
        if self._on_exit is not None:
            try:
                self._on_exit(info)
            except Exception:
                log.exception("%s: exit callback failed", self._name)

    def _enforce_deadlines(self, drain_until: float | None) -> float | None:
        """Fire whatever is due; return the seconds until the next deadline (None: none)."""
        with self._lock:
            now = time.monotonic()
            if self._returncode is None:
                self._fire_due(now)
            if self._returncode is not None:
                pending = [drain_until]
            else:
                pending = [self._kill_at] if self._stopping else list(self._watchdogs())
        deadlines = [d for d in pending if d is not None]
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _watchdogs(self) -> tuple[float | None, float | None]:
        """The wall-clock and the idle deadline (None where not set)."""
        spec = self._spec
        wall = None if spec.timeout is None else self._started + spec.timeout
        idle = None if spec.idle_timeout is None else self._last_output + spec.idle_timeout
        return wall, idle

    def _fire_due(self, now: float) -> None:
        wall, idle = self._watchdogs()
        if not self._stopping and wall is not None and now >= wall:
            self._timed_out = True
            self._begin_stop(self._spec.grace)
        if not self._stopping and idle is not None and now >= idle:
            self._idle_timed_out = True
            self._begin_stop(self._spec.grace)
        if self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            signal_group(self._pgid, signal.SIGKILL)

    def _begin_stop(self, grace: float) -> None:
        """Signal the group and arm the KILL; the caller holds the lock."""
        kill_at = time.monotonic() + grace
        if self._stopping:  # a second stop may only bring the KILL forward
            if self._kill_at is not None and kill_at < self._kill_at:
                self._kill_at = kill_at
                self._wake()
            return
        self._stopping = True
        self._kill_at = kill_at
        signal_group(self._pgid, self._spec.stop_signal)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is already pending

    def _reaped(self) -> bool:
        return self._returncode is not None  # one attribute read: atomic, no lock needed

    def _exit_info(self) -> ExitInfo:
        """Decode the wait status, here and only here (``ExitStatus.from_returncode``)."""
        code = self._returncode
        if code is None:
            raise SpawnError(f"{self._name}: no exit status to report")
        status = ExitStatus.from_returncode(code)
        return ExitInfo(
            exit_code=status.exit_code,
            signal=status.signal,
            duration_s=self._ended - self._started,
            timed_out=self._timed_out,
            idle_timed_out=self._idle_timed_out,
            stopped=self._stopped,
        )


def run(spec: ChildSpec, sinks: Sequence[Sink]) -> ExitInfo:
    """Start a child and wait for it; if the wait is interrupted, kill it first."""
    child = Child(spec, sinks)
    child.start()
    try:
        info = child.wait()
    except BaseException:
        child.kill()
        child.wait()
        raise
    if info is None:
        raise SpawnError(f"{spec.argv[0]!r}: wait() returned without an exit")
    return info


def _popen(spec: ChildSpec) -> subprocess.Popen[bytes]:
    if not spec.argv:
        raise SpawnError("cannot start a child: empty argv")
    out = subprocess.PIPE if spec.output is None else _open_output(spec.output)
    try:
        return subprocess.Popen(
            list(spec.argv),
            cwd=spec.cwd,
            env=dict(spec.env),
            stdin=subprocess.DEVNULL if spec.stdin_data is None else subprocess.PIPE,
            stdout=out,
            stderr=subprocess.PIPE if spec.output is None else subprocess.STDOUT,
            # An agent gets its own process group inside the worker's session: the worker
            # can stop the agent's group alone, and the supervisor finds every agent by the
            # session id even after the worker died (spawn/kill.py). A worker leads a new
            # session (new_session). Never a shell.
            start_new_session=spec.new_session,
            process_group=None if spec.new_session else 0,
        )
    except (OSError, ValueError) as err:
        raise SpawnError(start_error(spec.argv, spec.cwd, spec.env, err)) from err
    finally:
        if out != subprocess.PIPE:
            os.close(out)


def _open_output(path: Path) -> int:
    """The output file, opened for appending (0600; its folder 0700 when made here)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise SpawnError(f"cannot open the output file {path}: {err.strerror or err}") from err


def _thread(name: str, target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        with pipe:
            pipe.write(data)
    except OSError:
        pass  # the child closed stdin or exited: it did not want the rest
