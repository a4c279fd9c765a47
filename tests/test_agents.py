"""Agent presets (conf/agents.py): resolving [agents.NAME] and building argv without a shell."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from claude_orchestrator.conf.agents import (
    ARG_MAX_PROMPT,
    PRESETS,
    SHELL_READER,
    AgentPreset,
    AgentSpec,
    Invocation,
    PromptRoute,
    build_invocation,
    is_session_id,
    resolve_agent,
)
from claude_orchestrator.conf.team import PRESET_NAMES, AgentConfig
from claude_orchestrator.errors import ConfigError, SpawnError

SESSION = "0b6f3c1e-8f7e-4a43-9a55-0f5d8e0b2c11"
CLAUDE_BASE = ("claude", "-p", "--output-format", "stream-json", "--verbose")
NASTY = "it's $(rm -rf /); `id` && echo \"$HOME\" | cat > /tmp/x; *.py\n--help\t'\\"
PROMPT_FILE = Path("/private/sessions/w1/task-0000000001.1.prompt")


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


def invoke(
    spec: AgentSpec, prompt: str = "do it", session: str | None = None, resume: bool = False
) -> Invocation:
    return build_invocation(spec, prompt, session, resume, PROMPT_FILE)


def argv_of(spec: AgentSpec, prompt: str = "do it", session: str | None = None) -> list[str]:
    return list(invoke(spec, prompt, session).argv)


def test_presets_match_the_team_file_names() -> None:
    assert tuple(PRESETS) == PRESET_NAMES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude", [*CLAUDE_BASE, f"--session-id={SESSION}"]),
        ("codex", ["codex", "exec", "-"]),
        ("gemini", ["gemini"]),
        ("shell", ["bash", "-c", SHELL_READER]),
    ],
)
def test_new_session_of_each_stdin_preset(name: str, expected: list[str]) -> None:
    inv = invoke(resolve_agent(name, None), session=SESSION)
    assert (list(inv.argv), inv.stdin, inv.prompt_file) == (expected, b"do it", None)


def test_aider_reads_its_prompt_from_a_file_named_in_one_element() -> None:
    inv = invoke(resolve_agent("aider", None))
    base = ["aider", "--yes-always", "--no-pretty", "--no-stream"]
    assert list(inv.argv) == [*base, f"--message-file={PROMPT_FILE}"]
    assert (inv.stdin, inv.prompt_file, inv.file_data) == (None, PROMPT_FILE, b"do it")


def test_a_file_route_without_a_path_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="give its path"):
        build_invocation(resolve_agent("aider", None), "do it", None, resume=False)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_no_preset_puts_the_prompt_in_argv(name: str) -> None:
    inv = invoke(resolve_agent(name, None), NASTY, SESSION)
    assert not any("rm -rf" in arg for arg in inv.argv)
    assert NASTY.encode() in (inv.stdin, inv.file_data)


def test_claude_resume_is_one_resume_element() -> None:
    inv = invoke(resolve_agent("claude", None), "go on", SESSION, resume=True)
    assert inv.argv[-1] == f"--resume={SESSION}"
    assert not any(arg.startswith("--session-id") for arg in inv.argv)
    assert inv.stdin == b"go on"


@pytest.mark.parametrize(
    "bad",
    [
        "--dangerously-skip-permissions",
        "-rf",
        f"{SESSION}\n",
        f"{SESSION} --model=x",
        SESSION.replace("-", ""),
        "x" * 10_000,
        "",
    ],
)
@pytest.mark.parametrize("resume", [False, True])
def test_a_session_id_that_is_not_a_uuid_never_becomes_an_option(bad: str, resume: bool) -> None:
    assert not is_session_id(bad)
    with pytest.raises(SpawnError, match="not a UUID"):
        invoke(resolve_agent("claude", None), "p", bad, resume)


def test_uuid_shaped_ids_are_session_ids() -> None:
    assert is_session_id(SESSION) and is_session_id(SESSION.upper())
    assert not is_session_id(None) and not is_session_id(42)


@pytest.mark.parametrize("name", ["codex", "gemini", "aider", "shell"])
def test_presets_without_sessions_ignore_the_session(name: str) -> None:
    spec = resolve_agent(name, None)
    for resume in (False, True):
        assert SESSION not in " ".join(invoke(spec, "p", SESSION, resume).argv)


def test_no_session_id_means_no_session_args() -> None:
    assert argv_of(resolve_agent("claude", None)) == list(CLAUDE_BASE)


def test_extra_args_go_after_session_args_and_before_the_stdin_args() -> None:
    spec = preset_spec("claude", args=("--permission-mode", "acceptEdits"))
    argv = argv_of(spec, session=SESSION)
    assert argv[5:] == [f"--session-id={SESSION}", "--permission-mode", "acceptEdits"]
    spec = preset_spec("codex", args=("--model", "o3"))
    assert argv_of(spec) == ["codex", "exec", "--model", "o3", "-"]


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


def test_custom_agent_prompt_with_shell_metacharacters_is_one_verbatim_element() -> None:
    assert argv_of(preset_spec("mine", command=("my-agent",)), NASTY)[-2:] == ["--", NASTY]


def test_prompt_reaches_the_program_verbatim() -> None:
    spec = preset_spec("custom", command=(sys.executable, "-c", "import sys; print(sys.argv[-1])"))
    inv = invoke(spec, NASTY)
    out = subprocess.run(inv.argv, capture_output=True, text=True, check=True).stdout
    assert out == NASTY + "\n"
    assert inv.stdin is None


def run_shell(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    inv = invoke(preset_spec("shell", args=args), script)
    assert inv.stdin is not None
    return subprocess.run(inv.argv, input=inv.stdin.decode(), capture_output=True, text=True)


def test_shell_preset_runs_the_script_from_stdin_verbatim() -> None:
    assert run_shell("-n() { echo dashed; }; -n\nprintf '%s' \"$1\" 'it''s'").stdout == (
        "dashed\nits"
    )


def test_shell_script_that_reads_stdin_does_not_swallow_the_rest_of_the_script() -> None:
    done = run_shell("cat\necho after")
    assert (done.stdout, done.returncode) == ("after\n", 0)


def test_shell_args_are_bash_options() -> None:
    done = run_shell("false\necho not reached", "-e")
    assert done.returncode == 1 and done.stdout == ""


def test_shell_exit_status_is_the_scripts() -> None:
    assert run_shell("exit 7").returncode == 7


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "shell"])
def test_large_prompt_and_nul_bytes_go_to_stdin(name: str) -> None:
    prompt = "é" * ARG_MAX_PROMPT + "\0"
    inv = invoke(resolve_agent(name, None), prompt)
    assert inv.stdin == prompt.encode()
    assert all(len(arg) < 100 for arg in inv.argv)


def test_large_prompt_goes_to_aiders_file() -> None:
    prompt = "x" * (ARG_MAX_PROMPT + 1)
    assert invoke(resolve_agent("aider", None), prompt).file_data == prompt.encode()


def test_prompt_at_the_limit_stays_in_a_custom_agents_argv() -> None:
    prompt = "x" * ARG_MAX_PROMPT
    inv = invoke(preset_spec("mine", command=("my-agent",)), prompt)
    assert (inv.argv[-1], inv.stdin) == (prompt, None)


@pytest.mark.parametrize("prompt", ["x" * (ARG_MAX_PROMPT + 1), "a\0b"])
def test_prompt_argv_cannot_carry_for_a_custom_agent_raises(prompt: str) -> None:
    spec = preset_spec("mine", command=("my-agent",))
    with pytest.raises(SpawnError, match="a custom agent takes its prompt in argv"):
        build_invocation(spec, prompt, None, resume=False)


def test_stdin_route_always_uses_stdin() -> None:
    preset = AgentPreset(name="piped", command=("piped",), prompt_via=PromptRoute.STDIN)
    spec = AgentSpec(name="piped", preset=preset, command=preset.command, args=("-v",))
    assert build_invocation(spec, "hi", None, resume=False) == Invocation(("piped", "-v"), b"hi")


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
        AgentPreset(name="bad", command=("bad",), parser="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown prompt_via"):
        AgentPreset(name="bad", command=("bad",), prompt_via="pipe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit prompt_via file"):
        AgentPreset(name="bad", command=("bad",), prompt_via=PromptRoute.FILE, prompt_flag="m")
    with pytest.raises(ValueError, match="does not fit prompt_via file"):
        AgentPreset(name="bad", command=("bad",), prompt_via=PromptRoute.FILE)
    with pytest.raises(ValueError, match="does not fit prompt_via stdin"):
        AgentPreset(name="bad", command=("bad",), prompt_via=PromptRoute.STDIN, prompt_flag="--m")
    with pytest.raises(ValueError, match="empty command"):
        AgentPreset(name="bad", command=())
