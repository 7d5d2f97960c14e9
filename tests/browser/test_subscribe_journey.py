"""Subscribing from the search page on a phone, in the person's language, with a
real SMTP server (aiosmtpd on 127.0.0.1) and the confirmation link followed in
the same browser."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.config import Settings
from search.backends import SearchBackend
from storage.db import connect
from subscriptions.digest import Subscriptions
from tests.support.browser import PHONE, Tabs
from tests.support.corpus import corpus
from tests.support.smtp import SmtpSink
from tilts.app import create_app
from tilts.serving import listening_settings, serve_in_thread


@pytest.mark.parametrize("lang", ["uk", "ar"])
def test_subscribe_and_confirm_on_a_phone(backend: SearchBackend, smtp: SmtpSink, tabs: Tabs, tmp_path: Path,
                                          lang: str) -> None:
    assert backend.upsert_many(corpus()) == []
    backend.refresh()
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        smtp_port=smtp.port, secret_key="subscribe-journey-" + "s" * 20)
    engine = connect(settings.db_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # as `tilts serve --port N` does: mailed links lead to where it listens
    subs = Subscriptions(listening_settings(settings, "0.0.0.0", port), engine)
    with serve_in_thread(create_app(backend, subscriptions=subs), port=port) as site:
        page = tabs.open(PHONE, locale="en-GB")  # the browser says English; the page was Ukrainian or Arabic
        page.goto(f"{site}/?q=riga&lang={lang}")
        page.fill("form.subscribe input[type=email]", "reader@example.org")
        page.locator("form.subscribe button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == lang
        mail = smtp.received()[-1]
        assert mail["To"] == "reader@example.org"
        text = mail.get_body(("plain",)).get_content()
        link = re.search(r"https?://\S+/subscriptions/confirm\?token=[\w.\-]+", text)
        assert link, text
        assert urlsplit(link.group(0)).netloc == urlsplit(site).netloc  # not 127.0.0.1:8000
        page.goto(link.group(0))
        assert page.locator("html").get_attribute("lang") == lang  # the subscription's language
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
        (sub,) = subs.by_email("reader@example.org")
        assert sub["confirmed_at"] is not None and sub["lang"] == lang
        assert parse_qs(urlsplit(page.url).query)["token"]
    engine.dispose()
