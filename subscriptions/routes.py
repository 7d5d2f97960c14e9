"""The web routes of subscriptions: save a search for email digests (double
opt-in), confirm it, and unsubscribe (one click, RFC 8058).

The app holds the :class:`Subscriptions` and the per-client
:class:`RateLimiter` of subscription requests in ``app.state``
(``subscriptions``, ``subscribe_limiter``), set by :func:`tilts.app.create_app`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from search.backends import SearchRequest
from search.i18n import NOTICES, UI, UI_LANGUAGES
from search.security import RateLimiter, cross_site
from search.web.deps import SiteDep, app_state
from search.web.forms import grouped
from search.web.render import message, page, ui_for
from subscriptions.digest import InvalidEmail, SubscriptionError, Subscriptions
from subscriptions.mail import MailError

router = APIRouter()
Token = Annotated[str, Query(max_length=500)]


Subs = Annotated[Subscriptions, Depends(app_state("subscriptions"))]
Limiter = Annotated[RateLimiter, Depends(app_state("subscribe_limiter"))]


def notice(request: Request, ui: UI, what: str, status: int = 200, reason: str = "",
           back: str = "/") -> HTMLResponse:
    """The page of one of :data:`search.i18n.NOTICES` (``reason``: the text of one that has none;
    ``back``: where its "Back to search" link goes)."""
    title, text = NOTICES[what]
    return message(request, ui, ui.gettext(title), ui.gettext(text) if text else reason, status, back=back)


@router.post("/subscriptions", response_class=HTMLResponse, tags=["subscriptions"],
             responses={400: {"description": "Invalid email, language, frequency or search"},
                        403: {"description": "Sent from another site's page"},
                        429: {"description": "Too many subscription requests from this client"},
                        503: {"description": "The confirmation email could not be sent"}})
async def subscribe(request: Request, subs: Subs, limiter: Limiter, site: SiteDep) -> HTMLResponse:
    """Save a search for email digests (double opt-in: a confirmation link is mailed).
    Form fields: ``email``, ``frequency`` (weekly|daily), ``timezone``, ``lang``, and
    any search parameter."""
    form = await request.form()
    ui = ui_for(request, str(form.get("lang") or "") or None)
    if cross_site(request, site.public_url):
        return notice(request, ui, "cross_site", 403)
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        return notice(request, ui, "rate_limited", 429)
    try:
        search = SearchRequest(**grouped(form.multi_items(), SearchRequest))
    except ValidationError as exc:
        return notice(request, ui, "invalid", 400, reason=str(exc))
    back = "/?" + urlencode([*search.query_pairs(), ("lang", ui.lang)])  # the search, not an empty start page
    try:
        subs.subscribe(str(form.get("email") or ""), search, lang=ui.lang,
                       frequency=str(form.get("frequency") or "weekly"),
                       timezone=str(form.get("timezone") or "Europe/Riga"))
    except InvalidEmail:
        return notice(request, ui, "invalid_email", 400, back=back)
    except SubscriptionError as exc:
        return notice(request, ui, "invalid", 400, reason=str(exc), back=back)
    except MailError:
        return notice(request, ui, "mail_failed", 503, back=back)
    return notice(request, ui, "confirm_sent", 202)


def link_ui(request: Request, token: str, subs: Subscriptions) -> UI:
    """A page reached from a mailed link speaks the subscription's language
    unless the person picked another (``?lang=``)."""
    return ui_for(request, request.query_params.get("lang") or subs.language_of(token))


@router.get("/subscriptions/confirm", response_class=HTMLResponse, tags=["subscriptions"],
            responses={400: {"description": "Invalid or expired link"}})
def confirm(request: Request, token: Token, subs: Subs) -> HTMLResponse:
    ui = link_ui(request, token, subs)
    if subs.confirm(token):
        return notice(request, ui, "confirmed")
    return notice(request, ui, "confirm_invalid", 400)


@router.get("/unsubscribe", response_class=HTMLResponse, tags=["subscriptions"])
def unsubscribe_page(request: Request, token: Token, subs: Subs) -> HTMLResponse:
    ui = link_ui(request, token, subs)
    return page(request, ui, "unsubscribe.html", {"token": token, "languages": UI_LANGUAGES}, None)


@router.post("/unsubscribe", response_class=HTMLResponse, tags=["subscriptions"],
             responses={400: {"description": "Invalid link"}})
def unsubscribe(request: Request, token: Token, subs: Subs) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): deletes the subscription and its data."""
    ui = link_ui(request, token, subs)
    if subs.unsubscribe(token):
        return notice(request, ui, "unsubscribed")
    return notice(request, ui, "unsubscribe_invalid", 400)
