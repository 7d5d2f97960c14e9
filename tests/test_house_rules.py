"""Tests share helpers through ``tests/support`` and fixtures through
``conftest.py``: no test module imports another test module, a conftest, or
the benchmarks (and the benchmarks import no test module)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def forbidden(module: str) -> bool:
    parts = module.split(".")
    if parts[0] == "bench":
        return True
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def test_test_modules_import_helpers_only_from_tests_support() -> None:
    offenders = {}
    for path in sorted((REPO / "tests").rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if forbidden(m))
        if bad:
            offenders[path.relative_to(REPO).as_posix()] = bad
    for path in sorted((REPO / "bench").rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if m.split(".")[0] == "tests" and forbidden(m))
        if bad:
            offenders[path.relative_to(REPO).as_posix()] = bad
    assert offenders == {}


def test_the_rule_sees_what_it_forbids() -> None:
    assert forbidden("tests.pipeline.test_workers") and forbidden("tests.conftest") and forbidden("bench.corpus")
    assert not forbidden("tests.support.events") and not forbidden("pipeline.events")
