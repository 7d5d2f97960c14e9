"""Search backends, chosen by URL: ``http(s)://`` → Elasticsearch, ``sqlite:///`` → FTS5."""

from __future__ import annotations

from pipeline.config import Settings
from search.backends.base import (
    Capabilities,
    DocumentRejected,
    SearchBackend,
    SearchHit,
    SearchResult,
    SearchUnavailable,
)
from search.request import SearchRequest

__all__ = [
    "Capabilities", "DocumentRejected", "SearchBackend", "SearchHit", "SearchRequest", "SearchResult",
    "SearchUnavailable", "make_backend", "open_backend",
]


def open_backend(url: str, alias: str = "opportunities", replicas: int = 0) -> SearchBackend:
    if url.startswith(("http://", "https://")):
        from search.backends.elastic import ElasticsearchBackend

        return ElasticsearchBackend(url, alias=alias, replicas=replicas)
    if url.startswith("sqlite://"):
        from search.backends.sqlite import SqliteBackend

        rest = url[len("sqlite://"):]
        return SqliteBackend(rest[1:] if rest.startswith("/") else rest)
    raise SearchUnavailable(f"unknown search URL {url!r} (expected http(s):// or sqlite:///)")


def make_backend(settings: Settings) -> SearchBackend:
    """The backend these settings name: Elasticsearch, or SQLite FTS5 in the data dir."""
    if not settings.elasticsearch_url:
        settings.ensure_data_dir()
    return open_backend(settings.search_url, alias=settings.index_alias, replicas=settings.index_replicas)
