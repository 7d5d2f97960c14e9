"""What counting facets by cluster costs the embedded backend.

A search that collapses duplicates counts, per facet value, the clusters
with a matching listing (search.backends.facet_rows). This times
``FacetRows.count`` on synthetic rows of ``--docs`` documents (``--rows``
facet rows each over 3,000 values; every ``--copy-every``-th document a copy
of the one before, so that share of the clusters has two members), for
match sets of 100%, 70% and 10% of the documents: counting clusters against
counting listings, the baseline, in the same run (best of 5 each).

    python -m bench.facets [--docs 1000000] [--copy-every 20]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from search.backends.facet_rows import FacetRows

VALUES = 3000


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=6, help="facet rows per document")
    parser.add_argument("--copy-every", type=int, default=20)
    args = parser.parse_args(argv)
    facet_rows = rows(args.docs, args.rows, args.copy_every)
    rng = np.random.default_rng(1)
    out = []
    for share in (1.0, 0.7, 0.1):
        ns = np.sort(rng.choice(np.arange(1, args.docs + 1), size=int(args.docs * share), replace=False))
        listings = best(lambda ns=ns: facet_rows.count(ns, ["theme"]))
        clusters = best(lambda ns=ns: facet_rows.count(ns, ["theme"], clusters=True))
        out.append({"match": share, "listings_ms": round(listings * 1000, 1), "clusters_ms": round(clusters * 1000, 1),
                    "ratio": round(clusters / listings, 2)})
    print(json.dumps({"docs": args.docs, "rows_per_doc": args.rows, "copy_every": args.copy_every, "runs": out}))


if __name__ == "__main__":
    main()
