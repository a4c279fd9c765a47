"""Rate and usage limits read from what an agent printed (issue 13 §1; spawn/limits.py)."""

from __future__ import annotations

from datetime import datetime

import pytest

from claude_orchestrator.spawn.limits import detect, reset_time

NOW = datetime(2026, 12, 1, 14, 0, 0).timestamp()  # local time, like the agents' clocks


def at(hour: int, minute: int = 0, day: int = 1) -> float:
    return datetime(2026, 12, day, hour, minute).timestamp()


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("Claude AI usage limit reached|1764612000", 1764612000.0),
        ("5-hour limit reached ∙ resets 3pm", at(15)),
        ("Usage limit reached. Your limit resets at 9am (Europe/Paris).", at(9, day=2)),
        ("rate limit: resets at 15:30", at(15, 30)),
        ("quota exceeded; try again in 20 minutes", NOW + 1200),
        ("429 Too Many Requests, retry after 45s", NOW + 45),
        (
            "usage limit; resets at 2026-12-01T16:00:00Z",
            datetime.fromisoformat("2026-12-01T16:00:00+00:00").timestamp(),
        ),
        ("rate limited", None),
    ],
)
def test_the_reset_time_comes_from_what_the_agent_said(text: str, until: float | None) -> None:
    assert reset_time(text, NOW) == until
    found = detect(text, ok=False, now=NOW)
    assert found is not None and found.until == until


@pytest.mark.parametrize(
    "text",
    [
        "Error: 429 Too Many Requests",  # codex
        "[API Error: RESOURCE_EXHAUSTED: Quota exceeded for quota metric]",  # gemini
        "litellm.RateLimitError: rate limit reached for requests",  # aider
        "API Error: Overloaded",
    ],
)
def test_other_agents_limits_are_recognised_when_the_run_failed(text: str) -> None:
    found = detect(f"some output\n{text}\n", ok=False, now=NOW)
    assert found is not None and found.reason == text[:160]


def test_a_successful_answer_is_a_limit_only_when_it_is_the_limit_notice() -> None:
    assert detect("Claude AI usage limit reached|1764612000", ok=True) is not None
    answer = "I added a rate limiter: 429 Too Many Requests after 100 calls; usage limit docs."
    assert detect(answer, ok=True) is None  # work about rate limits is work, not a limit
    assert detect("usage limit reached " + "x" * 500, ok=True) is None  # too long for a notice


def test_a_failure_with_no_limit_in_it_is_an_ordinary_failure() -> None:
    assert detect("Traceback: KeyError 'x'", ok=False) is None
    assert detect("", ok=False) is None


def test_api_retry_statuses_say_it_even_with_no_words() -> None:
    found = detect("agent exited without a result line", ok=False, statuses=(503, 429))
    assert found is not None and found.reason == "rate limited (429)" and found.until is None
    assert detect("agent exited", ok=False, statuses=(500, 503)) is None


def test_impossible_clock_times_give_no_reset() -> None:
    assert reset_time("resets at 13pm", NOW) is None
    assert reset_time("resets at 25:00", NOW) is None
