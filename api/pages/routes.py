"""Public pages: /windows/{uid} (what each event's URL points to), /windows/{uid}.ics (that
window alone) and /postpone/{link} (the signed link in window mail: choose a later window).

The window's uid is random (122 bits) and only reaches the group's contacts (mail, feed) and
operators, so, like the feed token, knowing it is the permission to read the page. Postponing
needs the signed link; its form is a POST with a signed double-submit CSRF token.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import parseaddr
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from api.calendar.query import window_views
from api.calendar.texts import format_local
from api.calendar.values import CalendarView, WindowView
from api.errors import ValidationError
from api.feeds.ics import build_calendar
from api.models import Window
from api.pages import links
from api.pages.render import (
    Notice,
    problem_page,
    slot,
    span,
    window_page,
)
from api.pages.render import postpone_page as postpone_html
from api.principal import Principal, Role
from api.services.postponing import postpone, postpone_choice
from api.settings import Settings

__all__ = ["page_routes"]

CSRF_COOKIE = "fenster_csrf"
MAX_FORM = 4096
ACTOR = "postpone link"  # the audit trail's actor for a postpone through a mailed link
LINK = Principal(Role.CUSTOMER, ACTOR)  # a postpone through a link is a customer's
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",  # the link is the permission: never leak it
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def _provider(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[0] or settings.mail_domain


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=dict(_HEADERS))


def _problem(settings: Settings, status: int, title: str, *lines: str, uid: str = "") -> Response:
    path = f"/windows/{uid}" if uid else ""
    page = problem_page(title, lines, provider=_provider(settings), window_path=path)
    return _html(page, status)


async def _view(settings: Settings, uid: str) -> WindowView | None:
    if len(uid) > 80 or "\x00" in uid:
        return None
    found = await window_views(settings.public_url, uids=[uid])
    return found[0] if found else None


async def show_window(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    w = await _view(settings, request.path_params["uid"])
    if w is None:
        return PlainTextResponse("no such window\n", status_code=404)
    page = window_page(w, provider=_provider(settings), ics_path=f"/windows/{w.uid}.ics")
    return HTMLResponse(
        page, headers={"Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex"}
    )


async def window_ics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    w = await _view(settings, request.path_params["uid"])
    if w is None:
        return PlainTextResponse("no such window\n", status_code=404)
    cal = CalendarView(
        name=f"Maintenance: {w.machine}",
        timezone=w.timezone,
        provider=settings.mail_domain,
        organizer=parseaddr(settings.mail_from)[1],
    )
    return Response(
        build_calendar(cal, [w], method="PUBLISH"),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, max-age=60",
            "Content-Disposition": f'attachment; filename="maintenance-{w.machine}.ics"',
        },
    )


async def _claimed(request: Request) -> tuple[str, Window] | Response:
    """The link's token and its window at the link's revision, or the page saying why not."""
    settings: Settings = request.app.state.settings
    token = request.path_params["token"]
    claim = links.read_link(settings, token, datetime.now(UTC))
    if claim is links.LinkProblem.TAMPERED:
        return _problem(
            settings,
            404,
            "This link is not valid",
            "It is not a link we sent, or it was changed (perhaps cut off when it was copied).",
            "Open the link from the mail once more, or reply to the mail.",
        )
    if claim is links.LinkProblem.EXPIRED:
        return _problem(
            settings,
            410,
            "This link has expired",
            "A postpone link works until its window starts, and for at most "
            f"{settings.postpone_link_days} days after its mail was written.",
            "The newest mail about the window has a fresh link while it can still be postponed.",
        )
    assert isinstance(claim, links.LinkClaim)
    window = await Window.get_or_none(uid=claim.uid)
    if window is None:
        return _problem(settings, 404, "This window no longer exists", "There is nothing to move.")
    if window.sequence != claim.sequence:
        return _problem(
            settings,
            409,
            "This link is for an older version of the window",
            f"The window changed after the mail with this link was written (revision "
            f"{claim.sequence}; it is at revision {window.sequence} now): it may have been "
            "postponed already, moved or cancelled.",
            "The newest mail about it says what holds now, with a new link if it can still be "
            "postponed.",
            uid=window.uid,
        )
    return token, window


def _rules(w: WindowView) -> str:
    left = w.max_postpones - w.postpones
    times = "once" if left == 1 else f"{left} more times"
    text = f"Your group's policy lets you postpone this window {times}"
    if w.postpone_deadline is not None:
        text += f", to a window starting by {format_local(w.postpone_deadline, w.timezone)}"
    return text + ". Your group's technical contacts get a mail about the new window."


async def postpone_form(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    found = await _claimed(request)
    if isinstance(found, Response):
        return found
    token, window = found
    choice = await postpone_choice(window, settings=settings)
    if choice.problems:
        return _problem(
            settings, 409, "This window cannot be postponed", *choice.problems, uid=window.uid
        )
    w = await _view(settings, window.uid)
    assert w is not None
    nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    page = postpone_html(
        w,
        provider=_provider(settings),
        slots=[slot(o.starts_at, o.ends_at, w.timezone) for o in choice.slots],
        action=f"/postpone/{token}",
        csrf=links.csrf_token(settings, nonce, token),
        rules=_rules(w),
        window_path=f"/windows/{w.uid}",
    )
    response = _html(page)
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        path="/postpone/",
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
    )
    return response


async def _form(request: Request) -> dict[str, str] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in fields.items() if len(v) == 1}


def _slot_time(raw: str) -> datetime | None:
    if not raw.isdigit() or len(raw) > 12:
        return None
    return datetime.fromtimestamp(int(raw), UTC)


async def postpone_submit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    found = await _claimed(request)
    if isinstance(found, Response):
        return found
    token, window = found
    form = await _form(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if form is None or not links.csrf_valid(settings, form.get("csrf", ""), cookie, token):
        return _problem(
            settings,
            403,
            "The form could not be accepted",
            "It was not sent from the postpone page in this browser (cookies must be allowed "
            "for this site).",
            "Open the link from the mail once more and choose a window.",
            uid=window.uid,
        )
    start = _slot_time(form.get("slot", ""))
    if start is None:
        return _problem(
            settings,
            400,
            "No window was chosen",
            "Choose one of the windows offered.",
            uid=window.uid,
        )
    try:
        moved = await postpone(LINK, window, to=start, sequence=window.sequence, settings=settings)
    except ValidationError as exc:
        lines = [e.message for e in exc.errors]
        return _problem(settings, 409, "This window was not postponed", *lines, uid=window.uid)
    w = await _view(settings, moved.uid)
    assert w is not None
    notice = Notice(
        "Postponed.",
        f"The window now starts {span(w.starts_at, w.ends_at, w.timezone).local}. "
        "Your group's technical contacts get a mail about it.",
    )
    page = window_page(
        w, provider=_provider(settings), ics_path=f"/windows/{w.uid}.ics", notice=notice
    )
    return _html(page)


def page_routes(settings: Settings) -> list[BaseRoute]:
    # the .ics route first: "{uid}" alone would take "<uid>.ics" too
    return [
        Route("/windows/{uid}.ics", window_ics, methods=["GET"], name="window_ics"),
        Route("/windows/{uid}", show_window, methods=["GET"], name="window_page"),
        Route("/postpone/{token}", postpone_form, methods=["GET"], name="postpone_form"),
        Route("/postpone/{token}", postpone_submit, methods=["POST"], name="postpone_submit"),
    ]
