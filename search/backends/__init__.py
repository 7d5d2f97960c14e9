"""Search backends, chosen by URL: ``http(s)://`` → Elasticsearch, ``sqlite:///`` → FTS5."""

from __future__ import annotations

from search.backends.base import (
    DocumentRejected,
    SearchBackend,
    SearchHit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)

__all__ = [
    "DocumentRejected", "SearchBackend", "SearchHit", "SearchRequest", "SearchResult",
    "SearchUnavailable", "open_backend",
]


def open_backend(url: str, alias: str = "opportunities") -> SearchBackend:
    if url.startswith(("http://", "https://")):
        from search.backends.elastic import ElasticsearchBackend

        return ElasticsearchBackend(url, alias=alias)
    if url.startswith("sqlite://"):
        from search.backends.sqlite import SqliteBackend

        rest = url[len("sqlite://"):]
        return SqliteBackend(rest[1:] if rest.startswith("/") else rest)
    raise SearchUnavailable(f"unknown search URL {url!r} (expected http(s):// or sqlite:///)")
