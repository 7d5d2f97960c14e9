"""What the embedded backend does its own way: facets counted in memory
(``search.backends.facet_rows``) held to the index another connection writes,
as the worker writes while ``tilts serve`` reads; in-place migration of older
index files; distances in SQL math or in Python. Its shared semantics are in
``test_backend_contract`` and ``test_parity``."""

from __future__ import annotations

from pathlib import Path

from pipeline.events import Eligibility, GeoPoint, LanguageRequirement, Opportunity, Theme
from search.backends import SearchRequest
from search.backends.base import haversine_km
from search.backends.sqlite import SqliteBackend
from search.backends.sqlite.sql import bounding_box
from tests.support.opportunities import make_opportunity


def _pair(tmp_path: Path) -> tuple[SqliteBackend, SqliteBackend]:
    writer = SqliteBackend(tmp_path / "search.sqlite3")
    writer.setup()
    reader = SqliteBackend(tmp_path / "search.sqlite3")
    return writer, reader


def test_reader_counts_follow_another_writer(tmp_path: Path) -> None:
    writer, reader = _pair(tmp_path)
    writer.upsert_many([make_opportunity(i, country=c) for i, c in enumerate(["LV", "LV", "EE"], 1)])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 2, "EE": 1}
    # the listing written last, written again elsewhere: its old number must
    # not come back with its old rows
    writer.upsert_many([make_opportunity(3, country="DE", city="Berlin")])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 2, "DE": 1}
    writer.upsert_many([make_opportunity(4, country="DE", city="Berlin", themes=(Theme.environment,))])
    counts = reader.search(SearchRequest(theme=["environment"]))
    assert counts.total == 1 and counts.facets["theme"] == {"community": 3, "environment": 1}
    assert counts.facets["country"] == {"DE": 1}
    writer.delete_many(["test-1", "test-4"])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 1, "DE": 1}


def test_reader_counts_follow_a_rebuild(tmp_path: Path) -> None:
    writer, reader = _pair(tmp_path)
    writer.upsert_many([make_opportunity(i, country="LV") for i in range(1, 4)])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 3}
    # a rebuild starts numbering and generations again: counts must not come
    # from the rows or the cache of the index it replaced
    writer.rebuild([make_opportunity(1, country="EE", city="Tartu")])
    assert reader.search(SearchRequest()).facets["country"] == {"EE": 1}
    writer.rebuild([make_opportunity(1, country="LT", city="Vilnius"), make_opportunity(2, country="LT")])
    assert reader.search(SearchRequest()).facets["country"] == {"LT": 2}


def test_index_written_before_numbering_is_read_and_extended(tmp_path: Path) -> None:
    """An index file from before ``meta.next_n`` keeps working: a reader
    numbers from its highest document, and the first writer continues there."""
    writer, reader = _pair(tmp_path)
    writer.upsert_many([make_opportunity(1, country="LV"), make_opportunity(2, country="EE")])
    writer._conn.execute("DELETE FROM meta WHERE k IN ('next_n', 'epoch')")
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 1, "EE": 1}
    # a writer that never ran setup() continues after the highest number too
    writer.upsert_many([make_opportunity(2, country="PL", city="Kraków")])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 1, "PL": 1}
    writer._conn.execute("DELETE FROM meta WHERE k IN ('next_n', 'epoch')")
    again = SqliteBackend(tmp_path / "search.sqlite3")
    again.setup()
    again.upsert_many([make_opportunity(2, country="DE", city="Berlin"), make_opportunity(3, country="LT")])
    assert reader.search(SearchRequest()).facets["country"] == {"LV": 1, "DE": 1, "LT": 1}


def test_bounding_box_keeps_every_point_within_the_distance() -> None:
    """The box only spares distance computations: every point within the
    distance lies inside it, near the poles and the antimeridian too."""
    import random

    rnd = random.Random(3)
    for _ in range(3000):
        lat, lon = rnd.uniform(-89.9, 89.9), rnd.uniform(-180, 180)
        km = rnd.choice([1, 25, 300, 2000])
        plat, plon = lat + rnd.uniform(-km / 50, km / 50), lon + rnd.uniform(-km / 20, km / 20)
        plat = max(-90.0, min(90.0, plat))
        plon = (plon + 180) % 360 - 180
        if haversine_km(plat, plon, lat, lon) > km:
            continue
        clause, params = bounding_box(lat, lon, km)
        assert params[0] <= plat <= params[1], (lat, lon, km, plat, plon)
        if "lon" in clause:
            assert params[2] <= plon <= params[3], (lat, lon, km, plat, plon)


def _requiring(n: int, *languages: str) -> Opportunity:
    opp = make_opportunity(n)
    opp.eligibility = Eligibility(languages=[LanguageRequirement(language=lang, required=True)
                                             for lang in languages])
    return opp


def test_index_of_an_earlier_layout_is_migrated_in_place(tmp_path: Path) -> None:
    """A file from before ``required_languages`` existed is brought up to date
    by ``setup``: the languages-I-speak filter then reads the new column."""
    writer, _ = _pair(tmp_path)
    writer.upsert_many([_requiring(1), _requiring(2, "lv"), _requiring(3, "en", "ru"), _requiring(4, "en")])
    writer._conn.execute("DROP INDEX docs_filter")
    writer._conn.execute("DROP INDEX docs_by_deadline")  # the older file had docs_deadline
    writer._conn.execute("CREATE INDEX docs_deadline ON docs(deadline)")
    writer._conn.execute("ALTER TABLE docs DROP COLUMN required_languages")
    again = SqliteBackend(tmp_path / "search.sqlite3")
    again.setup()
    indexes = {r[0] for r in again._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"docs_filter", "docs_by_deadline"} <= indexes and "docs_deadline" not in indexes

    def speaking(*codes: str) -> set[str]:
        return {h.id for h in again.search(SearchRequest(speaks=list(codes))).hits}

    assert speaking("en") == {"test-1", "test-4"}
    assert speaking("ru", "en") == {"test-1", "test-3", "test-4"}
    assert speaking("lv", "ru", "en") == {"test-1", "test-2", "test-3", "test-4"}
    assert speaking("de") == {"test-1"}


def test_distances_in_sql_math_and_in_python_agree(tmp_path: Path) -> None:
    """Where SQLite lacks its math functions, ``dist_km`` (Python) measures:
    the same listings, in the same order, at the same distances."""
    backend = SqliteBackend(tmp_path / "search.sqlite3")
    backend.setup()
    places = [("LV", "Riga", 56.95, 24.11), ("LV", "Jelgava", 56.65, 23.72), ("EE", "Tartu", 58.38, 26.73),
              ("LT", "Vilnius", 54.69, 25.28), ("FI", "Helsinki", 60.17, 24.94), ("DE", "Berlin", 52.52, 13.40)]
    docs = []
    for i, (country, city, lat, lon) in enumerate(places, 1):
        opp = make_opportunity(i, country=country, city=city)
        opp.locations[0].geo = GeoPoint(lat=lat, lon=lon)
        docs.append(opp)
    backend.upsert_many(docs)
    request = SearchRequest(lat=56.95, lon=24.11, within_km=400, sort="distance", country=["LV", "EE", "LT"])
    assert backend._sql_math
    in_sql = backend.search(request)
    backend._sql_math = False
    backend._facet_cache.clear()
    in_python = backend.search(request)
    assert [h.id for h in in_sql.hits] == ["test-1", "test-2", "test-3", "test-4"]
    assert [(h.id, h.distance_km) for h in in_python.hits] == [(h.id, h.distance_km) for h in in_sql.hits]
    assert in_python.facets == in_sql.facets and in_sql.facets["country"] == {"LV": 2, "LT": 1, "EE": 1, "FI": 1}


def test_the_live_indexer_keeps_the_planner_statistics(tmp_path: Path) -> None:
    """Without statistics SQLite ran the text match once per listing (2–4 s a
    search at 4,000 listings): the statistics must exist, not a timing."""
    writer = SqliteBackend(tmp_path / "search.sqlite3")
    writer.setup()

    def stats() -> int:
        has = writer._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
        return writer._conn.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] if has else 0

    writer.upsert_many([make_opportunity(i) for i in range(100)])
    assert stats() == 0  # small batches: not worth it yet
    for start in range(100, 1300, 100):
        writer.upsert_many([make_opportunity(i) for i in range(start, start + 100)])
    assert stats() > 0
    assert writer.search(SearchRequest(q="community")).total == 1300
