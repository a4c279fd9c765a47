#!/usr/bin/env python3
"""A stand-in for the ``claude`` CLI in tests: prints Claude Code's stream-json.

Accepts Claude Code's argv (``-p``, ``--output-format``, ``--verbose``,
``--session-id``, ``--resume``, ``--permission-mode``, ``--model``; unknown
flags are ignored) and the prompt as the last argument after ``--``, or on
stdin when there is none. The behaviour comes from ``FAKE_AGENT_MODE``
(default ``succeed``), overridden by a directive ``fake-agent:MODE`` or
``fake-agent:MODE=ARG`` anywhere in the prompt:

  succeed       init, assistant messages, a successful result line; exit 0
  fail          result line with is_error true (error_during_execution); exit 1
  fail-as=ID    fail, reporting ID as its session id (any text, as a hostile agent might)
  lie           exit 0 and subtype "success", but is_error true
  hang          init, then block forever without output
  crash         init and one assistant line, then SIGKILL itself
  huge[=N]      a result text of N bytes (default 300000)
  sleep=S       init, sleep S seconds, then succeed
  silent        print nothing; exit 0
  spawn-child   start a sleeping grandchild, write its pid to
                $FAKE_AGENT_CHILD_PID_FILE, then hang
  ratelimit     two api_retry lines (429), then exit 1 without a result
  limit=S       two api_retry lines (429), then a "success" result whose text is Claude's
                usage-limit notice with a reset S seconds ahead (epoch), exit 0; a resumed
                session (--resume) succeeds instead, as it would once the limit reset
  cli=A|B|C     run [$CO_BIN, A, B, C], print its stdout as assistant text, succeed
                (ARG runs to the end of the line, so it may hold spaces)
  ignore-term   ignore SIGTERM, then hang
  answers=DIR   succeed, answering with the next file of DIR (name order; the last one
                again once all are given): a planner's graph, a verdict

If ``FAKE_AGENT_RECORD`` is set, one JSON line describing the call is appended
to that file first. SIGTERM ends the agent silently with exit 143 (SIGINT: 130).
Stdlib only: it must never import claude_orchestrator.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

VALUE_FLAGS = {"--output-format", "--session-id", "--resume", "--permission-mode", "--model"}
RECORDED_ENV = (
    "CO_TASK_ID",
    "CO_CHAIN_ID",
    "CO_LINK",
    "CO_ITEM",
    "CO_ROUND",
    "CO_INSTANCE_ID",
    "CO_TEAM",
    "ZK_HOSTS",
    "CO_TEAM_FILE",
    "CLAUDE_CONFIG_DIR",
    "CLAUDECODE",
)
DIRECTIVE = re.compile(r"fake-agent:([a-z][a-z-]*)(?:=([^\n]*))?")
#: modes whose ARG runs to the end of the line (spaces included); others stop at a space
LINE_ARG_MODES = {"cli"}
COST_USD = 0.0123
NUM_TURNS = 2
STARTED = time.monotonic()


class Args:
    """The parts of Claude Code's command line the fake agent cares about."""

    def __init__(self) -> None:
        self.options: dict[str, str] = {}
        self.prompt: str | None = None


def parse_args(argv: list[str]) -> Args:
    args = Args()
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        name, sep, value = arg.partition("=")
        if name in VALUE_FLAGS and sep:
            args.options[name] = value
        elif arg in VALUE_FLAGS and i < len(argv) and not argv[i].startswith("-"):
            args.options[arg] = argv[i]
            i += 1
        elif not arg.startswith("-"):
            positional.append(arg)
    if positional:
        args.prompt = positional[-1]
    return args


def choose_mode(prompt: str) -> tuple[str, str | None]:
    """The directive in the prompt, else ``FAKE_AGENT_MODE``, else ``succeed``."""
    match = DIRECTIVE.search(prompt)
    if match is not None:
        mode, arg = match.group(1), match.group(2)
        if arg is not None:
            arg = arg.strip() if mode in LINE_ARG_MODES else (arg.split() or [""])[0]
        return mode, arg
    mode, sep, arg = os.environ.get("FAKE_AGENT_MODE", "succeed").partition("=")
    return mode, arg if sep else None


def record(args: list[str], prompt: str) -> None:
    path = os.environ.get("FAKE_AGENT_RECORD")
    if not path:
        return
    entry = {
        "argv": args,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "prompt": prompt,
        "env": {k: os.environ[k] for k in RECORDED_ENV if k in os.environ},
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def write_line(text: str) -> None:
    """One line in one write, flushed at once (a reader never waits for the newline)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Agent:
    """Prints the events of one fake session."""

    def __init__(self, args: Args, prompt: str) -> None:
        self.prompt = prompt
        self.args = args
        self.session_id = (
            args.options.get("--session-id") or args.options.get("--resume") or str(uuid.uuid4())
        )
        self.model = args.options.get("--model", "claude-fake-1")
        self.format = args.options.get("--output-format", "stream-json")

    def emit(self, event: dict[str, Any]) -> None:
        if self.format == "stream-json":
            write_line(json.dumps(event))

    def init(self) -> None:
        self.emit(
            {
                "type": "system",
                "subtype": "init",
                "session_id": self.session_id,
                "model": self.model,
                "cwd": os.getcwd(),
                "tools": ["Bash", "Read", "Edit"],
            }
        )

    def say(self, message_id: str, content: list[dict[str, Any]]) -> None:
        message = {"id": message_id, "role": "assistant", "model": self.model, "content": content}
        self.emit({"type": "assistant", "message": message, "session_id": self.session_id})

    def work(self) -> None:
        """The first assistant message, printed twice under one id, and a tool call."""
        text = {"type": "text", "text": f"Working on: {self.prompt[:60]}"}
        tool = {"type": "tool_use", "id": "toolu_fake1", "name": "Bash", "input": {"command": "ls"}}
        self.say("msg_fake1", [text])
        self.say("msg_fake1", [text, tool])
        result = {"type": "tool_result", "tool_use_id": "toolu_fake1", "content": "README.md"}
        self.emit({"type": "user", "message": {"role": "user", "content": [result]}})

    def api_retry(self, attempt: int) -> None:
        self.emit(
            {
                "type": "system",
                "subtype": "api_retry",
                "attempt": attempt,
                "max_retries": 10,
                "retry_delay_ms": 500,
                "error_status": 429,
                "error": "rate_limit",
                "session_id": self.session_id,
            }
        )

    def result(self, text: str, subtype: str = "success", is_error: bool = False) -> None:
        duration = int((time.monotonic() - STARTED) * 1000)
        event = {
            "type": "result",
            "subtype": subtype,
            "is_error": is_error,
            "result": text,
            "session_id": self.session_id,
            "num_turns": NUM_TURNS,
            "duration_ms": duration,
            "duration_api_ms": duration,
            "total_cost_usd": COST_USD,
            "usage": {"input_tokens": 42, "output_tokens": 7},
        }
        if self.format == "json":
            write_line(json.dumps(event))
        elif self.format == "text":
            write_line(text)
        self.emit(event)

    def finish(self, text: str | None = None) -> int:
        """The closing assistant message and a successful result."""
        text = text if text is not None else f"done: {self.prompt[:60]}"
        self.say("msg_fake2", [{"type": "text", "text": text}])
        self.result(text)
        return 0


def hang() -> int:
    while True:
        signal.pause()


def succeed(agent: Agent, arg: str | None) -> int:
    agent.init()
    agent.work()
    return agent.finish()


def fail(agent: Agent, arg: str | None) -> int:
    agent.init()
    agent.work()
    agent.result("the fake agent failed as told", "error_during_execution", is_error=True)
    return 1


def fail_as(agent: Agent, arg: str | None) -> int:
    agent.session_id = arg or ""
    return fail(agent, arg)


def lie(agent: Agent, arg: str | None) -> int:
    agent.init()
    agent.work()
    agent.result(f"done: {agent.prompt[:60]}", "success", is_error=True)
    return 0


def hang_mode(agent: Agent, arg: str | None) -> int:
    agent.init()
    return hang()


def crash(agent: Agent, arg: str | None) -> int:
    agent.init()
    agent.say("msg_fake1", [{"type": "text", "text": "about to crash"}])
    os.kill(os.getpid(), signal.SIGKILL)
    return hang()  # not reached


def huge(agent: Agent, arg: str | None) -> int:
    size = int(arg) if arg else 300_000
    line = "0123456789abcdefghijklmnopqrstuvwxyz-fake-agent-huge-output\n"
    text = (line * (size // len(line) + 1))[:size]
    agent.init()
    agent.work()
    return agent.finish(text)


def sleep(agent: Agent, arg: str | None) -> int:
    agent.init()
    time.sleep(float(arg or "1"))
    agent.work()
    return agent.finish()


def silent(agent: Agent, arg: str | None) -> int:
    return 0


def spawn_child(agent: Agent, arg: str | None) -> int:
    agent.init()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL
    )
    path = os.environ.get("FAKE_AGENT_CHILD_PID_FILE")
    if path:  # write then rename, so a reader never sees a partial pid
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(str(child.pid))
        os.replace(path + ".tmp", path)
    return hang()


def ratelimit(agent: Agent, arg: str | None) -> int:
    agent.init()
    agent.api_retry(1)
    agent.api_retry(2)
    return 1


def limit(agent: Agent, arg: str | None) -> int:
    if "--resume" in agent.args.options:
        return succeed(agent, None)
    agent.init()
    agent.api_retry(1)
    agent.api_retry(2)
    reset = int(time.time() + float(arg or 5))
    agent.result(f"Claude AI usage limit reached|{reset}")
    return 0


def cli(agent: Agent, arg: str | None) -> int:
    agent.init()
    argv = [os.environ["CO_BIN"], *(arg or "").split("|")]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    agent.say("msg_fake1", [{"type": "text", "text": done.stdout}])
    if done.returncode != 0:
        error = f"exit {done.returncode}: {done.stderr.strip()}"
        agent.say("msg_fake1b", [{"type": "text", "text": error}])
    return agent.finish()


def ignore_term(agent: Agent, arg: str | None) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    agent.init()
    return hang()


def answers(agent: Agent, arg: str | None) -> int:
    """Answer with the next file of directory ARG (1, 2, … in name order; a file named
    ``taken`` counts the answers given), so a resumed session can answer differently."""
    folder = arg or ""
    taken_file = os.path.join(folder, "taken")
    taken = 0
    if os.path.exists(taken_file):
        with open(taken_file, encoding="utf-8") as f:
            taken = int(f.read() or 0)
    names = sorted(n for n in os.listdir(folder) if n != "taken")
    with open(taken_file, "w") as f:
        f.write(str(taken + 1))
    with open(os.path.join(folder, names[min(taken, len(names) - 1)]), encoding="utf-8") as f:
        text = f.read()
    if text.strip() in MODES:  # an answer that is a mode's name: behave so (hang, crash…)
        return MODES[text.strip()](agent, None)
    agent.init()
    return agent.finish(text)


MODES = {
    "succeed": succeed,
    "answers": answers,
    "fail": fail,
    "fail-as": fail_as,
    "lie": lie,
    "hang": hang_mode,
    "crash": crash,
    "huge": huge,
    "sleep": sleep,
    "silent": silent,
    "spawn-child": spawn_child,
    "ratelimit": ratelimit,
    "limit": limit,
    "cli": cli,
    "ignore-term": ignore_term,
}


def on_signal(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # silently, like a process killed by the signal's default action


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    args = parse_args(argv)
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    record(argv, prompt)
    mode, arg = choose_mode(prompt)
    run = MODES.get(mode)
    if run is None:
        print(f"fake_agent: unknown mode {mode!r}", file=sys.stderr)
        return 2
    try:
        return run(Agent(args, prompt), arg)
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
