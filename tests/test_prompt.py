"""Prompt templates (worker/prompt.py): loading, checking and one-pass rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claude_orchestrator.errors import ConfigError
from claude_orchestrator.worker.prompt import (
    MESSAGE_FIELDS,
    TASK_FIELDS,
    TEMPLATE_FIELDS,
    Template,
    TemplateError,
    load_template,
)
from claude_orchestrator.worker.runs import message_values


def template(text: str, name: str = "worker.md") -> Template:
    fields = frozenset(re.findall(r"\{\{ *([a-z_][a-z0-9_]*) *\}\}", text))
    return Template(name=name, source=None, text=text, fields=fields)


def write_override(project: Path, name: str, text: str) -> Path:
    path = project / ".claude-orchestrator" / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def full_values(name: str) -> dict[str, object]:
    return {field: f"<{field}>" for field in TEMPLATE_FIELDS[name]}


def test_render_replaces_each_placeholder() -> None:
    text = template("# {{title}} ({{ priority }})\n{{title}}").render(
        {"title": "Fix it", "priority": 2}
    )
    assert text == "# Fix it (2)\nFix it"


def test_render_turns_none_into_nothing() -> None:
    assert template("[{{retry_note}}]").render({"retry_note": None}) == "[]"


def test_values_are_never_re_expanded() -> None:
    rendered = template("{{title}} / {{description}}").render(
        {"title": "{{description}}", "description": "{{ title }} {{worker_name}}"}
    )
    assert rendered == "{{description}} / {{ title }} {{worker_name}}"


def test_extra_values_are_ignored() -> None:
    assert template("{{title}}").render({"title": "a", "description": "b"}) == "a"


def test_a_missing_value_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match=r"no value for description, title"):
        template("{{title}} {{description}} {{role}}").render({"role": "dev"})


def test_braces_that_are_not_placeholders_are_text() -> None:
    text = "{{ Title }} {{1}} {{}} {{title-x}} {x} {{ title"
    assert template(text).render({}) == text


def test_template_error_is_a_config_error() -> None:
    assert issubclass(TemplateError, ConfigError)


@pytest.mark.parametrize("name", sorted(TEMPLATE_FIELDS))
def test_shipped_templates_load_and_render_with_a_full_set_of_values(name: str) -> None:
    loaded = load_template(name, None)
    assert loaded.source is None
    assert loaded.fields <= TEMPLATE_FIELDS[name]
    rendered = loaded.render(full_values(name))
    assert "{{" not in rendered
    for field in loaded.fields:
        assert f"<{field}>" in rendered


def test_shipped_worker_template_covers_identity_task_and_reporting() -> None:
    loaded = load_template("worker.md", None)
    assert loaded.fields == TEMPLATE_FIELDS["worker.md"]
    for command in ("task-block --reason", "task-fail --reason", "push-task", "send-message"):
        assert command in loaded.text
    for command in ("request-help", "set-context", "get-context", "CO_TASK_ID"):
        assert command in loaded.text


def test_shipped_message_template_uses_the_seeds_field_names() -> None:
    fields = load_template("message.md", None).fields
    assert {"from_name", "type", "content", "worker_name", "instance_id"} <= fields
    assert not fields & {"sender", "message_type", "body"}


#: a message as the inbox hands it to the worker (zk/inbox.py prints the seed's fields)
MESSAGE = {
    "id": "m-0000000003",
    "type": "help",
    "content": "Where is the schema?",
    "body": "Where is the schema?",
    "from": "jerry-1a2b3c4d",
    "from_instance": "jerry-1a2b3c4d",
    "from_name": "jerry",
    "from_role": "builder",
    "created_at": "2026-12-01T05:00:00Z",
    "sent_at": "2026-12-01T05:00:00Z",
}


def test_message_values_have_the_seeds_names_and_the_earlier_aliases() -> None:
    values = message_values(MESSAGE)
    assert values.keys() == MESSAGE_FIELDS
    assert (values["content"], values["body"]) == ("Where is the schema?",) * 2
    assert (values["from_name"], values["from_role"]) == ("jerry", "builder")
    assert (values["from_instance"], values["sender"]) == ("jerry-1a2b3c4d",) * 2
    assert (values["type"], values["message_type"], values["message_id"]) == (
        "help",
        "help",
        "m-0000000003",
    )
    assert values["created_at"] == "2026-12-01T05:00:00Z"


def test_message_values_of_a_record_from_before_the_seeds_fields() -> None:
    old = {"id": "m-0000000001", "type": "direct", "body": "hi", "from": "operator@host"}
    old["sent_at"] = "2026-01-01T00:00:00Z"
    values = message_values(old)
    assert (values["content"], values["from_name"]) == ("hi", "operator@host")
    assert (values["from_role"], values["created_at"]) == (None, "2026-01-01T00:00:00Z")


def test_override_may_use_the_seeds_placeholders_and_the_aliases(tmp_path: Path) -> None:
    text = "{{from_name}} ({{from_role}}, {{from_instance}}) {{type}}: {{content}} / {{body}}\n"
    write_override(tmp_path, "message.md", text + "{{sender}} {{message_type}} {{created_at}}\n")
    rendered = load_template("message.md", tmp_path).render(message_values(MESSAGE))
    assert rendered == (
        "jerry (builder, jerry-1a2b3c4d) help: Where is the schema? / Where is the schema?\n"
        "jerry-1a2b3c4d help 2026-12-01T05:00:00Z\n"
    )


def test_shipped_message_template_renders_a_message() -> None:
    identity = {f: f"<{f}>" for f in TEMPLATE_FIELDS["worker.md"] - TASK_FIELDS}
    rendered = load_template("message.md", None).render({**identity, **message_values(MESSAGE)})
    assert rendered.startswith("# Message from jerry (help)\n")
    assert "\nWhere is the schema?\n" in rendered


def test_project_without_override_gets_the_shipped_template(tmp_path: Path) -> None:
    assert load_template("worker.md", tmp_path).source is None


def test_override_wins_over_shipped(tmp_path: Path) -> None:
    path = write_override(tmp_path, "message.md", "From {{ sender }}: {{body}}\n")
    loaded = load_template("message.md", tmp_path)
    assert loaded.source == path
    assert loaded.fields == {"sender", "body"}
    assert loaded.render({"sender": "bob", "body": "hi"}) == "From bob: hi\n"
    assert load_template("worker.md", tmp_path).source is None


def test_unknown_placeholder_in_override_names_file_line_and_allowed(tmp_path: Path) -> None:
    path = write_override(tmp_path, "worker.md", "# {{title}}\n\nDo {{ descripton }} now\n")
    with pytest.raises(TemplateError) as caught:
        load_template("worker.md", tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: unknown placeholder {{{{descripton}}}}")
    assert all(field in message for field in TEMPLATE_FIELDS["worker.md"])


def test_a_field_of_another_template_is_unknown(tmp_path: Path) -> None:
    write_override(tmp_path, "message.md", "{{body}}\n{{title}}\n")
    with pytest.raises(TemplateError, match=r"message\.md:2: unknown placeholder \{\{title\}\}"):
        load_template("message.md", tmp_path)


def test_unreadable_override_is_a_template_error(tmp_path: Path) -> None:
    path = write_override(tmp_path, "worker.md", "")
    path.write_bytes(b"\xff\xfe{{title}}")
    with pytest.raises(TemplateError, match="not valid UTF-8"):
        load_template("worker.md", tmp_path)


def test_unknown_template_name_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"unknown template 'nope\.md'; known: worker\.md"):
        load_template("nope.md", None)
