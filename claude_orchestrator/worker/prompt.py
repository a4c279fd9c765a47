"""Prompt templates: ``{{placeholder}}`` markdown, checked when loaded, rendered in one pass.

A template is a shipped file in ``claude_orchestrator/templates/`` or a project's own copy in
``.claude-orchestrator/templates/``, which wins. Each template name has a fixed set of allowed
placeholders (``TEMPLATE_FIELDS``); a placeholder outside that set is an error when the file is
loaded, naming the file and the line. Rendering replaces every placeholder of the original text
at once, so a value that itself contains ``{{title}}`` is never expanded again.

Syntax: ``{{name}}`` or ``{{ name }}``, names ``[a-z_][a-z0-9_]*``; any other ``{{`` is text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from claude_orchestrator.conf.layout import state_dir_of
from claude_orchestrator.conf.textfile import read_text
from claude_orchestrator.errors import ConfigError

PLACEHOLDER = re.compile(r"\{\{[ \t]*([a-z_][a-z0-9_]*)[ \t]*\}\}")

IDENTITY_FIELDS = frozenset({"worker_name", "role", "instance_id", "team", "work_dir"})
TASK_FIELDS = frozenset({"task_id", "title", "description", "priority", "attempt", "retry_note"})
#: the seed's names of a message's fields, then the earlier names kept as aliases:
#: ``body`` = ``content``, ``sender`` = ``from`` (an id or ``operator@<host>``),
#: ``message_type`` = ``type``, ``message_id`` = ``id``
SEED_MESSAGE_FIELDS = frozenset(
    {"content", "from_name", "from_role", "from_instance", "type", "created_at"}
)
MESSAGE_FIELDS = SEED_MESSAGE_FIELDS | {"sender", "message_type", "body", "message_id"}
#: a chain's plan task (docs/pipelines.md)
PLAN_FIELDS = frozenset({"chain_id", "goal", "max_items"})
#: a chain's other stages: where the task stands in its chain (worker/stagevalues.py)
STAGE_FIELDS = frozenset(
    {"chain_id", "goal", "link", "item", "item_title", "criteria", "round", "feedback"}
) | frozenset({"checks", "build_result"})
STAGE_TEMPLATES = ("worker-build.md", "worker-verify.md", "worker-review.md", "worker-accept.md")

TEMPLATE_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "worker.md": IDENTITY_FIELDS | TASK_FIELDS,
        "message.md": IDENTITY_FIELDS | MESSAGE_FIELDS,
        "leader-decompose.md": IDENTITY_FIELDS | TASK_FIELDS | PLAN_FIELDS,
        **dict.fromkeys(STAGE_TEMPLATES, IDENTITY_FIELDS | TASK_FIELDS | STAGE_FIELDS),
    }
)

_SHIPPED_PACKAGE = "claude_orchestrator.templates"
_OVERRIDE_DIR = "templates"


class TemplateError(ConfigError):
    """A template is unknown, unreadable, uses an unknown placeholder, or lacks a value."""


@dataclass(frozen=True)
class Template:
    """One loaded template. ``source`` is the override file, or None for the shipped one."""

    name: str
    source: Path | None
    text: str
    fields: frozenset[str]

    @property
    def label(self) -> str:
        return _label(self.name, self.source)

    def render(self, values: Mapping[str, object]) -> str:
        """Replace each placeholder by ``str(value)`` (None gives ""), in one pass."""
        missing = sorted(self.fields - values.keys())
        if missing:
            raise TemplateError(f"{self.label}: no value for {_names(missing)}")
        return PLACEHOLDER.sub(lambda match: _text_of(values[match.group(1)]), self.text)


def _label(name: str, source: Path | None) -> str:
    """How errors name a template: its file, or "shipped template NAME"."""
    return str(source) if source is not None else f"shipped template {name}"


def _text_of(value: object) -> str:
    return "" if value is None else str(value)


def load_template(name: str, project_dir: Path | None, like: str | None = None) -> Template:
    """The project's override of ``name`` if it has one, else the shipped template.
    ``like``: a template of the project's own (``[pipeline.stage.X] template``) takes the
    placeholders of that shipped one and must exist in the project."""
    allowed = TEMPLATE_FIELDS.get(like or name)
    if allowed is None:
        raise TemplateError(f"unknown template {name!r}; known: {', '.join(TEMPLATE_FIELDS)}")
    source = _override_path(name, project_dir)
    if source is not None and source.exists():
        text = _read_override(source)
    else:
        source, text = None, _read_shipped(name)
    fields = _check_fields(_label(name, source), name, text, allowed)
    return Template(name=name, source=source, text=text, fields=fields)


def _override_path(name: str, project_dir: Path | None) -> Path | None:
    if project_dir is None:
        return None
    return state_dir_of(project_dir) / _OVERRIDE_DIR / name


def _read_override(path: Path) -> str:
    return read_text(path, "template", TemplateError)


def _read_shipped(name: str) -> str:
    """Read from the package's folder; importlib.resources (a megabyte of every worker's
    memory, docs/benchmarks.md) only for a package that is not files on disk (a zip)."""
    from claude_orchestrator import templates

    if templates.__file__ is not None:
        try:
            return (Path(templates.__file__).parent / name).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            pass
    from importlib import resources

    return resources.files(_SHIPPED_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _check_fields(label: str, name: str, text: str, allowed: frozenset[str]) -> frozenset[str]:
    """The placeholders ``text`` uses; the first one not in ``allowed`` is an error."""
    used: set[str] = set()
    for line_number, field in _placeholders(text):
        if field not in allowed:
            raise TemplateError(
                f"{label}:{line_number}: unknown placeholder {{{{{field}}}}}; "
                f"allowed in {name}: {_names(sorted(allowed))}"
            )
        used.add(field)
    return frozenset(used)


def _placeholders(text: str) -> Iterator[tuple[int, str]]:
    """Each placeholder with the 1-based line it starts on."""
    for match in PLACEHOLDER.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1)


def _names(fields: list[str]) -> str:
    return ", ".join(fields)
