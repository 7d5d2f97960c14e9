"""The replay server speaks the real shapes, keeps time, and the comparison is right.

The spiders' tests crawl each replay source with the real spider (a child
process, as the scheduler runs it) and find every listing the replay's ground
truth says is open; HTTP tests check validators, 304s and the 429 with
Retry-After; the model's tests check that listings appear, change and close
reproducibly; the comparison's tests check it against hand-made documents.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from crawlers.runner import crawl_source
from crawlers.sources import Source, load_sources
from devtools.replay import SOURCE_IDS, Replay
from devtools.replay.compare import Closed, Place, Truth, compare, place_matches, wrong_fields
from devtools.replay.corpus import ESC_SNAPSHOT, esc_records, nyc_rows
from devtools.replay.model import NYC_SHIFT_DAYS
from pipeline.config import Settings
from pipeline.events import DLQ_TOPIC
from tests.support.fixture_site import crawl_events

SEARCH = "/api/rest/eyp/v1/search_en"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# ------------------------------------------------------------------ data


def test_the_bundled_data_is_the_shared_data() -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not shared.exists():
        pytest.skip("../shared/data is not here")
    assert esc_records() == esc_records(shared / "esc-opportunities-2026-08.json")
    assert nyc_rows() == nyc_rows(shared / "nyc-service-volunteer-opportunities.csv")
    assert len(esc_records()) == 1176 and len(nyc_rows()) == 665


def test_the_registry_mirrors_the_real_one() -> None:
    real = load_sources()["european-youth-portal"]
    with Replay(limit=5) as replay:
        sources = {s.id: s for s in replay.sources(include_disabled=True)}
        assert tuple(sources) == SOURCE_IDS
        esc = sources["replay-esc"]
        for name in ("spider", "programme", "language", "schedule", "politeness", "options", "attribution"):
            assert getattr(esc, name) == getattr(real, name), name
        assert str(esc.start_urls[0]) == f"{replay.url}{SEARCH}"
        assert not sources["replay-nyc-sitemap"].enabled
        assert [s.id for s in replay.sources()] == ["replay-esc", "replay-nyc-site", "replay-nyc-rss",
                                                     "replay-nyc-ical"]
        assert replay.source("replay-esc", polite=False).politeness.download_delay is None
        assert replay.source("replay-esc", polite=False).politeness.concurrency == 1


# ------------------------------------------------------------------ HTTP


def test_api_pages_filters_and_post() -> None:
    with Replay(limit=30) as replay:
        total = len([t for t in replay.truth(["replay-esc"])])
        status, headers, body = get(f"{replay.url}{SEARCH}?type=Opportunity&filters%5Bstatus%5D=open"
                                    "&from=0&size=10&sort%5Bcreated%5D=desc")
        data = json.loads(body)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert data["hits"]["total"] == {"value": total, "relation": "eq"}
        hits = [h["_source"] for h in data["hits"]["hits"]]
        assert len(hits) == 10 and hits == sorted(hits, key=lambda h: h["created"], reverse=True)
        first = hits[0]
        assert {"opid", "title", "description", "town", "country", "date_start", "has_no_deadline",
                "topics", "volunteer_countries", "created", "changed"} <= set(first)
        assert "GR" not in first["volunteer_countries"]  # the EU's codes: EL, UK
        _, _, page2 = get(f"{replay.url}{SEARCH}?type=Opportunity&filters%5Bstatus%5D=open&from=10&size=10")
        assert {h["_id"] for h in json.loads(page2)["hits"]["hits"]}.isdisjoint(
            {str(h["opid"]) for h in hits})
        req = urllib.request.Request(f"{replay.url}{SEARCH}", method="POST",
                                     data=json.dumps({"type": "Opportunity", "filters": {"status": "open"},
                                                      "from": 0, "size": 500}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert len(json.loads(resp.read())["hits"]["hits"]) == total


def test_validators_304_and_429() -> None:
    with Replay(limit=5, rate_limit=3) as replay:
        url = f"{replay.url}/nyc/feed.rss"
        status, headers, body = get(url)
        assert status == 200 and body.startswith(b"<?xml") and headers["Cache-Control"] == "max-age=0"
        etag, modified = headers["ETag"], headers["Last-Modified"]
        assert get(url, {"If-None-Match": etag})[0] == 304
        assert get(url, {"If-Modified-Since": modified})[0] == 304
        codes = [get(url) for _ in range(6)]
        throttled = [h for s, h, _ in codes if s == 429]
        assert throttled and all(int(h["Retry-After"]) >= 1 for h in throttled)
        assert replay.requests() == 3 + 6
        assert sum(1 for r in replay.request_log() if r.status == 429) == len(throttled)


def test_robots_and_detail_pages() -> None:
    with Replay(limit=10) as replay:
        status, _, robots = get(f"{replay.url}/robots.txt")
        assert status == 200 and b"Allow: /" in robots
        opid = replay.truth(["replay-esc"])[0].external_id
        status, _, page = get(f"{replay.url}/solidarity/opportunity/{opid}_en")
        text = page.decode()
        assert status == 200 and "application/ld+json" not in text
        for label in ("Description", "Accommodation, food and transport arrangements", "Activity dates",
                      "Activity location", "Looking for participants from"):
            assert f"<h6>{label}</h6>" in text
        assert "replay" in text.split("<footer", 1)[1] and "CC BY 4.0" in text
        assert get(f"{replay.url}/solidarity/opportunity/1_en")[0] == 404


# ------------------------------------------------------------------ time


def test_listings_appear_change_and_close_reproducibly() -> None:
    start = ESC_SNAPSHOT - timedelta(days=7)

    def run() -> list[tuple[str, str, str, tuple[str, ...]]]:
        with Replay(day=start, limit=200, seed=3) as replay:
            out = []
            for _ in range(7):
                out += [(c.kind, c.corpus, c.key, tuple(c.what)) for c in replay.advance(1)]
            return out

    first = run()
    assert first == run()  # the same seed, the same days
    kinds = {k for k, *_ in first}
    assert kinds == {"appeared", "changed", "closed"}
    reasons = {what[0] for k, _, _, what in first if k == "closed"}
    assert {"deadline", "removed"} <= reasons


def test_truth_follows_the_days_and_the_served_calendar() -> None:
    with Replay(day=ESC_SNAPSHOT - timedelta(days=3), limit=300, offset_days=0) as replay:
        assert replay.today == ESC_SNAPSHOT - timedelta(days=3)
        before = {t.id: t for t in replay.truth()}
        changes = replay.advance(3)
        after = {t.id: t for t in replay.truth()}
        assert replay.today == ESC_SNAPSHOT
        for c in changes.appeared:
            assert all(i in after and i not in before for i in c.ids)
        for c in changes.closed:
            assert not any(i in after for i in c.ids)
            assert {x.id for x in replay.closed()} >= set(c.ids) - {i for i in c.ids if "sitemap" in i}
        for c in changes.changed:
            for i in c.ids:
                if i in after and "deadline" in c.what:
                    assert after[i].fields["deadline"] > before[i].fields["deadline"]
                if i in after and "description" in c.what:
                    assert any(x.startswith("Revision ") for x in after[i].fields["description"])
        for t in after.values():  # every open listing's deadline is today or later
            deadline = t.fields.get("deadline")
            assert deadline is None or deadline >= replay.today.isoformat()
    with Replay(limit=5) as replay:  # by default the first day is served as the machine's today
        assert replay.today == date.today() or abs((replay.today - date.today()).days) <= 1
    assert NYC_SHIFT_DAYS % 7 == 0


# ------------------------------------------------------------ the spiders


def test_every_spider_reads_its_replay_source(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, download_delay=0.0, KAFKA_BOOTSTRAP_SERVERS=None,
                        ELASTICSEARCH_URL=None)
    with Replay(limit=25) as replay:
        sources = [s.model_copy(update={"enabled": True}) for s in replay.sources(polite=False,
                                                                                  include_disabled=True)]

        def crawl(source: Source) -> int:
            return crawl_source(settings, source, timeout=240).returncode

        with ThreadPoolExecutor(len(sources)) as pool:
            assert list(pool.map(crawl, sources)) == [0] * len(sources)
        truth: dict[str, set[str]] = {}
        for t in replay.truth(list(SOURCE_IDS)):
            truth.setdefault(t.source_id, set()).add(t.external_id)
        detail_pages = sum(1 for r in replay.request_log() if r.path.startswith("/solidarity/opportunity/"))
    got = crawl_events(settings.bus_url)
    published: dict[str, set[str]] = {}
    for raw in got["raw"]:
        published.setdefault(raw.source_id, set()).add(raw.external_id)
    assert set(truth) == set(SOURCE_IDS)
    for sid in SOURCE_IDS:
        assert published.get(sid, set()) == truth[sid], sid
    esc = [r for r in got["raw"] if r.source_id == "replay-esc"]
    assert detail_pages == len(esc) and all(r.support_text and r.location_text for r in esc)
    assert all(r.attribution == "European Youth Portal, CC BY 4.0" for r in esc)
    assert got[DLQ_TOPIC] == []  # nothing the spiders could not read
    assert all(s.errors == 0 and s.complete for s in got["stats"])


# ------------------------------------------------------------ the comparison


class FakeSearch:
    """A search over hand-made documents, paged like the real one."""

    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs

    def search(self, req):
        from search.backends.base import SearchHit, SearchResult
        from search.request import decode_cursor, encode_cursor

        hits = [d for d in self.docs if d["source_id"] in req.source and d["status"] in req.status]
        start = decode_cursor(req.cursor)["o"] if req.cursor else 0
        page = hits[start:start + req.size]
        cursor = encode_cursor({"o": start + req.size}) if start + req.size < len(hits) else None
        return SearchResult(total=len(hits), clusters=len(hits), facets={}, page=1, size=req.size,
                            next_cursor=cursor, hits=[SearchHit(id=d["id"], opportunity=d) for d in page])


def doc(t: Truth, **changes: object) -> dict:
    base = {"id": t.id, "source_id": t.source_id, "status": "open", "title": t.fields["title"],
            "start_date": t.fields.get("start_date"), "end_date": t.fields.get("end_date"),
            "deadline": t.fields.get("deadline"), "support": {"food": True},
            "locations": [{"country": "DE", "city": "Stuttgart", "geo": {"lat": 48.78, "lon": 9.18}}],
            "description_text": "Hello. Revision 1 of this listing."}
    return {**base, **changes}


def test_compare_counts_missing_wrong_and_closed_still_open() -> None:
    place = Place(country="DE", city="Stoccarda", address="Olgastrasse 71, Stoccarda, Germany")
    truths = [Truth("s", str(n), {"title": f"Job {n}", "start_date": "2026-09-01", "deadline": None,
                                  "place": place, "support": {"food": True}}) for n in range(150)]
    docs = [doc(t) for t in truths[:148]]
    docs[0]["deadline"] = "2026-01-01"  # wrong, and past
    docs[1]["locations"] = [{"country": "AT", "city": "Stuttgart"}]
    gone = Closed("s", "gone", "removed")
    docs.append({**doc(Truth("s", "gone", {"title": "x"})), "id": gone.id})
    docs.append({**doc(Truth("s", "other", {"title": "y"}))})
    report = compare(truths, FakeSearch(docs), date(2026, 9, 1), closed=[gone])
    assert (report.expected, report.present, report.correct) == (150, 148, 146)
    assert report.missing == [truths[148].id, truths[149].id]
    assert report.wrong_fields == {"deadline": 1, "place": 1}
    assert report.closed_still_open == [gone.id] and report.closed_still_open_by_reason == {"removed": 1}
    assert len(report.unexpected_open) == 1 and report.past_deadline_open == [truths[0].id]


def test_places_match_as_a_person_reads_them() -> None:
    stoccarda = Place(country="DE", city="Stoccarda")
    assert place_matches(stoccarda, [{"country": "DE", "city": "Stuttgart"}])  # the gazetteer's name
    assert not place_matches(stoccarda, [{"country": "DE", "city": "Berlin"}])
    assert place_matches(Place(country="ES", city="Sierra Elvira, Atarfe. Granada."),
                         [{"country": "ES", "city": "Atarfe"}])  # named in what the source wrote
    ny = Place(country="US", city="New York", lat=40.80, lon=-73.96)
    assert place_matches(ny, [{"country": "US", "city": "Manhattan", "geo": {"lat": 40.78, "lon": -73.97}}])
    assert not place_matches(ny, [{"country": "US", "city": "Bellevue", "geo": {"lat": 47.6, "lon": -122.2}}])
    assert place_matches(Place(country="US", city="New York", city_optional=True), [{"country": "US"}])
    assert not place_matches(Place(country="US"), [{"country": "CA", "city": "Toronto"}])
    t = Truth("s", "1", {"title": "A &amp; B", "support": {"food": True, "travel": False},
                         "description": "Revision 2 of this listing"})
    assert wrong_fields(t, {"title": "A & B", "support": {"food": True, "travel": False},
                            "description_text": "x Revision 2 of this listing (a simulated edit)"}) == []
    assert wrong_fields(t, {"title": "A & B", "support": {"food": True},
                            "description_text": "Revision 1 of this listing"}) == ["support", "description"]


def test_the_scheduler_takes_the_replay_registry(tmp_path: Path) -> None:
    from scheduler.service import desired_jobs

    with Replay(limit=5) as replay:
        sources = load_sources(replay.write_registry(tmp_path / "replay-sources.yaml"))
    jobs = desired_jobs(sources)
    assert {"crawl:replay-esc", "crawl:replay-nyc-site", "crawl:replay-nyc-rss",
            "crawl:replay-nyc-ical"} <= set(jobs)
    assert "crawl:replay-nyc-sitemap" not in jobs  # off in the registry
    assert sources["replay-esc"].politeness.download_delay == 5
