"""A listing's structured fields named in the languages people search in.

A listing written in English or German is also indexed with the names of its
country, themes, activity type and support in Latvian, English, Russian,
Ukrainian, Arabic and German (:data:`NAME_LANGUAGES`), so a word typed in any
of them can match it even where query understanding recognises nothing
("культура і мистецтво" with ``understand=false``, or a form the vocabulary
lacks that a language's stemmer still reduces to the name's stem).

Names come from CLDR (countries, through Babel), the UI's catalogs (theme,
activity and support labels in the UI languages) and the first words of each
value in the query vocabulary (``search/vocabulary``), which cover Arabic and
German too. Elasticsearch analyses each language's names with that language's
analyzer; SQLite indexes them with their language's stems.
"""

from __future__ import annotations

from functools import cache

from babel import Locale

from pipeline.events import Opportunity
from search.request import SUPPORT_ITEMS

NAME_LANGUAGES = ("lv", "en", "ru", "uk", "ar", "de")
_VOCABULARY_WORDS = 2  # the first words of a value in the vocabulary: its names, not its associations


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


@cache
def _territories(lang: str) -> dict[str, str]:
    """Country code -> its name in ``lang`` (CLDR), as a plain dict: Babel's own
    mapping resolves each lookup anew (about 8 µs, six languages per listing)."""
    return {code: str(name) for code, name in _locale(lang).territories.items()}


@cache
def _value_names(field: str, value: str, lang: str) -> tuple[str, ...]:
    """A theme's, activity type's or support item's names in ``lang``."""
    from search.i18n import SUPPORT_LABELS, UI, UI_LANGUAGES, VALUE_LABELS
    from search.understanding.vocab import vocabulary

    data = vocabulary()
    words = data["themes"] if field == "theme" else data["facets"][field]
    names = [str(w) for w in (words.get(value, {}).get(lang) or ())[:_VOCABULARY_WORDS]]
    label = SUPPORT_LABELS.get(value) if field == "support" else VALUE_LABELS.get(field, {}).get(value)
    if label and lang in UI_LANGUAGES:
        names.insert(0, UI.of(lang).gettext(label))
    return tuple(dict.fromkeys(n.rstrip("*") for n in names))


def listing_names(doc: Opportunity) -> dict[str, str]:
    """Language -> the listing's country, themes, activity type and support, named in it."""
    support = doc.support.model_dump()
    values = [("theme", t.value) for t in doc.themes]
    values.append(("activity_type", doc.activity_type.value))
    values += [("support", item) for item in SUPPORT_ITEMS if support.get(item)]
    countries = list(dict.fromkeys(loc.country for loc in doc.locations if loc.country))
    out = {}
    for lang in NAME_LANGUAGES:
        territories = _territories(lang)
        names = [territories[c] for c in countries if c in territories]
        for field, value in values:
            names += _value_names(field, value, lang)
        out[lang] = " · ".join(dict.fromkeys(names))
    return out
