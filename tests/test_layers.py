"""The import rules of DESIGN §2, checked on every import, function-level ones included.

Imports only go down: cli → supervisor / worker → zk, spawn → conf; zk and spawn never import
each other; the supervisor runs workers as processes and never imports worker/; the core never
imports click. And no import circle between our modules: a circle hidden by an import inside a
function is still a circle, so the graph is built from every ``import`` in the source, wherever
it is (TYPE_CHECKING imports excluded: they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from claude_orchestrator.zk.chaingraph import strongly_connected

PACKAGE = Path(__file__).resolve().parent.parent / "claude_orchestrator"
#: which layers each layer may import (its own included); modules at the top level
#: (errors, textsafe, logtext) are below everything
ALLOWED = {
    "cli": {"cli", "supervisor", "worker", "zk", "spawn", "conf", "templates"},
    "supervisor": {"supervisor", "zk", "spawn", "conf"},
    "worker": {"worker", "zk", "spawn", "conf", "templates"},
    "zk": {"zk", "conf"},
    "spawn": {"spawn", "conf"},
    "conf": {"conf"},
    "templates": {"templates"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports at run time, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in _type_checking_blocks(tree) for node in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _type_checking_blocks(tree: ast.AST) -> Iterator[ast.If]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield node


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports(path) if m in files and m != name} for name, path in files.items()
    }


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None  # claude_orchestrator.<layer>.<module>


def test_imports_only_go_down() -> None:
    wrong = [
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        for dep in deps
        if (here := layer(mod)) is not None
        and (there := layer(dep)) is not None
        and there not in ALLOWED[here]
    ]
    assert wrong == []


def test_the_core_never_imports_click() -> None:
    core = [p for p in PACKAGE.rglob("*.py") if layer(module_name(p)) != "cli"]
    offenders = [str(p) for p in core if any(m.split(".")[0] == "click" for m in imports(p))]
    assert offenders == []


def test_no_import_circle() -> None:
    """On every import that runs, at any depth of the code (function-level ones included)."""
    deps = graph()
    circles = [c for c in strongly_connected({m: sorted(d) for m, d in deps.items()}) if len(c) > 1]
    assert circles == [], "import circles: " + "; ".join(" ↔ ".join(sorted(c)) for c in circles)
