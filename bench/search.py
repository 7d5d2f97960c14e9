"""Search latency at scale: ``python -m bench.search [--docs N]``.

Builds N realistic opportunities (the real ESC, Hamburg and NYC records in
``../shared/data`` normalized once, then varied: places across Europe with
coordinates, deadlines, themes, support, required languages, 5% duplicates),
loads them into Elasticsearch (the services from ``tilts services up``) and
the embedded SQLite backend, and times a mixed query set:

- **bare**: the same DSL sent with the official client (``es.search``), timed
  on the client side, the baseline;
- **API**: ``GET /search`` over HTTP on 127.0.0.1 against ``tilts serve`` in
  its own process (parsing, validation, the backend call, JSON response);
- **embedded**: the same API process on the SQLite backend.

Reports p50/p95 for each and the ratio API p95 / bare p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import percentile
from devtools.corpus import realistic_events
from pipeline.events import (
    Eligibility,
    GeoPoint,
    LanguageRequirement,
    Location,
    Opportunity,
    Support,
    Theme,
)
from pipeline.normalize import normalize
from search.backends import SearchRequest, open_backend
from search.backends.elastic.query import build_searches

PLACES = [
    ("LV", "Riga", 56.9496, 24.1052), ("LV", "Daugavpils", 55.8833, 26.5333), ("LV", "Liepāja", 56.5047, 21.0109),
    ("EE", "Tallinn", 59.437, 24.7536), ("EE", "Tartu", 58.3806, 26.7251), ("LT", "Vilnius", 54.6872, 25.2797),
    ("LT", "Kaunas", 54.9027, 23.9096), ("PL", "Kraków", 50.0614, 19.9366), ("PL", "Warsaw", 52.2298, 21.0118),
    ("DE", "Berlin", 52.5244, 13.4105), ("DE", "Hamburg", 53.5753, 10.0153), ("FR", "Lyon", 45.7485, 4.8467),
    ("ES", "Valencia", 39.4697, -0.3774), ("IT", "Bologna", 44.4938, 11.3387), ("PT", "Lisbon", 38.7167, -9.1333),
    ("FI", "Tampere", 61.4991, 23.7871), ("SE", "Malmö", 55.6059, 13.0007), ("RO", "Cluj-Napoca", 46.7667, 23.6),
    ("GR", "Thessaloniki", 40.6403, 22.9439), ("US", "New York", 40.7143, -74.006),
]
LANGS = ["lv", "en", "ru", "de", "fr", "es", "pl", "lt", "et", "uk"]
SUPPORT = ["accommodation", "food", "travel", "insurance", "allowance", "language_course", "training"]
WORDS = ["volunteer", "animal shelter", "food bank", "environment", "youth", "refugees", "brīvprātīgais darbs",
         "волонтёр", "Freiwillige", "education", "children", "garden", "festival", "elderly", "solidarity",
         "climate", "Riga", "Hamburg", "tutor", "sports", "museum", "kitchen", "translation", "coding"]


def build_docs(n: int, seed: int = 7) -> list[Opportunity]:
    return list(iter_docs(n, seed))


def iter_docs(n: int, seed: int = 7) -> Iterator[Opportunity]:
    """The ``n`` benchmark documents, made one at a time (1M do not fit in memory at once)."""
    rnd = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    base = [normalize(e, now=now) for e in realistic_events()]
    for i in range(n):
        src = base[i % len(base)]
        country, city, lat, lon = rnd.choice(PLACES)
        jitter = (rnd.uniform(-0.2, 0.2), rnd.uniform(-0.2, 0.2))
        seen = now - timedelta(minutes=rnd.randrange(0, 60 * 24 * 120))
        oid = f"bench-{i}"
        cluster = f"bench-{i - 1}" if i and rnd.random() < 0.05 else oid
        age_min = rnd.choice([None, None, 16, 18])
        yield src.model_copy(update={
            "id": oid, "cluster_id": cluster, "external_id": oid, "source_id": f"source-{i % 40}",
            "locations": [Location(country=country, city=city,
                                   geo=GeoPoint(lat=lat + jitter[0], lon=lon + jitter[1]))],
            "deadline": (date(2026, 11, 25) + timedelta(days=rnd.randrange(-30, 240))) if rnd.random() < 0.7 else None,
            "start_date": (date(2026, 12, 1) + timedelta(days=rnd.randrange(0, 300))) if rnd.random() < 0.5 else None,
            "themes": sorted(set(rnd.sample(list(Theme), rnd.randint(1, 3)))),
            "eligibility": Eligibility(
                age_min=age_min, age_max=rnd.choice([None, 30, 35]) if age_min else None,
                residence_countries=rnd.sample([p[0] for p in PLACES[:19]], 6) if rnd.random() < 0.2 else [],
                languages=[LanguageRequirement(language=rnd.choice(LANGS), required=rnd.random() < 0.7)
                           for _ in range(rnd.randint(0, 2))],
            ),
            "support": Support(**{s: True for s in SUPPORT if rnd.random() < 0.2}),
            "provenance": src.provenance.model_copy(update={"first_seen": seen, "last_seen": seen}),
        })


def load_es(es: Any, n: int, chunk: int = 5000) -> None:
    """Index the ``n`` benchmark documents into ``es``, streaming."""
    batch: list[Opportunity] = []
    for doc in iter_docs(n):
        batch.append(doc)
        if len(batch) == chunk:
            es.upsert_many(batch)
            batch = []
    if batch:
        es.upsert_many(batch)
    es.refresh()


def query_mix(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 10
        q: dict[str, Any] = {}
        if kind < 4:
            q["q"] = rnd.choice(WORDS)
        if kind in (2, 4, 5):
            q["country"] = [rnd.choice(PLACES)[0]]
        if kind in (3, 5, 6):
            q["theme"] = [rnd.choice(list(Theme)).value]
        if kind == 6:
            q.update(speaks=["en", rnd.choice(LANGS)], age=rnd.randint(17, 40))
        if kind == 7:
            _, _, lat, lon = rnd.choice(PLACES)
            q.update(lat=lat, lon=lon, within_km=rnd.choice([25, 100, 300]), sort="distance")
        if kind == 8:
            q.update(sort="deadline", support=[rnd.choice(SUPPORT)], resident=rnd.choice(PLACES)[0])
        if kind == 9:
            q.update(deadline_from="2026-12-01", deadline_to="2027-02-01", work_mode=["onsite"])
        out.append(q)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tilts.cli", "serve", "--port", str(port),
                             "--workers", str(workers)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"tilts serve did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")


def _params(q: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(x)) for k, v in q.items() for x in (v if isinstance(v, list) else [v])]


def _time_api(url: str, queries: list[dict[str, Any]], *, reset: Callable[[], object] | None = None,
              before: Callable[[], object] | None = None) -> list[float]:
    """Milliseconds per query over HTTP, after 20 warm-up queries; ``reset``
    runs once after the warm-up, ``before`` before each query (both untimed)."""
    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in queries[:20]:
            client.get("/search", params=_params(q)).raise_for_status()
        if reset is not None:
            reset()
        for q in queries:
            if before is not None:
                before()
            t = time.perf_counter()
            client.get("/search", params=_params(q)).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
    return times


def clear_request_cache(es: Any, alias: str) -> None:
    """Empty Elasticsearch's shard request cache (the counts of earlier queries)."""
    es.es.indices.clear_cache(index=alias, request=True)


def run(n: int = 100_000, queries: int = 400, embedded: bool = True,
        alias: str = "bench-search", keep: bool = False) -> dict[str, Any]:
    """Time the mix on Elasticsearch (bare and API) and, with ``embedded``, on
    SQLite. ``keep`` leaves the Elasticsearch index for ``bench.load``."""
    from devtools import services

    es_url = os.environ.get("ELASTICSEARCH_URL") or services.up(["elasticsearch"])["elasticsearch"]
    es = open_backend(es_url, alias=alias)
    es.setup()
    t = time.perf_counter()
    if es.count() != n:
        es.drop()  # type: ignore[attr-defined]
        es.setup()
        load_es(es, n)
    es_load = time.perf_counter() - t
    tmp = Path(tempfile.mkdtemp(prefix="tilts-bench-"))
    sq = open_backend(f"sqlite:///{tmp / 'search.sqlite3'}")
    sq_load = 0.0
    if embedded:
        t = time.perf_counter()
        sq.rebuild(iter_docs(n))
        sq_load = time.perf_counter() - t
    mix = query_mix(queries)
    requests = [SearchRequest(**q) for q in mix]
    # Each timed pass starts with an empty request cache: within a pass the
    # mix's repeated counts are cached, as users' repeated queries are.
    # One untimed pass first: Elasticsearch's other caches (filters, global
    # ordinals) are then as warm for the bare pass as for the API pass after it.
    bare = []
    for r in requests:
        es.es.msearch(searches=build_searches(r, alias=alias))  # type: ignore[attr-defined]
    clear_request_cache(es, alias)
    for r in requests:
        t = time.perf_counter()
        es.es.msearch(searches=build_searches(r, alias=alias))  # type: ignore[attr-defined]
        bare.append((time.perf_counter() - t) * 1000)
    proc, url = _serve({"ELASTICSEARCH_URL": es_url, "TILTS_INDEX_ALIAS": alias})
    try:
        api = _time_api(url, mix, reset=lambda: clear_request_cache(es, alias))
        # every query as if never asked before: the request cache emptied first
        cold = _time_api(url, mix, before=lambda: clear_request_cache(es, alias))
    finally:
        proc.terminate()
        proc.wait(10)
    local: list[float] = []
    if embedded:
        os.environ.pop("ELASTICSEARCH_URL", None)
        proc, url = _serve({"TILTS_DATA_DIR": str(tmp)})
        try:
            local = _time_api(url, mix)
        finally:
            proc.terminate()
            proc.wait(10)
            os.environ["ELASTICSEARCH_URL"] = es_url
    if not keep:
        es.drop()  # type: ignore[attr-defined]
    es.close()
    sq.close()
    shutil.rmtree(tmp, ignore_errors=True)
    r = lambda v: round(v, 1)  # noqa: E731
    out = {
        "docs": n, "queries": queries, "es_load_seconds": r(es_load),
        "bare_p50_ms": r(percentile(bare, 50)), "bare_p95_ms": r(percentile(bare, 95)),
        "api_p50_ms": r(percentile(api, 50)), "api_p95_ms": r(percentile(api, 95)),
        "ratio": round(percentile(api, 95) / percentile(bare, 95), 2),
        "api_uncached_p50_ms": r(percentile(cold, 50)), "api_uncached_p95_ms": r(percentile(cold, 95)),
        "distinct_count_queries": len({json.dumps(build_searches(q)[3], sort_keys=True) for q in requests}),
        "mean_ms": {"bare": r(statistics.mean(bare)), "api": r(statistics.mean(api))},
    }
    if local:
        out.update({"sqlite_load_seconds": r(sq_load), "embedded_p50_ms": r(percentile(local, 50)),
                    "embedded_p95_ms": r(percentile(local, 95))})
        out["mean_ms"]["embedded"] = r(statistics.mean(local))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--no-embedded", action="store_true", help="Elasticsearch only")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.docs, args.queries, embedded=not args.no_embedded), indent=2))


if __name__ == "__main__":
    main()
