"""Installing files non-destructively under a root directory (``setup``'s skills and the team
section of CLAUDE.md), with a manifest of what was written last.

A file is ours while its content is what we wrote last (its sha256 in the manifest,
``<root>/.claude-orchestrator/installed.json``, mode 0600) or a text an earlier release wrote
there; any other content is the user's: never overwritten (``force``: only after a copy to a
free ``<file>.bak``) and never removed. In CLAUDE.md only the text between the markers is
judged and changed (conf/claudemd.py).

Planning only reads, so every refusal comes before the first write. ``apply`` writes each
file atomically (a temporary file, then a rename), new files with mode 0644 (skills are not
secret), and saves the manifest even when a later write fails, so it says what is on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_orchestrator import __version__
from claude_orchestrator.conf import claudemd
from claude_orchestrator.conf.layout import state_dir_of
from claude_orchestrator.conf.userconfig import replace_atomically
from claude_orchestrator.errors import ConfigError, OrchestratorError

MANIFEST_NAME = "installed.json"
FILE_MODE = 0o644
MANIFEST_MODE = 0o600
STATE_DIR_MODE = 0o700


class Action(StrEnum):
    """What one step does to one path; the value is how it is reported once done."""

    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    KEEP = "kept (changed by you)"
    REPLACE = "replaced"
    REMOVE = "removed"
    ABSENT = "absent"


#: how a dry run reports the steps that would write (the others read the same)
WOULD = {
    Action.CREATE: "would create",
    Action.UPDATE: "would update",
    Action.REPLACE: "would replace",
    Action.REMOVE: "would remove",
}


@dataclass(frozen=True)
class Managed:
    """What to install under a root; every path is relative to the root."""

    files: Mapping[str, str]  # path -> text; these files are wholly ours
    section_file: str  # CLAUDE.md: only its section between the markers is ours
    section: str
    earlier: Mapping[str, frozenset[str]] = field(default_factory=dict)  # sha256s we wrote


@dataclass(frozen=True)
class Step:
    rel: str
    action: Action
    text: str | None = None  # the file's new content; None with REMOVE deletes the file
    digest: str | None = None  # the manifest's entry once done; None drops it
    backup: Path | None = None
    created: bool = False  # the section file is new: a remove may delete it

    def report(self, dry_run: bool) -> str:
        said = WOULD.get(self.action, self.action.value) if dry_run else self.action.value
        return f"{said} (backup at {self.backup})" if self.backup else said


@dataclass
class Manifest:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the file
    sections: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the section
    created: set[str] = field(default_factory=set)  # dirs and section files we made

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = _read(path)
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            manifest = cls(dict(data["files"]), dict(data["sections"]), set(data["created"]))
        except (ValueError, KeyError, TypeError):
            manifest = None
        if manifest is None or not manifest.well_formed():
            raise ConfigError(
                f"{path}: not a manifest written by setup; delete it to start over (setup "
                "then treats every file that differs from its own as yours)"
            )
        return manifest

    def well_formed(self) -> bool:
        paths = [*self.files, *self.sections, *self.created]
        digests = [*self.files.values(), *self.sections.values()]
        return all(map(_relative, paths)) and all(isinstance(d, str) for d in digests)

    def dump(self) -> bytes:
        data: dict[str, Any] = {
            "version": __version__,
            "files": self.files,
            "sections": self.sections,
            "created": sorted(self.created),
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


class Installer:
    """Plans and applies the install or the removal of ``managed`` under ``root``."""

    def __init__(self, root: Path, managed: Managed) -> None:
        self.root = root
        self.managed = managed
        self.manifest_path = state_dir_of(root) / MANIFEST_NAME
        self.manifest = Manifest.load(self.manifest_path)

    def plan_install(self, force: bool) -> list[Step]:
        files = [self._install_file(rel, text, force) for rel, text in self.managed.files.items()]
        return [*files, self._install_section(force)]

    def plan_remove(self) -> list[Step]:
        gone = sorted(set(self.manifest.files) - set(self.managed.files))  # no longer shipped
        rels = [*self.managed.files, *gone]
        steps = [*(self._remove_file(rel) for rel in rels), self._remove_section()]
        return [step for step in steps if step is not None]

    def apply(self, steps: list[Step], dry_run: bool) -> dict[str, str]:
        """Carry ``steps`` out (unless ``dry_run``); ``{path: what was done}``."""
        report = {str(self.root / step.rel): step.report(dry_run) for step in steps}
        if not dry_run:
            try:
                for step in steps:
                    self._apply(step)
            finally:
                self._save()
        return report

    # --- planning: reads only -----------------------------------------------------------

    def _install_file(self, rel: str, text: str, force: bool) -> Step:
        path, ours = self.root / rel, text.encode()
        current = _read(path)
        if current is None:
            return Step(rel, Action.CREATE, text, _sha(ours))
        if current == ours:
            return Step(rel, Action.UNCHANGED, digest=_sha(ours))
        if self._written_by_us(rel, current):
            return Step(rel, Action.UPDATE, text, _sha(ours))
        if force:
            return Step(rel, Action.REPLACE, text, _sha(ours), _free_backup(path))
        return Step(rel, Action.KEEP, digest=self.manifest.files.get(rel))

    def _remove_file(self, rel: str) -> Step | None:
        current = _read(self.root / rel)
        if current is None:  # a file we never wrote and that is not there is not reported
            return Step(rel, Action.ABSENT) if rel in self.manifest.files else None
        return Step(rel, Action.REMOVE if self._written_by_us(rel, current) else Action.KEEP)

    def _written_by_us(self, rel: str, current: bytes) -> bool:
        """Whether ``current`` is a text we wrote at ``rel``: the last one (the manifest's),
        an earlier release's, or this one's. A symlink there is the user's."""
        if (self.root / rel).is_symlink():
            return False
        shipped = self.managed.files.get(rel)
        known = {self.manifest.files.get(rel), *self.managed.earlier.get(rel, frozenset())}
        return _sha(current) in known or (shipped is not None and current == shipped.encode())

    def _install_section(self, force: bool) -> Step:
        rel, path = self.managed.section_file, self.root / self.managed.section_file
        want, section = claudemd.inner(self.managed.section), self.managed.section
        digest = _sha(want.encode())
        current = _read_text(path)
        if current is None:
            new = claudemd.with_section("", section, str(path))
            return Step(rel, Action.CREATE, new, digest, created=True)
        found = claudemd.body(current, str(path))
        new = claudemd.with_section(current, section, str(path))
        if found is None:
            return Step(rel, Action.CREATE, new, digest)
        if found == want:
            return Step(rel, Action.UNCHANGED, digest=digest)
        if _sha(found.encode()) == self.manifest.sections.get(rel):
            return Step(rel, Action.UPDATE, new, digest)
        if force:
            return Step(rel, Action.REPLACE, new, digest, _free_backup(path))
        return Step(rel, Action.KEEP, digest=self.manifest.sections.get(rel))

    def _remove_section(self) -> Step | None:
        rel, path = self.managed.section_file, self.root / self.managed.section_file
        current = _read_text(path)
        found = None if current is None else claudemd.body(current, str(path))
        if current is None or found is None:
            return Step(rel, Action.ABSENT) if rel in self.manifest.sections else None
        ours = found == claudemd.inner(self.managed.section)
        if not ours and _sha(found.encode()) != self.manifest.sections.get(rel):
            return Step(rel, Action.KEEP)
        rest = claudemd.without_section(current, str(path))
        if not rest.strip() and rel in self.manifest.created:
            return Step(rel, Action.REMOVE)  # the file was ours and holds nothing else
        return Step(rel, Action.REMOVE, rest)

    # --- applying -----------------------------------------------------------------------

    def _apply(self, step: Step) -> None:
        path = self.root / step.rel
        try:
            if step.backup is not None:
                replace_atomically(step.backup, path.read_bytes(), _mode(path))
            if step.text is not None:
                self._write(step.rel, step.text)
            elif step.action is Action.REMOVE:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise OrchestratorError(f"{path}: cannot write: {exc.strerror or exc}") from None
        self._record(step)

    def _write(self, rel: str, text: str) -> None:
        path = self.root / rel
        self._make_dirs(path.parent)
        if rel == self.managed.section_file and path.is_symlink():
            path = path.resolve()  # a CLAUDE.md linked to AGENTS.md: edit what it points at
        replace_atomically(path, text.encode(), _mode(path))

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and the parents it needs, remembering which we made."""
        missing: list[Path] = []
        while directory != self.root and not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for made in reversed(missing):
            made.mkdir()
            self.manifest.created.add(made.relative_to(self.root).as_posix())

    def _record(self, step: Step) -> None:
        sections = step.rel == self.managed.section_file
        entries = self.manifest.sections if sections else self.manifest.files
        if step.digest is None:
            entries.pop(step.rel, None)
            self.manifest.created.discard(step.rel)
        else:
            entries[step.rel] = step.digest
        if step.created:
            self.manifest.created.add(step.rel)

    def _save(self) -> None:
        """Write the manifest if it changed; with nothing left installed, delete it and the
        directories we made that are now empty."""
        path = self.manifest_path
        try:
            if self.manifest.files or self.manifest.sections:
                if _read(path) != self.manifest.dump():
                    _make_private_dir(path.parent)
                    replace_atomically(path, self.manifest.dump(), MANIFEST_MODE)
                return
            path.unlink(missing_ok=True)
            for rel in sorted(self.manifest.created, key=lambda r: r.count("/"), reverse=True):
                with contextlib.suppress(OSError):  # not empty: it holds the user's files
                    (self.root / rel).rmdir()
        except OSError as exc:
            raise OrchestratorError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _relative(rel: object) -> bool:
    """A manifest's path stays under the root: a removal never reaches outside it."""
    return (
        isinstance(rel, str)
        and bool(rel)
        and not Path(rel).is_absolute()
        and ".." not in Path(rel).parts
    )


def _read(path: Path) -> bytes | None:
    """The file's bytes; None when there is no file (or only a dangling link)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OrchestratorError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_text(path: Path) -> str | None:
    raw = _read(path)
    try:
        return None if raw is None else raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OrchestratorError(f"{path}: not valid UTF-8; setup edits only UTF-8 text") from None


def _free_backup(path: Path) -> Path:
    """``<file>.bak``, or ``.bak.1``, ``.bak.2``… when taken: an earlier backup is kept."""
    numbered = (f"{path.name}.bak.{n}" for n in itertools.count(1))
    names = itertools.chain([f"{path.name}.bak"], numbered)
    return next(p for p in map(path.with_name, names) if not os.path.lexists(p))


def _mode(path: Path) -> int:
    """The permissions of the file at ``path`` (they are kept), FILE_MODE for a new one."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return FILE_MODE


def _make_private_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(directory, STATE_DIR_MODE)  # mkdir's mode is filtered by the umask
