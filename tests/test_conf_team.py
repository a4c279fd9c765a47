"""team.toml loading (conf/team.py), its line locator and the duration parser."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from claude_orchestrator.conf.duration import parse_duration
from claude_orchestrator.conf.locate import Locator, format_key
from claude_orchestrator.conf.team import (
    PRESET_NAMES,
    AgentConfig,
    TeamConfig,
    load_team,
    team_from_defaults,
)
from claude_orchestrator.errors import ConfigError

DESIGN_EXAMPLE = """\
[team]
name = "webapp"
# zookeeper = "zk1:2181,zk2:2181,zk3:2181"   # omitted: embedded local server
# auth = "env:CO_ZK_AUTH"                     # digest user:password from the environment
work_dir = "."
agent = "claude"

[agents.claude]            # presets exist for claude, codex, gemini, aider and shell
args = ["--permission-mode", "acceptEdits"]   # extra arguments
timeout = "30m"

[[worker]]
name = "jerry"
role = "developer"
work_dir = "services/api"
restart = "on-failure"     # always | on-failure | never
env = { PYTHONUNBUFFERED = "1" }

[[worker]]
name = "bob"
role = "tester"
replicas = 2               # bob-1, bob-2
"""


def write_team(directory: Path, text: str) -> Path:
    path = directory / "team.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(directory: Path, text: str) -> tuple[int, str]:
    """Load a bad team file; return the line number and the rest of the message."""
    path = write_team(directory, text)
    with pytest.raises(ConfigError) as caught:
        load_team(path)
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.*)", str(caught.value), re.DOTALL)
    assert match, f"message does not start with file:line: {caught.value}"
    return int(match.group(1)), match.group(2)


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h30m15s", 5415.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("10", 10.0),
        ("0", 0.0),
        (" 45s ", 45.0),
        (12, 12.0),
        (2.5, 2.5),
    ],
)
def test_duration_parses_accepted_forms(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "  ", "soon", "10 s", "5x", "1h 30m", "h", "1.s", "30M"])
def test_duration_rejects_garbage_listing_accepted_forms(value: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 90s, 30m, 2h"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["-5s", "-1", -1, -0.5])
def test_duration_rejects_negatives(value: str | int | float) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(value)


def test_duration_rejects_booleans_and_infinity() -> None:
    with pytest.raises(ValueError, match="boolean"):
        parse_duration(True)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(float("inf"))


# --- the line locator ------------------------------------------------------------------------


def test_format_key_shows_indices_and_quotes_odd_keys() -> None:
    assert format_key(("worker", 1, "wrk_dir")) == "worker[1].wrk_dir"
    assert format_key(("agents", "my agent", "env")) == 'agents."my agent".env'
    assert format_key(()) == ""


def test_locator_finds_keys_headers_and_falls_back() -> None:
    text = textwrap.dedent(
        """\
        title = "x"
        [team]
        name = "t"
        [[worker]]
        name = "a"
        [[worker]]
        role = "r"
        [worker.env]
        A = "1"
        [agents."my agent"]
        args = []
        """
    )
    locator = Locator(text)
    assert locator.line_of(("team", "name")) == 3
    assert locator.line_of(("team", "agent")) == 2  # missing key: its table header
    assert locator.line_of(("worker", 0, "name")) == 5
    assert locator.line_of(("worker", 1, "name")) == 6
    assert locator.line_of(("worker", 1, "env", "A")) == 9
    assert locator.line_of(("agents", "my agent", "args")) == 11
    assert locator.line_of(("nowhere",)) == 1


def test_locator_ignores_lines_inside_multiline_strings() -> None:
    text = 'note = """\n[team]\nname = 1\n"""\n[team]\nname = "t"\n'
    assert Locator(text).line_of(("team", "name")) == 6


def test_locator_handles_dotted_keys_and_inline_tables() -> None:
    text = 'team.name = "t"\n[[worker]]\nenv = { A = 1 }\n'
    locator = Locator(text)
    assert locator.line_of(("team", "name")) == 1
    assert locator.line_of(("worker", 0, "env", "A")) == 3


# --- bad team files --------------------------------------------------------------------------

BAD_FILES: list[tuple[str, str, str, int]] = [
    (
        "misspelt worker key",
        """\
        [team]
        name = "t"

        [[worker]]
        name = "a"

        [[worker]]
        name = "b"
        wrk_dir = "."
        """,
        "worker[1].wrk_dir: unknown key; did you mean 'work_dir'?",
        9,
    ),
    (
        "unknown key without a close match lists the valid ones",
        '[team]\nname = "t"\ncolour = "red"\n',
        "team.colour: unknown key; valid keys are name, zookeeper, auth, work_dir, agent",
        3,
    ),
    (
        "unknown top-level table",
        '[teams]\nname = "x"\n',
        "teams: unknown table; did you mean 'team'?",
        1,
    ),
    ("unknown top-level key", "\n\nverbose = true\n", "verbose: unknown key; valid keys are", 3),
    (
        "misspelt key in an inline agent table",
        '[agents]\nclaude = { tmeout = "1m" }\n',
        "agents.claude.tmeout: unknown key; did you mean 'timeout'?",
        2,
    ),
    (
        "restart policy outside its choices",
        '[[worker]]\nname = "a"\nrestart = "sometimes"\n',
        "worker[0].restart: 'sometimes' is not one of always, on-failure, never",
        3,
    ),
    ("TOML syntax error", '[team]\nname = "t"\nagent = \n', "invalid TOML: Invalid value", 3),
    ("string open at end of file", '[team]\nname = "t', "invalid TOML: Unterminated string", 2),
    ("newline in a string", '[team]\nname = "t\n', "invalid TOML: Illegal character", 2),
    ("TOML duplicate key", '[team]\nname = "a"\nname = "b"\n', "invalid TOML: Cannot overwrite", 3),
    (
        "duplicate worker names",
        '[[worker]]\nname = "a"\n\n[[worker]]\nname = "a"\n',
        "worker[1].name: duplicate worker name 'a' (first defined at line 2)",
        5,
    ),
    (
        "duplicate worker name after replica expansion",
        '[[worker]]\nname = "bob"\nreplicas = 2\n\n[[worker]]\nname = "bob-2"\n',
        "worker[1].name: duplicate worker name 'bob-2'",
        6,
    ),
    (
        "bad duration",
        '[agents.claude]\nargs = []\ntimeout = "soon"\n',
        "agents.claude.timeout: invalid duration 'soon': expected a duration like 90s, 30m",
        3,
    ),
    (
        "negative duration",
        "[agents.claude]\nidle_timeout = -3\n",
        "agents.claude.idle_timeout: duration -3 must not be negative",
        2,
    ),
    ("zero timeout", '[agents.claude]\ntimeout = "0s"\n', "must be longer than zero", 2),
    (
        "replicas of the wrong type",
        '[[worker]]\nname = "a"\nreplicas = "two"\n',
        "worker[0].replicas: expected an integer, got string",
        3,
    ),
    (
        "replicas as a boolean",
        '[[worker]]\nname = "a"\nreplicas = true\n',
        "worker[0].replicas: expected an integer, got boolean",
        3,
    ),
    (
        "zero replicas",
        '[[worker]]\nname = "a"\nreplicas = 0\n',
        "worker[0].replicas: must be at least 1, got 0",
        3,
    ),
    (
        "missing worker work_dir",
        '[[worker]]\nname = "a"\nwork_dir = "no/such/dir"\n',
        "worker[0].work_dir: directory '",
        3,
    ),
    ("missing team work_dir", '[team]\nwork_dir = "gone"\n', "does not exist", 2),
    ("work_dir that is a file", '[team]\nwork_dir = "team.toml"\n', "is not a directory", 2),
    (
        "worker name that is not a node name",
        '[[worker]]\nname = "a/b"\n',
        "worker[0].name: 'a/b' is not a valid name: use 1-64 letters",
        2,
    ),
    (
        "team name too long",
        f'[team]\nname = "{"x" * 65}"\n',
        "(names become ZooKeeper node names)",
        2,
    ),
    (
        "role that is not a node name",
        '[[worker]]\nname = "a"\nrole = ".hidden"\n',
        "worker[0].role",
        3,
    ),
    (
        "replica names longer than 64 characters",
        f'[[worker]]\nname = "{"x" * 62}"\nreplicas = 10\n',
        "worker[0].replicas: replica name",
        3,
    ),
    (
        "worker without a name",
        '[[worker]]\nrole = "r"\n',
        "worker[0].name: required key is missing",
        1,
    ),
    ("empty name", '[[worker]]\nname = "  "\n', "worker[0].name: must not be empty", 2),
    (
        "custom agent without a command",
        '[agents.mine]\nargs = ["-v"]\n',
        "agents.mine.command: required for an agent that is not a preset (claude, codex",
        1,
    ),
    (
        "worker naming an unknown agent",
        '[[worker]]\nname = "a"\nagent = "gpt"\n',
        "worker[0].agent: 'gpt' is not one of aider, claude, codex, gemini, shell",
        3,
    ),
    (
        "team naming an unknown agent",
        '[agents.mine]\ncommand = "mine"\n[team]\nagent = "yours"\n',
        "team.agent: 'yours' is not one of aider, claude, codex, gemini, mine, shell",
        4,
    ),
    (
        "auth that is not an env reference",
        '[team]\nauth = "admin:hunter2"\n',
        "team.auth: expected 'env:VARNAME'",
        2,
    ),
    (
        "env value that is not a string",
        '[[worker]]\nname = "a"\nenv = { DEBUG = 1 }\n',
        "worker[0].env.DEBUG: expected a string, got integer",
        3,
    ),
    (
        "env value in a sub-table",
        '[[worker]]\nname = "a"\n[worker.env]\nDEBUG = false\n',
        "worker[0].env.DEBUG: expected a string, got boolean",
        4,
    ),
    (
        "worker written as a single table",
        '[worker]\nname = "a"\n',
        "worker: expected an array of tables ([[worker]]), got table",
        1,
    ),
    ("team written as a value", 'team = "x"\n', "team: expected a table, got string", 1),
    (
        "args with a non-string item",
        '[agents.claude]\nargs = ["-v", 3]\n',
        "agents.claude.args: item 1: expected a string, got integer",
        2,
    ),
    (
        "empty command",
        "[agents.mine]\ncommand = []\n",
        "agents.mine.command: must name a program",
        2,
    ),
    (
        "command with unbalanced quotes",
        '[agents.mine]\ncommand = "run \'x"\n',
        "agents.mine.command: cannot split into words",
        2,
    ),
    ("empty zookeeper hosts", '[team]\nzookeeper = ""\n', "team.zookeeper: must not be empty", 2),
    (
        "zookeeper heap without a unit",
        '[team]\nzookeeper_heap = "512"\n',
        "team.zookeeper_heap: expected a size such as '512m' or '2g', got '512'",
        2,
    ),
    (
        "zookeeper heap given as a JVM flag",
        '[team]\nzookeeper_heap = "-Xmx512m"\n',
        "team.zookeeper_heap: expected a size such as '512m' or '2g'",
        2,
    ),
    (
        "zookeeper heap too small",
        '[team]\nzookeeper_heap = "64m"\n',
        "team.zookeeper_heap: must be between 128m and 64g, got '64m'",
        2,
    ),
    (
        "zookeeper heap as a number",
        "[team]\nzookeeper_heap = 512\n",
        "team.zookeeper_heap: expected a string, got integer",
        2,
    ),
    ("agent given as a value", 'agents = { claude = "x" }\n', "agents.claude: expected a table", 1),
]


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_load_team_rejects_bad_file(tmp_path: Path, text: str, expected: str, line: int) -> None:
    found_line, message = load_error(tmp_path, text)
    assert expected in message
    assert found_line == line


def test_load_team_never_echoes_an_inline_secret(tmp_path: Path) -> None:
    _, message = load_error(tmp_path, '[team]\nauth = "admin:hunter2"\n')
    assert "hunter2" not in message


def test_load_team_reports_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: cannot read team file"):
        load_team(path)


def test_load_team_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read team file"):
        load_team(tmp_path)  # a directory cannot be read as a file


def test_load_team_reports_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_bytes(b'[team]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_team(path)


# --- good team files -------------------------------------------------------------------------


def test_load_team_reads_design_example(tmp_path: Path) -> None:
    (tmp_path / "services" / "api").mkdir(parents=True)
    team = load_team(write_team(tmp_path, DESIGN_EXAMPLE))
    root = tmp_path.resolve()
    assert (team.name, team.root, team.path) == ("webapp", root, root / "team.toml")
    assert (team.zookeeper, team.auth, team.agent, team.work_dir) == (None, None, "claude", root)
    assert team.state_dir == root / ".claude-orchestrator"
    assert team.agents["claude"] == AgentConfig(
        name="claude", args=("--permission-mode", "acceptEdits"), timeout=1800.0
    )
    assert [w.name for w in team.workers] == ["jerry", "bob-1", "bob-2"]
    jerry = team.worker("jerry")
    assert jerry.work_dir == root / "services" / "api"
    assert (jerry.role, jerry.restart, dict(jerry.env)) == (
        "developer",
        "on-failure",
        {"PYTHONUNBUFFERED": "1"},
    )


def test_load_team_expands_replicas(tmp_path: Path) -> None:
    team = load_team(
        write_team(tmp_path, '[[worker]]\nname = "bob"\nrole = "tester"\nreplicas = 3\n')
    )
    assert [(w.name, w.role) for w in team.workers] == [
        ("bob-1", "tester"),
        ("bob-2", "tester"),
        ("bob-3", "tester"),
    ]


def test_load_team_keeps_plain_name_for_one_replica(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[[worker]]\nname = "solo"\nreplicas = 1\n'))
    assert [w.name for w in team.workers] == ["solo"]


def test_load_team_applies_defaults_to_empty_file(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, ""))
    root = tmp_path.resolve()
    assert (team.name, team.agent, team.work_dir, team.workers) == ("default", "claude", root, ())
    assert (team.zookeeper, team.auth, dict(team.agents)) == (None, None, {})


def test_load_team_worker_defaults_come_from_team(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    text = '[team]\nwork_dir = "shared"\nagent = "codex"\n[[worker]]\nname = "a"\n'
    worker = load_team(write_team(tmp_path, text)).worker("a")
    assert (worker.role, worker.agent, worker.restart) == ("worker", "codex", "on-failure")
    assert worker.work_dir == tmp_path.resolve() / "shared"
    assert dict(worker.env) == {}


def test_load_team_resolves_work_dir_against_team_file_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "api").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    write_team(project, '[[worker]]\nname = "a"\nwork_dir = "api"\n')
    monkeypatch.chdir(tmp_path / "elsewhere")
    team = load_team(Path("../project/team.toml"))
    assert team.worker("a").work_dir == (project / "api").resolve()
    assert team.root == project.resolve()


def test_load_team_worker_work_dir_is_relative_to_file_not_team_work_dir(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    text = '[team]\nwork_dir = "a"\n[[worker]]\nname = "w"\nwork_dir = "a/b"\n'
    assert (
        load_team(write_team(tmp_path, text)).worker("w").work_dir == (tmp_path / "a/b").resolve()
    )


def test_load_team_accepts_presets_and_custom_agents(tmp_path: Path) -> None:
    text = """\
    [agents.codex]
    idle_timeout = 90
    [agents.mine]
    command = "my-agent --fast 'two words'"
    env = { TOKEN_FILE = "/tmp/t" }
    [agents.listed]
    command = ["run", "it"]
    [[worker]]
    name = "a"
    agent = "mine"
    [[worker]]
    name = "b"
    agent = "gemini"
    """
    team = load_team(write_team(tmp_path, text))
    assert team.agents["codex"] == AgentConfig(name="codex", idle_timeout=90.0)
    assert team.agents["mine"].command == ("my-agent", "--fast", "two words")
    assert dict(team.agents["mine"].env) == {"TOKEN_FILE": "/tmp/t"}
    assert team.agents["listed"].command == ("run", "it")
    assert [w.agent for w in team.workers] == ["mine", "gemini"]
    assert PRESET_NAMES == ("claude", "codex", "gemini", "aider", "shell")


def test_load_team_accepts_auth_reference_and_zookeeper(tmp_path: Path) -> None:
    text = '[team]\nzookeeper = "zk1:2181,zk2:2181"\nauth = "env:MY_AUTH"\n'
    team = load_team(write_team(tmp_path, text))
    assert (team.zookeeper, team.auth) == ("zk1:2181,zk2:2181", "env:MY_AUTH")


def test_load_team_reads_zookeeper_heap_with_a_default(tmp_path: Path) -> None:
    assert load_team(write_team(tmp_path, "[team]\n")).zookeeper_heap == "512m"
    team = load_team(write_team(tmp_path, '[team]\nzookeeper_heap = "2G"\n'))
    assert team.zookeeper_heap == "2g"


def test_team_worker_lookup_lists_known_names(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[[worker]]\nname = "a"\n[[worker]]\nname = "b"\n'))
    with pytest.raises(ConfigError, match=r"no worker named 'c' .*known: a, b"):
        team.worker("c")


def test_team_from_defaults_has_no_file_and_no_workers(tmp_path: Path) -> None:
    team = team_from_defaults(tmp_path)
    assert isinstance(team, TeamConfig)
    assert (team.path, team.name, team.workers, team.agent) == (None, "default", (), "claude")
    assert team.root == team.work_dir == tmp_path.resolve()
    assert team.state_dir == tmp_path.resolve() / ".claude-orchestrator"


def test_team_config_is_immutable(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[[worker]]\nname = "a"\nenv = { A = "1" }\n'))
    with pytest.raises(AttributeError):
        team.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        team.worker("a").env["A"] = "2"  # type: ignore[index]
