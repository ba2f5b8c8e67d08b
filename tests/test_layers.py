"""The house plan's floors, checked on every module (top-level and function-level imports).

Each package may import only the packages listed for it (besides itself and third parties).
A test-only package is not listed: tests may import anything. Adding a package means adding
its row here and in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ALLOWED: dict[str, set[str]] = {
    "clients": set(),
    "mapping": {"clients"},  # wire models only: mapping does no I/O
    "ledger": set(),
    "wiring": {"clients", "ledger"},
    "kinds": {"wiring", "clients", "ledger", "mapping"},
    "tasks": {"kinds", "wiring", "clients", "ledger", "mapping"},
    # The CLI's `demo` and `sandbox` commands start the emulators (lazily, in those commands).
    "worker": {"tasks", "kinds", "wiring", "clients", "ledger", "mapping", "sandbox"},
    "sandbox": set(),
}
"""Package -> the first-party packages it may import."""

FIRST_PARTY = set(ALLOWED)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first-party top-level package) of every absolute import in ``path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in FIRST_PARTY]
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_floors_below_it(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules in {package}/"
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in modules
        for line, target in _imports(path)
        if target != package and target not in ALLOWED[package]
    ]
    assert wrong == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from worker.app import app\n    return app\n")
    assert _imports(module) == [(2, "worker")]
