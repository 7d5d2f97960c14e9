"""Facet counts for the embedded backend, counted in memory.

Counting facets in SQL means joining every matching document to its facet
rows and grouping them: for a broad query over 100,000 documents that is a
million rows through a temporary B-tree, 100–200 ms per count. Here every
facet row of the index is held as two int32 arrays sorted by document
(``row_n``, the document's ``n``; ``row_k``, the facet value's key), and a
match set is counted with one gather and one ``bincount``: a few
milliseconds whatever the size of the match set.

The arrays follow the index without reloading it:

- a document's ``n`` is never reused (``meta.next_n`` hands them out), so
  the rows of a deleted or replaced document can stay: its old ``n`` is in
  no match set any more, and its rows count for nothing;
- the rows of documents written since the last load are the rows with
  ``n`` above the last load's ``max_n``, appended in order;
- when more than half of the rows belong to documents that are gone, or
  the index is rebuilt (a new ``epoch``), everything is loaded again.

A search that collapses duplicates counts clusters, not listings: a value's
count is then the number of results choosing it shows. Each document's
cluster is held as a code (``cluster``, by ``n``; a document's cluster never
changes under the same ``n``, a new cluster means a new write). Documents
alone in their cluster among the matches, most of them, are counted with the
``bincount`` as before; only the rows of clusters with several matching
members are made distinct (value, cluster) pairs.

A ``FacetRows`` is never changed once built: a search counts with the
object that covers the snapshot it read its match set from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class IndexState:
    """Where the index stands in one read transaction (from ``meta``)."""

    epoch: int
    generation: int
    max_n: int


@dataclass(frozen=True)
class FacetRows:
    epoch: int
    base: int  # the generation of the last full load
    generation: int
    max_n: int
    row_n: np.ndarray
    row_k: np.ndarray
    labels: tuple[tuple[str, str], ...]
    keys: dict[tuple[str, str], int] = field(repr=False)
    documents: int  # distinct documents with rows, gone or not
    cluster: np.ndarray = field(repr=False)  # by n: the code of the document's cluster
    cluster_codes: dict[str, int] = field(repr=False)

    @classmethod
    def empty(cls, state: IndexState) -> FacetRows:
        none = np.empty(0, dtype=np.int32)
        return cls(state.epoch, state.generation, state.generation, 0, none, none, (), {}, 0,
                   np.zeros(1, dtype=np.int32), {})

    def covers(self, state: IndexState) -> bool:
        return self.epoch == state.epoch and self.base <= state.generation <= self.generation

    def newer_than(self, other: FacetRows | None) -> bool:
        return other is None or (self.epoch, self.generation) > (other.epoch, other.generation)

    def extended(self, conn: sqlite3.Connection, state: IndexState) -> FacetRows:
        """These rows plus the rows of every document above ``max_n``, as of
        ``state`` (read in the same transaction as ``conn``'s next queries)."""
        labels = list(self.labels)
        keys = dict(self.keys)
        ns: list[np.ndarray] = []
        ks: list[np.ndarray] = []
        for facet, value, members in conn.execute(
            "SELECT facet, value, group_concat(n) FROM facets WHERE n > ? GROUP BY facet, value",
            (self.max_n,),
        ):
            key = keys.get((facet, value))
            if key is None:
                key = keys[(facet, value)] = len(labels)
                labels.append((facet, value))
            n = np.array(members.split(","), dtype=np.int32)
            ns.append(n)
            ks.append(np.full(len(n), key, dtype=np.int32))
        row_n, row_k, documents = self.row_n, self.row_k, self.documents
        if ns:
            new_n = np.concatenate(ns)
            order = np.argsort(new_n, kind="stable")
            new_n = new_n[order]
            documents += int(np.count_nonzero(np.diff(new_n))) + 1
            row_n = np.concatenate([row_n, new_n])
            row_k = np.concatenate([row_k, np.concatenate(ks)[order]])
        cluster, codes = self._clusters_extended(conn, state)
        return FacetRows(state.epoch, self.base, state.generation, state.max_n, row_n, row_k,
                         tuple(labels), keys, documents, cluster, codes)

    def _clusters_extended(self, conn: sqlite3.Connection, state: IndexState) -> tuple[np.ndarray, dict[str, int]]:
        """The cluster codes by ``n`` up to ``state.max_n`` (of every document
        written since the last load added).

        The code table is shared with the rows this extends, not copied (a
        million entries at 1M documents, on every search after a write): it
        only grows, under the backend's rows lock, and a code once given never
        changes, so the older rows' codes still mean what they meant."""
        codes = self.cluster_codes
        cluster = np.zeros(state.max_n + 1, dtype=np.int32)
        cluster[: len(self.cluster)] = self.cluster[: state.max_n + 1]
        ns, ids = conn.execute("SELECT group_concat(n), group_concat(cluster_id, char(30)) FROM "
                               "(SELECT n, cluster_id FROM docs WHERE n > ? ORDER BY n)", (self.max_n,)).fetchone()
        if ns:
            cluster[np.fromstring(ns, dtype=np.int64, sep=",")] = [
                codes.setdefault(c, len(codes)) for c in ids.split("\x1e")]
        return cluster, codes

    @cached_property
    def _totals(self) -> np.ndarray:
        return np.bincount(self.row_k, minlength=len(self.labels))

    def share(self, facet: str, values: Collection[str]) -> float:
        """About what part of the documents has one of ``values`` (rows of
        documents that are gone included): the query planner's missing estimate."""
        keys = [k for k in (self.keys.get((facet, v)) for v in values) if k is not None]
        return float(self._totals[keys].sum()) / max(1, self.documents) if keys else 0.0

    def count(self, ns: np.ndarray, facets: Collection[str],
              clusters: bool = False) -> dict[str, list[tuple[str, int]]]:
        """(value, documents) per facet in ``facets`` over the documents ``ns``
        (``numbers``); ``clusters``: (value, clusters) instead."""
        mask = np.zeros(self.max_n + 1, dtype=bool)
        mask[ns] = True
        selected = mask[self.row_n]
        if clusters:
            counts = self._cluster_counts(ns, selected)
        else:
            counts = np.bincount(self.row_k[selected], minlength=len(self.labels))
        out: dict[str, list[tuple[str, int]]] = {f: [] for f in facets}
        for key in np.flatnonzero(counts).tolist():
            facet, value = self.labels[key]
            if facet in out:
                out[facet].append((value, int(counts[key])))
        return out


    def _cluster_counts(self, ns: np.ndarray, selected: np.ndarray) -> np.ndarray:
        """Per facet value, the clusters with a document in ``ns`` that has it
        (``selected``: the rows of the documents ``ns``)."""
        codes = self.cluster[ns]
        members = np.bincount(codes, minlength=len(self.cluster_codes))
        shared = np.zeros(self.max_n + 1, dtype=bool)
        shared[ns[members[codes] > 1]] = True  # documents with a matching copy
        several = selected & shared[self.row_n]
        counts = np.bincount(self.row_k[selected & ~several], minlength=len(self.labels))
        if several.any():
            width = max(1, len(self.cluster_codes))
            pairs = np.sort(self.row_k[several].astype(np.int64) * width + self.cluster[self.row_n[several]])
            first = np.ones(len(pairs), dtype=bool)  # each pair once (a sort: np.unique hashes, 60x slower here)
            first[1:] = pairs[1:] != pairs[:-1]
            counts += np.bincount(pairs[first] // width, minlength=len(self.labels))
        return counts


def numbers(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> np.ndarray:
    """The document numbers (column ``n``) that ``sql`` selects, as an array.

    SQLite joins them into one string and numpy parses it: for the 71,000
    open listings of a 100k index that is 10 ms, against 26 ms for a row per
    number through the sqlite3 module.
    """
    joined = conn.execute(f"SELECT group_concat(n) FROM ({sql})", args).fetchone()[0]
    return np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.zeros(0, dtype=np.int64)


def load(conn: sqlite3.Connection, state: IndexState) -> FacetRows:
    """Every facet row of the index as of ``state``."""
    return FacetRows.empty(state).extended(conn, state)


def refreshed(current: FacetRows | None, conn: sqlite3.Connection, state: IndexState) -> FacetRows:
    """Rows that cover ``state``: ``current`` itself, ``current`` extended
    by the documents written since, or a full load (after a rebuild, when
    most rows belong to documents that are gone, or for an older snapshot)."""
    if current is not None and current.covers(state):
        return current
    if current is not None and current.epoch == state.epoch and current.generation < state.generation:
        rows = current.extended(conn, state)
        live = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        if rows.documents <= 2 * live + 1000:
            return rows
    return load(conn, state)
