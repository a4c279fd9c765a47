"""An agent's answer read from its final text: the last fenced JSON block, and verdicts
(spawn/answer.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_orchestrator.errors import UsageError
from claude_orchestrator.spawn.answer import (
    Verdict,
    VerdictError,
    last_json_block,
    parse_verdict,
    verdict_from_text,
)

CLAUDE_ANSWER = """I read the diff and ran the tests.

- `make test` passes (42 tests).
- The new endpoint returns 404 for unknown ids, as the criteria ask.

Here is an example of the config I checked:

```toml
[server]
port = 8080
```

```json
{
  "verdict": "pass",
  "reason": "all criteria met",
  "feedback": [],
  "evidence": "make test: 42 passed"
}
```
"""


# -- last_json_block ---------------------------------------------------------------------------


def test_last_json_block_reads_a_realistic_answer() -> None:
    assert last_json_block(CLAUDE_ANSWER) == {
        "verdict": "pass",
        "reason": "all criteria met",
        "feedback": [],
        "evidence": "make test: 42 passed",
    }


def test_last_json_block_takes_the_last_of_two_blocks() -> None:
    text = 'First:\n```json\n{"n": 1}\n```\nthen, unlabelled:\n```\n{"n": 2}\n```\n'
    assert last_json_block(text) == {"n": 2}


def test_last_json_block_skips_blocks_that_are_not_json() -> None:
    text = '```json\n{"n": 1}\n```\n```\n$ make test\nok\n```\n```json\n{"n": 3,\n```\n'
    assert last_json_block(text) == {"n": 1}


def test_last_json_block_ignores_blocks_labelled_otherwise() -> None:
    text = '```json\n{"n": 1}\n```\n```python\n[2]\n```\n```JSON title="x"\n[3]\n```'
    assert last_json_block(text) == [3]
    assert last_json_block('```python\n{"n": 1}\n```') is None


def test_last_json_block_reads_raw_json_when_there_is_no_fence() -> None:
    assert last_json_block('  \n{"verdict": "pass"}\n\n') == {"verdict": "pass"}
    assert last_json_block("[1, 2]") == [1, 2]


@pytest.mark.parametrize(
    "text", ["", "   ", "no json here", "{not json", "```json\n{bad\n```", "```json\nnull\n```"]
)
def test_last_json_block_returns_none_for_garbage(text: str) -> None:
    assert last_json_block(text) is None


def test_last_json_block_keeps_backticks_inside_json_strings() -> None:
    value = {"feedback": ["wrap it in ```code```", "```"], "x": "```json"}
    pretty = json.dumps(value, indent=2)
    assert last_json_block(f"Done.\n```json\n{pretty}\n```\n") == value
    assert last_json_block(json.dumps(value)) == value


def test_last_json_block_reads_crlf_and_a_final_fence_without_newline() -> None:
    assert last_json_block('ok\r\n```json\r\n{"a": 1}\r\n```') == {"a": 1}
    assert last_json_block('ok\n```json\n{"a": 1}\n```   \n\n  ') == {"a": 1}


def test_last_json_block_allows_text_after_the_block() -> None:
    text = '```json\n{"a": 1}\n```\n\nLet me know if you need anything else.\n'
    assert last_json_block(text) == {"a": 1}


def test_last_json_block_reads_a_block_left_open_at_the_end() -> None:
    assert last_json_block('Verdict:\n```json\n{"a": 1}\n') == {"a": 1}


def test_last_json_block_follows_fence_lengths_and_indentation() -> None:
    text = 'A block showing a block:\n````\n```json\n{"inner": 1}\n```\n````\n'
    assert last_json_block(text) is None  # the inner fence is content, not a block
    assert last_json_block('1. the verdict:\n   ```json\n   {"a": 1}\n   ```\n') == {"a": 1}


# -- verdicts ----------------------------------------------------------------------------------


def test_parse_verdict_reads_every_field() -> None:
    raw = {"verdict": "revise", "reason": "r", "feedback": ["f1", "f2"], "evidence": "e"}
    verdict = parse_verdict(raw)
    assert verdict == Verdict("revise", "r", ("f1", "f2"), "e")
    assert verdict.to_dict() == raw
    assert parse_verdict(verdict.to_dict()) == verdict


def test_parse_verdict_fills_what_was_left_out() -> None:
    assert parse_verdict({"verdict": "pass"}) == Verdict("pass", "", (), None)
    nulls = {"verdict": "pass", "reason": None, "feedback": None, "evidence": None}
    assert parse_verdict(nulls) == Verdict("pass")


def test_parse_verdict_takes_one_string_of_feedback() -> None:
    assert parse_verdict({"verdict": "revise", "feedback": "add tests"}).feedback == ("add tests",)


def test_parse_verdict_keeps_other_evidence_as_compact_json() -> None:
    verdict = parse_verdict({"verdict": "pass", "evidence": {"tests": 42, "ok": True}})
    assert verdict.evidence == '{"tests":42,"ok":true}'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pass", "expected an object with a 'verdict', got a string"),
        ({}, "verdict: expected one of pass, revise, reject, got null"),
        ({"verdict": "ok"}, "verdict: expected one of pass, revise, reject, got 'ok'"),
        ({"verdict": "PASS"}, "verdict: expected one of pass, revise, reject, got 'PASS'"),
        ({"verdict": True}, "verdict: expected one of pass, revise, reject, got a boolean"),
        (
            {"verdict": "pass", "summary": "x"},
            "unknown field 'summary' (valid: verdict, reason, feedback, evidence)",
        ),
        ({"verdict": "pass", "reason": 3}, "reason: expected a string, got a number"),
        (
            {"verdict": "pass", "feedback": {}},
            "feedback: expected an array of strings, got an object",
        ),
        ({"verdict": "pass", "feedback": ["a", 1]}, "feedback[1]: expected a string, got a number"),
        ({"verdict": "pass", "feedback": ["a", ""]}, "feedback[1]: empty"),
        ({"verdict": "revise"}, "reason: a 'revise' verdict needs a reason or feedback"),
        (
            {"verdict": "reject", "reason": " "},
            "reason: a 'reject' verdict needs a reason or feedback",
        ),
        (
            {"verdict": "pass", "reason": "\udc80"},
            "verdict block: holds text that cannot be encoded as UTF-8",
        ),
    ],
)
def test_parse_verdict_names_what_is_wrong(raw: object, expected: str) -> None:
    with pytest.raises(VerdictError) as caught:
        parse_verdict(raw)
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("reason", "x" * 2_001, "reason: 2,001 characters; at most 2,000"),
        ("feedback", ["f"] * 21, "feedback: 21 entries; at most 20"),
        ("feedback", ["ok", "x" * 2_001], "feedback[1]: 2,001 characters; at most 2,000"),
        ("evidence", "x" * 4_001, "evidence: 4,001 characters; at most 4,000"),
        ("evidence", ["x" * 3_998], "evidence: 4,002 characters; at most 4,000"),
    ],
)
def test_parse_verdict_refuses_what_is_over_its_limit(
    field: str, value: Any, expected: str
) -> None:
    with pytest.raises(VerdictError) as caught:
        parse_verdict({"verdict": "pass", field: value})
    assert str(caught.value) == expected


def test_parse_verdict_accepts_values_at_their_limits() -> None:
    raw = {
        "verdict": "reject",
        "reason": "x" * 2_000,
        "feedback": ["y" * 2_000] * 20,
        "evidence": "z" * 4_000,
    }
    assert parse_verdict(raw).to_dict() == raw


def test_parse_verdict_names_every_problem_at_once() -> None:
    with pytest.raises(VerdictError) as caught:
        parse_verdict({"verdict": "ok", "reason": 1, "feedback": [""], "extra": 0})
    assert str(caught.value) == (
        "unknown field 'extra' (valid: verdict, reason, feedback, evidence); "
        "verdict: expected one of pass, revise, reject, got 'ok'; "
        "reason: expected a string, got a number; "
        "feedback[0]: empty"
    )


def test_verdict_error_is_a_usage_error() -> None:
    assert issubclass(VerdictError, UsageError)


def test_verdict_from_text_reads_the_final_block() -> None:
    assert verdict_from_text(CLAUDE_ANSWER) == Verdict(
        "pass", "all criteria met", (), "make test: 42 passed"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "All criteria are met, this passes.",
        '```json\n{"title": "not a verdict"}\n```',
        '```json\n["pass"]\n```',
    ],
)
def test_verdict_from_text_is_none_without_a_verdict_block(text: str) -> None:
    assert verdict_from_text(text) is None


def test_verdict_from_text_refuses_a_malformed_verdict_block() -> None:
    text = 'Looks good.\n```json\n{"verdict": "lgtm"}\n```\n'
    with pytest.raises(VerdictError) as caught:
        verdict_from_text(text)
    assert str(caught.value) == "verdict: expected one of pass, revise, reject, got 'lgtm'"
