"""team.toml's ``[pipeline]``: how a chain runs (DESIGN §8, issue 11), loaded strictly.

A chain is ``plan``, then per item the ``stages`` (build → verify → review by default), then
one ``accept`` for the goal. ``[pipeline]`` says which stages, the checks the orchestrator runs
itself after a build (argv lists: never a shell), the limits (rounds per item, items per plan,
a budget) and whether a plan waits for approval. ``[pipeline.roles]`` gives each stage the role
of the workers that take it; ``[pipeline.stage.NAME]`` an agent and a prompt template.

Every mistake is a ConfigError naming the file, the line and the key, like the rest of the file
(conf/team.py); unknown keys and stages come with the closest valid one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from claude_orchestrator.conf.names import NAME_RULE, is_valid_name, shown

if TYPE_CHECKING:  # the parsing machinery loads only when a file is read
    from claude_orchestrator.conf.schema import Section

PLAN_STAGE = "plan"  # the chain's first link: the planner decomposes the goal
ACCEPT_STAGE = "accept"  # its last: one acceptance of the whole goal
DEFAULT_STAGES = ("build", "verify", "review")
#: each stage's role (the seed's)
DEFAULT_ROLES: Mapping[str, str] = MappingProxyType(
    {
        PLAN_STAGE: "planner",
        "build": "builder",
        "verify": "verifier",
        "review": "reviewer",
        ACCEPT_STAGE: "accepter",
    }
)
DEFAULT_CHECK_TIMEOUT = 600.0  # "10m"
DEFAULT_MAX_ROUNDS = 3
MAX_ROUNDS_RANGE = (1, 20)
DEFAULT_MAX_ITEMS = 30
MAX_ITEMS_RANGE = (1, 100)

PIPELINE_KEYS = (
    "stages",
    "checks",
    "check_timeout",
    "approve_plan",
    "max_rounds",
    "max_items",
    "budget_usd",
    "roles",
    "stage",
)
STAGE_KEYS = ("agent", "template")

_NONE: Mapping[str, str] = MappingProxyType({})
_EXAMPLE_CHECK = ("make", "test")


class PipelineConfig(NamedTuple):
    """``[pipeline]``, ``[pipeline.roles]`` and ``[pipeline.stage.NAME]`` of a team file; the
    defaults are a team's without the section."""

    #: per item, in order; neither ``plan`` nor ``accept`` (the chain adds those)
    stages: tuple[str, ...] = DEFAULT_STAGES
    #: stage -> role: the seed's for plan, build, verify, review and accept, as the file
    #: overrides them, plus any stage of ``stages`` the file gives a role
    roles: Mapping[str, str] = DEFAULT_ROLES
    #: argv lists the orchestrator runs after a build, in order (no shell)
    checks: tuple[tuple[str, ...], ...] = ()
    check_timeout: float = DEFAULT_CHECK_TIMEOUT  # seconds, per check
    approve_plan: bool = False  # a plan waits for ``approve`` before its stages run
    max_rounds: int = DEFAULT_MAX_ROUNDS  # build rounds per item
    max_items: int = DEFAULT_MAX_ITEMS  # items in a plan's graph
    budget_usd: float | None = None  # per chain; None: no budget
    #: stage -> agent (a preset or an ``[agents.NAME]``), for the stages that name one
    stage_agents: Mapping[str, str] = _NONE
    #: stage -> template file name (e.g. "worker-review.md"), for the stages that name one
    stage_templates: Mapping[str, str] = _NONE


DEFAULT_PIPELINE = PipelineConfig()


def read_pipeline(top: Section, known_agents: Sequence[str]) -> PipelineConfig:
    """The ``[pipeline]`` table of ``top`` (the file), every key checked; ``known_agents``:
    the names a stage's ``agent`` may take (the presets and the file's ``[agents.NAME]``)."""
    table = top.table("pipeline", PIPELINE_KEYS)
    stages = _stages(table)
    stage_agents, stage_templates = _stage_tables(table, stages, known_agents)
    return PipelineConfig(
        stages=stages,
        roles=_roles(table, stages),
        checks=_checks(table),
        check_timeout=table.duration_or("check_timeout", DEFAULT_CHECK_TIMEOUT),
        approve_plan=table.boolean("approve_plan", default=False),
        max_rounds=_bounded(table, "max_rounds", DEFAULT_MAX_ROUNDS, MAX_ROUNDS_RANGE),
        max_items=_bounded(table, "max_items", DEFAULT_MAX_ITEMS, MAX_ITEMS_RANGE),
        budget_usd=table.positive_number("budget_usd"),
        stage_agents=stage_agents,
        stage_templates=stage_templates,
    )


def _bounded(table: Section, key: str, default: int, bounds: tuple[int, int]) -> int:
    return table.integer(key, default=default, minimum=bounds[0], maximum=bounds[1])


def _stages(table: Section) -> tuple[str, ...]:
    """``stages``: one or more distinct stage names, neither ``plan`` nor ``accept``."""
    if "stages" not in table.data:
        return DEFAULT_STAGES
    stages = table.strings("stages")
    if not stages:
        raise table.error(
            "stages", f"give at least one stage (the default is {_array(DEFAULT_STAGES)})"
        )
    first_at: dict[str, int] = {}
    for index, stage in enumerate(stages):
        if not is_valid_name(stage):
            raise table.error(
                "stages", f"item {index}: {shown(stage)} is not a valid stage name: {NAME_RULE}"
            )
        if stage in (PLAN_STAGE, ACCEPT_STAGE):
            raise table.error(
                "stages",
                f"item {index}: leave {stage!r} out: every chain has {PLAN_STAGE!r} before "
                f"its stages and {ACCEPT_STAGE!r} after them",
            )
        first = first_at.setdefault(stage, index)
        if first != index:
            raise table.error("stages", f"item {index}: duplicate stage {stage!r} (item {first})")
    return stages


def _roles(table: Section, stages: tuple[str, ...]) -> Mapping[str, str]:
    """``[pipeline.roles]``: stage -> role, over the seed's defaults. Its keys are the seed's
    stages and those of ``stages``; anything else is an unknown key."""
    keys = tuple(dict.fromkeys((PLAN_STAGE, *DEFAULT_STAGES, *stages, ACCEPT_STAGE)))
    section = table.table("roles", keys)
    roles: dict[str, str] = {}
    for stage in keys:
        if stage in section.data:
            roles[stage] = section.name(stage)
        elif stage in DEFAULT_ROLES:
            roles[stage] = DEFAULT_ROLES[stage]
    return MappingProxyType(roles)


def _stage_tables(
    table: Section, stages: tuple[str, ...], known_agents: Sequence[str]
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """``[pipeline.stage.NAME]`` for NAME among plan, ``stages`` and accept: its ``agent``
    (which must exist, like a worker's) and ``template`` (a file name)."""
    valid = (PLAN_STAGE, *stages, ACCEPT_STAGE)
    given = table.data.get("stage")
    if isinstance(given, dict):
        from claude_orchestrator.conf.schema import describe_unknown

        for name in given:
            if name not in valid:
                where = (*table.path, "stage", name)
                raise table.source.error(where, describe_unknown(name, valid, "stage"))
    agents: dict[str, str] = {}
    templates: dict[str, str] = {}
    for name, section in table.tables("stage", STAGE_KEYS).items():
        agent = section.optional_string("agent")
        if agent is not None:
            if agent not in known_agents:
                raise section.error("agent", f"{agent!r} is not one of {', '.join(known_agents)}")
            agents[name] = agent
        template = _file_name(section, "template")
        if template is not None:
            templates[name] = template
    return MappingProxyType(agents), MappingProxyType(templates)


def _file_name(section: Section, key: str) -> str | None:
    """A bare file name: no directory part, not ``.`` or ``..``, printable, no padding."""
    value = section.optional_string(key)
    if value is None:
        return None
    if (
        value in (".", "..")
        or "/" in value
        or "\\" in value
        or not value.isprintable()
        or value != value.strip()
        or len(value) > 255
    ):
        raise section.error(
            key,
            f"{shown(value)} is not a file name: give a template's file name, such as "
            "'worker-review.md' (no directory)",
        )
    return value


def _checks(table: Section) -> tuple[tuple[str, ...], ...]:
    """``checks``: an array of commands, each an array of words (argv: no shell, ever)."""
    value: Any = table.data.get("checks")
    if value is None:
        return ()
    if isinstance(value, str):
        raise table.error(
            "checks",
            "a string; checks run without a shell: give an array of commands, each an array "
            f"of words, such as [{_array(_words(value))}]",
        )
    if not isinstance(value, list):
        raise table.error(
            "checks",
            f"expected an array of commands, each an array of words, got {_type_name(value)}",
        )
    if len(value) > 1 and all(isinstance(item, str) and len(item.split()) == 1 for item in value):
        # ["make", "test"]: the words of one command, not an array of commands
        raise table.error(
            "checks",
            "expected an array of commands, each an array of words (no shell): "
            f"did you mean [{_array(value)}]?",
        )
    return tuple(_check(table, index, item) for index, item in enumerate(value))


def _check(table: Section, index: int, item: Any) -> tuple[str, ...]:
    if isinstance(item, str):
        raise table.error(
            "checks",
            f"item {index}: {shown(item)} is a string; checks run without a shell: split it "
            f"into an array of words, such as {_array(_words(item))}",
        )
    if not isinstance(item, list):
        raise table.error(
            "checks", f"item {index}: expected an array of words, got {_type_name(item)}"
        )
    if not item:
        raise table.error("checks", f"item {index}: an empty command: give its words")
    for position, word in enumerate(item):
        if not isinstance(word, str):
            raise table.error(
                "checks",
                f"item {index}, word {position}: expected a string, got {_type_name(word)}",
            )
        if not word:
            raise table.error("checks", f"item {index}, word {position}: must not be empty")
    return tuple(item)


def _type_name(value: object) -> str:
    from claude_orchestrator.conf.schema import toml_type_name

    return toml_type_name(value)


def _words(text: str) -> tuple[str, ...]:
    """``text`` split as a shell would, to show what a check should look like."""
    import shlex

    try:
        words = tuple(shlex.split(text))
    except ValueError:
        words = ()
    return words or _EXAMPLE_CHECK


def _array(words: Sequence[Any]) -> str:
    """``words`` written as a TOML array."""
    return "[" + ", ".join(json.dumps(word) for word in words) + "]"
