"""The schema.org spider, run for real (child process) against a site on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawlers import runner
from crawlers.structured_data import iter_opportunities, jsonld_blocks, to_raw_fields
from devtools.site import DEMO_SITE, StaticSite
from pipeline.events import (
    CRAWL_STATS_TOPIC,
    DLQ_TOPIC,
    RAW_TOPIC,
    CrawlStats,
    RawOpportunity,
    parse_event,
)
from tests.support.fixture_site import crawl_events


def crawl_demo(tmp_path: Path, start: str) -> dict[str, list]:
    bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
    with StaticSite() as site:
        result = runner.crawl(
            "schemaorg",
            {"start_urls": site.url + start, "source_id": "demo", "language": "en"},
            bus_url=bus_url,
            settings={"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False"},
            timeout=120,
        )
    assert result.returncode == 0, result.log_tail
    return crawl_events(bus_url)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    return crawl_demo(tmp_path_factory.mktemp("crawl"), "/")


def test_finds_every_listing_and_respects_robots(crawled: dict[str, list]) -> None:
    raws = [parse_event(RawOpportunity, m.value) for m in crawled[RAW_TOPIC]]
    ids = {r.external_id for r in raws}
    assert ids == {
        "RFB-2026-01", "BER-77", "ONLINE-5", "NO-TITLE-1",
        "https://demo.invalid/opportunities/tartu-environment#action",
    } | {next(r.external_id for r in raws if r.title and "Vilniuje" in r.title)}
    assert "PRIVATE-1" not in ids  # /private/ is disallowed by robots.txt
    riga = next(r for r in raws if r.external_id == "RFB-2026-01")
    assert riga.city == "Rīga" and riga.country == "LV" and riga.deadline.startswith("2027-01-15")
    assert riga.organisation_name == "Paēdušai Latvijai"
    assert riga.extraction_method == "json-ld" and riga.structured is not None
    assert all(m.key == f"demo:{parse_event(RawOpportunity, m.value).external_id}".encode()
               for m in crawled[RAW_TOPIC])


def test_malformed_page_is_dead_lettered_with_reason(crawled: dict[str, list]) -> None:
    letters = crawled[DLQ_TOPIC]
    assert len(letters) == 1
    assert letters[0].header("dlq-stage") == b"crawl"
    assert b"broken-markup.html" in letters[0].header("dlq-error-message")
    assert b"Animal shelter helper" in letters[0].value  # the page itself is kept


def test_crawl_stats_report(crawled: dict[str, list]) -> None:
    (msg,) = crawled[CRAWL_STATS_TOPIC]
    stats = parse_event(CrawlStats, msg.value)
    assert stats.source_id == "demo"
    assert stats.items == 6
    assert stats.dead_letters == 1
    assert stats.status_counts.get("200", 0) >= 9  # robots, index, 7 listing pages
    assert stats.pages >= 9


def test_sitemap_start(tmp_path: Path) -> None:
    out = crawl_demo(tmp_path, "/sitemap.xml")
    assert len(out[RAW_TOPIC]) == 5
    assert out[DLQ_TOPIC] == []


def test_extract_graph_and_partial_breakage() -> None:
    html = (DEMO_SITE / "opportunities" / "tartu-environment.html").read_text()
    nodes = list(iter_opportunities(jsonld_blocks(html, "http://x/")[0]))
    assert len(nodes) == 1
    fields = to_raw_fields(nodes[0], "http://x/")
    assert fields["title"] == "River clean-up volunteers, Tartu"
    assert fields["country"] == "Estonia" and fields["start_date"] == "2027-04-18"
    page = ('<script type="application/ld+json">{"@type":"Event","name":"Good"}</script>'
            '<script type="application/ld+json">{broken</script>')
    good, errors = jsonld_blocks(page, "http://x/")
    assert [n["name"] for n in iter_opportunities(good)] == ["Good"]
    assert len(errors) == 1 and "block 2" in errors[0]
