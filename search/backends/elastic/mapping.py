"""How listings are stored in Elasticsearch: analysis, mappings, the indexed document.

Fields not in the mapping are kept in ``_source`` but not indexed: a new event
field never breaks indexing, and a mapping change is a reindex, not an outage.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.events import Opportunity
from search.backends.base import facet_values, place_text, required_language_groups
from search.names import NAME_LANGUAGES, listing_names
from search.request import SUPPORT_ITEMS

# Facet name -> indexed keyword field.
FACET_FIELDS = {
    "country": "countries",
    "city": "cities",
    "theme": "themes",
    "activity_type": "activity_type",
    "duration_class": "duration_class",
    "work_mode": "work_mode",
    "language": "language",
    "required_language": "required_languages",
    "programme": "programme",
    "organisation": "organisation.name.raw",
    "support": "support_offered",
    "source": "source_id",
}
# Listing language -> the analyzer of its language fields (analysis-common
# names; `tilts services up` provides them on the Maven test distribution).
# Polish and Ukrainian need plugins (analysis-stempel, analysis-ukrainian) the
# default image lacks: their listings use the language-neutral fields only.
LANGUAGE_ANALYZERS = {
    "lv": "latvian", "en": "english", "ru": "russian", "de": "german", "fr": "french",
    "es": "spanish", "it": "italian", "lt": "lithuanian", "et": "estonian",
}
# Every ISO 639-1 code: "languages I speak" excludes listings requiring any other.
_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}
_FOLDED = {"type": "text", "analyzer": "tilts_folded"}

ANALYSIS: dict[str, Any] = {
    "analyzer": {
        # Language-neutral: every listing, any language, accents folded ("Riga" finds "Rīga").
        "tilts_folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
        "tilts_autocomplete": {
            "type": "custom", "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", "tilts_edge"],
        },
    },
    "filter": {"tilts_edge": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20}},
}

# Fields added since the first mapping: ``setup()`` adds them to an index
# made before (documents written since are searched by them; older ones are
# what they were when written, see ``to_document``).
ADDED_FIELDS: dict[str, Any] = {
    # Only for a listing with alternatives: every requirement as "|" and its
    # languages ("|de", "|en|ru"), for the speaks filter (query.speaks_filter).
    "required_groups": _KEYWORD,
    # The listing's country, themes, activity type and support named in the
    # languages people search in (search/names.py), each by its language's analyzer.
    "i18n_names": {"properties": {k: {"type": "text", "analyzer": LANGUAGE_ANALYZERS.get(k, "tilts_folded")}
                                  for k in NAME_LANGUAGES}},
}

MAPPINGS: dict[str, Any] = {
    # Fields not listed are kept in _source but not indexed: a new event field
    # never breaks indexing, and a mapping change is a reindex, not an outage.
    "dynamic": False,
    "properties": {
        "id": _KEYWORD,
        "cluster_id": _KEYWORD,
        "source_id": _KEYWORD,
        "programme": _KEYWORD,
        "title": {
            **_FOLDED,
            "fields": {
                "raw": {"type": "keyword", "ignore_above": 512},
                "suggest": {"type": "text", "analyzer": "tilts_autocomplete", "search_analyzer": "tilts_folded"},
            },
        },
        "summary": _FOLDED,
        "places": _FOLDED,
        "description_text": _FOLDED,
        "description_html": {"type": "text", "index": False},
        # The listing's own language, analysed by that language's analyzer.
        "i18n_title": {"properties": {k: {"type": "text", "analyzer": a} for k, a in LANGUAGE_ANALYZERS.items()}},
        "i18n_text": {"properties": {k: {"type": "text", "analyzer": a} for k, a in LANGUAGE_ANALYZERS.items()}},
        "language": _KEYWORD,
        "organisation": {
            "properties": {
                "name": {**_FOLDED, "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
                "identifier": _KEYWORD,
            }
        },
        "countries": _KEYWORD,
        "cities": _KEYWORD,
        "locations": {
            "properties": {
                "country": _KEYWORD,
                "region": _KEYWORD,
                "city": {"type": "keyword"},
                "geo": {"type": "geo_point"},
            }
        },
        "remote": {"type": "boolean"},
        "work_mode": _KEYWORD,
        "start_date": _DATE,
        "end_date": _DATE,
        "deadline": _DATE,
        "posted_date": _DATE,
        "updated_date": _DATE,
        "duration_class": _KEYWORD,
        "duration_min_days": {"type": "integer"},
        "duration_max_days": {"type": "integer"},
        "themes": _KEYWORD,
        "eligibility": {
            "properties": {
                "age_min": {"type": "integer"},
                "age_max": {"type": "integer"},
                "residence_countries": _KEYWORD,
                "nationality_countries": _KEYWORD,
                "languages": {
                    "properties": {"language": _KEYWORD, "level": _KEYWORD,
                                   "required": {"type": "boolean"}}
                },
            }
        },
        "required_languages": _KEYWORD,
        **ADDED_FIELDS,
        "support": {
            "properties": {
                flag: {"type": "boolean"}
                for flag in SUPPORT_ITEMS
            }
        },
        "support_offered": _KEYWORD,
        "activity_type": _KEYWORD,
        "status": _KEYWORD,
        "places_available": {"type": "integer"},
        "provenance": {
            "properties": {
                "first_seen": _DATE,
                "last_seen": _DATE,
                "content_hash": _KEYWORD,
            }
        },
    },
}

INDEX_SETTINGS = {
    "number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s", "analysis": ANALYSIS,
}
# Indexed only to search on: never part of what a hit returns.
DERIVED_FIELDS = ["countries", "cities", "places", "required_languages", "required_groups", "support_offered",
                  "i18n_title", "i18n_text", "i18n_names"]

def to_document(doc: Opportunity) -> dict[str, Any]:
    body = doc.model_dump(mode="json")
    body.update(_derived(doc))
    return body


def document_json(doc: Opportunity) -> str:
    """``to_document(doc)`` as JSON text: pydantic writes the listing itself (in
    Rust), only the derived fields go through ``json.dumps``; a rebuild sends it
    as it is, with no dict of the whole listing built and encoded again."""
    own, derived = doc.model_dump_json(), json.dumps(_derived(doc), ensure_ascii=False, separators=(",", ":"))
    return f"{own[:-1]},{derived[1:]}" if derived != "{}" else own


def _derived(doc: Opportunity) -> dict[str, Any]:
    """The fields indexed only to search on (:data:`DERIVED_FIELDS`), none of them a field of the listing."""
    body: dict[str, Any] = {}
    values = facet_values(doc)
    body["countries"] = values["country"]
    body["cities"] = values["city"]
    body["required_languages"] = values["required_language"]
    groups = required_language_groups(doc)
    if any(len(group) > 1 for group in groups):
        body["required_groups"] = ["".join(f"|{code}" for code in group) for group in groups]
    body["support_offered"] = values["support"]
    body["places"] = place_text(doc)
    body["i18n_names"] = listing_names(doc)
    lang = (doc.language or "").lower()
    if lang in LANGUAGE_ANALYZERS:
        body["i18n_title"] = {lang: doc.title}
        body["i18n_text"] = {lang: f"{doc.summary}\n{doc.description_text}"}
    return body
