"""Where the browser tests find Chromium and leave screenshots of failures,
and what several of them share: the two screens, an app served on a free
port, axe-core's WCAG checks and the contrast of a focus ring."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# WCAG 2.0, 2.1 and 2.2, levels A and AA; "wcag22aa" switches on target-size (24×24 CSS px).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")


def chromium_path() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def serve(app: Any) -> Any:
    """``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    from tilts.serving import serve_in_thread

    return serve_in_thread(app)


def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations of ``page`` with one of ``impacts``."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    found = Axe().run(page, options=options).response["violations"]
    return [v for v in found if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per violation and node: rule, impact, target selectors, help."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            lines.append(f"{v['id']} ({v['impact']}) {' '.join(map(str, node['target']))}: {v['help']}")
    return "\n".join(lines)


# The focused element's outline colour against what is behind it (the first
# ancestor with an opaque background: the outline is drawn outside the element).
_FOCUS_RING = """el => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lin = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const style = getComputedStyle(el);
  let bg = [255, 255, 255], node = el.parentElement;
  for (; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] === 1)) { bg = c.slice(0, 3); break; }
  }
  const ring = rgb(style.outlineColor).slice(0, 3), [a, b] = [lum(ring), lum(bg)];
  return {style: style.outlineStyle, width: parseFloat(style.outlineWidth), color: style.outlineColor,
          background: `rgb(${bg.join(', ')})`, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
          focused: document.activeElement === el};
}"""


def focus_ring(page: Any, selector: str) -> dict[str, Any]:
    """Focus the first ``selector`` from the keyboard's side and measure its ring."""
    element = page.locator(selector).first
    element.focus()
    return element.evaluate(_FOCUS_RING)


# Interactive elements smaller than 24×24 CSS px (WCAG 2.5.8), leaving out
# links inside a sentence (the inline exception) and visually hidden ones.
_SMALL_TARGETS = """() => Array.from(document.querySelectorAll(
    'a[href], button, summary, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])'))
  .filter(e => {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || e.closest('.vh, .skip')) return false;
    const inSentence = getComputedStyle(e).display === 'inline'
        && (e.parentElement.textContent || '').trim().length > (e.textContent || '').trim().length;
    return !inSentence && (r.width < 24 || r.height < 24);
  })
  .map(e => `${e.outerHTML.slice(0, 100)} (${Math.round(e.getBoundingClientRect().width)}×${
      Math.round(e.getBoundingClientRect().height)})`)"""


def small_targets(page: Any) -> list[str]:
    return page.evaluate(_SMALL_TARGETS)


class Tabs:
    """Browser contexts opened by one test, closed after it; the last page of
    each is screenshot into ``test-artifacts/`` when the test failed."""

    def __init__(self, browser: Any, name: str) -> None:
        self.browser, self.name = browser, name
        self.contexts: list[Any] = []

    def open(self, viewport: dict[str, int], **options: Any) -> Any:
        context = self.browser.new_context(viewport=viewport, **options)
        self.contexts.append(context)
        return context.new_page()

    def close(self, failed: bool) -> None:
        for i, context in enumerate(self.contexts):
            if failed and context.pages:
                ARTIFACTS.mkdir(exist_ok=True)
                context.pages[-1].screenshot(path=str(ARTIFACTS / f"{self.name}-{i}.png"))
            context.close()


def corpus_app(folder: Path) -> Any:
    """The whole web app on the embedded backend in ``folder`` with the test
    corpus: search UI, subscriptions (mail is accepted and dropped) and the
    coverage dashboard (credentials :data:`tests.support.dashboard.AUTH`)
    with two snapshots a week apart."""


    from coverage.dashboard import Dashboard
    from pipeline.config import Settings
    from search.backends import open_backend
    from storage.db import connect
    from subscriptions.digest import Subscriptions
    from subscriptions.mail import Mailer
    from tests.support.corpus import corpus
    from tests.support.dashboard import AUTH, Src, seed_history
    from tilts.app import create_app

    class DroppedMail(Mailer):
        def send(self, message: Any) -> None:
            pass

    backend = open_backend(f"sqlite:///{folder / 'search.sqlite3'}")
    backend.setup()
    assert backend.upsert_many(corpus()) == []
    backend.refresh()
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder / 'db.sqlite3'}",
                        dashboard_password=AUTH[1], secret_key="browser-tests-" + "k" * 24)
    engine = connect(settings.db_url)
    seed_history(settings, engine, backend)
    return create_app(backend, subscriptions=Subscriptions(settings, engine, DroppedMail(settings)),
                      subscribe_limit=(10_000, 60.0),
                      dashboard=Dashboard(settings, engine, {"corpus": Src("corpus"), "other": Src("other")}))
