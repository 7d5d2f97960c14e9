"""Items a spider yields besides RawOpportunity dicts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CrawlDeadLetter:
    """A page (or part of one) that could not be extracted: goes to the DLQ."""

    url: str
    reason: str
    body: bytes
