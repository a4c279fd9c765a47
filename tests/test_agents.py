"""Agent presets (conf/agents.py): resolving [agents.NAME] and building argv without a shell."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import MappingProxyType

import pytest

from claude_orchestrator.conf.agents import (
    ARG_MAX_PROMPT,
    PRESETS,
    AgentPreset,
    AgentSpec,
    build_invocation,
    resolve_agent,
)
from claude_orchestrator.conf.team import PRESET_NAMES, AgentConfig
from claude_orchestrator.errors import ConfigError, SpawnError

SESSION = "0b6f3c1e-8f7e-4a43-9a55-0f5d8e0b2c11"
CLAUDE_BASE = ("claude", "-p", "--output-format", "stream-json", "--verbose")
NASTY = "it's $(rm -rf /); `id` && echo \"$HOME\" | cat > /tmp/x; *.py\n--help\t'\\"


def preset_spec(
    name: str,
    *,
    command: tuple[str, ...] | None = None,
    args: tuple[str, ...] = (),
    timeout: float | None = None,
    idle_timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> AgentSpec:
    config = AgentConfig(
        name=name,
        command=command,
        args=args,
        timeout=timeout,
        idle_timeout=idle_timeout,
        env=MappingProxyType(env or {}),
    )
    return resolve_agent(name, config)


def argv_of(spec: AgentSpec, prompt: str = "do it", session: str | None = None) -> list[str]:
    argv, stdin = build_invocation(spec, prompt, session, resume=False)
    assert stdin is None
    return list(argv)


def test_presets_match_the_team_file_names() -> None:
    assert tuple(PRESETS) == PRESET_NAMES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude", [*CLAUDE_BASE, "--session-id", SESSION, "--", "do it"]),
        ("codex", ["codex", "exec", "--", "do it"]),
        ("gemini", ["gemini", "--prompt=do it"]),
        ("aider", ["aider", "--yes-always", "--no-pretty", "--no-stream", "--message=do it"]),
        ("shell", ["bash", "-c", "--", "do it"]),
    ],
)
def test_new_session_argv_of_each_preset(name: str, expected: list[str]) -> None:
    assert argv_of(resolve_agent(name, None), session=SESSION) == expected


def test_claude_resume_uses_resume_args() -> None:
    argv, stdin = build_invocation(resolve_agent("claude", None), "go on", SESSION, resume=True)
    assert argv[-4:] == ("--resume", SESSION, "--", "go on")
    assert "--session-id" not in argv
    assert stdin is None


@pytest.mark.parametrize("name", ["codex", "gemini", "aider", "shell"])
def test_presets_without_sessions_ignore_the_session(name: str) -> None:
    spec = resolve_agent(name, None)
    for resume in (False, True):
        argv, _ = build_invocation(spec, "p", SESSION, resume)
        assert SESSION not in " ".join(argv)


def test_no_session_id_means_no_session_args() -> None:
    argv = argv_of(resolve_agent("claude", None))
    assert "--session-id" not in argv
    assert "--resume" not in argv


def test_extra_args_go_after_session_args_and_before_the_prompt() -> None:
    spec = preset_spec("claude", args=("--permission-mode", "acceptEdits"))
    argv = argv_of(spec, session=SESSION)
    assert argv[5:] == ["--session-id", SESSION, "--permission-mode", "acceptEdits", "--", "do it"]


def test_command_override_keeps_the_preset_arguments() -> None:
    spec = preset_spec("claude", command=("/opt/fake/agent.py", "--fake"))
    argv = argv_of(spec)
    assert argv[:3] == ["/opt/fake/agent.py", "--fake", "-p"]
    assert spec.parser == "stream-json"


def test_timeouts_come_from_the_config() -> None:
    spec = preset_spec("codex", timeout=1800.0, idle_timeout=60.0)
    assert (spec.timeout, spec.idle_timeout) == (1800.0, 60.0)
    assert resolve_agent("codex", None).timeout is None


def test_env_merges_preset_and_config_with_config_winning(monkeypatch: pytest.MonkeyPatch) -> None:
    preset = AgentPreset(name="x", command=("x",), env=MappingProxyType({"A": "1", "B": "2"}))
    monkeypatch.setattr("claude_orchestrator.conf.agents.PRESETS", {**PRESETS, "x": preset})
    spec = preset_spec("x", env={"B": "3", "C": "4"})
    assert dict(spec.env) == {"A": "1", "B": "3", "C": "4"}


def test_config_env_alone() -> None:
    spec = preset_spec("claude", env={"PYTHONUNBUFFERED": "1"})
    assert dict(spec.env) == {"PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_prompt_with_shell_metacharacters_is_one_verbatim_element(name: str) -> None:
    argv = argv_of(resolve_agent(name, None), NASTY)
    if PRESETS[name].prompt_via.startswith("flag:"):
        flag = PRESETS[name].prompt_via.removeprefix("flag:")
        assert argv[-1] == f"{flag}={NASTY}"
    else:
        assert argv[-2:] == ["--", NASTY]


def test_prompt_reaches_the_program_verbatim() -> None:
    spec = preset_spec("custom", command=(sys.executable, "-c", "import sys; print(sys.argv[-1])"))
    argv, stdin = build_invocation(spec, NASTY, None, resume=False)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == NASTY + "\n"
    assert stdin is None


def test_shell_preset_runs_a_script_that_starts_with_a_dash() -> None:
    argv = argv_of(resolve_agent("shell", None), "-n() { echo dashed; }; -n")
    assert subprocess.run(argv, capture_output=True, text=True).stdout == "dashed\n"


def test_prompt_that_looks_like_a_flag_stays_the_flag_value() -> None:
    assert argv_of(resolve_agent("aider", None), "--help")[-1] == "--message=--help"


def test_large_prompt_goes_to_stdin_for_claude() -> None:
    prompt = "x" * (ARG_MAX_PROMPT + 1)
    argv, stdin = build_invocation(resolve_agent("claude", None), prompt, SESSION, resume=False)
    assert stdin == prompt.encode()
    assert prompt not in argv
    assert argv[-2:] == ("--session-id", SESSION)
    assert "--" not in argv


def test_large_prompt_goes_to_stdin_for_codex_with_a_dash() -> None:
    prompt = "é" * (ARG_MAX_PROMPT // 2 + 1)  # two bytes each: over the limit in bytes
    argv, stdin = build_invocation(resolve_agent("codex", None), prompt, None, resume=False)
    assert argv == ("codex", "exec", "-")
    assert stdin == prompt.encode()


def test_prompt_at_the_limit_stays_in_argv() -> None:
    prompt = "x" * ARG_MAX_PROMPT
    argv, stdin = build_invocation(resolve_agent("claude", None), prompt, None, resume=False)
    assert argv[-1] == prompt
    assert stdin is None


def test_nul_byte_goes_to_stdin_when_possible() -> None:
    argv, stdin = build_invocation(resolve_agent("gemini", None), "a\0b", None, resume=False)
    assert argv == ("gemini",)
    assert stdin == b"a\0b"


@pytest.mark.parametrize("name", ["aider", "shell"])
def test_too_large_prompt_for_a_preset_without_stdin_raises(name: str) -> None:
    with pytest.raises(SpawnError, match=rf"over the {ARG_MAX_PROMPT}-byte limit"):
        build_invocation(resolve_agent(name, None), "x" * (ARG_MAX_PROMPT + 1), None, False)


def test_too_large_prompt_for_a_custom_agent_raises() -> None:
    spec = preset_spec("mine", command=("my-agent",))
    with pytest.raises(SpawnError, match="cannot read it from stdin"):
        build_invocation(spec, "x" * (ARG_MAX_PROMPT + 1), None, resume=False)


def test_stdin_route_always_uses_stdin() -> None:
    preset = AgentPreset(name="piped", command=("piped",), prompt_via="stdin")
    spec = AgentSpec(name="piped", preset=preset, command=preset.command, args=("-v",))
    assert build_invocation(spec, "hi", None, resume=False) == (("piped", "-v"), b"hi")


def test_custom_agent_uses_text_and_argv() -> None:
    spec = preset_spec("mine", command=("my-agent", "--batch"), args=("-q",))
    assert spec.parser == "text"
    assert spec.stop_signal == signal.SIGTERM
    assert argv_of(spec, session=SESSION) == ["my-agent", "--batch", "-q", "--", "do it"]


@pytest.mark.parametrize("config", [None, AgentConfig(name="mystery")])
def test_unknown_agent_without_command_is_a_config_error(config: AgentConfig | None) -> None:
    with pytest.raises(ConfigError, match="unknown agent 'mystery'") as caught:
        resolve_agent("mystery", config)
    assert all(name in str(caught.value) for name in PRESET_NAMES)


def test_codex_stops_on_sigint_and_the_others_on_sigterm() -> None:
    assert resolve_agent("codex", None).stop_signal == signal.SIGINT
    for name in ("claude", "gemini", "aider", "shell"):
        assert resolve_agent(name, None).stop_signal == signal.SIGTERM


def test_only_claude_parses_stream_json() -> None:
    assert {name for name, p in PRESETS.items() if p.parser == "stream-json"} == {"claude"}


def test_a_malformed_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown parser"):
        AgentPreset(name="bad", command=("bad",), parser="xml")
    with pytest.raises(ValueError, match="unknown prompt_via"):
        AgentPreset(name="bad", command=("bad",), prompt_via="pipe")
    with pytest.raises(ValueError, match="unknown prompt_via"):
        AgentPreset(name="bad", command=("bad",), prompt_via="flag:m")
    with pytest.raises(ValueError, match="empty command"):
        AgentPreset(name="bad", command=())
