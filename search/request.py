"""What a person asked for: one search, identical for the API, the UI, feeds
and saved searches, whichever backend answers it.

:class:`SearchRequest` holds the text, the facet selections (:data:`FACETS`),
the other filters, the sort order and the page or cursor, validated and
normalised (country codes upper case, language codes lower case). How a
backend answers it, and the answer itself, live in ``search.backends``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

FACETS = (
    "country", "city", "theme", "activity_type", "duration_class", "work_mode", "language",
    "required_language", "programme", "organisation", "support", "source",
)
# Facets whose selected values must all hold (AND); the others are OR-ed.
ALL_OF_FACETS = frozenset({"support"})
SUPPORT_ITEMS = (
    "accommodation", "food", "travel", "insurance", "allowance", "language_course", "training",
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_PAGE_SIZE = 100
MAX_WINDOW = 10_000  # deepest result reachable by page (Elasticsearch's max_result_window)


class Sort(StrEnum):
    relevance = "relevance"  # text score; newest when there is no text
    deadline = "deadline"  # soonest deadline first, listings without one last
    newest = "newest"  # first seen by tilts, newest first
    distance = "distance"  # nearest first (needs a point)


class SearchRequest(BaseModel):
    """One search, identical for the API, the UI, feeds and saved searches."""

    q: str | None = Field(default=None, max_length=500, description="Free text (typos tolerated)")
    # facets
    country: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes")
    city: list[str] = Field(default_factory=list)
    theme: list[str] = Field(default_factory=list)
    activity_type: list[str] = Field(default_factory=list)
    duration_class: list[str] = Field(default_factory=list)
    work_mode: list[str] = Field(default_factory=list, description="onsite, remote, hybrid")
    language: list[str] = Field(default_factory=list, description="Language of the listing")
    required_language: list[str] = Field(default_factory=list, description="A language the listing requires")
    programme: list[str] = Field(default_factory=list)
    organisation: list[str] = Field(default_factory=list)
    support: list[str] = Field(default_factory=list, description="All of these must be offered")
    source: list[str] = Field(default_factory=list)
    # filters
    topic: list[str] = Field(
        default_factory=list,
        description="Topics (vocabulary/topics.yaml: museum, elderly, summer_camp…): the listing's title or "
                    "description names one of them, in any language",
    )
    speaks: list[str] = Field(
        default_factory=list,
        description="Languages I speak: only listings requiring no other language",
    )
    age: int | None = Field(default=None, ge=0, le=120, description="My age fits the age limits")
    resident: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$",
        description="Where I live: listings open to residents of this country",
    )
    deadline_from: date | None = None
    deadline_to: date | None = None
    start_from: date | None = None
    start_to: date | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    within_km: float | None = Field(default=None, gt=0, le=20_000)
    changed_since: datetime | None = Field(
        default=None, description="New or changed since: first seen then, or updated by the source since"
    )
    status: list[str] = Field(default_factory=lambda: ["open"])
    like: str | None = Field(default=None, max_length=200, description="More like this opportunity id")
    understand: bool = Field(
        default=True,
        description="Read places, themes, support and format out of q (in any supported language) as filters; "
                    "false searches the words as typed",
    )
    any_words: bool = Field(
        default=False,
        description="Match listings with any of q's words (ranked by how well they match) instead of all of them",
    )
    rank_words: bool = Field(
        default=False,
        description="q's words only rank the listings the other filters find (those with more of them first) "
                    "instead of filtering them: the words left over when a search was understood",
    )
    ignore: list[Literal["country", "city", "theme", "topic", "support", "work_mode", "duration_class",
                         "activity_type", "programme"]] = Field(
        default_factory=list,
        description="Understood filters to leave out (the × on one of them in the UI); their words are not searched",
    )
    # presentation
    sort: Sort = Sort.relevance
    collapse: bool = True
    page: int = Field(default=1, ge=1, le=MAX_WINDOW)
    size: int = Field(default=20, ge=0, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=2000, description="next_cursor of the previous page")

    @field_validator("q")
    @classmethod
    def _q(cls, value: str | None) -> str | None:
        # Control characters mean nothing in a search and cannot be written
        # into XML (the feeds echo the query): they become spaces.
        return _CONTROL.sub(" ", value) if value is not None else None

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: list[str]) -> list[str]:
        from search.understanding.topics import topics

        known = topics()
        unknown = [t for t in value if t not in known]
        if unknown:
            raise ValueError(f"unknown topic {unknown[0]!r}")
        return list(dict.fromkeys(value))

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchRequest:
        self.country = [c.upper() for c in self.country]
        self.language = [c.lower() for c in self.language]
        self.required_language = [c.lower() for c in self.required_language]
        self.speaks = [c.lower() for c in self.speaks]
        if self.changed_since is not None and self.changed_since.tzinfo is None:
            self.changed_since = self.changed_since.replace(tzinfo=UTC)
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.within_km is not None and self.lat is None:
            raise ValueError("within_km needs lat and lon (or a place name)")
        if self.sort == Sort.distance and self.lat is None:
            raise ValueError("sort=distance needs lat and lon (or a place name)")
        if self.page * max(self.size, 1) > MAX_WINDOW:
            raise ValueError(f"page × size may not exceed {MAX_WINDOW}; use cursor to go deeper")
        if self.cursor and decode_cursor(self.cursor).get("o", 0) + self.size > MAX_WINDOW:
            raise ValueError(f"a cursor may not reach past result {MAX_WINDOW}")
        return self

    @property
    def text(self) -> str | None:
        return self.q.strip() if self.q and self.q.strip() else None

    @property
    def effective_sort(self) -> Sort:
        if self.sort == Sort.relevance and not self.text and not self.like and not self.topic:
            return Sort.newest
        return self.sort

    def query_pairs(self) -> list[tuple[str, str]]:
        """This request as URL query parameters (defaults, page and cursor left
        out): the links of the UI, feeds and digests."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"cursor", "page"})
        return [(k, str(item).lower() if isinstance(item, bool) else str(item))
                for k, v in data.items() for item in (v if isinstance(v, list) else [v])]

    def filters(self) -> dict[str, list[str]]:
        """Facet name → selected values (only non-empty ones)."""
        return {f: getattr(self, f) for f in FACETS if getattr(self, f)}

    def offset(self) -> int:
        """Where this page starts (a cursor overrides page)."""
        if self.cursor:
            offset: int = decode_cursor(self.cursor).get("o", 0)
            return offset
        return (self.page - 1) * self.size


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """An opaque cursor back to its state; a bad one is a ValueError (422).

    Cursors come back from clients, so they are read strictly: a bounded
    length (the field's max_length) and nesting, only the keys tilts writes
    ("o": an offset within the result window; "a": Elasticsearch's
    search_after values), bounded numbers and strings."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
    try:
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(state, dict) or not state or set(state) - {"o", "a"}:
        raise ValueError("invalid cursor")
    offset = state.get("o", 0)
    if type(offset) is not int or not 0 <= offset <= MAX_WINDOW:
        raise ValueError("invalid cursor")
    after = state.get("a", [])
    if not isinstance(after, list) or len(after) > _MAX_SORT_KEYS or not all(map(_sort_value, after)):
        raise ValueError("invalid cursor")
    return state


_MAX_SORT_KEYS = 8


def _sort_value(value: Any) -> bool:
    """One search_after value as Elasticsearch returns them: a long, a double, a short string or null."""
    if value is None:
        return True
    if type(value) is int:
        return -(2**63) <= value < 2**63
    if type(value) is float:
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= 512
