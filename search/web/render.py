"""Server-rendered pages: the Jinja2 templates of ``search/templates``, the
page's language, and what every template can call. Descriptions are shown
only as the normalizer's sanitized HTML; everything else is escaped by
Jinja2's autoescaping."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel.lists import format_list
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from pipeline.events import Eligibility, web_url
from pipeline.normalize.text import sanitize_html
from search.backends import SearchRequest
from search.i18n import FACET_LABELS, NATIVE_NAMES, SUPPORT_LABELS, UI, UI_LANGUAGES, pick_language, value_label
from search.web.choices import country_list
from search.web.publishers import Publishers
from search.web.structured import json_ld

Link = tuple[str, str]  # an address and the text that names it

SEARCH_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(SEARCH_DIR / "templates"))
STATIC_DIR = SEARCH_DIR / "static"
LANG_COOKIE_SECONDS = 365 * 86400


def ui_for(request: Request, lang: str | None) -> UI:
    """The page's language: ``lang`` (from the query or a form), the cookie, the browser's."""
    return UI.of(pick_language(lang, request.cookies.get("lang"), request.headers.get("accept-language")))


def helpers(request: Request, ui: UI) -> dict[str, Any]:
    """What every page template may call, in the page's language."""
    def lang_query(code: str) -> str:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "cursor")]
        return urlencode([*pairs, ("lang", code)])

    def hidden_pairs(req: SearchRequest) -> list[tuple[str, str]]:
        return [p for p in req.query_pairs() if p[0] != "q"]

    site = getattr(request.app.state, "site", None)
    publishers = site.publishers if site is not None else Publishers()

    return {
        "lang_query": lang_query,
        "language_label": lambda code: NATIVE_NAMES[code],
        "facet_label": lambda facet: ui.gettext(FACET_LABELS[facet]),
        "support_label": lambda item: ui.gettext(SUPPORT_LABELS[item]),
        "value_label": lambda facet, value: value_label(ui, facet, value),
        "hidden_pairs": hidden_pairs,
        "source_links": lambda o: source_links(publishers, o),
        "country_list": lambda codes: country_list(ui, codes),
        "required_languages": lambda languages: required_languages(ui, languages),
        "resident": None, "full": False,
    }


def source_links(publishers: Publishers, o: dict[str, Any]) -> tuple[Link | None, list[Link]]:
    """The card's source link and its "also listed on" links: (address, text)
    pairs, named by the publisher where the registry knows it, by the host
    otherwise. Only http(s) addresses; an "also listed on" address that is the
    listing's own (several feeds of one site) or repeats another is left out."""
    own = web_url(o.get("url"))
    main = (own, publishers.of_source(str(o.get("source_id"))) or _host(own)) if own else None
    seen = {own}
    others: list[Link] = []
    for url in (o.get("provenance") or {}).get("also_listed_on") or []:
        url = web_url(url)
        if url and url not in seen:
            seen.add(url)
            others.append((url, publishers.of_url(url) or _host(url)))
    return main, others


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def required_languages(ui: UI, languages: list[dict[str, Any]]) -> str:
    """A listing's language requirements as the card shows them: "German B1,
    English" or, with alternatives, "German B1; English or Russian" (the
    "or" list of the page's language, from CLDR); "" when there are none."""
    groups = Eligibility.model_validate({"languages": languages}).required_groups()
    shown = [format_list([f"{ui.language_name(r.language)} {r.level}" if r.level else ui.language_name(r.language)
                          for r in group], style="or", locale=ui.locale) for group in groups]
    return ("; " if any(len(group) > 1 for group in groups) else ", ").join(shown)


def page(request: Request, ui: UI, template: str, context: dict[str, Any], lang: str | None) -> HTMLResponse:
    """A page in ``ui``'s language; a ``lang`` chosen in the query is remembered in a cookie."""
    resp = TEMPLATES.TemplateResponse(request, template, {**ui.context(), **helpers(request, ui), **context})
    resp.headers["Content-Language"] = ui.lang
    resp.headers["Vary"] = "Accept-Language, Cookie"
    if lang in UI_LANGUAGES:
        resp.set_cookie("lang", lang, max_age=LANG_COOKIE_SECONDS, samesite="lax")
    return resp


def message(request: Request, ui: UI, title: str, text: str, status: int = 200, back: str = "/") -> HTMLResponse:
    """A page that says one thing (a notice or an error), with ``status``; its
    "Back to search" link goes to ``back`` (a path of this site)."""
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    resp = page(request, ui, "message.html", {"title": title, "text": text, "languages": UI_LANGUAGES,
                                              "back": back}, None)
    resp.status_code = status
    return resp


def deadline_state(o: dict[str, Any], today: date) -> tuple[str, int | None]:
    """("open"|"closing"|"expired", days left) for the card and the apply button."""
    if o.get("status") != "open":
        return "expired", None
    if not o.get("deadline"):
        return "open", None
    days = (date.fromisoformat(o["deadline"]) - today).days
    if days < 0:
        return "expired", days
    return ("closing" if days <= 7 else "open"), days


TEMPLATES.env.globals["deadline_state"] = deadline_state
# Defence in depth: descriptions pass the normalizer's allow-list again when
# shown, so an index written by an older version can never serve active HTML.
TEMPLATES.env.filters["sanitized"] = lambda html: Markup(sanitize_html(html))
# Only http(s) links reach an href, whatever an index holds (see pipeline.events.web_url).
TEMPLATES.env.filters["web_url"] = web_url
TEMPLATES.env.globals["timedelta"] = timedelta
TEMPLATES.env.globals["json_ld"] = json_ld
