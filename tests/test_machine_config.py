"""The global ``command`` and ``cache_dir`` that ``setup --command/--cache-dir`` write
(conf/machine.py): the command runs the ``claude`` agent unless the team file sets one."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.conf.layout import global_config_path
from claude_orchestrator.conf.machine import (
    agent_team,
    describe_machine,
    parse_command,
    read_machine_config,
)
from claude_orchestrator.conf.settings import resolve_settings
from claude_orchestrator.conf.team import load_team, team_from_defaults
from claude_orchestrator.conf.userconfig import write_config
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.worker.build import WorkerFlags, worker_settings
from tests.clihelp import Cli

CLAUDE_TABLE = '[team]\nname = "t"\n\n[agents.claude]\n'


def save_command(home: Path, command: object) -> Path:
    path = global_config_path(home)
    write_config(path, {"command": command})
    return path


def team_file(root: Path, text: str) -> Path:
    path = root / "team.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_command_splits_like_a_shell_without_one() -> None:
    assert parse_command("x", "claude --model 'opus 4' $HOME;") == (
        "claude",
        "--model",
        "opus 4",
        "$HOME;",
    )
    assert parse_command("x", ["my agent", "-v"]) == ("my agent", "-v")


@pytest.mark.parametrize(
    ("value", "says"),
    [("claude 'open", "cannot split"), ("  ", "the command is empty"), (7, "got int")],
)
def test_parse_command_refuses_what_is_not_a_command(value: object, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^--command: .*{says}"):
        parse_command("--command", value)


def test_no_global_file_leaves_the_team_as_it_is(tmp_path: Path) -> None:
    team = team_from_defaults(tmp_path)
    assert read_machine_config(tmp_path).command is None
    assert agent_team(team, tmp_path) is team


def test_global_command_runs_the_claude_agent_without_a_team_file(tmp_path: Path) -> None:
    save_command(tmp_path, "claude --fast")
    team = agent_team(team_from_defaults(tmp_path), tmp_path)
    assert team.agents["claude"].command == ("claude", "--fast")


def test_team_file_command_beats_the_global_command(tmp_path: Path) -> None:
    save_command(tmp_path, "claude --fast")
    team = load_team(team_file(tmp_path, CLAUDE_TABLE + 'command = ["team-claude"]\n'))
    assert agent_team(team, tmp_path).agents["claude"].command == ("team-claude",)


def test_global_command_keeps_the_team_files_other_agent_settings(tmp_path: Path) -> None:
    save_command(tmp_path, "claude --fast")
    team = load_team(team_file(tmp_path, CLAUDE_TABLE + 'args = ["--verbose"]\n'))
    claude = agent_team(team, tmp_path).agents["claude"]
    assert (claude.command, claude.args) == (("claude", "--fast"), ("--verbose",))


def test_global_command_is_only_claudes(tmp_path: Path) -> None:
    save_command(tmp_path, "claude --fast")
    team = load_team(team_file(tmp_path, '[team]\nname = "t"\nagent = "shell"\n'))
    assert "shell" not in agent_team(team, tmp_path).agents


def test_a_broken_global_command_names_the_file(tmp_path: Path) -> None:
    path = save_command(tmp_path, "claude 'open")
    with pytest.raises(ConfigError, match=f"^{path}: command: cannot split"):
        read_machine_config(tmp_path)


def test_the_worker_runs_the_global_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    save_command(tmp_path, "claude --fast")
    settings = resolve_settings({}, {"ZK_HOSTS": "127.0.0.1:2181"}, tmp_path, tmp_path)
    agent = worker_settings(settings, WorkerFlags(name="w1"), tmp_path).agent
    assert agent.command == ("claude", "--fast")
    assert agent.preset.name == "claude"  # still the claude preset: its flags, its parser


def test_describe_names_where_the_command_comes_from(tmp_path: Path) -> None:
    defaults = team_from_defaults(tmp_path)
    assert describe_machine(defaults, tmp_path) == (
        {"agent": "claude", "command": "claude", "cache_dir": None},
        {"command": "default (the claude preset)", "cache_dir": "none"},
    )
    path = global_config_path(tmp_path)
    write_config(path, {"command": "claude --fast", "cache_dir": "/var/cache/co"})
    values, sources = describe_machine(defaults, tmp_path)
    assert (values["command"], values["cache_dir"]) == ("claude --fast", "/var/cache/co")
    assert sources == {"command": f"{path}: command", "cache_dir": f"{path}: cache_dir"}
    team = load_team(team_file(tmp_path, CLAUDE_TABLE + 'command = ["c", "a b"]\n'))
    values, sources = describe_machine(team, tmp_path)
    assert (values["command"], sources["command"]) == (
        "c 'a b'",
        "team file ([agents.claude] command)",
    )


# --- the CLI: setup writes them, config shows them, up checks the command ----------------------


@pytest.fixture
def co(tmp_path: Path) -> Cli:
    return Cli("127.0.0.1:2181", tmp_path)  # nothing here connects


def test_setup_then_config_shows_command_and_cache_dir_with_sources(co: Cli) -> None:
    before = co.ok("config")
    assert (before["command"], before["sources"]["command"]) == (
        "claude",
        "default (the claude preset)",
    )
    co.ok("setup", "--command", "claude --fast", "--cache-dir", "cache")
    after = co.ok("config")
    path = global_config_path(co.cwd)
    assert (after["command"], after["sources"]["command"]) == ("claude --fast", f"{path}: command")
    assert after["cache_dir"] == str(co.cwd / "cache")  # made absolute when saved
    assert after["sources"]["cache_dir"] == f"{path}: cache_dir"


def test_setup_refuses_a_command_it_cannot_split_and_writes_nothing(co: Cli) -> None:
    r = co("setup", "--name", "tom", "--command", "claude 'open")
    assert r.code == 2 and r.err.startswith("error: --command: cannot split")
    assert r.out == "" and not global_config_path(co.cwd).exists()


def test_up_checks_the_global_command(co: Cli) -> None:
    (co.cwd / "team.toml").write_text('[team]\nname = "t"\n\n[[worker]]\nname = "w1"\n')
    co.ok("setup", "--command", "no-such-claude-3f9 --fast")
    r = co("up", "-d")
    assert r.code == 2, r.err
    assert "cannot execute 'no-such-claude-3f9'" in r.err
    assert not (co.cwd / ".claude-orchestrator" / "run").exists() or not any(
        (co.cwd / ".claude-orchestrator" / "run").iterdir()
    )
