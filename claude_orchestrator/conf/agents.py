"""Agent presets as data, merged with ``[agents.NAME]``, and the argv that runs one agent.

A preset says how one agent CLI is driven: its command and fixed arguments, how the prompt
reaches it, which output parser reads it, how a session is named or resumed, and which signal
stops it cleanly. ``resolve_agent`` merges a preset with the team file's table into an
``AgentSpec``; ``build_invocation`` turns a spec, a prompt and a session into an argv list and
the bytes for stdin. Nothing here goes through a shell: every argv element reaches the program
verbatim. The one exception is by definition: the ``shell`` preset *is* ``bash -c``, so its
prompt is a script — use it only with task text you trust as much as your own scripts.

Prompt routes (``prompt_via``):

- ``argv``: after a ``--`` that ends option parsing, so a prompt starting with ``-`` stays text;
- ``flag:FLAG``: as one ``FLAG=PROMPT`` element (``=`` keeps a leading ``-`` from being read
  as another option);
- ``stdin``: always on stdin.

Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN). A prompt over ``ARG_MAX_PROMPT``
bytes (or holding a NUL byte, which argv cannot carry) goes on stdin for the presets whose CLI
reads the prompt from there — claude, codex and gemini — and is refused for the others.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from claude_orchestrator.conf.team import AgentConfig
from claude_orchestrator.errors import ConfigError, SpawnError

ARG_MAX_PROMPT = 100 * 1024
PARSERS = ("stream-json", "text")
SESSION_PLACEHOLDER = "{session_id}"
_FLAG_PREFIX = "flag:"
_EMPTY_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class AgentPreset:
    """How to drive one agent CLI.

    ``stdin_args`` replace the prompt in argv when the prompt travels on stdin instead (``()``
    when the CLI reads stdin by itself, ``("-",)`` for codex); None means the CLI cannot take
    its prompt from stdin, so a prompt too large for argv is an error.
    """

    name: str
    command: tuple[str, ...]
    base_args: tuple[str, ...] = ()
    parser: str = "text"
    prompt_via: str = "argv"
    session_args: tuple[str, ...] = ()
    resume_args: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY_ENV)
    stdin_args: tuple[str, ...] | None = None
    #: False: the agent is handed the task's own text (the shell preset runs it as a
    #: script), not the rendered worker.md / message.md prompt
    templated: bool = True

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError(f"agent preset {self.name!r}: empty command")
        if self.parser not in PARSERS:
            raise ValueError(f"agent preset {self.name!r}: unknown parser {self.parser!r}")
        if not _is_prompt_route(self.prompt_via):
            raise ValueError(f"agent preset {self.name!r}: unknown prompt_via {self.prompt_via!r}")


def _is_prompt_route(via: str) -> bool:
    if via.startswith(_FLAG_PREFIX):
        return via.removeprefix(_FLAG_PREFIX).startswith("-")
    return via in ("argv", "stdin")


CLAUDE = AgentPreset(
    name="claude",
    command=("claude",),
    base_args=("-p", "--output-format", "stream-json", "--verbose"),
    parser="stream-json",
    session_args=("--session-id", SESSION_PLACEHOLDER),
    resume_args=("--resume", SESSION_PLACEHOLDER),
    stdin_args=(),  # `claude -p` with no prompt argument reads it from stdin
)

# codex exec: progress on stderr, the final message on stdout. Its session ids are its own (not
# chosen by the caller, not in the text output), so there is nothing to resume by. It only
# stops cleanly on SIGINT.
CODEX = AgentPreset(
    name="codex",
    command=("codex", "exec"),
    stop_signal=signal.SIGINT,
    stdin_args=("-",),  # `codex exec -` reads the prompt from stdin
)

# gemini --prompt=TEXT runs headless. Its stream-json events are not Claude Code's, so its output
# is read as text. `--resume` takes ids gemini chose itself, which plain text does not carry.
GEMINI = AgentPreset(
    name="gemini",
    command=("gemini",),
    prompt_via="flag:--prompt",
    stdin_args=(),  # without --prompt and with stdin not a terminal, gemini reads stdin headless
)

# aider --message=TEXT: process one message, then exit. No way to pass the message on stdin.
AIDER = AgentPreset(
    name="aider",
    command=("aider", "--yes-always", "--no-pretty", "--no-stream"),
    prompt_via="flag:--message",
)

# bash -c -- SCRIPT: the prompt is the script. Trusted input only. The "--" keeps a script that
# starts with "-" from being read as a bash option.
SHELL = AgentPreset(name="shell", command=("bash", "-c"), templated=False)

PRESETS: Mapping[str, AgentPreset] = MappingProxyType(
    {preset.name: preset for preset in (CLAUDE, CODEX, GEMINI, AIDER, SHELL)}
)


@dataclass(frozen=True)
class AgentSpec:
    """A preset merged with the team file's ``[agents.NAME]``: what a worker actually runs."""

    name: str
    preset: AgentPreset
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    timeout: float | None = None
    idle_timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY_ENV)

    @property
    def parser(self) -> str:
        return self.preset.parser

    @property
    def stop_signal(self) -> int:
        return self.preset.stop_signal


def resolve_agent(name: str, config: AgentConfig | None) -> AgentSpec:
    """The agent ``name``: a preset (possibly overridden by ``config``) or a custom command.

    A custom agent (a name that is not a preset, with a ``command``) reads its output as text,
    takes the prompt after ``--``, has no sessions and stops on SIGTERM.
    """
    config = config or AgentConfig(name=name)
    preset = PRESETS.get(name) or _custom_preset(name, config)
    return AgentSpec(
        name=name,
        preset=preset,
        command=config.command or preset.command,
        args=config.args,
        timeout=config.timeout,
        idle_timeout=config.idle_timeout,
        env=MappingProxyType({**preset.env, **config.env}),
    )


def _custom_preset(name: str, config: AgentConfig) -> AgentPreset:
    if not config.command:
        presets = ", ".join(PRESETS)
        raise ConfigError(
            f"unknown agent {name!r}: not a preset ({presets}) and no command configured for it"
        )
    return AgentPreset(name=name, command=config.command)


def build_invocation(
    spec: AgentSpec, prompt: str, session_id: str | None, resume: bool
) -> tuple[tuple[str, ...], bytes | None]:
    """The argv list and the stdin bytes (None: no input) for one run of ``spec``.

    Order: command, preset arguments, session arguments, the team file's ``args``, the prompt.
    """
    head = (*spec.command, *spec.preset.base_args, *_session_args(spec.preset, session_id, resume))
    head = (*head, *spec.args)
    if spec.preset.prompt_via == "stdin":
        return head, _encode(prompt)
    prompt_args = _prompt_args(spec.preset.prompt_via, prompt)
    if _fits_in_argv(prompt_args[-1]):
        return (*head, *prompt_args), None
    if spec.preset.stdin_args is None:
        raise SpawnError(_argv_refusal(spec, prompt))
    return (*head, *spec.preset.stdin_args), _encode(prompt)


def _session_args(preset: AgentPreset, session_id: str | None, resume: bool) -> tuple[str, ...]:
    if session_id is None:
        return ()
    template = preset.resume_args if resume else preset.session_args
    return tuple(arg.replace(SESSION_PLACEHOLDER, session_id) for arg in template)


def _prompt_args(via: str, prompt: str) -> tuple[str, ...]:
    if via.startswith(_FLAG_PREFIX):
        return (f"{via.removeprefix(_FLAG_PREFIX)}={prompt}",)
    return ("--", prompt)


def _fits_in_argv(element: str) -> bool:
    return "\0" not in element and len(_encode(element)) <= ARG_MAX_PROMPT


def _encode(text: str) -> bytes:
    """Bytes as the OS will see them (UTF-8, undecodable input bytes restored)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise SpawnError(f"the prompt is not valid text: {exc.reason}") from None


def _argv_refusal(spec: AgentSpec, prompt: str) -> str:
    if "\0" in prompt:
        problem = "contains a NUL byte, which a command-line argument cannot hold"
    else:
        size = len(_encode(prompt))
        problem = f"is {size} bytes, over the {ARG_MAX_PROMPT}-byte limit for one argument"
    return f"agent {spec.name!r}: the prompt {problem}, and this agent cannot read it from stdin"
