"""What understanding a query yields: the understood values with their spans, and a place matched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_QUERY = 300  # characters understood; the rest stays text
LIST_FIELDS = ("country", "city", "theme", "topic", "support", "work_mode", "duration_class", "activity_type",
               "programme")


class Span(BaseModel):
    """One understood part of the query: ``q[start:end] == text``."""

    model_config = ConfigDict(frozen=True)
    field: str  # country, city, theme, topic, support, work_mode, duration_class, activity_type, programme, generic
    value: str  # "LV", "Riga", "youth", "accommodation", "remote"… ("" for generic words)
    start: int
    end: int
    text: str
    country: str | None = None  # a city's country, for display only


class Understood(BaseModel):
    """What a query says: filters per listing field, and the free text left."""

    model_config = ConfigDict(frozen=True)
    country: list[str] = []  # ISO 3166-1 alpha-2
    city: list[str] = []  # GeoNames names, as pipeline.normalize.places.geonames.City.name
    theme: list[str] = []  # pipeline.events.Theme values
    topic: list[str] = []  # vocabulary/topics.yaml ids: "museum", "elderly" (matched in the listings' text)
    support: list[str] = []  # pipeline.events.Support field names
    work_mode: list[str] = []  # WorkMode values
    duration_class: list[str] = []  # DurationClass values
    activity_type: list[str] = []  # ActivityType values
    programme: list[str] = []  # the listing's programme ("European Solidarity Corps", …)
    text: str = ""
    spans: list[Span] = []

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def filters(self) -> dict[str, list[str]]:
        """The non-empty list fields."""
        return {f: getattr(self, f) for f in LIST_FIELDS if getattr(self, f)}


@dataclass(frozen=True)
class Place:
    length: int  # tokens
    value: str  # a country code or a city's name
    exact: bool  # every word as spelled in a name (no inflection)
    country: str | None = None  # a city's country
    population: int = 0
    english: bool = False
