"""``setup`` installs the skills and the CLAUDE.md team section non-destructively (issue 11 §7):
the real CLI, in a temporary project; nothing here connects to ZooKeeper."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from claude_orchestrator.cli import skill
from claude_orchestrator.conf.claudemd import BEGIN, END
from tests.clihelp import Cli

CLI_SKILL = skill.CLI_SKILL
PLAN_SKILL = skill.stage_skill("plan")
MANIFEST = ".claude-orchestrator/installed.json"


@pytest.fixture
def co(tmp_path: Path) -> Cli:
    return Cli("127.0.0.1:2181", tmp_path)  # nothing here connects


def tree(root: Path) -> dict[str, tuple[str, bytes | None, int]]:
    """Every path under ``root``: its kind, its content (files) and its mtime."""
    listing: dict[str, tuple[str, bytes | None, int]] = {}
    for path in sorted(root.rglob("*")):
        rel, mtime = path.relative_to(root).as_posix(), path.lstat().st_mtime_ns
        if path.is_symlink():
            listing[rel] = ("link", os.readlink(path).encode(), mtime)
        elif path.is_dir():
            listing[rel] = ("dir", None, mtime)
        else:
            listing[rel] = ("file", path.read_bytes(), mtime)
    return listing


def installed(co: Cli, *args: str) -> dict[str, str]:
    """``setup``'s ``installed`` report, keyed by paths relative to the project."""
    return relative(co, co.ok("setup", *args)["installed"])


def relative(co: Cli, report: dict[str, str]) -> dict[str, str]:
    return {Path(path).relative_to(co.cwd).as_posix(): did for path, did in report.items()}


def test_setup_installs_the_cli_skill_a_skill_per_stage_and_the_team_section(co: Cli) -> None:
    out = co.ok("setup", "--name", "tom")
    assert out["status"] == "configured" and out["dry_run"] is False
    assert out["skill"] == str(co.cwd / CLI_SKILL) and out["settings"]["name"] == "tom"
    assert (co.cwd / CLI_SKILL).read_text() == skill.SKILL
    for stage in ("plan", "build", "verify", "review", "accept"):
        path = co.cwd / skill.stage_skill(stage)
        assert path.read_text() == skill.STAGE_SKILLS[stage]
        assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert set(out["installed"].values()) == {"created"} and len(out["installed"]) == 7
    text = (co.cwd / "CLAUDE.md").read_text()
    assert text == f"{BEGIN}\n{skill.TEAM_SECTION}{END}\n"
    manifest = co.cwd / MANIFEST
    assert manifest.stat().st_mode & 0o777 == 0o600
    entries = json.loads(manifest.read_text())["files"]
    assert entries[CLI_SKILL] == hashlib.sha256(skill.SKILL.encode()).hexdigest()


def test_setup_twice_changes_nothing(co: Cli) -> None:
    co.ok("setup", "--leader", "--name", "tom")
    before = tree(co.cwd)
    assert set(installed(co, "--leader", "--name", "tom").values()) == {"unchanged"}
    assert tree(co.cwd) == before  # contents and mtimes: not even the config is rewritten


def test_a_skill_you_edited_is_kept_and_force_replaces_it_with_a_backup(co: Cli) -> None:
    co.ok("setup")
    edited = co.cwd / PLAN_SKILL
    edited.write_text("my own planning rules\n")
    assert installed(co)[PLAN_SKILL] == "kept (changed by you)"
    assert edited.read_text() == "my own planning rules\n"
    assert installed(co)[PLAN_SKILL] == "kept (changed by you)"  # still: the manifest is unchanged
    backup = edited.with_name("SKILL.md.bak")
    assert installed(co, "--force")[PLAN_SKILL] == f"replaced (backup at {backup})"
    assert edited.read_text() == skill.STAGE_SKILLS["plan"]
    assert backup.read_text() == "my own planning rules\n"
    assert installed(co)[PLAN_SKILL] == "unchanged"


def test_force_never_overwrites_an_earlier_backup(co: Cli) -> None:
    co.ok("setup")
    edited = co.cwd / PLAN_SKILL
    edited.with_name("SKILL.md.bak").write_text("an older backup\n")
    edited.write_text("second edit\n")
    backup = edited.with_name("SKILL.md.bak.1")
    assert installed(co, "--force")[PLAN_SKILL] == f"replaced (backup at {backup})"
    assert edited.with_name("SKILL.md.bak").read_text() == "an older backup\n"
    assert backup.read_text() == "second edit\n"


def test_a_file_of_yours_where_a_skill_goes_is_kept(co: Cli) -> None:
    own = co.cwd / PLAN_SKILL
    own.parent.mkdir(parents=True)
    own.write_text("mine from the start\n")
    assert installed(co)[PLAN_SKILL] == "kept (changed by you)"
    assert installed(co, "--remove")[PLAN_SKILL] == "kept (changed by you)"
    assert own.read_text() == "mine from the start\n"


def test_an_upgrade_updates_the_skills_you_did_not_edit(
    co: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old_release:
        old_release.setattr(skill, "SKILL", "the skill text of an older release\n")
        old_release.setitem(skill.STAGE_SKILLS, "plan", "an older plan skill\n")
        co.ok("setup")
    (co.cwd / PLAN_SKILL).write_text("edited by you\n")
    report = installed(co)
    assert report[CLI_SKILL] == "updated" and report[PLAN_SKILL] == "kept (changed by you)"
    assert (co.cwd / CLI_SKILL).read_text() == skill.SKILL
    assert (co.cwd / PLAN_SKILL).read_text() == "edited by you\n"


def test_a_skill_written_by_a_release_without_a_manifest_is_updated(
    co: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = "what setup wrote before it kept a manifest\n"
    digest = hashlib.sha256(earlier.encode()).hexdigest()
    monkeypatch.setattr(skill, "EARLIER_SKILLS", frozenset({digest}))
    (co.cwd / CLI_SKILL).parent.mkdir(parents=True)
    (co.cwd / CLI_SKILL).write_text(earlier)
    assert installed(co)[CLI_SKILL] == "updated"
    assert (co.cwd / CLI_SKILL).read_text() == skill.SKILL


def test_the_current_skill_is_not_listed_as_an_earlier_one() -> None:
    assert hashlib.sha256(skill.SKILL.encode()).hexdigest() not in skill.EARLIER_SKILLS


def test_dry_run_writes_nothing(co: Cli) -> None:
    (co.cwd / "CLAUDE.md").write_text("# My project\n")
    before = tree(co.cwd)
    out = co.ok("setup", "--dry-run", "--name", "tom", "--command", "claude --fast")
    assert out["dry_run"] is True and out["settings"]["command"] == "claude --fast"
    assert set(out["installed"].values()) == {"would create"}
    assert tree(co.cwd) == before
    co.ok("setup")
    (co.cwd / PLAN_SKILL).write_text("edited\n")
    before = tree(co.cwd)
    report = installed(co, "--dry-run", "--force")
    assert report[PLAN_SKILL].startswith("would replace (backup at ")
    assert report[CLI_SKILL] == "unchanged"
    report = installed(co, "--dry-run", "--remove")
    assert report.pop(PLAN_SKILL) == "kept (changed by you)"
    assert set(report.values()) == {"would remove"}
    assert tree(co.cwd) == before


def test_your_claude_md_text_outside_the_markers_is_never_touched(co: Cli) -> None:
    claude_md = co.cwd / "CLAUDE.md"
    mine = "# My project\n\nUse tabs.\n"
    claude_md.write_text(mine)
    assert installed(co)["CLAUDE.md"] == "created"
    text = claude_md.read_text()
    assert text.startswith(mine) and text.endswith(f"{BEGIN}\n{skill.TEAM_SECTION}{END}\n")
    claude_md.write_text(text + "\nMore notes, after the section.\n")
    assert installed(co)["CLAUDE.md"] == "unchanged"
    assert installed(co, "--remove")["CLAUDE.md"] == "removed"
    assert claude_md.read_text() == mine + "\nMore notes, after the section.\n"


def test_setup_replaces_an_old_section_in_place(co: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as old_release:
        old_release.setattr(skill, "TEAM_SECTION", "an older section\n")
        co.ok("setup")
    claude_md = co.cwd / "CLAUDE.md"
    claude_md.write_text("before\n" + claude_md.read_text() + "after\n")
    assert installed(co)["CLAUDE.md"] == "updated"
    assert claude_md.read_text() == f"before\n{BEGIN}\n{skill.TEAM_SECTION}{END}\nafter\n"


def test_a_section_you_edited_is_kept_and_force_replaces_it(co: Cli) -> None:
    co.ok("setup")
    claude_md = co.cwd / "CLAUDE.md"
    edited = claude_md.read_text().replace("## claude-orchestrator team", "## Our team")
    claude_md.write_text(edited)
    assert installed(co)["CLAUDE.md"] == "kept (changed by you)"
    assert installed(co, "--remove")["CLAUDE.md"] == "kept (changed by you)"
    assert claude_md.read_text() == edited
    assert installed(co, "--force")["CLAUDE.md"].startswith("replaced (backup at ")
    assert (co.cwd / "CLAUDE.md.bak").read_text() == edited
    assert skill.TEAM_SECTION in claude_md.read_text()


def test_remove_deletes_only_what_setup_installed(co: Cli) -> None:
    (co.cwd / ".claude").mkdir()
    (co.cwd / ".claude" / "settings.json").write_text("{}\n")
    co.ok("setup", "--name", "tom")
    (co.cwd / PLAN_SKILL).write_text("edited\n")
    (co.cwd / skill.stage_skill("build")).with_name("notes.md").write_text("mine\n")
    out = co.ok("setup", "--remove")
    assert out["status"] == "removed" and out["settings"]["name"] == "tom"  # config left alone
    report = relative(co, out["installed"])
    assert report[PLAN_SKILL] == "kept (changed by you)" and report[CLI_SKILL] == "removed"
    assert report["CLAUDE.md"] == "removed"
    assert sorted(p for p, (kind, _, _) in tree(co.cwd).items() if kind == "file") == [
        ".claude-orchestrator/config.json",
        ".claude/settings.json",
        ".claude/skills/claude-orchestrator-build/notes.md",
        PLAN_SKILL,
    ]
    assert not (co.cwd / CLI_SKILL).parent.exists()  # the directories setup made, if empty
    assert installed(co, "--remove") == {PLAN_SKILL: "kept (changed by you)"}


def test_remove_reports_a_skill_you_deleted_as_absent(co: Cli) -> None:
    co.ok("setup")
    (co.cwd / CLI_SKILL).unlink()
    assert installed(co, "--remove")[CLI_SKILL] == "absent"


def test_a_symlinked_claude_md_is_edited_through_its_link(co: Cli) -> None:
    (co.cwd / "AGENTS.md").write_text("# Agents\n")
    (co.cwd / "CLAUDE.md").symlink_to("AGENTS.md")
    co.ok("setup")
    assert (co.cwd / "CLAUDE.md").is_symlink()
    assert skill.TEAM_SECTION in (co.cwd / "AGENTS.md").read_text()
    co.ok("setup", "--remove")
    assert (co.cwd / "AGENTS.md").read_text() == "# Agents\n"


def test_global_setup_installs_in_the_home_directory(co: Cli) -> None:
    home = co.cwd / "home"
    home.mkdir()
    out = co.ok("setup", "--global", HOME=str(home))
    assert out["skill"] == str(home / CLI_SKILL)
    assert (home / ".claude" / "CLAUDE.md").read_text().startswith(BEGIN)
    assert not (co.cwd / ".claude").exists()
    co.ok("setup", "--global", "--remove", HOME=str(home))
    assert sorted(p.name for p in home.iterdir()) == [".claude-orchestrator"]


def test_remove_refuses_the_config_flags_and_force(co: Cli) -> None:
    for flags in (["--name", "tom"], ["--leader"], ["--force"], ["--cache-dir", "c"]):
        r = co("setup", "--remove", *flags)
        assert r.code == 2 and r.err.startswith(f"error: --remove takes no {flags[0]}"), r.err
        assert r.out == "" and list(co.cwd.iterdir()) == []


def test_broken_markers_are_refused_before_anything_is_written(co: Cli) -> None:
    (co.cwd / "CLAUDE.md").write_text(f"notes\n{BEGIN}\nno end marker\n")
    before = tree(co.cwd)
    r = co("setup", "--name", "tom")
    assert r.code == 2 and r.err.startswith("error: ") and "CLAUDE.md" in r.err
    assert "Traceback" not in r.err and r.out == "" and tree(co.cwd) == before


def test_a_broken_manifest_is_refused_naming_it(co: Cli) -> None:
    co.ok("setup")
    (co.cwd / MANIFEST).write_text('{"files": ["not", "a", "map"]}')
    r = co("setup", "--remove")
    assert r.code == 2 and r.err.startswith(f"error: {co.cwd / MANIFEST}: not a manifest")
    assert (co.cwd / CLI_SKILL).exists()


def test_a_directory_where_a_skill_goes_is_an_error_not_a_traceback(co: Cli) -> None:
    (co.cwd / CLI_SKILL).mkdir(parents=True)
    r = co("setup")
    assert r.code == 1 and r.err.startswith(f"error: {co.cwd / CLI_SKILL}: cannot read")
    assert not (co.cwd / ".claude-orchestrator").exists()


def test_each_stage_skill_names_itself_and_the_commands_it_shows_exist() -> None:
    import click

    from claude_orchestrator.cli.main import cli

    ctx = click.Context(cli)
    for stage, text in skill.STAGE_SKILLS.items():
        head = text.split("---\n")[1]
        assert head.startswith(f"name: claude-orchestrator-{stage}\ndescription: "), stage
        description = head.split("description: ", 1)[1]
        assert ": " not in description and f"CO_LINK={stage}" in description  # plain YAML
        for name in re.findall(r"`claude-orchestrator ([a-z-]+)", text):
            assert cli.get_command(ctx, name) is not None, (stage, name)
