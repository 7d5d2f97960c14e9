"""The item pipeline that publishes what spiders found to the bus.

- A RawOpportunity dict is validated against the event contract and published
  to ``opportunities.raw.v1`` keyed ``source_id:external_id``.
- An item that breaks the contract, and every :class:`CrawlDeadLetter`, goes to
  ``opportunities.dlq.v1`` with stage ``crawl`` and the reason: nothing a
  source published is dropped silently.
- When the spider closes, one CrawlStats report goes to ``crawl.stats.v1``.

Incremental crawls: with ``TILTS_CRAWL_STATE_DIR`` set (``tilts crawl`` and the
scheduler set it under the data folder), a per-source seen-set
(:mod:`crawlers.seen`) keeps each listing's content hash: an unchanged listing
is counted, not published again, and listings missing from several complete
crawls are reported in ``CrawlStats.missing`` for the normalizer to close.
The seen-set is committed only after the bus has acknowledged what was
published, so a crashed crawl re-publishes rather than loses.

Settings: ``TILTS_BUS_URL`` (``kafka://…`` or ``sqlite:///…``),
``TILTS_TOPIC_PREFIX``, ``TILTS_CRAWL_STATE_DIR``. Stats: ``tilts/published``,
``tilts/new``, ``tilts/changed``, ``tilts/unchanged``, ``tilts/dead_letters``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawlers.items import CrawlDeadLetter
from crawlers.seen import SeenSet
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
        self.seen: SeenSet | None = None
        self.started_at = datetime.now(UTC)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BusPublishPipeline:
        url = crawler.settings.get("TILTS_BUS_URL")
        if not url:
            raise NotConfigured("TILTS_BUS_URL is not set")
        return cls(crawler, url, crawler.settings.get("TILTS_TOPIC_PREFIX", ""))

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        self.started_at = datetime.now(UTC)
        self.bus = open_bus(self.bus_url, prefix=self.prefix)
        self.bus.ensure_topics()
        state_dir = self.crawler.settings.get("TILTS_CRAWL_STATE_DIR")
        source_id = getattr(spider, "source_id", None)
        if state_dir and source_id and source_id != "adhoc":
            self.seen = SeenSet(Path(state_dir) / f"{source_id}.sqlite3",
                                getattr(spider, "crawl_id", "unknown"))

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
        if self.seen is not None:
            state = self.seen.observe(raw.external_id, item)
            self.crawler.stats.inc_value(f"tilts/{state}")
            if state == "unchanged":
                return item
        self.bus.publish(RAW_TOPIC, raw.key, raw.to_bytes(), raw.headers())
        self.crawler.stats.inc_value("tilts/published")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.bus is None:
            return
        spider = spider or self.crawler.spider
        stats = self.crawler.stats
        values = stats.get_stats()
        self.bus.flush()  # what was published is durable before the seen-set says so
        finished = datetime.now(UTC)
        status_counts = {
            key.rsplit("/", 1)[-1]: int(value)
            for key, value in values.items()
            if key.startswith("downloader/response_status_count/")
        }
        errors_by_kind: dict[str, int] = {}
        for key, value in values.items():
            for prefix in ("downloader/exception_type_count/", "spider_exceptions/"):
                if key.startswith(prefix) and key != "spider_exceptions/count":
                    kind = key[len(prefix):].rsplit(".", 1)[-1]
                    errors_by_kind[kind] = errors_by_kind.get(kind, 0) + int(value)
        for status, count in status_counts.items():
            if status.startswith("5"):
                errors_by_kind[f"http_{status}"] = count
        for key in ("tilts/extraction_errors", "tilts/malformed_jsonld", "tilts/sitemap_errors"):
            if values.get(key):
                errors_by_kind[key.split("/", 1)[1]] = int(values[key])
        errors = (int(values.get("log_count/ERROR", 0))
                  + int(values.get("spider_exceptions/count", 0))
                  + int(values.get("downloader/exception_count", 0)))
        finish_reason = str(values.get("finish_reason") or "finished")
        complete = (bool(getattr(spider, "full_crawl", False)) and finish_reason == "finished"
                    and errors == 0)
        missing = self.seen.missing(complete) if self.seen is not None else []
        report = CrawlStats(
            source_id=getattr(spider, "source_id", spider.name),
            crawl_id=getattr(spider, "crawl_id", "unknown"),
            started_at=self.started_at,
            finished_at=finished,
            duration_seconds=(finished - self.started_at).total_seconds(),
            pages=int(values.get("response_received_count", 0)),
            items=int(values.get("tilts/published", 0)),
            errors=errors,
            dead_letters=int(values.get("tilts/dead_letters", 0)),
            status_counts=status_counts,
            finish_reason=finish_reason,
            complete=complete,
            new=int(values.get("tilts/new", 0)),
            changed=int(values.get("tilts/changed", 0)),
            unchanged=int(values.get("tilts/unchanged", 0)),
            not_modified=int(values.get("httpcache/revalidate", 0)),
            missing=missing,
            errors_by_kind=errors_by_kind,
            robots_denials=int(values.get("robotstxt/forbidden", 0)),
            offsite_filtered=int(values.get("offsite/filtered", 0)),
        )
        self.bus.publish(CRAWL_STATS_TOPIC, report.source_id, report.to_bytes(), report.headers())
        self.bus.flush()
        if self.seen is not None:
            self.seen.commit(closed=missing)  # only now: a lost report is re-sent next time
            self.seen.close()
        self.bus.close()
        self.bus = None
