"""The README's screenshots of the web UI, taken from real data, offline.

The European Solidarity Corps listings bundled with the replay
(``devtools/replay/data``, European Youth Portal, CC BY 4.0) are normalized
in this process as a crawl's would be, their dates moved to today as the
replay moves them, indexed on the embedded SQLite backend and served on
127.0.0.1; headless Chromium photographs the home page and a search, on a
phone (390×844) and a desktop (1280×900), in Ukrainian and Latvian, and one
Arabic search on a phone, into ``docs/screenshots/``:

    python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import ViewportSize  # noqa: E402

from devtools.corpus import esc_raw  # noqa: E402
from devtools.replay.corpus import ESC_SNAPSHOT, esc_records  # noqa: E402
from pipeline.events import Opportunity  # noqa: E402
from pipeline.normalize import normalize  # noqa: E402

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# (file name, screen, UI language, search words or None for the home page)
SHOTS = [
    ("phone-home-uk", PHONE, "uk", None), ("phone-results-uk", PHONE, "uk", "волонтерство в латвії"),
    ("phone-home-lv", PHONE, "lv", None), ("phone-results-lv", PHONE, "lv", "dzīvnieku patversme"),
    ("desktop-home-uk", DESKTOP, "uk", None), ("desktop-results-uk", DESKTOP, "uk", "волонтерство в латвії"),
    ("desktop-home-lv", DESKTOP, "lv", None), ("desktop-results-lv", DESKTOP, "lv", "dzīvnieku patversme"),
    ("phone-results-ar", PHONE, "ar", "تطوع في لاتفيا"),
]
DATE_FIELDS = ("start_date", "end_date", "deadline", "created")


def moved(value: str | None, shift: timedelta) -> str | None:
    """An ISO date (or date-time) ``shift`` later, as the replay moves its dates."""
    if not value:
        return value
    if "T" in value:
        return (datetime.fromisoformat(value[:19]) + shift).isoformat()
    return (date.fromisoformat(value[:10]) + shift).isoformat()


def listings(today: date) -> list[Opportunity]:
    """The bundled ESC records, dated as if gathered ``today``, normalized."""
    shift = timedelta(days=(today - ESC_SNAPSHOT).days // 7 * 7)
    now, out = datetime.now(UTC), []
    for o in esc_records():
        o = o | {field: moved(o.get(field), shift) for field in DATE_FIELDS}
        raw = esc_raw(o, "screenshots", now)
        try:
            out.append(normalize(raw, now=now))
        except ValueError as exc:  # a record the normalizer refuses is left out, as a crawl's would be
            print(f"left out {o['opid']}: {exc}", file=sys.stderr)
    return out


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """The web UI on the embedded backend with the real listings; yields its URL."""
    from search.backends import open_backend
    from tilts.app import create_app
    from tilts.serving import serve_in_thread

    backend = open_backend(f"sqlite:///{folder / 'search.sqlite3'}")
    backend.setup()
    failed = backend.upsert_many(listings(date.today()))
    backend.refresh()
    print(f"indexed the European Solidarity Corps listings ({len(failed)} refused)")
    try:
        with serve_in_thread(create_app(backend)) as url:
            yield url
    finally:
        backend.close()


def photograph(site: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=flags)
        for name, screen, lang, words in SHOTS:
            context = browser.new_context(viewport=screen, locale=lang, device_scale_factor=1)
            page = context.new_page()
            query: dict[str, Any] = {"q": words} if words else {}
            page.goto(f"{site}/?{urlencode({**query, 'lang': lang})}", wait_until="networkidle")
            path = out / f"{name}.png"
            page.screenshot(path=str(path), animations="disabled", caret="hide")
            written.append(path)
            print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size // 1024} KB")
            context.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        print("Chromium not found (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, serving(Path(folder)) as site:
        photograph(site, args.out, chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
