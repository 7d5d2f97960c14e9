"""Ground truth against the index: is every open listing searchable and right,
and is every closed one gone?

Nothing here knows about the replay: a :class:`Truth` is one listing as its
source publishes it now (the fields a correct index must show), built by
:meth:`devtools.replay.Replay.truth` or from a real source's own listing (its
API, its pages). :func:`compare` reads what tilts shows (open listings, per
source, through the same search every user gets, never a database peek) and
returns a :class:`Report`.

Fields compared, where the truth states them (a field absent from
``Truth.fields`` is not checked; present with ``None`` means "the index must
show none"):

- ``title``: equal once whitespace and HTML entities are normalized;
- ``start_date``, ``end_date``, ``deadline``: equal ISO dates;
- ``place``: the country (ISO 3166-1) equal; the city, where the truth names
  one, equal (case and accents aside), or the same place as the gazetteer
  reads the truth's city, or within 25 km of the truth's coordinates, or
  named in the truth's address;
- ``support``: each support item the truth states (``{"food": True}``) shown so;
- ``description``: the index's description contains this text, or each of
  these texts (a revision, a sentence giving dates).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pipeline.events import opportunity_id
from search.backends import SearchRequest
from search.request import Sort

SearchFn = Callable[[SearchRequest], Any]
NEAR_KM = 25.0
FIELDS = ("title", "start_date", "end_date", "deadline", "place", "support", "description")


@dataclass(frozen=True)
class Place:
    country: str | None = None  # ISO 3166-1 alpha-2
    city: str | None = None  # as the source writes it
    address: str | None = None  # the source's whole location text
    lat: float | None = None
    lon: float | None = None
    # The source names the city only in free text (a feed's description): an
    # index showing no city is incomplete, not wrong; a wrong city is still wrong.
    city_optional: bool = False


@dataclass
class Truth:
    """One open listing as its source publishes it now."""

    source_id: str
    external_id: str
    fields: dict[str, Any]  # field → what the index must show (see the module's doc)
    url: str | None = None

    @property
    def id(self) -> str:
        return opportunity_id(self.source_id, self.external_id)


@dataclass
class Closed:
    """A listing its source no longer shows as open."""

    source_id: str
    external_id: str
    reason: str  # "deadline", "ended", "removed"
    closed_on: date | None = None  # the (served) day it closed
    visible_at: float | None = None  # wall clock when the source stopped showing it
    cycles: int = 0  # scheduled cycles run since (set by the caller)

    @property
    def id(self) -> str:
        return opportunity_id(self.source_id, self.external_id)


@dataclass
class Report:
    today: date
    expected: int = 0  # open listings in the truth
    present: int = 0  # of them, shown as open
    correct: int = 0  # of them, shown as open with every field right
    wrong_fields: Counter[str] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)  # expected, not shown as open
    wrong: dict[str, list[str]] = field(default_factory=dict)  # id → wrong fields
    closed: int = 0  # closed or removed listings known
    closed_still_open: list[str] = field(default_factory=list)
    closed_still_open_by_reason: Counter[str] = field(default_factory=Counter)
    past_deadline_open: list[str] = field(default_factory=list)  # shown open, deadline before today
    unexpected_open: list[str] = field(default_factory=list)  # shown open, neither expected nor known closed
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)  # wrong field → a few "id: index vs truth"

    @property
    def present_share(self) -> float:
        return self.present / self.expected if self.expected else 1.0

    @property
    def correct_share(self) -> float:
        return self.correct / self.expected if self.expected else 1.0

    @property
    def closed_open_share(self) -> float:
        return len(self.closed_still_open) / self.closed if self.closed else 0.0

    def summary(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "expected": self.expected, "present": self.present,
                "correct": self.correct, "present_share": round(self.present_share, 4),
                "correct_share": round(self.correct_share, 4), "wrong_fields": dict(self.wrong_fields),
                "closed": self.closed, "closed_still_open": len(self.closed_still_open),
                "closed_still_open_by_reason": dict(self.closed_still_open_by_reason),
                "past_deadline_open": len(self.past_deadline_open),
                "unexpected_open": len(self.unexpected_open), "by_source": self.by_source}


# ----------------------------------------------------------------- reading

def _search_fn(target: Any) -> SearchFn:
    if callable(getattr(target, "search", None)):
        return target.search
    if callable(target):
        return target
    raise TypeError("compare needs a search backend or a function SearchRequest -> SearchResult")


def _hits(result: Any) -> tuple[list[dict[str, Any]], str | None]:
    """(opportunities, next cursor) of a SearchResult or its JSON (the HTTP API's)."""
    if isinstance(result, dict):
        return [h["opportunity"] for h in result.get("hits", [])], result.get("next_cursor")
    return [h.opportunity for h in result.hits], result.next_cursor


def shown_open(search: SearchFn, source_id: str) -> dict[str, dict[str, Any]]:
    """Every listing of ``source_id`` the index shows as open, by id."""
    out: dict[str, dict[str, Any]] = {}
    req = SearchRequest(source=[source_id], status=["open"], collapse=False, size=100, sort=Sort.newest,
                        understand=False)
    while True:
        docs, cursor = _hits(search(req))
        for doc in docs:
            out[doc["id"]] = doc
        if not cursor or not docs:
            return out
        req = req.model_copy(update={"cursor": cursor})


def searchable(backend: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The documents of ``ids`` a search would find now (Elasticsearch: after a
    refresh, as searches see them; SQLite: committed), by id. For latency
    probes; :func:`compare` goes through the search itself."""
    found: dict[str, dict[str, Any]] = {}
    es = getattr(backend, "es", None)
    if es is not None:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            resp = es.search(index=backend.alias, query={"ids": {"values": chunk}}, size=len(chunk))
            found.update({h["_id"]: h["_source"] for h in resp["hits"]["hits"]})
        return found
    for doc_id in ids:
        doc = backend.get(doc_id)
        if doc is not None:
            found[doc_id] = doc
    return found


def api_search(base_url: str, timeout: float = 30.0) -> SearchFn:
    """A search function over a running tilts API (``tilts serve``): compare a
    deployment with a source's truth from outside."""
    import httpx

    client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def search(req: SearchRequest) -> dict[str, Any]:
        params = req.query_pairs()
        if req.cursor:
            params.append(("cursor", req.cursor))
        resp = client.get("/search", params=tuple(params))  # httpx types pairs as a tuple (or a wider list)
        resp.raise_for_status()
        return resp.json()

    return search


# --------------------------------------------------------------- comparing

def _fold(text: str | None) -> str:
    from pipeline.normalize.text import fold

    return " ".join(fold(html.unescape(text or "")).replace("-", " ").split())


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(min(1.0, a)))


def _gazetteer_names(city: str, country: str | None) -> set[str]:
    try:
        from pipeline.normalize.places import resolve_city

        found = resolve_city(city, country)
    except Exception:
        return set()
    if found is None:
        return set()
    names = {found.name} if found.name else set()
    if found.city is not None:
        names |= {found.city.name, found.city.label}
    return {_fold(n) for n in names if n}


def place_matches(truth: Place, locations: list[dict[str, Any]]) -> bool:
    if truth.country and not any((loc.get("country") or "").upper() == truth.country.upper()
                                 for loc in locations):
        return False
    if not truth.city:
        return True
    wanted = _fold(truth.city)
    known = _gazetteer_names(truth.city, truth.country)
    written = f" {_fold(truth.address)} {wanted} "
    if truth.city_optional and not any(loc.get("city") for loc in locations):
        return True
    for loc in locations:
        if truth.country and (loc.get("country") or "").upper() != truth.country.upper():
            continue
        city = _fold(loc.get("city"))
        if city and (city == wanted or city in known or f" {city} " in written):
            return True
        geo = loc.get("geo") or {}
        if truth.lat is not None and truth.lon is not None and geo.get("lat") is not None \
                and _km(truth.lat, truth.lon, float(geo["lat"]), float(geo["lon"])) <= NEAR_KM:
            return True
    return False


def _shown(name: str, doc: dict[str, Any]) -> Any:
    if name == "place":
        return "; ".join(", ".join(str(x) for x in (loc.get("city"), loc.get("country")) if x)
                         for loc in doc.get("locations") or []) or None
    if name == "support":
        return {k: v for k, v in (doc.get("support") or {}).items() if v is not None}
    if name == "description":
        return (doc.get("description_text") or "")[-80:]
    return doc.get(name)


def _said(value: Any) -> Any:
    """A truth value as an example shows it."""
    if isinstance(value, Place):
        where = ", ".join(x for x in (value.city, value.country) if x)
        return f"{where} ({value.address})" if value.address else where
    return value


def wrong_fields(truth: Truth, doc: dict[str, Any]) -> list[str]:
    """The truth's fields the index's document gets wrong."""
    wrong = []
    for name, want in truth.fields.items():
        if name == "title":
            ok = " ".join(html.unescape(want or "").split()) == " ".join(html.unescape(doc.get("title") or "").split())
        elif name in ("start_date", "end_date", "deadline"):
            got = doc.get(name)
            ok = (str(got)[:10] if got else None) == (str(want)[:10] if want else None)
        elif name == "place":
            ok = place_matches(want, doc.get("locations") or [])
        elif name == "support":
            support = doc.get("support") or {}
            ok = all(support.get(item) == value for item, value in (want or {}).items())
        elif name == "description":
            text = " ".join(html.unescape(f"{doc.get('description_text') or ''} "
                                          f"{doc.get('description_html') or ''}").split())
            ok = all(" ".join(str(w).split()) in text for w in ([want] if isinstance(want, str) else want))
        else:
            ok = doc.get(name) == want
        if not ok:
            wrong.append(name)
    return wrong


def compare(truth: Iterable[Truth], backend_or_search_fn: Any, today: date, *,
            closed: Iterable[Closed] | None = None, sources: Iterable[str] | None = None) -> Report:
    """What the index shows against the truth, for the truth's sources (and ``sources``).

    ``closed``: listings known to be closed or removed, to count those still
    shown as open by reason; without it any open listing of these sources
    that is not in the truth counts as ``unexpected_open``. ``today`` is the
    day of the truth: a listing shown as open with a deadline before it is
    ``past_deadline_open`` whatever the truth says."""
    search = _search_fn(backend_or_search_fn)
    truth = list(truth)
    closed = list(closed or [])
    wanted = {t.id: t for t in truth}
    gone = {c.id: c for c in closed if c.id not in wanted}
    source_ids = sorted({t.source_id for t in truth} | {c.source_id for c in closed} | set(sources or []))
    report = Report(today=today, expected=len(truth), closed=len(gone))
    for sid in source_ids:
        shown = shown_open(search, sid)
        mine = [t for t in truth if t.source_id == sid]
        row = {"expected": len(mine), "present": 0, "correct": 0, "shown_open": len(shown),
               "closed": sum(1 for c in gone.values() if c.source_id == sid), "closed_still_open": 0}
        for t in mine:
            doc = shown.get(t.id)
            if doc is None:
                report.missing.append(t.id)
                continue
            report.present += 1
            row["present"] += 1
            bad = wrong_fields(t, doc)
            if bad:
                report.wrong[t.id] = bad
                report.wrong_fields.update(bad)
                for name in bad:
                    examples = report.examples.setdefault(name, [])
                    if len(examples) < 5:
                        examples.append(f"{t.id}: index {_shown(name, doc)!r} vs truth {_said(t.fields[name])!r}")
            else:
                report.correct += 1
                row["correct"] += 1
        for doc_id, doc in shown.items():
            deadline = doc.get("deadline")
            if deadline and str(deadline)[:10] < today.isoformat():
                report.past_deadline_open.append(doc_id)
            if doc_id in wanted:
                continue
            if doc_id in gone:
                report.closed_still_open.append(doc_id)
                report.closed_still_open_by_reason[gone[doc_id].reason] += 1
                row["closed_still_open"] += 1
            else:
                report.unexpected_open.append(doc_id)
        report.by_source[sid] = row
    return report
