"""Session logs for people: rendering stream-json, finding and following files, `logs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from claude_orchestrator.cli.cmd_logs import Printer, logs
from claude_orchestrator.cli.main import cli
from claude_orchestrator.spawn.logview import LogTail, render, session_files
from claude_orchestrator.zk.chains import ChainStore, PlanOptions
from claude_orchestrator.zk.push import push
from claude_orchestrator.zk.team import Team
from tests.helpers import wait_until
from tests.test_textsafe import HOSTILE, HOSTILE_SPELLED, raw_controls

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
START = "# claude-orchestrator session start 2025-01-01T00:00:00Z cwd=/w argv=claude -p"
END = "# claude-orchestrator session end 2025-01-01T00:00:09Z exit 0 duration=9.00s"


def j(**event: Any) -> str:
    return json.dumps(event)


def assistant(*blocks: dict[str, Any], msg_id: str = "m1") -> str:
    return j(type="assistant", message={"id": msg_id, "content": list(blocks)})


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def tool(name: str, tool_input: Any, tool_id: str = "t1") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def write(path: Path, *lines: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def append(path: Path, data: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(data)


# -- render ----------------------------------------------------------------------------


def test_render_raw_gives_the_line_without_its_newline() -> None:
    line = assistant(text("hi")) + "\n"
    assert render(line, raw=True) == [line[:-1]]
    assert render("plain\r\n", raw=True) == ["plain"]


def test_render_keeps_our_marks_and_plain_text_as_they_are() -> None:
    assert render(START + "\n", raw=False) == [START]
    assert render("# claude-orchestrator stale result: ok", raw=False) == [
        "# claude-orchestrator stale result: ok"
    ]
    assert render("compiling… done\n", raw=False) == ["compiling… done"]
    assert render("", raw=False) == [""]
    assert render("42", raw=False) == ["42"]  # JSON, but not an event
    assert render("[1, 2]", raw=False) == ["[1, 2]"]


def test_render_system_init_shows_session_and_model() -> None:
    line = j(type="system", subtype="init", session_id="abc", model="opus", tools=[])
    assert render(line, raw=False) == ["session abc (opus)"]


def test_render_api_retry() -> None:
    line = j(type="system", subtype="api_retry", attempt=2, error_status=529, error="overloaded")
    assert render(line, raw=False) == ["retry 2: 529 overloaded"]


def test_render_assistant_text_gives_one_line_per_text_line() -> None:
    line = assistant(text("first\nsecond\n\nthird"), text("more"))
    assert render(line, raw=False) == ["first", "second", "third", "more"]


def test_render_tool_use_summarises_its_input() -> None:
    cases = {
        "Bash": (
            {"command": "pytest -q\n  tests/", "description": "run"},
            "→ Bash pytest -q tests/",
        ),
        "Read": ({"file_path": "/src/app.py"}, "→ Read /src/app.py"),
        "Grep": ({"pattern": "def main", "path": "src"}, "→ Grep def main"),
        "Other": ({"a": 1}, '→ Other {"a": 1}'),
        "Bare": ({}, "→ Bare"),
    }
    for name, (tool_input, expected) in cases.items():
        assert render(assistant(tool(name, tool_input)), raw=False) == [expected]


def test_render_tool_use_cuts_a_long_input_to_80_characters() -> None:
    [out] = render(assistant(tool("Write", {"content": "x" * 500})), raw=False)
    summary = out.removeprefix("→ Write ")
    assert len(summary) == 80 and summary.endswith("…")
    assert summary.startswith('{"content": "xxx')


def test_render_tool_results_and_unknown_types_print_nothing() -> None:
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "README.md"}
    assert render(j(type="user", message={"content": [result]}), raw=False) == []
    assert render(j(type="stream_event", event={}), raw=False) == []
    assert render(j(type="system", subtype="compact_boundary"), raw=False) == []
    assert render(j(no_type=True), raw=False) == []


def test_render_result_success_shows_turns_time_cost_and_text() -> None:
    line = j(
        type="result",
        subtype="success",
        is_error=False,
        result="all good\nreally " + "y" * 300,
        num_turns=3,
        duration_ms=12345,
        total_cost_usd=0.0456,
    )
    [out] = render(line, raw=False)
    head = "✓ done in 3 turns, 12.3s, $0.0456: all good really yyy"
    assert out.startswith(head)
    assert len(out.partition(": ")[2]) == 200 and out.endswith("…")


def test_render_result_error() -> None:
    line = j(type="result", subtype="error_max_turns", is_error=True, result="too long")
    assert render(line, raw=False) == ["✗ error_max_turns: too long"]
    flagged = j(type="result", subtype="success", is_error=True, result="API Error: 500")
    assert render(flagged, raw=False) == ["✗ success: API Error: 500"]
    bare = j(type="result", subtype="success", is_error=False)
    assert render(bare, raw=False) == ["✓ done: ?"]


BAD_LINES = [
    "{",
    '{"type": "assistant"',
    "[" * 100_000 + "]" * 100_000,
    "{" + '"a":{' * 50_000,
    j(type="assistant"),
    j(type="assistant", message=[]),
    j(type="assistant", message={"content": "bare string"}),
    j(type="assistant", message={"id": 5, "content": [1, None, [], {"type": "text", "text": 5}]}),
    j(type="assistant", message={"content": [{"type": "tool_use", "input": [1, {"x": None}]}]}),
    j(type="system", subtype="init"),
    j(type="system", subtype="api_retry", error={"type": "overloaded", "n": [1]}),
    j(type="result", num_turns="x", duration_ms=True, total_cost_usd=None, result=["a"]),
    '{"type": "result", "total_cost_usd": NaN, "num_turns": Infinity}',
    j(type=["assistant"]),
    "\ud800 lone surrogate",
    "\x00\x1b[31m",
    '{"type": "result", "num_turns": 1' + "0" * 400 + "}",
    '{"type": "result", "num_turns": 1' + "0" * 5000 + "}",  # beyond int parsing: not JSON
    '{"type": "assistant", "message": {"content": [{"type": "text", "text": "a\\ud800b"}]}}',
]


@pytest.mark.parametrize("line", BAD_LINES, ids=range(len(BAD_LINES)))
def test_render_never_raises_on_bad_input(line: str) -> None:
    for raw in (True, False):
        out = render(line, raw)
        assert isinstance(out, list) and all(isinstance(o, str) for o in out)


def test_render_bad_input_renders_sensibly() -> None:
    assert render("{", raw=False) == ["{"]
    assert render(BAD_LINES[6], raw=False) == ["bare string"]
    assert render(BAD_LINES[8], raw=False) == ['→ ? [1, {"x": null}]']
    assert render(BAD_LINES[9], raw=False) == ["session ? (?)"]
    assert render(BAD_LINES[12], raw=False) == ["✓ done: ?"]
    assert render(BAD_LINES[16], raw=False) == ["✓ done: ?"]
    assert render(BAD_LINES[17], raw=False) == [BAD_LINES[17]]
    assert render(BAD_LINES[18], raw=False) == ["a?b"]


def test_render_with_shared_memory_shows_each_block_of_a_message_once() -> None:
    snapshots = [
        assistant(text("Working")),
        assistant(text("Working"), tool("Bash", {"command": "ls"})),
        assistant(text("Working"), tool("Bash", {"command": "ls -la"})),  # same tool id
        assistant(text("Working"), msg_id="m2"),
    ]
    seen: dict[str, list[Any]] = {}
    out = [o for line in snapshots for o in render(line, False, seen)]
    assert out == ["Working", "→ Bash ls", "Working"]
    alone = [o for line in snapshots for o in render(line, False)]
    assert alone.count("Working") == 4


def test_render_of_the_fake_agents_output() -> None:
    env = {**os.environ, "FAKE_AGENT_MODE": "succeed"}
    argv = [sys.executable, str(FAKE_AGENT), "-p", "--output-format", "stream-json", "--", "hi"]
    output = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    seen: dict[str, list[Any]] = {}
    out = [o for line in output.splitlines() for o in render(line, False, seen)]
    assert out[0].startswith("session ") and out[0].endswith(" (claude-fake-1)")
    assert out[1:4] == ["Working on: hi", "→ Bash ls", "done: hi"]
    assert out[4] == "✓ done in 2 turns, 0.0s, $0.0123: done: hi"


def test_render_spells_out_control_characters_unless_raw() -> None:
    lines = [
        f"plain {HOSTILE}",
        f"{START} {HOSTILE}",
        assistant(text(f"said {HOSTILE}\nnext\tline"), tool("Bash", {"command": HOSTILE})),
        j(type="system", subtype="init", session_id=HOSTILE, model="m"),
        j(type="result", subtype="success", result=HOSTILE),
    ]
    shown = [out for line in lines for out in render(line, raw=False)]
    assert len(shown) == 8
    assert all(raw_controls(out, allowed="\t") == [] for out in shown), shown
    assert shown[0] == f"plain {HOSTILE_SPELLED}"
    said, _, rest = HOSTILE_SPELLED.partition("\\r")  # a text block's lines end at a CR too
    assert shown[2:5] == [f"said {said}", rest, "next\tline"]  # tab kept
    assert render(f"plain {HOSTILE}", raw=True) == [f"plain {HOSTILE}"]


# -- session_files ---------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / ".claude-orchestrator"


def session(state: Path, worker: str, name: str, *lines: str, mtime: float | None = None) -> Path:
    return write(state / "sessions" / worker / name, *lines, mtime=mtime)


def test_session_files_oldest_first_across_workers(state: Path) -> None:
    b = session(state, "bob", "t1.1.jsonl", mtime=3000)
    a = session(state, "al", "t2.1.log", mtime=1000)
    m = session(state, "al", "message-i1-m9.jsonl", mtime=2000)
    session(state, "al", "notes.txt", mtime=500)  # not a session log
    (state / "sessions" / "al" / "t3.1.jsonl.d").mkdir()
    (state / "sessions" / "stray-file").write_text("x")
    assert session_files(state, None, None) == [("al", a), ("al", m), ("bob", b)]


def test_session_files_filters_by_worker_and_task(state: Path) -> None:
    t1 = session(state, "bob", "t1.1.jsonl", mtime=1000)
    t1b = session(state, "bob", "t1.2.log", mtime=2000)
    t10 = session(state, "bob", "t10.1.jsonl", mtime=1500)
    al = session(state, "al", "t1.1.jsonl", mtime=3000)
    assert session_files(state, ["bob"], {"t1"}) == [("bob", t1), ("bob", t1b)]
    assert session_files(state, None, {"t1"}) == [("bob", t1), ("bob", t1b), ("al", al)]
    assert session_files(state, ["bob"], {"t1", "t10"}) == [("bob", t1), ("bob", t10), ("bob", t1b)]
    assert session_files(state, None, set()) == []
    assert session_files(state, ["ghost", "al"], None) == [("al", al)]
    assert session_files(state, ["ghost"], None) == []
    assert session_files(state, ["../sessions/bob", ".."], None) == []


def test_session_files_without_a_state_dir(state: Path) -> None:
    assert session_files(state, None, None) == []
    assert session_files(state, ["bob"], {"t1"}) == []


# -- LogTail ---------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, worker: str, text: str) -> None:
        with self.lock:
            self.lines.append((worker, text))

    def take(self) -> list[tuple[str, str]]:
        with self.lock:
            taken, self.lines = self.lines, []
        return taken


def tail(state: Path, sink: Sink, **kw: Any) -> LogTail:
    opts: dict[str, Any] = {"workers": None, "tasks": None, "lines": 20, "raw": False} | kw
    args = (opts["workers"], opts["tasks"], opts["lines"], opts["raw"])
    return LogTail(state, *args, sink, opts.get("admit"))


def test_logtail_backlog_shows_the_last_lines_of_each_file_oldest_first(state: Path) -> None:
    session(state, "bob", "t2.1.log", "b1", "b2", "b3", mtime=2000)
    session(state, "al", "t1.1.jsonl", START, assistant(text("a1")), END, mtime=1000)
    sink = Sink()
    assert tail(state, sink, lines=2).backlog()
    assert sink.take() == [("al", "a1"), ("al", END), ("bob", "b2"), ("bob", "b3")]


def test_logtail_backlog_with_zero_lines_shows_nothing_but_follows(state: Path) -> None:
    path = session(state, "bob", "t2.1.log", "old")
    sink = Sink()
    t = tail(state, sink, lines=0)
    assert not t.backlog() and sink.take() == []
    append(path, "new\n")
    assert t.poll()
    assert sink.take() == [("bob", "new")]


def test_logtail_poll_renders_only_complete_lines(state: Path) -> None:
    path = session(state, "bob", "t1.1.jsonl", START)
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    assert sink.take() == [("bob", START)]
    assert not t.poll()
    line = assistant(text("halfway there"))
    append(path, line[:20])
    assert not t.poll() and sink.take() == []
    append(path, line[20:] + "\n" + "plain tail without newline")
    assert t.poll()
    assert sink.take() == [("bob", "halfway there")]
    append(path, " ends here\n")
    assert t.poll()
    assert sink.take() == [("bob", "plain tail without newline ends here")]


def test_logtail_poll_splits_multibyte_characters_safely(state: Path) -> None:
    path = session(state, "bob", "t1.1.log")
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    data = "✓ fine\n".encode()
    with path.open("ab") as f:
        f.write(data[:1])
    assert not t.poll()
    with path.open("ab") as f:
        f.write(data[1:])
    assert t.poll()
    assert sink.take() == [("bob", "✓ fine")]


def test_logtail_poll_picks_up_new_files_and_new_worker_dirs(state: Path) -> None:
    session(state, "bob", "t1.1.log", "first")
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    sink.take()
    session(state, "bob", "t1.2.log", "second attempt", "more")
    session(state, "cy", "message-i1-m1.jsonl", START, assistant(text("hello")))
    assert t.poll()
    got = sink.take()
    assert sorted(got) == [
        ("bob", "more"),
        ("bob", "second attempt"),
        ("cy", START),
        ("cy", "hello"),
    ]
    assert not t.poll()


def test_logtail_follows_named_workers_and_tasks_only(state: Path) -> None:
    sink = Sink()
    t = tail(state, sink, workers=["ann"], tasks={"t7"})
    assert not t.backlog()
    session(state, "bob", "t7.1.log", "not bob")
    session(state, "ann", "t8.1.log", "not t8")
    session(state, "ann", "t7.1.log", "this one")
    assert t.poll()
    assert sink.take() == [("ann", "this one")]


def test_logtail_asks_about_each_new_session_of_another_task_once(state: Path) -> None:
    session(state, "ann", "t1.1.log", "chain work")
    session(state, "ann", "t5.1.log", "older, not asked about")
    asked: list[set[str]] = []

    def admit(task_ids: set[str]) -> set[str]:
        asked.append(task_ids)
        return task_ids & {"t2", "t3"}  # t2 and t3 joined the chain since

    sink = Sink()
    t = tail(state, sink, tasks={"t1"}, admit=admit)
    assert t.backlog() and sink.take() == [("ann", "chain work")]
    assert not t.poll() and asked == []  # the files that were there are passed over
    session(state, "ann", "t2.1.log", "round two")
    session(state, "bob", "t9.1.log", "another task")
    session(state, "bob", "message-i1-m1.jsonl", "a message session")
    assert t.poll()
    assert sink.take() == [("ann", "round two")]
    assert asked == [{"t2", "t9", "message-i1-m1"}]
    session(state, "ann", "t2.2.log", "its retry")  # t2 is in the set now: nothing to ask
    session(state, "bob", "t9.2.log", "still another")
    assert t.poll() and sink.take() == [("ann", "its retry")]
    assert asked[1:] == [{"t9"}]  # a new file of t9: asked once more, its old one never
    assert not t.poll() and len(asked) == 2


def test_logtail_raw_keeps_json_as_is(state: Path) -> None:
    line = assistant(text("hi"))
    session(state, "bob", "t1.1.jsonl", line)
    sink = Sink()
    tail(state, sink, raw=True).backlog()
    assert sink.take() == [("bob", line)]


def test_logtail_dedupes_repeated_snapshots_across_polls(state: Path) -> None:
    path = session(state, "bob", "t1.1.jsonl", assistant(text("Working")))
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    append(path, assistant(text("Working"), tool("Bash", {"command": "ls"})) + "\n")
    t.poll()
    assert sink.take() == [("bob", "Working"), ("bob", "→ Bash ls")]


def test_logtail_starts_again_when_a_file_is_truncated(state: Path) -> None:
    path = session(state, "bob", "t1.1.log", "one", "two")
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    sink.take()
    write(path, "new")
    assert t.poll()
    assert sink.take() == [("bob", "new")]


def test_logtail_survives_a_removed_file(state: Path) -> None:
    path = session(state, "bob", "t1.1.log", "one")
    sink = Sink()
    t = tail(state, sink)
    t.backlog()
    path.unlink()
    assert not t.poll()
    session(state, "bob", "t1.2.log", "two")
    assert t.poll()
    assert sink.take() == [("bob", "one"), ("bob", "two")]


def test_logtail_follow_runs_until_stopped(state: Path) -> None:
    sink = Sink()
    t = tail(state, sink)
    stop = threading.Event()
    runner = threading.Thread(target=t.follow, args=(stop, 0.01))
    runner.start()
    try:
        session(state, "bob", "t1.1.log", "live")
        wait_until(lambda: ("bob", "live") in sink.lines, what="the new session's line")
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()


# -- the logs command ------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setitem(cli.commands, "logs", logs)  # cli/main.py registers it lazily
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run(*args: str, color: bool = False, zk_hosts: str = "") -> Result:
    env = {"CO_TEAM_FILE": "", "CO_TEAM": "", "CO_INSTANCE_ID": "", "ZK_HOSTS": zk_hosts}
    if zk_hosts:
        env["CO_TEAM"] = "test"  # the team of conftest's ``team``
    result = CliRunner().invoke(cli, ["logs", *args], env=env, color=color)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def sample(project: Path) -> Path:
    state = project / ".claude-orchestrator"
    session(state, "jerry", "t1.1.jsonl", START, assistant(text("on it")), END, mtime=1000)
    session(state, "al", "t2.1.log", "plain output", mtime=2000)
    return state


def test_logs_prefixes_each_line_with_its_padded_worker(project: Path) -> None:
    sample(project)
    r = run()
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"jerry | {START}",
        "jerry | on it",
        f"jerry | {END}",
        "al    | plain output",
    ]
    assert "\x1b[" not in r.stdout


def test_logs_colours_each_worker_on_a_terminal(project: Path) -> None:
    sample(project)
    lines = run(color=True).stdout.splitlines()
    colour = {line.split("|")[0].strip().split("m")[0] for line in lines}
    assert len(colour) == 2 and all(c.startswith("\x1b[") for c in colour)
    assert lines[-1].startswith("\x1b[36mal   \x1b[0m | ")  # al sorts first: cyan


def test_logs_json_lines(project: Path) -> None:
    sample(project)
    r = run("--json", "-n", "1")
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"worker": "jerry", "line": END},
        {"worker": "al", "line": "plain output"},
    ]


def test_logs_filters_workers_task_and_lines(project: Path) -> None:
    state = sample(project)
    session(state, "jerry", "t3.1.log", "other task", mtime=3000)
    assert run("al").stdout == "al | plain output\n"
    assert run("jerry", "--task", "t3").stdout == "jerry | other task\n"
    assert run("-n", "1", "--task", "t1").stdout == f"jerry | {END}\n"


def test_logs_raw_prints_the_json(project: Path) -> None:
    sample(project)
    out = run("--raw", "jerry", "--task", "t1").stdout.splitlines()
    assert out[1] == "jerry | " + assistant(text("on it"))


def test_logs_with_nothing_to_show_prints_nothing(project: Path) -> None:
    for args in ((), ("ghost",), ("--task", "nope")):
        r = run(*args)
        assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    sample(project)
    r = run("ghost")
    assert (r.exit_code, r.stdout) == (0, "")


def test_logs_aligns_on_the_team_files_workers(project: Path) -> None:
    team = project / "team" / "team.toml"
    write(team, 'team.name = "t"', "[[worker]]", 'name = "longname"')
    session(team.parent / ".claude-orchestrator", "al", "t1.1.log", "hi")
    sample(project)  # the other state dir: not this team's
    r = run("--file", str(team))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "al       | hi\n"


def test_logs_follow_prints_new_lines_and_ctrl_c_exits_quietly(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = sample(project)
    stops: list[threading.Event] = []

    def follow(self: LogTail, stop: threading.Event, interval: float = 0.2) -> None:
        stops.append(stop)
        session(state, "bea", "t9.1.log", "fresh")
        self.poll()
        raise KeyboardInterrupt

    monkeypatch.setattr(LogTail, "follow", follow)
    r = run("-f", "-n", "0")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "bea   | fresh\n", "")
    assert len(stops) == 1
    assert run("-n", "0").stdout == ""  # without -f: no follow
    assert len(stops) == 1


def test_logs_stops_quietly_when_the_reader_goes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample(project)

    def closed(self: Printer, worker: str, text: str) -> None:
        raise BrokenPipeError

    monkeypatch.setattr(Printer, "__call__", closed)
    r = run()
    assert (r.exit_code, r.stderr) == (0, "")


EVIL = "evil\x1b]0;pwned\x07\x9b"  # a file name cannot hold a NUL
EVIL_SPELLED = r"evil\x1b]0;pwned\x07\x9b"


def hostile_logs(project: Path) -> None:
    state = project / ".claude-orchestrator"
    session(state, "jerry", "t1.1.jsonl", assistant(text(f"said {HOSTILE}")), mtime=1000)
    session(state, EVIL, "t2.1.log", f"\x1b[31mred\x1b[0m {HOSTILE}", mtime=2000)


def test_logs_spell_out_control_characters_in_lines_and_worker_names(project: Path) -> None:
    hostile_logs(project)
    said, _, _ = HOSTILE_SPELLED.partition("\\r")  # a CR ends a line of assistant text
    for color in (False, True):
        out = run(color=color).stdout
        body = "".join(line.split(" | ", 1)[1] for line in out.splitlines(keepends=True))
        assert raw_controls(body) == [], body  # on a terminal only the labels are coloured
        assert f"said {said}\n" in out
        assert f"\\x1b[31mred\\x1b[0m {HOSTILE_SPELLED}" in out
        assert f"{EVIL_SPELLED} | " in click.unstyle(out)


def test_logs_raw_prints_the_lines_as_they_are_even_to_a_pipe(project: Path) -> None:
    hostile_logs(project)
    out = run("--raw", "--task", "t2").stdout
    assert out == f"{EVIL_SPELLED} | \x1b[31mred\x1b[0m {HOSTILE}\n"


def test_logs_json_has_no_raw_control_characters(project: Path) -> None:
    hostile_logs(project)
    for args in ((), ("--raw",)):
        out = run("--json", *args).stdout
        assert raw_controls(out) == []
        records = [json.loads(line) for line in out.splitlines()]
        assert records[-1]["worker"] == EVIL
    assert records[-1]["line"] == f"\x1b[31mred\x1b[0m {HOSTILE}"  # --raw: the line itself


def test_logs_names_the_workers_whose_logs_are_on_other_hosts(project: Path) -> None:
    sample(project)
    (project / "team.toml").write_text(
        '[team]\nname = "t"\ndefault_host = "here"\n\n[[worker]]\nname = "jerry"\n\n'
        '[[worker]]\nname = "bob"\nhost = "far"\n'
    )
    r = run("--host", "here")
    assert r.exit_code == 0, r.stderr
    assert "bob (on far)" in r.stderr and "jerry" not in r.stderr
    assert r.stderr.startswith("note:") and "show-task" in r.stderr
    assert "jerry | on it" in r.stdout
    assert run("--host", "here", "jerry").stderr == ""  # asked for a local one: no note


# -- logs --chain ----------------------------------------------------------------------


def test_logs_chain_refuses_a_bad_id_before_connecting(project: Path) -> None:
    for args in (("--chain", "chain-1"), ("--chain", "task-0000000001")):
        r = run(*args)
        assert r.exit_code == 2 and "--chain:" in r.stderr and "chain-NNNNNNNNNN" in r.stderr
    r = run("--chain", "chain-0000000001", "--task", "t1")
    assert r.exit_code == 2 and "give one of them" in r.stderr


def chain_with_sessions(project: Path, team: Team) -> str:
    """A chain (its plan task ran on ann) and a task of no chain (run on bob)."""
    chain, plan = ChainStore(team.client, team.name).create(
        team.tasks, "goal", "op", time.time(), PlanOptions()
    )
    [other] = push(team.tasks, [{"title": "unrelated"}], "op", time.time())
    state = project / ".claude-orchestrator"
    session(state, "ann", f"{plan.id}.1.jsonl", START, assistant(text("planning")), mtime=1000)
    session(state, "bob", f"{other.id}.1.log", "not the chain", mtime=2000)
    return chain.id


def test_logs_chain_shows_the_sessions_of_the_chains_tasks(
    project: Path, team: Team, zk_hosts: str
) -> None:
    chain_id = chain_with_sessions(project, team)
    r = run("--chain", chain_id, zk_hosts=zk_hosts)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [f"ann | {START}", "ann | planning"]
    missing = run("--chain", "chain-0000000099", zk_hosts=zk_hosts)
    assert missing.exit_code == 1 and "no chain chain-0000000099" in missing.stderr
    assert run("--task", "nope").stdout == ""  # no --chain: no ZooKeeper asked (none given)


def test_logs_chain_follow_picks_up_the_tasks_of_a_new_round(
    project: Path, team: Team, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain_id = chain_with_sessions(project, team)
    state = project / ".claude-orchestrator"
    round_two = {"title": "build (round 2)", "chain_id": chain_id, "link": "build", "round": 2}

    def follow(self: LogTail, stop: threading.Event, interval: float = 0.2) -> None:
        build, other = push(team.tasks, [round_two, {"title": "other"}], "op", time.time())
        session(state, "ann", f"{build.id}.1.jsonl", assistant(text("round two")))
        session(state, "bob", f"{other.id}.1.log", "still not the chain")
        self.poll()
        raise KeyboardInterrupt

    monkeypatch.setattr(LogTail, "follow", follow)
    r = run("-f", "-n", "0", "--chain", chain_id, zk_hosts=zk_hosts)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "ann | round two\n", "")
