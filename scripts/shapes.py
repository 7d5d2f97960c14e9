"""The house rule on shapes: no module over 400 lines, no function over 60.

Modules that are mostly literal data (vocabularies, label tables) are declared
in ``pyproject.toml`` under ``[tool.tilts.shapes] data_tables`` with the reason
in a comment; they are exempt from the module limit only.

    python scripts/shapes.py            # check the packages; exit 1 on a breach
    python scripts/shapes.py search     # list the shapes of some folders
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "crawlers", "search", "scheduler", "storage", "coverage", "subscriptions", "devtools", "tilts")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def data_tables() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(config.get("tool", {}).get("tilts", {}).get("shapes", {}).get("data_tables", []))


def breaches(roots: list[Path], exempt: set[str]) -> list[str]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            source = path.read_text()
            lines = source.count("\n")
            if lines > MAX_MODULE_LINES and rel not in exempt:
                found.append(f"{rel}: {lines} lines (module limit {MAX_MODULE_LINES})")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(f"{rel}:{node.lineno}: {node.name} is {length} lines "
                                     f"(function limit {MAX_FUNCTION_LINES})")
    return found


def main(argv: list[str]) -> int:
    roots = [REPO / a for a in argv] or [REPO / p for p in PACKAGES]
    found = breaches(roots, data_tables())
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} shape breach(es)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
