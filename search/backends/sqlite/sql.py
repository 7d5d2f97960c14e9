"""SearchRequest → SQL for the embedded index: pure functions, no connection.

:func:`build_search` turns a request into the statements one search runs:
the SELECT that fills the match set (``docs d`` with the text match's rank
``r`` and the nearest point's distance ``g``), its order, and per selected
facet the SELECT of the documents its own counts are taken over (every
filter but its own). Text becomes a safe FTS5 expression (:func:`fts_query`):
user input can never inject FTS5 syntax.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from search.request import ALL_OF_FACETS, SearchRequest, Sort
from search.stemming import query_variants

# BM25 column weights: title, organisation, place, description, stems (rowid = docs.n).
BM25 = "bm25(fts, 5.0, 2.0, 2.0, 1.0, 1.0)"
TOKEN = re.compile(r"\w+", re.UNICODE)
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
# A facet filter matching more than this share of documents is tested per
# document rather than used to look documents up (see ``where``).
BROAD_FACET_SHARE = 0.3
ORDER_BY = {
    Sort.relevance: "rank ASC, id ASC",
    Sort.deadline: "deadline IS NULL, deadline ASC, id ASC",
    Sort.distance: "dist IS NULL, dist ASC, id ASC",
    Sort.newest: "first_seen DESC, id ASC",
}

Share = Callable[[str, Sequence[str]], float]
Sql = tuple[str, list[Any]]


def _no_share(facet: str, values: Sequence[str]) -> float:
    return 0.0


@dataclass(frozen=True)
class Liked:
    """The listing of a "more like this" search, as read from the index."""

    id: str
    cluster_id: str
    match: str  # its most distinctive words as an FTS expression (``like_query``)


@dataclass(frozen=True)
class SearchSql:
    """The statements of one search (``build_search``)."""

    match: str | None  # the FTS expression: the text's, or the liked listing's
    matches: Sql  # SELECT n, id, cluster_id, first_seen, deadline, rank, dist: the match set
    order: str  # ORDER BY over the match set's columns
    highlight: bool  # mark the text in the page's titles and descriptions
    own_counts: dict[str, Sql] = field(default_factory=dict)  # selected facet → SELECT d.n its counts cover


def quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str, any_words: bool = False) -> str | None:
    """User text → a safe FTS5 query: every word must match (``any_words``:
    one of them; bm25 ranks those matching more first), as a prefix or by one
    of its stems. Words are quoted, so FTS5 syntax in user input
    (``NEAR``, ``*``, ``"``, column filters) is matched literally and never raises."""
    words = [w.lower() for w in TOKEN.findall(text)]
    if not words:
        return None
    parts = []
    for word in words:
        stems = " OR ".join(quote(s) for s in query_variants(word))
        parts.append(f"({quote(word)}* OR stems : ({stems}))")
    return (" OR " if any_words else " AND ").join(parts)


def topic_query(topic_ids: Sequence[str]) -> str | None:
    """The topics' terms (:mod:`search.understanding.topics`) in the title,
    organisation or description: any term of any of them (the values of one
    field are OR-ed, as a facet's are; bm25 ranks listings naming more first)."""
    from search.understanding.topics import topic_terms

    terms = [quote(" ".join(t.words)) + ("*" if t.prefix else "") for topic_id in topic_ids
             for t in topic_terms(topic_id)]
    return "{title organisation description} : (" + " OR ".join(dict.fromkeys(terms)) + ")" if terms else None


def like_words(title: str, description: str) -> dict[str, int]:
    """The words of a liked listing worth looking for, with their counts (the title twice)."""
    words: dict[str, int] = {}
    for w in TOKEN.findall(f"{title} {title} {description}".lower()):
        if len(w) > 2 and not w.isdigit():
            words[w] = words.get(w, 0) + 1
    return words


def like_query(words: dict[str, int], df: dict[str, int], n_docs: int) -> str:
    """The 25 most distinctive of ``words`` (tf × idf, ``df``: documents per word), OR-ed."""
    scored = sorted(words, key=lambda w: (-words[w] * math.log(1 + n_docs / (1 + df.get(w, 0))), w))
    return "{title organisation description} : (" + " OR ".join(quote(w) for w in scored[:25]) + ")"


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def marked_html(text: str | None) -> str:
    """FTS5 highlight output → escaped HTML with <mark> (source text stays inert)."""
    escaped = html.escape(text or "", quote=False)
    return escaped.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")


def bounding_box(lat: float, lon: float, km: float) -> tuple[str, list[float]]:
    """A latitude (and, away from the poles and the antimeridian, longitude)
    range holding every point within ``km`` of (lat, lon), so the exact
    distance is computed only for points inside it (Matuschek's bounds)."""
    r = km / 6371.0088
    center = math.radians(lat)
    low, high = center - r, center + r
    eps = 1e-6  # degrees, against rounding at the edge
    clause, params = "lat BETWEEN ? AND ?", [math.degrees(low) - eps, math.degrees(high) + eps]
    if low > -math.pi / 2 and high < math.pi / 2:
        ratio = math.sin(r) / math.cos(center)
        if ratio < 1:
            spread = math.degrees(math.asin(ratio)) + eps
            if lon - spread >= -180 and lon + spread <= 180:
                clause += " AND lon BETWEEN ? AND ?"
                params += [lon - spread, lon + spread]
    return clause, params


def distance(lat: str, lon: str, to: tuple[float, float], sql_math: bool) -> tuple[str, list[float]]:
    """SQL for the great-circle distance in km from the point in columns
    ``lat``/``lon`` to ``to``: ``haversine_km``'s formula in SQLite's own
    math functions (no Python call per point; the same doubles), or the
    ``dist_km`` function where SQLite lacks them (``sql_math`` false)."""
    to_lat, to_lon = to
    if not sql_math:
        return f"dist_km({lat}, {lon}, ?, ?)", [to_lat, to_lon]
    center = math.radians(to_lat)
    sql = (f"2 * 6371.0088 * asin(min(1.0, sqrt(power(sin((radians({lat}) - ?) / 2), 2) "
           f"+ ? * cos(radians({lat})) * power(sin(radians({lon} - ?) / 2), 2))))")
    return sql, [center, math.cos(center), to_lon]


def _point(request: SearchRequest) -> tuple[float, float] | None:
    return (request.lat, request.lon) if request.lat is not None and request.lon is not None else None


def facet_clauses(request: SearchRequest, skip_facet: str | None, share: Share) -> Sql:
    """The facet selections (but ``skip_facet``'s): OR within a facet, AND
    for each item of an all-of facet (``support``)."""
    clauses: list[str] = []
    params: list[Any] = []

    def member(facet: str, values: list[str]) -> str:
        # SQLite cannot tell a broad facet value from a narrow one, and
        # would look every member up by number; a unary + on a broad one
        # makes it scan docs_filter and test membership instead.
        broad = share(facet, values) > BROAD_FACET_SHARE
        marks = ",".join("?" * len(values))
        return f"{'+' if broad else ''}d.n IN (SELECT n FROM facets WHERE facet = ? AND value IN ({marks}))"

    for facet, values in request.filters().items():
        if facet == skip_facet:
            continue
        if facet in ALL_OF_FACETS:
            for v in values:
                clauses.append(member(facet, [v]))
                params += [facet, v]
        else:
            clauses.append(member(facet, values))
            params += [facet, *values]
    return " AND ".join(clauses), params


def speaks_met(required: str, spoken: str) -> bool:
    """The SQL function ``speaks_met``: does a person speaking ``spoken``
    (``,en,uk,``) meet every requirement of ``required`` (``,de,en|ru,``: a
    language of each requirement spoken)?"""
    languages = set(spoken.split(","))
    return all(any(code in languages for code in group.split("|")) for group in required.split(",") if group)


def person_clauses(request: SearchRequest) -> Sql:
    """Who may apply: the languages I speak, my age, where I live."""
    clauses: list[str] = []
    params: list[Any] = []
    if request.speaks:
        codes = [code for code in request.speaks if "," not in code and "|" not in code]
        # alternatives (',de,en|ru,') are rare: speaks_met reads those listings
        params.append(",".join(["", *codes, ""]))
        # strike every spoken language from the others (',de,en,'): nothing may be left
        struck = "d.required_languages"
        for code in codes:
            struck = f"replace({struck}, ?, ',')"
            params.append(f",{code},")
        # most listings require no language: the comparison spares them the rest
        clauses.append(f"(d.required_languages = ',' OR CASE WHEN instr(d.required_languages, '|') > 0 "
                       f"THEN speaks_met(d.required_languages, ?) ELSE {struck} = ',' END)")
    if request.age is not None:
        clauses.append("(d.age_min IS NULL OR d.age_min <= ?) AND (d.age_max IS NULL OR d.age_max >= ?)")
        params += [request.age, request.age]
    if request.resident:  # listings open to everyone, or to residents of this country
        clauses.append("(d.has_residence = 0 OR d.n IN "
                       "(SELECT n FROM facets WHERE facet = 'residence' AND value = ?))")
        params.append(request.resident)
    return " AND ".join(clauses), params


def time_clauses(request: SearchRequest) -> Sql:
    """The deadline and start windows, and new or changed since."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, low, high in (("deadline", request.deadline_from, request.deadline_to),
                              ("start_date", request.start_from, request.start_to)):
        if low:
            clauses.append(f"d.{column} >= ?")
            params.append(low.isoformat())
        if high:
            clauses.append(f"d.{column} <= ?")
            params.append(high.isoformat())
    if request.changed_since is not None:
        clauses.append("(d.first_seen >= ? OR d.updated_date >= ?)")
        params += [ms(request.changed_since), request.changed_since.date().isoformat()]
    return " AND ".join(clauses), params


def where(request: SearchRequest, *, skip_facet: str | None = None, liked: Liked | None = None,
          share: Share = _no_share) -> Sql:
    """The filters as SQL over ``docs d`` and the joins of ``joins`` (the
    distance filter reads ``g.dist``); ``share`` estimates what part of the
    documents a facet selection holds."""
    parts: list[Sql] = []
    if request.status:
        parts.append((f"d.status IN ({','.join('?' * len(request.status))})", list(request.status)))
    parts += [facet_clauses(request, skip_facet, share), person_clauses(request), time_clauses(request)]
    if request.within_km is not None:
        parts.append(("g.dist <= ?", [request.within_km]))
    if liked is not None:
        parts.append(("d.id != ? AND d.cluster_id != ?", [liked.id, liked.cluster_id]))
    clauses = [sql for sql, _ in parts if sql]
    return (" AND ".join(clauses) or "1"), [p for _, params in parts for p in params]


def joins(request: SearchRequest, match: str | None, sql_math: bool, optional: str | None = None) -> Sql:
    """The text match with its rank (``r``), the optional words with theirs
    (``o``: a listing without them stays, ranked after those with them) and
    the points within the distance with the nearest one's (``g``): each point
    in the box is measured once, for the filter and the sort (a listing within
    the distance has its nearest point in the box)."""
    out: list[str] = []
    params: list[Any] = []
    # "LIMIT -1" (no limit) keeps SQLite from flattening a match into the outer
    # join: flattened, the planner may loop over the places within the distance
    # and ask FTS5 the whole query again for each one's rowid (10 s for
    # "senioren hamburg" over the real corpus); kept apart, the match is run
    # once and materialized (50 ms).
    if match:
        out.append(f"JOIN (SELECT rowid AS rn, {BM25} AS rank FROM fts WHERE fts MATCH ? LIMIT -1) r "
                   "ON r.rn = d.n")
        params.append(match)
    if optional:
        out.append(f"LEFT JOIN (SELECT rowid AS orn, {BM25} AS orank FROM fts WHERE fts MATCH ? LIMIT -1) o "
                   "ON o.orn = d.n")
        params.append(optional)
    point = _point(request)
    if request.within_km is not None and point is not None:
        box, box_params = bounding_box(*point, request.within_km)
        dist, dist_params = distance("lat", "lon", point, sql_math)
        out.append(f"JOIN (SELECT n AS gn, min({dist}) AS dist FROM geo WHERE {box} GROUP BY n) g "
                   "ON g.gn = d.n")
        params += [*dist_params, *box_params]
    return " ".join(out), params


def _distance_column(request: SearchRequest, sql_math: bool) -> Sql:
    """The match set's ``dist``: the nearest point's distance, when there is a point."""
    point = _point(request)
    if request.within_km is not None:
        return "g.dist", []
    if point is not None:
        dist, params = distance("g.lat", "g.lon", point, sql_math)
        return f"(SELECT min({dist}) FROM geo g WHERE g.n = d.n)", list(params)
    return "NULL", []


def build_search(request: SearchRequest, *, liked: Liked | None = None, share: Share = _no_share,
                 sql_math: bool = True) -> SearchSql | None:
    """The statements of one search, or None when nothing can match (text of
    punctuation only; a "more like this" whose listing was not found: ``liked`` None)."""
    words = fts_query(request.text, request.any_words or request.rank_words) if request.text else None
    if request.text and words is None and not request.rank_words and not request.like:
        return None
    if request.like and liked is None:
        return None
    match = liked.match if request.like and liked is not None else (None if request.rank_words else words)
    optional = words if request.rank_words and not request.like else None
    topics = topic_query(request.topic)
    if topics:
        match = f"({match}) AND {topics}" if match else topics
    join_sql, join_params = joins(request, match, sql_math, optional)
    where_sql, where_params = where(request, liked=liked, share=share)
    dist_col, dist_params = _distance_column(request, sql_math)
    rank = " + ".join([*(["r.rank"] if match else []), *(["coalesce(o.orank, 0)"] if optional else [])]) or "0"
    matches = (f"SELECT d.n, d.id, d.cluster_id, d.first_seen, d.deadline, {rank}, "
               f"{dist_col} FROM docs d {join_sql} WHERE {where_sql}", [*dist_params, *join_params, *where_params])
    if optional:  # the optional words are marked too
        match = f"({match}) OR ({optional})" if match else optional
    own_counts = {}
    for facet in request.filters():
        fwhere, fparams = where(request, skip_facet=facet, liked=liked, share=share)
        own_counts[facet] = (f"SELECT d.n FROM docs d {join_sql} WHERE {fwhere}", [*join_params, *fparams])
    return SearchSql(match=match, matches=matches, order=ORDER_BY[request.effective_sort],
                     highlight=match is not None and (request.text is not None or bool(request.topic)),
                     own_counts=own_counts)


def highlights(ns: Sequence[int], match: str) -> Sql:
    """Title highlights and description snippets of the rows ``ns``.

    One pass over the match that marks only the page's rows: with a rowid
    constraint FTS5 expands a prefix query again for every row (30 ms for
    20 rows of "hamburg*" at 100k documents, over a second for "a*"), a pass
    costs about half a microsecond per matching row. The other rows are
    dropped in SQLite, not handed to Python."""
    marks = ",".join("?" * len(ns))
    sql = (f"SELECT n, title, snippet FROM (SELECT rowid AS n, "
           f"CASE WHEN rowid IN ({marks}) THEN highlight(fts, 0, ?, ?) END AS title, "
           f"CASE WHEN rowid IN ({marks}) THEN snippet(fts, 3, ?, ?, '…', 30) END AS snippet "
           f"FROM fts WHERE fts MATCH ?) WHERE title IS NOT NULL")
    return sql, [*ns, MARK_OPEN, MARK_CLOSE, *ns, MARK_OPEN, MARK_CLOSE, match]


def suggestions(prefix: str, size: int) -> Sql | None:
    """Titles of open listings whose title has words starting with every word of ``prefix``."""
    words = [w.lower() for w in TOKEN.findall(prefix)]
    if not words:
        return None
    match = "title : (" + " AND ".join(f"{quote(w)}*" for w in words) + ")"
    sql = (f"SELECT d.title FROM docs d JOIN (SELECT rowid AS rn, {BM25} AS rank FROM fts WHERE fts MATCH ?) r "
           "ON r.rn = d.n WHERE d.status = 'open' ORDER BY r.rank, d.id LIMIT ?")
    return sql, [match, size * 5]
