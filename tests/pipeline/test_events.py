from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.events import (
    CrawlStats,
    Eligibility,
    InvalidEvent,
    LanguageRequirement,
    Opportunity,
    RawOpportunity,
    opportunity_id,
    parse_event,
)


def raw(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "source_id": "s1", "external_id": "42", "url": "https://example.org/o/42",
        "crawl_id": "c1", "fetched_at": "2026-11-20T10:00:00Z", "extraction_method": "json-ld",
        "title": "Volunteer",
    }
    base.update(over)
    return base


def test_raw_round_trip_and_key() -> None:
    event = RawOpportunity.model_validate(raw())
    again = parse_event(RawOpportunity, event.to_bytes())
    assert again == event
    assert again.key == "s1:42"
    assert dict(event.headers())["schema-version"] == b"1"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (raw(url="not a url"), "url"),
        (raw(fetched_at="yesterday-ish"), "fetched_at"),
        (raw(extraction_method="guesswork"), "extraction_method"),
        (raw(schema_version=2), "schema_version"),
        (raw(unexpected="x"), "unexpected"),
        ({k: v for k, v in raw().items() if k != "source_id"}, "source_id"),
    ],
)
def test_invalid_events_name_the_field(payload: dict[str, object], field: str) -> None:
    import json

    with pytest.raises(InvalidEvent) as err:
        parse_event(RawOpportunity, json.dumps(payload).encode())
    assert err.value.field == field
    assert f"'{field}'" in str(err.value)


@pytest.mark.parametrize("payload", [b"{not json", b"\xff\xfe\x00", b"", None, b"[]"])
def test_garbage_is_invalid_not_a_crash(payload: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(RawOpportunity, payload)


def test_opportunity_id_is_stable_and_source_scoped() -> None:
    assert opportunity_id("a", "1") == opportunity_id("a", "1")
    assert opportunity_id("a", "1") != opportunity_id("b", "1")
    assert opportunity_id("a", "1").startswith("a-")


def test_crawl_stats_rejects_negative_counts() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValidationError):
        CrawlStats(source_id="s", crawl_id="c", started_at=now, finished_at=now,
                   duration_seconds=0, pages=-1, items=0, errors=0)


def test_opportunity_requires_title() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(Opportunity, b'{"id": "x"}')
    assert err.value.field is not None


def test_language_alternatives_keep_old_events_valid() -> None:
    """``one_of`` groups alternatives; events written before it validate and
    mean what they meant, and a requirement standing alone is written as it
    was (old consumers read it, its content hash does not change)."""
    old = Eligibility.model_validate_json(
        '{"languages": [{"language": "en", "level": "B1", "required": true},'
        ' {"language": "ru", "level": null, "required": true}, {"language": "lv", "required": false}]}')
    assert [r.one_of for r in old.languages] == [None, None, None]
    assert [[r.language for r in g] for g in old.required_groups()] == [["en"], ["ru"]]
    assert old.model_dump()["languages"][0] == {"language": "en", "level": "B1", "required": True}

    new = Eligibility(languages=[
        LanguageRequirement(language="de"),
        LanguageRequirement(language="en", one_of=1), LanguageRequirement(language="ru", level="B2", one_of=1),
        LanguageRequirement(language="lv", required=False, one_of=1),  # not required: in no group
    ])
    assert [[r.language for r in g] for g in new.required_groups()] == [["de"], ["en", "ru"]]
    assert Eligibility.model_validate_json(new.model_dump_json()) == new
    assert '"one_of":1' in new.model_dump_json() and new.model_dump()["languages"][0] == {
        "language": "de", "level": None, "required": True}
    with pytest.raises(ValidationError):
        LanguageRequirement(language="en", one_of=0)
