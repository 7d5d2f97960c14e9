"""A card names where a listing comes from as a person knows it: "Source:
European Youth Portal", not a host name (and not ``127.0.0.1`` in the demo's
replay); "Also listed on" names the other publishers and leaves out the
listing's own address."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from crawlers.sources import load_sources
from search.backends import open_backend
from search.web.publishers import Publisher, Publishers
from tests.support.opportunities import make_opportunity
from tilts.app import create_app
from tilts.serving import publishers

OWN = "https://youth.europa.eu/solidarity/opportunity/123_en"


def _links(html: str, label: str) -> list[tuple[str, str]]:
    """(href, text) of the links after ``label`` on the card's source line."""
    line = re.search(rf"{label}:(.*?)</p>", html, re.S)
    assert line, html[:500]
    part = line[1].split("·")[0] if label == "Source" else line[1]
    links = re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', part)
    return [(href, re.sub(r"<[^>]+>", "", text)) for href, text in links]


def test_cards_name_the_publishers_of_the_registry(tmp_path: Path) -> None:
    listing = make_opportunity(1, title="Shelter week").model_copy(update={"source_id": "european-youth-portal",
                                                                          "url": OWN})
    listing.provenance = listing.provenance.model_copy(update={"also_listed_on": [
        OWN, "https://www.brivpratigie.lv/aktivitate/9", "https://ngo.example/shelter", OWN]})
    backend = open_backend(f"sqlite:///{tmp_path / 'search.sqlite3'}")
    try:
        backend.setup()
        assert backend.upsert_many([listing]) == []
        backend.refresh()
        app = create_app(backend, publishers=publishers(load_sources()))
        with TestClient(app) as client:
            for path in ("/?q=shelter&lang=en", f"/o/{listing.id}?lang=en"):
                html = client.get(path).text
                assert _links(html, "Source") == [(OWN, "European Youth Portal")], path
                assert _links(html, "Also listed on") == [
                    ("https://www.brivpratigie.lv/aktivitate/9", "brivpratigie.lv"),  # a registered publisher
                    ("https://ngo.example/shelter", "ngo.example"),  # not registered: its host
                ], path
        with TestClient(create_app(backend)) as client:  # an app told of no registry: hosts
            assert _links(client.get("/?q=shelter&lang=en").text, "Source") == [(OWN, "youth.europa.eu")]
    finally:
        backend.close()


def test_publishers_sharing_a_host_are_told_apart_by_their_home_path() -> None:
    base = "http://127.0.0.1:4100"
    names = Publishers({
        "esc": Publisher("European Youth Portal (replay)", f"{base}/solidarity/opportunities_en", ("127.0.0.1",)),
        "nyc-rss": Publisher("NYC Service (replay)", f"{base}/nyc/", ("127.0.0.1",)),
        "nyc-ical": Publisher("NYC Service (replay)", f"{base}/nyc/", ("127.0.0.1",)),
    })
    assert names.of_url(f"{base}/nyc/opportunities/5024") == "NYC Service (replay)"
    assert names.of_url(f"{base}/solidarity/opportunity/49949_en") == "European Youth Portal (replay)"
    assert names.of_url(f"{base}/elsewhere") is None  # both share only the root: it cannot say
    assert names.of_url("http://127.0.0.1:9999/nyc/opportunities/1") is None  # another server on that host
    assert names.of_url("https://ngo.example/x") is None
    assert names.of_source("nyc-ical") == "NYC Service (replay)" and names.of_source("gone") is None
