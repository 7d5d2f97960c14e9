"""The search backend interface, shared by Elasticsearch and SQLite FTS5.

A backend stores Opportunity documents under their id (so re-indexing the same
opportunity overwrites it: replays never duplicate), deletes them on
tombstones, and answers :class:`SearchRequest` with hits, totals and facet
counts. Both backends implement the same request model with the same
semantics, fixed here and checked by one parity suite
(``tests/search/test_parity.py``):

- **Facets** (:data:`FACETS`) are multi-select filters: values of one facet are
  OR-ed, except ``support`` where every selected item must be offered. Facet
  counts are computed over the whole filtered result set with the facet's own
  filter left out (a country facet still shows other countries when one is
  selected), counting documents.
- **Other filters** (age, where I live, languages I speak, date windows,
  distance, status) narrow the result set and the facet counts alike.
- **Sort** orders are total: every one ends with ``id`` ascending.
- **Collapse** (on by default) shows one document per duplicate cluster: the
  first of its members in the requested order; ``total`` counts documents,
  ``clusters`` the clusters among them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import pycountry
from pydantic import BaseModel, Field, field_validator, model_validator

from pipeline.events import Opportunity
from pipeline.worker import Retryable

FACETS = (
    "country", "city", "theme", "activity_type", "duration_class", "work_mode", "language",
    "required_language", "programme", "organisation", "support", "source",
)
# Facets whose selected values must all hold (AND); the others are OR-ed.
ALL_OF_FACETS = frozenset({"support"})
SUPPORT_ITEMS = (
    "accommodation", "food", "travel", "insurance", "allowance", "language_course", "training",
)
MAX_PAGE_SIZE = 100
MAX_WINDOW = 10_000  # deepest result reachable by page (Elasticsearch's max_result_window)


class SearchUnavailable(Retryable):
    """The backend cannot be reached; callers retry later, nothing is lost."""


class DocumentRejected(ValueError):
    """The backend refused one document for good (e.g. a mapping conflict)."""

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"{doc_id}: {reason}")
        self.doc_id = doc_id
        self.reason = reason


class Sort(StrEnum):
    relevance = "relevance"  # text score; newest when there is no text
    deadline = "deadline"  # soonest deadline first, listings without one last
    newest = "newest"  # first seen by tilts, newest first
    distance = "distance"  # nearest first (needs a point)


class SearchRequest(BaseModel):
    """One search, identical for the API, the UI, feeds and saved searches."""

    q: str | None = Field(default=None, max_length=500, description="Free text (typos tolerated)")
    # facets
    country: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes")
    city: list[str] = Field(default_factory=list)
    theme: list[str] = Field(default_factory=list)
    activity_type: list[str] = Field(default_factory=list)
    duration_class: list[str] = Field(default_factory=list)
    work_mode: list[str] = Field(default_factory=list, description="onsite, remote, hybrid")
    language: list[str] = Field(default_factory=list, description="Language of the listing")
    required_language: list[str] = Field(default_factory=list, description="A language the listing requires")
    programme: list[str] = Field(default_factory=list)
    organisation: list[str] = Field(default_factory=list)
    support: list[str] = Field(default_factory=list, description="All of these must be offered")
    source: list[str] = Field(default_factory=list)
    # filters
    speaks: list[str] = Field(
        default_factory=list,
        description="Languages I speak: only listings requiring no other language",
    )
    age: int | None = Field(default=None, ge=0, le=120, description="My age fits the age limits")
    resident: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$",
        description="Where I live: listings open to residents of this country",
    )
    deadline_from: date | None = None
    deadline_to: date | None = None
    start_from: date | None = None
    start_to: date | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    within_km: float | None = Field(default=None, gt=0, le=20_000)
    changed_since: datetime | None = Field(
        default=None, description="New or changed since: first seen then, or updated by the source since"
    )
    status: list[str] = Field(default_factory=lambda: ["open"])
    like: str | None = Field(default=None, max_length=200, description="More like this opportunity id")
    understand: bool = Field(
        default=True,
        description="Read places, themes, support and format out of q (in any supported language) as filters; "
                    "false searches the words as typed",
    )
    ignore: list[Literal["country", "city", "theme", "support", "work_mode", "duration_class",
                         "programme"]] = Field(
        default_factory=list,
        description="Understood filters to leave out (the × on one of them in the UI); their words are not searched",
    )
    # presentation
    sort: Sort = Sort.relevance
    collapse: bool = True
    page: int = Field(default=1, ge=1, le=MAX_WINDOW)
    size: int = Field(default=20, ge=0, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=2000, description="next_cursor of the previous page")

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchRequest:
        self.country = [c.upper() for c in self.country]
        self.language = [c.lower() for c in self.language]
        self.required_language = [c.lower() for c in self.required_language]
        self.speaks = [c.lower() for c in self.speaks]
        if self.changed_since is not None and self.changed_since.tzinfo is None:
            self.changed_since = self.changed_since.replace(tzinfo=UTC)
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.within_km is not None and self.lat is None:
            raise ValueError("within_km needs lat and lon (or a place name)")
        if self.sort == Sort.distance and self.lat is None:
            raise ValueError("sort=distance needs lat and lon (or a place name)")
        if self.page * max(self.size, 1) > MAX_WINDOW:
            raise ValueError(f"page × size may not exceed {MAX_WINDOW}; use cursor to go deeper")
        if self.cursor and decode_cursor(self.cursor).get("o", 0) + self.size > MAX_WINDOW:
            raise ValueError(f"a cursor may not reach past result {MAX_WINDOW}")
        return self

    @property
    def text(self) -> str | None:
        return self.q.strip() if self.q and self.q.strip() else None

    @property
    def effective_sort(self) -> Sort:
        if self.sort == Sort.relevance and not self.text and not self.like:
            return Sort.newest
        return self.sort

    def query_pairs(self) -> list[tuple[str, str]]:
        """This request as URL query parameters (defaults, page and cursor left
        out): the links of the UI, feeds and digests."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"cursor", "page"})
        return [(k, str(item).lower() if isinstance(item, bool) else str(item))
                for k, v in data.items() for item in (v if isinstance(v, list) else [v])]

    def filters(self) -> dict[str, list[str]]:
        """Facet name → selected values (only non-empty ones)."""
        return {f: getattr(self, f) for f in FACETS if getattr(self, f)}

    def offset(self) -> int:
        """Where this page starts (a cursor overrides page)."""
        if self.cursor:
            return decode_cursor(self.cursor).get("o", 0)
        return (self.page - 1) * self.size


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """An opaque cursor back to its state; a bad one is a ValueError (422).

    Cursors come back from clients, so they are read strictly: a bounded
    length (the field's max_length) and nesting, only the keys tilts writes
    ("o": an offset within the result window; "a": Elasticsearch's
    search_after values), bounded numbers and strings."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
    try:
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(state, dict) or not state or set(state) - {"o", "a"}:
        raise ValueError("invalid cursor")
    offset = state.get("o", 0)
    if type(offset) is not int or not 0 <= offset <= MAX_WINDOW:
        raise ValueError("invalid cursor")
    after = state.get("a", [])
    if not isinstance(after, list) or len(after) > _MAX_SORT_KEYS or not all(map(_sort_value, after)):
        raise ValueError("invalid cursor")
    return state


_MAX_SORT_KEYS = 8


def _sort_value(value: Any) -> bool:
    """One search_after value as Elasticsearch returns them: a long, a double, a short string or null."""
    if value is None:
        return True
    if type(value) is int:
        return -(2**63) <= value < 2**63
    if type(value) is float:
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= 512


class SearchHit(BaseModel):
    id: str
    score: float | None = None
    distance_km: float | None = None
    highlight: dict[str, str] = Field(
        default_factory=dict, description="Field → matched text as escaped HTML with <mark>"
    )
    opportunity: dict[str, Any]


class SearchResult(BaseModel):
    total: int = Field(description="Documents matching")
    clusters: int = Field(description="Duplicate clusters among them (what collapse shows)")
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    page: int
    size: int
    next_cursor: str | None = None
    understood: dict[str, Any] | None = Field(
        default=None,
        description="What was read out of q as filters (country, city, theme, support, work_mode, "
                    "duration_class) and the text left to match; repeat the search with understand=false to undo",
    )
    relaxed: list[str] = Field(
        default_factory=list,
        description="What was left out, in order, because the search as understood found nothing",
    )


@runtime_checkable
class SearchBackend(Protocol):
    name: str

    def setup(self) -> None:
        """Create the index (idempotent)."""

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        """Write documents by id. Returns the documents rejected for good;
        raises SearchUnavailable when nothing could be written."""

    def delete_many(self, ids: list[str]) -> None:
        """Delete by id; a missing id is not an error."""

    def get(self, doc_id: str) -> dict[str, Any] | None: ...

    def search(self, request: SearchRequest) -> SearchResult: ...

    def suggest(self, prefix: str, size: int = 8) -> list[str]:
        """Titles of open listings starting with (words starting with) ``prefix``."""

    def count(self) -> int: ...

    def refresh(self) -> None:
        """Make writes visible to search now (tests and one-shot runs)."""

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", ...}``; never raises."""

    def close(self) -> None: ...


def required_languages(doc: Opportunity) -> list[str]:
    return sorted({r.language.lower() for r in doc.eligibility.languages if r.required})


def facet_values(doc: Opportunity) -> dict[str, list[str]]:
    """The facet values of one document, identical for every backend."""
    support = doc.support.model_dump()
    return {
        "country": doc.countries,
        "city": sorted({loc.city for loc in doc.locations if loc.city}),
        "theme": sorted({t.value for t in doc.themes}),
        "activity_type": [doc.activity_type.value],
        "duration_class": [doc.duration_class.value],
        "work_mode": [doc.work_mode.value],
        "language": [doc.language.lower()] if doc.language else [],
        "required_language": required_languages(doc),
        "programme": [doc.programme] if doc.programme else [],
        "organisation": [doc.organisation.name] if doc.organisation.name else [],
        "support": [item for item in SUPPORT_ITEMS if support.get(item)],
        "source": [doc.source_id],
    }


def place_text(doc: Opportunity) -> str:
    """Where a listing is, as words a searcher types: "riga" finds listings in Riga."""
    words: list[str] = []
    for loc in doc.locations:
        words += [w for w in (loc.city, loc.region) if w]
        country = pycountry.countries.get(alpha_2=loc.country) if loc.country else None
        if country:
            words.append(country.name)
    return " ".join(dict.fromkeys(words))


def geo_points(doc: Opportunity) -> list[tuple[float, float]]:
    return [(loc.geo.lat, loc.geo.lon) for loc in doc.locations if loc.geo]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on Elasticsearch's sphere (mean radius 6371.0088 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))
