"""What the search page offers to choose, in the UI's language: countries in
its alphabetical order, facet values, "Apply by" dates, and the active
filters as removable chips."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import pycountry

from search.backends import SearchRequest, SearchResult
from search.i18n import FACET_LABELS, FIELD_LABELS, UI, value_label
from search.request import FACETS
from search.web.forms import without

TOP_VALUES = 8  # facet values shown before "show all"
_ALPHABETS = {
    "lv": "aābcčdeēfgģhiījkķlļmnņoprsštuūvzž",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
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
    return ", ".join(named + sorted(ui.country_name(c) for c in wanted - known))


def facet_values(ui: UI, req: SearchRequest, result: SearchResult, facet: str) -> tuple[list[Choice], list[Choice]]:
    """(shown, the rest) as (value, count, selected): every selected value,
    then the top values; the rest behind "show all" (places by name)."""
    counts = dict(result.facets.get(facet, {}))
    selected = list(getattr(req, facet))
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
