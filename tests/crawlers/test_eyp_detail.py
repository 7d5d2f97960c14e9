"""European Youth Portal detail pages: parsed in several interface languages and layouts,
merged with the API record, fetched only for new or changed listings, politely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawlers import runner
from crawlers.eyp_detail import merge, parse_detail
from crawlers.platforms.eyp import parse_eyp
from crawlers.runner import crawl_source
from crawlers.sources import Source
from pipeline.bus import open_bus
from pipeline.config import Settings
from pipeline.events import CRAWL_STATS_TOPIC, RAW_TOPIC, CrawlStats, RawOpportunity, parse_event
from pipeline.normalize import normalize
from tests.support.eyp import FETCHED, PAGES, SEARCH, api_record, page, raw, search_body
from tests.support.fixture_site import HTML, JSON, FixtureSite, crawl_events

# ------------------------------------------------------------------- parsing


def test_every_section_of_an_english_page() -> None:
    detail = parse_detail(page("detail-53489_en.html"), "https://youth.europa.eu/x", "53489")
    f = detail.fields
    assert detail.missing == []
    assert f["title"] == "Nature Ranger" and f["organisation_name"] == "Ekološko društvo AAG"
    assert f["deadline"] == "2026-09-10T23:59:00"  # "10/09/2026 23:59": day first, with the hour
    assert (f["start_date"], f["end_date"]) == ("2026-10-07", "2026-10-21")
    assert f["eligible_countries"] == ["Austria", "Latvia", "Greece"]
    assert f["location_text"] == "Cesta Franceta Prešerna 26, Jesenice, Slovenia"
    assert f["categories"] == ["Environment and natural protection", "Rural development and urbanisation"]
    assert f["places_available"] == "6"
    assert "mountain hut" in f["support_text"] and "Three meals" in f["support_text"]
    assert "Karavanke" in f["description_html"] and "English (B1)" in f["description_html"]
    assert "cookies" not in f["description_html"] and "Legal notice" not in f["description_html"]
    assert set(detail.sections_html) == {"profile", "support", "languages"}


def test_another_interface_language_gives_the_same_facts() -> None:
    en = parse_detail(page("detail-53489_en.html"), "https://youth.europa.eu/x").fields
    de = parse_detail(page("detail-53489_de.html"), "https://youth.europa.eu/x").fields
    assert de["eligible_countries"] == ["Österreich", "Lettland", "Griechenland"]
    for name in ("deadline", "start_date", "end_date", "support_text", "places_available", "categories",
                 "location_text", "organisation_name"):
        assert de[name] == en[name], name
    lv = parse_detail(page("detail-53624_lv.html"), "https://youth.europa.eu/x").fields
    assert lv["deadline"] == "2026-08-15T17:00:00" and lv["eligible_countries"] == ["Spānija", "Portugāle",
                                                                                    "Latvija"]
    assert "not reimbursed" in lv["support_text"]


def test_a_redesigned_page_still_reads_and_says_what_it_lacks() -> None:
    detail = parse_detail(page("detail-53257_en.html"), "https://youth.europa.eu/x")
    f = detail.fields
    assert detail.missing == ["support"]  # no accommodation section on this page
    assert f["deadline"] == "2026-08-31T12:00:00"  # inline <strong>Application deadline:</strong>
    assert (f["start_date"], f["end_date"]) == ("2026-09-10", "2027-06-10")  # dd.mm.yyyy in a <dl>
    assert "eligible_countries" not in f  # "All countries": no restriction
    assert f["categories"] == ["Education and training", "Inclusion"]
    assert "learning difficulties" in f["description_html"] and "Two days off" in f["description_html"]


@pytest.mark.parametrize("body", [b"", b"<html>", b"<html><body><p>Maintenance</p></body></html>",
                                  b"\x00\xff<h6>Description</h6>", b"<h6>Application deadline</h6><p>soon</p>",
                                  b"<div>" * 5000])
def test_a_page_it_cannot_read_never_raises(body: bytes) -> None:
    detail = parse_detail(body, "https://youth.europa.eu/x")
    assert set(detail.missing) <= {"description", "support", "from", "dates", "location"}
    assert detail.fields.get("deadline") in (None, "soon")


def test_merge_keeps_the_api_where_it_has_a_value_and_the_page_elsewhere() -> None:
    api = parse_eyp(search_body([api_record(
        53489, description="<p>From the API.</p>", date_application_end="2026-09-09",
        volunteer_countries=["AT", "LV", "EL"], boarding_arrangements=["Accommodation"])], 0, 10).encode(),
        "https://youth.europa.eu" + SEARCH)[0][0]
    detail = parse_detail(page("detail-53489_en.html"), api["url"], "53489")
    merged = merge(api, detail)
    assert merged["deadline"] == "2026-09-09" and merged["eligible_countries"] == ["AT", "LV", "EL"]
    assert merged["places_available"] == "6" and merged["support_text"] == detail.fields["support_text"]
    assert merged["description_html"].startswith("<p>From the API.</p>")
    assert "Accommodation, food and transport arrangements" in merged["description_html"]
    assert merged["structured"]["detail"]["deadline"] == "2026-09-10T23:59:00"  # both kept
    assert merged["title"] == "Opportunity 53489"


def test_the_page_gives_the_normalizer_support_residence_and_deadline() -> None:
    api = parse_eyp(search_body([api_record(53624, country="BO", town="Ciudad de El Alto")], 0, 10)
                    .encode(), "https://youth.europa.eu" + SEARCH)[0][0]
    before = normalize(raw(api), now=FETCHED)
    after = normalize(raw(merge(api, parse_detail(page("detail-53624_lv.html"), api["url"]))), now=FETCHED)
    # the API record says nothing of support: the programme's rules fill it (ESC volunteering)
    assert before.support.travel is True and before.eligibility.residence_countries == []
    assert before.deadline is None
    assert after.support.accommodation is True and after.support.food is True
    assert after.support.travel is False  # "International travel is not reimbursed"
    assert after.eligibility.residence_countries == ["ES", "PT", "LV"]
    assert after.deadline and after.deadline.isoformat() == "2026-08-15"


def test_extract_reads_a_saved_detail_page() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tilts.cli", "extract", str(PAGES / "detail-53489_en.html"), "--kind", "eyp",
         "--base-url", "https://youth.europa.eu/solidarity/opportunity/53489_en"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    [item] = [RawOpportunity.model_validate_json(line) for line in done.stdout.splitlines()]
    assert item.external_id == "53489" and item.deadline == "2026-09-10T23:59:00"
    assert item.eligible_countries == ["Austria", "Latvia", "Greece"] and item.support_text


# ------------------------------------------------------------------ crawling


def test_post_search_asks_for_the_fields_explicitly(tmp_path: Path) -> None:
    records = [api_record(n) for n in (1, 2, 3)]

    def search(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        body = json.loads(query.get("_body") or "{}")
        return 200, JSON, search_body(records, int(body.get("from", 0)), int(body.get("size", 10)))

    with FixtureSite({SEARCH: search}) as site:
        bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
        result = runner.crawl("eyp", {"source_id": "esc", "start_urls": site.url + SEARCH,
                                      "options": json.dumps({"request": "post", "page_size": 2,
                                                             "funding_programmes": [5]})},
                              bus_url=bus_url, settings={"DOWNLOAD_DELAY": "0"}, timeout=120)
        assert result.returncode == 0, result.log_tail
        asked = [r for r in site.requests if r["path"] == SEARCH]
    bodies = [json.loads(r["query"]["_body"]) for r in asked]
    assert all(r["method"] == "POST" for r in asked) and [b["from"] for b in bodies] == [0, 2]
    assert {"description", "participant_profile", "countries", "volunteer_countries"} <= set(bodies[0]["fields"])
    assert bodies[0]["type"] == "Opportunity" and bodies[0]["size"] == 2
    assert bodies[0]["filters"] == {"status": "open", "funding_programme": {"id": [5]}}
    assert bodies[0]["sort"] == {"created": "desc"}
    assert sorted(r.external_id for r in crawl_events(bus_url)["raw"]) == ["1", "2", "3"]


def test_detail_pages_only_for_new_or_changed_listings_and_politely(tmp_path: Path) -> None:
    records = [api_record(53489, title="Nature Ranger", date_application_end="2026-09-10",
                          volunteer_countries=["AT", "LV", "EL"]),
               api_record(53257, title="Assistant Teacher", country="EL", town="Vrontados"),
               api_record(53624, title="Advocacy Assistant", country="BO", town="El Alto"),
               api_record(53700, title="Withdrawn page")]
    throttled = {"53624": 1}  # answers 429 once, asking for 2 s

    def search(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, JSON, search_body(records, int(query.get("from", 0)), int(query.get("size", 10)))

    def detail(opid: str, name: str):
        def serve(query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            if throttled.get(opid):
                throttled[opid] -= 1
                return 429, {"Retry-After": "2", "Content-Type": "text/plain"}, b"slow down"
            etag = f'"{opid}-v1"'
            if site.requests[-1]["headers"].get("If-None-Match") == etag:
                return 304, {"ETag": etag}, b""
            return 200, {**HTML, "ETag": etag}, page(name)
        return serve

    routes = {SEARCH: search,
              "/solidarity/opportunity/53489_en": detail("53489", "detail-53489_en.html"),
              "/solidarity/opportunity/53257_en": detail("53257", "detail-53257_en.html"),
              "/solidarity/opportunity/53624_en": detail("53624", "detail-53624_lv.html")}
    settings = Settings(data_dir=tmp_path, download_delay=0.0, KAFKA_BOOTSTRAP_SERVERS=None,
                        ELASTICSEARCH_URL=None)
    with FixtureSite(routes) as site:
        source = Source(id="esc", name="ESC", home_url=site.url + "/", spider="eyp",
                        start_urls=[site.url + SEARCH], allowed_domains=["127.0.0.1"], language="en",
                        programme="European Solidarity Corps",
                        options={"details": True, "page_size": 2},
                        politeness={"concurrency": 1})
        bus = open_bus(settings.bus_url)
        seen_raw: list[RawOpportunity] = []

        def crawl() -> tuple[CrawlStats, list[RawOpportunity], list[str]]:
            before = len(site.requests)
            result = crawl_source(settings, source, timeout=120)
            assert result.returncode == 0, result.log_tail
            consumer = bus.consumer(f"c{before}", [CRAWL_STATS_TOPIC, RAW_TOPIC])
            messages = []
            while batch := consumer.poll(timeout=0.5):
                messages += batch
            consumer.close()
            stats = [parse_event(CrawlStats, m.value) for m in messages if m.topic.endswith(CRAWL_STATS_TOPIC)]
            raws = [parse_event(RawOpportunity, m.value) for m in messages if m.topic.endswith(RAW_TOPIC)]
            new_raws = raws[len(seen_raw):]
            seen_raw.extend(new_raws)
            pages = [r["path"].rsplit("/", 1)[-1] for r in site.requests[before:]
                     if r["path"].startswith("/solidarity/")]
            return stats[-1], new_raws, pages

        first, published, pages = crawl()
        assert sorted(pages) == ["53257_en", "53489_en", "53624_en", "53624_en", "53700_en"]
        assert (first.new, first.items) == (4, 4)
        got = {r.external_id: r for r in published}
        ranger = got["53489"]
        assert ranger.deadline == "2026-09-10" and ranger.eligible_countries == ["AT", "LV", "EL"]  # the API's
        assert ranger.places_available == "6" and "mountain hut" in (ranger.support_text or "")
        assert "Accommodation, food and transport arrangements" in (ranger.description_html or "")
        assert got["53257"].deadline == "2026-08-31T12:00:00"  # the API had none: the page's
        assert got["53624"].eligible_countries == ["Spānija", "Portugāle", "Latvija"]
        assert got["53700"].support_text is None and got["53700"].title == "Withdrawn page"  # page 404
        assert first.warnings_by_kind == {"eyp_detail_missing_support": 1, "eyp_detail_unavailable": 1,
                                          "rate_limited": 1}
        assert first.errors == 0
        retried = [r["time"] for r in site.requests if r["path"].endswith("/53624_en")]
        assert retried[1] - retried[0] >= 2.0  # Retry-After: 2 was honoured

        second, published, pages = crawl()  # nothing changed on the source
        assert pages == ["53700_en"]  # only the page that failed is asked for again
        assert (second.unchanged, second.items) == (4, 0) and published == []

        records[0]["title"] = "Nature Ranger (new dates)"
        third, published, pages = crawl()
        assert sorted(pages) == ["53489_en", "53700_en"]
        asked = [r for r in site.requests if r["path"].endswith("/53489_en")][-1]
        assert asked["headers"].get("If-None-Match") == '"53489-v1"'  # a conditional GET: 304
        assert (third.changed, third.items) == (1, 1)
        assert published[0].title == "Nature Ranger (new dates)" and published[0].places_available == "6"
        bus.close()


def test_one_crawl_asks_for_a_bounded_number_of_pages(tmp_path: Path) -> None:
    records = [api_record(n) for n in (11, 12, 13)]

    def search(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, JSON, search_body(records, int(query.get("from", 0)), int(query.get("size", 10)))

    routes = {SEARCH: search, **{f"/solidarity/opportunity/{n}_en": (200, HTML, page("detail-53489_en.html"))
                                 for n in (11, 12, 13)}}
    with FixtureSite(routes) as site:
        bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
        result = runner.crawl("eyp", {"source_id": "esc", "start_urls": site.url + SEARCH,
                                      "options": json.dumps({"details": True, "max_details": 1})},
                              bus_url=bus_url, settings={"DOWNLOAD_DELAY": "0"}, timeout=120)
        assert result.returncode == 0, result.log_tail
        pages = [r for r in site.requests if r["path"].startswith("/solidarity/")]
    got = crawl_events(bus_url)
    assert len(pages) == 1 and len(got["raw"]) == 3  # every listing published, one completed
    assert sum(1 for r in got["raw"] if r.support_text) == 1
    assert got["stats"][0].warnings_by_kind == {"eyp_detail_deferred": 2}


def test_the_gold_records_are_what_the_spider_publishes() -> None:
    """tests/gold/esc-detail.yaml holds API records merged with these pages: the
    parser must still produce exactly them (the gold set then scores the normalizer)."""
    import yaml

    doc = yaml.safe_load((Path(__file__).parents[1] / "gold" / "esc-detail.yaml").read_text("utf-8"))
    assert len(doc["records"]) >= 3
    for record in doc["records"]:
        api = parse_eyp(search_body([record["from_page"]["api"]], 0, 10).encode(),
                        "https://youth.europa.eu" + SEARCH)[0][0]
        merged = merge(api, parse_detail(page(record["from_page"]["page"]), api["url"], api["external_id"]))
        merged.pop("_method")
        assert merged == record["raw"], record["id"]
