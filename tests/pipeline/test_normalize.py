from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.events import InvalidEvent, RawOpportunity, Status
from pipeline.normalize import normalize
from pipeline.normalize.dates import parse_date
from pipeline.normalize.places.countries import country_code
from pipeline.normalize.text import html_to_text, sanitize_html, summarize

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_raw(**over: object) -> RawOpportunity:
    base: dict[str, object] = {
        "source_id": "s1", "external_id": "42", "url": "https://example.org/o/42",
        "crawl_id": "c1", "fetched_at": NOW, "extraction_method": "json-ld",
        "title": "  Food bank <b>volunteer</b> ",
        "description_html": '<p>Sort parcels.</p><script>alert(1)</script>'
                            '<p onclick="x()">Join <a href="javascript:evil()">us</a> and '
                            '<a href="https://ngo.example/apply">apply</a>.</p>',
        "country": "Latvia", "city": "Rīga", "latitude": "56.95", "longitude": "24,10",
        "deadline": "2027-01-15T23:59:00+02:00", "start_date": "1 February 2027",
    }
    base.update(over)
    return RawOpportunity.model_validate(base)


def test_sanitized_html_keeps_structure_drops_active_content() -> None:
    opp = normalize(make_raw(), NOW)
    html = opp.description_html
    assert "<script" not in html and "alert" not in html
    assert "onclick" not in html and "javascript:" not in html
    assert 'href="https://ngo.example/apply"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert opp.description_text == "Sort parcels.\n\nJoin us and apply."


def test_fields_are_normalized() -> None:
    opp = normalize(make_raw(), NOW)
    assert opp.title == "Food bank volunteer"
    assert opp.locations[0].country == "LV"
    assert opp.locations[0].city == "Rīga"
    assert opp.locations[0].geo is not None and opp.locations[0].geo.lon == pytest.approx(24.10)
    assert opp.deadline == date(2027, 1, 15)
    assert opp.start_date == date(2027, 2, 1)
    assert opp.status is Status.open
    assert opp.id == normalize(make_raw(), NOW).id
    assert opp.provenance.content_hash == normalize(make_raw(), NOW).provenance.content_hash


def test_changed_content_changes_hash_but_not_id() -> None:
    a = normalize(make_raw(), NOW)
    b = normalize(make_raw(title="Food bank driver"), NOW)
    assert a.id == b.id
    assert a.provenance.content_hash != b.provenance.content_hash


def test_past_deadline_is_expired() -> None:
    assert normalize(make_raw(deadline="2026-01-01"), NOW).status is Status.expired


def test_missing_title_is_invalid() -> None:
    with pytest.raises(InvalidEvent) as err:
        normalize(make_raw(title="<p> </p>"), NOW)
    assert err.value.field == "title"


@pytest.mark.parametrize(
    ("text", "code"),
    [("LV", "LV"), ("lva", "LV"), ("Estonia", "EE"), ("Germany", "DE"), ("EL", "GR"), ("UK", "GB"),
     ("Atlantis", None), ("", None)],
)
def test_country_codes(text: str, code: str | None) -> None:
    assert country_code(text) == code


@pytest.mark.parametrize(
    ("text", "langs", "expected"),
    [
        ("2027-03-04", None, date(2027, 3, 4)),
        ("2027-03-04T10:00:00Z", None, date(2027, 3, 4)),
        ("15. März 2027", ["de"], date(2027, 3, 15)),
        ("15 marca 2027", ["pl"], date(2027, 3, 15)),
        ("tomorrow", ["en"], date(2026, 11, 21)),
        ("sometime soon", ["en"], None),
    ],
)
def test_dates(text: str, langs: list[str] | None, expected: date | None) -> None:
    assert parse_date(text, languages=langs, relative_base=NOW) == expected


def test_text_helpers() -> None:
    assert html_to_text("Caf&eacute; &amp; more") == "Café & more"
    assert sanitize_html(None) == ""
    long = "First sentence here. " * 30
    assert summarize(long).endswith(".") and len(summarize(long)) <= 280


def test_a_one_off_listing_ending_before_it_starts_is_normalized_without_a_span() -> None:
    # a source's slip (end before start) is not a broken event: it must not dead-letter
    opp = normalize(make_raw(duration_text="onetime", start_date="2027-03-10", end_date="2027-03-01"), now=NOW)
    assert opp.duration_class.value == "one_off"
    assert (opp.duration_min_days, opp.duration_max_days) == (None, None)
