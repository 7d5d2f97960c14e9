"""A short replay end to end, with the ground-truth comparison as the test.

Three simulated days of a few hundred real listings (ESC through the
European Youth Portal API and detail pages; NYC Service through JSON-LD
pages, RSS and iCalendar), each day one scheduled cycle through the real
spiders, the embedded bus and the embedded search, in a data folder of its
own. After every cycle the index must show what the sources show: the aims of
``python -m bench.freshness`` (docs/replay.md), at CI size.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from devtools.replay import Replay
from devtools.replay.corpus import ESC_SNAPSHOT
from pipeline.config import Settings
from tilts.replay_harness import Cycle, Harness

DAYS = 3


def check(cycle: Cycle) -> None:
    report = cycle.report
    assert cycle.crawl_failures == {}, cycle.crawl_failures
    assert report.expected > 250
    for sid, row in report.by_source.items():
        assert row["present"] >= 0.99 * row["expected"], (sid, row, report.missing[:5])
        share = row["correct"] / row["expected"] if row["expected"] else 1.0
        # every source, the RSS feed too, whose place and dates are lines of its text
        assert share >= 0.99, (sid, row, report.examples)
    assert report.unexpected_open == [] and report.past_deadline_open == []
    # Whatever closed it (a deadline, an end, or the source removing it) is gone after
    # one cycle: the sweep closes what the index knows has passed, and a complete crawl
    # asks the page of each listing it no longer finds (crawlers/pipelines.py).
    assert report.closed_still_open == [], (report.closed_still_open_by_reason, report.closed_still_open)
    assert cycle.closed_late == [], cycle.closed_late

def test_three_simulated_days_against_the_ground_truth(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, download_delay=0.0, KAFKA_BOOTSTRAP_SERVERS=None,
                        ELASTICSEARCH_URL=None)
    with Replay(day=ESC_SNAPSHOT - timedelta(days=DAYS), limit=100, seed=7) as replay, \
            Harness(replay, settings) as harness:
        first = harness.cycle()
        check(first)
        changes = []
        for _ in range(DAYS):
            day = replay.advance(1)
            changes += day
            check(harness.cycle(day))
        kinds = {c.kind for c in changes}
        assert kinds == {"appeared", "changed", "closed"}, kinds
        for cycle in harness.cycles[1:]:
            # Unchanged listings are (nearly) free: the API, the feed and the calendar
            # cost a request or two each; every unchanged JSON-LD page costs a 304.
            cheap = sum(cycle.requests[s]["requests"] for s in ("replay-esc", "replay-nyc-rss", "replay-nyc-ical"))
            listings = sum(cycle.listings[s] for s in ("replay-esc", "replay-nyc-rss", "replay-nyc-ical"))
            assert cheap / listings < 0.2, cycle.summary()
            for sid in cycle.listings:
                assert cycle.requests_per_listing(sid, "200") < 0.2, (sid, cycle.summary())
            site = cycle.requests["replay-nyc-site"]
            assert site["304"] >= 0.9 * site["requests"], site
        # Every new or changed listing was searchable, right, by the end of its own cycle.
        for probe in harness.probes:
            if probe.truth is not None:
                assert probe.resolved_at is not None, (probe.change, probe.source_id)
        latency = harness.latencies()
        assert latency["all"]["n"] > 0 and latency["all"]["registry_p50_h"] is not None
