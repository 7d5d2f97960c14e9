"""The event contract: topic names and the pydantic models carried on them.

Every event is JSON with a ``schema_version``. On the wire a message also
carries the headers ``content-type`` (``application/json``) and
``schema-version``. Parsing never guesses: a payload that is not valid JSON or
violates the model raises :class:`InvalidEvent` naming the offending field, and
the worker that saw it sends the original bytes to the dead-letter topic.

Topics (see ARCHITECTURE.md):

- ``opportunities.raw.v1``: key ``source_id:external_id``, value RawOpportunity.
- ``opportunities.normalized.v1``: key opportunity id, value Opportunity or a
  tombstone (``None``); log-compacted.
- ``opportunities.dlq.v1``: key as the original, value the original bytes,
  headers naming stage, error class and message.
- ``crawl.stats.v1``: key source id, value CrawlStats.

The link gate (``web_url``, ``WebUrl``) lives in ``pipeline.urls`` and the
closed vocabularies (``ActivityType``, ``Theme``...) in
``pipeline.vocabularies``; both are part of this contract and importable from
here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import AfterValidator, AnyUrl, BaseModel, ConfigDict, Field, ValidationError, model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from pipeline.urls import MAX_URL_CHARS, WEB_SCHEMES, WebUrl, require_web_url, web_url
from pipeline.vocabularies import ActivityType, DurationClass, Status, Theme, WorkMode

__all__ = [
    "ALL_TOPICS", "CLUSTERING_TOPIC", "CLUSTERS_TOPIC", "COMPACTED_TOPICS", "CONTENT_TYPE", "CRAWL_STATS_TOPIC",
    "DLQ_TOPIC", "MAX_PLACES",
    "MAX_URL_CHARS", "NORMALIZED_TOPIC", "RAW_TOPIC", "SCHEMA_VERSION", "WEB_SCHEMES", "ActivityType",
    "CrawlStats", "DeadLetter", "DurationClass", "Eligibility", "Event", "GeoPoint", "InvalidEvent",
    "LanguageRequirement", "Location", "Opportunity", "Organisation", "Provenance", "RawOpportunity",
    "Status", "Support", "Theme", "WebUrl", "WorkMode", "dead_letter_headers", "event_headers",
    "opportunity_id", "parse_event", "stable_hash", "web_url",
]

RAW_TOPIC = "opportunities.raw.v1"
NORMALIZED_TOPIC = "opportunities.normalized.v1"
DLQ_TOPIC = "opportunities.dlq.v1"
CRAWL_STATS_TOPIC = "crawl.stats.v1"
# The clustering stage (``pipeline.clusterer``), when normalizers are stateless:
# normalized listings awaiting their cluster, keyed by their clustering block,
# and the stage's changelog, each record in its input's partition.
CLUSTERING_TOPIC = "opportunities.clustering.v1"
CLUSTERS_TOPIC = "opportunities.clusters.v1"
ALL_TOPICS = (RAW_TOPIC, NORMALIZED_TOPIC, DLQ_TOPIC, CRAWL_STATS_TOPIC, CLUSTERING_TOPIC, CLUSTERS_TOPIC)
COMPACTED_TOPICS = frozenset({NORMALIZED_TOPIC, CLUSTERS_TOPIC})

CONTENT_TYPE = "application/json"
SCHEMA_VERSION: Final = 1



class InvalidEvent(ValueError):
    """A payload that can never be processed: bad JSON or a contract violation.

    ``field`` names the first offending field (dotted path) when known.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Event(BaseModel):
    """Base of every event: strict about unknown fields, JSON round-trippable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode("utf-8")

    def headers(self) -> list[tuple[str, bytes]]:
        return event_headers()


E = TypeVar("E", bound=Event)


def event_headers() -> list[tuple[str, bytes]]:
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("schema-version", str(SCHEMA_VERSION).encode()),
    ]


def parse_event(model: type[E], payload: bytes | str | None) -> E:
    """Parse and validate ``payload`` as ``model`` or raise :class:`InvalidEvent`."""
    if payload is None:
        raise InvalidEvent(f"{model.__name__}: empty payload")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"{model.__name__}: payload is not UTF-8 ({exc.reason})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"{model.__name__}: invalid JSON: {exc.msg} at {exc.pos}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise InvalidEvent(
            f"{model.__name__}: field '{field}': {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""),
            field=field,
        ) from exc


# --------------------------------------------------------------------------- raw


class RawOpportunity(Event):
    """What a spider saw on one listing, as strings, before any interpretation.

    Fields are optional because sources publish different subsets; the
    normalizer decides what is required. ``structured`` keeps the original
    structured record (e.g. the JSON-LD object) so later normalizer versions
    can re-derive fields from a replay without re-crawling.
    """

    source_id: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=2000)
    url: Annotated[AnyUrl, AfterValidator(require_web_url)]  # the listing's page: http(s) only
    crawl_id: str = Field(min_length=1)
    fetched_at: datetime
    extraction_method: Literal[
        "json-ld", "microdata", "rdfa", "feed", "api", "wordpress", "ical", "selectors"
    ]
    programme: str | None = None
    source_language: str | None = None
    default_country: str | None = None

    title: str | None = None
    description_html: str | None = None
    organisation_name: str | None = None
    organisation_url: str | None = None
    apply_url: str | None = None
    location_text: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    postal_code: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    remote: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    deadline: str | None = None
    posted_date: str | None = None
    updated_date: str | None = None
    employment_type: str | None = None
    categories: list[str] = Field(default_factory=list)
    places_available: str | None = None
    duration_text: str | None = None  # e.g. "ongoing", "onetime", "2-12 months"
    eligible_countries: list[str] = Field(default_factory=list)  # e.g. ESC volunteer_countries
    # A section of its own where the source says what the host covers (the
    # European Youth Portal's "Accommodation, food and transport arrangements").
    support_text: str | None = None
    attribution: str | None = None  # e.g. "European Youth Portal, CC BY 4.0"
    structured: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.source_id}:{self.external_id}"


# -------------------------------------------------------------------- normalized


class Organisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    url: WebUrl | None = None
    identifier: str | None = None  # e.g. the ESC PIC


class GeoPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    region: str | None = None
    city: str | None = None
    postal_code: str | None = None
    geo: GeoPoint | None = None


class LanguageRequirement(BaseModel):
    """A language a listing names: its CEFR level, and whether it is required.

    ``one_of`` groups alternatives: required requirements of one listing with
    the same number are one requirement that any of them meets ("English or
    Russian": both with ``one_of=1``). ``None``, the default and the meaning
    of every event written before the field existed, is a requirement of its
    own. Numbers are compared within one listing only, and mean nothing on a
    requirement that is not required. Each language keeps its own level.
    """

    model_config = ConfigDict(extra="forbid")
    language: str  # ISO 639-1
    level: str | None = None  # CEFR A1..C2
    required: bool = True
    one_of: int | None = Field(default=None, ge=1)

    @model_serializer(mode="wrap")
    def _without_default_group(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A requirement standing alone is written as before the field
        existed: its content hash is unchanged, and consumers of the earlier
        contract still read it."""
        data: dict[str, Any] = handler(self)
        if self.one_of is None:
            data.pop("one_of", None)
        return data


class Eligibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age_min: int | None = Field(default=None, ge=0, le=120)
    age_max: int | None = Field(default=None, ge=0, le=120)
    residence_countries: list[str] = Field(default_factory=list)
    nationality_countries: list[str] = Field(default_factory=list)
    languages: list[LanguageRequirement] = Field(default_factory=list)

    def required_groups(self) -> list[list[LanguageRequirement]]:
        """The required languages as requirements, each the alternatives that
        meet it (one language, or those sharing a ``one_of``), in the order
        the listing names them: a person meets the listing's language
        requirements when they speak a language of every group."""
        groups: dict[object, list[LanguageRequirement]] = {}
        for i, req in enumerate(r for r in self.languages if r.required):
            groups.setdefault(i if req.one_of is None else ("one_of", req.one_of), []).append(req)
        return list(groups.values())


class Support(BaseModel):
    """What the host covers; ``None`` means the listing does not say."""

    model_config = ConfigDict(extra="forbid")
    accommodation: bool | None = None
    food: bool | None = None
    travel: bool | None = None
    insurance: bool | None = None
    allowance: bool | None = None
    language_course: bool | None = None
    training: bool | None = None


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_seen: datetime
    last_seen: datetime
    content_hash: str
    crawl_id: str | None = None
    extraction_method: str | None = None
    also_listed_on: list[str] = Field(default_factory=list)
    attribution: str | None = None  # e.g. "European Youth Portal, CC BY 4.0"
    # What the normalizer refused and left out, as "field: reason" (a
    # javascript: apply link, a date in the year 9999, "²" places): the
    # listing is kept, the field is not, and the reason stays visible.
    dropped: list[str] = Field(default_factory=list)


MAX_PLACES = 100_000


class Opportunity(Event):
    """A normalized opportunity: the document indexed and served."""

    id: str = Field(min_length=1)
    cluster_id: str
    source_id: str
    external_id: str
    programme: str | None = None
    url: WebUrl
    apply_url: WebUrl | None = None
    title: str = Field(min_length=1)
    summary: str = ""
    description_text: str = ""
    description_html: str = ""
    language: str | None = None
    organisation: Organisation = Field(default_factory=Organisation)
    locations: list[Location] = Field(default_factory=list)
    remote: bool = False  # True for remote and hybrid work
    work_mode: WorkMode = WorkMode.onsite
    start_date: date | None = None
    end_date: date | None = None
    deadline: date | None = None
    posted_date: date | None = None
    updated_date: date | None = None
    duration_class: DurationClass = DurationClass.unknown
    duration_min_days: int | None = Field(default=None, ge=0)
    duration_max_days: int | None = Field(default=None, ge=0)
    themes: list[Theme] = Field(default_factory=lambda: [Theme.other])
    activity_type: ActivityType = ActivityType.volunteering
    eligibility: Eligibility = Field(default_factory=Eligibility)
    support: Support = Field(default_factory=Support)
    places_available: int | None = Field(default=None, ge=0, le=MAX_PLACES)
    status: Status = Status.open
    provenance: Provenance

    @property
    def countries(self) -> list[str]:
        return sorted({loc.country for loc in self.locations if loc.country})


# ------------------------------------------------------------------ operational


class DeadLetter(Event):
    """The view of a dead-lettered message (``tilts dlq list``).

    On the bus the DLQ value is the original bytes; stage, error and origin
    travel in headers (see :func:`dead_letter_headers`). ``payload`` holds the
    original value decoded as UTF-8 with replacement, for display only.
    """

    original_topic: str
    key: str | None = None
    stage: str
    error_class: str
    error_message: str
    failed_at: datetime
    payload: str | None = None


def dead_letter_headers(
    *, original_topic: str, stage: str, error: BaseException, failed_at: datetime
) -> list[tuple[str, bytes]]:
    message = str(error)[:2000]
    return [
        ("content-type", b"application/octet-stream"),
        ("dlq-original-topic", original_topic.encode()),
        ("dlq-stage", stage.encode()),
        ("dlq-error-class", type(error).__name__.encode()),
        ("dlq-error-message", message.encode("utf-8", "replace")),
        ("dlq-failed-at", failed_at.isoformat().encode()),
    ]


class CrawlStats(Event):
    """One report per crawl run, keyed by source id."""

    source_id: str
    crawl_id: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float = Field(ge=0)
    pages: int = Field(ge=0)
    items: int = Field(ge=0)
    errors: int = Field(ge=0)
    dead_letters: int = Field(default=0, ge=0)
    status_counts: dict[str, int] = Field(default_factory=dict)
    finish_reason: str = "finished"
    # True when the run saw everything the source publishes (a full crawl of a
    # registered source that finished without errors): listings it did not
    # find count as missing, and after several such runs they are closed.
    complete: bool = False
    new: int = Field(default=0, ge=0)
    changed: int = Field(default=0, ge=0)
    unchanged: int = Field(default=0, ge=0)  # not published again
    not_modified: int = Field(default=0, ge=0)  # conditional GETs answered 304
    # External ids missing from the source's last complete crawls: to close.
    missing: list[str] = Field(default_factory=list)
    errors_by_kind: dict[str, int] = Field(default_factory=dict)  # errors == their sum
    # Counted anomalies that lost nothing, e.g. encoding_mismatch (a page
    # declared UTF-8 but written in cp1257, read in its real encoding).
    warnings_by_kind: dict[str, int] = Field(default_factory=dict)
    robots_denials: int = Field(default=0, ge=0)
    offsite_filtered: int = Field(default=0, ge=0)


def stable_hash(data: Any) -> str:
    """The same hash for the same JSON-able content, on any machine (key order ignored)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


def opportunity_id(source_id: str, external_id: str) -> str:
    """Stable id: the same listing always gets the same id, on any machine."""
    digest = hashlib.blake2b(f"{source_id}:{external_id}".encode(), digest_size=10).hexdigest()
    return f"{source_id}-{digest}"
