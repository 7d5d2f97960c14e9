"""Cities by name in the languages people search in: ``near=`` resolved to
coordinates from any name the offline GeoNames gazetteer knows or a city's
CLDR name ("Viļņa", "ريغا"), and a city named in the page's language ("Rīga",
"Рига"). The gazetteer and CLDR are read on first use, not at import."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.normalize.places.geonames import City

# Languages whose CLDR city names ``near`` understands besides the gazetteer's.
PLACE_NAME_LANGUAGES = ("lv", "en", "ru", "uk", "ar", "de")


def resolve_place(name: str) -> tuple[float, float]:
    """A city name → its coordinates: any name the offline GeoNames gazetteer
    knows ("Rīga", "Рига"), else a city's name in CLDR in the languages people
    search in ("Viļņa", "ريغا")."""
    from pipeline.normalize.places.gazetteer import gazetteer
    from pipeline.normalize.text import fold

    city = gazetteer().lookup(name.strip()) or _cldr_names().get(fold(name.strip()))
    if city is None:
        raise ValueError(f"unknown place {name!r}")
    return city.lat, city.lon


@lru_cache(maxsize=4096)
def named_place(name: str, lang: str) -> tuple[str, str | None]:
    """A city (as the index names it) → (its name in ``lang`` where CLDR has
    one, else ``name``; its country code when the gazetteer knows it)."""
    from babel import Locale

    from pipeline.normalize.places.gazetteer import gazetteer

    city = gazetteer().lookup(name)
    if city is None:
        return name, None
    zone = _city_zones().get((city.name, city.country))
    local = Locale.parse(lang).time_zones.get(zone, {}).get("city") if zone else None
    return str(local or name), city.country


@cache
def _city_zones() -> dict[tuple[str, str], str]:
    """(GeoNames name, country) → the CLDR time zone whose exemplar city it is
    (CLDR names those cities in every language: Europe/Riga, "Рига", "ريغا")."""
    from babel import Locale
    from babel.core import get_global

    from pipeline.normalize.places.gazetteer import gazetteer

    english = Locale.parse("en").time_zones
    found: dict[tuple[str, str], str] = {}
    for zone, territory in sorted(get_global("zone_territories").items()):
        if len(territory) != 2 or "/" not in zone:
            continue
        name = english.get(zone, {}).get("city") or zone.rsplit("/", 1)[-1].replace("_", " ")
        city = gazetteer().lookup(name, territory)
        if city is not None and city.country == territory:
            found.setdefault((city.name, city.country), zone)
    return found


@cache
def _cldr_names() -> dict[str, City]:
    """Those cities by their folded CLDR names in :data:`PLACE_NAME_LANGUAGES`."""
    from babel import Locale

    from pipeline.normalize.places.gazetteer import gazetteer
    from pipeline.normalize.text import fold

    found: dict[str, City] = {}
    for (name, country), zone in _city_zones().items():
        city = gazetteer().lookup(name, country)
        for lang in PLACE_NAME_LANGUAGES:
            local = Locale.parse(lang).time_zones.get(zone, {}).get("city")
            if city is not None and local:
                found.setdefault(fold(str(local)), city)
    return found
