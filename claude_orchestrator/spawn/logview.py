"""Reading session logs for people: render Claude Code's stream-json readably, follow many files.

``render`` turns one line of a session log (DESIGN §9, docs/worker.md) into what a person wants
to see: assistant text, one line per tool call, the result with its cost. ``LogTail`` follows
every matching session file of a state dir — new sessions and new workers included — and hands
each rendered line to an ``emit(worker, text)`` callable (STYLE 14: output goes through sinks).
Sessions can be limited to a set of tasks, which an ``admit`` callable may grow while following
(``logs --chain``: a chain's next round is made of new tasks). Nothing here prints or knows
about terminals, or about ZooKeeper; the ``logs`` command does that.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_orchestrator.textsafe import escape

#: our own header, footer and stale-result lines start with this; always shown as they are
MARK = "# claude-orchestrator"
SESSION_SUFFIXES = (".jsonl", ".log")
SUMMARY_CHARS = 80  # of a tool call's input
RESULT_CHARS = 200  # of a result's text
#: assistant message ids whose blocks are remembered, to drop repeated snapshots
REMEMBERED_MESSAGES = 32

Emit = Callable[[str, str], None]
#: asked about the tasks of new session files outside the followed set: those to follow too
Admit = Callable[[set[str]], Iterable[str]]
Event = dict[str, Any]
#: per message id, the content blocks already rendered (see ``render``)
Seen = dict[str, list[Any]]

_TOOL_KEYS = ("command", "file_path", "pattern", "path", "url", "query", "description")

# -- rendering one line ----------------------------------------------------------------


def render(line: str, raw: bool, seen: Seen | None = None) -> list[str]:
    """The output lines for one log line; never raises on bad input.

    ``raw`` gives the line as it is. Otherwise stream-json events are rendered, lines
    that are not JSON objects (plain-text agents, our own marks) are kept, and control
    characters are spelled out (textsafe): agent output must not drive the terminal.
    Claude Code may print one assistant message several times under its id; pass the same
    ``seen`` for every line of a file and each content block is rendered once.
    """
    text = line.rstrip("\r\n")
    if raw:
        return [text]
    event = None if text.startswith(MARK) else _parse(text)
    if event is None:
        return [escape(text)]
    rendered = _render_event(event, seen if seen is not None else {})
    return [escape(_encodable(out)) for out in rendered]


def _parse(text: str) -> Event | None:
    if not text.lstrip().startswith("{"):
        return None  # cheap exit for plain text
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _encodable(text: str) -> str:
    """JSON escapes can spell lone surrogates, which no output stream can encode."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _render_event(event: Event, seen: Seen) -> list[str]:
    kind = event.get("type")
    if kind == "assistant":
        return _assistant(event.get("message"), seen)
    if kind == "system":
        return _system(event)
    if kind == "result":
        return [_result(event)]
    return []  # user (tool results), stream events and future types: kept quiet


def _system(event: Event) -> list[str]:
    subtype = event.get("subtype")
    if subtype == "init":
        return [f"session {_text(event.get('session_id'))} ({_text(event.get('model'))})"]
    if subtype == "api_retry":
        status, error = _text(event.get("error_status")), _text(event.get("error"))
        return [_short(f"retry {_text(event.get('attempt'))}: {status} {error}", RESULT_CHARS)]
    return []


def _result(event: Event) -> str:
    subtype = _text(event.get("subtype"))
    summary = _short(_text(event.get("result")), RESULT_CHARS)
    if event.get("is_error") is True or subtype.startswith("error"):
        return f"✗ {subtype}: {summary}"
    return f"✓ done{_result_figures(event)}: {summary}"


def _result_figures(event: Event) -> str:
    turns, ms, cost = (
        _number(event.get(k)) for k in ("num_turns", "duration_ms", "total_cost_usd")
    )
    figures = [
        f"{turns:.0f} turns" if turns is not None else "",
        f"{ms / 1000:.1f}s" if ms is not None else "",
        f"${cost:.4f}" if cost is not None else "",
    ]
    shown = ", ".join(f for f in figures if f)
    return f" in {shown}" if shown else ""


def _assistant(message: Any, seen: Seen) -> list[str]:
    if not isinstance(message, dict):
        return []
    blocks = _new_blocks(message, seen)
    return [out for block in blocks for out in _block(block)]


def _new_blocks(message: Event, seen: Seen) -> list[Any]:
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(blocks, list):
        return []
    key = message.get("id")
    if not isinstance(key, str):
        return blocks
    known = seen.pop(key, [])
    seen[key] = known  # most recent last, so the oldest is forgotten first
    if len(seen) > REMEMBERED_MESSAGES:
        del seen[next(iter(seen))]
    fresh = [b for b in blocks if not _known(b, known)]
    known.extend(fresh)
    return fresh


def _known(block: Any, known: list[Any]) -> bool:
    tool_id = _tool_id(block)
    return any(block == k or (tool_id is not None and _tool_id(k) == tool_id) for k in known)


def _tool_id(block: Any) -> Any:
    return block.get("id") if isinstance(block, dict) and block.get("type") == "tool_use" else None


def _block(block: Any) -> list[str]:
    if not isinstance(block, dict):
        return []
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return [line for line in block["text"].splitlines() if line.strip()]
    if block.get("type") == "tool_use":
        return [f"→ {_text(block.get('name'))} {_tool_summary(block.get('input'))}".rstrip()]
    return []


def _tool_summary(tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for key in _TOOL_KEYS:
            if isinstance(tool_input.get(key), str):
                return _short(tool_input[key], SUMMARY_CHARS)
    if tool_input is None or tool_input == {}:
        return ""
    return _short(_text(tool_input), SUMMARY_CHARS)


def _text(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None


def _short(text: str, limit: int) -> str:
    """One line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- finding session files -------------------------------------------------------------


def session_files(
    state_dir: Path, workers: Sequence[str] | None, tasks: AbstractSet[str] | None
) -> list[tuple[str, Path]]:
    """(worker, path) of each matching session log, oldest first by modification time.

    ``workers`` None means every worker dir; a named worker without one is no error (it may
    not have run yet). With ``tasks`` only those tasks' sessions (``<task>.<attempt>.*``).
    """
    return _oldest_first(_candidates(state_dir, workers, tasks))


def task_of(name: str) -> str:
    """The task a session file belongs to, by its name (``<task>.<attempt>.<ext>``)."""
    return name.split(".", 1)[0]


def _oldest_first(found: Iterable[tuple[str, Path]]) -> list[tuple[str, Path]]:
    dated = _dated(iter(found))
    return [(worker, path) for worker, path, _ in sorted(dated, key=_by_time)]


def _by_time(item: tuple[str, Path, float]) -> tuple[float, str, str]:
    worker, path, mtime = item
    return mtime, worker, path.name


def worker_names(state_dir: Path) -> list[str]:
    """The workers that have a sessions dir, sorted."""
    return _worker_names(state_dir / "sessions", None)


def _dated(found: Iterator[tuple[str, Path]]) -> Iterator[tuple[str, Path, float]]:
    for worker, path in found:
        try:
            yield worker, path, path.stat().st_mtime
        except OSError:
            continue  # removed since it was listed


def _candidates(
    state_dir: Path, workers: Sequence[str] | None, tasks: AbstractSet[str] | None
) -> Iterator[tuple[str, Path]]:
    for worker in _worker_names(state_dir / "sessions", workers):
        for name in _listing(state_dir / "sessions" / worker):
            if name.endswith(SESSION_SUFFIXES) and (tasks is None or task_of(name) in tasks):
                yield worker, state_dir / "sessions" / worker / name


def _worker_names(sessions: Path, workers: Sequence[str] | None) -> list[str]:
    if workers is not None:
        return [w for w in dict.fromkeys(workers) if w and "/" not in w and w not in (".", "..")]
    return sorted(name for name in _listing(sessions) if (sessions / name).is_dir())


def _listing(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:  # missing (not run yet) or unreadable
        return []


# -- following files -------------------------------------------------------------------


@dataclass
class _Followed:
    """One session file being read: how far, the incomplete last line, rendering memory."""

    worker: str
    path: Path
    offset: int = 0
    partial: bytes = b""
    seen: Seen = field(default_factory=dict)

    def read_lines(self) -> list[str]:
        """The complete lines appended since the last read; an incomplete one waits."""
        data = self._read_new()
        if not data:
            return []
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]

    def _read_new(self) -> bytes:
        try:
            with self.path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:  # truncated or replaced: start again
                    self.offset, self.partial = 0, b""
                if size == self.offset:
                    return b""
                f.seek(self.offset)
                data = f.read(size - self.offset)
        except OSError:
            return b""  # gone or unreadable for now; tried again next poll
        self.offset += len(data)
        return data


class LogTail:
    """Follows the session logs of a state dir, emitting each rendered line with its worker.

    ``tasks`` (None: every session) limits it to those tasks' sessions; while following, a
    new session file of another task is put to ``admit`` once, which may add its task to
    the set. A file found not to match is remembered, never looked at again.
    """

    def __init__(
        self,
        state_dir: Path,
        workers: Sequence[str] | None,
        tasks: AbstractSet[str] | None,
        lines: int,
        raw: bool,
        emit: Emit,
        admit: Admit | None = None,
    ) -> None:
        self._state_dir = state_dir
        self._workers = list(workers) if workers else None
        self._tasks = set(tasks) if tasks is not None else None
        self._admit = admit
        self._lines = max(lines, 0)
        self._raw = raw
        self._emit = emit
        self._files: dict[Path, _Followed] = {}
        self._passed: set[Path] = set()  # session files of other tasks

    def backlog(self) -> bool:
        """Emit the last ``lines`` lines of every matching file, oldest file first (the
        others are passed over for good: they were there before the set was read)."""
        emitted = False
        for worker, path in session_files(self._state_dir, self._workers, None):
            if not self._wanted(path):
                self._passed.add(path)
                continue
            followed = self._files.setdefault(path, _Followed(worker, path))
            lines = followed.read_lines()
            tail = lines[len(lines) - self._lines :] if self._lines else []
            emitted = self._show(followed, tail) or emitted
        return emitted

    def poll(self) -> bool:
        """Pick up new files, emit what every file gained since; True if anything was emitted."""
        self._discover()
        emitted = False
        for followed in list(self._files.values()):
            emitted = self._show(followed, followed.read_lines()) or emitted
        return emitted

    def follow(self, stop: threading.Event, interval: float = 0.2) -> None:
        """poll() until ``stop`` is set.

        Polling the filesystem is deliberate: it is portable (no inotify/kqueue dependency),
        it also sees files on network mounts, and a fifth of a second is no delay for a
        person reading; a poll that finds nothing costs one stat per file.
        """
        while not stop.is_set():
            if not self.poll():
                stop.wait(interval)

    def _discover(self) -> None:
        found = _candidates(self._state_dir, self._workers, None)
        new = [(w, p) for w, p in found if p not in self._files and p not in self._passed]
        strangers = {task_of(p.name) for _, p in new if not self._wanted(p)}
        if strangers and self._tasks is not None and self._admit is not None:
            self._tasks.update(self._admit(strangers))
        self._passed.update(p for _, p in new if not self._wanted(p))
        for worker, path in _oldest_first(pair for pair in new if self._wanted(pair[1])):
            self._files[path] = _Followed(worker, path)

    def _wanted(self, path: Path) -> bool:
        return self._tasks is None or task_of(path.name) in self._tasks

    def _show(self, followed: _Followed, lines: list[str]) -> bool:
        emitted = False
        for line in lines:
            for text in render(line, self._raw, followed.seen):
                self._emit(followed.worker, text)
                emitted = True
        return emitted
