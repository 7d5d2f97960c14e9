"""Subscriptions and digests.

A subscriber saves a search (any :class:`SearchRequest`), an email address,
an interface language and a frequency (weekly by default, daily optional),
in a time zone (default Europe/Riga). Double opt-in: nothing but the
confirmation mail is sent before its link is followed. Every mail carries a
one-click unsubscribe link (signed token; ``List-Unsubscribe`` and
``List-Unsubscribe-Post`` headers); unsubscribing deletes the subscription
and everything recorded about it.

A digest is due once per period (ISO week, or day) from the subscriber's slot
(Monday 07:00 local, or 07:00 daily). It holds the open listings new or
changed since the last digest that match the saved search and were never sent
to this subscriber, duplicates collapsed, at most three per organisation,
split into "closing soon" (deadline within 14 days) and "new", capped at 20
with a "see all" link. An empty digest is not sent.

Sending is at most once per (subscriber, period): the period is claimed, with
the items it carries, in one transaction before the SMTP server is asked; a
failure the server reports releases the claim so a later sweep retries, a
crash between claim and hand-over leaves the period claimed (skipped, never
doubled).
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from pipeline.config import Settings
from search.backends import SearchBackend, SearchRequest, make_backend
from search.i18n import UI, UI_LANGUAGES
from search.query import plan
from storage.db import digest_sends, sent_items, subscriptions, utcnow
from subscriptions.mail import Mailer, MailError

log = logging.getLogger(__name__)

SEND_AT = time(7, 0)
WEEKDAY = 0  # Monday
MAX_ITEMS = 20
PER_ORGANISATION = 3
CLOSING_SOON_DAYS = 14
CONFIRM_MAX_AGE = 7 * 86400
FREQUENCIES = ("weekly", "daily")
DEFAULT_TIMEZONE = "Europe/Riga"

_ENV = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
)


class SubscriptionError(ValueError):
    """Invalid subscription input (shown to the user)."""


class InvalidEmail(SubscriptionError):
    """The address cannot receive mail (the page says so in its own language)."""


def base_url(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


class Tokens:
    """Signed, purpose-bound tokens: a confirmation token cannot unsubscribe,
    a token of one subscriber names only that subscriber."""

    def __init__(self, key: str) -> None:
        self._confirm = URLSafeTimedSerializer(key, salt="tilts-confirm")
        self._unsubscribe = URLSafeSerializer(key, salt="tilts-unsubscribe")

    def confirm(self, sub_id: str) -> str:
        return self._confirm.dumps(sub_id)

    def unsubscribe(self, sub_id: str) -> str:
        return self._unsubscribe.dumps(sub_id)

    def read_confirm(self, token: str) -> str | None:
        try:
            return str(self._confirm.loads(token, max_age=CONFIRM_MAX_AGE))
        except (BadSignature, SignatureExpired):
            return None

    def read_unsubscribe(self, token: str) -> str | None:
        try:
            return str(self._unsubscribe.loads(token))
        except BadSignature:
            return None


@dataclass
class Digest:
    subscription: dict[str, Any]
    period: str
    closing: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    more: int = 0  # matching items left out by the caps
    see_all_url: str = ""

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.closing + self.new


def period_of(frequency: str, tz_name: str, now: datetime) -> tuple[str, datetime]:
    """The period ``now`` falls in for this subscriber and when its slot starts (UTC)."""
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    if frequency == "daily":
        day = local.date()
        key = day.isoformat()
    else:
        day = local.date() - timedelta(days=(local.weekday() - WEEKDAY) % 7)
        year, week, _ = day.isocalendar()
        key = f"{year}-W{week:02d}"
    start = datetime.combine(day, SEND_AT, tz)
    if local < start:  # before this period's slot: the previous period's slot
        step = timedelta(days=1 if frequency == "daily" else 7)
        return period_of(frequency, tz_name, start - step)
    return key, start.astimezone(UTC)


class Subscriptions:
    def __init__(self, settings: Settings, engine: Engine, mailer: Mailer | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.mailer = mailer or Mailer(settings)
        self.tokens = Tokens(settings.signing_key())
        self.base = base_url(settings)

    # ---------------------------------------------------------- lifecycle

    def subscribe(self, email: str, search: SearchRequest, lang: str = "en", frequency: str = "weekly",
                  timezone: str = DEFAULT_TIMEZONE) -> str:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise InvalidEmail(str(exc)) from exc
        if lang not in UI_LANGUAGES:
            raise SubscriptionError(f"language must be one of {', '.join(UI_LANGUAGES)}")
        if frequency not in FREQUENCIES:
            raise SubscriptionError("frequency must be weekly or daily")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SubscriptionError(f"unknown time zone {timezone!r}") from exc
        sub_id = secrets.token_hex(16)
        saved = search.model_dump(mode="json", exclude_defaults=True,
                                  exclude={"cursor", "page", "size", "changed_since"})
        with self.engine.begin() as conn:
            conn.execute(insert(subscriptions).values(
                id=sub_id, email=email, search=saved, lang=lang, frequency=frequency, timezone=timezone,
                created_at=utcnow()))
        try:
            self.mailer.send(self._confirmation(sub_id, email, lang))
        except MailError:
            with self.engine.begin() as conn:  # nothing kept for a request that failed
                conn.execute(delete(subscriptions).where(subscriptions.c.id == sub_id))
            raise
        return sub_id

    def confirm(self, token: str) -> bool:
        sub_id = self.tokens.read_confirm(token)
        if sub_id is None:
            return False
        with self.engine.begin() as conn:
            row = conn.execute(select(subscriptions.c.confirmed_at).where(subscriptions.c.id == sub_id)).first()
            if row is None:
                return False
            if row[0] is None:
                conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id)
                             .values(confirmed_at=utcnow()))
        return True

    def language_of(self, token: str) -> str | None:
        """The interface language the subscription behind a confirmation or
        unsubscribe link was made in (its pages answer in it), if it still exists."""
        sub_id = self.tokens.read_confirm(token) or self.tokens.read_unsubscribe(token)
        sub = self.get(sub_id) if sub_id else None
        return str(sub["lang"]) if sub else None

    def unsubscribe(self, token: str) -> bool:
        """Delete the subscription and everything recorded about it."""
        sub_id = self.tokens.read_unsubscribe(token)
        if sub_id is None:
            return False
        with self.engine.begin() as conn:
            gone = conn.execute(delete(subscriptions).where(subscriptions.c.id == sub_id)).rowcount
            conn.execute(delete(digest_sends).where(digest_sends.c.subscription_id == sub_id))
            conn.execute(delete(sent_items).where(sent_items.c.subscription_id == sub_id))
        return bool(gone)

    def get(self, sub_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).mappings().first()
        return dict(row) if row else None

    def by_email(self, email: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscriptions).where(subscriptions.c.email == email.strip().lower())
                                ).mappings().all()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------ digests

    def build(self, sub: dict[str, Any], backend: SearchBackend, now: datetime) -> Digest:
        period, slot = period_of(sub["frequency"], sub["timezone"], now)
        step = timedelta(days=1 if sub["frequency"] == "daily" else 7)
        since = _aware(sub.get("last_sent_at")) or (slot - step)
        saved = SearchRequest(**sub["search"])
        req = saved.model_copy(update={"changed_since": since, "status": ["open"], "collapse": True,
                                       "size": 100, "page": 1, "cursor": None})
        # understood as the search page understands it, but never relaxed:
        # a digest brings only what matches the saved search
        planned, _ = plan(SearchRequest(**req.model_dump()))
        result = backend.search(planned)
        with self.engine.connect() as conn:
            already = {r[0] for r in conn.execute(select(sent_items.c.opportunity_id)
                                                  .where(sent_items.c.subscription_id == sub["id"]))}
        today = now.astimezone(ZoneInfo(sub["timezone"])).date()
        per_org: dict[str, int] = {}
        digest = Digest(subscription=sub, period=period)
        kept: list[dict[str, Any]] = []
        for hit in result.hits:
            o = hit.opportunity
            if o["id"] in already or (o.get("deadline") and date.fromisoformat(o["deadline"]) < today):
                continue
            # Variety among organisations; a listing that names none (every European
            # Youth Portal record) is not one organisation, and is not limited.
            org = ((o.get("organisation") or {}).get("name") or "").strip().lower()
            if org and per_org.get(org, 0) >= PER_ORGANISATION:
                digest.more += 1
                continue
            if org:
                per_org[org] = per_org.get(org, 0) + 1
            kept.append(o)
        digest.more += max(0, len(kept) - MAX_ITEMS) + max(0, result.clusters - len(result.hits))
        kept = kept[:MAX_ITEMS]
        soon = today + timedelta(days=CLOSING_SOON_DAYS)
        digest.closing = sorted((o for o in kept if o.get("deadline") and date.fromisoformat(o["deadline"]) <= soon),
                                key=lambda o: (o["deadline"], o["id"]))
        digest.new = [o for o in kept if o not in digest.closing]
        pairs = [p for p in saved.query_pairs() if p[0] != "size"]
        digest.see_all_url = f"{self.base}/?{urlencode([*pairs, ('lang', sub['lang'])])}"
        return digest

    def render(self, digest: Digest) -> EmailMessage:
        sub = digest.subscription
        ui = UI.of(sub["lang"])
        unsubscribe = f"{self.base}/unsubscribe?token={self.tokens.unsubscribe(sub['id'])}"
        context = {**ui.context(), "d": digest, "base": self.base, "unsubscribe_url": unsubscribe,
                   "today": datetime.now(UTC).date()}
        n = len(digest.items)
        subject = ui.ngettext("tilts: %(num)d new volunteering opportunity",
                              "tilts: %(num)d new volunteering opportunities", n) % {"num": n}
        msg = self._message(sub["email"], subject, unsubscribe)
        msg.set_content(_ENV.get_template("digest.txt").render(context))
        msg.add_alternative(_ENV.get_template("digest.html").render(context), subtype="html")
        return msg

    def _message(self, to: str, subject: str, unsubscribe: str | None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=urlsplit(self.base).hostname or "tilts.local")
        msg["Auto-Submitted"] = "auto-generated"
        if unsubscribe:
            msg["List-Unsubscribe"] = f"<{unsubscribe}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg["Precedence"] = "bulk"
        return msg

    def _confirmation(self, sub_id: str, email: str, lang: str) -> EmailMessage:
        ui = UI.of(lang)
        link = f"{self.base}/subscriptions/confirm?token={self.tokens.confirm(sub_id)}"
        msg = self._message(email, ui.gettext("Confirm your tilts subscription"), None)
        context = {**ui.context(), "confirm_url": link}
        msg.set_content(_ENV.get_template("confirm.txt").render(context))
        msg.add_alternative(_ENV.get_template("confirm.html").render(context), subtype="html")
        return msg

    def due(self, now: datetime) -> list[dict[str, Any]]:
        """Confirmed subscriptions whose current period has no digest decision yet."""
        with self.engine.connect() as conn:
            subs = [dict(r) for r in conn.execute(
                select(subscriptions).where(subscriptions.c.confirmed_at.is_not(None))).mappings()]
            done = {(r[0], r[1]) for r in conn.execute(select(digest_sends.c.subscription_id,
                                                              digest_sends.c.period))}
        out = []
        for sub in subs:
            period, slot = period_of(sub["frequency"], sub["timezone"], now)
            if (sub["id"], period) not in done and now >= slot:
                out.append(sub)
        return out

    def send_digest(self, sub: dict[str, Any], backend: SearchBackend, now: datetime) -> str:
        """Build, claim and send one subscriber's digest: "sent", "empty", "skipped"
        (claimed elsewhere) or "failed" (released for a retry)."""
        digest = self.build(sub, backend, now)
        ids = [o["id"] for o in digest.items]
        status = "claimed" if ids else "empty"
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(digest_sends).values(
                    subscription_id=sub["id"], period=digest.period, status=status, items=len(ids),
                    claimed_at=utcnow()))
                if ids:
                    conn.execute(insert(sent_items), [
                        {"subscription_id": sub["id"], "opportunity_id": i, "period": digest.period} for i in ids])
                    conn.execute(update(subscriptions).where(subscriptions.c.id == sub["id"])
                                 .values(last_sent_at=now))
        except IntegrityError:
            return "skipped"
        if not ids:
            return "empty"
        message = self.render(digest)
        try:
            self.mailer.send(message)
        except MailError:
            log.exception("digest for subscription %s not sent; released for retry", sub["id"])
            with self.engine.begin() as conn:
                conn.execute(delete(sent_items).where(sent_items.c.subscription_id == sub["id"],
                                                      sent_items.c.period == digest.period))
                conn.execute(delete(digest_sends).where(digest_sends.c.subscription_id == sub["id"],
                                                        digest_sends.c.period == digest.period))
                conn.execute(update(subscriptions).where(subscriptions.c.id == sub["id"])
                             .values(last_sent_at=sub.get("last_sent_at")))
            return "failed"
        with self.engine.begin() as conn:
            conn.execute(update(digest_sends).where(digest_sends.c.subscription_id == sub["id"],
                                                    digest_sends.c.period == digest.period)
                         .values(status="sent", sent_at=utcnow(), message_id=message["Message-ID"]))
        return "sent"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def send_due_digests(settings: Settings, engine: Engine, *, now: datetime | None = None,
                     backend: SearchBackend | None = None, mailer: Mailer | None = None,
                     stop: threading.Event | None = None) -> dict[str, str]:
    """Every due digest, each at most once; subscription id → outcome. Stops
    between subscribers once ``stop`` is set (the rest are due next sweep)."""
    now = now or utcnow()
    subs = Subscriptions(settings, engine, mailer)
    own = backend is None
    backend = backend or make_backend(settings)
    outcomes: dict[str, str] = {}
    try:
        for sub in subs.due(now):
            if stop is not None and stop.is_set():
                break
            outcomes[sub["id"]] = subs.send_digest(sub, backend, now)
        return outcomes
    finally:
        if own:
            backend.close()
