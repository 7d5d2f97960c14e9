"""Multilingual search quality, measured on the real corpora (issue 18).

The judged query set lives in ``tests/relevance/`` (``needs.yaml``: information
needs, each asked in several languages, with the rule that decides which
listings answer it; ``README.md``: the method; ``thresholds.toml``: the
issue's targets and today's floor). Relevance is decided here from the
*sources' own fields* (ESC country/town/topics/activity type/dates, the
Hamburg CSV's title, postcode and district, NYC's category and borough), read
straight from the files in ``../shared/data``; never from the normalizer's
output or from search results. The search side loads the same records through
the project's mapping (``devtools.corpus``) and the real normalizer into a backend
and asks every phrasing through :func:`search.query.run` (query
understanding), or through ``backend.search`` alone when understanding is not
available (``mode="plain"``).

Metrics per query (``DEPTH`` hits are fetched; hits the rule leaves
*unjudged* are removed, a "condensed list", and the first 10 judged hits
count):

- P@10 = relevant among them / min(10, R), R = relevant open listings
  (counted as duplicate clusters, since collapsed results show a cluster once);
- nDCG@10 with binary gains, ideal = min(10, R) relevant hits.

A need's score is the mean over its phrasings in that language; a language's
score the mean over needs.

Time: listings are open or not as of ``EVAL_NOW`` (the day the ESC data was
gathered, 2026-08-22), both for the judgements (from the source's dates) and
for the normalizer (``normalize(raw, now=EVAL_NOW)``), so the numbers do not
drift with the calendar.
"""

from devtools.relevance.corpus import normalized_corpus
from devtools.relevance.judgments import DEFAULT_SET, Need, load_needs, load_thresholds
from devtools.relevance.metrics import QueryScore, Report, ndcg_at_k, precision_at_k
from devtools.relevance.records import DATA_FILES, DEFAULT_DATA, EVAL_NOW, Record, load_records
from devtools.relevance.run import evaluate, load_backend, run_relevance, understanding_available

__all__ = ["DATA_FILES", "DEFAULT_DATA", "DEFAULT_SET", "EVAL_NOW", "Need", "QueryScore", "Record", "Report",
           "evaluate", "load_backend", "load_needs", "load_records", "load_thresholds", "ndcg_at_k",
           "normalized_corpus", "precision_at_k", "run_relevance", "understanding_available"]
