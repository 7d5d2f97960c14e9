"""The item pipeline that publishes what spiders found to the bus.

- A RawOpportunity dict is validated against the event contract and published
  to ``opportunities.raw.v1`` keyed ``source_id:external_id``.
- An item that breaks the contract, and every :class:`CrawlDeadLetter`, goes to
  ``opportunities.dlq.v1`` with stage ``crawl`` and the reason: nothing a
  source published is dropped silently.
- When the spider closes, one CrawlStats report goes to ``crawl.stats.v1``.

Settings: ``TILTS_BUS_URL`` (``kafka://…`` or ``sqlite:///…``) and
``TILTS_TOPIC_PREFIX``. Stats: ``tilts/published``, ``tilts/dead_letters``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawlers.items import CrawlDeadLetter
from pipeline.bus import Bus, open_bus
from pipeline.events import (
    CRAWL_STATS_TOPIC,
    DLQ_TOPIC,
    RAW_TOPIC,
    CrawlStats,
    InvalidEvent,
    RawOpportunity,
    dead_letter_headers,
    parse_event,
)


class BusPublishPipeline:
    def __init__(self, crawler: Crawler, bus_url: str, prefix: str) -> None:
        self.crawler = crawler
        self.bus_url = bus_url
        self.prefix = prefix
        self.bus: Bus | None = None
        self.started_at = datetime.now(UTC)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BusPublishPipeline:
        url = crawler.settings.get("TILTS_BUS_URL")
        if not url:
            raise NotConfigured("TILTS_BUS_URL is not set")
        return cls(crawler, url, crawler.settings.get("TILTS_TOPIC_PREFIX", ""))

    def open_spider(self, spider: Spider | None = None) -> None:
        self.started_at = datetime.now(UTC)
        self.bus = open_bus(self.bus_url, prefix=self.prefix)
        self.bus.ensure_topics()

    def _dead_letter(self, key: str | None, payload: bytes, stage_error: BaseException) -> None:
        assert self.bus is not None
        headers = dead_letter_headers(
            original_topic=RAW_TOPIC, stage="crawl", error=stage_error, failed_at=datetime.now(UTC)
        )
        self.bus.publish(DLQ_TOPIC, key, payload, headers)
        self.crawler.stats.inc_value("tilts/dead_letters")

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        assert self.bus is not None
        if isinstance(item, CrawlDeadLetter):
            self._dead_letter(item.url, item.body, InvalidEvent(f"{item.reason} (page {item.url})"))
            return item
        payload = json.dumps(item, default=str).encode("utf-8")
        try:
            raw = parse_event(RawOpportunity, payload)
        except InvalidEvent as exc:
            key = f"{item.get('source_id')}:{item.get('external_id')}"
            self._dead_letter(key, payload, exc)
            return item
        self.bus.publish(RAW_TOPIC, raw.key, raw.to_bytes(), raw.headers())
        self.crawler.stats.inc_value("tilts/published")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.bus is None:
            return
        spider = spider or self.crawler.spider
        stats = self.crawler.stats
        finished = datetime.now(UTC)
        status_counts = {
            key.rsplit("/", 1)[-1]: int(value)
            for key, value in stats.get_stats().items()
            if key.startswith("downloader/response_status_count/")
        }
        errors = (int(stats.get_value("log_count/ERROR", 0))
                  + int(stats.get_value("spider_exceptions/count", 0))
                  + int(stats.get_value("downloader/exception_count", 0)))
        finish_reason = str(stats.get_value("finish_reason") or "finished")
        report = CrawlStats(
            source_id=getattr(spider, "source_id", spider.name),
            crawl_id=getattr(spider, "crawl_id", "unknown"),
            started_at=self.started_at,
            finished_at=finished,
            duration_seconds=(finished - self.started_at).total_seconds(),
            pages=int(stats.get_value("response_received_count", 0)),
            items=int(stats.get_value("tilts/published", 0)),
            errors=errors,
            dead_letters=int(stats.get_value("tilts/dead_letters", 0)),
            status_counts=status_counts,
            finish_reason=finish_reason,
            complete=bool(getattr(spider, "full_crawl", False)) and finish_reason == "finished"
            and errors == 0,
        )
        self.bus.publish(CRAWL_STATS_TOPIC, report.source_id, report.to_bytes(), report.headers())
        self.bus.flush()
        self.bus.close()
        self.bus = None


