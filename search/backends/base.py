"""The search backend interface, shared by Elasticsearch and SQLite FTS5.

A backend stores Opportunity documents under their id (so re-indexing the same
opportunity overwrites it: replays never duplicate), deletes them on
tombstones, and answers a :class:`search.request.SearchRequest` with hits,
totals and facet counts. Both backends implement the same request model with
the same semantics, fixed here and checked by one contract suite
(``tests/search/test_backend_contract.py``) and one parity suite
(``tests/search/test_parity.py``):

- **Facets** (:data:`search.request.FACETS`) are multi-select filters: values
  of one facet are OR-ed, except ``support`` where every selected item must be
  offered. Facet counts are computed over the whole filtered result set with
  the facet's own filter left out (a country facet still shows other
  countries when one is selected), counting documents.
- **Other filters** (age, where I live, languages I speak, date windows,
  distance, status) narrow the result set and the facet counts alike.
- **Sort** orders are total: every one ends with ``id`` ascending.
- **Collapse** (on by default) shows one document per duplicate cluster: the
  first of its members in the requested order; ``total`` counts documents,
  ``clusters`` the clusters among them.

Where the backends differ, each says so in its :class:`Capabilities`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import pycountry
from pydantic import BaseModel, Field

from pipeline.events import Opportunity
from pipeline.links import ClusterMember
from pipeline.worker import Retryable
from search.request import SUPPORT_ITEMS, SearchRequest

FACET_SIZE = 250  # the most values one facet's counts show

class SearchUnavailable(Retryable):
    """The backend cannot be reached; callers retry later, nothing is lost."""


class DocumentRejected(ValueError):
    """The backend refused one document for good (e.g. a mapping conflict)."""

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"{doc_id}: {reason}")
        self.doc_id = doc_id
        self.reason = reason


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


@dataclass(frozen=True)
class Capabilities:
    """What a backend does beyond the shared semantics: the honest differences."""

    typo_tolerance: bool  # text matches words misspelt by an edit or two ("volunter")
    rollback: bool  # a rebuild keeps the previous index to switch back to
    cursor_past_window: bool  # a cursor pages past MAX_WINDOW (collapse off)
    stemmed_languages: frozenset[str]  # listing languages whose inflected forms match each other


# What ``rebuild`` returns: the new index, the one it replaced (kept for
# rollback; None when nothing is kept) and the older ones it deleted.
RebuildResult = tuple[str, str | None, list[str]]


class Amendments(NamedTuple):
    """What a streamed rebuild knows only once its stream has ended, applied to
    the new index before readers switch to it (``tilts reindex``)."""

    deleted: Iterable[str]  # ids written earlier in the stream whose latest version is a tombstone
    links: Iterable[tuple[str, list[str]]]  # id → its ``also_listed_on``, replacing what was written


@runtime_checkable
class SearchBackend(Protocol):
    name: str
    capabilities: Capabilities

    def setup(self) -> None:
        """Create the index (idempotent)."""

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        """Write documents by id. Returns the documents rejected for good;
        raises SearchUnavailable when nothing could be written."""

    def delete_many(self, ids: list[str]) -> None:
        """Delete by id; a missing id is not an error."""

    def rebuild(self, docs: Iterable[Opportunity], keep: int = 1,
                amend: Callable[[], Amendments] | None = None) -> RebuildResult:
        """Replace the whole index by one holding ``docs``, read as they come
        (an id given twice holds its later version), then what ``amend()``
        returns once they are all written; searches see the old index until
        the new one is complete (``keep``: previous indices kept for
        rollback, where the backend keeps any)."""

    def get(self, doc_id: str) -> dict[str, Any] | None: ...

    def cluster_members(self, cluster_ids: list[str]) -> list[ClusterMember]:
        """The indexed listings of these duplicate clusters."""

    def set_also_listed_on(self, updates: dict[str, list[str]]) -> None:
        """Replace the ``also_listed_on`` of indexed listings (id → URLs), nothing else."""

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
    """Every language the listing names as required, alternatives included
    (the ``required_language`` facet)."""
    return sorted({r.language.lower() for r in doc.eligibility.languages if r.required})


def required_language_groups(doc: Opportunity) -> list[tuple[str, ...]]:
    """The listing's language requirements, each as the languages that meet
    it (``("de",)``, ``("en", "ru")`` for "English or Russian"), sorted: a
    person who speaks a language of every one may apply (``speaks``)."""
    return sorted({tuple(sorted({r.language.lower() for r in group}))
                   for group in doc.eligibility.required_groups()})


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
