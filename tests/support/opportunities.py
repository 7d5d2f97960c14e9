"""Normalized opportunities made up for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.events import Location, Opportunity, Organisation, Provenance, Theme


def make_opportunity(
    n: int,
    *,
    title: str = "Volunteer",
    country: str | None = "LV",
    city: str | None = "Riga",
    themes: tuple[Theme, ...] = (Theme.community,),
    description: str = "Help people in your community.",
    language: str = "en",
    org: str = "Red Cross",
) -> Opportunity:
    seen = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)
    return Opportunity(
        id=f"test-{n}",
        cluster_id=f"test-{n}",
        source_id="test",
        external_id=str(n),
        url=f"https://example.org/o/{n}",
        title=title,
        summary=description[:100],
        description_text=description,
        description_html=f"<p>{description}</p>",
        language=language,
        organisation=Organisation(name=org),
        locations=[Location(country=country, city=city)] if country else [],
        themes=list(themes),
        provenance=Provenance(first_seen=seen, last_seen=seen, content_hash=f"h{n}"),
    )
