"""RawOpportunity → Opportunity: a pure function, one module per concern.

``normalize(raw)`` raises :class:`pipeline.events.InvalidEvent` for a listing
that can never become an Opportunity (no title); everything else is filled as
well as the raw event allows and left unknown otherwise. Structured fields
win over what is read from the text; the text fills what they leave out.

Modules, in the order ``normalize`` reads a listing: ``text`` (plain text,
safe HTML, sentences), ``language`` (content language, required languages),
``dates`` (dates, deadlines), ``activity`` (activity type, work mode),
``places`` (countries, cities, gazetteer), ``programme`` (programmes and
their age rules), ``eligibility`` (ages, residence, languages),
``durations``, ``themes`` (taxonomy), ``support`` (what the host covers);
``dedupe`` (near-duplicate clusters) runs after, over many listings.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pipeline.events import (
    MAX_PLACES,
    InvalidEvent,
    Opportunity,
    Organisation,
    Provenance,
    RawOpportunity,
    Status,
    WorkMode,
    opportunity_id,
    stable_hash,
    web_url,
)
from pipeline.normalize import activity, dates, durations, eligibility, language, places, programme, support, themes
from pipeline.normalize.text import description, one_line

MAX_TITLE_CHARS = 500
_PLACES = re.compile(r"[0-9]{1,6}")


def normalize(raw: RawOpportunity, now: datetime | None = None) -> Opportunity:
    """The Opportunity a raw listing describes (see the module doc)."""
    now = now or datetime.now(UTC)
    dropped: list[str] = []  # what was refused, as "field: reason"
    title = _title(raw)
    desc = description(raw.description_html)
    text = desc.text
    categories = [one_line(c) for c in raw.categories if c and c.strip()]
    detected = language.detect_language(f"{title}\n{text}", raw.source_language)
    languages = list(dict.fromkeys(x for x in (detected, raw.source_language) if x))
    period = dates.period(raw, text, languages, dropped)
    mode = activity.work_mode(raw.remote, title, text)
    location = places.locate(raw, title, text, remote=mode is WorkMode.remote)
    kind = activity.activity_type(raw.employment_type, title, categories)
    programme_name = programme.programme(raw.programme, title, categories, text)
    span = durations.duration(period.start, period.end, text, raw.duration_text, start_is_day=period.start_is_day)
    apply_url = _link(raw, "apply_url", dropped)
    organisation = _organisation(raw, dropped)
    posted, updated = dates.published(raw, languages, dropped)
    opp_id = opportunity_id(raw.source_id, raw.external_id)
    opp = Opportunity(
        id=opp_id, cluster_id=opp_id, source_id=raw.source_id, external_id=raw.external_id,
        programme=programme_name, url=str(raw.url), apply_url=apply_url, title=title,
        summary=desc.summary, description_text=text, description_html=desc.html, language=detected,
        organisation=organisation, locations=[location] if location else [],
        remote=mode is not WorkMode.onsite, work_mode=mode,
        start_date=period.start, end_date=period.end, deadline=period.deadline,
        posted_date=posted, updated_date=updated,
        duration_class=span.cls, duration_min_days=span.min_days, duration_max_days=span.max_days,
        themes=themes.classify(title, text, categories, one_line(raw.organisation_name)),
        activity_type=kind,
        eligibility=eligibility.of_listing(raw, title, text, kind, programme_name),
        support=programme.programme_support(programme_name, kind, support.listing_support(text, raw.support_text)),
        places_available=_places_available(raw.places_available, dropped),
        status=_status(period, now.date()),
        provenance=Provenance(
            first_seen=raw.fetched_at, last_seen=raw.fetched_at, content_hash="", crawl_id=raw.crawl_id,
            extraction_method=raw.extraction_method, attribution=raw.attribution, dropped=dropped,
        ),
    )
    opp.provenance.content_hash = content_hash(opp)
    return opp


def content_hash(opp: Opportunity) -> str:
    """Hash of what the listing says (not when we saw it): unchanged re-crawls match."""
    return stable_hash(opp.model_dump(mode="json", exclude={"provenance", "status", "cluster_id"}))


def _title(raw: RawOpportunity) -> str:
    """The title on one line, bounded; a listing without one is refused."""
    title = one_line(raw.title)[:MAX_TITLE_CHARS]
    if not title:
        raise InvalidEvent("RawOpportunity: field 'title': missing or empty after cleaning", "title")
    return title


def _link(raw: RawOpportunity, name: str, dropped: list[str]) -> str | None:
    """An http(s) link field resolved against the listing's page, or None (noted)."""
    value = getattr(raw, name)
    if value is None or not value.strip():
        return None
    url = web_url(value, str(raw.url))
    if url is None:
        dropped.append(f"{name}: not an http(s) URL")
    return url


def _organisation(raw: RawOpportunity, dropped: list[str]) -> Organisation:
    return Organisation(
        name=one_line(raw.organisation_name) or None, url=_link(raw, "organisation_url", dropped),
        identifier=str((raw.structured or {}).get("pic") or "") or None,
    )


def _places_available(value: str | None, dropped: list[str]) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if _PLACES.fullmatch(text) and int(text) <= MAX_PLACES:
        return int(text)
    dropped.append("places_available: not a number of places")
    return None


def _status(period: dates.Period, today: date) -> Status:
    """Expired once the deadline or the end has passed, else open."""
    if (period.deadline and period.deadline < today) or (period.end and period.end < today):
        return Status.expired
    return Status.open
