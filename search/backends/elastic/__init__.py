"""The Elasticsearch backend: the mapping (``mapping``), the pure query
builder (``query``) and the client (``backend``)."""

from search.backends.elastic.backend import ElasticsearchBackend

__all__ = ["ElasticsearchBackend"]
