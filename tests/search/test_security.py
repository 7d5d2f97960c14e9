"""Hostile input cannot run script, break a page or vanish (issue 24), on
both search backends: link schemes, cursors, control characters, dates out of
range, numeric fields, security headers, cross-site posts, Host headers and
the dashboard's login. docs/security.md maps each finding to its test here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.events import InvalidEvent, Opportunity, RawOpportunity, web_url
from pipeline.normalize import normalize
from search.backends import SearchBackend, open_backend
from search.request import MAX_WINDOW, encode_cursor
from search.security import CSP
from tests.support.corpus import corpus
from tests.support.feeds import parsed_feed
from tests.support.opportunities import make_opportunity
from tests.support.smtp import SmtpSink
from tilts.app import create_app

FETCHED = datetime(2026, 11, 20, tzinfo=UTC)
SCRIPT_URLS = ["javascript:alert(1)", "JavaScript:alert(1)", " \tjava\nscript:alert(1)", "\x01javascript:alert(1)",
               "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd",
               "https://", "http:///nohost"]
# what must never survive into a displayed text field
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def raw(**fields: Any) -> RawOpportunity:
    base = {"source_id": "s", "external_id": "1", "url": "https://ngo.example/o/1", "crawl_id": "c",
            "fetched_at": FETCHED, "extraction_method": "json-ld", "title": "Help at the shelter"}
    return RawOpportunity.model_validate({**base, **fields})


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# ------------------------------------------------------------ 1. link schemes

@pytest.mark.parametrize("bad", SCRIPT_URLS)
def test_only_http_links_leave_the_normalizer(bad: str) -> None:
    if bad != "http:///nohost":  # (read by the contract's URL parser as http://nohost/)
        with pytest.raises(ValidationError):  # the listing's own URL is the contract's business
            raw(url=bad)
    opp = normalize(raw(apply_url=bad, organisation_url=bad))
    assert opp.apply_url is None and opp.organisation.url is None
    assert opp.provenance.dropped == ["apply_url: not an http(s) URL", "organisation_url: not an http(s) URL"]
    with pytest.raises(ValidationError):  # and an Opportunity cannot carry one either
        Opportunity.model_validate({**opp.model_dump(), "apply_url": bad})


def test_relative_links_resolve_against_the_page() -> None:
    opp = normalize(raw(apply_url="/apply?id=1", organisation_url="//ngo.example/about"))
    assert opp.apply_url == "https://ngo.example/apply?id=1"
    assert opp.organisation.url == "https://ngo.example/about"
    assert opp.provenance.dropped == []
    assert web_url("HTTPS://NGO.example/x") == "HTTPS://NGO.example/x"


def test_normalize_stdin_refuses_a_script_url(tmp_path: Path) -> None:
    import subprocess
    import sys

    line = json.dumps({"source_id": "s", "external_id": "1", "url": "javascript:alert(1)", "crawl_id": "c",
                       "fetched_at": "2026-11-20T00:00:00Z", "extraction_method": "json-ld", "title": "T",
                       "apply_url": "javascript:alert(2)"})
    ok = json.dumps({**json.loads(line), "url": "https://ngo.example/1"})
    out = subprocess.run([sys.executable, "-m", "tilts.cli", "normalize", "--stdin"], input=f"{line}\n{ok}\n",
                         capture_output=True, text=True, timeout=120, check=False, env={"TILTS_DATA_DIR": str(tmp_path),
                                                                            "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "line 1" in out.stderr and "url" in out.stderr
    assert "javascript" not in out.stdout
    assert json.loads(out.stdout)["apply_url"] is None


@pytest.fixture
def app_client(backend: SearchBackend) -> Iterator[TestClient]:
    # An index written before links were checked: the pages must refuse them too.
    stale = make_opportunity(97, title="Stale shelter listing").model_copy(update={
        "url": "javascript:window.__xss=1", "apply_url": "JavaScript:window.__xss=2",
        "deadline": date(9999, 12, 31), "start_date": date(9999, 12, 30), "end_date": date(9999, 12, 31),
        "title": "Stale\x00 shelter\x07 listing\b \u202egnitsil", "summary": "bell\x07 and \x1b[31m escape",
    })
    stale.provenance = stale.provenance.model_copy(update={"also_listed_on": ["data:text/html,x"]})
    assert backend.upsert_many([*corpus(), stale]) == []
    backend.refresh()
    with TestClient(create_app(backend)) as client:
        yield client


def test_pages_feeds_and_calendar_never_carry_a_script_link(app_client: TestClient) -> None:
    for path in ("/o/test-97", "/?q=stale", "/search.rss?q=stale", "/search.atom?q=stale",
                 "/opportunities/test-97.ics"):
        response = app_client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        body = response.text.lower()
        assert "javascript:" not in body and "data:text/html" not in body, path
    detail = app_client.get("/o/test-97").text
    assert 'id="apply"' not in detail  # no safe link to offer: no button
    assert "The publisher" in detail


# ------------------------------------------------------------------ 2. cursors

HOSTILE_CURSORS = [
    b64('{"o":99999999999999999999999}'), b64("[" * 1400), b64('{"o":1000000000}'), b64('{"o":-1}'),
    b64('{"o":true}'), b64('{"o":1.5}'), b64('{"o":1e400}'), b64('"x"'), b64("{}"), b64('{"z":1}'),
    b64('{"a":[[1]]}'), b64('{"a":[' + "1," * 20 + "1]}"), b64('{"a":["' + "x" * 600 + '"]}'),
    b64('{"a":[NaN]}'), b64('{"a":[1e999999]}'), b64('{"o":9990}'), "%%%", "AAAA", b64("\xff\xfe"),
]


@pytest.mark.parametrize("cursor", HOSTILE_CURSORS)
def test_crafted_cursors_are_a_422(app_client: TestClient, cursor: str) -> None:
    for path in ("/search", "/search.rss", "/search.atom", "/facets", "/"):
        response = app_client.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (path, cursor, response.status_code, response.text[:200])


def test_real_cursors_still_page_to_the_end(app_client: TestClient) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"size": 3, "collapse": "false", "sort": "newest"}
    total = app_client.get("/search", params=params).json()["total"]
    while True:
        body = app_client.get("/search", params=params).json()
        seen += [h["id"] for h in body["hits"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert len(seen) == len(set(seen)) == total
    edge = encode_cursor({"o": MAX_WINDOW - 20})
    assert app_client.get("/search", params={"cursor": edge, "size": 20}).status_code == 200
    assert app_client.get("/search", params={"cursor": edge, "size": 21}).status_code == 422


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(state=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["o", "a", "x"]), inner, max_size=3),
    max_leaves=12))
def test_any_decodable_cursor_is_a_page_or_a_422(state: Any) -> None:
    client = _shared_client()
    cursor = b64(json.dumps(state))
    for path in ("/search", "/search.rss"):
        response = client.get(path, params={"cursor": cursor})
        assert response.status_code in (200, 422), (state, response.status_code)


_CLIENT: list[TestClient] = []


def _shared_client() -> TestClient:
    """One embedded app for the hypothesis run (fixtures are not per-example)."""
    if not _CLIENT:
        import tempfile

        backend = open_backend(f"sqlite:///{tempfile.mkdtemp(prefix='tilts-cursor-')}/s.sqlite3")
        backend.setup()
        backend.upsert_many(corpus())
        _CLIENT.append(TestClient(create_app(backend)))
    return _CLIENT[0]


# -------------------------------------------------------- 3. control characters

def test_control_and_bidi_override_characters_never_reach_a_field() -> None:
    opp = normalize(raw(
        title="Help\x00 at the\x07 shelter\b \u202eretlehs", organisation_name="Red\x1b[31m Cross\x7f",
        city="Rīga\x00", description_html="<p>Feed\x00 the cats\x07.</p><p>&#x202E;ok &#7; done\x0b\u2066x\u2069</p>"
                                          "<p>مرحبا بالمتطوعين \u200f</p>",
    ))
    for text in strings(opp.model_dump(mode="json")):
        assert not UNSAFE.search(text), repr(text)
    assert opp.title == "Help at the shelter retlehs"
    assert "مرحبا بالمتطوعين" in opp.description_text and "\n" in opp.description_text  # RTL and breaks kept
    assert opp.organisation.name == "Red[31m Cross"


def test_feeds_with_control_characters_still_parse(app_client: TestClient) -> None:
    for kind in ("rss", "atom"):
        titles = [e.title for e in parsed_feed(app_client, kind, "stale")[0].entries]
        assert titles and not any(UNSAFE.search(t) for t in titles)


@settings(max_examples=120, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(title=st.text(min_size=1, max_size=60).filter(lambda t: t.strip()),
       noise=st.lists(st.sampled_from(["\x00", "\x07", "\b", "\x1b", "\u202e", "\u2066", "\x7f", "\x85", "\ufffe",
                                       "&#x202E;", "&#0;", "\r\n", "\t"]), max_size=6),
       url=st.sampled_from([*SCRIPT_URLS, "https://ok.example/a", "/relative", "mailto:a@b.c"]))
def test_hostile_text_and_links_come_out_clean(title: str, noise: list[str], url: str) -> None:
    text = "".join(n + c for n, c in zip(noise + [""] * len(title), title, strict=False))
    try:
        opp = normalize(raw(title=text, description_html=f"<p>{text}</p>", apply_url=url, organisation_name=text))
    except InvalidEvent as exc:  # a title of nothing but unsafe characters has no title left
        assert exc.field == "title"
        return
    for value in strings(opp.model_dump(mode="json")):
        assert not UNSAFE.search(value), repr(value)
    assert opp.apply_url is None or re.match(r"https?://[^/\s]", opp.apply_url, re.IGNORECASE)


# ---------------------------------------------------- 4. dates, 5. numbers

def test_dates_outside_the_window_are_dropped_and_named() -> None:
    opp = normalize(raw(deadline="9999-12-31", start_date="1899-01-01", end_date="2027-03-01",
                        posted_date="0001-01-01"))
    assert opp.deadline is None and opp.start_date is None and opp.posted_date is None
    assert opp.end_date == date(2027, 3, 1)
    assert sorted(opp.provenance.dropped) == [
        "deadline: 9999-12-31 is outside 1990–2100", "posted_date: 0001-01-01 is outside 1990–2100",
        "start_date: 1899-01-01 is outside 1990–2100"]


def test_calendar_of_a_listing_dated_9999(app_client: TestClient) -> None:
    response = app_client.get("/opportunities/test-97.ics")
    assert response.status_code == 200 and b"DTSTART;VALUE=DATE:99991231" in response.content


@pytest.mark.parametrize(("given_", "kept"), [
    ("12", 12), (" 3 ", 3), ("²", None), ("9" * 5000, None), (str(2**70), None), ("-3", None), ("1.5", None),
    ("٣", None), ("many", None),
])
def test_places_available_is_parsed_defensively(given_: str, kept: int | None) -> None:
    opp = normalize(raw(places_available=given_))  # never an exception for one field
    assert opp.places_available == kept
    assert (opp.provenance.dropped == []) == (kept is not None)


# ------------------------------------------------------------ 6. headers

def test_every_response_has_security_headers(app_client: TestClient) -> None:
    for path in ("/", "/o/test-97", "/o/nope", "/search", "/search.rss", "/opportunities/test-97.ics",
                 "/static/tilts.css", "/healthz", "/nowhere"):
        headers = app_client.get(path).headers
        csp = headers.get("content-security-policy", "")
        assert csp == CSP, path
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)  # type: ignore[union-attr]
        assert "unsafe-inline" not in script_src and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers  # plain http: HSTS would be ignored
    docs_csp = app_client.get("/docs").headers["content-security-policy"]  # vendored: no CDN allowed
    assert "cdn.jsdelivr.net" not in docs_csp and "https:" not in docs_csp
    assert "unsafe-inline" not in re.search(r"script-src ([^;]*)", docs_csp).group(1)  # type: ignore[union-attr]


def test_hsts_behind_https(backend: SearchBackend) -> None:
    client = TestClient(create_app(backend, public_url="https://tilts.example.org"))
    assert client.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


# -------------------------------------------- 9. links never follow the Host header

def test_feed_links_ignore_a_forged_host(backend: SearchBackend) -> None:
    backend.upsert_many(corpus())
    backend.refresh()
    client = TestClient(create_app(backend), base_url="http://127.0.0.1:8123")
    body = client.get("/search.rss", headers={"Host": "evil.example"}).text
    assert "evil.example" not in body and "http://127.0.0.1:8123/o/" in body
    configured = TestClient(create_app(backend, public_url="https://tilts.example.org/"))
    body = configured.get("/search.atom", headers={"Host": "evil.example"}).text
    assert "evil.example" not in body and "https://tilts.example.org/o/" in body
    trusted = TestClient(create_app(backend, allowed_hosts=["tilts.example.org"]),
                         base_url="https://tilts.example.org")
    assert trusted.get("/healthz").status_code == 200
    assert trusted.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


# --------------------------------------------------- 8. cross-site subscribe

def test_cross_site_subscribe_is_refused(tmp_path: Path, backend: SearchBackend, smtp: SmtpSink) -> None:
    from pipeline.config import Settings
    from storage.db import connect
    from subscriptions.digest import Subscriptions

    settings = Settings(data_dir=tmp_path, smtp_port=smtp.port, public_url="http://tilts.test",
                        secret_key="test-secret-" + "x" * 20)
    subs = Subscriptions(settings, connect(settings.db_url))
    client = TestClient(create_app(backend, subscriptions=subs, public_url="http://tilts.test"),
                        base_url="http://tilts.test")
    form = {"email": "victim@example.org", "country": "LV"}
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": "http://tilts.test"}, {"Origin": "null"}):
        assert client.post("/subscriptions", data=form, headers=headers).status_code == 403, headers
    assert smtp.received() == []
    # the site's own no-JavaScript form, and clients that are not browsers, still work
    own = {"Origin": "http://tilts.test", "Sec-Fetch-Site": "same-origin", "Referer": "http://tilts.test/?q=x"}
    assert client.post("/subscriptions", data=form, headers=own).status_code == 202
    assert client.post("/subscriptions", data={**form, "email": "b@example.org"}).status_code == 202
    assert len(smtp.received()) == 2


# ------------------------------------------------------------ 7. dashboard login

def test_dashboard_takes_utf8_passwords_and_throttles_guessing(tmp_path: Path, backend: SearchBackend) -> None:
    from coverage.dashboard import Dashboard
    from pipeline.config import Settings
    from storage.db import connect

    password = "paroļu-vārds-пароль"
    settings = Settings(data_dir=tmp_path, dashboard_password=password, dashboard_user="officer")
    dashboard = Dashboard(settings, connect(settings.db_url), {})
    client = TestClient(create_app(backend, dashboard=dashboard))

    def basic(user: str, secret: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    assert client.get("/coverage/summary.json", headers=basic("officer", password)).status_code == 200
    challenge = client.get("/coverage/summary.json")
    assert challenge.status_code == 401 and 'charset="UTF-8"' in challenge.headers["www-authenticate"]
    for attempt in range(10):
        assert client.get("/coverage/summary.json", headers=basic("officer", f"guess{attempt}")).status_code == 401
    locked = client.get("/coverage/summary.json", headers=basic("officer", password))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
