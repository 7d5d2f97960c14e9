"""Stemming for the embedded backend, the counterpart of Elasticsearch's
language analyzers: "brīvprātīgo darbu" finds "brīvprātīgais darbs".

Snowball stemmers (snowballstemmer) for the languages it has; Latvian, which
Snowball lacks, gets a light suffix stripper in the spirit of Lucene's
LatvianStemmer (longest noun/adjective/verb ending off, the stem kept at least
three letters long). A document is stemmed in its own language; a query word,
whose language is unknown, in all of them. Stems carry their language as a
two-letter prefix ("lvdarb", "enhelp"), so a query word's German stem only
matches German listings, as a query does on Elasticsearch's per-language
fields.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import snowballstemmer

SNOWBALL = {
    "en": "english", "ru": "russian", "de": "german", "fr": "french", "es": "spanish",
    "it": "italian", "lt": "lithuanian", "et": "estonian", "pl": "polish", "pt": "portuguese",
    "nl": "dutch", "sv": "swedish", "fi": "finnish", "da": "danish", "ro": "romanian",
    "hu": "hungarian", "cs": "czech", "el": "greek",
}
STEMMED_LANGUAGES = ("lv", *SNOWBALL)

# Latvian endings, longest first (nouns of all declensions, adjectives incl.
# the definite forms, common verb endings).
_LV_ENDINGS = sorted(
    {
        "ajiem", "ajām", "ajai", "ajam", "ajos", "ajās", "ajā", "ajo", "ais", "ajs",
        "iem", "ām", "ēm", "īm", "ai", "am", "ei", "os", "ās", "ēs", "is", "us", "ij",
        "ie", "es", "as", "ot", "at", "ēt", "īt", "ēja", "āja", "ēji", "āji",
        "u", "a", "e", "i", "o", "s", "š", "ā", "ē", "ī", "ū",
    },
    key=len, reverse=True,
)
_WORD = re.compile(r"\w+", re.UNICODE)


def _latvian(word: str) -> str:
    for ending in _LV_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


@cache
def _snowball(lang: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(SNOWBALL[lang])


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str) -> str:
    word = word.lower()
    if lang == "lv":
        return _latvian(word)
    if lang in SNOWBALL:
        return _snowball(lang).stemWord(word)
    return word


def stem_text(text: str, lang: str | None) -> str:
    """The stems of a document's words in its language ('' when unsupported)."""
    if not lang or lang not in STEMMED_LANGUAGES:
        return ""
    return " ".join(lang + stem(w, lang) for w in _WORD.findall(text))


def query_variants(word: str) -> list[str]:
    """A query word's language-tagged stems in every stemmed language."""
    return [lang + stem(word, lang) for lang in STEMMED_LANGUAGES]
