"""A small real HTTP server on 127.0.0.1 for spider tests.

Routes map a path to a handler ``(query) -> (status, headers, body)`` or a
fixed ``(status, headers, body)`` (a POST's body reaches a handler as
``query["_body"]``); ``{BASE}`` in a body becomes the server's
base URL. Every request is recorded (path, query, headers, time) so tests can
check politeness: robots.txt read first, User-Agent, no offsite requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crawlers import runner
from devtools.site import LoopbackServer

FIXTURES = Path(__file__).resolve().parents[1] / "crawlers" / "fixtures"
Response = tuple[int, dict[str, str], bytes | str]
Route = Response | Callable[[dict[str, str]], Response]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class FixtureSite(LoopbackServer):
    def __init__(self, routes: dict[str, Route], robots: str = "User-agent: *\nAllow: /\n") -> None:
        self.routes = {"/robots.txt": (200, {"Content-Type": "text/plain"}, robots), **routes}
        self.requests: list[dict[str, Any]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.do_GET(body=self.rfile.read(length).decode("utf-8", "replace"))

            def do_GET(self, body: str | None = None) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if body is not None:  # a POST: handlers see its body as query["_body"]
                    query["_body"] = body
                site.requests.append({"path": parts.path, "query": query, "time": time.monotonic(),
                                      "headers": dict(self.headers), "method": self.command})
                route = site.routes.get(parts.path)
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, "not found"
                else:
                    status, headers, body = route(query) if callable(route) else route
                data = body.replace("{BASE}", site.url).encode() if isinstance(body, str) else body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


def crawl_events(bus_url: str) -> dict[str, list]:
    """What a crawl published on an embedded bus: messages per topic, and the
    raw events ("raw") and crawl reports ("stats") parsed."""
    from pipeline.bus import open_bus
    from pipeline.events import (
        CRAWL_STATS_TOPIC,
        DLQ_TOPIC,
        RAW_TOPIC,
        CrawlStats,
        RawOpportunity,
        parse_event,
    )

    bus = open_bus(bus_url)
    out: dict[str, list] = {}
    for topic in (RAW_TOPIC, DLQ_TOPIC, CRAWL_STATS_TOPIC):
        consumer = bus.consumer("check", [topic])
        messages = []
        while batch := consumer.poll(timeout=0.5):
            messages += batch
        consumer.close()
        out[topic] = messages
    bus.close()
    out["raw"] = [parse_event(RawOpportunity, m.value) for m in out[RAW_TOPIC]]
    out["stats"] = [parse_event(CrawlStats, m.value) for m in out[CRAWL_STATS_TOPIC]]
    return out


HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json; charset=UTF-8"}
FAST = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False"}


def run_spider(kind: str, args: dict[str, str], tmp_path: Path) -> dict[str, list]:
    """Crawl with spider ``kind`` into a bus of its own; what it published, by topic."""
    bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
    result = runner.crawl(kind, {"source_id": "fixture", **args}, bus_url=bus_url,
                          settings=FAST, timeout=120)
    assert result.returncode == 0, result.log_tail
    return crawl_events(bus_url)
