"""Incremental crawls: conditional GET, the seen-set, and listings reported missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crawlers.runner import crawl_source
from crawlers.sources import Source
from pipeline.bus import open_bus
from pipeline.config import Settings
from pipeline.events import CRAWL_STATS_TOPIC, RAW_TOPIC, CrawlStats, RawOpportunity, parse_event
from tests.support.fixture_site import FixtureSite, fixture

ITEM_B = fixture("dobro-ru.rss").split("<item>")[2].split("</item>")[0]


def test_unchanged_costs_a_304_and_vanished_listings_are_reported(tmp_path: Path) -> None:
    state = {"feed": fixture("dobro-ru.rss"), "version": 1}

    def feed(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        etag = f'"v{state["version"]}"'
        if site.requests[-1]["headers"].get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "application/rss+xml", "ETag": etag}, state["feed"]

    settings = Settings(data_dir=tmp_path, download_delay=0.0, KAFKA_BOOTSTRAP_SERVERS=None,
                        ELASTICSEARCH_URL=None)
    # the dropped entry's page still answers: only the misses can close it
    page = (200, {"Content-Type": "text/html"}, "<html><body>Subbotnik</body></html>")
    with FixtureSite({"/feed.rss": feed, "/novosti/subbotnik": page}) as site:
        source = Source(id="dobro", name="Dobro", home_url=site.url + "/", spider="feed",
                        start_urls=[site.url + "/feed.rss"], allowed_domains=["127.0.0.1"])

        def crawl() -> CrawlStats:
            result = crawl_source(settings, source, timeout=120)
            assert result.returncode == 0, result.log_tail
            return reports()[-1]

        bus = open_bus(settings.bus_url)

        def reports() -> list[CrawlStats]:
            consumer = bus.consumer(f"r{len(site.requests)}", [CRAWL_STATS_TOPIC])
            out = [parse_event(CrawlStats, m.value) for m in consumer.poll(timeout=1)]
            consumer.close()
            return out

        first = crawl()
        assert (first.new, first.unchanged, first.items, first.complete) == (2, 0, 2, True)

        second = crawl()  # nothing changed: the server answers 304, nothing is published
        feed_requests = [r for r in site.requests if r["path"] == "/feed.rss"]
        assert feed_requests[-1]["headers"].get("If-None-Match") == '"v1"'
        assert second.not_modified == 1  # the 304, served from the HTTP cache
        assert (second.new, second.changed, second.unchanged, second.items) == (0, 0, 2, 0)

        state["feed"], state["version"] = state["feed"].replace(f"<item>{ITEM_B}</item>", ""), 2
        third, fourth = crawl(), crawl()
        assert third.missing == [] and fourth.missing == []  # one or two misses: not yet
        fifth = crawl()
        assert fifth.missing == ["dobro-2026-119"]  # gone for three complete crawls
        assert crawl().missing == []  # reported once

        consumer = bus.consumer("raw-reader", [RAW_TOPIC])
        raws = [parse_event(RawOpportunity, m.value) for m in consumer.poll(timeout=1)]
        consumer.close()
        assert len(raws) == 2  # only the first crawl published anything
        bus.close()


def _item(n: int) -> str:
    return (f"<item><title>Volunteer day {n} at the Riga animal shelter</title><link>{{BASE}}/o/{n}</link>"
            f"<guid>{{BASE}}/o/{n}</guid><description>Walk dogs and help the staff, day {n}.</description></item>")


def test_a_missing_listing_whose_page_is_gone_closes_after_one_crawl(tmp_path: Path) -> None:
    """A feed that drops an entry may only show fewer: the listing's own page
    decides. 410 or 404: closed after this crawl; still there: the misses count."""
    listed = {1, 2, 3}
    pages = {1: 200, 2: 200, 3: 200}

    def feed(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        items = "".join(_item(n) for n in sorted(listed))
        return 200, {"Content-Type": "application/rss+xml"}, (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Shelter</title>'
            f"<link>{{BASE}}/</link>{items}</channel></rss>")

    def page(n: int) -> Callable[[dict[str, str]], tuple[int, dict[str, str], str]]:
        return lambda query: (pages[n], {"Content-Type": "text/html"}, f"<html><body>Day {n}</body></html>")

    settings = Settings(data_dir=tmp_path, download_delay=0.0, KAFKA_BOOTSTRAP_SERVERS=None,
                        ELASTICSEARCH_URL=None)
    with FixtureSite({"/feed.rss": feed, **{f"/o/{n}": page(n) for n in pages}}) as site:
        source = Source(id="shelter", name="Shelter", home_url=site.url + "/", spider="feed",
                        start_urls=[site.url + "/feed.rss"], allowed_domains=["127.0.0.1"])
        bus = open_bus(settings.bus_url)

        def crawl() -> CrawlStats:
            result = crawl_source(settings, source, timeout=120)
            assert result.returncode == 0, result.log_tail
            consumer = bus.consumer(f"r{len(site.requests)}", [CRAWL_STATS_TOPIC])
            reports = [parse_event(CrawlStats, m.value) for m in consumer.poll(timeout=1)]
            consumer.close()
            return reports[-1]

        assert crawl().new == 3
        assert not any(r["path"].startswith("/o/") for r in site.requests)  # nothing missing: no page asked
        listed -= {2, 3}
        pages[2] = 410  # removed from the site; 3 only dropped out of the feed
        second = crawl()
        asked = [r for r in site.requests if r["path"].startswith("/o/")]
        assert sorted(r["path"] for r in asked) == ["/o/2", "/o/3"]
        assert all("tilts" in r["headers"].get("User-Agent", "").lower() for r in asked)
        assert second.complete and second.missing == [f"{site.url}/o/2"]
        pages[3] = 404
        assert crawl().missing == [f"{site.url}/o/3"]  # its page is gone now: at its second miss
        assert crawl().missing == []  # each reported once
        bus.close()
