"""Every spider kind, run for real (a child Scrapy process) against fixture sites
on 127.0.0.1 in several languages, checking the fields it extracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.events import (
    DLQ_TOPIC,
    RawOpportunity,
)
from tests.support.fixture_site import FIXTURES, HTML, JSON, FixtureSite, fixture, run_spider


def by_title(raws: list[RawOpportunity], start: str) -> RawOpportunity:
    return next(r for r in raws if r.title and r.title.startswith(start))


def test_rss_feed_in_russian(tmp_path: Path) -> None:
    routes = {"/feed.rss": (200, {"Content-Type": "application/rss+xml"}, fixture("dobro-ru.rss"))}
    with FixtureSite(routes) as site:
        got = run_spider("feed", {"start_urls": site.url + "/feed.rss", "language": "ru",
                                  "country": "LV"}, tmp_path)
    cafe = by_title(got["raw"], "Волонтёры для языкового кафе")
    assert cafe.external_id == "dobro-2026-118"
    assert cafe.url.path == "/novosti/yazykovoe-kafe"
    assert "латышского языка на уровне B2" in cafe.description_html  # the full content:encoded
    assert cafe.categories == ["Интеграция", "Образование"]
    assert cafe.organisation_name == "Общество «Шаги»"
    assert cafe.posted_date and cafe.extraction_method == "feed"
    assert cafe.source_language == "ru" and cafe.default_country == "LV"
    assert len(got["raw"]) == 2 and got["stats"][0].items == 2


def test_atom_feed_in_german_follows_entries_for_full_text(tmp_path: Path) -> None:
    routes = {"/atom.xml": (200, {"Content-Type": "application/atom+xml"}, fixture("ehrenamt-de.atom")),
              "/angebote/tafel": (200, HTML, fixture("tafel.html")),
              "/angebote/sprachpaten": (200, HTML, fixture("sprachpaten.html"))}
    with FixtureSite(routes) as site:
        got = run_spider("feed", {"start_urls": site.url + "/atom.xml",
                                  "options": json.dumps({"follow": True})}, tmp_path)
    tafel = by_title(got["raw"], "Helfer:in bei der Tafel")
    assert tafel.organisation_name == "Berliner Tafel e.V."  # from the page's JSON-LD
    assert tafel.city == "Berlin" and tafel.external_id == "tag:freiwillig-berlin.de,2026:1740"
    paten = by_title(got["raw"], "Sprachpaten")
    assert "ab dem 4. Januar 2027" in paten.description_html and "Impressum" not in paten.description_html
    assert paten.organisation_name == "Nachbarschaftshaus Neukölln e.V." and paten.categories == ["Integration"]


def test_wordpress_posts_paginated_and_events_calendar(tmp_path: Path) -> None:
    def posts(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        headers = {**JSON, "X-WP-Total": "4", "X-WP-TotalPages": "2"}
        return 200, headers, fixture(f"wp-posts-{query.get('page', '1')}.json")

    routes = {"/wp-json/wp/v2/posts": posts,
              "/wp-json/tribe/events/v1/events": (200, JSON, fixture("tribe-events.json"))}
    with FixtureSite(routes) as site:
        got = run_spider("wordpress", {"start_urls": site.url + "/", "language": "lv",
                                       "options": json.dumps({"events": True, "per_page": 2,
                                                              "categories": [5, 7]})}, tmp_path)
        asked = [r["query"] for r in site.requests if r["path"] == "/wp-json/wp/v2/posts"]
    assert sorted(q["page"] for q in asked) == ["1", "2"]  # X-WP-TotalPages followed
    assert all(q["per_page"] == "2" and q["categories"] == "5,7" and q["_embed"] == "1" for q in asked)
    esk = by_title(got["raw"], "Eiropas Solidaritātes korpuss – brīvprātīgais darbs")  # entities decoded
    assert esk.external_id == "post-2291" and esk.categories == ["Brīvprātīgais darbs", "ESK", "Igaunija"]
    assert esk.posted_date == "2026-11-12T08:15:00" and "15. decembrim" in esk.description_html
    assert by_title(got["raw"], "Meža stādīšanas talka").url.path == "/2026/11/talka-sigulda/"
    ranger = by_title(got["raw"], "Nature Ranger")
    assert (ranger.city, ranger.country, ranger.postal_code) == ("Jesenice", "Slovenia", "4270")
    assert ranger.start_date == "2026-10-07 07:00:00" and ranger.organisation_name == "Ekološko društvo AAG"
    assert ranger.latitude == "46.43" and ranger.categories == ["European Solidarity Corps", "Nature"]
    assert len(got["raw"]) == 4
    assert [m.header("dlq-stage") for m in got[DLQ_TOPIC]] == [b"crawl"]  # the post without an id


def test_declarative_listing_in_latvian_obeys_robots_and_domains(tmp_path: Path) -> None:
    selectors = {
        "item_links": "a.mission-link::attr(href)",
        "next_page": "a.next::attr(href)",
        "fields": {"title": "h1.mission-title::text", "organisation_name": "dd.org::text",
                   "location_text": "dd.place::text", "start_date": "dd.start::text",
                   "deadline": "xpath://dt[.='Pieteikties līdz']/following-sibling::dd[1]/text()",
                   "categories": "dd.areas span.tag::text",
                   "description_html": "div.mission-description"},
    }

    def listing(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, HTML, fixture(f"bp-list-{query.get('page', '1')}.html")

    routes = {"/misijas": listing, "/private/misija-9": (200, HTML, fixture("bp-1041.html"))}
    for n in (1041, 1042, 1043, 1099):
        routes[f"/misijas/{n}"] = (200, HTML, fixture(f"bp-{n}.html"))
    with FixtureSite(routes, robots="User-agent: *\nDisallow: /private/\n") as site:
        got = run_spider("listing", {"start_urls": site.url + "/misijas", "language": "lv",
                                     "country": "LV", "selectors": json.dumps(selectors)}, tmp_path)
        paths = site.paths()
    assert paths[0] == "/robots.txt" and "/private/misija-9" not in paths
    assert got["stats"][0].robots_denials == 1
    assert {r.url.path for r in got["raw"]} == {"/misijas/1041", "/misijas/1042", "/misijas/1043"}
    tirgus = by_title(got["raw"], "Palīdzība Ziemassvētku")
    assert tirgus.organisation_name == 'Biedrība "Rīgas pilsētas Sarkanais Krusts"'
    assert tirgus.location_text == "Rīga, Brīvības iela 55"
    assert tirgus.start_date == "2026. gada 12. decembrī" and tirgus.deadline == "2026. gada 5. decembrim"
    assert tirgus.categories == ["Sociālā palīdzība", "Labdarība"]
    assert "<p>Vecums: no 16 gadiem.</p>" in tirgus.description_html
    assert tirgus.extraction_method == "selectors"
    # The page without a title is a dead letter with the reason, not a silent drop.
    assert any(b"no title" in (m.header("dlq-error-message") or b"") for m in got[DLQ_TOPIC])


def test_icalendar_events(tmp_path: Path) -> None:
    routes = {"/talkas.ics": (200, {"Content-Type": "text/calendar"}, fixture("events.ics"))}
    with FixtureSite(routes) as site:
        got = run_spider("ical", {"start_urls": site.url + "/talkas.ics", "language": "lv"}, tmp_path)
    talka = by_title(got["raw"], "Meža stādīšanas talka")
    # an all-day event's DTEND is the day after (RFC 5545): a one-day talka
    assert (talka.start_date, talka.end_date) == ("2027-04-24", "2027-04-24")
    assert talka.location_text == "Sigulda, Gaujas Nacionālais parks"
    assert talka.categories == ["Vide", "Talka"] and talka.organisation_name == "Latvijas Dabas fonds"
    assert talka.external_id == "talka-2027-04-24@ldf.lv" and talka.url.path == "/talkas/2027-04-24"
    assert "latviešu valodas zināšanas" in talka.description_html  # folded lines joined
    birds = by_title(got["raw"], "Winter bird count")
    assert birds.start_date.startswith("2026-12-05T08:00:00")
    # without DTEND (RFC 5545 3.6.1): an all-day event lasts its day, a DURATION counts from the start
    reading = by_title(got["raw"], "Reading aloud")
    assert (reading.start_date, reading.end_date) == ("2026-12-12", "2026-12-12")
    beach = by_title(got["raw"], "Two-day beach clean-up")
    assert (beach.start_date, beach.end_date) == ("2027-05-01", "2027-05-02")
    talk = by_title(got["raw"], "Evening talk")
    assert talk.end_date.startswith("2027-02-03T19:00:00")
    assert len(got["raw"]) == 5 and len(got[DLQ_TOPIC]) == 1  # the event without a UID


def test_european_youth_portal_api(tmp_path: Path) -> None:
    def search(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, JSON, fixture(f"eyp-{query.get('from', '0')}.json")

    routes = {"/api/rest/eyp/v1/search_en": search}
    with FixtureSite(routes) as site:
        got = run_spider("eyp", {"start_urls": site.url + "/api/rest/eyp/v1/search_en",
                                 "programme": "European Solidarity Corps", "language": "en",
                                 "attribution": "European Youth Portal, CC BY 4.0",
                                 "options": json.dumps({"page_size": 2})}, tmp_path)
        asked = [r["query"] for r in site.requests if r["path"].startswith("/api/")]
    assert [q["from"] for q in asked] == ["0", "2"] and all(q["size"] == "2" for q in asked)
    assert all(q["type"] == "Opportunity" and q["filters[status]"] == "open" for q in asked)
    ranger = next(r for r in got["raw"] if r.external_id == "53489")
    assert ranger.url.path == "/solidarity/opportunity/53489_en"  # on the real portal's host pattern
    assert (ranger.city, ranger.country, ranger.deadline) == ("Jesenice", "SI", "2026-09-10")
    assert ranger.eligible_countries == ["AT", "LV", "EL"]
    assert ranger.categories == ["Environment and natural protection"]
    assert "Participant profile" in ranger.description_html and "Accommodation" in ranger.description_html
    assert ranger.attribution == "European Youth Portal, CC BY 4.0"
    chios = next(r for r in got["raw"] if r.external_id == "53257")
    assert chios.deadline is None and chios.eligible_countries == []  # "all" = no restriction
    bolivia = next(r for r in got["raw"] if r.external_id == "53624")
    assert bolivia.structured and bolivia.structured["strand"] == "Humanitarian Aid"
    assert len(got["raw"]) == 3 and len(got[DLQ_TOPIC]) == 1  # the hit without an opid


def test_sitemap_with_url_filters_and_lastmod(tmp_path: Path) -> None:
    routes = {"/sitemap.xml": (200, {"Content-Type": "application/xml"}, fixture("sitemap-index.xml")),
              "/sitemap-opportunities.xml": (200, {"Content-Type": "application/xml"},
                                             fixture("sitemap-opportunities.xml")),
              "/einsatzstellen/naturschutz-leipzig": (200, HTML, fixture("bfd-leipzig.html")),
              "/einsatzstellen/tafel-koeln": (200, HTML, fixture("bfd-koeln.html")),
              "/einsatzstellen/alt-2019": (200, HTML, fixture("bfd-leipzig.html")),
              "/ueber-uns": (200, HTML, "<html><body>Über uns</body></html>")}
    options = {"include": ["/einsatzstellen/"], "lastmod_after": "2025-01-01"}
    with FixtureSite(routes) as site:
        got = run_spider("sitemap", {"start_urls": site.url + "/sitemap.xml", "language": "de",
                                     "options": json.dumps(options)}, tmp_path)
        paths = site.paths()
    assert "/ueber-uns" not in paths and "/einsatzstellen/alt-2019" not in paths
    assert "/einsatzstellen/versteckt" not in paths  # sitemap pages are not followed
    leipzig = by_title(got["raw"], "Bundesfreiwilligendienst")
    assert leipzig.external_id == "BFD-221" and leipzig.extraction_method == "json-ld"
    assert leipzig.organisation_name == "NABU Leipzig" and leipzig.postal_code == "04109"
    koeln = by_title(got["raw"], "Helfer:in bei der Kölner Tafel")
    assert koeln.extraction_method == "microdata" and koeln.city == "Köln"
    assert koeln.organisation_name == "Kölner Tafel e.V." and koeln.employment_type == "VOLUNTEER"


def test_extract_command_reads_a_saved_feed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tilts.cli", "extract", str(FIXTURES / "dobro-ru.rss"), "--kind", "feed",
         "--base-url", "https://ru.dobro.lv/feed"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = [RawOpportunity.model_validate_json(line) for line in done.stdout.splitlines()]
    assert [r.external_id for r in lines] == ["dobro-2026-118", "dobro-2026-119"]
    assert lines[0].extraction_method == "feed"


def test_extract_command_reports_bad_entries(tmp_path: Path) -> None:
    saved = tmp_path / "talkas.ics"
    saved.write_text(fixture("events.ics").replace("{BASE}", "https://www.ldf.lv"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tilts.cli", "extract", str(saved), "--kind", "ical",
         "--base-url", "https://www.ldf.lv/talkas.ics"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1  # some entries failed: said on stderr, the rest printed
    assert len(done.stdout.splitlines()) == 5 and "without UID" in done.stderr


@pytest.mark.parametrize("kind", ["feed", "wordpress", "ical", "eyp", "listing", "sitemap", "schemaorg",
                                  "unv", "volunteer_connector", "doit", "idealist"])
def test_every_kind_is_a_scrapy_spider(kind: str) -> None:
    done = subprocess.run([sys.executable, "-m", "scrapy", "list"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert kind in done.stdout.split()


def test_partner_apis_volunteer_connector_doit_idealist(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILTS_TEST_IDEALIST_KEY", "k3y")  # the child crawl inherits it
    vc_page_1 = {"count": 3, "next": "{BASE}/api/search/?page=2", "results": [
        {"id": 101, "title": "Food bank sorter", "remote_or_online": False,
         "organization": {"name": "Daily Bread", "url": "https://dailybread.example"},
         "activities": [{"name": "Hunger"}, {"name": "Community"}], "dates": "Ongoing",
         "audience": {"scope": "local", "regions": [{"name": "Toronto, ON"}]}},
        {"id": 102, "title": "Online tutor", "remote_or_online": True,
         "organization": {"name": "Learn Together"}, "activities": [{"name": "Education"}]}]}
    vc_page_2 = {"count": 3, "next": None, "results": [{"id": 103, "title": "Park clean-up"},
                                                       {"title": "no id"}]}
    doit = {"data": {"items": [
        {"id": "d-1", "title": "Befriender for older people", "description": "<p>Weekly calls.</p>",
         "lat": 51.51, "lng": -0.12, "postcode": "WC2N 5DU", "places_available": 3,
         "working_from_home": True, "interests": [{"name": "Older people"}],
         "for_recruiter": {"name": "Age Friends London"}}]}}
    idealist = {
        "": {"volops": [{"id": "i-1", "name": "Garden helper", "updated": "2026-11-20T10:00:00Z",
                          "org": {"name": "Green NYC"}, "address": {"city": "New York", "country": "US"}}],
             "hasMore": True},
        "2026-11-20T10:00:00Z": {"volops": [{"id": "i-2", "name": "Remote mentor", "remoteOk": True,
                                              "updated": "2026-11-21T09:00:00Z"}], "hasMore": False},
    }

    def vc(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, JSON, json.dumps(vc_page_2 if query.get("page") == "2" else vc_page_1)

    def ideal(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 200, JSON, json.dumps(idealist[query.get("since", "")])

    routes = {"/api/search/": vc, "/v1/opportunities": (200, JSON, json.dumps(doit)),
              "/api/v1/listings/volops": ideal}
    with FixtureSite(routes) as site:
        got_vc = run_spider("volunteer_connector", {"start_urls": site.url + "/api/search/"},
                            tmp_path / "vc")
        got_doit = run_spider("doit", {"start_urls": site.url + "/v1/opportunities",
                                       "options": json.dumps({"points": [{"lat": 51.5, "lng": -0.1,
                                                                          "miles": 10}]})},
                              tmp_path / "doit")
        got_ideal = run_spider("idealist", {"start_urls": site.url + "/api/v1/listings/volops",
                                            "api_key_env": "TILTS_TEST_IDEALIST_KEY"}, tmp_path / "ideal")
        doit_query = next(r["query"] for r in site.requests if r["path"] == "/v1/opportunities")
        since = [r["query"].get("since") for r in site.requests if r["path"] == "/api/v1/listings/volops"]
        auth = {r["headers"].get("Authorization") for r in site.requests
                if r["path"] == "/api/v1/listings/volops"}
    bank = by_title(got_vc["raw"], "Food bank sorter")
    assert bank.organisation_name == "Daily Bread" and bank.categories == ["Hunger", "Community"]
    assert bank.location_text == "Toronto, ON" and bank.duration_text == "Ongoing"
    assert by_title(got_vc["raw"], "Online tutor").remote == "true"
    assert len(got_vc["raw"]) == 3 and len(got_vc[DLQ_TOPIC]) == 1  # next followed; no-id reported
    befriender = got_doit["raw"][0]
    assert doit_query == {"lat": "51.5", "lng": "-0.1", "miles": "10"}
    assert (befriender.postal_code, befriender.places_available, befriender.remote) == ("WC2N 5DU", "3", "true")
    assert befriender.organisation_name == "Age Friends London" and befriender.categories == ["Older people"]
    assert since == [None, "2026-11-20T10:00:00Z"]  # the change feed moves forward
    assert auth == {"Basic azN5Og=="}  # the key as the Basic user name, never in the URL
    assert {r.title for r in got_ideal["raw"]} == {"Garden helper", "Remote mentor"}


def test_un_volunteers_search_and_detail(tmp_path: Path) -> None:
    assignments = [
        {"id": 1700123, "title": "Community Health Volunteer", "countryName": "Moldova",
         "dutyStation": "Chișinău", "isOnline": False, "duration": "6 months",
         "expertiseAreas": ["Health", {"name": "Community development"}], "applicationDeadline": "2026-12-15",
         "hostEntity": {"name": "WHO"}},
        {"id": 1700124, "title": "Online translator (Ukrainian)", "isOnline": True,
         "duration": "6 weeks", "expertiseAreas": ["Translation"]},
        {"id": 1700125, "title": "Data analyst", "countryName": "Kenya", "dutyStation": "Nairobi"},
    ]
    details = {a["id"]: {**a, "description": f"<p>About {a['title']}.</p>",
                         "eligibility": ["Age 18–80", "Bachelor's degree"],
                         "entitlements": ["Monthly living allowance", "Insurance"]} for a in assignments}

    def search(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        skip, take = int(query["skip"]), int(query["take"])
        return 200, JSON, json.dumps({"totalCount": 3, "items": assignments[skip:skip + take]})

    routes = {"/api/doa/search": search}
    for ident, detail in details.items():
        routes[f"/api/doa/{ident}"] = (200, JSON, json.dumps(detail))
    with FixtureSite(routes) as site:
        options = {"page_size": 2, "detail_api": site.url + "/api/doa/{id}"}
        got = run_spider("unv", {"start_urls": site.url + "/api/doa/search",
                                 "programme": "UN Volunteers", "options": json.dumps(options)}, tmp_path)
        pages = [r["query"] for r in site.requests if r["path"] == "/api/doa/search"]
    assert sorted((q["take"], q["skip"]) for q in pages) == [("2", "0"), ("2", "2")]
    health = by_title(got["raw"], "Community Health Volunteer")
    assert (health.country, health.city, health.remote) == ("Moldova", "Chișinău", None)
    assert health.duration_text == "6 months" and health.deadline == "2026-12-15"
    assert health.categories == ["Health", "Community development"] and health.organisation_name == "WHO"
    assert "<h3>Eligibility</h3>" in health.description_html and "Monthly living allowance" in health.description_html
    assert health.url.path == "/opportunities/1700123"
    assert by_title(got["raw"], "Online translator").remote == "online"
    assert len(got["raw"]) == 3
