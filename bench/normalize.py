"""Normalizer throughput per core, as a ratio over bare parse-and-validate.

Both loops run in this process, one after the other, over the same encoded
RawOpportunity events (a realistic mix from real published data, see
``devtools.corpus``): the baseline parses and validates each event
(``parse_event``); the normalizer loop parses, normalizes and serializes it
(``normalize_bytes``), as the worker does. One-time start-up (language models,
gazetteer) is reported separately and not counted in the loop.

    python -m bench.normalize [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections import Counter

from devtools.corpus import realistic_events
from pipeline.events import RawOpportunity, parse_event
from pipeline.normalizer import normalize_bytes


def _rate(fn, payloads: list[bytes], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        for p in payloads:
            fn(p)
        best = max(best, len(payloads) / (time.perf_counter() - started))
    return best


def run(repeat: int = 3) -> dict[str, object]:
    events = realistic_events()
    payloads = [e.to_bytes() for e in events]
    started = time.perf_counter()
    normalize_bytes(payloads[0])  # loads lingua models and the gazetteer
    startup = time.perf_counter() - started
    baseline = _rate(lambda p: parse_event(RawOpportunity, p), payloads, repeat)
    normalized = _rate(normalize_bytes, payloads, repeat)
    return {
        "events": len(payloads),
        "mix": dict(Counter(e.source_id if e.source_id in {
            "european-youth-portal", "hamburg-freiwilligenagenturen", "nyc-service"} else "gold set"
            for e in events)),
        "startup_seconds": round(startup, 2),
        "baseline_per_second": round(baseline),
        "normalized_per_second": round(normalized),
        "ratio": round(normalized / baseline, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N passes (default 3)")
    args = parser.parse_args(argv)
    result = run(args.repeat)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
