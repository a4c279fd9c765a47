"""``config`` says where each value comes from: flag, environment, file or default."""

from __future__ import annotations

import os
from pathlib import Path

from claude_orchestrator.conf.settings import resolve_settings
from tests.clihelp import Cli


def test_sources_name_the_flag_the_variable_the_file_or_the_default(tmp_path: Path) -> None:
    (tmp_path / "team.toml").write_text('[team]\nname = "webapp"\nzookeeper = "zk1:2181"\n')
    flags = {"team": "other", "connect_timeout": "3s"}
    env = {"CO_INSTANCE_ID": "jerry-1a2b3c4d", "CO_ZK_AUTH": "u:p", "CO_SESSION_TIMEOUT": ""}
    src = resolve_settings(flags, env, tmp_path, tmp_path).sources
    assert src["team"] == "--team" and src["connect_timeout"] == "--connect-timeout"
    assert src["instance_id"] == "CO_INSTANCE_ID" and src["auth"] == "CO_ZK_AUTH"
    assert src["zookeeper"] == "team file" and src["team_file"] == "default (./team.toml)"
    assert src["session_timeout"] == "default"  # an empty variable counts as unset
    assert src["state_dir"] == "next to the team file"


def test_sources_without_any_setting_are_defaults(tmp_path: Path) -> None:
    src = resolve_settings({}, {}, tmp_path, tmp_path).sources
    assert src["team"] == "default" and src["zookeeper"] == "default"
    assert src["team_file"] == "none" and src["instance_id"] == "none (the operator)"
    assert src["auth"] == "none" and src["state_dir"] == "the current directory"


def test_config_prints_the_sources(tmp_path: Path) -> None:
    env_hosts = os.environ.get("ZK_HOSTS") or "127.0.0.1:2181"
    out = Cli(env_hosts, tmp_path).ok("config")
    assert out["sources"]["zookeeper"] == "ZK_HOSTS" and out["sources"]["team"] == "CO_TEAM"
    assert out["team"] == "test"  # the values themselves are unchanged
