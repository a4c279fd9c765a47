"""Stream-json parsing, outcome rules and bounded excerpts (spawn/streamjson.py, outcome.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_orchestrator.spawn.outcome import Outcome, excerpt
from claude_orchestrator.spawn.streamjson import StreamJsonParser, TextOutputCollector

SESSION = "0b5e2f1c-6a57-4c43-9f0e-7d2b3c4d5e6f"


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8") + b"\n"


def init(session_id: str = SESSION) -> bytes:
    return line(
        {
            "type": "system",
            "subtype": "init",
            "session_id": session_id,
            "model": "claude-opus",
            "cwd": "/w",
            "tools": ["Bash"],
        }
    )


def assistant(msg_id: str | None, *content: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": list(content)}
    if msg_id is not None:
        message["id"] = msg_id
    return line({"type": "assistant", "message": message, "session_id": SESSION})


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(tool_id: str, name: str, **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": args}


def retry(status: int, error: str, attempt: int = 1) -> bytes:
    return line(
        {
            "type": "system",
            "subtype": "api_retry",
            "attempt": attempt,
            "max_retries": 10,
            "retry_delay_ms": 500,
            "error_status": status,
            "error": error,
        }
    )


def result(
    subtype: str = "success", is_error: bool = False, text: str = "all done", **extra: Any
) -> bytes:
    event = {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "result": text,
        "session_id": SESSION,
        "num_turns": 3,
        "duration_ms": 1234,
        "duration_api_ms": 1000,
        "total_cost_usd": 0.0123,
        "usage": {"input_tokens": 1},
    }
    event.update(extra)
    return line(event)


SAMPLE = b"".join(
    [
        init(),
        b"\n",  # blank lines are skipped, not counted
        assistant("msg_1", text("Je regarde ça — 日本語 😀")),
        assistant(
            "msg_1", text("Je regarde ça — 日本語 😀"), tool("toolu_1", "Bash", command="ls")
        ),
        line(
            {
                "type": "user",
                "message": {"content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
            }
        ),
        b"not json at all\n",
        b"[1, 2, 3]\n",
        b'"a string"\n',
        b"\xff\xfe{bad utf-8}\n",
        retry(529, "overloaded"),
        assistant("msg_2", text("fini ✓")),
        result(text="résultat: 完了"),
    ]
)


def parse(*chunks: bytes) -> StreamJsonParser:
    parser = StreamJsonParser()
    for chunk in chunks:
        parser.feed("agent", "stdout", chunk)
    return parser


#: SAMPLE with an error result: its reason names the API retry seen on the way
SAMPLE_FAILED = SAMPLE.replace(
    result(text="résultat: 完了"), result("error_during_execution", is_error=True)
)


def snapshot(parser: StreamJsonParser) -> dict[str, Any]:
    return {"bytes": parser.bytes_seen, "outcome": parser.outcome(0)}


# -- parsing -------------------------------------------------------------------


def test_sample_stream_parses() -> None:
    parser = parse(SAMPLE)
    assert parser.outcome(0) == Outcome(
        ok=True,
        result="résultat: 完了",
        reason=None,
        session_id=SESSION,
        cost_usd=0.0123,
        num_turns=3,
        duration_ms=1234,
    )
    assert parser.bytes_seen == len(SAMPLE)
    failed = parse(SAMPLE_FAILED).outcome(0)
    assert not failed.ok
    assert str(failed.reason).endswith("overloaded: 1 API retry (529, overloaded)")


@pytest.mark.parametrize("sample", [SAMPLE, SAMPLE_FAILED], ids=["success", "failure"])
def test_split_at_every_byte_boundary_gives_the_same_parse(sample: bytes) -> None:
    expected = snapshot(parse(sample))
    for cut in range(len(sample) + 1):
        assert snapshot(parse(sample[:cut], sample[cut:])) == expected, f"cut at {cut}"


def test_one_byte_chunks_give_the_same_parse() -> None:
    for sample in (SAMPLE, SAMPLE_FAILED):
        expected = snapshot(parse(sample))
        assert snapshot(parse(*(sample[i : i + 1] for i in range(len(sample))))) == expected


def test_last_line_without_newline_is_parsed_at_the_end() -> None:
    parser = parse(init(), result().rstrip(b"\n"))
    assert parser.outcome(0).ok


def test_stderr_is_kept_not_parsed() -> None:
    parser = StreamJsonParser()
    parser.feed("agent", "stderr", result())
    parser.feed("agent", "stdout", init())
    outcome = parser.outcome(1)
    assert not outcome.ok and outcome.session_id == SESSION  # the result was on stderr
    assert "stderr: " in str(outcome.reason)  # kept, to explain the run
    assert parser.bytes_seen == len(result()) + len(init())


def test_odd_events_never_raise() -> None:
    weird: list[dict[str, Any]] = [
        {"type": "assistant", "message": "not an object"},
        {"type": "assistant", "message": {"id": 7, "content": "plain string content"}},
        {"type": "assistant", "message": {"id": "m", "content": [1, None, {"type": "tool_use"}]}},
        {"type": "system"},
        {"type": "system", "subtype": "init", "session_id": None},
        {"type": "system", "subtype": "api_retry", "error_status": "x"},
        {"no": "type"},
        {"type": "result", "num_turns": "three", "total_cost_usd": True, "duration_ms": 1.5},
    ]
    parser = parse(*(line(event) for event in weird), b"{" * 100_000 + b"\n")
    outcome = parser.outcome(0)
    assert outcome.ok
    assert (outcome.num_turns, outcome.cost_usd, outcome.duration_ms) == (None, None, None)


def test_overlong_line_is_dropped_and_parsing_resumes() -> None:
    small = [init(), b'{"type": "result", "is_error": false}\n']
    long_line = b'{"type": "result", "is_error": true, "pad": "' + b"x" * 500 + b'"}\n'
    assert all(len(chunk) <= 200 for chunk in small)
    stream = small[0] + long_line + small[1]
    for size in (1, 7, 64, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert parse(*chunks).outcome(0).ok  # the long line was read (and lost to the last)
        parser = StreamJsonParser(max_line_bytes=200)
        for chunk in chunks:
            parser.feed("a", "stdout", chunk)
        outcome = parser.outcome(0)
        assert outcome.ok and outcome.session_id == SESSION


def test_a_long_line_of_its_own_is_dropped_not_parsed() -> None:
    stream = init() + b'{"type": "result", "is_error": false, "pad": "' + b"x" * 500 + b'"}\n'
    parser = StreamJsonParser(max_line_bytes=200)
    parser.feed("a", "stdout", stream)
    outcome = parser.outcome(0)
    assert not outcome.ok and "without a result line" in str(outcome.reason)


# -- outcome rules -------------------------------------------------------------


def test_success() -> None:
    outcome = parse(init("init-session"), assistant("m", text("hi")), result()).outcome(0)
    assert outcome == Outcome(
        ok=True,
        result="all done",
        reason=None,
        session_id=SESSION,
        cost_usd=0.0123,
        num_turns=3,
        duration_ms=1234,
    )


def test_session_id_falls_back_to_init() -> None:
    stream = result().replace(f'"session_id": "{SESSION}", '.encode(), b"")
    outcome = parse(init("from-init"), stream).outcome(0)
    assert outcome.ok
    assert outcome.session_id == "from-init"


def test_is_error_fails_even_with_exit_0_and_subtype_success() -> None:
    outcome = parse(init(), result("success", True, "API Error: 500\nmore")).outcome(0)
    assert not outcome.ok
    assert outcome.reason == (
        "agent reported an error (subtype success, is_error true); API Error: 500"
    )
    assert outcome.result == "API Error: 500\nmore"
    assert outcome.cost_usd == 0.0123


def test_error_subtype_fails() -> None:
    outcome = parse(init(), result("error_max_turns", False, "")).outcome(1)
    assert not outcome.ok
    assert outcome.reason == "agent reported an error (subtype error_max_turns)"
    assert outcome.num_turns == 3


def test_error_result_mentions_api_retries() -> None:
    stream = [init(), retry(401, "authentication_failed"), result("success", True, "x")]
    reason = parse(*stream).outcome(1).reason
    assert reason is not None
    assert reason.endswith("; authentication failed: 1 API retry (401, authentication_failed)")


def test_stream_wins_over_a_nonzero_exit() -> None:
    outcome = parse(init(), result()).outcome(1)
    assert outcome.ok
    assert outcome.reason is None


def test_no_result_line_is_a_failure() -> None:
    outcome = parse(init(), assistant("m", text("working"))).outcome(1)
    assert not outcome.ok
    assert outcome.result is None
    assert outcome.reason == "agent exited without a result line (exit 1)"
    assert outcome.session_id == SESSION


def test_no_result_line_after_a_signal() -> None:
    outcome = parse(init()).outcome(None, "killed by SIGKILL")
    assert outcome.reason == "agent exited without a result line (killed by SIGKILL)"
    assert parse(init()).outcome(None).reason == (
        "agent exited without a result line (unknown exit status)"
    )


def test_no_result_line_with_exit_0_is_a_failure() -> None:
    outcome = parse(init()).outcome(0)
    assert not outcome.ok
    assert outcome.reason == "agent exited without a result line (exit 0)"


def test_silent_exit_0() -> None:
    outcome = StreamJsonParser().outcome(0)
    assert not outcome.ok
    assert outcome.reason == "agent printed nothing and exited 0"
    assert StreamJsonParser().outcome(2).reason == "agent exited without a result line (exit 2)"


def test_stderr_explains_a_run_without_result() -> None:
    parser = StreamJsonParser()
    parser.feed("a", "stderr", "Error: bad flag\nInvalid API key · Please run /login\n".encode())
    assert parser.outcome(0).reason == (
        "agent exited without a result line (exit 0); stderr: Invalid API key · Please run /login"
    )


@pytest.mark.parametrize(
    ("status", "error", "summary"),
    [
        (429, "rate_limit", "rate limited: 3 API retries (429, rate_limit)"),
        (529, "overloaded", "overloaded: 3 API retries (529, overloaded)"),
        (
            401,
            "authentication_failed",
            "authentication failed: 3 API retries (401, authentication_failed)",
        ),
        (500, "server_error", "API errors: 3 API retries (500, server_error)"),
    ],
)
def test_api_retries_explain_a_run_without_result(status: int, error: str, summary: str) -> None:
    stream = [init(), retry(503, "first"), retry(503, "second", 2), retry(status, error, 3)]
    outcome = parse(*stream).outcome(1)
    explained = f"agent exited without a result line (exit 1); {summary}"
    if status in (429, 529):  # the provider's limit: said first, the run's own story after
        assert (
            outcome.limit is not None
            and outcome.reason == f"limit: {outcome.limit.reason}; {explained}"
        )
    else:
        assert outcome.limit is None and outcome.reason == explained


def test_last_result_line_wins() -> None:
    outcome = parse(init(), result("success", True), result()).outcome(0)
    assert outcome.ok


# -- text collector ------------------------------------------------------------


def test_text_collector_success() -> None:
    collector = TextOutputCollector()
    collector.feed("a", "stdout", b"hello\n")
    collector.feed("a", "stderr", b"warning\n")
    assert collector.outcome(0) == Outcome(ok=True, result="hello\nwarning", reason=None)


def test_text_collector_failure_names_exit_and_last_line() -> None:
    collector = TextOutputCollector()
    collector.feed("a", "stdout", b"step 1\nstep 2: it broke\n\n")
    outcome = collector.outcome(2)
    assert not outcome.ok
    assert outcome.reason == "exited with exit 2: step 2: it broke"
    assert TextOutputCollector().outcome(None, "killed by SIGTERM").reason == (
        "exited with killed by SIGTERM"
    )
    assert TextOutputCollector().outcome(0).result is None


def test_text_collector_keeps_a_bounded_tail_without_split_characters() -> None:
    collector = TextOutputCollector(tail_bytes=64 * 1024)
    data = ("é" * 50_000 + "end").encode()  # 100,003 bytes, odd cut inside a character
    for i in range(0, len(data), 4097):
        collector.feed("a", "stdout", data[i : i + 4097])
    assert collector.bytes_seen == len(data)
    tail = collector.text
    assert tail.endswith("end")
    assert set(tail[:-3]) == {"é"}
    assert len(tail.encode()) <= 64 * 1024


# -- excerpt -------------------------------------------------------------------


def test_excerpt_short_text_is_unchanged() -> None:
    assert excerpt(None) is None
    assert excerpt("") == ""
    assert excerpt("x" * 4096) == "x" * 4096
    assert excerpt("€" * 10, limit=30) == "€" * 10


def test_excerpt_long_text_keeps_head_and_tail() -> None:
    source = "HEAD" + "x" * 10_000 + "TAIL"
    short = excerpt(source)
    assert short is not None
    assert short.startswith("HEAD")
    assert short.endswith("TAIL")
    assert "bytes omitted; full output in the session log]" in short
    assert len(short.encode()) <= 4096


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
def test_excerpt_bounds_for_every_limit(char: str) -> None:
    source = "".join(f"{char}{i % 10}" for i in range(300))
    size = len(source.encode())
    for limit in range(0, size + 2):
        short = excerpt(source, limit)
        assert short is not None
        assert len(short.encode()) <= limit, limit
        if size <= limit:
            assert short == source
            continue
        if "…[" not in short:  # too small for the marker: a head alone
            assert source.startswith(short)
            continue
        head, rest = short.split("\n…[", 1)
        count, tail = rest.split(" bytes omitted; full output in the session log]…\n", 1)
        assert source.startswith(head)
        assert source.endswith(tail)
        assert int(count) == size - len(head.encode()) - len(tail.encode())
