"""Query understanding: what a person typed, as filters and free text.

``understand("волонтерство з дітьми в Латвії")`` →
``Understood(country=["LV"], theme=["youth"], text="", spans=[...])``.

A pure function (no I/O after the first call builds its indexes, which it
keeps): the search API and UI, digests and feeds call it on the ``q`` a
person typed and turn the result into filters or boosts, show what was
understood and let the person undo any part of it (``spans`` say which part of
the query each value came from).

What it recognises, in any case and with or without diacritics:

- **Countries** in every language CLDR names them in (Babel, the locales in
  ``vocabulary/places.yaml``) plus the normalizer's pycountry names, through
  inflection: each name's words are cut to a stem by its own language's
  endings (Latvian, Lithuanian, Estonian, Polish, German, Russian,
  Ukrainian), a query word by every language of its script, and the two
  stems compared ("Latvijā", "в Латвии", "у Латвії", "Latvijoje",
  "na Łotwie", "w Niemczech", "Deutschlands"). A stem that two countries
  share is not used. Latin transliteration of Russian ("v latvii") is tried
  last. The longest name wins ("Bosnia and Herzegovina", "Czech Republic").
- **Cities** from the normalizer's GeoNames gazetteer (exonyms and inflected
  forms: "Rīgā", "в Риге", "у Ризі", "Kaunas", "Gdansk"), only of
  ``city_min_population`` people or more. A word that is also a common word
  ("Nice", "Bath", "Most") is a city only with a capital letter or a place
  preposition ("in Nice"); a lowercase word with no preposition must be the
  city's own name or a big city's exonym. A city does not add its country
  as a filter (the span carries the country for display).
- **Themes, support, format, duration and activity type** from the data in
  ``vocabulary/themes.yaml`` and ``vocabulary/facets.yaml`` (lv, en, ru, uk,
  ar, de, fr, es, it, pl); **generic words** ("volunteering", "волонтерство",
  "brīvprātīgais darbs", "تطوع") from ``vocabulary/generic.yaml`` are dropped.
  Arabic words match with and without the article and one-letter prefixes.

What remains is ``text``: the words nothing claimed, in the person's own
spelling, without the prepositions that introduced a recognised place and
without function words left at its edges. Words in double quotes are never
interpreted. Anything unsure stays text: a wrong filter hides every right
listing, a word left as text only ranks.
"""

from search.understanding.model import LIST_FIELDS, Span, Understood
from search.understanding.parse import understand, warm_up

__all__ = ["LIST_FIELDS", "Span", "Understood", "understand", "warm_up"]
