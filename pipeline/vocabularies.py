"""The closed vocabularies of a normalized opportunity: activity type, duration class,
work mode, status and theme (values of ``pipeline.events.Opportunity``)."""

from __future__ import annotations

from enum import StrEnum


class ActivityType(StrEnum):
    volunteering = "volunteering"
    volunteering_team = "volunteering_team"  # a group of volunteers for a short time (ESC volunteering teams)
    traineeship = "traineeship"
    solidarity_project = "solidarity_project"
    exchange = "exchange"
    job = "job"


class DurationClass(StrEnum):
    one_off = "one_off"
    short_term = "short_term"
    long_term = "long_term"
    ongoing = "ongoing"
    unknown = "unknown"


class WorkMode(StrEnum):
    onsite = "onsite"
    remote = "remote"
    hybrid = "hybrid"


class Status(StrEnum):
    open = "open"
    closed = "closed"
    expired = "expired"


class Theme(StrEnum):
    """One taxonomy, aligned with the European Solidarity Corps topics."""

    environment = "environment"
    inclusion = "inclusion"
    migrants_refugees = "migrants_refugees"
    education = "education"
    culture = "culture"
    health = "health"
    community = "community"
    youth = "youth"
    sport = "sport"
    animals = "animals"
    emergency = "emergency"
    digital = "digital"
    social = "social"
    citizenship = "citizenship"
    employment = "employment"
    other = "other"
