"""RawOpportunity → Opportunity: a pure function, one module per concern.

``normalize(raw)`` raises :class:`pipeline.events.InvalidEvent` for a listing
that can never become an Opportunity (no title); everything else is filled as
well as the raw event allows and left unknown otherwise. Structured fields
win over what is read from the text; the text fills what they leave out.

Modules: ``text`` (plain text, safe HTML, sentences), ``language`` (content
language, required languages), ``dates`` (dates, deadlines, durations),
``places`` (countries, cities, gazetteer), ``themes`` (taxonomy),
``eligibility`` (ages, support), ``activity`` (activity type, programme,
remote), ``dedupe`` (near-duplicate clusters).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pipeline.events import (
    MAX_PLACES,
    Eligibility,
    GeoPoint,
    InvalidEvent,
    Location,
    Opportunity,
    Organisation,
    Provenance,
    RawOpportunity,
    Status,
    Support,
    opportunity_id,
    stable_hash,
    web_url,
)
from pipeline.normalize import activity, eligibility, language, places, themes
from pipeline.normalize.dates import duration, parse_date, text_dates
from pipeline.normalize.text import (
    html_to_text,
    one_line,
    sanitize_html,
    sentences,
    strip_unsafe,
    summarize,
)

# Bounds that keep one record's cost bounded whatever a source sends; a longer
# description is shortened with a visible marker pointing to the source.
MAX_HTML_CHARS = 200_000
MAX_TEXT_CHARS = 50_000
MAX_TITLE_CHARS = 500
# Dates outside this window are a source's typo or a placeholder ("9999-12-31"):
# dropped (and named in provenance.dropped), never shown or computed with.
EARLIEST_DATE = date(1990, 1, 1)
LATEST_DATE = date(2100, 12, 31)
_PLACES = re.compile(r"[0-9]{1,6}")


def content_hash(opp: Opportunity) -> str:
    """Hash of what the listing says (not when we saw it): unchanged re-crawls match."""
    return stable_hash(opp.model_dump(mode="json", exclude={"provenance", "status", "cluster_id"}))


def _city_name(raw: RawOpportunity, country: str | None) -> str | None:
    """The city as the source wrote it: its city field, else the town of its address."""
    city = one_line(raw.city)
    if city:
        return city
    return places.city_from_location(one_line(raw.location_text), country)


# Languages whose place names change form with their role in the sentence
# ("Igaunijā", "в Эстонии", "w Niemczech"): there an inflected country name
# after a preposition says where; in German "ins Kino" it is no country at all.
_INFLECTING = frozenset({"lv", "lt", "et", "pl", "ru", "uk", "be", "cs", "sk", "sl", "hr", "sr",
                         "bs", "bg", "fi", "hu"})


def _locate(raw: RawOpportunity, title: str, text: str, remote: bool) -> Location | None:
    """Where the listing is.

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
    structured = places.country_code(raw.country)
    default = places.country_code(raw.default_country)
    inflecting = (raw.source_language or "").lower()[:2] in _INFLECTING
    hint, mentioned = structured or default, None
    if hint is None:  # only the title may say which country's Valencia it is
        mentioned = places.location_countries_in(title, None, inflecting=inflecting)
        hint = mentioned[0] if mentioned else None
    written = _city_name(raw, hint)
    place = places.resolve_city(written, hint, anywhere=structured is None)
    city = place.city if place else None
    city_name = place.name if place else None
    country = structured or (city.country if city else None)
    if country is None:
        if mentioned is None:
            mentioned = places.location_countries_in(title, default, inflecting=inflecting)
        if not city_name and not remote:
            hint = mentioned[0] if mentioned else default
            first = sentences(text)[:1]
            city = places.city_in_text(title, hint, default, inflecting=inflecting) or (
                places.city_in_text(first[0], hint, default, skip_first=True, inflecting=inflecting)
                if first else None)
            city_name = city.label if city else None
        if mentioned:
            country = mentioned[0]
            if city is not None and city.country != country:  # a city of the title's country only
                city = None
                city_name = place.name if place else None
        elif city is not None:
            country = city.country
        elif raw.location_text and (found := places.location_countries_in(raw.location_text)):
            country = found[0]
        elif not remote:
            country = default
    lat = places.parse_coordinate(raw.latitude, 90)
    lon = places.parse_coordinate(raw.longitude, 180)
    geo = None
    if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        geo = GeoPoint(lat=lat, lon=lon)
    elif city is not None:
        geo = GeoPoint(lat=city.lat, lon=city.lon)
    location = Location(
        country=country,
        region=one_line(raw.region) or (place.district if place else None) or None,
        city=city_name or None,
        postal_code=one_line(raw.postal_code) or (place.postal_code if place else None) or None,
        geo=geo,
    )
    return location if any(v for v in location.model_dump().values()) else None


def _link(raw: RawOpportunity, name: str, dropped: list[str]) -> str | None:
    """An http(s) link field resolved against the listing's page, or None (noted)."""
    value = getattr(raw, name)
    if value is None or not value.strip():
        return None
    url = web_url(value, str(raw.url))
    if url is None:
        dropped.append(f"{name}: not an http(s) URL")
    return url


def _places(value: str | None, dropped: list[str]) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if _PLACES.fullmatch(text) and int(text) <= MAX_PLACES:
        return int(text)
    dropped.append("places_available: not a number of places")
    return None


def _support(text: str, section: str | None) -> Support:
    """Support stated in the text, overridden by a section that says what the host covers."""
    found = eligibility.support(text)
    if not section:
        return found
    stated = eligibility.support(section, section=True).model_dump(exclude_none=True)
    return found.model_copy(update=stated)


def normalize(raw: RawOpportunity, now: datetime | None = None) -> Opportunity:
    now = now or datetime.now(UTC)
    dropped: list[str] = []
    title = one_line(raw.title)[:MAX_TITLE_CHARS]
    if not title:
        raise InvalidEvent("RawOpportunity: field 'title': missing or empty after cleaning", "title")
    raw_html = strip_unsafe((raw.description_html or "")[:MAX_HTML_CHARS])
    description_text = html_to_text(raw_html)
    text = description_text[:MAX_TEXT_CHARS]
    if len(raw.description_html or "") > MAX_HTML_CHARS or len(description_text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 40].rstrip() + "\n\n[…] (shortened; see the source)"
    categories = [one_line(c) for c in raw.categories if c and c.strip()]
    detected = language.detect_language(f"{title}\n{text}", raw.source_language)
    langs = list(dict.fromkeys(x for x in (detected, raw.source_language) if x))

    def sane(name: str, value: date | None) -> date | None:
        if value is None or EARLIEST_DATE <= value <= LATEST_DATE:
            return value
        dropped.append(f"{name}: {value.isoformat()} is outside {EARLIEST_DATE.year}–{LATEST_DATE.year}")
        return None

    def when(name: str, end: bool = False) -> date | None:
        value = parse_date(getattr(raw, name), languages=langs, relative_base=raw.fetched_at, end=end)
        return sane(name, value)

    found = text_dates(text, raw.fetched_at.date())
    start = when("start_date") or sane("start_date", found.start)
    end = when("end_date", end=True)
    if end is None and found.start in (None, start):
        end = sane("end_date", found.end)
    deadline = when("deadline") or sane("deadline", found.deadline)
    mode = activity.work_mode(raw.remote, title, text)
    is_remote = mode.value == "remote"
    location = _locate(raw, title, text, is_remote)
    kind = activity.activity_type(raw.employment_type, title, categories)
    programme = activity.programme(raw.programme, title, categories, text)
    age_min, age_max = eligibility.age_range(text)
    if age_min is None and kind.value in ("volunteering", "solidarity_project"):
        age_min, age_max = eligibility.programme_age(
            programme, activity.humanitarian(title, raw.structured))
    residence = [c for c in (places.country_code(x) for x in raw.eligible_countries) if c]
    span = duration(start, end, text, raw.duration_text,
                    start_is_day=bool(raw.start_date) or not found.start_is_month)
    status = Status.open
    today = now.date()
    if (deadline and deadline < today) or (end and end < today):
        status = Status.expired
    opp_id = opportunity_id(raw.source_id, raw.external_id)
    opp = Opportunity(
        id=opp_id,
        cluster_id=opp_id,
        source_id=raw.source_id,
        external_id=raw.external_id,
        programme=programme,
        url=str(raw.url),
        apply_url=_link(raw, "apply_url", dropped),
        title=title,
        summary=summarize(text),
        description_text=text,
        description_html=sanitize_html(raw_html),
        language=detected,
        organisation=Organisation(
            name=one_line(raw.organisation_name) or None, url=_link(raw, "organisation_url", dropped),
            identifier=str((raw.structured or {}).get("pic") or "") or None,
        ),
        locations=[location] if location else [],
        remote=mode.value != "onsite",
        work_mode=mode,
        start_date=start,
        end_date=end,
        deadline=deadline,
        posted_date=when("posted_date"),
        updated_date=when("updated_date"),
        duration_class=span.cls,
        duration_min_days=span.min_days,
        duration_max_days=span.max_days,
        themes=themes.classify(title, text, categories, one_line(raw.organisation_name)),
        activity_type=kind,
        eligibility=Eligibility(
            age_min=age_min, age_max=age_max, residence_countries=residence,
            languages=language.required_languages(text),
        ),
        support=_support(text, raw.support_text),
        places_available=_places(raw.places_available, dropped),
        status=status,
        provenance=Provenance(
            first_seen=raw.fetched_at,
            last_seen=raw.fetched_at,
            content_hash="",
            crawl_id=raw.crawl_id,
            extraction_method=raw.extraction_method,
            attribution=raw.attribution,
            dropped=dropped,
        ),
    )
    opp.provenance.content_hash = content_hash(opp)
    return opp
