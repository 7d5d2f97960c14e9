"""``tilts sources check``: is a registry entry usable, and (with network) reachable?"""

from __future__ import annotations

import urllib.error
import urllib.request
import urllib.robotparser
from urllib.parse import urljoin

from crawlers.settings import USER_AGENT
from crawlers.sources import Source


def check_source(source: Source, *, network: bool = False, timeout: float = 10.0) -> list[str]:
    """Problems with ``source`` (empty when it is fine)."""
    problems: list[str] = []
    if not network:
        return problems
    first = str(source.start_urls[0])
    robots = urllib.robotparser.RobotFileParser(urljoin(first, "/robots.txt"))
    try:
        robots.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        problems.append(f"robots.txt unreachable: {exc}")
        return problems
    if not robots.can_fetch(USER_AGENT, first):
        problems.append(f"robots.txt disallows {first} for tilts")
        return problems
    request = urllib.request.Request(first, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 400:
                problems.append(f"first page answered {response.status}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        problems.append(f"first page unreachable: {exc}")
    return problems
