"""Sending email over SMTP (host, port, STARTTLS, credentials from settings),
with retries and exponential back-off on temporary failures."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from email.message import EmailMessage

from pipeline.config import Settings

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The message was not accepted by the SMTP server (it was not sent)."""


class Mailer:
    def __init__(self, settings: Settings, attempts: int = 3, backoff: float = 1.0) -> None:
        self.settings = settings
        self.attempts = attempts
        self.backoff = backoff

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raises MailError when every attempt failed."""
        s = self.settings
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
                    if s.smtp_starttls:
                        smtp.starttls(context=ssl.create_default_context())
                    if s.smtp_user:
                        smtp.login(s.smtp_user, s.smtp_password or "")
                    smtp.send_message(message)
                return
            except smtplib.SMTPResponseException as exc:
                last = exc
                if 500 <= exc.smtp_code < 600:
                    break  # permanent: retrying will not help
            except (OSError, smtplib.SMTPException) as exc:
                last = exc
            log.warning("SMTP attempt %d/%d to %s:%s failed: %s", attempt, self.attempts,
                        s.smtp_host, s.smtp_port, last)
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        raise MailError(f"SMTP {s.smtp_host}:{s.smtp_port} did not accept the message: {last}")
