"""team.toml's git isolation (issue 12): ``[team] isolation`` and ``[git]``, loaded strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.conf.gitconf import DEFAULT_GIT
from claude_orchestrator.conf.team import load_team
from tests.test_conf_team import load_error, write_team


def test_a_team_without_it_shares_its_work_dirs(tmp_path: Path) -> None:
    team = load_team(write_team(tmp_path, '[team]\nname = "t"\n'))
    assert team.git == DEFAULT_GIT and not team.git.worktrees


def test_every_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    text = (
        '[team]\nname = "t"\nisolation = "worktree"\n\n'
        '[git]\ntarget = "release/2.x"\nrepo = "src"\nremote = "origin"\n'
        'secrets = ["*.secret", "vault/*"]\n'
    )
    git = load_team(write_team(tmp_path, text)).git
    assert git.worktrees and git.target == "release/2.x" and git.remote == "origin"
    assert git.secrets == ("*.secret", "vault/*")
    assert git.repo == (tmp_path / "src").resolve()
    assert load_team(write_team(tmp_path, '[git]\ntarget = "main"\n')).git.repo is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            '[team]\nisolation = "branch"\n',
            2,
            "team.isolation: 'branch' is not one of none, worktree",
        ),
        ('[git]\ntarget = "-delete"\n', 2, "git.target: '-delete' is not a branch or remote name"),
        ('[git]\ntarget = "a..b"\n', 2, "git.target: 'a..b' is not a branch"),
        ('[git]\nremote = "x y"\n', 2, "git.remote: 'x y' is not a branch or remote name"),
        ('[git]\ntraget = "main"\n', 2, "git.traget: unknown key; did you mean 'target'?"),
        ('[git]\nsecrets = ".env"\n', 2, "git.secrets: expected an array of strings"),
        ('[git]\nsecrets = ["  "]\n', 2, "git.secrets: a pattern is empty"),
    ],
)
def test_a_bad_value_names_the_file_line_and_key(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    found_line, found = load_error(tmp_path, text)
    assert found_line == line and found.startswith(message), found
