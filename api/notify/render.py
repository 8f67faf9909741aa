"""Notification -> email (text and HTML alternatives, a calendar attachment): pure, no I/O.

Each notice kind (``api.notices``) has two Jinja templates in ``api/notify/templates/<kind>/``:
``message.txt`` and ``message.html``, extending ``layout.txt`` and ``layout.html``. HTML is
autoescaped; its stylesheet (in ``layout.html``) is inlined into ``style`` attributes, since
many mail clients drop ``<style>`` blocks. The wording of rows and sentences is in
:mod:`api.notify.views`, so both alternatives say the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import cache

import css_inline
import markdown
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from api.calendar.texts import activity_line, duration_text, format_local
from api.calendar.values import CalendarView, WindowView
from api.feeds.ics import build_calendar
from api.notices import Notice, Scope
from api.notify import views
from api.notify.views import GroupView, MailContext
from api.publish.layout import announcement_path, page_url

__all__ = [
    "GroupView",
    "MailContext",
    "Outgoing",
    "message_id",
    "render",
    "thread_root",
]

_ONE_LINE_HEADERS = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Outgoing:
    """One outbox row with what it references, loaded by the mailer."""

    notice: Notice
    key: str  # the row's dedupe key: makes the Message-ID, stable across retries
    recipients: tuple[str, ...]
    group: GroupView
    windows: tuple[WindowView, ...] = ()
    starts_thread: bool = False  # the first mail about its window: carries the thread root id
    postpone_url: str = ""  # the signed one-click postpone link (api.pages.links), if any


# ---------------------------------------------------------------- ids


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def thread_root(uid: str, domain: str) -> str:
    """The Message-ID every mail about window ``uid`` refers to (the first one carries it)."""
    local = "".join(c for c in uid.split("@", 1)[0] if c.isalnum() or c in "-.") or "window"
    return f"<window.{local}@{domain}>"


# ---------------------------------------------------------------- templates


def _local(at: datetime, window: WindowView) -> str:
    return format_local(at, window.timezone)


def _markdown(text: str) -> Markup:
    """An operator's announcement (trusted Markdown) as HTML."""
    return Markup(markdown.markdown(text, extensions=["tables"]))


def _page_url(site: MailContext, slug: str) -> str:
    return page_url(site.public_url, announcement_path(slug))


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("api.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        local=_local,
        zoned=format_local,
        duration=duration_text,
        wrap=views.paragraph,
        markdown=_markdown,
    )
    env.globals.update(
        aligned=views.aligned,
        page_url=_page_url,
        activity_line=activity_line,
        digest_line=views.digest_line,
        lead=views.lead_text,
        outcome_lines=views.outcome_lines,
        postpone_offer=views.postpone_offer,
        settings_rows=views.settings_rows,
        window_rows=views.window_rows,
        work_labels=views.work_labels,
    )
    return env


@cache
def _subject(source: str) -> Template:
    return _env().from_string(source)


@cache
def _stylesheet() -> str:
    loader = _env().loader
    assert loader is not None
    return loader.get_source(_env(), "mail.css")[0]


@cache
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


# ---------------------------------------------------------------- messages


def _check(out: Outgoing) -> None:
    kind, scope, n = out.notice.kind, out.notice.scope, len(out.windows)
    if scope is Scope.WINDOW and n != 1:
        raise ValueError(f"{kind} needs exactly one window, got {n}")
    if scope is Scope.WINDOWS and n == 0:
        raise ValueError(f"{kind} needs at least one window")


def _bodies(out: Outgoing, ctx: MailContext, now: datetime) -> tuple[str, str, str]:
    """(subject, text, HTML) of ``out``, through its kind's templates."""
    notice = out.notice
    windows = tuple(sorted(out.windows, key=lambda w: (w.starts_at, w.machine)))
    values = {
        "notice": notice,
        "group": out.group,
        "site": ctx,
        "now": now,
        "windows": windows,
        "window": windows[0] if windows else None,
        "when": format_local(windows[0].starts_at, windows[0].timezone) if windows else "",
        "postpone_url": out.postpone_url,
    }
    subject = " ".join(_subject(notice.subject).render(values).split())
    text_name, html_name = notice.templates()
    text = _env().get_template(text_name).render(values, subject=subject)
    markup = _env().get_template(html_name).render(values, subject=subject)
    return subject, text, _inliner().inline(markup)


def _calendar(out: Outgoing, ctx: MailContext, now: datetime) -> bytes | None:
    if not out.notice.calendar:
        return None
    cal = CalendarView(
        name=f"Maintenance: {out.group.label}",
        timezone=out.group.timezone,
        provider=ctx.domain,
        organizer=ctx.from_address,
    )
    return build_calendar(cal, out.windows, method="PUBLISH", stamp=now)


def _headers(
    msg: EmailMessage, out: Outgoing, ctx: MailContext, subject: str, now: datetime
) -> None:
    msg["Subject"] = subject
    msg["From"] = ctx.mail_from
    msg["To"] = ", ".join(out.recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    own = message_id(out.key, ctx.domain)
    one = out.windows[0] if out.notice.scope is Scope.WINDOW else None
    if one is not None:
        root = thread_root(one.uid, ctx.domain)
        if out.starts_thread:
            own = root
        else:
            msg["In-Reply-To"] = root
            msg["References"] = root
    msg["Message-ID"] = own
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Fenster-Kind"] = out.notice.kind
    msg["X-Fenster-Group"] = out.group.name
    if one is not None:
        msg["X-Fenster-Window"] = one.uid


def render(out: Outgoing, ctx: MailContext, now: datetime) -> EmailMessage:
    """The complete message for one outbox row, ready for any transport."""
    _check(out)
    subject, text, markup = _bodies(out, ctx, now)
    msg = EmailMessage(policy=SMTP)
    _headers(msg, out, ctx, subject, now)
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(markup, subtype="html", cte="quoted-printable")
    ics = _calendar(out, ctx, now)
    if ics is not None:
        name = out.windows[0].machine if len(out.windows) == 1 else out.group.name
        msg.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename=f"maintenance-{name}.ics",
            params={"charset": "utf-8", "method": "PUBLISH"},
        )
    # Bodies are encoded (76-column quoted-printable) already; headers are written on one
    # line up to 998 octets: Python folds a long Subject by moving all of it to the next
    # line, which several readers then show with a leading space.
    msg.policy = _ONE_LINE_HEADERS
    return msg
