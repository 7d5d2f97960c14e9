"""Places a person recognises: a source's city field matched to the gazetteer
within the listing's country, and the listing's country kept from what
running text says about where people come from."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from pipeline.events import RawOpportunity
from pipeline.normalize import normalize
from pipeline.normalize.places import clean
from pipeline.normalize.places.cities import resolve_city
from pipeline.normalize.places.countries import country_code, location_countries_in
from pipeline.normalize.places.gazetteer import gazetteer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def raw(**over: object) -> RawOpportunity:
    base: dict[str, object] = {
        "source_id": "s1", "external_id": "1", "url": "https://example.org/o/1",
        "crawl_id": "c1", "fetched_at": NOW, "extraction_method": "api", "title": "Volunteer",
    }
    base.update(over)
    return RawOpportunity.model_validate(base)


def place(written: str, country: str | None, **kw: bool) -> tuple[str | None, str | None]:
    found = resolve_city(written, country, **kw)
    assert found is not None
    return found.name, found.city.country if found.city else None


# ------------------------------------------------------------- city fields

@pytest.mark.parametrize(("written", "country", "name"), [
    # administrative words around the name (and genitives they govern)
    ("Kauno m.", "LT", "Kaunas"),
    ("Vilniaus m.", "LT", "Vilnius"),
    ("Rīgas pilsēta", "LV", "Rīga"),
    ("m. st. Warszawa", "PL", "Warsaw"),
    ("Daugavpils novads", "LV", "Daugavpils"),
    ("Smiltenes novads", "LV", "Smiltene"),
    ("Municipiul Târgu Secuiesc", "RO", "Târgu Secuiesc"),
    ("Athlone, Co. Westmeath", "IE", "Athlone"),
    # postal codes
    ("LV-1050 Rīga", "LV", "Rīga"),
    ("10115 Berlin", "DE", "Berlin"),
    ("75011 Paris", "FR", "Paris"),
    ("00-950 Warszawa", "PL", "Warsaw"),
    ("17130 - MONTENDRE", "FR", "Montendre"),
    # districts
    ("Hamburg-Klein Flottbek", "DE", "Hamburg"),
    ("Hamburg-Eimsbüttel", "DE", "Hamburg"),
    ("Berlin - Wannsee", "DE", "Berlin"),
    ("Praha 8", "CZ", "Prague"),
    ("Çankaya/Ankara", "TR", "Ankara"),
    # one name despite hyphens or parentheses
    ("Louvain-la-Neuve", "BE", "Louvain-la-Neuve"),
    ("Frankfurt (Oder)", "DE", "Frankfurt (Oder)"),
    ("FRANKFURT ODER", "DE", "Frankfurt (Oder)"),
    ("Bronte (CT)", "IT", "Bronte"),
    ("La Ferté-Alais", "FR", "La Ferté-Alais"),  # not Alès, once called Alais
    ("Font-Rubí", "ES", "Font-Rubí"),  # not the town of Rubí
    ("Vilanova i la Geltrú", "ES", "Vilanova i la Geltrú"),  # "i" is "and", but not here
    # case, diacritics, separators, "St"
    ("KAUNAS", "LT", "Kaunas"),
    ("Gdansk", "PL", "Gdańsk"),
    ("BANSKA BYSTRICA", "SK", "Banská Bystrica"),
    ("NİĞDE", "TR", "Niğde"),
    ("ST SATURNIN", "FR", "Saint-Saturnin"),
    ("Saint Amand Montrond", "FR", "Saint-Amand-Montrond"),
    # several places: the first one known
    ("Sierra Elvira, Atarfe. Granada.", "ES", "Atarfe"),
    ("Braga, Sanguedo, Cucujães and Guimarães", "PT", "Braga"),
    ("Kolda, Senegal", "SN", "Kolda"),
    ("Launkalnes pagasts, Smiltenes novads", "LV", "Smiltene"),
    # a town and its province's code
    ("TRIGGIANO BARI", "IT", "Triggiano"),
    # villages of 500+ people, by their exact name in the country
    ("palombaio", "IT", "Palombaio"),
    # one letter off, five letters or more, one city of the country fits
    ("Hamnburg", "DE", "Hamburg"),
    ("Tallin", "EE", "Tallinn"),
    ("Krakw", "PL", "Kraków"),
])
def test_city_fields_are_recognised(written: str, country: str, name: str) -> None:
    assert place(written, country) == (name, country)


def test_postal_code_and_district_are_kept_apart() -> None:
    found = resolve_city("22145 Hamburg", "DE")
    assert found is not None and (found.name, found.postal_code) == ("Hamburg", "22145")
    found = resolve_city("LV-1050 Rīga", "LV")
    assert found is not None and found.postal_code == "LV-1050"
    found = resolve_city("Hamburg-Klein Flottbek", "DE")
    assert found is not None and (found.name, found.district) == ("Hamburg", "Klein Flottbek")


@pytest.mark.parametrize(("written", "country"), [
    ("Ebensberg", "DE"),  # Abensberg or Ebersberg: one letter from both
    ("Hamnburg", "AT"),  # typos are looked for in the listing's country only
    ("Rigaa", "EE"),
    ("Osówek", "PL"),  # a village's own name, not "Osowa" inflected
    ("Roquetes", "ES"),  # not Roquetas de Mar, 400 km away
    ("Rosengarten-Ehestorf", "DE"),  # not the Egestorf one letter off "Ehestorf"
    ("Berrogain-Laruns", "FR"),  # one village's name, not the town of Laruns
    ("Saint Julien en Beauchêne", "FR"),  # not any Saint-Julien
    ("Bohinjsko jezero", "SI"),  # a lake, not the village Jezero
    ("Santa Margarida i els Monjos", "ES"),  # not Santa Margalida, one letter off a piece of it
])
def test_no_guessing(written: str, country: str) -> None:
    found = resolve_city(written, country)
    assert found is not None and found.city is None
    assert found.name == written


def test_facet_shows_one_name_per_place() -> None:
    assert {place(w, "LT")[0] for w in ("Kaunas", "Kauno m.", "KAUNAS", "kaunas")} == {"Kaunas"}
    assert {place(w, "PL")[0] for w in ("Gdansk", "Gdańsk", "GDANSK")} == {"Gdańsk"}
    assert {place(w, "LV")[0] for w in ("Riga", "Rīga", "RIGA", "Rīgas pilsēta", "LV-1050 Rīga")} == {"Rīga"}
    assert {place(w, "DE")[0] for w in ("Hamburg", "22145 Hamburg", "Hamburg-Klein Flottbek",
                                        "Hamnburg", "hamburg", "Hamburg - Neugraben")} == {"Hamburg"}


def test_local_spelling_only_with_the_country_s_own_letters() -> None:
    assert gazetteer().place("Riga", "LV").label == "Rīga"
    assert gazetteer().place("Chisinau", "MD").label == "Chişinău"
    assert gazetteer().place("Madrid", "ES").label == "Madrid"  # "Madríd" is another language's
    assert gazetteer().place("Paris", "FR").label == "Paris"


def test_a_sentence_is_never_a_city() -> None:
    written = ("The volunteer will be living in Jesús (a village close to Roquetes and Tortosa) "
               "and work in Roquetes.")
    assert place(written, "ES") == ("Tortosa", "ES")
    found = resolve_city("You will be working with children and young people every day.", "ES")
    assert found is not None and (found.name, found.city) == (None, None)
    assert place("Région Pays de la  Loire (Angers, Nantes, Le Mans, Segré...)", "FR") == ("Angers", "FR")


@pytest.mark.parametrize(("text", "sentence"), [
    ("The volunteer will be living in Jesús and work in Roquetes.", True),
    ("Volunteers are needed in our centre, close to the station", True),
    ("Jindřichovice pod Smrkem", False),
    ("Saint-Julien-en-Beauchêne", False),
    ("Vught (4 km from 's-Hertogenbosch)", False),
    ("Braga, Sanguedo, Cucujães and Guimarães", False),
    ("Rencēnu parish, Valmiera municipality", False),
])
def test_sentences(text: str, sentence: bool) -> None:
    assert clean.is_sentence(text) is sentence


def test_unknown_places_keep_their_written_name_without_coordinates() -> None:
    assert place("El Rocío", "ES") == ("El Rocío", None)
    assert place("LA COPA DE BULLAS", "ES")[0] == "La Copa De Bullas"
    opp = normalize(raw(country="ES", city="El Rocío"), NOW)
    assert (opp.locations[0].country, opp.locations[0].city, opp.locations[0].geo) == ("ES", "El Rocío", None)


def test_city_abroad_only_when_the_source_country_is_a_default() -> None:
    assert place("Luzern", "DE", anywhere=True) == ("Luzern", "CH")
    assert place("Luzern", "DE") == ("Luzern", None)


@pytest.mark.parametrize(("address", "default", "where"), [
    ("218 18th Street, New York, NY 10003", "US", ("US", "New York City")),
    # a state code is no town, and German "Island" (Iceland) is no country in an English address
    ("543 Cary Ave Staten Island, NY, NY 10310", "US", ("US", None)),
    ("San Francisco, CA", "US", ("US", "San Francisco")),  # CA: California, not Canada
    ("Brīvības iela 55, Rīga, Latvija", "DE", ("LV", "Rīga")),  # a country named as a part of the address
])
def test_an_address_is_read_as_a_person_reads_it(address: str, default: str, where: tuple) -> None:
    opp = normalize(raw(location_text=address, default_country=default, source_language="en"), NOW)
    assert (opp.locations[0].country, opp.locations[0].city) == where


@pytest.mark.parametrize(("written", "key"), [
    ("ST SATURNIN", "saint saturnin"), ("Saint-Saturnin", "saint saturnin"),
    ("Frankfurt (Oder)", "frankfurt oder"), ("NİĞDE", "nigde"), ("'s-Hertogenbosch", "s hertogenbosch"),
    ("Ærøskøbing", "aeroskobing"),
])
def test_loose_keys(written: str, key: str) -> None:
    assert clean.loose(written) == key


@pytest.mark.parametrize(("text", "rest", "code"), [
    ("LV-1050 Rīga", "Rīga", "LV-1050"), ("10115 Berlin", "Berlin", "10115"),
    ("75011 Paris", "Paris", "75011"), ("00-950 Warszawa", "Warszawa", "00-950"),
    ("602 00 Brno", "Brno", "602 00"), ("1011 AB Amsterdam", "Amsterdam", "1011 AB"),
    ("1000-001 Lisboa", "Lisboa", "1000-001"), ("Praha 8", "Praha 8", None),
])
def test_postal_codes(text: str, rest: str, code: str | None) -> None:
    assert clean.postal_code(text) == (rest, code)


# --------------------------------------------------------- the listing


def test_listing_gets_gazetteer_name_coordinates_postal_code_and_district() -> None:
    opp = normalize(raw(country="LT", city="Kauno m."), NOW)
    loc = opp.locations[0]
    assert (loc.country, loc.city) == ("LT", "Kaunas")
    assert loc.geo is not None and loc.geo.lat == pytest.approx(54.9, abs=0.1)
    loc = normalize(raw(default_country="DE", city="22145 Hamburg"), NOW).locations[0]
    assert (loc.country, loc.city, loc.postal_code) == ("DE", "Hamburg", "22145")
    loc = normalize(raw(default_country="DE", city="Hamburg-Klein Flottbek"), NOW).locations[0]
    assert (loc.city, loc.region) == ("Hamburg", "Klein Flottbek")
    loc = normalize(raw(country="IT", city="palombaio"), NOW).locations[0]
    assert loc.city == "Palombaio" and loc.geo is not None
    # the source's own point wins over the gazetteer's
    loc = normalize(raw(default_country="DE", city="Hamburg", latitude="53,55", longitude="9,99"), NOW).locations[0]
    assert loc.geo is not None and (loc.geo.lat, loc.geo.lon) == (53.55, 9.99)


@pytest.mark.parametrize(("over", "country"), [
    # the Hamburg bug: a country in the title overrode the city and the default
    ({"default_country": "DE", "city": "Hamburg", "source_language": "de",
      "title": "Deutschkurs für Geflüchtete aus Syrien"}, "DE"),
    ({"default_country": "DE", "city": "Hamburg", "source_language": "de",
      "title": "Pate/Patin für eine Flüchtlingsfamilieaus Syrien"}, "DE"),
    ({"default_country": "DE", "source_language": "de", "title": "Deutschkurs für Geflüchtete aus Syrien"}, "DE"),
    ({"default_country": "DE", "source_language": "de", "title": "Begleitung ins Kino"}, "DE"),
    ({"default_country": "LV", "source_language": "uk", "title": "Волонтери для біженців з України"}, "LV"),
    ({"default_country": "LV", "source_language": "ru", "title": "Помощь детям из Украины в Риге"}, "LV"),
    ({"default_country": "LV", "source_language": "en", "title": "Language cafe for refugees from Ukraine"}, "LV"),
    ({"default_country": "US", "city": "NY", "source_language": "en",
      "title": "Nepali, Bangla and Punjabi translators needed!"}, "US"),
    ({"country": "ES", "source_language": "en", "title": "Volunteering in Poland or Spain"}, "ES"),
    # where the title puts the listing, it is there
    ({"default_country": "LV", "source_language": "lv", "title": "Brīvprātīgais darbs Igaunijā"}, "EE"),
    ({"default_country": "LV", "source_language": "uk", "title": "Волонтерство у Вільнюсі"}, "LT"),
    ({"default_country": "LV", "source_language": "en", "title": "Radio volunteer in Tallinn"}, "EE"),
    ({"default_country": "DE", "source_language": "de", "city": "Luzern",
      "title": "Bauernfamilien in der Schweiz brauchen Unterstützung"}, "CH"),
    ({"source_language": "en", "title": "Volunteering in Spain"}, "ES"),
    ({"source_language": "en", "title": "Support for refugees from Syria"}, None),
])
def test_countries_in_running_text_do_not_move_the_listing(over: dict[str, str], country: str | None) -> None:
    opp = normalize(raw(**over), NOW)
    assert (opp.locations[0].country if opp.locations else None) == country


def test_origin_is_not_location() -> None:
    assert location_countries_in("Pate für eine Flüchtlingsfamilie aus Syrien") == []
    assert location_countries_in("Refugees from Syria in Germany") == ["DE"]
    assert location_countries_in("для біженців з України") == []
    assert location_countries_in("Réfugiés de Syrie à Lyon") == []
    assert location_countries_in("Voluntariado en España") == ["ES"]
    assert location_countries_in("Begleitung ins Kino", "DE", inflecting=False) == []
    assert location_countries_in("волонтёрство в Эстонии", "LV") == ["EE"]


def test_country_notes_are_ignored() -> None:
    assert country_code("Kosovo * UN resolution") == "XK"
    assert country_code("Tanzania (United Republic of)") == "TZ"


def test_resolving_is_cached_and_fast() -> None:
    gazetteer()
    names = [f"{n} Hamburg" for n in range(22000, 22400)] + ["Hamnburg", "Kauno m.", "Rīgas pilsēta"] * 100
    started = time.perf_counter()
    for n in names:
        resolve_city(n, "DE")
    first = time.perf_counter() - started
    started = time.perf_counter()
    for n in names:
        resolve_city(n, "DE")
    assert time.perf_counter() - started < max(first / 5, 0.05)
