"""Agent presets as data, merged with ``[agents.NAME]``, and the argv that runs one agent.

A preset says how one agent CLI is driven: its command and fixed arguments, how the prompt
reaches it, which output parser reads it, how a session is named or resumed, and which signal
stops it cleanly. ``resolve_agent`` merges a preset with the team file's table into an
``AgentSpec``; ``build_invocation`` turns a spec, a prompt and a session into an
``Invocation``: the argv list, the bytes for stdin, the bytes for a prompt file. Nothing here
goes through a shell: every argv element reaches the program verbatim.

Task text never goes on a preset's command line: ``/proc/PID/cmdline`` is readable by every
local user. Prompt routes (``prompt_via``, a ``PromptRoute``):

- ``STDIN``: written to the agent's stdin, which is then closed; ``stdin_args`` end the argv
  (``-`` for ``codex exec``; the shell preset's fixed reader script);
- ``FILE``: written to a 0600 file in the worker's private session dir, passed as one
  ``FLAG=PATH`` element (``prompt_flag``) and removed after the run (aider's
  ``--message-file``);
- ``ARGV``: after a ``--`` that ends option parsing, so a prompt starting with ``-`` stays text.
  Custom agents only (how they read a prompt is theirs to say); Linux refuses a single
  argument over 128 KiB, so a prompt over ``ARG_MAX_PROMPT`` bytes or with a NUL byte is
  refused.

Session ids become options, so only UUID-shaped ids are accepted, each passed as one
``--option=ID`` element (an id can never be read as another option).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from claude_orchestrator.conf.team import AgentConfig
from claude_orchestrator.errors import ConfigError, SpawnError

ARG_MAX_PROMPT = 100 * 1024
SESSION_PLACEHOLDER = "{session_id}"
SESSION_ID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_EMPTY_ENV: Mapping[str, str] = MappingProxyType({})


class OutputParser(StrEnum):
    """How an agent's output is read (worker/session.py picks the parser by it)."""

    STREAM_JSON = "stream-json"  # Claude Code's events: the result line decides (.jsonl log)
    TEXT = "text"  # the exit code decides, the output's tail is the result (.log)


class PromptRoute(StrEnum):
    """How the prompt reaches an agent (module docstring)."""

    ARGV = "argv"
    STDIN = "stdin"
    FILE = "file"  # a file named by the preset's ``prompt_flag``


@dataclass(frozen=True)
class AgentPreset:
    """How to drive one agent CLI.

    ``stdin_args`` end the argv when the prompt travels on stdin (``()`` when the CLI reads
    stdin by itself, ``("-",)`` for codex). ``session_args`` and ``resume_args`` hold
    ``SESSION_PLACEHOLDER`` inside one ``--option=`` element.
    """

    name: str
    command: tuple[str, ...]
    base_args: tuple[str, ...] = ()
    parser: OutputParser = OutputParser.TEXT
    prompt_via: PromptRoute = PromptRoute.ARGV
    prompt_flag: str = ""  # FILE: the option that names the prompt file (``FLAG=PATH``)
    session_args: tuple[str, ...] = ()
    resume_args: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY_ENV)
    stdin_args: tuple[str, ...] = ()
    #: False: the agent is handed the task's own text (the shell preset runs it as a
    #: script), not the rendered worker.md / message.md prompt
    templated: bool = True
    #: the option that caps one run's spend in USD (``--max-budget-usd``); "" when the CLI
    #: has none (a task's ``budget_usd`` is then only recorded)
    budget_flag: str = ""

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError(f"agent preset {self.name!r}: empty command")
        if not isinstance(self.parser, OutputParser):
            raise ValueError(f"agent preset {self.name!r}: unknown parser {self.parser!r}")
        if not isinstance(self.prompt_via, PromptRoute):
            raise ValueError(f"agent preset {self.name!r}: unknown prompt_via {self.prompt_via!r}")
        if (self.prompt_via is PromptRoute.FILE) != self.prompt_flag.startswith("-"):
            raise ValueError(
                f"agent preset {self.name!r}: prompt_flag {self.prompt_flag!r} does not fit "
                f"prompt_via {self.prompt_via}: an option for the file route, none otherwise"
            )


def is_session_id(value: object) -> bool:
    """True when ``value`` is UUID-shaped: the only session ids that become agent options."""
    return isinstance(value, str) and SESSION_ID_PATTERN.fullmatch(value) is not None


# `claude -p` with no prompt argument reads the prompt from stdin.
CLAUDE = AgentPreset(
    name="claude",
    command=("claude",),
    base_args=("-p", "--output-format", "stream-json", "--verbose"),
    parser=OutputParser.STREAM_JSON,
    prompt_via=PromptRoute.STDIN,
    session_args=(f"--session-id={SESSION_PLACEHOLDER}",),
    resume_args=(f"--resume={SESSION_PLACEHOLDER}",),
    budget_flag="--max-budget-usd",
)

# codex exec: progress on stderr, the final message on stdout. Its session ids are its own (not
# chosen by the caller, not in the text output), so there is nothing to resume by. It only
# stops cleanly on SIGINT.
CODEX = AgentPreset(
    name="codex",
    command=("codex", "exec"),
    stop_signal=signal.SIGINT,
    prompt_via=PromptRoute.STDIN,
    stdin_args=("-",),  # `codex exec -` reads the prompt from stdin
)

# gemini with no prompt argument and stdin not a terminal reads the prompt from stdin and runs
# headless. Its stream-json events are not Claude Code's, so its output is read as text.
# `--resume` takes ids gemini chose itself, which plain text does not carry.
GEMINI = AgentPreset(name="gemini", command=("gemini",), prompt_via=PromptRoute.STDIN)

# aider --message-file=PATH: process that one message, then exit. It has no stdin route.
AIDER = AgentPreset(
    name="aider",
    command=("aider", "--yes-always", "--no-pretty", "--no-stream"),
    prompt_via=PromptRoute.FILE,
    prompt_flag="--message-file",
)

# The prompt is the script (trusted input only). It arrives on stdin, and bash runs a fixed
# reader that takes all of it before running any: with `bash -s`, a command of the script that
# reads stdin would swallow the rest of the script. The script's own stdin is then at its end,
# as /dev/null was. The team file's `args` come before `-c`, so they are bash options (`-e`).
SHELL_READER = 'eval -- "$(cat)"'  # "--": a script may start with "-"
SHELL = AgentPreset(
    name="shell",
    command=("bash",),
    prompt_via=PromptRoute.STDIN,
    stdin_args=("-c", SHELL_READER),
    templated=False,
)

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
    def parser(self) -> OutputParser:
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


@dataclass(frozen=True)
class Invocation:
    """How to start one run: argv, and where the prompt goes if not in argv."""

    argv: tuple[str, ...]
    stdin: bytes | None = None  # written to stdin, then closed; None: stdin is /dev/null
    prompt_file: Path | None = None  # write ``file_data`` here (0600) before the start
    file_data: bytes | None = None


def build_invocation(
    spec: AgentSpec,
    prompt: str,
    session_id: str | None,
    resume: bool,
    prompt_file: Path | None = None,
) -> Invocation:
    """The invocation for one run of ``spec``; ``prompt_file`` is needed by the FILE route.

    Order: command, preset arguments, session arguments, the team file's ``args``, then the
    stdin arguments, the prompt file option or the prompt.
    """
    head = (*spec.command, *spec.preset.base_args, *_session_args(spec.preset, session_id, resume))
    head = (*head, *spec.args)
    via = spec.preset.prompt_via
    if via is PromptRoute.STDIN:
        return Invocation((*head, *spec.preset.stdin_args), stdin=_encode(prompt))
    if via is PromptRoute.FILE:
        if prompt_file is None:
            raise ValueError(f"agent {spec.name!r} reads its prompt from a file: give its path")
        flag = f"{spec.preset.prompt_flag}={prompt_file}"
        return Invocation((*head, flag), prompt_file=prompt_file, file_data=_encode(prompt))
    if not _fits_in_argv(prompt):
        raise SpawnError(_argv_refusal(spec, prompt))
    return Invocation((*head, "--", prompt))


def _session_args(preset: AgentPreset, session_id: str | None, resume: bool) -> tuple[str, ...]:
    if session_id is None:
        return ()
    if not is_session_id(session_id):
        raise SpawnError(f"session id {session_id[:80]!r} is not a UUID; it is never passed on")
    template = preset.resume_args if resume else preset.session_args
    return tuple(arg.replace(SESSION_PLACEHOLDER, session_id) for arg in template)


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
    return f"agent {spec.name!r}: the prompt {problem}; a custom agent takes its prompt in argv"
