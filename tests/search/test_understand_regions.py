"""Query understanding: world regions, locatives without a preposition,
Arabic spellings of cities GeoNames has no Arabic name for, and the common
words that look like places but are none (issue 18)."""

from __future__ import annotations

import pytest

from search.understanding import understand
from search.understanding.regions import expand, regions
from search.understanding.vocab import vocabulary

AFRICA, EUROPE, SOUTH_AMERICA, ASIA = "002", "150", "005", "142"


@pytest.mark.parametrize("query", [
    "volunteering in africa", "Africa", "brīvprātīgais darbs āfrikā", "afrikā", "волонтерство в африке",
    "волонтером в африку", "волонтерство в Африці", "التطوع في أفريقيا", "افريقيا", "freiwilligendienst afrika",
    "afrika",
])
def test_africa_in_any_language(query: str) -> None:
    got = understand(query)
    assert got.country == [AFRICA], (query, got)
    assert got.text == ""


@pytest.mark.parametrize("query, region", [
    ("europe", EUROPE), ("eiropā", EUROPE), ("в европе", EUROPE), ("у Європі", EUROPE), ("أوروبا", EUROPE),
    ("Europa", EUROPE), ("Südamerika", SOUTH_AMERICA), ("южная америка", SOUTH_AMERICA),
    ("dienvidamerikā", SOUTH_AMERICA), ("asia", ASIA), ("Азія", ASIA), ("latin america", "419"),
])
def test_regions(query: str, region: str) -> None:
    assert understand(query).country == [region], query


def test_a_region_with_a_theme_and_its_span() -> None:
    q = "sport in Europe"
    got = understand(q)
    assert got.filters == {"country": [EUROPE], "theme": ["sport"]}
    span = next(s for s in got.spans if s.field == "country")
    assert q[span.start:span.end] == span.text == "in Europe"


def test_a_country_name_is_not_a_region() -> None:
    # "Америка" is the United States to those who type it, though CLDR also names the Americas so
    assert understand("америка").country == ["US"]
    assert understand("america").country == ["US"]
    assert understand("Americas").country == ["019"]


def test_a_region_is_its_countries() -> None:
    africa = regions()[AFRICA]
    assert {"KE", "NG", "EG", "ZA", "MA"} <= set(africa) and "FR" not in africa and "TR" not in africa
    assert {"LV", "DE", "FR", "UA"} <= set(regions()[EUROPE])
    # a region expands where it stands, countries stay, nothing twice
    assert expand(["LV", AFRICA, "KE"]) == ["LV", *africa]
    assert expand(["LV", "DE"]) == ["LV", "DE"]


def test_the_search_filters_by_the_regions_countries() -> None:
    from search.query import plan
    from search.request import SearchRequest

    planned, understood = plan(SearchRequest(q="volunteering in africa"))
    assert understood is not None and understood["country"] == [AFRICA]  # the UI names "002" through CLDR
    assert set(planned.country) == set(regions()[AFRICA]) and planned.q is None


def test_the_ui_names_a_region() -> None:
    from search.i18n import UI, value_label

    for lang, name in (("en", "Africa"), ("lv", "Āfrika"), ("ru", "Африка"), ("de", "Afrika")):
        assert value_label(UI(lang), "country", AFRICA) == name


def test_ocean_is_no_region() -> None:
    for word in ("ocean", "океан", "океане", "okeāna", "oceanu"):
        assert understand(word).filters == {}, word


# Latvian and Lithuanian name a place in the locative, without a preposition.
@pytest.mark.parametrize("query, city", [
    ("sofijā", "Sofia"), ("brīvprātīgais darbs sofijā", "Sofia"), ("berlīnē", "Berlin"), ("parīzē", "Paris"),
    ("londonā", "London"), ("vīnē", "Vienna"), ("prāgā", "Prague"), ("tallinā", "Tallinn"), ("viļņā", "Vilnius"),
    ("hamburgā", "Hamburg"), ("milānā", "Milan"), ("valmierā", "Valmiera"), ("daugavpilī", "Daugavpils"),
    ("ventspilī", "Ventspils"), ("cēsīs", "Cēsis"), ("sports hamburgā", "Hamburg"), ("vilniuje", "Vilnius"),
    ("kaune", "Kaunas"), ("klaipėdoje", "Klaipėda"),
])
def test_locative_without_preposition(query: str, city: str) -> None:
    assert understand(query).city == [city], query


# Frequent Latvian words (wordfreq, zipf 3 to 6) whose letters fold to some
# place's name or stem in GeoNames or CLDR: "kopā" (together) and Kope
# (Kobe), "cīņa" (struggle) and Italian "Cina", "divām" (two) and "Divas"
# (Divo), "vienā" (in one) and "Viena", "bēniņos" (in the attic) and Benin.
LATVIAN_WORDS = [
    "kopā", "cīņa", "cīņā", "divām", "vienā", "laikā", "vietā", "citā", "mašīnā", "mašīna", "lapā", "baltā",
    "rozā", "somā", "sienā", "agrā", "rotā", "salā", "domā", "daļā", "augustā", "sarunā", "tālā", "nekā",
    "bēniņos", "makā", "vietnē", "vietnēs", "grēku", "hermaņa", "okeānā", "mobilā", "jāpaņem", "māti", "plāno",
    "sāku", "kalnā", "mīļā", "viņā", "jūrā", "kurā", "nāvē", "ārsta", "japāņu", "itāļi",
]


@pytest.mark.parametrize("word", LATVIAN_WORDS)
def test_latvian_words_are_no_places(word: str) -> None:
    for q in (word, word.capitalize(), f"brīvprātīgais darbs {word}"):
        got = understand(q)
        assert not got.country and not got.city, (q, got.filters)


def test_a_phrase_of_common_words_stays_text() -> None:
    got = understand("brīvprātīgais darbs uz divām nedēļām")
    assert not got.city and not got.country
    got = understand("cīņa pret diskrimināciju")
    assert not got.country and got.theme == ["inclusion"]


def _stopwords(*langs: str) -> list[str]:
    words = vocabulary()["generic"]["stopwords"]
    return sorted({str(w) for lang in langs for w in words.get(lang) or () if " " not in str(w)})


@pytest.mark.parametrize("word", _stopwords("lv", "ru", "uk", "de", "en", "ar"))
def test_function_words_are_no_places(word: str) -> None:
    """Every function word the vocabulary lists, alone and after a word, lowercase."""
    for q in (word, f"sport {word}"):
        got = understand(q)
        assert not got.country and not got.city, (q, got.filters)


def test_typed_diacritics_tell_words_apart() -> None:
    # "cina" without diacritics may be China (Italian "Cina"): a word typed with
    # them is read as written; a country's own case endings still count
    assert understand("cina").country == ["CN"]
    assert understand("Cīņa").filters == {}
    assert understand("latvijā").country == ["LV"] and understand("ukrainā").country == ["UA"]
    assert understand("we Włoszech").country == ["IT"]
    assert understand("armēnijā").country == ["AM"]  # not Armenia, the town in Colombia


@pytest.mark.parametrize("query, city", [
    ("تطوع في نوردرشتيدت", "Norderstedt"), ("نوردرشتيدت", "Norderstedt"), ("تطوع في لونيبورغ", "Lüneburg"),
    ("في درسدن", "Dresden"),
])
def test_arabic_spelling_of_a_city(query: str, city: str) -> None:
    assert understand(query).city == [city], query


@pytest.mark.parametrize("word", ["قبل", "طريق", "كبير", "بدون", "مليون", "تاريخ", "خارج", "مدرسة", "بالشراكة",
                                  "بالصواريخ", "الأطفال", "اللاجئين"])
def test_arabic_words_are_no_cities(word: str) -> None:
    for q in (word, f"تطوع في {word}"):
        assert not understand(q).city, q


def test_still_fast() -> None:
    import time

    queries = ["brīvprātīgais darbs sofijā", "волонтерство в африке", "تطوع في نوردرشتيدت", "kopā ar bērniem"]
    for q in queries:
        understand(q)
    understand.cache_clear()
    start = time.perf_counter()
    for i in range(200):
        understand(f"{queries[i % len(queries)]} {i}")
    assert (time.perf_counter() - start) / 200 < 0.01


def test_every_topic_loads() -> None:
    """Every topic's match terms are valid (a word, a stem* or a phrase of whole words)."""
    from search.understanding.topics import topics

    found = topics()
    assert {"bike_repair", "visiting", "charity_shop", "reading_literacy"} <= set(found)
    assert all(t.terms for t in found.values())
