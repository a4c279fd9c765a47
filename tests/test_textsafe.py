"""Terminal escapes (textsafe.py): no control character from task text reaches a terminal.

Also the human and JSON forms of the coordination commands (cli/output.py), through the CLI
against a real ZooKeeper. ``HOSTILE`` and ``raw_controls`` are shared with the dashboard and
logs tests.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from claude_orchestrator.cli.output import human
from claude_orchestrator.logtext import EscapingFormatter
from claude_orchestrator.textsafe import escape, json_text
from tests.clihelp import Cli

#: clear screen, retitle the window (OSC ... BEL), an 8-bit CSI asking the terminal to answer,
#: a carriage return that would overwrite the line, DEL, a NUL and a backspace
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b6n\rX\x7f\x00\b"
HOSTILE_SPELLED = r"\x1b[2J\x1b]0;pwned\x07\x9b6n\rX\x7f\x00\x08"
C0_C1 = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def raw_controls(text: str, allowed: str = "\n") -> list[str]:
    """The control characters in ``text`` other than ``allowed`` (a line break by default)."""
    return [c for c in _ANY_CONTROL.findall(text) if c not in allowed]


# -- escape ---------------------------------------------------------------------------------


def test_escape_spells_every_c0_and_c1_control_as_python_does() -> None:
    for char in C0_C1:
        assert escape(char, one_line=True) == repr(char)[1:-1]
    assert escape(HOSTILE) == HOSTILE_SPELLED


def test_escape_keeps_tab_and_newline_unless_one_line() -> None:
    assert escape("a\tb\nc") == "a\tb\nc"
    assert escape("a\tb\nc", one_line=True) == r"a\tb\nc"
    assert escape("a\r\nb") == "a\\r\nb"


def test_escape_leaves_printable_text_alone() -> None:
    text = "plain ascii, [red]markup[/], é ü 漢字 🚀 \\x1b backslashes, U+00A0:\xa0"
    assert escape(text) == text
    assert escape(text, one_line=True) == text


def test_json_text_has_no_raw_control_and_parses_to_the_same_value() -> None:
    obj = {"title": HOSTILE + C0_C1, "n": [1, None], "ü": "漢字"}
    text = json_text(obj)
    assert raw_controls(text, allowed="") == []
    assert json.loads(text) == obj
    assert "漢字" in text  # still readable, not \\u-escaped


def test_plain_json_dumps_would_leave_del_and_c1_raw() -> None:
    # Why json_text exists: ensure_ascii=False escapes only U+0000-U+001F.
    assert raw_controls(json.dumps(HOSTILE, ensure_ascii=False)) == ["\x9b", "\x7f"]


def test_escaping_formatter_spells_out_the_message_and_keeps_traceback_lines() -> None:
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        record = logging.LogRecord("w", logging.WARNING, "f", 1, "claimed %s", (HOSTILE,), None)
        record.exc_info = sys.exc_info()
    out = EscapingFormatter("%(levelname)s %(message)s").format(record)
    assert raw_controls(out) == []
    assert out.startswith(f"WARNING claimed {HOSTILE_SPELLED}\nTraceback")
    assert out.endswith(f"ValueError: {HOSTILE_SPELLED}")


# -- human output of the coordination commands ---------------------------------------------


def test_human_list_keeps_each_item_on_one_line() -> None:
    items = [{"id": "task-0000000001", "status": "pending", "title": f"a\nb\t{HOSTILE}"}]
    out = human(items)
    assert raw_controls(out) == [] and "\n" not in out
    assert out == f"task-0000000001  pending  a\\nb\\t{HOSTILE_SPELLED}"


def test_human_fields_indent_a_multi_line_value_under_its_first_line() -> None:
    out = human({"id": "task-1", "description": f"one\ntwo{HOSTILE}", "history": [{"n": "\x9b"}]})
    assert out.splitlines() == [
        "id           task-1",
        "description  one",
        f"             two{HOSTILE_SPELLED}",
        'history      [{"n": "\\u009b"}]',
    ]


def test_human_escapes_keys_and_bare_values() -> None:
    assert human({f"k{HOSTILE}": 1}) == f"k{HOSTILE_SPELLED}  1"
    assert human(["x\x1by"]) == r"x\x1by"
    assert human(f"a\n{HOSTILE}") == f"a\n{HOSTILE_SPELLED}"


# -- through the CLI ------------------------------------------------------------------------


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def test_list_and_show_task_for_people_show_no_control_characters(co: Cli) -> None:
    task = co.ok("push-task", "--title", f"t{HOSTILE}", "--description", f"d\n{HOSTILE}")
    listed = co("list-tasks", "--no-json")
    assert listed.code == 0 and raw_controls(listed.out) == []
    assert f"t{HOSTILE_SPELLED}" in listed.out
    shown = co("show-task", "--task-id", task["id"], "--no-json")
    assert shown.code == 0 and raw_controls(shown.out) == []
    lines = shown.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("description "))
    assert lines[at].endswith("  d")
    assert lines[at + 1] == " " * (len(lines[at]) - 1) + HOSTILE_SPELLED


def test_task_json_output_has_no_raw_control_and_keeps_the_text(co: Cli) -> None:
    task = co.ok("push-task", "--title", f"t{HOSTILE}", "--description", C0_C1)
    for args in (("list-tasks",), ("show-task", "--task-id", task["id"])):
        r = co(*args)
        assert r.code == 0 and raw_controls(r.out) == []
        record = r.json[0] if isinstance(r.json, list) else r.json
        assert (record["title"], record["description"]) == (f"t{HOSTILE}", C0_C1)


def test_results_messages_and_context_for_people_show_no_control_characters(co: Cli) -> None:
    iid = co.ok("register", "--name", "w1", "--role", "dev")["id"]
    task = co.ok("push-task", "--title", "t")
    co.ok("claim-task", CO_INSTANCE_ID=iid)
    co.ok("complete-task", "--task-id", task["id"], "--result", HOSTILE, CO_INSTANCE_ID=iid)
    co.ok("send-message", "--to-name", "w1", "-m", HOSTILE)
    co.ok("set-context", "--key", f"k{HOSTILE}", "--value", HOSTILE)
    outputs = [
        co("show-task", "--task-id", task["id"], "--no-json"),
        co("poll-messages", "--no-json", CO_INSTANCE_ID=iid),
        co("get-context", "--key", f"k{HOSTILE}", "--no-json"),
        co("list-context-keys", "--no-json"),
    ]
    for r in outputs:
        assert r.code == 0, r.err
        assert raw_controls(r.out) == [], r.out
        assert HOSTILE_SPELLED in r.out


def test_error_messages_spell_out_control_characters(co: Cli) -> None:
    r = co("show-task", "--task-id", f"task-{HOSTILE}")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: ") and raw_controls(r.err) == []
    assert f"task-{HOSTILE_SPELLED}" in r.err
