"""Settings precedence (conf/settings.py) and config.json files (conf/userconfig.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from kazoo.security import make_digest_acl_credential

from claude_orchestrator.conf.credentials import (
    agent_credential,
    digest_id,
    ensure_team_credential,
)
from claude_orchestrator.conf.settings import Settings, resolve_settings
from claude_orchestrator.conf.userconfig import (
    global_config_path,
    project_config_path,
    read_config,
    write_config,
)
from claude_orchestrator.errors import ConfigError

NO_FLAGS: dict[str, Any] = {
    "zookeeper": None,
    "instance_id": None,
    "file": None,
    "team": None,
    "json": None,
    "connect_timeout": None,
}


class World:
    """A project directory, a home directory, flags and an environment to resolve in."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path / "project"
        self.home = tmp_path / "home"
        self.cwd.mkdir()
        self.home.mkdir()
        self.flags: dict[str, Any] = dict(NO_FLAGS)
        self.env: dict[str, str] = {}

    def team_file(self, text: str, name: str = "team.toml") -> Path:
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def resolve(self) -> Settings:
        return resolve_settings(self.flags, self.env, self.cwd, self.home)

    def error(self) -> str:
        with pytest.raises(ConfigError) as caught:
            self.resolve()
        return str(caught.value)

    @property
    def state_dir(self) -> Path:
        return self.cwd.resolve() / ".claude-orchestrator"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# --- defaults ----------------------------------------------------------------------------------


def test_settings_defaults_without_any_source(world: World) -> None:
    settings = world.resolve()
    assert settings.team_file is None
    assert settings.team == "default"
    assert settings.team_config.name == "default"
    assert settings.zk_hosts == "127.0.0.1:2181"
    assert (settings.instance_id, settings.auth, settings.json_output) == (None, None, None)
    assert (settings.connect_timeout, settings.session_timeout) == (10.0, 10.0)
    assert settings.state_dir == world.state_dir


def test_settings_accept_missing_flag_keys(world: World) -> None:
    settings = resolve_settings({}, {}, world.cwd, world.home)
    assert settings.team == "default"


def test_settings_treat_empty_environment_values_as_unset(world: World) -> None:
    world.env = {"CO_TEAM": "", "ZK_HOSTS": "", "CO_INSTANCE_ID": "", "CO_CONNECT_TIMEOUT": ""}
    settings = world.resolve()
    assert (settings.team, settings.zk_hosts, settings.instance_id) == (
        "default",
        "127.0.0.1:2181",
        None,
    )
    assert settings.connect_timeout == 10.0


# --- team file ---------------------------------------------------------------------------------


def test_team_file_flag_beats_environment_and_cwd(world: World) -> None:
    world.team_file('[team]\nname = "cwd"\n')
    world.team_file('[team]\nname = "env"\n', "env/team.toml")
    flagged = world.team_file('[team]\nname = "flag"\n', "flag/team.toml")
    world.env["CO_TEAM_FILE"] = "env/team.toml"
    world.flags["file"] = "flag/team.toml"
    settings = world.resolve()
    assert settings.team_file == flagged
    assert settings.team == "flag"


def test_team_file_environment_beats_cwd(world: World) -> None:
    world.team_file('[team]\nname = "cwd"\n')
    env_file = world.team_file('[team]\nname = "env"\n', "env/team.toml")
    world.env["CO_TEAM_FILE"] = str(env_file)
    assert world.resolve().team_file == env_file


def test_team_file_defaults_to_team_toml_in_cwd(world: World) -> None:
    path = world.team_file('[team]\nname = "cwd"\n')
    settings = world.resolve()
    assert (settings.team_file, settings.team) == (path, "cwd")


@pytest.mark.parametrize(("source", "label"), [("flag", "--file"), ("env", "CO_TEAM_FILE")])
def test_team_file_given_but_missing_is_an_error(world: World, source: str, label: str) -> None:
    if source == "flag":
        world.flags["file"] = "missing.toml"
    else:
        world.env["CO_TEAM_FILE"] = "missing.toml"
    message = world.error()
    assert label in message
    assert "missing.toml" in message
    assert "does not exist" in message


def test_team_file_errors_propagate(world: World) -> None:
    world.team_file('[team]\nnmae = "x"\n')
    assert "team.nmae: unknown key; did you mean 'name'?" in world.error()


def test_state_dir_follows_the_team_file(world: World) -> None:
    world.flags["file"] = str(world.team_file("", "sub/team.toml"))
    assert world.resolve().state_dir == (world.cwd / "sub").resolve() / ".claude-orchestrator"


# --- team --------------------------------------------------------------------------------------


def test_team_precedence_flag_env_file_default(world: World) -> None:
    assert world.resolve().team == "default"
    world.team_file('[team]\nname = "from-file"\n')
    assert world.resolve().team == "from-file"
    world.env["CO_TEAM"] = "from-env"
    assert world.resolve().team == "from-env"
    world.flags["team"] = "from-flag"
    assert world.resolve().team == "from-flag"


@pytest.mark.parametrize(("source", "label"), [("flag", "--team"), ("env", "CO_TEAM")])
def test_team_name_must_be_a_node_name(world: World, source: str, label: str) -> None:
    if source == "flag":
        world.flags["team"] = "a/b"
    else:
        world.env["CO_TEAM"] = "a/b"
    message = world.error()
    assert message.startswith(f"{label}: 'a/b' is not a valid name")


# --- zookeeper hosts ---------------------------------------------------------------------------


def write_run_file(world: World, content: str) -> None:
    run_dir = world.state_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "zookeeper.json").write_text(content, encoding="utf-8")


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Precedence tests: any well-formed run file counts as a live server of ours (the proof
    itself is tested with real processes in test_acls.py)."""
    from claude_orchestrator.conf import serverproof, settings

    def believe(state_dir: Path) -> dict[str, Any] | None:
        info = serverproof.read_run_file(state_dir)
        return info if isinstance(info.get("hosts"), str) else None

    monkeypatch.setattr(settings, "verified_server", believe)


@pytest.mark.usefixtures("trusting")
def test_zk_hosts_precedence_flag_env_file_embedded_default(world: World) -> None:
    assert world.resolve().zk_hosts == "127.0.0.1:2181"
    write_run_file(world, json.dumps({"hosts": "127.0.0.1:40001", "pid": 1}))
    assert world.resolve().zk_hosts == "127.0.0.1:40001"
    world.team_file('[team]\nzookeeper = "zk1:2181,zk2:2181"\n')
    assert world.resolve().zk_hosts == "zk1:2181,zk2:2181"
    world.env["ZK_HOSTS"] = "envhost:2181"
    assert world.resolve().zk_hosts == "envhost:2181"
    world.flags["zookeeper"] = "flaghost:2181"
    assert world.resolve().zk_hosts == "flaghost:2181"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"hosts": 5}', '{"port": 1}', ""])
def test_zk_hosts_ignore_unusable_run_file(world: World, content: str) -> None:
    write_run_file(world, content)
    assert world.resolve().zk_hosts == "127.0.0.1:2181"


@pytest.mark.usefixtures("trusting")
def test_zk_hosts_run_file_lives_in_team_file_state_dir(world: World) -> None:
    world.flags["file"] = str(world.team_file("", "sub/team.toml"))
    run_dir = (world.cwd / "sub" / ".claude-orchestrator" / "run").resolve()
    run_dir.mkdir(parents=True)
    (run_dir / "zookeeper.json").write_text('{"hosts": "127.0.0.1:5555"}', encoding="utf-8")
    assert world.resolve().zk_hosts == "127.0.0.1:5555"


def test_zk_hosts_flag_must_not_be_blank(world: World) -> None:
    world.flags["zookeeper"] = "  "
    assert world.error().startswith("--zookeeper: expected a non-empty string")


# --- instance id -------------------------------------------------------------------------------


def test_instance_id_precedence_flag_env_project_global(world: World) -> None:
    assert world.resolve().instance_id is None
    write_config(global_config_path(world.home), {"instance_id": "global-1"})
    assert world.resolve().instance_id == "global-1"
    write_config(project_config_path(world.state_dir), {"instance_id": "project-1"})
    assert world.resolve().instance_id == "project-1"
    world.env["CO_INSTANCE_ID"] = "env-1"
    assert world.resolve().instance_id == "env-1"
    world.flags["instance_id"] = "flag-1"
    assert world.resolve().instance_id == "flag-1"


def test_instance_id_from_config_only_for_its_team(world: World) -> None:
    write_config(global_config_path(world.home), {"instance_id": "g", "team": "default"})
    write_config(project_config_path(world.state_dir), {"instance_id": "p", "team": "other"})
    assert world.resolve().instance_id == "g"
    world.flags["team"] = "other"
    assert world.resolve().instance_id == "p"
    world.flags["team"] = "third"
    assert world.resolve().instance_id is None


def test_instance_id_config_without_id_falls_through(world: World) -> None:
    write_config(project_config_path(world.state_dir), {"team": "default"})
    write_config(global_config_path(world.home), {"instance_id": "g"})
    assert world.resolve().instance_id == "g"


def test_instance_id_must_be_a_node_name(world: World) -> None:
    world.env["CO_INSTANCE_ID"] = "bad id"
    assert world.error().startswith("CO_INSTANCE_ID: 'bad id' is not a valid name")


def test_instance_id_in_config_must_be_a_string(world: World) -> None:
    path = global_config_path(world.home)
    write_config(path, {"instance_id": 7})
    message = world.error()
    assert str(path) in message
    assert "instance_id" in message


def test_instance_id_broken_config_names_the_file(world: World) -> None:
    path = global_config_path(world.home)
    path.parent.mkdir()
    path.write_text("{oops", encoding="utf-8")
    assert str(path) in world.error()
    world.env["CO_INSTANCE_ID"] = "explicit"
    assert world.resolve().instance_id == "explicit"


# --- auth --------------------------------------------------------------------------------------


def test_auth_from_variable_named_by_team_file(world: World) -> None:
    world.team_file('[team]\nauth = "env:MY_AUTH"\n')
    world.env.update({"MY_AUTH": "alice:s3cret", "CO_ZK_AUTH": "bob:other"})
    assert world.resolve().auth == "alice:s3cret"


def test_auth_variable_named_by_team_file_must_be_set(world: World) -> None:
    world.team_file('[team]\nauth = "env:MY_AUTH"\n')
    world.env["CO_ZK_AUTH"] = "bob:other"
    message = world.error()
    assert "auth: environment variable MY_AUTH is not set" in message
    assert "team.toml" in message


def test_auth_from_co_zk_auth(world: World) -> None:
    world.env["CO_ZK_AUTH"] = "bob:pw:with:colons"
    assert world.resolve().auth == "bob:pw:with:colons"


@pytest.mark.parametrize("value", ["justapassword", ":nouser", "nopass:"])
def test_auth_must_be_user_colon_password_and_is_never_echoed(world: World, value: str) -> None:
    world.env["CO_ZK_AUTH"] = value
    message = world.error()
    assert message.startswith("CO_ZK_AUTH: expected digest credentials of the form user:password")
    assert value not in message


def test_zk_hosts_and_credential_ignore_a_run_file_that_is_not_our_server(world: World) -> None:
    # pid 1 is alive but is not our ZooKeeper: whoever listens there must not get the secret
    write_run_file(world, json.dumps({"hosts": "127.0.0.1:40001", "port": 40001, "pid": 1}))
    ensure_team_credential(world.state_dir)
    settings = world.resolve()
    assert (settings.zk_hosts, settings.auth, settings.embedded) == ("127.0.0.1:2181", None, True)


@pytest.mark.usefixtures("trusting")
def test_embedded_team_uses_the_generated_credential_unless_insecure(world: World) -> None:
    write_run_file(world, json.dumps({"hosts": "127.0.0.1:40001", "port": 40001, "pid": 1}))
    assert world.resolve().auth is None  # nothing generated yet
    made = ensure_team_credential(world.state_dir)
    assert made.startswith("team:") and world.resolve().auth == made
    path = world.state_dir / "auth" / "team"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ensure_team_credential(world.state_dir) == made  # generated once
    world.team_file("[team]\ninsecure = true\n")
    assert world.resolve().auth is None
    world.env["CO_ZK_AUTH"] = "bob:pw"  # an explicit credential wins over the file
    assert world.resolve().auth == "bob:pw"


@pytest.mark.usefixtures("trusting")
def test_agent_credential_is_used_instead_of_the_team_file(world: World) -> None:
    write_run_file(world, json.dumps({"hosts": "127.0.0.1:40001", "port": 40001, "pid": 1}))
    ensure_team_credential(world.state_dir)
    world.env.update({"CO_AGENT_AUTH": "agent:abc", "CO_TEAM_DIGEST": "team:HASH"})
    settings = world.resolve()
    assert (settings.auth, settings.team_id) == ("agent:abc", "team:HASH")
    assert settings.as_dict()["auth_scope"] == "agent"
    del world.env["CO_TEAM_DIGEST"]
    assert "CO_TEAM_DIGEST" in world.error()


def test_agent_credential_is_derived_one_way_and_differs_per_team() -> None:
    one, two = agent_credential("team:one"), agent_credential("team:two")
    assert one.startswith("agent:") and one != two and "one" not in one
    assert digest_id("u:p") == make_digest_acl_credential("u", "p")


def test_settings_as_dict_masks_password(world: World) -> None:
    world.env["CO_ZK_AUTH"] = "alice:s3cret"
    shown = world.resolve().as_dict()
    assert shown["auth"] == "alice:***"
    assert "s3cret" not in json.dumps(shown)


# --- timeouts and json -------------------------------------------------------------------------


def test_connect_timeout_precedence_flag_env_default(world: World) -> None:
    assert world.resolve().connect_timeout == 10.0
    world.env["CO_CONNECT_TIMEOUT"] = "1m"
    assert world.resolve().connect_timeout == 60.0
    world.flags["connect_timeout"] = "2.5s"
    assert world.resolve().connect_timeout == 2.5
    world.flags["connect_timeout"] = 3
    assert world.resolve().connect_timeout == 3.0


@pytest.mark.parametrize(
    ("flag", "env", "label"),
    [
        ("soon", None, "--connect-timeout: invalid duration 'soon'"),
        (None, "-1s", "CO_CONNECT_TIMEOUT: duration '-1s' must not be negative"),
        (0, None, "--connect-timeout: must be longer than zero"),
    ],
)
def test_connect_timeout_rejects_bad_values(
    world: World, flag: Any, env: str | None, label: str
) -> None:
    world.flags["connect_timeout"] = flag
    if env is not None:
        world.env["CO_CONNECT_TIMEOUT"] = env
    assert world.error().startswith(label)


def test_session_timeout_from_environment(world: World) -> None:
    world.env["CO_SESSION_TIMEOUT"] = "30s"
    assert world.resolve().session_timeout == 30.0
    world.env["CO_SESSION_TIMEOUT"] = "sometime"
    assert world.error().startswith("CO_SESSION_TIMEOUT: invalid duration")


def test_stuck_after_from_environment_only_here(world: World) -> None:
    assert world.resolve().stuck_after == 90.0
    world.env["CO_STUCK_AFTER"] = "3s"
    assert world.resolve().stuck_after == 3.0
    world.env["CO_STUCK_AFTER"] = "0s"
    assert world.error() == "CO_STUCK_AFTER: must be longer than zero"


@pytest.mark.parametrize("value", [True, False, None])
def test_json_output_is_taken_as_given(world: World, value: bool | None) -> None:
    world.flags["json"] = value
    assert world.resolve().json_output is value


def test_json_output_rejects_non_boolean(world: World) -> None:
    world.flags["json"] = "yes"
    assert world.error().startswith("--json:")


# --- config.json files -------------------------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_global_config_path_is_under_home(tmp_path: Path) -> None:
    assert global_config_path(tmp_path) == tmp_path / ".claude-orchestrator" / "config.json"
    assert global_config_path().parent.parent == Path.home()


def test_read_config_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_config(tmp_path / "none.json") == {}


@pytest.mark.parametrize(("text", "expected"), [("{oops", "invalid JSON"), ("[1]", "JSON object")])
def test_read_config_rejects_bad_content_naming_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        read_config(path)
    assert str(path) in str(caught.value)


def test_write_config_creates_private_dir_and_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "config.json"
    old_umask = os.umask(0o022)
    try:
        write_config(path, {"instance_id": "jerry-1", "team": "webapp"})
    finally:
        os.umask(old_umask)
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    assert read_config(path) == {"instance_id": "jerry-1", "team": "webapp"}


def test_write_config_replaces_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    write_config(path, {"a": 1})
    write_config(path, {"b": 2})
    assert read_config(path) == {"b": 2}
    assert mode_of(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_write_config_leaves_existing_dir_mode_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    write_config(tmp_path / "config.json", {})
    assert mode_of(tmp_path) == 0o755


def test_write_config_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.json"
    write_config(path, {"instance_id": "old"})

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ConfigError, match="cannot write config file"):
        write_config(path, {"instance_id": "new"})
    assert read_config(path) == {"instance_id": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
