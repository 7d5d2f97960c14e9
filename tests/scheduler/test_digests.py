"""Subscriptions and digests end to end, against a real SMTP server (aiosmtpd
on 127.0.0.1), on SQLite and a real PostgreSQL, with both search backends."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pipeline.config import Settings
from search.backends import SearchBackend, SearchRequest
from storage.db import connect, digest_sends, sent_items, subscriptions
from subscriptions.digest import Subscriptions, period_of, send_due_digests
from tests.support.corpus import corpus, shifted
from tests.support.smtp import SmtpSink
from tilts.app import create_app

MONDAY = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 08:30 in Riga


def make_settings(tmp_path: Path, database_url: str, smtp: SmtpSink) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, smtp_port=smtp.port,
                    public_url="http://tilts.test", secret_key="test-secret-" + "x" * 20)


def link(text: str, path: str) -> str:
    found = re.search(rf"http://tilts\.test{re.escape(path)}\?token=[\w.\-]+", text)
    assert found, text
    return found.group(0)


def test_period_slots_follow_the_subscribers_time_zone() -> None:
    assert period_of("weekly", "Europe/Riga", MONDAY) == ("2026-W48", datetime(2026, 11, 23, 5, 0, tzinfo=UTC))
    # Monday 06:00 in Riga is before the slot: still last week's period
    early = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    assert period_of("weekly", "Europe/Riga", early)[0] == "2026-W47"
    assert period_of("daily", "America/New_York", MONDAY)[0] == "2026-11-22"


def test_subscribe_confirm_digest_unsubscribe(tmp_path: Path, database_url: str, smtp: SmtpSink) -> None:
    from search.backends import open_backend

    backend: SearchBackend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    backend.upsert_many(shifted(16))  # first seen 17–19 November
    settings = make_settings(tmp_path, database_url, smtp)
    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    client = TestClient(create_app(backend, subscriptions=subs, subscribe_limit=(4, 600)))

    # subscribe through the web form: a saved search for Latvia, in Latvian
    form = {"email": "Anna@Example.org", "frequency": "weekly", "lang": "lv", "country": "LV"}
    assert client.post("/subscriptions", data=form).status_code == 202
    confirmation = smtp.received()[-1]
    assert confirmation["To"] == "Anna@example.org"
    assert confirmation["Subject"] == "Apstipriniet savu tilts abonementu"
    assert "List-Unsubscribe" not in confirmation
    # double opt-in: nothing is due before the link is followed
    assert send_due_digests(settings, engine, now=MONDAY, backend=backend) == {}
    confirm_url = link(confirmation.get_body(("plain",)).get_content(), "/subscriptions/confirm")
    confirmed = client.get(urlsplit(confirm_url).path + "?" + urlsplit(confirm_url).query)
    # the page answers in the subscription's language, not the browser's
    assert confirmed.status_code == 200 and '<html lang="lv"' in confirmed.text

    outcome = send_due_digests(settings, engine, now=MONDAY, backend=backend)
    assert list(outcome.values()) == ["sent"]
    digest = smtp.received("tilts:")[-1]
    assert digest["Subject"] == "tilts: 5 jaunas brīvprātīgā darba iespējas"
    unsubscribe_url = digest["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("http://tilts.test/unsubscribe?token=")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = digest.get_body(("plain",)).get_content()
    html = digest.get_body(("html",)).get_content()
    # closing soon first (by deadline), then new; at most 3 per organisation; "see all"
    order = [m for m in re.findall(r"/o/([\w-]+)", text)]
    assert order == ["lv-4", "lv-2", "ru-2", "ru-1", "lv-3"]
    assert text.index("Drīz beidzas") < text.index("Jaunas šonedēļ")
    assert "Skatīt visas atbilstošās iespējas: http://tilts.test/?country=LV&lang=lv" in text
    assert 'href="http://tilts.test/o/lv-4"' in html and "<img" not in html and "<script" not in html
    assert 'style="' in html and "<link" not in html  # inline CSS, nothing external

    # the same period is never sent twice; a quiet week sends nothing
    assert send_due_digests(settings, engine, now=MONDAY + timedelta(hours=3), backend=backend) == {}
    new = shifted(24)[0].model_copy(update={"id": "lv-new", "cluster_id": "lv-new", "title": "Jauns piedāvājums"})
    backend.upsert_many([new])
    week2 = send_due_digests(settings, engine, now=MONDAY + timedelta(days=7), backend=backend)
    assert list(week2.values()) == ["sent"]
    assert re.findall(r"/o/([\w-]+)", smtp.received("tilts:")[-1].get_body(("plain",)).get_content()) == ["lv-new"]
    assert list(send_due_digests(settings, engine, now=MONDAY + timedelta(days=14),
                                 backend=backend).values()) == ["empty"]
    assert len(smtp.received("tilts:")) == 2

    # the unsubscribe page too speaks the subscription's language, unless another is picked
    unsubscribe_path = urlsplit(unsubscribe_url).path + "?" + urlsplit(unsubscribe_url).query
    assert '<html lang="lv"' in client.get(unsubscribe_path).text
    assert '<html lang="uk"' in client.get(unsubscribe_path + "&lang=uk").text
    # one-click unsubscribe (RFC 8058) deletes the subscription and its data
    response = client.post(urlsplit(unsubscribe_url).path + "?" + urlsplit(unsubscribe_url).query,
                           content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    with engine.connect() as conn:
        for table in (subscriptions, digest_sends, sent_items):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
    assert client.post(urlsplit(unsubscribe_url).path + "?" + urlsplit(unsubscribe_url).query).status_code == 400
    engine.dispose()


def test_tokens_cannot_be_forged_or_reused_across_subscribers(tmp_path: Path, database_url: str,
                                                             smtp: SmtpSink) -> None:
    settings = make_settings(tmp_path, database_url, smtp)
    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    a = subs.subscribe("a@example.org", SearchRequest(q="shelter"))
    b = subs.subscribe("b@example.org", SearchRequest(q="garden"), lang="uk", frequency="daily")
    token_a = subs.tokens.unsubscribe(a)
    assert subs.unsubscribe(token_a[:-2] + ("AA" if not token_a.endswith("AA") else "BB")) is False
    assert subs.unsubscribe(subs.tokens.confirm(a)) is False  # a confirmation token is not an unsubscribe token
    other_key = Subscriptions(Settings(data_dir=tmp_path, database_url=database_url, smtp_port=smtp.port,
                                       secret_key="another-secret-" + "y" * 20), engine)
    assert subs.unsubscribe(other_key.tokens.unsubscribe(b)) is False  # signed with another key
    assert subs.confirm(subs.tokens.unsubscribe(b)) is False
    assert subs.unsubscribe(token_a) is True
    assert subs.get(a) is None and subs.get(b) is not None  # A's token removed only A
    engine.dispose()


def test_subscription_input_and_rate_limit(tmp_path: Path, smtp: SmtpSink) -> None:
    from search.backends import open_backend

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", smtp)
    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    subs = Subscriptions(settings, connect(settings.db_url))
    client = TestClient(create_app(backend, subscriptions=subs, subscribe_limit=(4, 600)))
    assert client.post("/subscriptions", data={"email": "not-an-email"}).status_code == 400
    # a mistyped address, on an Arabic page: said in Arabic, and the way back keeps the search
    wrong = client.post("/subscriptions", data={"email": "ahmad@gmail", "lang": "ar", "q": "مأوى حيوانات",
                                                "country": "LV"})
    assert wrong.status_code == 400 and "عنوان البريد الإلكتروني هذا غير صالح" in wrong.text
    assert "@-sign" not in wrong.text and "not valid" not in wrong.text
    back = re.search(r'<a class="back" href="([^"]+)"', wrong.text)
    assert back is not None and back[1].startswith("/?")
    assert dict(parse_qsl(html.unescape(back[1])[2:])) == {"q": "مأوى حيوانات", "country": "LV", "lang": "ar"}
    assert client.post("/subscriptions", data={"email": "x@example.org", "frequency": "hourly"}).status_code == 400
    assert client.post("/subscriptions", data={"email": "x@example.org", "age": "old"}).status_code == 400
    assert client.post("/subscriptions", data={"email": "x@example.org"}).status_code == 429
    assert subs.by_email("x@example.org") == []


def test_a_failing_smtp_server_loses_nothing(tmp_path: Path, database_url: str, smtp: SmtpSink) -> None:
    from search.backends import open_backend

    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    backend.upsert_many(shifted(16))
    settings = make_settings(tmp_path, database_url, smtp)
    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    sub_id = subs.subscribe("c@example.org", SearchRequest(theme=["animals"]))
    assert subs.confirm(subs.tokens.confirm(sub_id))
    smtp.stop()  # the server goes away: the digest is released, not lost
    down = Settings(**{**settings.model_dump(), "smtp_port": smtp.port})
    from subscriptions.mail import Mailer

    outcome = send_due_digests(down, engine, now=MONDAY, backend=backend, mailer=Mailer(down, attempts=2, backoff=0.1))
    assert list(outcome.values()) == ["failed"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(digest_sends)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(sent_items)).scalar() == 0
    again = SmtpSink()
    try:
        up = Settings(**{**settings.model_dump(), "smtp_port": again.port})
        assert list(send_due_digests(up, engine, now=MONDAY + timedelta(minutes=15),
                                     backend=backend).values()) == ["sent"]
        assert len(again.received("tilts:")) == 1
    finally:
        again.stop()
        engine.dispose()


def test_digest_preview_renders_without_sending(tmp_path: Path, smtp: SmtpSink) -> None:
    import os
    import subprocess
    import sys

    from search.backends import open_backend

    data = tmp_path / "data"
    backend = open_backend(f"sqlite:///{data / 'search.sqlite3'}")
    backend.setup()
    now = datetime.now(UTC)
    backend.upsert_many([d.model_copy(update={"provenance": d.provenance.model_copy(
        update={"first_seen": now - timedelta(days=1)})}) for d in corpus()])
    backend.close()
    settings = Settings(data_dir=data, smtp_port=smtp.port, public_url="http://tilts.test")
    subs = Subscriptions(settings, connect(settings.db_url))
    subs.subscribe("preview@example.org", SearchRequest(theme=["animals"]), lang="ru")
    env = {**os.environ, "TILTS_DATA_DIR": str(data), "TILTS_SMTP_PORT": str(smtp.port),
           "TILTS_PUBLIC_URL": "http://tilts.test"}
    for name in ("ELASTICSEARCH_URL", "KAFKA_BOOTSTRAP_SERVERS", "TILTS_DATABASE_URL"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-m", "tilts.cli", "digest", "--preview", "preview@example.org"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "not confirmed (nothing is sent)" in out.stdout
    assert "Subject: tilts: 5 новых волонтёрских возможностей" in out.stdout
    assert "http://tilts.test/o/en-1" in out.stdout and "http://tilts.test/o/closed-1" not in out.stdout
    assert smtp.received("tilts:") == []  # only the confirmation mail went out


def test_digest_email_keeps_source_markup_inert(tmp_path: Path, smtp: SmtpSink) -> None:
    from search.backends import open_backend

    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    evil = shifted(16)[0].model_copy(update={
        "id": "evil", "cluster_id": "evil",
        "title": '<script>alert(1)</script><img src=x onerror=alert(2)> Shelter',
        "summary": '<a href="javascript:alert(3)">click</a> " onmouseover="alert(4)',
        "organisation": shifted(16)[0].organisation.model_copy(update={"name": "<b>Org</b>"}),
    })
    backend.upsert_many([evil])
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", smtp)
    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    sub_id = subs.subscribe("x@example.org", SearchRequest(q="shelter"))
    assert subs.confirm(subs.tokens.confirm(sub_id))
    assert list(send_due_digests(settings, engine, now=MONDAY, backend=backend).values()) == ["sent"]
    html = smtp.received("tilts:")[-1].get_body(("html",)).get_content()
    for active in ("<script", "<img", "<b>", 'href="javascript:', '" onmouseover='):
        assert active not in html, active
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    engine.dispose()


def test_listings_without_an_organisation_are_not_one_organisation(tmp_path: Path, smtp: SmtpSink) -> None:
    """European Youth Portal records name no organisation: a digest must not stop at three of them,
    while one named organisation still gets at most three places."""
    from search.backends import open_backend

    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    base = shifted(16)[0]
    unnamed = [base.model_copy(update={"id": f"esc-{n}", "cluster_id": f"esc-{n}", "title": f"ESC listing {n}",
                                       "source_id": "european-youth-portal",
                                       "organisation": base.organisation.model_copy(update={"name": None})})
               for n in range(6)]
    named = [base.model_copy(update={"id": f"org-{n}", "cluster_id": f"org-{n}", "title": f"Org listing {n}",
                                     "organisation": base.organisation.model_copy(update={"name": "Same NGO"})})
             for n in range(5)]
    backend.upsert_many(unnamed + named)
    backend.refresh()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", smtp)
    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    sub_id = subs.subscribe("y@example.org", SearchRequest())
    digest = subs.build(subs.get(sub_id), backend, MONDAY)
    ids = {o["id"] for o in digest.closing + digest.new}
    assert {o.id for o in unnamed} <= ids
    assert len(ids & {o.id for o in named}) == 3 and digest.more >= 2
    engine.dispose()
