"""The search page's "Near" picker (the index's cities, named in the page's
language, still resolving typed names and exonyms), the results map's data
and Content-Security-Policy, its tile setting, and the API documentation
served from vendored copies with no CDN (issue: a search UI a newcomer would
choose). The browser side is in tests/browser/test_map_suggest.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from pipeline.config import Settings
from pipeline.events import GeoPoint
from search.backends import SearchBackend
from search.place_names import resolve_place
from search.security import CSP, docs_csp, page_csp, tile_source
from tests.support.corpus import corpus
from tests.support.opportunities import make_opportunity
from tilts.app import create_app

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "search" / "static"
EVIL = '<img src=x onerror="window.__xss=1"> Shelter </script><script>window.__xss=2</script>'


@pytest.fixture
def client(backend: SearchBackend) -> Iterator[TestClient]:
    evil = make_opportunity(99, title=EVIL, city="Riga")
    evil.locations[0] = evil.locations[0].model_copy(update={"geo": GeoPoint(lat=56.95, lon=24.1)})
    assert backend.upsert_many([*corpus(), evil]) == []
    backend.refresh()
    with TestClient(create_app(backend)) as c:
        yield c


def near_options(html: str) -> list[str]:
    found = re.search(r'<datalist id="near-cities">(.*?)</datalist>', html, re.S)
    assert found, "no datalist of cities"
    return re.findall(r'<option value="([^"]*)">', found.group(1))


def map_data(html: str) -> dict | None:
    found = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


def test_near_is_a_picker_of_the_index_cities_in_the_page_language(client: TestClient) -> None:
    html = client.get("/?lang=en").text
    assert re.search(r'<input id="f-near"[^>]* list="near-cities"', html)
    assert near_options(html) == ["Berlin", "Cēsis", "Daugavpils", "Hamburg", "Kraków", "Lisbon", "Riga",
                                  "Tallinn", "Tartu", "Vilnius"]
    # every city of the index, whatever this search shows
    assert near_options(client.get("/?lang=en&country=EE").text) == near_options(html)
    ru = near_options(client.get("/?lang=ru").text)
    assert {"Рига", "Таллин", "Вильнюс", "Берлин", "Лиссабон"} <= set(ru)
    assert "Kraków" in ru and "Riga" not in ru  # no CLDR name: as the index names it
    assert ru.index("Берлин") < ru.index("Вильнюс") < ru.index("Лиссабон") < ru.index("Рига")  # Russian order
    lv = near_options(client.get("/?lang=lv").text)
    assert {"Rīga", "Viļņa", "Berlīne"} <= set(lv)
    assert {"Рига", "Таллінн"} <= set(near_options(client.get("/?lang=uk").text))


@pytest.mark.parametrize("name", ["Рига", "Riga", "rīga", "Viļņa", "Таллінн", "ريغا", "Berlīne"])
def test_every_name_the_picker_offers_or_a_person_types_resolves(client: TestClient, name: str) -> None:
    resp = client.get("/", params={"near": name, "within_km": "50", "lang": "en"})
    assert resp.status_code == 200, name
    assert 'id="e-near"' not in resp.text
    assert f"within 50 km of {name}" in resp.text  # the chip says the place as chosen


def test_every_offered_city_resolves(client: TestClient) -> None:
    for lang in ("lv", "en", "ru", "uk"):
        for name in near_options(client.get(f"/?lang={lang}").text):
            resolve_place(name)  # raises ValueError for an unknown place


def test_a_misspelt_place_is_still_said(client: TestClient) -> None:
    resp = client.get("/", params={"near": "Xyzzyville", "lang": "en"})
    assert resp.status_code == 422 and 'id="e-near"' in resp.text
    assert client.get("/search", params={"near": "Viļņa"}).status_code == 200  # the API reads the same names


def test_map_data_carries_places_of_this_page_as_inert_json(client: TestClient) -> None:
    html = client.get("/?lang=ru&size=50").text
    data = map_data(html)
    assert data is not None and data["tiles"] == ""
    riga = next(p for p in data["places"] if p["label"] == "Рига")
    assert riga["name"] == "Рига, Латвия" and riga["items"]
    ids = {item["id"] for place in data["places"] for item in place["items"]}
    assert "test-99" in ids and "lv-1" in ids
    assert any(item["title"] == EVIL for place in data["places"] for item in place["items"])
    block = re.search(r'id="map-data">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    assert "<" not in block and ">" not in block  # the title cannot close the block
    # the map and its button are hidden until the script shows them
    assert re.search(r'<button type="button" id="map-toggle"[^>]* hidden>', html)
    assert re.search(r'<section id="map"[^>]* hidden>', html)
    assert '<script src="/static/js/map.js" defer></script>' in html


def test_no_map_without_coordinates(client: TestClient) -> None:
    html = client.get("/?q=remote+mentoring&work_mode=remote").text
    assert 'id="total"' in html and map_data(html) is None and 'id="map-toggle"' not in html
    assert "/static/js/map.js" not in html


def test_pages_have_no_inline_script_to_run(client: TestClient) -> None:
    html = client.get("/?q=shelter").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attrs, body in scripts:
        assert ('type="application/json"' in attrs) or (body.strip() == "" and 'src="/static/' in attrs)
    assert client.get("/").headers["content-security-policy"] == CSP


def test_map_tiles_setting_allows_its_host_for_images_only(backend: SearchBackend,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILTS_MAP_TILES", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    monkeypatch.setenv("TILTS_MAP_ATTRIBUTION", "© Example contributors")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.map_tiles == "https://{s}.tile.example.org/{z}/{x}/{y}.png"
    assert Settings(_env_file=None, map_tiles="").map_tiles == ""  # type: ignore[call-arg]
    for bad in ("javascript:alert(1)//{z}{x}{y}", "https://a.example/{z}/{x}.png",
                "https://a.example/{z}/{x}/{y}.png; script-src *", "https://a.example/{z}/{x}/{y}.png' x"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, map_tiles=bad)  # type: ignore[call-arg]
    assert backend.upsert_many(corpus()) == []
    backend.refresh()
    client = TestClient(create_app(backend, map_tiles=settings.map_tiles,
                                   map_attribution=settings.map_attribution))
    resp = client.get("/?q=Riga")
    csp = resp.headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tile.example.org;" in csp
    assert re.search(r"script-src ([^;]*)", csp).group(1) == "'self'"  # type: ignore[union-attr]
    data = map_data(resp.text)
    assert data and data["tiles"] == settings.map_tiles and data["attribution"] == "© Example contributors"


def test_tile_sources() -> None:
    assert tile_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert tile_source("https://{s}.basemaps.example.com/{z}/{x}/{y}{r}.png") == "https://*.basemaps.example.com"
    assert tile_source("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png") == "http://127.0.0.1:8080"
    assert tile_source("data:image/png,x") is None
    assert page_csp("") == CSP


def test_api_docs_load_only_vendored_files(client: TestClient) -> None:
    for path, assets in (("/docs", ["/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                    "/static/vendor/swagger-ui/swagger-ui.css"]),
                         ("/redoc", ["/static/vendor/redoc/redoc.standalone.js"])):
        resp = client.get(path)
        assert resp.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        assert "cdn.jsdelivr.net" not in resp.text and "fonts.googleapis.com" not in resp.text
        for asset in assets:
            assert asset in urls and client.get(asset).status_code == 200
        csp = resp.headers["content-security-policy"]
        assert "https:" not in csp and "cdn" not in csp
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)  # type: ignore[union-attr]
        assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
        # exactly the page's own inline scripts are allowed, by their hash
        inline = re.findall(r"<script>(.*?)</script>", resp.text, re.S)
        hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                  for s in inline}
        assert set(re.findall(r"'sha256-[^']+'", script_src)) == hashes
    assert '"validatorUrl": null' in client.get("/docs").text  # the spec is never sent to swagger.io
    assert docs_csp("<script>x</script>") != docs_csp("<script>y</script>")


def test_vendored_libraries_keep_their_licences_and_are_packaged() -> None:
    vendor = STATIC / "vendor"
    for name in ("leaflet", "swagger-ui", "redoc"):
        assert (vendor / name / "LICENSE").read_text().strip(), name
    assert (vendor / "leaflet" / "images" / "marker-icon.png").exists()
    assert "Apache License" in (vendor / "swagger-ui" / "LICENSE").read_text()
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["search"]
    assert "static/**/*" in patterns  # a non-editable install serves js/ and vendor/ too


def test_near_a_place_without_a_distance_puts_the_nearest_first(client: TestClient) -> None:
    """"Near: Tallinn" chosen in the panel with no km filled in (the form sends
    its default sort, relevance, along): before, the place changed nothing and
    New York came first; now the nearest come first, and nothing is left out."""
    import re

    from search.web.forms import lenient_request

    page = client.get("/", params={"near": "Tallinn", "within_km": "", "sort": "relevance", "lang": "en", "size": 50})
    assert page.status_code == 200
    shown = list(dict.fromkeys(re.findall(r'<h3[^>]*><a href="/o/([^"?#]+)', page.text)))
    lat, lon = resolve_place("Tallinn")
    nearest = client.get("/search", params={"lat": lat, "lon": lon, "sort": "distance", "size": 50}).json()
    assert shown == [h["id"] for h in nearest["hits"]] and len(shown) > 3
    assert nearest["hits"][0]["distance_km"] < 20  # a Tallinn listing first
    everything = client.get("/search", params={"size": 0}).json()
    assert nearest["total"] == everything["total"]  # nothing left out
    assert re.search(r'<option value="distance" selected>', page.text)
    # a distance given, or another order chosen, stays as asked
    assert lenient_request([("near", "Tallinn"), ("within_km", "50"), ("sort", "relevance")])[0].sort == "relevance"
    assert lenient_request([("near", "Tallinn"), ("sort", "deadline")])[0].sort == "deadline"
