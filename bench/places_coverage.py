"""Place coverage on the real corpora: how many listings get a city a person
recognises (a gazetteer place in the listing's country) and coordinates.

For each corpus in ``../shared/data`` (mapped to RawOpportunity as their
spiders would, see ``devtools.corpus``) every listing is normalized and its first
location checked:

- ``city``: the location has a city name at all;
- ``recognised``: that name is a gazetteer place in the location's country
  (``Gazetteer.place``: any spelling GeoNames knows, case, diacritics and
  hyphens aside, places of 500+ people; before that method existed, the
  exact-name ``lookup`` of cities of 5,000+);
- ``coordinates``: the location has a point (the source's own or the
  gazetteer's);
- ``sentence``: the city "name" has more than six words (a sentence, not a
  place);
- ``facet values``: distinct city names (fewer is better for the same
  places: "Kaunas" and "Kauno m." are one city).

It also times ``normalize()`` over the ESC and Hamburg listings (best of
``--repeat`` passes, after a warm-up pass) so a change to place handling can
be checked for cost.

    python -m bench.places_coverage [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable

from devtools import corpus
from pipeline.events import Opportunity, RawOpportunity
from pipeline.normalize import normalize
from pipeline.normalize.places.gazetteer import gazetteer

CORPORA: dict[str, Callable[[], Iterable[RawOpportunity]]] = {
    "esc": corpus._esc,
    "hamburg": corpus._hamburg,
    "nyc": corpus._nyc,
}


def _normalized(events: list[RawOpportunity]) -> list[Opportunity | None]:
    out: list[Opportunity | None] = []
    for e in events:
        try:
            out.append(normalize(e, now=corpus.FETCHED))
        except Exception:
            out.append(None)
    return out


def coverage(name: str, events: list[RawOpportunity]) -> dict[str, object]:
    gaz = gazetteer()
    # The gazetteer's own test of a name in a country: places of 500+ people by
    # their loose name where it has them (``Gazetteer.place``), else cities by exact name.
    match = getattr(gaz, "place", None) or gaz.lookup
    n = len(events)
    counts: Counter[str] = Counter()
    cities: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for opp in _normalized(events):
        loc = opp.locations[0] if opp and opp.locations else None
        if loc is None:
            continue
        countries[loc.country or "-"] += 1
        if loc.geo is not None:
            counts["coordinates"] += 1
        if not loc.city:
            continue
        counts["city"] += 1
        cities[loc.city] += 1
        if len(loc.city.split()) > 6:
            counts["sentence"] += 1
        found = match(loc.city, loc.country)
        if found is not None and (loc.country is None or found.country == loc.country):
            counts["recognised"] += 1
            if loc.geo is not None:
                counts["recognised_and_coordinates"] += 1

    def share(key: str) -> float:
        return round(counts[key] / n, 4) if n else 0.0

    return {
        "corpus": name, "listings": n,
        "city": share("city"), "recognised": share("recognised"),
        "coordinates": share("coordinates"),
        "recognised_and_coordinates": share("recognised_and_coordinates"),
        "sentences": counts["sentence"], "facet_values": len(cities),
        "top_countries": dict(countries.most_common(4)),
    }


def throughput(events: list[RawOpportunity], repeat: int) -> dict[str, float]:
    _normalized(events[:50])  # language models, gazetteer
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        _normalized(events)
        best = max(best, len(events) / (time.perf_counter() - started))
    return {"listings": len(events), "normalized_per_second": round(best, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing: best of N passes (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    loaded = {name: list(load()) for name, load in CORPORA.items()}
    rows = [coverage(name, events) for name, events in loaded.items() if events]
    if not rows:
        sys.exit(f"no corpora in {corpus.DATA}")
    timing = throughput([*loaded["esc"], *loaded["hamburg"]], args.repeat)
    if args.json:
        json.dump({"coverage": rows, "throughput": timing}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    print(f"{'corpus':8} {'listings':>8} {'city':>7} {'recog.':>7} {'coords':>7} {'both':>7} "
          f"{'sentences':>9} {'facet values':>12}  countries")
    for r in rows:
        print(f"{r['corpus']:8} {r['listings']:>8} {r['city']:>7.1%} {r['recognised']:>7.1%} "
              f"{r['coordinates']:>7.1%} {r['recognised_and_coordinates']:>7.1%} {r['sentences']:>9} "
              f"{r['facet_values']:>12}  {r['top_countries']}")
    print(f"normalize() over ESC + Hamburg: {timing['listings']} listings, "
          f"{timing['normalized_per_second']} per second (best of {args.repeat})")


if __name__ == "__main__":
    main()
