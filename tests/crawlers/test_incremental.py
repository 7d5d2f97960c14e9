"""Incremental crawls: conditional GET, the seen-set, and listings reported missing."""

from __future__ import annotations

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
    with FixtureSite({"/feed.rss": feed}) as site:
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
