"""What counting facets by cluster costs the embedded backend.

A search that collapses duplicates counts, per facet value, the clusters
with a matching listing (search.backends.facet_rows). This times
``FacetRows.count`` on synthetic rows of ``--docs`` documents (``--rows``
facet rows each over 3,000 values; every ``--copy-every``-th document a copy
of the one before, so that share of the clusters has two members), for
match sets of 100%, 70% and 10% of the documents: counting clusters against
counting listings, the baseline, in the same run (best of 5 each).

``--elasticsearch N`` does the same on Elasticsearch (``ELASTICSEARCH_URL``,
or the one of ``tilts services up``): the search benchmark's ``N`` documents
(5% duplicates) and query mix; for each query the facet-count searches of a
collapsed search (a cardinality of ``cluster_id`` in every bucket) against
those of the same search not collapsed (plain terms), alternated, the
request cache emptied before each; p50 and p95 of each and their ratio.

    python -m bench.facets [--docs 1000000] [--copy-every 20] [--elasticsearch 100000]
    python -m bench.facets --write   # both, stored in bench/results/facets.json and docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import put_section
from search.backends.facet_rows import FacetRows

VALUES = 3000
RESULTS = Path(__file__).resolve().parent / "results" / "facets.json"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTION = "## Facet counts by cluster"


def rows(docs: int, per_doc: int, copy_every: int) -> FacetRows:
    rng = np.random.default_rng(0)
    row_n = np.repeat(np.arange(1, docs + 1, dtype=np.int32), per_doc)
    row_k = rng.integers(0, VALUES, size=len(row_n)).astype(np.int32)
    cluster = np.arange(docs + 1, dtype=np.int32)
    copies = cluster[copy_every::copy_every]
    cluster[copy_every::copy_every] = copies - 1
    labels = tuple(("theme", str(i)) for i in range(VALUES))
    return FacetRows(1, 0, 0, docs, row_n, row_k, labels, {label: i for i, label in enumerate(labels)}, docs,
                     cluster, {str(i): i for i in range(docs + 1)})


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def elasticsearch(docs: int, queries: int = 200) -> dict[str, object]:
    from bench import percentile
    from bench.search import clear_request_cache, load_es, query_mix
    from devtools import services
    from search.backends import SearchRequest, open_backend
    from search.backends.elastic.query import build_searches

    url = os.environ.get("ELASTICSEARCH_URL") or services.up(["elasticsearch"])["elasticsearch"]
    alias = "bench-facets"
    es = open_backend(url, alias=alias)
    es.setup()
    if es.count() != docs:
        es.drop()  # type: ignore[attr-defined]
        es.setup()
        load_es(es, docs)
    times: dict[bool, list[float]] = {True: [], False: []}
    for params in query_mix(queries):
        for collapse in (False, True):
            counts = build_searches(SearchRequest(**params, collapse=collapse), alias=alias)[2:]  # not the page
            clear_request_cache(es, alias)
            start = time.perf_counter()
            es.es.msearch(searches=counts)  # type: ignore[attr-defined]
            times[collapse].append((time.perf_counter() - start) * 1000)
    es.drop()  # type: ignore[attr-defined]
    shown = {("clusters" if k else "listings"): {"p50_ms": round(percentile(v, 50), 1),
                                                  "p95_ms": round(percentile(v, 95), 1)} for k, v in times.items()}
    return {"docs": docs, "queries": queries, **shown,
            "ratio_p50": round(percentile(times[True], 50) / percentile(times[False], 50), 2),
            "ratio_p95": round(percentile(times[True], 95) / percentile(times[False], 95), 2)}


def embedded(docs: int, per_doc: int, copy_every: int) -> dict[str, Any]:
    facet_rows = rows(docs, per_doc, copy_every)
    rng = np.random.default_rng(1)
    out = []
    for share in (1.0, 0.7, 0.1):
        ns = np.sort(rng.choice(np.arange(1, docs + 1), size=int(docs * share), replace=False))
        listings = best(lambda ns=ns: facet_rows.count(ns, ["theme"]))
        clusters = best(lambda ns=ns: facet_rows.count(ns, ["theme"], clusters=True))
        out.append({"match": share, "listings_ms": round(listings * 1000, 1), "clusters_ms": round(clusters * 1000, 1),
                    "ratio": round(clusters / listings, 2)})
    return {"docs": docs, "rows_per_doc": per_doc, "copy_every": copy_every, "runs": out}


def section(stored: dict[str, Any]) -> str:
    e, es = stored["embedded"], stored["elasticsearch"]
    lines = [
        SECTION, "",
        f"`python -m bench.facets --write` (`bench/facets.py`), ran {stored['ran_at']}. A search that collapses "
        "duplicates (the default) counts, per facet value, the clusters with a matching listing, so that a "
        "value's count is what choosing it shows; the baseline is counting listings, in the same run.", "",
        "| backend | match set | counting listings (baseline) | counting clusters | ratio |",
        "| --- | --- | --- | --- | --- |",
        *[f"| embedded, {e['docs']:,} documents, 1 in {e['copy_every']} a copy | {r['match']:.0%} | "
          f"{r['listings_ms']} ms | {r['clusters_ms']} ms | {r['ratio']} |" for r in e["runs"]],
        f"| Elasticsearch, {es['docs']:,} documents (5% copies), p50 | {es['queries']} queries of the search mix | "
        f"{es['listings']['p50_ms']} ms | {es['clusters']['p50_ms']} ms | {es['ratio_p50']} |",
        f"| Elasticsearch, p95 | | {es['listings']['p95_ms']} ms | {es['clusters']['p95_ms']} ms | "
        f"{es['ratio_p95']} |", "",
        "Embedded: `FacetRows.count` alone on synthetic rows (6 facet rows a document over 3,000 values), best of 5. "
        "Elasticsearch: only the facet-count searches of each query (not the page of hits), the request cache "
        "emptied before each, so every count is computed; a repeated search's counts come from the cache. The "
        "cost is the `cardinality` of `cluster_id` in every bucket (ordering buckets by document count instead, "
        "or a lower precision threshold, saved much less than that in a trial, and would get counts wrong).", "",
    ]
    return "\n".join(lines)


def write_doc(path: Path = DOC) -> None:
    if RESULTS.exists():
        put_section(path, (SECTION,), section(json.loads(RESULTS.read_text(encoding="utf-8"))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=6, help="facet rows per document")
    parser.add_argument("--copy-every", type=int, default=20)
    parser.add_argument("--elasticsearch", type=int, metavar="N", help="measure Elasticsearch with N documents")
    parser.add_argument("--write", action="store_true",
                        help="both backends (Elasticsearch with 100,000), into docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.write:
        stored = {"ran_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  "embedded": embedded(args.docs, args.rows, args.copy_every),
                  "elasticsearch": elasticsearch(args.elasticsearch or 100_000)}
        RESULTS.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
        write_doc()
        print(section(stored))
    elif args.elasticsearch:
        print(json.dumps(elasticsearch(args.elasticsearch)))
    else:
        print(json.dumps(embedded(args.docs, args.rows, args.copy_every)))


if __name__ == "__main__":
    main()
