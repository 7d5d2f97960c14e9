"""Duplicate clusters on the real corpus, and what clustering costs.

Normalizes the real records (ESC, Hamburg, NYC and the gold set, see
``devtools.corpus``) and clusters them; reports how many clusters have more
than one listing, how large the largest are, and the clustering time per
listing (``Deduplicator.place``) against a warm start's (``restore``) over
the corpus repeated ``--copies`` times as other sources in other countries.

    python -m bench.clusters [--copies N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from devtools.corpus import _COUNTRIES, realistic_events
from pipeline.events import Opportunity
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import Deduplicator


def _copies(base: list[Opportunity], copies: int) -> list[Opportunity]:
    out = []
    for copy in range(copies):
        for o in base:
            x = o.model_copy(update={"id": f"{o.id}-{copy}", "source_id": f"{o.source_id}-{copy}"})
            if copy and x.locations:
                x.locations = [x.locations[0].model_copy(
                    update={"country": _COUNTRIES[copy % len(_COUNTRIES)]})]
            out.append(x)
    return out


def run(copies: int = 12) -> dict[str, Any]:
    base = list({o.id: o for o in (normalize(e, now=e.fetched_at) for e in realistic_events()
                                   if e.title and e.title.strip())}.values())
    dedupe = Deduplicator()
    for o in base:
        dedupe.place(o.model_copy())
    sizes = Counter(dedupe.apply(o.model_copy()).cluster_id for o in base)
    multi = [n for n in sizes.values() if n > 1]
    dedupe.close()

    opps = _copies(base, copies)
    dedupe = Deduplicator()
    t = time.perf_counter()
    placed = [dedupe.place(o) for o in opps]
    dedupe.flush()
    place_s = time.perf_counter() - t
    fresh = Deduplicator()
    t = time.perf_counter()
    for o in placed:
        fresh.restore(o)
    fresh.flush()
    restore_s = time.perf_counter() - t
    same = all(fresh.apply(o.model_copy()).cluster_id == o.cluster_id for o in placed)
    return {
        "listings": len(base), "clusters_of_two_or_more": len(multi),
        "listings_in_them": sum(multi), "largest": sorted(multi, reverse=True)[:5],
        "timed_listings": len(opps), "place_ms_per_listing": round(1000 * place_s / len(opps), 3),
        "restore_ms_per_listing": round(1000 * restore_s / len(opps), 3),
        "restore_gives_the_same_clusters": same,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=12, help="corpus copies to time (default 12)")
    args = parser.parse_args(argv)
    json.dump(run(args.copies), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
