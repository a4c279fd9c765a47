"""Read an agent's output as it streams, and decide the run's :class:`Outcome`.

:class:`StreamJsonParser` reads Claude Code's ``--output-format stream-json
--verbose`` NDJSON: ``system``/``init`` (session id, model), ``assistant``
messages, ``system``/``api_retry`` (rate limits, overload, auth errors) and the
final ``result`` line. The outcome comes from the stream, not the exit code.
:class:`TextOutputCollector` serves agents that print plain text: it keeps the
tail of the output and trusts the exit code.

Both have a sink-compatible ``feed(label, stream, chunk)``; it may be called
from several reader threads and never raises on bad input.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.limits import Limit, detect
from claude_orchestrator.spawn.outcome import Outcome

#: a stdout line longer than this is dropped instead of buffered
MAX_LINE_BYTES = 64 * 1024 * 1024
#: how much of stderr the parser keeps to explain a run that died
STDERR_TAIL_BYTES = 4096
#: how much combined output the text collector keeps
TEXT_TAIL_BYTES = 64 * 1024
#: longest error text quoted in a reason
REASON_QUOTE_CHARS = 300

_API_ERROR_KINDS = {
    401: "authentication failed",
    403: "authentication failed",
    429: "rate limited",
    529: "overloaded",
}


def _how_it_ended(exit_code: int | None, signal_desc: str | None) -> str:
    """For reasons: ``signal_desc`` if given, else the terse ``ExitStatus`` phrase."""
    return signal_desc or ExitStatus(exit_code, None).describe(terse=True)


class StreamJsonParser:
    """Incremental parser of Claude Code's stream-json output."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._lock = threading.RLock()
        self._max_line = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, until its newline
        self._stderr_tail = b""
        self._session_id: str | None = None
        self._api_retries: list[dict[str, Any]] = []
        self._result: dict[str, Any] | None = None
        self.bytes_seen = 0

    # -- feeding ---------------------------------------------------------------

    def feed(self, label: str, stream: str, chunk: bytes) -> None:
        """Take a chunk of the child's output (a sink); ``label`` is ignored."""
        with self._lock:
            self.bytes_seen += len(chunk)
            if stream == "stderr":
                self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]
                return
            self._take(chunk)

    def close(self) -> None:
        """Parse a last line that lacks its newline (``outcome`` does this too)."""
        with self._lock:
            self._flush()

    def _take(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._append(chunk[start:end])
            self._end_line()
            start = end + 1
        self._append(chunk[start:])

    def _append(self, piece: bytes) -> None:
        if self._discarding or not piece:
            return
        if len(self._buffer) + len(piece) > self._max_line:
            self._buffer.clear()
            self._discarding = True
            return
        self._buffer += piece

    def _end_line(self) -> None:
        line = bytes(self._buffer)
        self._buffer.clear()
        if self._discarding:
            self._discarding = False
            return
        self._line(line)

    def _flush(self) -> None:
        if self._buffer or self._discarding:
            self._end_line()

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # bad JSON or bad UTF-8
            event = None
        if not isinstance(event, dict):
            return
        self._event(event)

    # -- events ----------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "system":
            self._system(event)
        elif kind == "result":
            self._result = event

    def _system(self, event: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        if subtype == "init":
            self._session_id = _str(event.get("session_id")) or self._session_id
        elif subtype == "api_retry":
            self._api_retries.append(event)

    # -- the verdict -----------------------------------------------------------

    def outcome(self, exit_code: int | None, signal_desc: str | None = None) -> Outcome:
        """Decide the run: the stream is authoritative, the exit code only explains."""
        self.close()
        with self._lock:
            if self._result is not None:
                found = self._from_result(self._result)
            else:
                found = Outcome(
                    ok=False,
                    result=None,
                    reason=self._no_result_reason(exit_code, signal_desc),
                    session_id=self._session_id,
                )
            return found.limited(self._limit(found))

    def _limit(self, found: Outcome) -> Limit | None:
        """The rate or usage limit the run ended on, if it did."""
        errors = [_str(r.get("error")) or "" for r in self._api_retries]
        said = [found.result or "", found.reason or "", *errors[-1:]]
        if found.result is None:
            said.append(_decode_tail(self._stderr_tail))
        statuses = tuple(s for r in self._api_retries if (s := _int(r.get("error_status"))))
        return detect("\n".join(t for t in said if t), found.ok, statuses)

    def _from_result(self, event: dict[str, Any]) -> Outcome:
        failed, reason = _result_failure(event)
        if failed:
            reason = _join(reason, _retry_summary(self._api_retries))
        return Outcome(
            ok=not failed,
            result=_str(event.get("result")),
            reason=reason,
            session_id=_str(event.get("session_id")) or self._session_id,
            cost_usd=_number(event.get("total_cost_usd")),
            num_turns=_int(event.get("num_turns")),
            duration_ms=_int(event.get("duration_ms")),
        )

    def _no_result_reason(self, exit_code: int | None, signal_desc: str | None) -> str:
        if self.bytes_seen == 0 and exit_code == 0 and not signal_desc:
            return "agent printed nothing and exited 0"
        parts = [
            f"agent exited without a result line ({_how_it_ended(exit_code, signal_desc)})",
            _retry_summary(self._api_retries),
            _quote(_last_line(_decode_tail(self._stderr_tail)), "stderr: "),
        ]
        return "; ".join(part for part in parts if part)


class TextOutputCollector:
    """Output collector for agents without a structured stream: tail and exit code."""

    def __init__(self, tail_bytes: int = TEXT_TAIL_BYTES) -> None:
        self._lock = threading.Lock()
        self._limit = tail_bytes
        self._tail = b""
        self.bytes_seen = 0

    def feed(self, label: str, stream: str, chunk: bytes) -> None:
        """Take a chunk of stdout or stderr (a sink); ``label`` is ignored."""
        with self._lock:
            self.bytes_seen += len(chunk)
            self._tail = (self._tail + chunk)[-self._limit :]

    @property
    def text(self) -> str:
        """The kept tail of the combined output, as text."""
        with self._lock:
            return _decode_tail(self._tail)

    def outcome(self, exit_code: int | None, signal_desc: str | None = None) -> Outcome:
        text = self.text.strip() or None
        if exit_code == 0 and not signal_desc:
            found = Outcome(ok=True, result=text, reason=None)
        else:
            reason = f"exited with {_how_it_ended(exit_code, signal_desc)}"
            last = _last_line(text or "")
            found = Outcome(ok=False, result=text, reason=f"{reason}: {last}" if last else reason)
        return found.limited(detect(text or "", found.ok))


# -- helpers -------------------------------------------------------------------


def _result_failure(event: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether a result line reports a failure, and how to say so."""
    subtype = _str(event.get("subtype")) or "unknown"
    is_error = event.get("is_error") is True
    if not is_error and not subtype.startswith("error"):
        return False, None
    detail = f"subtype {subtype}, is_error true" if is_error else f"subtype {subtype}"
    reason = f"agent reported an error ({detail})"
    text = _str(event.get("result"))
    return True, _join(reason, _quote(_first_line(text or "")))


def _retry_summary(retries: list[dict[str, Any]]) -> str | None:
    """``rate limited: 3 API retries (429)`` for the last retried API error."""
    if not retries:
        return None
    last = retries[-1]
    status = _int(last.get("error_status"))
    kind = _API_ERROR_KINDS.get(status or 0, "API errors")
    detail = [str(status)] if status is not None else []
    error = _str(last.get("error"))
    if error:
        detail.append(error[:REASON_QUOTE_CHARS])
    count = f"{len(retries)} API retr{'y' if len(retries) == 1 else 'ies'}"
    return f"{kind}: {count} ({', '.join(detail)})" if detail else f"{kind}: {count}"


def _join(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first}; {second}"
    return first or second


def _quote(text: str, prefix: str = "") -> str | None:
    text = text.strip()
    if not text:
        return None
    if len(text) > REASON_QUOTE_CHARS:
        text = text[:REASON_QUOTE_CHARS] + "…"
    return prefix + text


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip()[:REASON_QUOTE_CHARS] if lines else ""


def _decode_tail(data: bytes) -> str:
    """Decode a byte tail whose first character may have been cut."""
    start = 0
    while start < min(len(data), 3) and data[start] & 0xC0 == 0x80:
        start += 1
    return data[start:].decode("utf-8", "replace")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
