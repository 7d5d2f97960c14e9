"""Politeness (domains, redirects, throttling) and hostile sites, against 127.0.0.1.

Every run is bounded: short timeouts and size limits are set per test, and the
crawl must finish by itself within the runner's time limit.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from crawlers import runner
from pipeline.bus import open_bus
from pipeline.events import CRAWL_STATS_TOPIC, RAW_TOPIC, CrawlStats, RawOpportunity, parse_event
from tests.support.fixture_site import FixtureSite

HTML = {"Content-Type": "text/html; charset=utf-8"}
SELECTORS = {"item_links": "a.item::attr(href)", "fields": {"title": "h1::text"}}


def page(title: str) -> str:
    return f"<!doctype html><html><body><h1>{title}</h1></body></html>"


def crawl(site: FixtureSite, tmp_path: Path, settings: dict[str, str], timeout: float = 120) -> dict:
    bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
    started = time.monotonic()
    result = runner.crawl("listing", {"source_id": "hostile", "start_urls": site.url + "/list",
                                      "allowed_domains": "127.0.0.1", "full_crawl": "1",
                                      "selectors": json.dumps(SELECTORS)},
                          bus_url=bus_url, settings=settings, timeout=timeout)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.log_tail
    bus = open_bus(bus_url)
    out = {}
    for topic in (RAW_TOPIC, CRAWL_STATS_TOPIC):
        consumer = bus.consumer("check", [topic])
        out[topic] = consumer.poll(timeout=1)
        consumer.close()
    bus.close()
    return {"raw": [parse_event(RawOpportunity, m.value) for m in out[RAW_TOPIC]],
            "stats": parse_event(CrawlStats, out[CRAWL_STATS_TOPIC][-1].value), "elapsed": elapsed}


def test_offsite_redirects_are_recorded_not_followed_and_requests_are_spaced(tmp_path: Path) -> None:
    links = "".join(f'<a class="item" href="/o/{n}">{n}</a>' for n in range(4))
    routes = {"/list": (200, HTML, f"<html><body>{links}<a class='item' href='/away'>x</a></body></html>")}
    for n in range(4):
        routes[f"/o/{n}"] = (200, HTML, page(f"Listing {n}"))
    with FixtureSite(routes) as site:
        # Same server, other host name: outside allowed_domains.
        port = site.url.rsplit(":", 1)[1]
        site.routes["/away"] = (302, {"Location": f"http://localhost:{port}/o/offsite"}, "")
        site.routes["/o/offsite"] = (200, HTML, page("Offsite listing"))
        got = crawl(site, tmp_path, {"DOWNLOAD_DELAY": "0.4", "RANDOMIZE_DOWNLOAD_DELAY": "False",
                                     "AUTOTHROTTLE_ENABLED": "False"})
        hits = [r for r in site.requests if r["path"] != "/robots.txt"]
    assert {r.title for r in got["raw"]} == {f"Listing {n}" for n in range(4)}
    assert "/o/offsite" not in [r["path"] for r in hits]  # the redirect was not followed
    assert got["stats"].offsite_filtered >= 1
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(hits)]
    assert min(gaps) >= 0.3  # one domain: requests spaced by the download delay
    assert all("tilts/" in r["headers"].get("User-Agent", "") for r in hits)


def test_hostile_site_ends_within_its_limits_and_records_the_errors(tmp_path: Path) -> None:
    links = "".join(f'<a class="item" href="/o/{name}">{name}</a>' for name in
                    ("good-1", "error", "slow", "loop-a", "huge", "latin1", "good-2", "garbage"))

    def slow(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        time.sleep(4)  # longer than DOWNLOAD_TIMEOUT below
        return 200, HTML, page("Too late")

    routes = {
        "/list": (200, HTML, f"<html><body>{links}</body></html>"),
        "/o/good-1": (200, HTML, page("Good one")),
        "/o/good-2": (200, HTML, page("Good two")),
        "/o/error": (500, HTML, "<h1>Internal Server Error</h1>"),
        "/o/slow": slow,
        "/o/loop-a": (302, {"Location": "/o/loop-b"}, ""),
        "/o/loop-b": (302, {"Location": "/o/loop-a"}, ""),
        "/o/huge": (200, HTML, page("Huge") + "<p>" + "x" * (2 * 1024 * 1024) + "</p>"),
        "/o/latin1": (200, HTML, b"<html><body><h1>" + "Brīvprātīgie – Café".encode("latin-1", "replace")
                      + b"\xff\xfe</h1></body></html>"),
        "/o/garbage": (200, {"Content-Type": "text/html"}, b"\x00\x01\x02<<<<>>>>&&&\xc3\x28"),
    }
    with FixtureSite(routes) as site:
        got = crawl(site, tmp_path, {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False",
                                     "DOWNLOAD_TIMEOUT": "2", "DOWNLOAD_MAXSIZE": str(1024 * 1024),
                                     "RETRY_TIMES": "1", "REDIRECT_MAX_TIMES": "3"}, timeout=90)
    titles = {r.title for r in got["raw"]}
    assert {"Good one", "Good two"} <= titles  # the good listings still arrive
    assert "Too late" not in titles and "Huge" not in titles
    assert any(t and t.startswith("Br") for t in titles)  # a broken encoding is read, not fatal
    stats = got["stats"]
    assert stats.errors_by_kind.get("http_500", 0) >= 1
    assert any("Timeout" in kind for kind in stats.errors_by_kind)
    assert stats.complete is False  # errors: nothing may be reported missing after this run
    assert got["elapsed"] < 80


def test_server_errors_are_retried_with_growing_pauses(tmp_path: Path) -> None:
    attempts: list[float] = []

    def flaky(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        attempts.append(time.monotonic())
        return (503, HTML, "busy") if len(attempts) < 3 else (200, HTML, page("Finally"))

    routes = {"/list": (200, HTML, '<html><body><a class="item" href="/o/flaky">x</a></body></html>'),
              "/o/flaky": flaky}
    with FixtureSite(routes) as site:
        got = crawl(site, tmp_path, {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False",
                                     "RETRY_TIMES": "3", "TILTS_RETRY_BACKOFF_BASE": "0.4"})
    assert [r.title for r in got["raw"]] == ["Finally"]
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_gap >= 0.4 and second_gap >= 0.8  # 0.4 s, then twice that
