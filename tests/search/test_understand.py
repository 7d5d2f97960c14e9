"""Query understanding (search/understanding/): what a newcomer types, in lv, en, ru,
uk, ar and de, lowercase and without diacritics, becomes filters and free text."""

from __future__ import annotations

import time

import pytest

from pipeline.events import ActivityType, DurationClass, Support, Theme, WorkMode
from search.understanding import LIST_FIELDS, understand
from search.understanding.vocab import meanings, phrase_keys, vocabulary
from search.understanding.words import norm

# (query, expected non-empty filters, expected free text)
CASES: list[tuple[str, dict[str, list[str]], str]] = [
    # --- the queries of issue 18
    ("волонтерство в Латвії", {"country": ["LV"]}, ""),
    ("brīvprātīgais darbs Latvijā", {"country": ["LV"]}, ""),
    ("волонтёрство в Латвии", {"country": ["LV"]}, ""),
    ("беженцы", {"theme": ["migrants_refugees"]}, ""),
    # --- other cases of a vocabulary word (stems of the languages of its script)
    ("волонтерство зі страхуванням", {"support": ["insurance"]}, ""),
    ("ar apdrošināšanu", {"support": ["insurance"]}, ""),
    ("спортивне волонтерство", {"theme": ["sport"]}, ""),
    ("у Гамбурзі", {"city": ["Hamburg"]}, ""),  # г → з before the locative і
    ("волонтерство у празі", {"city": ["Prague"]}, ""),
    ("arts and culture romania", {"country": ["RO"], "theme": ["culture"]}, ""),  # a place, not a case of "romani"
    # --- programmes
    ("esc in latvia", {"country": ["LV"], "programme": ["European Solidarity Corps"]}, ""),
    ("ЄКС Латвія", {"country": ["LV"], "programme": ["European Solidarity Corps"]}, ""),
    ("erasmus plus exchange", {"activity_type": ["exchange"], "programme": ["Erasmus+"]}, ""),
    ("unv online", {"work_mode": ["remote"], "programme": ["UN Volunteers"]}, ""),
    ("біженці", {"theme": ["migrants_refugees"]}, ""),
    ("діти", {"topic": ["children"]}, ""),
    ("Рига", {"city": ["Riga"]}, ""),
    ("притулок для тварин", {"topic": ["animal_shelter"]}, ""),
    ("dzīvnieku patversme", {"topic": ["animal_shelter"]}, ""),
    ("sport Bulgaria", {"country": ["BG"], "theme": ["sport"]}, ""),
    ("culture and creativity Italy", {"country": ["IT"], "theme": ["culture"]}, ""),
    ("volunteering in Latvia", {"country": ["LV"]}, ""),
    # --- Latvian, also without diacritics
    ("brivpratigais darbs ar berniem latvija", {"country": ["LV"], "topic": ["children"]}, ""),
    ("brīvprātīgais darbs ar bērniem Rīgā", {"city": ["Riga"], "topic": ["children"]}, ""),
    ("dzivnieku patversme riga", {"city": ["Riga"], "topic": ["animal_shelter"]}, ""),
    ("darbs ar veciem cilvēkiem", {"topic": ["elderly"]}, ""),
    ("palīdzība bēgļiem", {"theme": ["migrants_refugees"]}, ""),
    ("vides projekti latvijā", {"country": ["LV"], "theme": ["environment"]}, ""),
    ("sports jauniešiem", {"theme": ["sport", "youth"]}, ""),
    ("kultūras projekti Vācijā", {"country": ["DE"], "theme": ["culture"]}, ""),
    ("attālināti", {"work_mode": ["remote"]}, ""),
    ("īstermiņa brīvprātīgais darbs Itālijā", {"country": ["IT"], "duration_class": ["short_term"]}, ""),
    ("ar izmitināšanu", {"support": ["accommodation"]}, ""),
    ("Jelgavā", {"city": ["Jelgava"]}, ""),
    ("jurmala", {"city": ["Jūrmala"]}, ""),
    ("Apvienotajā Karalistē", {"country": ["GB"]}, ""),
    # --- Russian, with ё and without, lowercase
    ("волонтерство с детьми в риге", {"city": ["Riga"], "topic": ["children"]}, ""),
    ("помощь беженцам в германии", {"country": ["DE"], "theme": ["migrants_refugees"]}, ""),
    ("из Германии", {"country": ["DE"]}, ""),
    ("экология латвия", {"country": ["LV"], "theme": ["environment"]}, ""),
    ("волонтерство онлайн", {"work_mode": ["remote"]}, ""),
    ("краткосрочное волонтерство в испании", {"country": ["ES"], "duration_class": ["short_term"]}, ""),
    ("с проживанием и питанием", {"support": ["accommodation", "food"]}, ""),
    ("приют для животных в Риге", {"city": ["Riga"], "topic": ["animal_shelter"]}, ""),
    ("волонтерство в Латвии для молодежи с проживанием",
     {"country": ["LV"], "theme": ["youth"], "support": ["accommodation"]}, ""),
    ("в Чешской Республике", {"country": ["CZ"]}, ""),
    ("в Даугавпилсе", {"city": ["Daugavpils"]}, ""),
    ("v latvii", {"country": ["LV"]}, ""),  # Latin transliteration
    ("вакансии для студентов", {}, "студентов"),
    # --- Ukrainian
    ("волонтерство з дітьми у Ризі", {"city": ["Riga"], "topic": ["children"]}, ""),
    ("допомога біженцям у Німеччині", {"country": ["DE"], "theme": ["migrants_refugees"]}, ""),
    ("екологія латвія", {"country": ["LV"], "theme": ["environment"]}, ""),
    ("спорт для молоді", {"theme": ["sport", "youth"]}, ""),
    ("культура в Італії", {"country": ["IT"], "theme": ["culture"]}, ""),
    ("тварини", {"theme": ["animals"]}, ""),
    ("волонтерство для літніх людей", {"topic": ["elderly"]}, ""),
    ("у Великій Британії", {"country": ["GB"]}, ""),
    ("в Києві", {"city": ["Kyiv"]}, ""),
    ("у Львові", {"city": ["Lviv"]}, ""),
    # --- Arabic (article and attached prepositions)
    ("تطوع مع الأطفال في لاتفيا", {"country": ["LV"], "topic": ["children"]}, ""),
    ("مساعدة اللاجئين في ألمانيا", {"country": ["DE"], "theme": ["migrants_refugees"]}, ""),
    ("تطوع في مجال البيئة", {"theme": ["environment"]}, ""),
    ("تطوع عن بعد", {"work_mode": ["remote"]}, ""),
    ("رعاية الحيوانات", {"theme": ["animals"]}, ""),
    ("كبار السن", {"topic": ["elderly"]}, ""),
    ("اللاجئين في ريغا", {"city": ["Riga"], "theme": ["migrants_refugees"]}, ""),
    ("بلاتفيا", {"country": ["LV"]}, ""),
    ("أطفال", {"topic": ["children"]}, ""),
    # --- German
    ("Freiwilligendienst mit Kindern in Lettland", {"country": ["LV"], "topic": ["children"]}, ""),
    ("Flüchtlingshilfe Hamburg", {"city": ["Hamburg"], "theme": ["migrants_refugees"]}, ""),
    ("ehrenamt tierheim", {"topic": ["animal_shelter"]}, ""),
    ("umweltschutz in Riga", {"city": ["Riga"], "theme": ["environment"]}, ""),
    # "im Ausland" (abroad) is a generic word: nearly every listing is abroad for someone
    ("Freiwilligenarbeit im Ausland mit Unterkunft", {"support": ["accommodation"]}, ""),
    ("in der Schweiz", {"country": ["CH"]}, ""),
    ("in den Niederlanden", {"country": ["NL"]}, ""),
    ("in Deutschland", {"country": ["DE"]}, ""),
    # --- English
    ("volunteer with kids in riga", {"city": ["Riga"], "topic": ["children"]}, ""),
    ("environmental volunteering latvia", {"country": ["LV"], "theme": ["environment"]}, ""),
    ("animal shelter riga", {"city": ["Riga"], "topic": ["animal_shelter"]}, ""),
    ("remote volunteering", {"work_mode": ["remote"]}, ""),
    ("short term volunteering in portugal with accommodation",
     {"country": ["PT"], "support": ["accommodation"], "duration_class": ["short_term"]}, ""),
    ("teaching english in ukraine", {"country": ["UA"], "topic": ["english_lessons"]}, ''),
    ("doctors without borders", {}, "doctors without borders"),
    ("help homeless people", {"topic": ["homeless"]}, ""),
    ("food bank volunteers hamburg", {"city": ["Hamburg"], "topic": ["food_bank"]}, ""),
    ("climate action youth exchange", {"theme": ["environment"], "activity_type": ["exchange"]}, ""),
    ("Work with children and elderly in Riga", {"city": ["Riga"], "topic": ["children", "elderly"]}, ""),
    ("volunteer in st petersburg", {"city": ["Saint Petersburg"]}, ""),
    ("Frankfurt am Main", {"city": ["Frankfurt am Main"]}, ""),
    ("volunteering in the netherlands", {"country": ["NL"]}, ""),
    ("volunteering in the uk", {"country": ["GB"]}, ""),
    ("united kingdom", {"country": ["GB"]}, ""),
    ("czech republic", {"country": ["CZ"]}, ""),
    ("Bosnia and Herzegovina", {"country": ["BA"]}, ""),
    ("gap year", {"duration_class": ["long_term"]}, ""),
    ("weekend volunteering berlin", {"city": ["Berlin"], "duration_class": ["one_off"]}, ""),
    ("kaunas", {"city": ["Kaunas"]}, ""),
    ("georgia", {"country": ["GE"]}, ""),
    ("malta", {"country": ["MT"]}, ""),
    ("paid internship berlin",
     {"city": ["Berlin"], "support": ["allowance"], "activity_type": ["traineeship"]}, ""),
    ("gdansk", {"city": ["Gdańsk"]}, ""),
    ("Kauno m.", {"city": ["Kaunas"]}, ""),
    # --- other inflections: Lithuanian, Polish, Estonian
    ("Latvijoje", {"country": ["LV"]}, ""),
    ("Vilniuje", {"city": ["Vilnius"]}, ""),
    ("na Łotwie", {"country": ["LV"]}, ""),
    ("na Lotwie", {"country": ["LV"]}, ""),
    ("w Niemczech", {"country": ["DE"]}, ""),
    ("we Włoszech", {"country": ["IT"]}, ""),
    ("w Polsce", {"country": ["PL"]}, ""),
    ("w Krakowie", {"city": ["Kraków"]}, ""),
    ("Lätis", {"country": ["LV"]}, ""),
    # --- origin: "from Ukraine" is a place filter only when no other place is named
    ("refugees from ukraine in latvia", {"country": ["LV"], "theme": ["migrants_refugees"]}, "ukraine"),
    ("refugees from ukraine", {"country": ["UA"], "theme": ["migrants_refugees"]}, ""),
]

# Words that are places somewhere but mostly something else.
NEGATIVE: list[tuple[str, dict[str, list[str]], str]] = [
    ("volunteering in Nice", {"city": ["Nice"]}, ""),
    ("Nice", {"city": ["Nice"]}, ""),  # a capitalised place name alone
    ("nice people", {}, "nice"),
    ("Nice people to work with", {}, "Nice"),  # a capital at the start of a sentence is no evidence
    ("mark", {}, "mark"),
    ("Mark", {}, "Mark"),  # no city of that name is big enough
    ("sport", {"theme": ["sport"]}, ""),  # a theme, not the place "Sport"
    ("turkey farm", {"topic": ["farm"]}, 'turkey'),
    ("volunteering in turkey", {"country": ["TR"]}, ""),
    ("Turkey", {"country": ["TR"]}, ""),
    ("essen verteilen", {}, "essen verteilen"),
    ("in Essen", {"city": ["Essen"]}, ""),
    ("bath", {}, "bath"),
    ("split the work", {}, "split"),
    ("most popular", {}, "most popular"),
    ("okay", {}, "okay"),
    ("indie music", {"topic": ["music"]}, "indie"),
    ("german language course", {"support": ["language_course"]}, "german"),  # a language, not Germany
    ("child", {"topic": ["children"]}, ""),  # not Chile
    ("liga", {}, "liga"),  # a GeoNames alias of Riga, and "league"
    ("Die Tafel", {"topic": ["food_bank"]}, ""),  # German article, not the town Die
    ("escape room", {}, "escape room"),  # not the programme ESC
    ('"in Riga" museum', {"topic": ["museum"]}, '"in Riga"'),  # quoted words are not interpreted
    ("волонтер празі", {"city": ["Prague"]}, ""),  # a big city's locative needs no preposition
    ("допомога на дорозі", {}, "дорозі"),  # nor makes a city of a word
    # a title typed or picked as written: its capitals tell no place from another word
    ("Handyman Needed", {}, "Handyman Needed"),  # not Houndé
    ("Give the Gift of Reading", {}, "Give the Gift of Reading"),  # not Gifu
    ("Greek Island Conservation", {"theme": ["environment"]}, "Greek Island"),  # not Iceland
    ("Youth Work in Riga", {"theme": ["youth"], "city": ["Riga"]}, ""),  # a preposition still counts
    ("Tartu Youth Centre", {"theme": ["youth"], "city": ["Tartu"]}, ""),  # so does a city's own name
    ("", {}, ""),
]


def _check(query: str, filters: dict[str, list[str]], text: str) -> None:
    got = understand(query)
    assert got.filters == filters, (query, got.filters)
    assert got.text == text, (query, got.text)


@pytest.mark.parametrize(("query", "filters", "text"), CASES)
def test_understands(query: str, filters: dict[str, list[str]], text: str) -> None:
    _check(query, filters, text)


@pytest.mark.parametrize(("query", "filters", "text"), NEGATIVE)
def test_conservative(query: str, filters: dict[str, list[str]], text: str) -> None:
    _check(query, filters, text)


# A Latin-script city name in an inflected form with no preposition is a city
# in lowercase too when the form is a real locative of the city's own name
# ("vilniuje", "valmierā") or of its CLDR name ("sofijā"): see
# tests/search/test_understand_regions.py.
NEEDS_CAPITAL: set[str] = set()


@pytest.mark.parametrize("query", [q for q, _, _ in CASES if q.lower() != q and q not in NEEDS_CAPITAL])
def test_lowercase_gives_the_same(query: str) -> None:
    """People type lowercase: a preposition or a known place name is enough."""
    assert understand(query.lower()).filters == understand(query).filters, query


def test_inflected_city_lowercase_is_a_locative_of_its_name() -> None:
    assert understand("vilniuje").city == ["Vilnius"]  # Lithuanian locative of Vilnius, in Lithuania
    assert understand("savanoriai vilniuje").city == ["Vilnius"]
    assert understand("в вильнюсе").city == ["Vilnius"]
    assert understand("в риге").city == ["Riga"]  # Cyrillic inflection is no common word


def test_spans_point_into_the_query() -> None:
    q = "Волонтерство з дітьми у Ризі, онлайн"
    got = understand(q)
    assert got.filters == {"city": ["Riga"], "topic": ["children"], "work_mode": ["remote"]}
    for span in got.spans:
        assert q[span.start:span.end] == span.text
    city = next(s for s in got.spans if s.field == "city")
    assert (city.text, city.value, city.country) == ("у Ризі", "Riga", "LV")
    assert "country" not in got.filters  # a city's country is for display only
    assert {s.field for s in got.spans} == {"generic", "topic", "city", "work_mode"}
    assert got.as_dict()["spans"][0] == {"field": "generic", "value": "", "start": 0, "end": 12,
                                         "text": "Волонтерство", "country": None}


def test_unknown_words_stay_text() -> None:
    got = understand("Museumsführung für Kinder mit Hund in Riga")
    assert got.filters == {"topic": ["children", "dogs"], "city": ["Riga"]}
    assert got.text == "Museumsführung"


def test_every_theme_has_vocabulary_in_the_six_languages() -> None:
    themes = vocabulary()["themes"]
    assert set(themes) == {t.value for t in Theme}
    for theme in Theme:
        for lang in ("lv", "en", "ru", "uk", "ar", "de"):
            assert themes[theme.value].get(lang), (theme, lang)


def test_facet_values_are_the_listing_fields_values() -> None:
    facets = vocabulary()["facets"]
    assert set(facets["support"]) == set(Support.model_fields)
    assert set(facets["work_mode"]) <= {w.value for w in WorkMode}
    assert set(facets["duration_class"]) <= {d.value for d in DurationClass}
    assert set(facets["activity_type"]) <= {a.value for a in ActivityType}
    from pipeline.normalize.programme import _PROGRAMMES

    assert set(facets["programme"]) == {name for name, _pattern in _PROGRAMMES}
    for values in facets.values():
        for value, by_lang in values.items():
            for lang in ("lv", "en", "ru", "uk", "ar", "de"):
                assert by_lang.get(lang), (value, lang)


def test_no_phrase_has_two_meanings() -> None:
    seen: dict[tuple, set[tuple[str, str]]] = {}
    for field, value, _lang, phrase in meanings():
        if field != "generic":
            seen.setdefault(tuple(phrase_keys(str(phrase)) or ()), set()).add((field, value))
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    assert not clashes


def test_a_topics_own_name_is_understood_as_it() -> None:
    """The UI names a topic ("продовольственные банки", "المكفوفون") on its chips
    and offers it while typing: typed back, lowercase or without diacritics, the
    name must find that topic (ten names were free text before)."""
    from pipeline.normalize.text import fold
    from search.understanding.topics import topics

    missed = [(topic_id, typed) for topic_id, topic in topics().items() for label in topic.labels.values()
              for typed in {label, label.lower(), fold(label)} if topic_id not in understand(typed).topic]
    assert missed == []


def test_the_search_boxs_own_example_is_understood_in_every_language() -> None:
    """The empty search box shows an example ("e.g. animal shelter, food bank,
    Rīga") in the page's language; typed as shown, every part of it must be
    understood (the Russian "продуктовый банк" was free text, and found nothing)."""
    from search.i18n import UI, UI_LANGUAGES

    for lang in UI_LANGUAGES:
        example = UI.of(lang).gettext("e.g. animal shelter, food bank, Rīga")
        for typed in (example, example.lower()):
            got = understand(typed)
            assert (got.topic, got.city) == (["animal_shelter", "food_bank"], ["Riga"]), (lang, typed, got)
            assert len(got.text.split()) <= 1, (lang, typed, got.text)  # at most the "e.g." word


def test_esc_topics_map_to_their_theme() -> None:
    from pipeline.normalize.themes import ESC_TOPICS

    for topic, themes in ESC_TOPICS.items():
        if len(topic) <= 5 or len(themes) != 1:  # short codes ("edu") and "integration"
            continue
        if topic == "shelter":  # typed alone it may mean animals, the homeless or refugees: free text
            assert understand(topic).theme == []
            continue
        got = understand(topic)
        assert got.theme == [themes[0].value], (topic, got.theme)


def test_case_and_accents_do_not_matter() -> None:
    assert norm("Rīgā") == norm("RIGA") == "riga"
    for q in ("Latvijā", "LATVIJA", "latvija", "latvijā"):
        assert understand(q).country == ["LV"], q


def test_result_fields() -> None:
    got = understand("x")
    assert set(got.as_dict()) == {*LIST_FIELDS, "text", "spans"}


def test_fast_after_warm_up() -> None:
    from search.understanding import warm_up

    warm_up()
    queries = [f"{a} {b} {c}" for a in ("волонтерство", "volunteering", "brīvprātīgais darbs", "تطوع")
               for b in ("з дітьми", "with elderly", "dzīvnieku patversme", "للاجئين", "Umweltschutz")
               for c in ("у Ризі", "in Latvia", "Vācijā", "في ألمانيا", "online", "Kaunas")]
    understand.cache_clear()
    times = []
    for q in queries:
        start = time.perf_counter()
        understand(q)
        times.append(time.perf_counter() - start)
    times.sort()
    # The aim is 2 ms at p95 (0.6 ms measured); the bound leaves room for a busy CI machine.
    assert times[int(len(times) * 0.95)] < 0.010
