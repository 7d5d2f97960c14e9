"""The embedded search backend: SQLite with an FTS5 full-text index.

One file (``sqlite:///<data_dir>/search.sqlite3``), the same request model and
semantics as Elasticsearch (see ``base``):

- ``docs`` holds each opportunity as JSON plus the columns filters and sorts
  need (status, dates, first seen in ms, age limits); ``facets`` holds every
  facet value (and residence countries) per document; ``geo`` the points,
  measured with the same great-circle formula Elasticsearch uses.
- ``fts`` (unicode61, diacritics removed, so "Riga" finds "Rīga") indexes
  title, organisation, description and the description's *stems* in the
  listing's language (``search.stemming``); a query word matches as a prefix
  or by any of its stems, ranked by BM25 with the title weighted highest.
- Writers use one connection under a lock; WAL lets readers see the last
  committed state while a rebuild is in flight (zero downtime reindex).
"""

from search.backends.sqlite.backend import SqliteBackend

__all__ = ["SqliteBackend"]
