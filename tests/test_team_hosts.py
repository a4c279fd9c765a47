"""team.toml's hosts (conf/team.py, docs/hosts.md): ``[[worker]] host``, ``[team] default_host``,
``TeamConfig.on_host`` and the supervisor's share of the team (supervisor/launch.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from claude_orchestrator.conf.settings import Settings, resolve_settings
from claude_orchestrator.conf.team import WorkerSpec, load_team
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.supervisor.launch import checked_agents, supervisor_config
from tests.test_conf_team import load_error, write_team

TWO_HOSTS = """\
[team]
name = "t"

[[worker]]
name = "ann"
host = "build-1"

[[worker]]
name = "ben"
host = "build-2"
replicas = 2
"""


def names(workers: tuple[WorkerSpec, ...]) -> list[str]:
    return [w.name for w in workers]


# --- loading ---------------------------------------------------------------------------------


def test_a_worker_runs_on_the_host_it_names(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, TWO_HOSTS))
    assert [(w.name, w.host) for w in team.workers] == [
        ("ann", "build-1"),
        ("ben-1", "build-2"),  # replicas inherit the host
        ("ben-2", "build-2"),
    ]
    assert any(spec.host for spec in team.workers)
    assert team.default_host is None


def test_default_host_places_the_workers_without_their_own(tmp_path: Path) -> None:
    text = """\
    [team]
    default_host = "main.example.com"
    [[worker]]
    name = "ann"
    [[worker]]
    name = "ben"
    host = "build_2"
    replicas = 2
    """
    team = load_team(write_team(tmp_path, text))
    assert team.default_host == "main.example.com"
    assert [w.host for w in team.workers] == ["main.example.com", "build_2", "build_2"]
    assert names(team.on_host("main.example.com").workers) == ["ann"]
    assert names(team.on_host("build_2").workers) == ["ben-1", "ben-2"]
    assert team.on_host("elsewhere").workers == ()


def test_default_host_alone_places_every_worker(tmp_path: Path) -> None:
    text = '[team]\ndefault_host = "h1"\n[[worker]]\nname = "a"\n[[worker]]\nname = "b"\n'
    team = load_team(write_team(tmp_path, text))
    assert [w.host for w in team.workers] == ["h1", "h1"]
    assert team.on_host("h2").workers == ()


def test_a_team_that_names_no_host_runs_wholly_wherever_up_runs(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[[worker]]\nname = "a"\nreplicas = 2\n'))
    assert [w.host for w in team.workers] == [None, None]
    assert not any(spec.host for spec in team.workers)
    assert team.default_host is None
    for host in ("build-1", "anything", ""):
        assert team.on_host(host) == team


def test_on_host_keeps_everything_but_the_workers(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, TWO_HOSTS))
    mine = team.on_host("build-2")
    assert names(mine.workers) == ["ben-1", "ben-2"]
    assert mine._replace(workers=team.workers) == team


BAD_HOSTS: list[tuple[str, str, str, int]] = [
    (
        "a worker without a host next to one with a host",
        '[[worker]]\nname = "ann"\nhost = "h1"\n\n[[worker]]\nname = "ben"\n',
        "worker[1].host: worker 'ben' has no host and [team] default_host is not set; "
        "it would run on every host",
        5,  # its [[worker]] header
    ),
    (
        "the first worker has no host, a later one has",
        '[[worker]]\nname = "ann"\nrole = "r"\n[[worker]]\nname = "ben"\nhost = "h1"\n',
        "worker[0].host: worker 'ann' has no host and [team] default_host is not set",
        1,
    ),
    (
        "a host with a slash",
        '[[worker]]\nname = "a"\nhost = "build/1"\n',
        "worker[0].host: 'build/1' is not a valid host name: use 1-64 letters",
        3,
    ),
    (
        "a host with a space",
        '[[worker]]\nname = "a"\nhost = "build 1"\n',
        "worker[0].host: 'build 1' is not a valid host name",
        3,
    ),
    (
        "a host that is a ZooKeeper path component",
        '[[worker]]\nname = "a"\nhost = ".."\n',
        "worker[0].host: '..' is not a valid host name",
        3,
    ),
    (
        "a host longer than 64 characters",
        f'[[worker]]\nname = "a"\nhost = "{"h" * 65}"\n',
        "worker[0].host: 'hhhh",
        3,
    ),
    (
        "an empty host",
        '[[worker]]\nname = "a"\nhost = ""\n',
        "worker[0].host: must not be empty",
        3,
    ),
    (
        "a host that is not a string",
        '[[worker]]\nname = "a"\nhost = 1\n',
        "worker[0].host: expected a string, got integer",
        3,
    ),
    (
        "a bad default host",
        '[team]\nname = "t"\ndefault_host = "a:b"\n',
        "team.default_host: 'a:b' is not a valid host name",
        3,
    ),
    (
        "a misspelt host key",
        '[[worker]]\nname = "a"\nhots = "h1"\n',
        "worker[0].hots: unknown key; did you mean 'host'?",
        3,
    ),
    (
        "a misspelt default_host key",
        '[team]\ndefault_hots = "h1"\n',
        "team.default_hots: unknown key; did you mean 'default_host'?",
        2,
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [case[1:] for case in BAD_HOSTS],
    ids=[case[0] for case in BAD_HOSTS],
)
def test_load_team_refuses_bad_hosts(tmp_path: Path, text: str, expected: str, line: int) -> None:
    found_line, message = load_error(tmp_path, text)
    assert expected in message
    assert found_line == line


def test_a_host_of_64_characters_is_accepted(tmp_path: Path) -> None:
    host = "h" * 64
    team = load_team(write_team(tmp_path, f'[[worker]]\nname = "a"\nhost = "{host}"\n'))
    assert team.worker("a").host == host


# --- work dirs on other hosts ----------------------------------------------------------------

ELSEWHERE = """\
[team]
default_host = "here"

[[worker]]
name = "local"
work_dir = "present"

[[worker]]
name = "far"
host = "there"
work_dir = "only/there"
replicas = 2
"""


def test_another_hosts_work_dir_need_not_exist_at_load(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    team = load_team(write_team(tmp_path, ELSEWHERE))
    assert team.worker("far-1").work_dir == tmp_path.resolve() / "only" / "there"
    assert names(team.on_host("here").workers) == ["local"]


def test_on_host_refuses_its_own_workers_missing_work_dir(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    path = write_team(tmp_path, ELSEWHERE)
    team = load_team(path)
    with pytest.raises(ConfigError) as caught:
        team.on_host("there")
    message = str(caught.value)
    where = f"{path}:11: worker[1].work_dir: directory '{tmp_path.resolve() / 'only/there'}'"
    assert message.startswith(where), message
    assert "does not exist (worker 'far-1', host 'there')" in message


def test_on_host_refuses_a_work_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "there").write_text("")
    team = load_team(write_team(tmp_path, ELSEWHERE))
    with pytest.raises(ConfigError, match=r"worker\[1\]\.work_dir: '.*there' is not a directory"):
        team.on_host("there")


def test_on_host_accepts_a_work_dir_made_since_load(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    team = load_team(write_team(tmp_path, ELSEWHERE))
    (tmp_path / "only" / "there").mkdir(parents=True)
    assert names(team.on_host("there").workers) == ["far-1", "far-2"]


def test_a_placed_worker_inherits_a_team_work_dir_checked_at_load(tmp_path: Path) -> None:
    text = '[team]\nwork_dir = "gone"\ndefault_host = "h"\n[[worker]]\nname = "a"\n'
    found_line, message = load_error(tmp_path, text)
    assert (found_line, message.split(":")[0]) == (2, "team.work_dir")


def test_an_unplaced_workers_work_dir_is_still_checked_at_load(tmp_path: Path) -> None:
    found_line, message = load_error(tmp_path, '[[worker]]\nname = "a"\nwork_dir = "gone"\n')
    assert (found_line, message.split(":")[0]) == (3, "worker[0].work_dir")
    assert "does not exist" in message


# --- the supervisor's share (supervisor/launch.py) -------------------------------------------


def host_settings(tmp_path: Path, text: str, host: str) -> Settings:
    """Settings for ``text`` as the supervisor of ``host`` sees them (an external ZooKeeper
    that is never contacted; shell agents, insecure, so that no credential is made)."""
    header = '[team]\nname = "t"\nzookeeper = "127.0.0.1:1"\nagent = "shell"\ninsecure = true\n'
    path = write_team(tmp_path, header + text)
    env = {"CO_HOST": host, "PATH": os.environ.get("PATH", os.defpath)}
    return resolve_settings({"file": str(path)}, env, tmp_path, tmp_path)


HOSTS_ONLY = """\
[[worker]]
name = "ann"
host = "build-1"
[[worker]]
name = "ben"
host = "build-2"
work_dir = "nowhere"
"""


def test_a_supervisor_runs_only_its_hosts_workers(tmp_path: Path) -> None:
    settings = host_settings(tmp_path, HOSTS_ONLY, "build-1")
    config = supervisor_config(settings, (), True, 10.0)
    assert (config.host, names(config.team.workers)) == ("build-1", ["ann"])
    assert [name for name, _ in checked_agents(settings)] == ["ann"]
    assert checked_agents(settings, ("ben",)) == []  # another host's worker is not checked here


def test_a_supervisor_refuses_its_own_workers_missing_work_dir(tmp_path: Path) -> None:
    settings = host_settings(tmp_path, HOSTS_ONLY, "build-2")
    pattern = r":\d+: worker\[1\]\.work_dir: directory '.*nowhere' does not exist \(worker 'ben'"
    with pytest.raises(ConfigError, match=pattern):
        checked_agents(settings)
    with pytest.raises(ConfigError, match=re.escape(str(settings.team_file))):
        supervisor_config(settings, (), True, 10.0)


def test_a_single_host_team_runs_wholly_on_whichever_host_runs_up(tmp_path: Path) -> None:
    settings = host_settings(tmp_path, '[[worker]]\nname = "a"\nreplicas = 2\n', "any-host")
    config = supervisor_config(settings, (), True, 10.0)
    assert names(config.team.workers) == ["a-1", "a-2"]
    assert config.team == settings.team_config


def test_a_worker_started_by_hand_on_another_host_is_refused(tmp_path: Path) -> None:
    from claude_orchestrator.worker.build import WorkerFlags, worker_settings

    settings = host_settings(tmp_path, HOSTS_ONLY, "build-1")
    with pytest.raises(ConfigError, match=r"runs on host 'build-2'.*this host is 'build-1'"):
        worker_settings(settings, WorkerFlags("ben"), tmp_path)
    assert worker_settings(settings, WorkerFlags("ann"), tmp_path).host == "build-1"


def test_a_stage_agent_that_cannot_start_is_refused_before_up(tmp_path: Path) -> None:
    text = (
        '[agents.rev]\ncommand = ["no-such-reviewer-program"]\n\n'
        '[[worker]]\nname = "ann"\n\n[pipeline.stage.review]\nagent = "rev"\n'
    )
    settings = host_settings(tmp_path, text, "any-host")
    with pytest.raises(ConfigError, match=r"worker 'ann \(stage review\)'.*not found"):
        checked_agents(settings)
