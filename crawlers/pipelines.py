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

A listing missing from a complete crawl is not left to wait those crawls when
its own page can tell: once the crawl has found all it will find
(``spider_idle``), the pages of known listings it did not find are asked again
(at most ``TILTS_CONFIRM_MISSING_MAX``, 100 by default; only in the source's
registered domains, through the same robots.txt, throttle and user agent).
One that answers 404 or 410 Gone is reported missing after this crawl; one that
still answers, or fails, waits for the misses as before. ``TILTS_CONFIRM_MISSING=0``
turns this off. Stats ``tilts/confirm_gone``, ``tilts/confirm_present``.

When the bus is down, publishing pauses the crawl and retries (backing off up
to ``TILTS_PUBLISH_RETRY_SECONDS``, 120 by default); what the broker did not
acknowledge is published again before the seen-set is committed. If the bus
stays down, the crawl stops with finish reason ``bus_unavailable``, commits
nothing (the next crawl re-publishes all it found) and reports the failure in
``TILTS_RESULT_FILE`` so the runner exits non-zero and the scheduler backs off.

Settings: ``TILTS_BUS_URL`` (``kafka://…`` or ``sqlite:///…``),
``TILTS_TOPIC_PREFIX``, ``TILTS_CRAWL_STATE_DIR``, ``TILTS_PUBLISH_RETRY_SECONDS``,
``TILTS_RESULT_FILE``. Stats: ``tilts/published``,
``tilts/new``, ``tilts/changed``, ``tilts/unchanged``, ``tilts/dead_letters``;
failures are ``tilts/errors/<kind>`` (crawlers/failures.py): CrawlStats.errors
is the sum of errors_by_kind, and a crawl is complete only without any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, DropItem, NotConfigured
from scrapy.http import Response

from crawlers.failures import count_error, errors_by_kind, warnings_by_kind
from crawlers.items import CrawlDeadLetter
from crawlers.seen import CLOSE_AFTER_MISSED_CRAWLS, SeenSet
from pipeline.bus import Bus, BusError, open_bus, retrying
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

log = logging.getLogger(__name__)
FLUSH_EVERY = 500  # messages held for re-publishing until the broker acknowledges them


def _in_domains(url: str, domains: list[str]) -> bool:
    """The URL's host is one of ``domains`` or under one (as Scrapy's offsite check, ports aside)."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


class BusPublishPipeline:
    def __init__(self, crawler: Crawler, bus_url: str, prefix: str) -> None:
        self.crawler = crawler
        self.bus_url = bus_url
        self.prefix = prefix
        self.bus: Bus | None = None
        self.seen: SeenSet | None = None
        self.started_at = datetime.now(UTC)
        self.retry_seconds = crawler.settings.getfloat("TILTS_PUBLISH_RETRY_SECONDS", 120.0)
        self.result_file = crawler.settings.get("TILTS_RESULT_FILE")
        self.unacked: list[tuple[str, str | None, bytes, list[tuple[str, bytes]]]] = []
        self.failure: str | None = None
        self.errors_when_found: int | None = None  # failures when the crawl had found all, before asking pages
        self.gone: set[str] = set()  # missing listings whose own page answered 404 or 410
        # complete crawls a listing must be missing from before it is reported (the registry's
        # politeness.close_after_missed)
        self.close_after = crawler.settings.getint("TILTS_CLOSE_AFTER_MISSED", CLOSE_AFTER_MISSED_CRAWLS)

    def _retrying(self, what: str, action: Callable[[], None]) -> None:
        """``action`` until it succeeds, backing off; BusError after ``retry_seconds``.
        Blocking the reactor is the point: the crawl waits for the bus."""
        def heard(exc: BusError, delay: float) -> None:
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            self.crawler.stats.inc_value("tilts/bus_retries")

        retrying(action, self.retry_seconds, on_retry=heard)

    def _publish(self, topic: str, key: str | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        assert self.bus is not None
        self.unacked.append((topic, key, value, headers))
        self._retrying(f"publishing to {topic}", lambda: self.bus.publish(topic, key, value, headers))  # type: ignore[union-attr]
        if len(self.unacked) >= FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        """Everything published is acknowledged; what was not is published again."""
        assert self.bus is not None
        bus = self.bus

        def attempt() -> None:
            try:
                bus.flush(timeout=max(1.0, min(30.0, self.retry_seconds)))
            except BusError:
                for message in self.unacked:  # the broker may have lost any of them
                    bus.publish(*message)
                raise

        self._retrying("flushing to the bus", attempt)
        self.unacked.clear()

    def _give_up(self, exc: BaseException) -> None:
        """The bus stayed down: stop the crawl, commit nothing, say so."""
        if self.failure is None:
            self.failure = f"bus unavailable: {exc}"
            log.error("stopping the crawl: %s; nothing is committed, the next crawl re-publishes",
                      self.failure)
            spider = self.crawler.spider
            if self.crawler.engine is not None and spider is not None:
                self.crawler.engine.close_spider(spider, "bus_unavailable")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BusPublishPipeline:
        url = crawler.settings.get("TILTS_BUS_URL")
        if not url:
            raise NotConfigured("TILTS_BUS_URL is not set")
        pipeline = cls(crawler, url, crawler.settings.get("TILTS_TOPIC_PREFIX", ""))
        crawler.signals.connect(pipeline._item_error, signal=signals.item_error)
        crawler.signals.connect(pipeline._idle, signal=signals.spider_idle)
        return pipeline

    def _idle(self, spider: Spider | None = None) -> None:
        """The crawl found all it will: ask the pages of known listings it did not find."""
        if self.errors_when_found is not None or self.seen is None or self.failure is not None:
            return
        spider = spider or self.crawler.spider
        self.errors_when_found = sum(errors_by_kind(self.crawler.stats.get_stats()).values())
        settings = self.crawler.settings
        if (self.errors_when_found or not getattr(spider, "full_crawl", False)
                or not settings.getbool("TILTS_CONFIRM_MISSING", True) or self.crawler.engine is None):
            return
        domains = list(getattr(spider, "allowed_domains", None) or [])
        feeds = set(getattr(spider, "start_urls", None) or [])
        asked = 0
        for external_id, url in self.seen.unconfirmed(self.close_after,
                                                      settings.getint("TILTS_CONFIRM_MISSING_MAX", 100)):
            if url in feeds or not _in_domains(url, domains):
                continue  # no page of its own (a feed's entry), or not the source's to ask
            self.crawler.engine.crawl(Request(
                url, callback=self._confirmed, errback=lambda failure: None, dont_filter=True,
                meta={"dont_cache": True, "handle_httpstatus_list": [404, 410], "tilts_listing": external_id}))
            asked += 1
        if asked:
            log.info("asking the pages of %d listings this crawl did not find", asked)
            raise DontCloseSpider

    def _confirmed(self, response: Response) -> None:
        gone = response.status in (404, 410)
        if gone:
            self.gone.add(response.meta["tilts_listing"])
        self.crawler.stats.inc_value("tilts/confirm_gone" if gone else "tilts/confirm_present")

    def _item_error(self, *args: Any, **kwargs: Any) -> None:
        """An item this pipeline failed on (Scrapy logs it): one ``item_error``."""
        count_error(self.crawler.stats, "item_error")

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        self.started_at = datetime.now(UTC)
        self.bus = open_bus(self.bus_url, prefix=self.prefix)
        try:
            self._retrying("creating the topics", self.bus.ensure_topics)
        except BusError as exc:
            self._give_up(exc)
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
        self._publish(DLQ_TOPIC, key, payload, headers)
        self.crawler.stats.inc_value("tilts/dead_letters")

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        assert self.bus is not None
        if self.failure is not None:
            raise DropItem(f"not published, the crawl is stopping ({self.failure})")
        try:
            return self._process(item)
        except BusError as exc:
            self._give_up(exc)
            raise DropItem(f"not published ({self.failure})") from exc

    def _process(self, item: Any) -> Any:
        if isinstance(item, CrawlDeadLetter):
            self._dead_letter(item.url, item.body, InvalidEvent(f"{item.reason} (page {item.url})"))
            return item
        digest = item.pop("_change_hash", None)  # what "unchanged" means, when the spider says
        payload = json.dumps(item, default=str).encode("utf-8")
        try:
            raw = parse_event(RawOpportunity, payload)
        except InvalidEvent as exc:
            key = f"{item.get('source_id')}:{item.get('external_id')}"
            self._dead_letter(key, payload, exc)
            return item
        if self.seen is not None:
            state = self.seen.observe(raw.external_id, item, digest)
            self.crawler.stats.inc_value(f"tilts/{state}")
            if state == "unchanged":
                return item
        self._publish(RAW_TOPIC, raw.key, raw.to_bytes(), raw.headers())
        self.crawler.stats.inc_value("tilts/published")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.bus is None:
            return
        spider = spider or self.crawler.spider
        try:
            if self.failure is None:
                self._flush()  # what was published is durable before the seen-set says so
                assert spider is not None  # Scrapy closes a pipeline with its crawl's spider
                self._report(spider)
        except BusError as exc:
            self._give_up(exc)
        finally:
            if self.seen is not None:
                self.seen.close()  # without a commit, this crawl's observations are rolled back
            if self.result_file:
                Path(self.result_file).write_text(json.dumps(
                    {"ok": self.failure is None, "error": self.failure}))
            bus, self.bus = self.bus, None
            bus.close()

    def _report(self, spider: Spider) -> None:
        """Publish the CrawlStats report, then commit the seen-set."""
        assert self.bus is not None
        values = self.crawler.stats.get_stats()
        finished = datetime.now(UTC)
        status_counts = {
            key.rsplit("/", 1)[-1]: int(value)
            for key, value in values.items()
            if key.startswith("downloader/response_status_count/")
        }
        # One count per failure, by kind; errors is their sum (crawlers/failures.py).
        by_kind = errors_by_kind(values)
        errors = sum(by_kind.values())
        finish_reason = str(values.get("finish_reason") or "finished")
        # complete: every page of the crawl itself answered (asking missing listings' pages
        # afterwards may fail without making the crawl less complete)
        complete = (bool(getattr(spider, "full_crawl", False)) and finish_reason == "finished"
                    and (errors if self.errors_when_found is None else self.errors_when_found) == 0)
        missing = self.seen.missing(complete, self.close_after, self.gone) if self.seen is not None else []
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
            errors_by_kind=by_kind,
            robots_denials=int(values.get("robotstxt/forbidden", 0)),
            offsite_filtered=int(values.get("offsite/filtered", 0)),
            warnings_by_kind=warnings_by_kind(values),  # anomalies that lost nothing
        )
        self._publish(CRAWL_STATS_TOPIC, report.source_id, report.to_bytes(), report.headers())
        self._flush()
        if self.seen is not None:
            self.seen.commit(closed=missing)  # only now: a lost report is re-sent next time
