"""Scheduled cycles against the replay through the real pipeline, measured.

One **cycle** is what the scheduler does in a simulated day: the hourly
expiry sweep (``search.expiry.expire_past_deadlines`` with the replay's
today: the accelerated clock) and one crawl of every replay source (each a
``tilts.runtime.crawl_source`` child process, all at once, as the
scheduler's worker threads run them), while the normalizer and indexer run
in background threads as in ``tilts run``. After the pipeline is quiet the
index is compared with the replay's ground truth (:func:`compare`).

During the cycle a probe watches every listing the day changed and records
when the change became searchable (an appeared or changed listing: shown open
with every truth field right; a closed one: no longer shown open), giving the
time from the change on the source to searchable. The same change is also
timed as it would be at the registry's politeness and schedule (see
``modeled``): docs/replay.md explains the model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

from crawlers.sources import Source
from devtools.replay import Change, Changes, Replay
from devtools.replay.compare import Report, Truth, compare, searchable, wrong_fields
from devtools.replay.model import chance
from devtools.replay.server import Served
from pipeline.config import Settings

log = logging.getLogger(__name__)
SWEEP_EVERY = 3600.0  # the scheduler's expiry sweep runs hourly
DEFAULT_DELAY = 1.0  # TILTS_DOWNLOAD_DELAY's default: the delay of entries without their own


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), as the benchmarks compute it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def owner(path: str, crawled: set[str]) -> str:
    """Which replay source a request path belongs to (robots.txt: ``robots``)."""
    if path.startswith("/robots.txt"):
        return "robots"
    if path.startswith(("/api/rest/eyp/", "/solidarity/")):
        return "replay-esc"
    if path.startswith("/nyc/feed.rss"):
        return "replay-nyc-rss"
    if path.startswith("/nyc/events.ics"):
        return "replay-nyc-ical"
    if path.startswith("/nyc/sitemap.xml"):
        return "replay-nyc-sitemap"
    if path.startswith("/nyc"):
        return "replay-nyc-site" if "replay-nyc-site" in crawled or "replay-nyc-sitemap" not in crawled \
            else "replay-nyc-sitemap"
    return "other"


def resource(source_id: str, key: str) -> str:
    """The path a listing is read from by its source's spider."""
    if source_id == "replay-esc":
        return f"/solidarity/opportunity/{key}_en"
    if source_id == "replay-nyc-rss":
        return "/nyc/feed.rss"
    if source_id == "replay-nyc-ical":
        return "/nyc/events.ics"
    return f"/nyc/opportunities/{key}"


@dataclass
class Probe:
    """One listing of one source a change must reach the index for."""

    change: Change
    cycle: int  # the cycle it happened before
    source_id: str
    doc_id: str
    truth: Truth | None  # None: the listing closed and must no longer be shown open
    resolved_at: float | None = None
    modeled: float | None = None
    via: str = ""  # "crawl", "sweep"


@dataclass
class Cycle:
    number: int
    today: str
    changes: dict[str, int]
    report: Report
    seconds: float  # sweep + crawls + until the pipeline was quiet
    crawl_seconds: dict[str, float]
    crawl_failures: dict[str, str]
    swept: int
    requests: dict[str, Counter[str]]  # source → {"requests", "200", "304", other statuses}
    listings: dict[str, int]  # source → open listings in the truth
    closed_open_age: Counter[int] = field(default_factory=Counter)  # cycles since close → still shown open
    # still shown open after as many cycles as its source's close_after_missed (crawlers/sources.py)
    closed_late: list[str] = field(default_factory=list)

    def requests_per_listing(self, source_id: str, what: str = "requests") -> float:
        n = self.listings.get(source_id, 0)
        return self.requests.get(source_id, Counter())[what] / n if n else 0.0

    def summary(self) -> dict[str, Any]:
        return {"cycle": self.number, "today": self.today, "changes": self.changes,
                "seconds": round(self.seconds, 1), "swept": self.swept,
                "crawl_seconds": {k: round(v, 1) for k, v in self.crawl_seconds.items()},
                "crawl_failures": self.crawl_failures,
                "requests": {k: dict(v) for k, v in self.requests.items()}, "listings": self.listings,
                "closed_open_by_age": dict(self.closed_open_age), **self.report.summary()}


class Harness:
    """Runs cycles of the replay through a pipeline built from ``settings``.

    ``sources``: the replay sources to crawl (default: the registry's
    enabled ones, ``polite`` as given); ``settings.download_delay`` applies to
    those without their own delay. ``sweep``: run the expiry sweep each cycle.
    """

    def __init__(self, replay: Replay, settings: Settings, *, sources: list[Source] | None = None,
                 polite: bool = False, sweep: bool = True, crawl_timeout: float = 1800,
                 quiet: float = 1.5, probe_every: float = 0.2) -> None:
        self.replay = replay
        self.settings = settings
        self.sources = sources if sources is not None else replay.sources(polite=polite)
        self.sweep = sweep
        self.crawl_timeout = crawl_timeout
        self.quiet = quiet
        self.probe_every = probe_every
        self.cycles: list[Cycle] = []
        self.probes: list[Probe] = []
        self._pending: list[Probe] = []
        self._closed_cycle: dict[str, int] = {}
        self._closed_source: dict[str, str] = {}
        self._lock = threading.Lock()
        registry = {s.id: s for s in replay.sources(polite=True, include_disabled=True)}
        self.registry_delay = {sid: (s.politeness.download_delay or DEFAULT_DELAY) for sid, s in registry.items()}
        from scheduler import interval_seconds

        self.registry_interval = {sid: float(interval_seconds(s.schedule)) for sid, s in registry.items()}
        self.pipeline: Any = None
        self._truth_before: dict[str, Truth] = {}

    def __enter__(self) -> Self:
        from tilts.runtime import BackgroundWorkers

        self.pipeline = BackgroundWorkers.build(self.settings)
        self.pipeline.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pipeline is not None:
            self.pipeline.close()

    # --------------------------------------------------------------- a cycle

    def cycle(self, changes: Changes | None = None) -> Cycle:
        number = len(self.cycles)
        crawled = {s.id for s in self.sources}
        truth_now = {t.id: t for t in self.replay.truth([s.id for s in self.sources])}
        self._probe_changes(changes or [], number, crawled, truth_now)
        first_request = self.replay.requests()
        t0 = time.time()
        stop = threading.Event()
        prober = threading.Thread(target=self._probe_loop, args=(stop,), name="replay-probe", daemon=True)
        prober.start()
        swept = 0
        if self.sweep:
            from search.expiry import expire_past_deadlines

            swept = expire_past_deadlines(self.settings, today=self.replay.today, backend=self.pipeline.backend)
        seconds, failures = self._crawl_all()
        self._wait_quiet()
        stop.set()
        prober.join()
        self._probe_once()
        elapsed = time.time() - t0
        served = self.replay.request_log(first_request)
        self._model(number, served, crawled)
        report = compare(list(truth_now.values()), self.pipeline.backend, self.replay.today,
                         closed=self.replay.closed([s.id for s in self.sources]))
        age = {doc_id: number - self._closed_cycle.get(doc_id, number) + 1 for doc_id in report.closed_still_open}
        ages: Counter[int] = Counter(age.values())
        limit = {s.id: s.politeness.close_after_missed for s in self.sources}
        late = sorted(d for d, n in age.items() if n >= limit.get(self._closed_source.get(d, ""), 1))
        listings = Counter(t.source_id for t in truth_now.values())
        cycle = Cycle(number, self.replay.today.isoformat(), (changes or Changes()).counts(), report, elapsed,
                      seconds, failures, swept, _requests_per_source(served, crawled), dict(listings), ages, late)
        self._truth_before = truth_now
        self.cycles.append(cycle)
        return cycle

    def _probe_changes(self, changes: Iterable[Change], number: int, crawled: set[str],
                       truth_now: dict[str, Truth]) -> None:
        """A probe per changed listing of a crawled source: when it shows as changed."""
        for change in changes:
            for sid, ext in change.listings:
                if sid not in crawled:
                    continue
                doc_id = Truth(sid, ext, {}).id
                now, before = truth_now.get(doc_id), self._truth_before.get(doc_id)
                if change.kind == "closed":
                    self._closed_cycle[doc_id] = number
                    self._closed_source[doc_id] = sid
                    probe = Probe(change, number, sid, doc_id, None)
                elif now is None:
                    continue
                elif change.kind == "changed" and before is not None:
                    # searchable once what changed shows (the rest is the comparison's business)
                    moved = {k: v for k, v in now.fields.items() if before.fields.get(k) != v}
                    probe = Probe(change, number, sid, doc_id, Truth(sid, ext, moved or now.fields))
                else:  # appeared: searchable once shown open, with its title
                    probe = Probe(change, number, sid, doc_id, Truth(sid, ext, {"title": now.fields["title"]}))
                with self._lock:
                    # A newer change of the same listing supersedes an unresolved older one.
                    self._pending = [p for p in self._pending if p.doc_id != doc_id]
                    self._pending.append(probe)
                self.probes.append(probe)

    def _crawl_all(self) -> tuple[dict[str, float], dict[str, str]]:
        """Crawl every source at once: seconds per source, and the failed ones' errors."""
        seconds: dict[str, float] = {}
        failures: dict[str, str] = {}

        def crawl(source: Source) -> None:
            from crawlers.runner import crawl_source

            started = time.time()
            result = crawl_source(self.settings, source, timeout=self.crawl_timeout)
            seconds[source.id] = time.time() - started
            if result.returncode != 0:
                failures[source.id] = f"exit {result.returncode}: {result.log_tail[-1500:]}"

        with ThreadPoolExecutor(max_workers=max(1, len(self.sources))) as pool:
            list(pool.map(crawl, self.sources))
        return seconds, failures

    def _wait_quiet(self) -> None:
        """Until the normalizer and indexer have had nothing to do for ``quiet`` seconds."""
        workers = self.pipeline.workers
        last, since = None, time.monotonic()
        while True:
            now = tuple(w.processed for w in workers)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= self.quiet:
                self.pipeline.backend.refresh()
                return
            time.sleep(0.1)

    # ---------------------------------------------------------------- probes

    def _probe_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.probe_every):
            try:
                self._probe_once()
            except Exception as exc:
                log.debug("probe failed: %s", exc)

    def _probe_once(self) -> None:
        with self._lock:
            pending = list(self._pending)
        if not pending:
            return
        docs = searchable(self.pipeline.backend, sorted({p.doc_id for p in pending}))
        now = time.time()
        done = []
        for p in pending:
            doc = docs.get(p.doc_id)
            shown = doc is not None and doc.get("status") == "open"
            # doc is not None where shown is True
            ok = not shown if p.truth is None else shown and not wrong_fields(p.truth, doc)  # type: ignore[arg-type]
            if ok:
                p.resolved_at = now
                done.append(p)
        if done:
            with self._lock:
                self._pending = [p for p in self._pending if p.resolved_at is None]

    def _model(self, number: int, served: list[Served], crawled: set[str]) -> None:
        """Each change resolved in this cycle, timed at the registry's politeness and schedule.

        A change happens at a random moment of its day; the source's next
        crawl starts ``u × schedule interval`` later (or the hourly sweep,
        for a deadline passing, ``u × 1 h``); within the crawl the listing's
        page is request k, which at one request per registry delay comes
        ``(k + 1) × delay`` in; from that request to searchable is what the
        pipeline took here. A close that took several cycles (listings
        missing from three complete crawls) waits whole intervals more."""
        by_source: dict[str, list[Served]] = {}
        for req in served:
            by_source.setdefault(owner(req.path, crawled), []).append(req)
        for p in self.probes:
            if p.resolved_at is None or p.modeled is not None:
                continue
            u = chance(self.replay.seed, p.change.corpus, p.change.key, p.change.day, "at")
            mine = [r for r in by_source.get(p.source_id, []) if r.status not in (429,)]
            if p.truth is None and (not mine or p.resolved_at < mine[0].time):
                p.via = "sweep"
                p.modeled = u * SWEEP_EVERY + (p.resolved_at - p.change.visible_at)
                continue
            if not mine:
                continue
            path = resource(p.source_id, p.change.key)
            index = next((i for i, r in enumerate(mine) if r.path.split("?")[0] == path), len(mine) - 1)
            if p.truth is None:
                index = len(mine) - 1  # closed by the crawl's report at its end
            request = mine[index]
            waited = (number - p.cycle) * self.registry_interval[p.source_id]
            p.via = "crawl"
            p.modeled = (u * self.registry_interval[p.source_id] + waited
                         + (index + 1) * self.registry_delay[p.source_id]
                         + max(0.0, p.resolved_at - request.time))

    # ---------------------------------------------------------------- totals

    def latencies(self) -> dict[str, Any]:
        """p50/p95 of change → searchable, measured here and at the registry's politeness."""
        done = [p for p in self.probes if p.resolved_at is not None]
        out: dict[str, Any] = {"changes": len(self.probes), "resolved": len(done),
                               "unresolved": len(self.probes) - len(done)}
        groups: dict[str, list[Probe]] = {"all": done}
        for p in done:
            groups.setdefault(p.change.kind, []).append(p)
            groups.setdefault(p.source_id, []).append(p)
        for name, ps in groups.items():
            measured = [p.resolved_at - p.change.visible_at for p in ps]  # type: ignore[operator]
            modeled = [p.modeled for p in ps if p.modeled is not None]
            out[name] = {"n": len(ps),
                         "measured_p50_s": round(percentile(measured, 50), 1) if measured else None,
                         "measured_p95_s": round(percentile(measured, 95), 1) if measured else None,
                         "registry_p50_h": round(percentile(modeled, 50) / 3600, 2) if modeled else None,
                         "registry_p95_h": round(percentile(modeled, 95) / 3600, 2) if modeled else None}
        return out


def _requests_per_source(served: Iterable[Any], crawled: set[str]) -> dict[str, Counter[str]]:
    """Requests (and per status) each source's crawl made; robots.txt shared out among them."""
    requests: dict[str, Counter[str]] = {sid: Counter() for sid in crawled}
    for req in served:
        who = owner(req.path, crawled)
        bucket = requests.setdefault(who, Counter())
        bucket["requests"] += 1
        bucket[str(req.status)] += 1
    robots = requests.pop("robots", Counter())
    for sid in crawled:  # each crawl reads robots.txt once: its share
        share = robots["requests"] / max(1, len(crawled))
        requests[sid]["requests"] += round(share)
    return requests
