"""How many imports go from one tilts package to another (also those inside
functions), as import-linter sees them: ``python scripts/package_graph.py``."""

from __future__ import annotations

import sys
from collections import Counter

import grimp

PACKAGES = ("tilts", "devtools", "scheduler", "coverage", "subscriptions", "search", "crawlers", "storage",
            "pipeline")


def main(packages: list[str]) -> None:
    graph = grimp.build_graph(*packages, include_external_packages=False)
    edges: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[0], imported.split(".")[0]
            if a != b:
                edges[a, b] += 1
    for (a, b), n in sorted(edges.items()):
        print(f"{a} -> {b}: {n}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(PACKAGES))
