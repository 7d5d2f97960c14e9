"""A replay of real sources, served on 127.0.0.1, moving through simulated days.

``Replay`` serves the European Youth Portal's search API and detail pages
(from the bundled European Solidarity Corps records) and an NGO site with
listing pages, JSON-LD detail pages, an RSS feed, an iCalendar and a sitemap
(from the bundled NYC Service records), so that tilts' real spiders,
politeness, incremental crawling and scheduler run against it exactly as they
would against the internet::

    with Replay(limit=200) as replay:
        for source in replay.sources():          # registry entries with this server's URLs
            crawl_source(settings, source)
        changes = replay.advance(1)              # a simulated day: listings appear, change, close
        report = compare(replay.truth(), backend, replay.today, closed=replay.closed())

Source ids (``devtools/replay/sources.yaml``): ``replay-esc`` (eyp),
``replay-nyc-site`` (schemaorg), ``replay-nyc-sitemap`` (sitemap, off by
default: the same pages), ``replay-nyc-rss`` (feed), ``replay-nyc-ical``
(ical). See docs/replay.md for the calendar, the rules of change and the
measurements built on it (``python -m bench.freshness``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from crawlers.sources import Source
from devtools.replay.compare import Closed, Place, Report, Truth, compare
from devtools.replay.corpus import ESC_SNAPSHOT
from devtools.replay.model import (
    DEFAULT_EDIT_RATE,
    DEFAULT_REMOVAL_RATE,
    State,
    World,
    load_records,
    sample,
)
from devtools.replay.pages import ESC_SUPPORT, Renderer, iso_country, revision_note
from devtools.replay.server import (
    ESC_DETAIL,
    HTML,
    JSON,
    MAX_SIZE,
    NYC_DETAIL,
    SEARCH,
    RateLimit,
    Served,
    etag_of,
    make_handler,
    search_params,
)
from devtools.site import LoopbackServer
from pipeline.events import opportunity_id

__all__ = ["SOURCE_IDS", "Change", "Changes", "Closed", "Place", "Replay", "Report", "Truth", "compare"]

REGISTRY = Path(__file__).with_name("sources.yaml")
# Which listings each replay source publishes: a corpus, and for the calendar only one-day ones.
SOURCE_CORPUS = {"replay-esc": "esc", "replay-nyc-site": "nyc", "replay-nyc-sitemap": "nyc",
                 "replay-nyc-rss": "nyc", "replay-nyc-ical": "nyc"}
SOURCE_IDS = tuple(SOURCE_CORPUS)


@dataclass
class Change:
    """One listing appearing, changing or closing on the replayed sources."""

    kind: str  # "appeared", "changed", "closed"
    corpus: str
    key: str
    day: date  # the served day it happened
    visible_at: float  # wall clock (epoch seconds) when the server started showing it
    what: list[str] = field(default_factory=list)  # changed: deadline/end/description; closed: the reason
    listings: list[tuple[str, str]] = field(default_factory=list)  # (source id, external id) it shows in

    @property
    def ids(self) -> list[str]:
        return [opportunity_id(s, e) for s, e in self.listings]


class Changes(list[Change]):
    """What ``Replay.advance`` changed, in order."""

    def of(self, kind: str) -> list[Change]:
        return [c for c in self if c.kind == kind]

    @property
    def appeared(self) -> list[Change]:
        return self.of("appeared")

    @property
    def changed(self) -> list[Change]:
        return self.of("changed")

    @property
    def closed(self) -> list[Change]:
        return self.of("closed")

    def counts(self) -> dict[str, int]:
        return {k: len(self.of(k)) for k in ("appeared", "changed", "closed")}


class Replay(LoopbackServer):
    """The replay server (a context manager) and its simulated time.

    ``day``: the simulated day to start on, on the corpus calendar (default
    2026-08-22, the day the ESC records were gathered: all of them are live
    then but those whose deadline had passed). ``limit``: at most that many
    listings per corpus (drawn reproducibly with ``seed`` among those not
    closed on ``day``). ``rate_limit``: requests per second per client before
    429 (default: none). ``offset_days``: served dates = corpus dates + this
    (default: so that ``day`` is served as today, see docs/replay.md).
    ``edit_rate`` / ``removal_rate``: chance a day that a live listing is
    edited / (without a deadline) removed. ``port``: 0 for a free one.
    """

    def __init__(self, *, day: date | None = None, limit: int | None = None, seed: int = 0,
                 rate_limit: float | None = None, offset_days: int | None = None, port: int = 0,
                 edit_rate: float = DEFAULT_EDIT_RATE, removal_rate: float = DEFAULT_REMOVAL_RATE) -> None:
        self.day = day or ESC_SNAPSHOT
        self.offset_days = (datetime.now(UTC).date() - self.day).days if offset_days is None else offset_days
        self.seed = seed
        self.limit = limit
        records = load_records()
        self.world = World({c: sample(rs, self.day, limit, seed) for c, rs in records.items()}, self.day,
                           seed=seed, edit_rate=edit_rate, removal_rate=removal_rate)
        self._rate = RateLimit(rate_limit)
        self._lock = threading.RLock()
        self._served: list[Served] = []
        self._meta: dict[str, tuple[str, float]] = {}
        self._cache: dict[tuple[Any, ...], tuple[int, str, bytes]] = {}
        self._version = 0
        self._closed: list[Closed] = []
        self.started_at = time.time()
        super().__init__(make_handler(self), port=port)
        self.renderer = Renderer(self.url, self.offset_days)

    # ---------------------------------------------------------------- time

    @property
    def today(self) -> date:
        """The simulated day as served (what tilts should take as today)."""
        return self.renderer.served(self.world.day)  # type: ignore[return-value]

    def advance(self, days: int = 1) -> Changes:
        """Move ``days`` simulated days on; what appeared, changed and closed.

        Each day's changes become visible together, at once, when the day is
        reached; ``Change.visible_at`` is that moment on the wall clock."""
        out = Changes()
        for _ in range(days):
            with self._lock:
                step = self.world.step()
                self._version += 1
                self._cache.clear()
                now = time.time()
                served = self.today
            for s in step.appeared:
                out.append(Change("appeared", s.record.corpus, s.record.key, served, now,
                                  listings=self._listings(s)))
            for s, kinds in step.changed:
                out.append(Change("changed", s.record.corpus, s.record.key, served, now, what=kinds,
                                  listings=self._listings(s)))
            for s, reason in step.closed:
                listings = self._listings(s)
                out.append(Change("closed", s.record.corpus, s.record.key, served, now, what=[reason],
                                  listings=listings))
                with self._lock:
                    self._closed += [Closed(sid, ext, self._reason(sid, s, reason), served, now)
                                     for sid, ext in listings]
        return out

    # ------------------------------------------------------------- sources

    def sources(self, *, polite: bool = True, include_disabled: bool = False) -> list[Source]:
        """The replay registry's entries with this server's URLs. ``polite=False``
        drops the entries' own ``download_delay`` so ``Settings.download_delay``
        applies (tests and benchmark loops); concurrency stays."""
        out = []
        for entry in self._registry()["sources"]:
            source = Source.model_validate(entry)
            if not source.enabled and not include_disabled:
                continue
            if not polite:
                source = source.model_copy(update={"politeness": source.politeness.model_copy(
                    update={"download_delay": None})})
            out.append(source)
        return out

    def source(self, source_id: str, *, polite: bool = True) -> Source:
        for s in self.sources(polite=polite, include_disabled=True):
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def write_registry(self, path: Path) -> Path:
        """The replay registry with this server's URLs, for ``TILTS_SOURCES_FILE``."""
        path.write_text(yaml.safe_dump(self._registry(), allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def _registry(self) -> dict[str, Any]:
        return yaml.safe_load(REGISTRY.read_text(encoding="utf-8").replace("{BASE}", self.url))

    def _enabled(self) -> list[str]:
        return [s.id for s in self.sources()]

    # --------------------------------------------------------------- truth

    def _listings(self, s: State) -> list[tuple[str, str]]:
        return [(sid, self._external_id(sid, s)) for sid in SOURCE_IDS if self._shows(sid, s)]

    @staticmethod
    def _shows(source_id: str, s: State) -> bool:
        if SOURCE_CORPUS[source_id] != s.record.corpus:
            return False
        return source_id != "replay-nyc-ical" or (s.record.onetime and s.record.start is not None)

    @staticmethod
    def _external_id(source_id: str, s: State) -> str:
        key = s.record.key
        if source_id == "replay-nyc-rss":
            return f"nyc-service-{key}"
        if source_id == "replay-nyc-ical":
            return f"nyc-service-{key}@replay.tilts"
        return key

    def _reason(self, source_id: str, s: State, reason: str) -> str:
        """Why the listing closed, as this source shows it: a date that passed is a
        ``deadline`` where the source published it as one (the ESC API, a
        JobPosting's validThrough), else the activity ``ended``."""
        if reason == "removed":
            return reason
        return "deadline" if self._truth(source_id, s).fields.get("deadline") else "ended"

    def truth(self, sources: list[str] | None = None) -> list[Truth]:
        """The open listings now, per source (the registry's enabled ones by
        default), with the fields a correct index must show."""
        wanted = sources or self._enabled()
        with self._lock:
            live = self.world.live()
            return [self._truth(sid, s) for sid in wanted for s in live if self._shows(sid, s)]

    def closed(self, sources: list[str] | None = None) -> list[Closed]:
        """Every listing closed or removed since the replay started, per source."""
        wanted = set(sources or self._enabled())
        with self._lock:
            return [c for c in self._closed if c.source_id in wanted]

    def _truth(self, sid: str, s: State) -> Truth:
        r, o, render = s.record, s.record.data, self.renderer

        def iso(d: date | None) -> str | None:
            served = render.served(d)
            return served.isoformat() if served else None

        fields: dict[str, Any] = {"title": r.title}
        if r.corpus == "esc":
            fields.update(start_date=iso(r.start), end_date=iso(r.end), deadline=iso(s.deadline),
                          place=Place(country=iso_country(o.get("country")), city=o.get("town") or None,
                                      address=o.get("location") or None),
                          support=dict(ESC_SUPPORT))
            url = f"{self.url}/solidarity/opportunity/{r.key}_en"
        else:
            p = o["_place"]
            place = Place(country="US", city=p.city, address=render.nyc_address(r),
                          lat=float(p.latitude) if p.latitude else None,
                          lon=float(p.longitude) if p.longitude else None)
            url = render.nyc_url(r)
            if sid in ("replay-nyc-site", "replay-nyc-sitemap"):
                fields.update(start_date=iso(r.start), place=place)
                if r.onetime:
                    fields["end_date"] = iso(s.end)
                else:
                    fields["deadline"] = iso(s.end)  # JobPosting validThrough
            elif sid == "replay-nyc-ical":
                fields.update(start_date=iso(r.start), place=place)
            else:  # RSS: when and where are sentences of the description
                fields["place"] = Place(country="US", city=p.city, address=place.address, lat=place.lat,
                                        lon=place.lon, city_optional=True)
                fields["description"] = [f"When: {render.nyc_when(s)}."]
        if s.revision:
            fields["description"] = [*fields.get("description", []), revision_note(s.revision)]
        return Truth(sid, self._external_id(sid, s), fields, url)

    # ------------------------------------------------------------- serving

    def requests(self) -> int:
        """Requests served so far (every one: 200, 304, 404, 429…)."""
        with self._lock:
            return len(self._served)

    def request_log(self, since: int = 0) -> list[Served]:
        """The requests served, in order, from number ``since`` on."""
        with self._lock:
            return self._served[since:]

    def _log(self, served: Served) -> None:
        with self._lock:
            self._served.append(served)

    def _validators(self, resource: str, payload: bytes, now: float) -> tuple[str, float]:
        etag = etag_of(payload)
        with self._lock:
            known = self._meta.get(resource)
            if known is None or known[0] != etag:
                known = (etag, float(int(now)))
                self._meta[resource] = known
            return known

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        key = (self._version, method, path, tuple(sorted(query.items())), body)
        with self._lock:  # rendering reads the world: one consistent day per answer
            cached = self._cache.get(key)
            if cached is None:
                cached = self._answer(method, path, query, body)
                if len(self._cache) < 20_000:
                    self._cache[key] = cached
            return cached

    def _answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        render, day = self.renderer, self.world.day
        live = self.world.live()
        if method == "POST" and not SEARCH.match(path):
            return 405, "text/plain; charset=utf-8", b"Method not allowed\n"
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", render.robots()
        if path == "/":
            return 200, HTML, render.home()
        if SEARCH.match(path):
            params, error = search_params(method, query, body)
            if error:
                return 400, JSON, f'{{"error": "{error}"}}'.encode()
            if params["type"] != "Opportunity":
                return 200, JSON, b'{"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}'
            esc = [s for s in live if s.record.corpus == "esc"]
            gone = [s for (s, _, _) in self.world.closed.values() if s.record.corpus == "esc"]
            return 200, JSON, render.esc_search(
                esc, offset=max(0, params["from"]), size=max(0, min(params["size"], MAX_SIZE)),
                status=params["status"], closed=gone, order=params["order"])
        if m := ESC_DETAIL.match(path):
            state = self.world.states.get(("esc", m.group(1)))
            if state is None or state.record.created.date() > day:
                return 404, HTML, render.home()
            if not state.live(day):
                return 410, HTML, render.home()
            return 200, HTML, render.esc_detail(state, m.group(2))
        if path == "/solidarity/opportunities_en":
            return 200, HTML, render.esc_home()
        nyc = [s for s in live if s.record.corpus == "nyc"]
        if path in ("/nyc", "/nyc/"):
            return 200, HTML, render.nyc_home()
        if path == "/nyc/opportunities":
            page = render.nyc_listing(nyc, int(query.get("page", "1")) if query.get("page", "1").isdigit() else 0)
            return (200, HTML, page) if page is not None else (404, HTML, render.nyc_home())
        if m := NYC_DETAIL.match(path):
            state = self.world.states.get(("nyc", m.group(1)))
            if state is None or state.record.created.date() > day:
                return 404, HTML, render.nyc_home()
            if not state.live(day):
                return 410, HTML, render.nyc_home()
            return 200, HTML, render.nyc_detail(state)
        if path == "/nyc/feed.rss":
            return 200, "application/rss+xml; charset=utf-8", render.nyc_rss(nyc)
        if path == "/nyc/events.ics":
            return 200, "text/calendar; charset=utf-8", render.nyc_ical(nyc)
        if path == "/nyc/sitemap.xml":
            return 200, "application/xml; charset=utf-8", render.nyc_sitemap(nyc)
        return 404, HTML, render.home()
