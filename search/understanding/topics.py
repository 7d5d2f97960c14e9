"""Topics (``vocabulary/topics.yaml``): what a listing is about, narrower than
a theme, and the words listings use for it in any language.

Understanding reads a topic out of what a person typed ("музей", "senioren")
like any other vocabulary word; the backends then look for the topic's
``match`` terms in the listings' titles and descriptions, in every language at
once: a single word, a stem (``senior*``: any ending, German compounds
included) or a phrase of whole words. Both backends get the same terms, and
each analyses them as it analyses the listings (lowercase, accents folded), so
they only need to be lowercased here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from search.understanding.vocab import vocabulary

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    """One thing a listing may say: whole words in a row, the last a stem when
    ``prefix``. ``text`` is the term as written, lowercase, without the ``*``:
    word-internal apostrophes ("ув'язнен*") split it into ``words`` for a
    tokenizer that splits there (SQLite's) and not for one that keeps them
    (Elasticsearch's standard tokenizer)."""

    words: tuple[str, ...]
    prefix: bool = False
    text: str = ""


@dataclass(frozen=True)
class Topic:
    id: str
    theme: str  # the pipeline.events.Theme it belongs to: what relaxing a topic falls back to
    labels: dict[str, str]  # UI language -> name
    terms: tuple[Term, ...]


def _term(text: str, topic: str) -> Term:
    prefix = text.endswith("*")
    bare = " ".join(text.rstrip("*").lower().split())
    words = tuple(_WORD.findall(bare))
    if not words or "*" in bare or (prefix and " " in bare):
        raise ValueError(f"topic {topic!r}: match term {text!r} must be a word, a stem* or a phrase of words")
    return Term(words, prefix, bare)


@lru_cache(maxsize=1)
def topics() -> dict[str, Topic]:
    """Every topic of the vocabulary, by id."""
    out = {}
    for topic_id, entry in (vocabulary().get("topics") or {}).items():
        terms = tuple(dict.fromkeys(_term(str(t), topic_id) for t in entry["match"]))
        out[topic_id] = Topic(topic_id, entry["theme"], dict(entry["label"]), terms)
    return out


def topic_terms(topic_id: str) -> tuple[Term, ...]:
    """The terms of one topic (a KeyError for an unknown id: requests are validated first)."""
    return topics()[topic_id].terms


def topic_label(topic_id: str, lang: str) -> str:
    """How the UI names a topic in ``lang`` (English, then the id, when it has no name there)."""
    topic = topics().get(topic_id)
    if topic is None:
        return topic_id
    return topic.labels.get(lang) or topic.labels.get("en") or topic_id
