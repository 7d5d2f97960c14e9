"""Places: where a listing is, from structured fields and text.

``locate(raw, title, text, remote=...)`` is the one entry point the
normalizer uses; it answers with a :class:`pipeline.events.Location`. The
modules behind it:

- ``countries``: country codes and names in fields and running text.
- ``stems``: inflected forms ("Igaunijā", "в Риге", "Vilniuje").
- ``cities``: a source's city field read as a person would (``resolve_city``).
- ``mentions``: cities named in running text and in address strings.
- ``clean``: written place names taken apart (postal codes, admin words).
- ``geonames``: the ``City`` record and the SQLite file built from GeoNames.
- ``gazetteer``: lookups in that file (``gazetteer()``), also for search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.events import GeoPoint, Location, RawOpportunity
from pipeline.normalize.places.cities import Resolved, resolve_city
from pipeline.normalize.places.countries import country_code, location_countries_in
from pipeline.normalize.places.geonames import City
from pipeline.normalize.places.mentions import city_from_location, city_in_text
from pipeline.normalize.text import one_line, sentences

# Languages whose place names change form with their role in the sentence
# ("Igaunijā", "в Эстонии", "w Niemczech"): there an inflected country name
# after a preposition says where; in German "ins Kino" it is no country at all.
_INFLECTING = frozenset({"lv", "lt", "et", "pl", "ru", "uk", "be", "cs", "sk", "sl", "hr", "sr",
                         "bs", "bg", "fi", "hu"})


@dataclass
class _Found:
    """What is known of a listing's place so far."""

    country: str | None
    place: Resolved | None  # the source's city field, read
    city: City | None  # the gazetteer's city
    city_name: str | None  # what the city facet shows


def locate(raw: RawOpportunity, title: str, text: str, *, remote: bool) -> Location | None:
    """Where the listing is, or None when nothing says.

    The country: the source's structured country; else the country of the
    city it names (known in its home country first: "Hamburg" stays in DE
    whatever the title says); else a country the title puts the listing in
    ("волонтёрство в Эстонии", "darbs Igaunijā"; never where people come from:
    "Geflüchtete aus Syrien", "from Ukraine", "для біженців з України"), or
    the country of a city the title or first sentence names (abroad only
    after "in"/"у"/"w"…); else the address's country; else the source's
    default country. The city: the gazetteer's name for what the source wrote
    ("Kauno m." → Kaunas), with its coordinates unless the source has its own.
    """
    structured = country_code(raw.country)
    default = country_code(raw.default_country)
    inflecting = (raw.source_language or "").lower()[:2] in _INFLECTING
    hint, mentioned = structured or default, None
    if hint is None:  # only the title may say which country's Valencia it is
        mentioned = location_countries_in(title, None, inflecting=inflecting)
        hint = mentioned[0] if mentioned else None
    place = resolve_city(_city_name(raw, hint), hint, anywhere=structured is None)
    city = place.city if place else None
    found = _Found(structured or (city.country if city else None), place, city, place.name if place else None)
    if found.country is None:
        if mentioned is None:
            mentioned = location_countries_in(title, default, inflecting=inflecting)
        _from_text(found, raw, title, text, mentioned, default, remote=remote, inflecting=inflecting)
    location = Location(
        country=found.country,
        region=one_line(raw.region) or (place.district if place else None) or None,
        city=found.city_name or None,
        postal_code=one_line(raw.postal_code) or (place.postal_code if place else None) or None,
        geo=_geo(raw, found.city),
    )
    return location if any(v for v in location.model_dump().values()) else None


def _city_name(raw: RawOpportunity, country: str | None) -> str | None:
    """The city as the source wrote it: its city field, else the town of its address."""
    city = one_line(raw.city)
    if city:
        return city
    return city_from_location(one_line(raw.location_text), country)


def _from_text(found: _Found, raw: RawOpportunity, title: str, text: str, mentioned: list[str],
               default: str | None, *, remote: bool, inflecting: bool) -> None:
    """The country (and the city, if the fields named none) that the title,
    the first sentence or the address say, for a listing whose fields and
    city do not name a country."""
    city, place = found.city, found.place
    if not found.city_name and not remote:
        hint = mentioned[0] if mentioned else default
        first = sentences(text)[:1]
        city = city_in_text(title, hint, default, inflecting=inflecting) or (
            city_in_text(first[0], hint, default, skip_first=True, inflecting=inflecting)
            if first else None)
        found.city_name = city.label if city else None
    if mentioned:
        found.country = mentioned[0]
        if city is not None and city.country != found.country:  # a city of the title's country only
            city = None
            found.city_name = place.name if place else None
    elif city is not None:
        found.country = city.country
    elif raw.location_text and (named := _address_countries(raw.location_text, default, inflecting)):
        found.country = named[0]
    elif not remote:
        found.country = default
    found.city = city


def _address_countries(text: str, home: str | None, inflecting: bool) -> list[str]:
    """Countries an address names: a part that is a country's name or code
    ("Rīga, Latvija"; a bare code only without another home country: "San
    Francisco, CA" is not Canada), else, for a source with a home country,
    only one the text puts the listing in ("Staten Island, NY" is not Iceland,
    German "Island")."""
    whole = []
    for part in (p.strip() for p in re.split(r"[,;\n]", text)):
        code = country_code(part)
        # "San Francisco, CA": with a home country, a bare code is its state's
        if code and not (home and code != home and re.fullmatch(r"[A-Z]{2,3}", part)):
            whole.append(code)
    return whole or location_countries_in(text, home, inflecting=inflecting)


def _geo(raw: RawOpportunity, city: City | None) -> GeoPoint | None:
    """The source's own coordinates (not 0,0), else the city's."""
    lat = parse_coordinate(raw.latitude, 90)
    lon = parse_coordinate(raw.longitude, 180)
    if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        return GeoPoint(lat=lat, lon=lon)
    if city is not None:
        return GeoPoint(lat=city.lat, lon=city.lon)
    return None


def parse_coordinate(value: str | None, limit: float) -> float | None:
    """A latitude or longitude as a number within ±``limit``, or None."""
    if value is None:
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None
    return number if -limit <= number <= limit else None
