"""team.toml's ``[pipeline]`` and ``[team] leader`` (conf/pipeline.py, issue 11), loaded strictly
from real files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from claude_orchestrator.conf.pipeline import DEFAULT_PIPELINE, PipelineConfig
from claude_orchestrator.conf.team import PRESET_NAMES, TeamConfig, load_team, team_from_defaults
from tests.clihelp import BIN
from tests.test_conf_team import load_error, write_team

SEED_ROLES = {
    "plan": "planner",
    "build": "builder",
    "verify": "verifier",
    "review": "reviewer",
    "accept": "accepter",
}


def pipeline_of(tmp_path: Path, text: str) -> PipelineConfig:
    return load_team(write_team(tmp_path, text)).pipeline


# --- defaults --------------------------------------------------------------------------------


def check_defaults(pipeline: PipelineConfig) -> None:
    assert pipeline.stages == ("build", "verify", "review")
    assert dict(pipeline.roles) == SEED_ROLES
    assert pipeline.checks == ()
    assert pipeline.check_timeout == 600.0
    assert pipeline.approve_plan is False
    assert pipeline.max_rounds == 3
    assert pipeline.max_items == 30
    assert pipeline.budget_usd is None
    assert dict(pipeline.stage_agents) == {}
    assert dict(pipeline.stage_templates) == {}


def test_a_team_without_the_section_gets_the_defaults(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[team]\nname = "t"\n'))
    check_defaults(team.pipeline)
    assert team.pipeline == DEFAULT_PIPELINE
    assert team.leader == "leader"


def test_an_empty_section_gets_the_defaults(tmp_path: Path) -> None:
    check_defaults(pipeline_of(tmp_path, "[pipeline]\n[pipeline.roles]\n"))


def test_a_team_from_defaults_has_the_default_pipeline(tmp_path: Path) -> None:
    team = team_from_defaults(tmp_path)
    check_defaults(team.pipeline)
    assert team.leader == "leader"


def test_a_team_config_built_without_the_new_fields_still_works(tmp_path: Path) -> None:
    team = TeamConfig(
        path=None,
        root=tmp_path,
        name="t",
        zookeeper=None,
        auth=None,
        work_dir=tmp_path,
        agent="claude",
        agents={},
        workers=(),
    )
    assert team.pipeline == DEFAULT_PIPELINE
    assert team.leader == "leader"


def test_the_mappings_are_read_only(tmp_path: Path) -> None:
    pipeline = pipeline_of(tmp_path, '[pipeline.roles]\nbuild = "dev"\n')
    with pytest.raises(TypeError):
        pipeline.roles["build"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        DEFAULT_PIPELINE.roles["plan"] = "other"  # type: ignore[index]


# --- every key -------------------------------------------------------------------------------

FULL = """\
[team]
name = "webapp"
leader = "boss"

[agents.local]
command = ["my-agent", "--fast"]

[pipeline]
stages = ["build", "test", "security"]
checks = [["make", "test"], ["ruff", "check", "."]]
check_timeout = "90s"
approve_plan = true
max_rounds = 5
max_items = 12
budget_usd = 2.5

[pipeline.roles]
plan = "architect"
test = "tester"
accept = "product-owner"

[pipeline.stage.plan]
agent = "local"
template = "my-plan.md"

[pipeline.stage.security]
agent = "codex"

[pipeline.stage.accept]
template = "worker-accept.md"
"""


def test_every_key_is_read(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, FULL))
    pipeline = team.pipeline
    assert team.leader == "boss"
    assert pipeline.stages == ("build", "test", "security")
    assert pipeline.checks == (("make", "test"), ("ruff", "check", "."))
    assert pipeline.check_timeout == 90.0
    assert pipeline.approve_plan is True
    assert pipeline.max_rounds == 5
    assert pipeline.max_items == 12
    assert pipeline.budget_usd == 2.5
    assert dict(pipeline.roles) == {
        "plan": "architect",
        "build": "builder",
        "verify": "verifier",
        "review": "reviewer",
        "test": "tester",
        "accept": "product-owner",
    }
    assert dict(pipeline.stage_agents) == {"plan": "local", "security": "codex"}
    assert dict(pipeline.stage_templates) == {"plan": "my-plan.md", "accept": "worker-accept.md"}


def test_a_review_by_codex(tmp_path: Path) -> None:
    assert "codex" in PRESET_NAMES
    pipeline = pipeline_of(tmp_path, '[pipeline.stage.review]\nagent = "codex"\n')
    assert dict(pipeline.stage_agents) == {"review": "codex"}
    assert pipeline.stages == ("build", "verify", "review")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('check_timeout = "30m"', 1800.0),
        ('check_timeout = "1h30m"', 5400.0),
        ("check_timeout = 45", 45.0),
    ],
)
def test_check_timeout_takes_durations(tmp_path: Path, text: str, expected: float) -> None:
    assert pipeline_of(tmp_path, f"[pipeline]\n{text}\n").check_timeout == expected


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("max_rounds = 1", "max_rounds", 1),
        ("max_rounds = 20", "max_rounds", 20),
        ("max_items = 1", "max_items", 1),
        ("max_items = 100", "max_items", 100),
        ("budget_usd = 3", "budget_usd", 3.0),
        ("budget_usd = 0.01", "budget_usd", 0.01),
        ("checks = []", "checks", ()),
        ('checks = [["pytest"]]', "checks", (("pytest",),)),
        ('stages = ["build"]', "stages", ("build",)),
    ],
)
def test_values_at_their_limits(tmp_path: Path, text: str, field: str, expected: object) -> None:
    assert getattr(pipeline_of(tmp_path, f"[pipeline]\n{text}\n"), field) == expected


def test_a_budget_given_as_an_integer_is_a_float(tmp_path: Path) -> None:
    budget = pipeline_of(tmp_path, "[pipeline]\nbudget_usd = 3\n").budget_usd
    assert isinstance(budget, float)


def test_inline_tables_work_too(tmp_path: Path) -> None:
    pipeline = pipeline_of(
        tmp_path,
        '[pipeline]\nroles = { build = "dev" }\nstage = { review = { agent = "gemini" } }\n',
    )
    assert pipeline.roles["build"] == "dev"
    assert dict(pipeline.stage_agents) == {"review": "gemini"}


def test_a_role_may_be_given_for_a_seed_stage_not_in_stages(tmp_path: Path) -> None:
    pipeline = pipeline_of(
        tmp_path, '[pipeline]\nstages = ["build"]\n\n[pipeline.roles]\nreview = "critic"\n'
    )
    assert pipeline.roles["review"] == "critic"


# --- errors ----------------------------------------------------------------------------------

BAD_PIPELINES: list[tuple[str, str, str, int]] = [
    (
        "a check given as a string",
        '[pipeline]\nchecks = [["make", "test"], "ruff check ."]\n',
        "pipeline.checks: item 1: 'ruff check .' is a string; checks run without a shell: "
        'split it into an array of words, such as ["ruff", "check", "."]',
        2,
    ),
    (
        "every check given as one string",
        '[pipeline]\n\nchecks = "make test"\n',
        "pipeline.checks: a string; checks run without a shell: give an array of commands, "
        'each an array of words, such as [["make", "test"]]',
        3,
    ),
    (
        "one command's words instead of an array of commands",
        '[pipeline]\nchecks = ["make", "test"]\n',
        "pipeline.checks: expected an array of commands, each an array of words (no shell): "
        'did you mean [["make", "test"]]?',
        2,
    ),
    (
        "an empty argv",
        '[pipeline]\nchecks = [["make", "test"], []]\n',
        "pipeline.checks: item 1: an empty command: give its words",
        2,
    ),
    (
        "an empty word in an argv",
        '[pipeline]\nchecks = [["make", ""]]\n',
        "pipeline.checks: item 0, word 1: must not be empty",
        2,
    ),
    (
        "a word that is not a string",
        '[pipeline]\nchecks = [["sleep", 3]]\n',
        "pipeline.checks: item 0, word 1: expected a string, got integer",
        2,
    ),
    (
        "a check that is a table",
        '[pipeline]\nchecks = [{ run = "make" }]\n',
        "pipeline.checks: item 0: expected an array of words, got table",
        2,
    ),
    (
        "checks that are a number",
        "[pipeline]\nchecks = 3\n",
        "pipeline.checks: expected an array of commands, each an array of words, got integer",
        2,
    ),
    (
        "stages containing accept",
        '[pipeline]\nstages = ["build", "accept"]\n',
        "pipeline.stages: item 1: leave 'accept' out: every chain has 'plan' before its stages "
        "and 'accept' after them",
        2,
    ),
    (
        "stages containing plan",
        '[pipeline]\nstages = ["plan", "build"]\n',
        "pipeline.stages: item 0: leave 'plan' out",
        2,
    ),
    (
        "a duplicate stage",
        '[pipeline]\nstages = ["build", "review", "build"]\n',
        "pipeline.stages: item 2: duplicate stage 'build' (item 0)",
        2,
    ),
    (
        "no stage at all",
        "[pipeline]\nstages = []\n",
        'pipeline.stages: give at least one stage (the default is ["build", "verify", "review"])',
        2,
    ),
    (
        "a stage that is not a name",
        '[pipeline]\nstages = ["build", "a/b"]\n',
        "pipeline.stages: item 1: 'a/b' is not a valid stage name: use 1-64 letters",
        2,
    ),
    (
        "a stage that is not a string",
        "[pipeline]\nstages = [1]\n",
        "pipeline.stages: item 0: expected a string, got integer",
        2,
    ),
    (
        "stages given as one string",
        '[pipeline]\nstages = "build"\n',
        "pipeline.stages: expected an array of strings, got string",
        2,
    ),
    (
        "an unknown role key",
        '[pipeline.roles]\nbuild = "dev"\nreviw = "critic"\n',
        "pipeline.roles.reviw: unknown key; did you mean 'review'?",
        3,
    ),
    (
        "a role key for a stage that is not one",
        '[pipeline]\nstages = ["build", "security"]\n\n[pipeline.roles]\nsecurty = "sec"\n',
        "pipeline.roles.securty: unknown key; did you mean 'security'?",
        5,
    ),
    (
        "a bad role name",
        '[pipeline.roles]\nreview = "code reviewer"\n',
        "pipeline.roles.review: 'code reviewer' is not a valid name: use 1-64 letters",
        2,
    ),
    (
        "a role that is not a string",
        "[pipeline.roles]\nreview = true\n",
        "pipeline.roles.review: expected a string, got boolean",
        2,
    ),
    (
        "roles that are not a table",
        '[pipeline]\nroles = "builder"\n',
        "pipeline.roles: expected a table, got string",
        2,
    ),
    (
        "a stage agent that does not exist",
        '[agents.local]\ncommand = "x"\n\n[pipeline.stage.review]\nagent = "codx"\n',
        "pipeline.stage.review.agent: 'codx' is not one of aider, claude, codex, gemini, "
        "local, shell",
        5,
    ),
    (
        "a stage table for a stage that is not one",
        '[pipeline.stage.reviw]\nagent = "codex"\n',
        "pipeline.stage.reviw: unknown stage; did you mean 'review'?",
        1,
    ),
    (
        "a stage table for a seed stage left out of stages",
        '[pipeline]\nstages = ["build"]\n\n[pipeline.stage.review]\nagent = "codex"\n',
        "pipeline.stage.review: unknown stage; valid keys are plan, build, accept",
        4,
    ),
    (
        "an unknown key in a stage table",
        '[pipeline.stage.review]\nagnet = "codex"\n',
        "pipeline.stage.review.agnet: unknown key; did you mean 'agent'?",
        2,
    ),
    (
        "a template with a directory",
        '[pipeline.stage.build]\ntemplate = "../worker-build.md"\n',
        "pipeline.stage.build.template: '../worker-build.md' is not a file name: give a "
        "template's file name, such as 'worker-review.md' (no directory)",
        2,
    ),
    (
        "a template that is empty",
        '[pipeline.stage.build]\ntemplate = ""\n',
        "pipeline.stage.build.template: must not be empty",
        2,
    ),
    (
        "max_rounds 0",
        "[pipeline]\nmax_rounds = 0\n",
        "pipeline.max_rounds: must be at least 1, got 0",
        2,
    ),
    (
        "max_rounds over 20",
        "[pipeline]\nmax_rounds = 21\n",
        "pipeline.max_rounds: must be at most 20, got 21",
        2,
    ),
    (
        "max_items over 100",
        "[pipeline]\n\nmax_items = 101\n",
        "pipeline.max_items: must be at most 100, got 101",
        3,
    ),
    (
        "max_items as a string",
        '[pipeline]\nmax_items = "30"\n',
        "pipeline.max_items: expected an integer, got string",
        2,
    ),
    (
        "a bad duration",
        '[pipeline]\ncheck_timeout = "soon"\n',
        "pipeline.check_timeout: invalid duration 'soon': expected a duration like 90s, 30m",
        2,
    ),
    (
        "a zero check_timeout",
        '[pipeline]\ncheck_timeout = "0s"\n',
        "pipeline.check_timeout: must be longer than zero",
        2,
    ),
    (
        "approve_plan that is not a boolean",
        '[pipeline]\napprove_plan = "yes"\n',
        "pipeline.approve_plan: expected true or false, got string",
        2,
    ),
    ("a zero budget", "[pipeline]\nbudget_usd = 0\n", "pipeline.budget_usd: must be a number", 2),
    (
        "a negative budget",
        "[pipeline]\nbudget_usd = -1.5\n",
        "pipeline.budget_usd: must be a number greater than zero, got -1.5",
        2,
    ),
    (
        "an infinite budget",
        "[pipeline]\nbudget_usd = inf\n",
        "pipeline.budget_usd: must be a number greater than zero, got inf",
        2,
    ),
    (
        "a budget as a string",
        '[pipeline]\nbudget_usd = "5"\n',
        "pipeline.budget_usd: expected a number, got string",
        2,
    ),
    (
        "a misspelt pipeline key",
        "[pipeline]\nmax_round = 3\n",
        "pipeline.max_round: unknown key; did you mean 'max_rounds'?",
        2,
    ),
    (
        "a misspelt pipeline table",
        "[pipline]\nmax_rounds = 3\n",
        "pipline: unknown table; did you mean 'pipeline'?",
        1,
    ),
    (
        "a leader that is not a name",
        '[team]\nname = "t"\nleader = "the boss"\n',
        "team.leader: 'the boss' is not a valid name: use 1-64 letters",
        3,
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [case[1:] for case in BAD_PIPELINES],
    ids=[case[0] for case in BAD_PIPELINES],
)
def test_bad_pipelines_are_refused(tmp_path: Path, text: str, expected: str, line: int) -> None:
    got_line, message = load_error(tmp_path, text)
    assert message.startswith(expected), message
    assert got_line == line, message


def test_the_cli_exits_2_on_a_bad_pipeline(tmp_path: Path) -> None:
    path = write_team(tmp_path, '[pipeline]\nchecks = ["make test"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "ZK_"))}
    argv = [BIN, "-f", str(path), "config"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {path}:2: pipeline.checks: item 0: 'make test' is a")
