"""RawOpportunity → Opportunity: a pure function, one module per concern.

``normalize(raw)`` raises :class:`pipeline.events.InvalidEvent` for a listing
that can never become an Opportunity (no title); everything else is filled as
well as the raw event allows and left unknown otherwise.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from pipeline.events import (
    ActivityType,
    GeoPoint,
    InvalidEvent,
    Location,
    Opportunity,
    Organisation,
    Provenance,
    RawOpportunity,
    Status,
    opportunity_id,
)
from pipeline.normalize.dates import parse_date
from pipeline.normalize.places import country_code, parse_coordinate
from pipeline.normalize.text import html_to_text, one_line, sanitize_html, summarize

_TRUE = {"true", "yes", "1", "telecommute", "remote", "online"}
_ACTIVITY = {
    "VOLUNTEER": ActivityType.volunteering,
    "INTERN": ActivityType.traineeship,
    "FULL_TIME": ActivityType.job,
    "PART_TIME": ActivityType.job,
    "CONTRACTOR": ActivityType.job,
    "TEMPORARY": ActivityType.job,
}


def _activity(employment_type: str | None) -> ActivityType:
    for token in (employment_type or "").upper().replace(",", " ").split():
        if token in _ACTIVITY:
            return _ACTIVITY[token]
    return ActivityType.volunteering


def content_hash(opp: Opportunity) -> str:
    """Hash of what the listing says (not when we saw it): unchanged re-crawls match."""
    body = opp.model_dump(mode="json", exclude={"provenance", "status"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def normalize(raw: RawOpportunity, now: datetime | None = None) -> Opportunity:
    now = now or datetime.now(UTC)
    title = one_line(raw.title)
    if not title:
        raise InvalidEvent("RawOpportunity: field 'title': missing or empty after cleaning", "title")
    langs = [raw.source_language] if raw.source_language else None

    def when(value: str | None):  # noqa: ANN202 - local helper
        return parse_date(value, languages=langs, relative_base=raw.fetched_at)

    description_text = html_to_text(raw.description_html)
    country = country_code(raw.country) or country_code(raw.default_country)
    lat = parse_coordinate(raw.latitude, 90)
    lon = parse_coordinate(raw.longitude, 180)
    location = Location(
        country=country,
        region=one_line(raw.region) or None,
        city=one_line(raw.city) or None,
        postal_code=one_line(raw.postal_code) or None,
        geo=GeoPoint(lat=lat, lon=lon) if lat is not None and lon is not None else None,
    )
    has_location = any(v for v in location.model_dump().values())
    deadline = when(raw.deadline)
    end_date = when(raw.end_date)
    status = Status.open
    if deadline and deadline < now.date() or (end_date and end_date < now.date()):
        status = Status.expired
    opp_id = opportunity_id(raw.source_id, raw.external_id)
    opp = Opportunity(
        id=opp_id,
        cluster_id=opp_id,
        source_id=raw.source_id,
        external_id=raw.external_id,
        programme=raw.programme,
        url=str(raw.url),
        apply_url=raw.apply_url,
        title=title,
        summary=summarize(description_text),
        description_text=description_text,
        description_html=sanitize_html(raw.description_html),
        language=raw.source_language,
        organisation=Organisation(
            name=one_line(raw.organisation_name) or None, url=raw.organisation_url
        ),
        locations=[location] if has_location else [],
        remote=(raw.remote or "").strip().lower() in _TRUE,
        start_date=when(raw.start_date),
        end_date=end_date,
        deadline=deadline,
        posted_date=when(raw.posted_date),
        updated_date=when(raw.updated_date),
        activity_type=_activity(raw.employment_type),
        places_available=int(raw.places_available) if (raw.places_available or "").isdigit() else None,
        status=status,
        provenance=Provenance(
            first_seen=raw.fetched_at,
            last_seen=raw.fetched_at,
            content_hash="",
            crawl_id=raw.crawl_id,
            extraction_method=raw.extraction_method,
        ),
    )
    opp.provenance.content_hash = content_hash(opp)
    return opp
