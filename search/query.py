"""From what a person typed to what the backends search, the same for both.

``plan`` reads places, themes, support and format words out of the free text
(:func:`search.understanding.understand`, in any supported language) and turns
them into the filters a listing's structured fields answer: "волонтерство в
Латвії" becomes ``country=LV`` and no text to match, "sport Bulgaria" becomes
``theme=sport, country=BG``. What the person chose explicitly always wins over
what was read from the text, and ``understand=false`` searches the words as
typed.

``run`` searches the plan and, when it finds nothing, relaxes it one step at
a time (any of the remaining words instead of all, then none, then a topic widens to its theme, then
theme, then support and format, then a city widens to its country) until something is found or nothing is left to
relax, and says what it relaxed: a person is never left at a dead end without
knowing why, and never shown the whole world under a place they named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from search.backends.base import SearchResult
from search.request import SearchRequest, Sort

# Request fields that understanding may fill, in the order they are relaxed
# when a search finds nothing (the place is kept longest: it is what people
# are surest of).
UNDERSTOOD_FIELDS = ("theme", "topic", "support", "work_mode", "duration_class", "activity_type", "programme",
                     "city", "country")
RELAX_ORDER = ("words", "text", "topic", "theme", "support", "work_mode", "duration_class", "activity_type",
               "programme", "city")
CITY_RADIUS_KM = 30.0


def _city_country(name: str) -> str | None:
    from pipeline.normalize.places.gazetteer import gazetteer

    city = gazetteer().lookup(name)
    return city.country if city is not None else None


def _city_point(name: str) -> tuple[float, float] | None:
    from pipeline.normalize.places.gazetteer import gazetteer

    city = gazetteer().lookup(name)
    return (city.lat, city.lon) if city is not None else None


def _topic_theme(topic_id: str) -> str:
    from search.understanding.topics import topics

    return topics()[topic_id].theme


def plan(req: SearchRequest) -> tuple[SearchRequest, dict[str, Any] | None]:
    """The request to run and what was understood (None: nothing was)."""
    if not req.understand or not req.text:
        return req, None
    from search.understanding import understand

    found = understand(req.text)
    update: dict[str, Any] = {}
    understood: dict[str, Any] = {}
    for field in UNDERSTOOD_FIELDS:
        values = list(dict.fromkeys(v for v in getattr(found, field, []) if v))
        if not values or getattr(req, field) or field in req.ignore:  # an explicit choice wins
            continue
        if field == "city":
            # A city is searched as the area around the gazetteer's point: it
            # finds the listings in its suburbs and those whose source gave
            # only coordinates, not just those with the city's name.
            point = _city_point(values[0])
            if point is None or req.lat is not None:
                continue
            update.update(lat=point[0], lon=point[1], within_km=CITY_RADIUS_KM)
            values = values[:1]
        elif field == "country":  # a region ("Africa", CLDR "002") is a filter over its countries
            from search.understanding.regions import expand

            update[field] = expand(values)
        else:
            update[field] = values
        understood[field] = values
    text = " ".join((found.text or "").split())
    if not understood and text == " ".join(req.text.split()):
        return req, None
    update["q"] = text or None
    if text and understood:
        # what was understood carries the search; the words left over rank
        # its listings ("insurance included": every listing with insurance,
        # those saying "included" first), they no longer filter them out
        update["rank_words"] = True
    elif "city" in understood and not req.topic and not found.topic and req.sort == Sort.relevance:
        update["sort"] = Sort.distance  # "Norderstedt": its own listings first, then those around it
    understood["text"] = text
    return req.model_copy(update=update), understood


def run(search: Callable[[SearchRequest], SearchResult], req: SearchRequest) -> SearchResult:
    """Search ``req`` as understood; relax what was understood while nothing is found.

    Words nobody understood are only ever relaxed to "any of them": a search
    for words alone never becomes a list of everything."""
    planned, understood = plan(req)
    result = search(planned)
    # Something understood (if only "volunteering" as a generic word): the
    # unknown words may go, and the page says so, rather than a dead end.
    steps = RELAX_ORDER if understood is not None else ("words",)
    relaxed: list[str] = []
    current, first = planned, result
    for step in steps:
        if result.total > 0:
            break
        widened = _relax(step, current, understood or {}, req)
        if widened is None:
            continue
        current = widened
        relaxed.append(step)
        result = search(current)
    if result.total == 0:  # relaxing found nothing either: show the search as asked, nothing left out
        result, relaxed = first, []
    return result.model_copy(update={"understood": understood, "relaxed": relaxed})


def _relax(step: str, current: SearchRequest, understood: dict[str, Any],
           req: SearchRequest) -> SearchRequest | None:
    """``current`` widened by one step (``understood`` updated with what it
    now holds), or None when the step has nothing to widen."""
    update: dict[str, Any]
    if step == "words":  # any of the words, those matching more first, before none of them
        if current.any_words or current.rank_words or len((current.q or "").split()) < 2:
            return None
        update = {"any_words": True}
    elif step == "text":
        if not current.q or current.rank_words:  # words that only rank hide nothing
            return None
        update = {"q": None, "any_words": False}
    elif step == "city" and "city" in understood:
        # the city's country, not the whole world: "London" with no listing
        # near London must not look like a list of London's listings
        country = _city_country(understood["city"][0])
        update = {"lat": None, "lon": None, "within_km": None}
        if current.sort == Sort.distance and req.sort != Sort.distance:  # the nearest-first plan set it
            update["sort"] = Sort.relevance
        if country and not current.country:
            update["country"] = [country]
            understood["country"] = [country]
    elif step == "topic" and "topic" in understood:
        # "hospice" with no listing naming one: the listings of its theme (health)
        update = {"topic": []}
        if not current.theme and "theme" not in req.ignore:
            themes = list(dict.fromkeys(_topic_theme(t) for t in understood["topic"]))
            update["theme"] = themes
            understood["theme"] = themes
    elif step in understood:
        update = {step: []}
    else:
        return None
    return current.model_copy(update=update)
