"""Every field the partner APIs publish reaches the RawOpportunity (or, without
a field of its own, ``structured``), one test per field.

Fixtures (tests/crawlers/fixtures/partners/) follow the shapes public code that
talks to these APIs shows: Do-it ``/v1/opportunities`` (``{data: {items},
links: {next: {href}}, meta}`` with ``specific_start_date``,
``for_recruiter``/``owner_recruiter``, ``location`` admin areas, ``photo``),
Volunteer Connector ``/api/search/`` (``dates`` as "Ongoing" or "Jan. 5, 2026 -
Feb. 1, 2026", ``audience`` scope/regions/countries/latitude/longitude,
``organization`` name/url/logo, ``activities`` name/category, ``duration``) and
UN Volunteers (``{isSuccess, value: {total, result}}`` search, ``{value}``
detail with ``assignmentsList[].dutyStation``, ``startDate``, ``duration`` in
days, ``publishDate``, ``sourcingEndDate``). Expected values are read from the
fixture records themselves where the field is published as is.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from crawlers.platforms.doit import doit_next, parse_doit
from crawlers.platforms.unv import parse_unv, unv_total
from crawlers.platforms.volunteer_connector import parse_volunteer_connector
from crawlers.spider import raw_item
from pipeline.events import DLQ_TOPIC, RawOpportunity
from pipeline.normalize import normalize
from tests.support.fixture_site import JSON, FixtureSite, run_spider

PARTNERS = Path(__file__).with_name("fixtures") / "partners"
DOIT_API = "https://api.do-it.org/v1/opportunities?lat=51.5074&lng=-0.1278&miles=25"
VC_API = "https://www.volunteerconnector.org/api/search/"
UNV_SEARCH = "https://app.unv.org/api/doa/doa/SearchDoaAsyncByAzureCognitive"
UNV_DETAIL = "https://app.unv.org/api/doa/doa/1212345"


def body(name: str) -> bytes:
    return (PARTNERS / name).read_bytes()


def source(name: str) -> Any:
    return json.loads(body(name))


def parsed(parser: Any, name: str, url: str, options: dict[str, Any] | None = None) -> list[dict]:
    items, errors = parser(body(name), url, options)
    assert errors == []
    return items


def normalized(fields: dict[str, Any], **defaults: Any) -> Any:
    item = raw_item(fields, source_id="partner", crawl_id="test", **defaults)
    return normalize(RawOpportunity.model_validate(item))


# ---------------------------------------------------------------------- Do-it

DOIT_1 = source("doit-opportunities-1.json")["data"]["items"]
DOIT_2 = source("doit-opportunities-2.json")["data"]["items"]


def doit(page: int, index: int) -> dict[str, Any]:
    name = f"doit-opportunities-{page}.json"
    return parsed(parse_doit, name, DOIT_API)[index]


@pytest.mark.parametrize(("page", "index", "field", "expected"), [
    # specific dates: not read before, so start and end were missing
    (1, 0, "start_date", DOIT_1[0]["specific_start_date"]),
    (1, 0, "end_date", DOIT_1[0]["specific_end_date"]),
    (2, 0, "start_date", DOIT_2[0]["specific_start_date"]),
    (2, 0, "end_date", DOIT_2[0]["specific_end_date"]),
    # organisation: the recruiter the opportunity is for, else its owner
    (1, 0, "organisation_name", DOIT_1[0]["for_recruiter"]["name"]),
    (1, 0, "organisation_url", DOIT_1[0]["for_recruiter"]["website"]),
    (1, 1, "organisation_name", DOIT_1[1]["owner_recruiter"]["name"]),
    (1, 1, "organisation_url", "https:" + DOIT_1[1]["owner_recruiter"]["website"]),  # "//host/x"
    (2, 0, "organisation_url", None),  # a javascript: "website" is refused
    # working from home (a boolean, or the string "true")
    (1, 0, "remote", None),
    (1, 1, "remote", "true"),
    # places
    (1, 0, "places_available", str(DOIT_1[0]["places_available"])),
    (1, 1, "places_available", DOIT_1[1]["places_available"]),
    (2, 0, "places_available", "0"),
    # when it was published and changed (created/updated or created_at/updated_at)
    (1, 0, "posted_date", DOIT_1[0]["created_at"]),
    (1, 0, "updated_date", DOIT_1[0]["updated_at"]),
    (1, 1, "posted_date", DOIT_1[1]["created"]),
    (1, 1, "updated_date", DOIT_1[1]["updated"]),
    # where
    (1, 0, "latitude", str(DOIT_1[0]["lat"])),
    (1, 0, "longitude", str(DOIT_1[0]["lng"])),
    (1, 0, "postal_code", DOIT_1[0]["postcode"]),
    (1, 0, "city", DOIT_1[0]["city"]),
    (1, 0, "region", DOIT_1[0]["location"]["admin_2"]),
    (1, 0, "location_text", "2 Forest Road, Walthamstow, Waltham Forest"),
    (1, 0, "country", "GB"),
    # what
    (1, 0, "title", DOIT_1[0]["title"]),
    (1, 0, "description_html", DOIT_1[0]["description"]),
    (1, 0, "categories", ["Environment", "Animals", "Outdoor work"]),  # interests, then activities
    (1, 0, "external_id", DOIT_1[0]["id"]),
    (1, 0, "url", f"https://do-it.org/opportunities/{DOIT_1[0]['id']}"),
])
def test_doit_field(page: int, index: int, field: str, expected: Any) -> None:
    assert doit(page, index).get(field) == expected


@pytest.mark.parametrize(("key", "expected"), [
    ("suitable_for", ["Over 18s", "Groups"]),
    ("status", "live"),
    ("location_type", "RL"),
    ("recruiter_slug", "london-wildlife-trust"),
    ("recruiter_id", DOIT_1[0]["for_recruiter_id"]),
    ("image_url", DOIT_1[0]["photo"][1]["absolute_url"]),  # the widest photo
    ("organisation_logo_url", DOIT_1[0]["for_recruiter"]["logo"][1]["absolute_url"]),
    ("working_from_home", False),
])
def test_doit_fields_without_a_raw_field_are_kept_in_structured(key: str, expected: Any) -> None:
    assert doit(1, 0)["structured"][key] == expected


def test_doit_dates_and_places_reach_the_normalized_listing() -> None:
    opp = normalized(doit(1, 0), language="en", country="GB")
    assert (opp.start_date, opp.end_date) == (date(2026, 3, 3), date(2026, 9, 29))
    assert opp.places_available == 6 and opp.organisation.name == "London Wildlife Trust"
    assert opp.locations[0].city == "Walthamstow" and opp.work_mode.value == "onsite"
    assert normalized(doit(1, 1), language="en", country="GB").work_mode.value == "remote"


def test_doit_next_page_link() -> None:
    assert doit_next(body("doit-opportunities-1.json")) == source("doit-opportunities-1.json")["links"][
        "next"]["href"]
    assert doit_next(body("doit-opportunities-2.json")) is None


# --------------------------------------------------------- Volunteer Connector

VC = {r["id"]: r for r in source("volunteer-connector-search.json")["results"]}


def vc(ident: int) -> dict[str, Any]:
    return next(i for i in parsed(parse_volunteer_connector, "volunteer-connector-search.json", VC_API)
                if i["external_id"] == str(ident))


@pytest.mark.parametrize(("ident", "field", "expected"), [
    # dates: a range, a range whose start has no year, one day, "Ongoing"
    (48884, "start_date", "Jan. 5, 2026"),
    (48884, "end_date", "Feb. 1, 2026"),
    (48933, "start_date", "May 23, 2026"),
    (48933, "end_date", "May 24, 2026"),
    (48950, "start_date", VC[48950]["dates"]),
    (48950, "end_date", VC[48950]["dates"]),
    (48901, "duration_text", VC[48901]["dates"]),
    (48901, "start_date", None),
    # audience: local with coordinates, regional, national, local with regions
    (48884, "latitude", str(VC[48884]["audience"]["latitude"])),
    (48884, "longitude", str(VC[48884]["audience"]["longitude"])),
    (48901, "region", VC[48901]["audience"]["regions"][0]),
    (48901, "location_text", None),  # a province is not a place to look a city up in
    (48933, "country", VC[48933]["audience"]["countries"][0]),
    (48933, "location_text", VC[48933]["audience"]["countries"][0]),
    (48950, "location_text", VC[48950]["audience"]["regions"][0]["name"]),
    # remote
    (48901, "remote", "true"),
    (48884, "remote", None),
    # organisation
    (48884, "organisation_name", VC[48884]["organization"]["name"]),
    (48884, "organisation_url", VC[48884]["organization"]["url"]),
    (48933, "organisation_url", None),
    # activities: names, then their categories
    (48884, "categories", ["Sorting", "Newcomer support", "Events", "Community"]),
    # the listing's own page, relative or absolute
    (48884, "url", VC[48884]["url"]),
    (48901, "url", "https://www.volunteerconnector.org" + VC[48901]["url"]),
    (48884, "title", VC[48884]["title"]),
    (48884, "description_html", VC[48884]["description"]),
])
def test_volunteer_connector_field(ident: int, field: str, expected: Any) -> None:
    assert vc(ident).get(field) == expected


@pytest.mark.parametrize(("ident", "key", "expected"), [
    (48884, "audience_scope", "local"),
    (48901, "audience_regions", ["Alberta"]),
    (48933, "audience_countries", ["Canada"]),
    (48884, "organisation_logo_url", "https:" + VC[48884]["organization"]["logo"]),  # "//cdn/…"
    (48884, "time_commitment", VC[48884]["duration"]),
    (48884, "activities", VC[48884]["activities"]),
    (48884, "dates", VC[48884]["dates"]),
])
def test_volunteer_connector_fields_without_a_raw_field_are_kept_in_structured(
        ident: int, key: str, expected: Any) -> None:
    assert vc(ident)["structured"][key] == expected


def test_volunteer_connector_dates_reach_the_normalized_listing() -> None:
    drive = normalized(vc(48884), language="en", country="CA")
    assert (drive.start_date, drive.end_date) == (date(2026, 1, 5), date(2026, 2, 1))
    assert drive.locations[0].geo is not None and drive.locations[0].geo.lat == 51.0447
    marathon = normalized(vc(48933), language="en", country="CA")
    assert (marathon.start_date, marathon.end_date) == (date(2026, 5, 23), date(2026, 5, 24))
    assert normalized(vc(48901), language="en", country="CA").duration_class.value == "ongoing"


# -------------------------------------------------------------- UN Volunteers

UNV = {r["id"]: r for r in source("unv-search.json")["value"]["result"]}
UNV_D = source("unv-detail-1212345.json")["value"]


def unv(ident: int) -> dict[str, Any]:
    return next(i for i in parsed(parse_unv, "unv-search.json", UNV_SEARCH)
                if i["external_id"] == str(ident))


def unv_detail() -> dict[str, Any]:
    [item] = parsed(parse_unv, "unv-detail-1212345.json", UNV_DETAIL)
    return item


@pytest.mark.parametrize(("ident", "field", "expected"), [
    # assignment dates
    (1212345, "start_date", UNV[1212345]["startDate"]),
    (1212401, "end_date", UNV[1212401]["endDate"]),
    (1212345, "deadline", UNV[1212345]["sourcingEndDate"]),
    (1212345, "posted_date", UNV[1212345]["publishDate"]),
    (1212345, "duration_text", "365 days"),  # a number of days
    (1212401, "duration_text", UNV[1212401]["duration"]),
    # duty station and country
    (1212345, "city", UNV[1212345]["workLocation"]["label"]),
    (1212345, "country", UNV[1212345]["country"]["props"]["codeISO2"]),
    (1212399, "city", None),
    # on site, online, as arranged
    (1212345, "remote", None),
    (1212399, "remote", "online"),
    (1212401, "remote", UNV[1212401]["workArrangement"]["label"]),
    # what, and for whom
    (1212345, "title", UNV[1212345]["name"]),
    (1212345, "organisation_name", UNV[1212345]["hostEntity"]["name"]),
    (1212345, "categories", [e["label"] for e in UNV[1212345]["expertiseAreas"]]),
    (1212345, "url", "https://app.unv.org/opportunities/1212345"),
])
def test_un_volunteers_search_field(ident: int, field: str, expected: Any) -> None:
    assert unv(ident).get(field) == expected


@pytest.mark.parametrize(("field", "expected"), [
    ("city", UNV_D["assignmentsList"][0]["dutyStation"]["label"]),
    ("location_text", "Nairobi; Kisumu"),  # every duty station, each once
    ("start_date", UNV_D["startDate"]),
    ("deadline", UNV_D["sourcingEndDate"]),
    ("duration_text", f"{UNV_D['duration']} days"),
    ("country", "KE"),
])
def test_un_volunteers_detail_field(field: str, expected: Any) -> None:
    assert unv_detail()[field] == expected


def test_un_volunteers_detail_description_sections() -> None:
    text = unv_detail()["description_html"]
    assert text.startswith(UNV_D["taskDescription"])
    for heading, key in (("Mission and objectives", "organizationMission"), ("Context", "context"),
                         ("Required experience", "requiredSkillExperience")):
        assert f"<h3>{heading}</h3>{UNV_D[key]}" in text


@pytest.mark.parametrize(("key", "expected"), [
    ("duty_stations", ["Nairobi", "Kisumu"]),
    ("languages", [{"language": "English", "level": "Fluent", "required": True},
                   {"language": "Swahili", "level": "Working knowledge", "required": False}]),
    ("possibility_of_extension", True),
    ("volunteer_category", UNV_D["volunteersCategory"]["label"]),
    ("duration_days", UNV_D["duration"]),
    ("country", UNV_D["country"]["label"]),
])
def test_un_volunteers_fields_without_a_raw_field_are_kept_in_structured(key: str, expected: Any) -> None:
    assert unv_detail()["structured"][key] == expected


def test_un_volunteers_paging_total_and_renamed_fields() -> None:
    assert unv_total(body("unv-search.json")) == source("unv-search.json")["value"]["total"]
    # A registry entry renames a field (a dotted path or a list of them, first present wins).
    [item] = [i for i in parsed(parse_unv, "unv-search.json", UNV_SEARCH,
                                {"fields": {"city": ["dutyStationName", "hostEntity.shortName"]}})
              if i["external_id"] == "1212345"]
    assert item["city"] == UNV[1212345]["hostEntity"]["shortName"]


def test_un_volunteers_dates_reach_the_normalized_listing() -> None:
    opp = normalized(unv_detail(), language="en", programme="UN Volunteers")
    assert opp.start_date == date(2026, 3, 1) and opp.deadline == date(2026, 2, 1)
    assert opp.locations[0].city == "Nairobi" and opp.locations[0].country == "KE"
    assert opp.duration_class.value == "long_term"
    analyst = normalized(unv(1212401), language="en")
    assert (analyst.start_date, analyst.end_date) == (date(2026, 5, 1), date(2026, 10, 31))
    assert analyst.work_mode.value == "hybrid"


# ---------------------------------------------- the spiders, against fixture sites


def test_doit_spider_follows_next_pages_and_publishes_every_field(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILTS_TEST_DOIT_KEY", "d01t")

    def opportunities(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        page = 2 if query.get("page") == "2" else 1
        return 200, JSON, (PARTNERS / f"doit-opportunities-{page}.json").read_text(encoding="utf-8")

    with FixtureSite({"/v1/opportunities": opportunities}) as site:
        got = run_spider("doit", {"start_urls": site.url + "/v1/opportunities", "country": "GB",
                                  "api_key_env": "TILTS_TEST_DOIT_KEY",
                                  "options": json.dumps({"points": [{"lat": 51.5074, "lng": -0.1278,
                                                                     "miles": 25}]})}, tmp_path)
        pages = [(r["query"].get("page"), r["headers"].get("Authorization")) for r in site.requests
                 if r["path"] == "/v1/opportunities"]
    assert pages == [(None, "Bearer d01t"), ("2", "Bearer d01t")]  # links.next followed, key kept
    raws = {r.external_id: r for r in got["raw"]}
    assert len(raws) == 3 and got[DLQ_TOPIC] == []
    wetlands = raws[DOIT_1[0]["id"]]
    assert (wetlands.start_date, wetlands.end_date) == (DOIT_1[0]["specific_start_date"],
                                                        DOIT_1[0]["specific_end_date"])
    assert wetlands.organisation_url == DOIT_1[0]["for_recruiter"]["website"]
    assert wetlands.structured and wetlands.structured["suitable_for"] == ["Over 18s", "Groups"]
    assert raws[DOIT_2[0]["id"]].start_date == DOIT_2[0]["specific_start_date"]


def test_volunteer_connector_spider_publishes_dates_and_audience(tmp_path: Path) -> None:
    with FixtureSite({"/api/search/": (200, JSON, body("volunteer-connector-search.json"))}) as site:
        got = run_spider("volunteer_connector", {"start_urls": site.url + "/api/search/",
                                                 "country": "CA"}, tmp_path)
    raws = {r.external_id: r for r in got["raw"]}
    assert (raws["48884"].start_date, raws["48884"].end_date) == ("Jan. 5, 2026", "Feb. 1, 2026")
    assert raws["48884"].latitude == "51.0447" and raws["48901"].region == "Alberta"
    assert raws["48901"].url.path == "/opportunity/48901/board-treasurer/"  # resolved on the API's host


def test_un_volunteers_spider_reads_the_envelope_and_merges_the_detail(tmp_path: Path) -> None:
    search = source("unv-search.json")

    def page(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        skip, take = int(query["skip"]), int(query["take"])
        return 200, JSON, json.dumps({**search, "value": {**search["value"],
                                                          "result": search["value"]["result"][skip:skip + take]}})

    routes: dict[str, Any] = {"/api/doa/doa/search": page,
                              "/api/doa/doa/1212345": (200, JSON, body("unv-detail-1212345.json"))}
    for ident in (1212399, 1212401):  # details that add nothing: the search result stands
        routes[f"/api/doa/doa/{ident}"] = (200, JSON, json.dumps({"isSuccess": True,
                                                                  "value": {"id": ident}}))
    with FixtureSite(routes) as site:
        options = {"page_size": 2, "detail_api": site.url + "/api/doa/doa/{id}"}
        got = run_spider("unv", {"start_urls": site.url + "/api/doa/doa/search",
                                 "programme": "UN Volunteers", "options": json.dumps(options)}, tmp_path)
        skips = sorted(r["query"]["skip"] for r in site.requests if r["path"] == "/api/doa/doa/search")
    assert skips == ["0", "2"]  # value.total read: the second page was asked for
    raws = {r.external_id: r for r in got["raw"]}
    assert set(raws) == {"1212345", "1212399", "1212401"}
    officer = raws["1212345"]
    assert (officer.city, officer.location_text, officer.country) == ("Nairobi", "Nairobi; Kisumu", "KE")
    assert officer.start_date == UNV_D["startDate"] and officer.deadline == UNV_D["sourcingEndDate"]
    assert officer.structured is not None
    assert officer.structured["duty_stations"] == ["Nairobi", "Kisumu"]  # from the detail
    assert officer.structured["volunteer_category"] == UNV_D["volunteersCategory"]["label"]
    assert raws["1212401"].end_date == UNV[1212401]["endDate"]


def test_un_volunteers_spider_posts_the_search_when_asked(tmp_path: Path) -> None:
    search = source("unv-search.json")
    bodies: list[dict[str, Any]] = []

    def page(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        asked = json.loads(query.get("_body") or "{}")  # the POSTed JSON (fixture_site)
        bodies.append(asked)
        skip, take = int(asked.get("skip", 0)), int(asked.get("take", 0))
        return 200, JSON, json.dumps({**search, "value": {**search["value"],
                                                          "result": search["value"]["result"][skip:skip + take]}})

    path = "/api/doa/doa/SearchDoaAsyncByAzureCognitive"
    with FixtureSite({path: page}) as site:
        options = {"page_size": 2, "request": "post", "query": {"sort": "publishDate"}}
        got = run_spider("unv", {"start_urls": site.url + path, "options": json.dumps(options)}, tmp_path)
    assert sorted((b["skip"], b["take"], b["sort"]) for b in bodies) == [(0, 2, "publishDate"),
                                                                         (2, 2, "publishDate")]
    assert {r.external_id for r in got["raw"]} == {"1212345", "1212399", "1212401"}
