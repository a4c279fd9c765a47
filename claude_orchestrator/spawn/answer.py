"""What an agent answered, read from its final text (the stream-json ``result``): the JSON
of its last fenced block, and a verdict stage's verdict (DESIGN §8).

A verdict stage ends with ``complete-task --verdict`` or with one fenced JSON block
``{"verdict": "pass|revise|reject", "reason", "feedback": [..], "evidence"}``; a stage
that ends with neither has failed, it never passes by default. Error messages name the
field and what is wrong, to be shown to users and sent back to the agent.

Pure functions over text, no process is touched here.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from claude_orchestrator.conf.names import shown
from claude_orchestrator.errors import UsageError
from claude_orchestrator.jsonkind import json_kind

VERDICTS = ("pass", "revise", "reject")
VERDICT_FIELDS = ("verdict", "reason", "feedback", "evidence")
REASON_CHARS = 2_000
FEEDBACK_MAX = 20
FEEDBACK_CHARS = 2_000
EVIDENCE_CHARS = 4_000
#: the labels a block may have to count as JSON (the first word of its info string)
JSON_LABELS = ("", "json")

#: a fence opening: three or more backticks, then an info string without backticks
_OPEN = re.compile(r"[ \t]*(`{3,})[ \t]*([^`]*)")
#: a fence closing: backticks alone on their line
_CLOSE = re.compile(r"[ \t]*(`{3,})[ \t]*")
_NOTHING = object()


class VerdictError(UsageError):
    """A verdict block that is not a valid verdict; the message names every problem."""


class Verdict(NamedTuple):
    """A verdict stage's judgement; ``evidence`` is text (JSON text when it was given as
    another JSON value)."""

    verdict: str  # one of VERDICTS
    reason: str = ""
    feedback: tuple[str, ...] = ()
    evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "feedback": list(self.feedback),
            "evidence": self.evidence,
        }


# -- fenced blocks -----------------------------------------------------------------------


def last_json_block(text: str) -> object | None:
    """The JSON value of the last fenced code block labelled ``json`` (any case) or not
    labelled at all whose content parses as JSON; when the text has no fenced block, the
    whole text if it parses as JSON; else None (also for a block holding ``null``).

    Blocks follow Markdown: a fence is a line of three or more backticks, indented or
    not, and is closed by a line of at least as many backticks alone; a block left open
    runs to the end of the text. Text after the last block is allowed (a closing
    sentence does not hide the block). Lines may end with CRLF; backticks inside the
    JSON's strings are never a fence, since a JSON string cannot hold a line break.
    """
    blocks = _fenced_blocks(text)
    for label, body in reversed(blocks):
        if label in JSON_LABELS:
            value = _loads(body)
            if value is not _NOTHING:
                return value
    if blocks:
        return None
    value = _loads(text)
    return None if value is _NOTHING else value


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of ``text`` as (label, content), the label lower-cased."""
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    label = ""
    body: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if fence is None:
            if opening := _OPEN.fullmatch(line):
                fence, label, body = opening.group(1), _first_word(opening.group(2)), []
        elif (closing := _CLOSE.fullmatch(line)) and len(closing.group(1)) >= len(fence):
            blocks.append((label, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        blocks.append((label, "\n".join(body)))
    return blocks


def _first_word(info: str) -> str:
    words = info.split()
    return words[0].lower() if words else ""


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOTHING


# -- verdicts ----------------------------------------------------------------------------


def verdict_from_text(text: str) -> Verdict | None:
    """The verdict an answer ends with: its last JSON block, when that is an object with
    a ``verdict`` key; None when there is none; VerdictError when it is malformed."""
    value = last_json_block(text)
    if isinstance(value, dict) and "verdict" in value:
        return parse_verdict(value)
    return None


def parse_verdict(obj: object) -> Verdict:
    """The verdict ``obj`` (parsed JSON) holds, or VerdictError naming every problem.

    ``verdict`` is required; ``reason`` (default empty), ``feedback`` (an array of
    non-empty strings, or one string) and ``evidence`` (text, or any JSON value, kept as
    compact JSON text) may be left out or null, but a revise or reject verdict needs a
    reason or feedback. Values over their limits are refused, never cut. Other fields
    are refused.
    """
    if not isinstance(obj, dict):
        raise VerdictError(f"expected an object with a 'verdict', got {json_kind(obj)}")
    problems: list[str] = []
    _check_fields(obj, problems)
    verdict = Verdict(
        verdict=_verdict(obj.get("verdict"), problems),
        reason=_reason(obj.get("reason"), problems),
        feedback=_feedback(obj.get("feedback"), problems),
        evidence=_evidence(obj.get("evidence"), problems),
    )
    _check_explained(verdict, problems)
    _check_encodable(verdict, problems)
    if problems:
        raise VerdictError("; ".join(problems))
    return verdict


def _check_fields(obj: dict[str, Any], problems: list[str]) -> None:
    unknown = [shown(str(name)) for name in obj if name not in VERDICT_FIELDS]
    if unknown:
        noun = "field" if len(unknown) == 1 else "fields"
        valid = ", ".join(VERDICT_FIELDS)
        problems.append(f"unknown {noun} {', '.join(unknown)} (valid: {valid})")


def _verdict(value: object, problems: list[str]) -> str:
    if value in VERDICTS:
        return str(value)
    got = shown(value) if isinstance(value, str) else json_kind(value)
    problems.append(f"verdict: expected one of {', '.join(VERDICTS)}, got {got}")
    return ""


def _reason(value: object, problems: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"reason: expected a string, got {json_kind(value)}")
        return ""
    _check_length("reason", value, REASON_CHARS, problems)
    return value


def _feedback(value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # one piece of feedback, as ``--feedback TEXT`` gives it
        value = [value] if value.strip() else []
    if not isinstance(value, list):
        problems.append(f"feedback: expected an array of strings, got {json_kind(value)}")
        return ()
    if len(value) > FEEDBACK_MAX:
        problems.append(f"feedback: {len(value)} entries; at most {FEEDBACK_MAX}")
    for n, entry in enumerate(value):
        _check_entry(f"feedback[{n}]", entry, problems)
    return tuple(entry for entry in value if isinstance(entry, str))


def _check_entry(place: str, entry: object, problems: list[str]) -> None:
    if not isinstance(entry, str):
        problems.append(f"{place}: expected a string, got {json_kind(entry)}")
    elif not entry.strip():
        problems.append(f"{place}: empty")
    else:
        _check_length(place, entry, FEEDBACK_CHARS, problems)


def _evidence(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else _compact(value)
    _check_length("evidence", text, EVIDENCE_CHARS, problems)
    return text


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check_length(place: str, text: str, limit: int, problems: list[str]) -> None:
    if len(text) > limit:
        problems.append(f"{place}: {len(text):,} characters; at most {limit:,}")


def _check_explained(verdict: Verdict, problems: list[str]) -> None:
    """A revise or reject verdict must say what to change or why: the builder and the
    human reading the chain get nothing else."""
    unexplained = not verdict.reason.strip() and not verdict.feedback
    if verdict.verdict in ("revise", "reject") and unexplained:
        problems.append(f"reason: a {verdict.verdict!r} verdict needs a reason or feedback")


def _check_encodable(verdict: Verdict, problems: list[str]) -> None:
    try:
        _compact(verdict.to_dict()).encode("utf-8")
    except ValueError:  # a lone surrogate, written as \\ud800 in the JSON
        problems.append("verdict block: holds text that cannot be encoded as UTF-8")
