"""The search backend interface, shared by Elasticsearch and SQLite FTS5.

A backend stores Opportunity documents under their id (so re-indexing the same
opportunity overwrites it: replays never duplicate), deletes them on
tombstones, and answers :class:`SearchRequest` with hits, a total and facet
counts. Facet counts are computed over the whole filtered result set, with the
facet's own filter left out (a country facet still shows other countries when
one is selected), as users of faceted search expect.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from pipeline.events import Opportunity
from pipeline.worker import Retryable

FACETS = ("country", "theme", "activity_type", "language")
MAX_PAGE_SIZE = 100


class SearchUnavailable(Retryable):
    """The backend cannot be reached; callers retry later, nothing is lost."""


class DocumentRejected(ValueError):
    """The backend refused one document for good (e.g. a mapping conflict)."""

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"{doc_id}: {reason}")
        self.doc_id = doc_id
        self.reason = reason


class SearchRequest(BaseModel):
    q: str | None = Field(default=None, max_length=500)
    country: list[str] = Field(default_factory=list)
    theme: list[str] = Field(default_factory=list)
    activity_type: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    include_closed: bool = False
    page: int = Field(default=1, ge=1, le=1000)
    size: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)

    def filters(self) -> dict[str, list[str]]:
        """Facet name → selected values (only non-empty ones)."""
        return {f: getattr(self, f) for f in FACETS if getattr(self, f)}


class SearchHit(BaseModel):
    id: str
    score: float | None = None
    opportunity: dict[str, Any]


class SearchResult(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    page: int
    size: int


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

    def count(self) -> int: ...

    def refresh(self) -> None:
        """Make writes visible to search now (tests and one-shot runs)."""

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", ...}``; never raises."""

    def close(self) -> None: ...


def facet_values(doc: Opportunity) -> dict[str, list[str]]:
    """The facet values of one document, identical for every backend."""
    return {
        "country": doc.countries,
        "theme": sorted({t.value for t in doc.themes}),
        "activity_type": [doc.activity_type.value],
        "language": [doc.language] if doc.language else [],
    }
