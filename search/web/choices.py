"""What the search page offers to choose, in the UI's language: countries in
its alphabetical order, facet values, "Apply by" dates, the cities of the
"Near" picker, the active filters as removable chips, and the places of the
results map."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pycountry

from search.backends import SearchHit, SearchRequest, SearchResult
from search.i18n import FACET_LABELS, FIELD_LABELS, UI, value_label
from search.place_names import named_place, resolve_place
from search.request import FACETS
from search.web.forms import without

TOP_VALUES = 8  # facet values shown before "show all"
_ALPHABETS = {
    "lv": "aābcčdeēfgģhiījkķlļmnņoprsštuūvzž",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
    "ar": "ءآأإابةتثجحخدذرزسشصضطظعغفقكلمنهوىي",  # the hamza forms of alif with alif
}
Choice = tuple[str, int, bool]  # (value, count, selected)


def sort_key(lang: str) -> Callable[[str], tuple[tuple[int, int], ...]]:
    """A name sort key following the language's alphabet (Latvian Č after C,
    Ukrainian Є after Е), without ICU."""
    alphabet = {ch: i for i, ch in enumerate(_ALPHABETS.get(lang, ""))}

    def key(name: str) -> tuple[tuple[int, int], ...]:
        out = []
        for ch in name.casefold():
            if ch in alphabet:
                out.append((1, alphabet[ch]))
            else:
                base = unicodedata.normalize("NFKD", ch)[:1] or ch
                out.append((0, ord(base)) if base.isalpha() and base.isascii() else (2, ord(base)))
        return tuple(out)

    return key


@lru_cache(maxsize=8)
def _countries_cached(lang: str) -> tuple[tuple[str, str], ...]:
    ui = UI.of(lang)
    named = [(c.alpha_2, ui.country_name(c.alpha_2)) for c in pycountry.countries]
    key = sort_key(lang)
    return tuple(sorted(named, key=lambda item: key(item[1])))


def countries(ui: UI) -> tuple[tuple[str, str], ...]:
    """Every country as (code, name in the UI's language), sorted by that name."""
    return _countries_cached(ui.lang)


def deadline_options(ui: UI, chosen: date | None) -> list[tuple[str, str, bool]]:
    """(value, label, selected) for "Apply by": within 7 or 30 days from today, or the date
    a link carries."""
    today = datetime.now(UTC).date()
    options = [(str(today + timedelta(days=n)), ui.ngettext("Within %(num)s day", "Within %(num)s days", n)
                % {"num": ui.number(n)}, chosen == today + timedelta(days=n)) for n in (7, 30)]
    if chosen is not None and not any(selected for _v, _l, selected in options):
        options.append((str(chosen), ui.date(chosen), True))
    return options


def country_list(ui: UI, codes: list[str]) -> str:
    """``codes`` as names in the UI's language, in its alphabetical order."""
    wanted = set(codes)
    named = [name for code, name in countries(ui) if code in wanted]
    known = {code for code, _name in countries(ui)}
    return ui.join(named + sorted(ui.country_name(c) for c in wanted - known))


def understood(result: SearchResult, facet: str) -> list[str]:
    """The values of ``facet`` that the search understood from the words typed
    and applies ("в Латвії": LV), unless it had to leave them out."""
    if facet in (result.relaxed or []):
        return []
    return [str(v) for v in (result.understood or {}).get(facet, [])]


def facet_values(ui: UI, req: SearchRequest, result: SearchResult, facet: str) -> tuple[list[Choice], list[Choice]]:
    """(shown, the rest) as (value, count, selected): every selected value
    (chosen, or understood from the words typed),
    then the top values; the rest behind "show all" (places by name)."""
    counts = dict(result.facets.get(facet, {}))
    selected = [*getattr(req, facet), *understood(result, facet)]
    for value in selected:
        counts.setdefault(value, 0)
    ordered = list(counts)
    top = ordered[:TOP_VALUES]
    shown = [v for v in ordered if v in selected] + [v for v in top if v not in selected]
    rest = [v for v in ordered if v not in shown]
    if facet in ("country", "city"):
        key = sort_key(ui.lang)
        rest.sort(key=lambda v: key(value_label(ui, facet, v)))
    return ([(v, counts[v], v in selected) for v in shown], [(v, counts[v], v in selected) for v in rest])


def chips(ui: UI, req: SearchRequest, near: str | None) -> list[tuple[str, str, str]]:
    """Active filters as (what, value, URL without it), in the order of the form."""
    _ = ui.gettext
    found = [(_(FACET_LABELS[facet]), value_label(ui, facet, value), without(req, near, (facet, value)))
             for facet in (*FACETS, "topic") for value in getattr(req, facet)]
    found += [(_(FIELD_LABELS["speaks"]), ui.language_name(code), without(req, near, ("speaks", code)))
              for code in req.speaks]
    if req.age is not None:
        found.append((_(FIELD_LABELS["age"]), ui.number(req.age), without(req, near, ("age", None))))
    if req.resident:
        found.append((_(FIELD_LABELS["resident"]), ui.country_name(req.resident),
                      without(req, near, ("resident", None))))
    if req.deadline_to is not None:
        found.append((_(FIELD_LABELS["deadline_to"]), ui.date(req.deadline_to),
                      without(req, near, ("deadline_to", None))))
    if near or req.lat is not None:
        place = near or f"{req.lat:.3f}, {req.lon:.3f}"
        if req.within_km:
            place = _(FIELD_LABELS["within"]) % {"km": ui.number(req.within_km), "place": place}
        found.append((_(FIELD_LABELS["near"]), place, without(req, near, ("near", None) if near else ("lat", None))))
    return found


def near_options(ui: UI, cities: dict[str, int]) -> list[str]:
    """The "Near" picker's cities (the index's ``city`` facet values) in the
    UI's alphabetical order, each by its name in the UI's language where CLDR
    has one and ``near`` understands it ("Рига"), else as the index names it."""
    found = set()
    for value in cities:
        name = named_place(value, ui.lang)[0]
        found.add(name if name == value or _same_place(name, value) else value)
    return sorted(found, key=sort_key(ui.lang))


def _same_place(name: str, other: str) -> bool:
    try:
        (lat, lon), (lat2, lon2) = resolve_place(name), resolve_place(other)
    except ValueError:
        return False
    return abs(lat - lat2) < 0.2 and abs(lon - lon2) < 0.2


def map_places(ui: UI, hits: list[SearchHit]) -> list[dict[str, Any]]:
    """The places of this page's results that have coordinates, each with the
    results there (id and title): what the map shows, as plain data."""
    places: dict[tuple[float, float], dict[str, Any]] = {}
    for hit in hits:
        o = hit.opportunity
        for loc in o.get("locations") or []:
            geo = loc.get("geo") or {}
            if not isinstance(geo.get("lat"), int | float) or not isinstance(geo.get("lon"), int | float):
                continue
            key = (round(float(geo["lat"]), 4), round(float(geo["lon"]), 4))
            city = named_place(loc["city"], ui.lang)[0] if loc.get("city") else ""
            name = ", ".join(n for n in (city, ui.country_name(loc["country"]) if loc.get("country") else "") if n)
            place = places.setdefault(key, {"lat": key[0], "lon": key[1], "name": name, "label": city or name,
                                            "items": []})
            if all(item["id"] != hit.id for item in place["items"]):
                place["items"].append({"id": hit.id, "title": str(o.get("title") or "")})
    return list(places.values())


def terms(ui: UI, facets: dict[str, dict[str, int]], cities: list[str]) -> list[str]:
    """What the search understands, named in ``ui``'s language: the index's
    countries, the "Near" picker's cities, its themes (the most listings first)."""
    found = [ui.country_name(c) for c, _ in sorted(facets.get("country", {}).items(), key=lambda kv: -kv[1])]
    found += [value_label(ui, "theme", t) for t, _ in sorted(facets.get("theme", {}).items(), key=lambda kv: -kv[1])
              if t != "other"]
    return list(dict.fromkeys([*found, *cities]))


def topic_names(ui: UI) -> dict[str, str]:
    """Each topic's name in ``ui``'s language → the topic (the names the
    search understands back: tests/search/test_understand.py)."""
    from search.understanding.topics import topic_label, topics

    return {topic_label(topic_id, ui.lang): topic_id for topic_id in topics()}


def completing(typed: str, names: list[str], size: int) -> list[str]:
    """The ``names`` that ``typed`` begins, or one of whose words it begins,
    compared without case or diacritics ("lat" → "Latvija", "рі" → "Рига"; an
    Arabic word also without its article: "حيو" → "الحيوانات")."""
    from pipeline.normalize.text import fold

    want = fold(typed).strip()
    if not want:
        return []
    starts = [n for n in names if fold(n).startswith(want)]
    inside = [n for n in names if n not in starts and any(w.startswith(want) for w in _words(fold(n)))]
    return [*starts, *inside][:size]


def _words(name: str) -> list[str]:
    """A name's words, and each Arabic one also without its article (الحيوانات is
    begun by حيو as much as by الحيو: people type the word, not the article)."""
    return [v for w in name.split() for v in ((w, w[2:]) if w.startswith("ال") and len(w) > 3 else (w,))]
