"""Extraction functions on their own: malformed input is reported, never a crash."""

from __future__ import annotations

import pytest

from crawlers.platforms.feed import parse_feed
from crawlers.platforms.schemaorg import parse_schemaorg
from crawlers.saved_response import PARSERS

RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://vabatahtlikud.ee/rss"><title>Vabatahtlikud</title>
    <link>https://vabatahtlikud.ee/</link><description>x</description></channel>
  <item rdf:about="https://vabatahtlikud.ee/uudised/talgud">
    <title>Talgud Lahemaa rahvuspargis</title><link>https://vabatahtlikud.ee/uudised/talgud</link>
    <description>Ootame vabatahtlikke 12. detsembril.</description><dc:date>2026-11-16T10:00:00+02:00</dc:date>
  </item>
</rdf:RDF>"""

RDFA = """<html><body vocab="https://schema.org/">
<div typeof="VolunteerAction"><h1 property="name">Suppenküche helfen</h1>
<div property="description">Jeden Freitag kochen.</div>
<div property="location" typeof="Place"><div property="address" typeof="PostalAddress">
<span property="addressLocality">Wien</span><span property="addressCountry">AT</span></div></div></div>
</body></html>""".encode()


def test_rdf_feed() -> None:
    items, errors = parse_feed(RDF, "https://vabatahtlikud.ee/rss")
    assert errors == [] and items[0]["title"] == "Talgud Lahemaa rahvuspargis"
    assert items[0]["external_id"] == "https://vabatahtlikud.ee/uudised/talgud"
    assert items[0]["posted_date"]


RSS_WITH_PLACES = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>x</title>
<item><title>Food pantry helpers</title><link>https://ngo.example/1</link><guid>1</guid>
<description>&lt;p&gt;Sort and hand out food.&lt;/p&gt;&lt;p&gt;When: Saturdays.&lt;/p&gt;
&lt;p&gt;Where: 218 18th Street, New York, NY 10003.&lt;/p&gt;</description></item>
<item><title>Tafel Altona</title><link>https://ngo.example/2</link><guid>2</guid>
<description>Lebensmittel ausgeben.&lt;br&gt;Ort: Hamburg-Altona</description></item>
<item><title>Where we go next</title><link>https://ngo.example/3</link><guid>3</guid>
<description>Where we work: everywhere in town. Location of the office is secret</description></item>
</channel></rss>"""


def test_a_feed_entry_that_says_where_gives_its_place() -> None:
    items, errors = parse_feed(RSS_WITH_PLACES, "https://ngo.example/feed.rss")
    assert errors == []
    assert [i["location_text"] for i in items] == ["218 18th Street, New York, NY 10003", "Hamburg-Altona", None]


@pytest.mark.parametrize(("line", "period"), [
    ("When: from 5 December 2026 until 20 January 2027.", ("5 December 2026", "20 January 2027")),
    ("When: 12 December 2026.", ("12 December 2026", "12 December 2026")),  # one day: it ends that day
    ("When: 5 December 2026, 10:00 - 14:00", ("5 December 2026", "5 December 2026")),
    ("Datum: 4.12.2026 – 6.12.2026", ("4.12.2026", "6.12.2026")),
    ("When: until 20 January 2027", (None, "20 January 2027")),
    ("Kad: no 2026. gada 5. decembra", ("2026. gada 5. decembra", None)),
    ("When: ongoing.", (None, None)),
    ("When: Saturdays", (None, None)),
    ("We meet when it suits: 5 December", (None, None)),
])
def test_a_feed_entry_that_says_when_gives_its_dates(line: str, period: tuple) -> None:
    from crawlers.platforms.feed import labelled_period

    assert labelled_period(f"<p>Help out.</p><p>{line}</p>") == period


def test_rdfa_page() -> None:
    items, errors = parse_schemaorg(RDFA, "https://example.at/suppe")
    assert errors == [] and items[0]["title"] == "Suppenküche helfen" and items[0]["_method"] == "rdfa"
    assert items[0]["city"] == "Wien" and items[0]["country"] == "AT"


@pytest.mark.parametrize("kind", ["wordpress", "tribe", "eyp", "unv", "volunteer_connector", "doit",
                                  "idealist"])
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00", b"[1, 2, 3]", b'"text"', b"null"])
def test_malformed_json_is_an_error_not_a_crash(kind: str, body: bytes) -> None:
    items, errors = PARSERS[kind](body, "https://api.example/x", {})
    assert items == []
    if body in (b"{not json", b"", b"\xff\xfe\x00"):
        assert (errors and "JSON" in errors[0]) or "unexpected" in errors[0]


@pytest.mark.parametrize("kind", ["schemaorg", "feed", "ical", "listing"])
@pytest.mark.parametrize("body", [b"", b"\x00\x01\x02", b"<html><<<>>>&&&", b"\xc3\x28" * 1000])
def test_malformed_markup_is_survived(kind: str, body: bytes) -> None:
    items, errors = PARSERS[kind](body, "https://example.org/x", {"fields": {"title": "h1::text"}})
    assert isinstance(items, list) and isinstance(errors, list)
