"""The demo's mail folder: a real SMTP server on loopback that keeps what it gets."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from devtools.mailbox import MailFolder
from pipeline.config import Settings
from search.backends import SearchRequest
from storage.db import connect
from subscriptions.digest import Subscriptions


def test_a_subscription_made_in_the_demo_is_confirmed_from_the_folder(tmp_path: Path) -> None:
    with MailFolder(tmp_path / "mail") as mail:
        settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=mail.port,
                            database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", public_url="http://demo.test",
                            secret_key="mailbox-test-" + "m" * 20)
        engine = connect(settings.db_url)
        subs = Subscriptions(settings, engine)
        sub_id = subs.subscribe("person@example.org", SearchRequest(q="shelter"), lang="uk")
        kept = sorted(mail.folder.glob("*.eml"))
        assert len(kept) == 1
        msg = email.message_from_bytes(kept[0].read_bytes(), policy=email.policy.default)
        assert msg["To"] == "person@example.org" and "tilts" in str(msg["Subject"])
        link = msg.get_body(("plain",)).get_content()
        token = link.split("/subscriptions/confirm?token=", 1)[1].split()[0]
        assert subs.confirm(token) and subs.get(sub_id)["confirmed_at"] is not None
        engine.dispose()
