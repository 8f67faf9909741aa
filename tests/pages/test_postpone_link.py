"""The signed postpone link through the ASGI app: mail -> page -> POST -> window moved, and
every way a link or a form can be refused without changing anything."""

from __future__ import annotations

import mailbox
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from tortoise.context import TortoiseContext

from api.models import AuditEvent, Notification, ResourceGroup, Window
from api.notify.mailer import drain
from api.notify.transport import transport_from_settings
from api.pages import links
from api.scheduling import occurrence
from api.services import groups
from api.services.window_base import group_policy
from api.settings import Settings
from tests.notify.world import make_group, make_window

LINK = re.compile(r"https?://[^/\s]+(/postpone/[A-Za-z0-9_.\-]+)")
FIELD = re.compile(r'name="(csrf|slot)" value="([^"]+)"')


async def planned_window(group: ResourceGroup, days: int = 8, **kw: object) -> Window:
    """A window in the group's regular window ``days`` ahead, announced by mail."""
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    occ = occurrence(group_policy(group), day)
    return await make_window(group, "vm01", occ.starts_at, **kw)  # type: ignore[arg-type]


async def mailed_link(settings: Settings, kind: str = "window_scheduled") -> str:
    """Send the outbox to the Maildir and take the postpone link from the ``kind`` mail."""
    await drain(settings, transport_from_settings(settings))
    found = []
    for msg in mailbox.Maildir(settings.maildir, create=False):
        if msg["X-Fenster-Kind"] == kind:
            body = msg.get_payload()[0].get_payload()[0].get_payload(decode=True).decode()
            found += LINK.findall(body)
    assert found, "no postpone link in the window mail"
    return found[-1]


async def state(window: Window) -> tuple[object, ...]:
    w = await Window.get(id=window.id)
    return (
        w.starts_at,
        w.ends_at,
        w.sequence,
        w.postpones,
        await Notification.filter(kind="window_postponed").count(),
        await AuditEvent.filter(action="window.postpone").count(),
    )


def form_of(page: httpx.Response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in FIELD.findall(page.text):
        out.setdefault(name, []).append(value)
    return out


async def open_form(client: httpx.AsyncClient, path: str) -> tuple[str, list[str]]:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    fields = form_of(page)
    return fields["csrf"][0], fields["slot"]


async def test_mail_link_page_post_moves_the_window(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    path = await mailed_link(settings)
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "Choose a later window" in page.text
    assert "postpone this window 2 more times" in page.text
    csrf, slots = form_of(page)["csrf"][0], form_of(page)["slot"]
    assert len(slots) == 5
    starts = [datetime.fromtimestamp(int(s), UTC) for s in slots]
    assert starts == sorted(starts) and starts[0] > window.ends_at
    before = await state(window)
    moved = await client.post(path, data={"csrf": csrf, "slot": slots[2]})
    assert moved.status_code == 200, moved.text
    assert "Postponed." in moved.text
    w = await Window.get(id=window.id)
    assert w.starts_at == starts[2]
    assert w.sequence == window.sequence + 1 and w.postpones == 1
    assert "postponed by the customer" in w.reason and "which they chose" in w.reason
    assert (await state(window))[4:] == (before[4] + 1, before[5] + 1)
    note = await Notification.get(kind="window_postponed")
    assert note.state == "pending" and note.payload["sequence"] == w.sequence
    # the mail about the move carries a fresh link, for the new revision
    fresh = await mailed_link(settings, "window_postponed")
    assert fresh != path
    claim = links.read_link(settings, fresh.rsplit("/", 1)[1], datetime.now(UTC))
    assert isinstance(claim, links.LinkClaim) and claim.sequence == w.sequence
    assert (await client.get(fresh)).status_code == 200


async def test_replayed_after_the_window_changed(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    path = await mailed_link(settings)
    csrf, slots = await open_form(client, path)
    assert (await client.post(path, data={"csrf": csrf, "slot": slots[0]})).status_code == 200
    after = await state(window)
    again = await client.post(path, data={"csrf": csrf, "slot": slots[1]})
    assert again.status_code == 409
    assert "older version of the window" in again.text and "Nothing was changed." in again.text
    page = await client.get(path)
    assert page.status_code == 409 and "older version" in page.text
    assert await state(window) == after


async def test_expired_link(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    mailed = datetime.now(UTC) - timedelta(days=settings.postpone_link_days, minutes=1)
    path = links.postpone_path(settings, window, mailed)
    before = await state(window)
    page = await client.get(path)
    assert page.status_code == 410 and "This link has expired" in page.text
    token = path.rsplit("/", 1)[1]
    client.cookies.set(links_cookie(), "n0nce", domain="fenster.test", path="/postpone/")
    csrf = links.csrf_token(settings, "n0nce", token)
    posted = await client.post(path, data={"csrf": csrf, "slot": "1893456000"})
    assert posted.status_code == 410
    assert await state(window) == before


def links_cookie() -> str:
    from api.pages.routes import CSRF_COOKIE

    return CSRF_COOKIE


async def test_tampered_links(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    other = await make_window(group, "vm02", window.starts_at + timedelta(days=2), notify=None)
    path = await mailed_link(settings)
    csrf, slots = await open_form(client, path)
    payload, signature = path.rsplit("/", 1)[1].split(".")
    theirs = links.postpone_path(settings, other, datetime.now(UTC)).rsplit("/", 1)[1]
    forged = [
        f"/postpone/{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        f"/postpone/{theirs.split('.')[0]}.{signature}",  # another window, this signature
        f"/postpone/{payload}",
        "/postpone/nonsense",
        links.postpone_path(
            replace(settings, link_secret="another-secret-" + "y" * 32), window, datetime.now(UTC)
        ),
    ]
    before, before_other = await state(window), await state(other)
    for bad in forged:
        page = await client.get(bad)
        assert page.status_code == 404, bad
        assert "This link is not valid" in page.text
        posted = await client.post(bad, data={"csrf": csrf, "slot": slots[0]})
        assert posted.status_code == 404
    assert await state(window) == before and await state(other) == before_other


async def test_over_max_postpones(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group(max_postpones=1)
    window = await planned_window(group)
    path = await mailed_link(settings)
    csrf, slots = await open_form(client, path)
    # the operators lower the limit while the page is open (the window's revision stays)
    await groups.update_policy("op", group, max_postpones=0)
    before = await state(window)
    posted = await client.post(path, data={"csrf": csrf, "slot": slots[0]})
    assert posted.status_code == 409
    assert "already postponed 0 times; the group allows 0" in posted.text
    page = await client.get(path)
    assert page.status_code == 409 and "cannot be postponed" in page.text
    assert await state(window) == before


async def test_used_up_window_gets_no_link_and_the_link_says_why(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group(max_postpones=1)
    window = await planned_window(group)
    await Window.filter(id=window.id).update(postpones=1)
    await drain(settings, transport_from_settings(settings))
    [msg] = [m for m in mailbox.Maildir(settings.maildir) if m["X-Fenster-Window"]]
    assert "/postpone/" not in msg.as_string()
    path = links.postpone_path(settings, await Window.get(id=window.id), datetime.now(UTC))
    page = await client.get(path)
    assert page.status_code == 409
    assert "already postponed 1 time; the group allows 1" in page.text


async def test_missing_or_wrong_csrf_changes_nothing(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    other = await make_window(group, "vm02", window.starts_at + timedelta(days=2), notify=None)
    path = await mailed_link(settings)
    csrf, slots = await open_form(client, path)
    other_path = links.postpone_path(settings, other, datetime.now(UTC))
    other_csrf, _ = await open_form(client, other_path)
    before = await state(window)
    attempts = [
        {"slot": slots[0]},
        {"csrf": "", "slot": slots[0]},
        {"csrf": csrf[:-3] + "abc", "slot": slots[0]},
        {"csrf": other_csrf, "slot": slots[0]},  # the form of another link
    ]
    for data in attempts:
        posted = await client.post(path, data=data)
        assert posted.status_code == 403, data
        assert "The form could not be accepted" in posted.text
    # the right field without the cookie it was made for (another browser, a forged form)
    bare = httpx.AsyncClient(transport=client._transport, base_url="http://fenster.test")
    async with bare:
        posted = await bare.post(path, data={"csrf": csrf, "slot": slots[0]})
        assert posted.status_code == 403
        posted = await bare.post(
            path,
            data={"csrf": csrf, "slot": slots[0]},
            headers={"Cookie": f"{links_cookie()}=someone-elses"},
        )
        assert posted.status_code == 403
    # JSON or multipart is not the form
    posted = await client.post(path, json={"csrf": csrf, "slot": slots[0]})
    assert posted.status_code == 403
    assert await state(window) == before
    ok = await client.post(path, data={"csrf": csrf, "slot": slots[0]})
    assert ok.status_code == 200  # the same form with its cookie still works


async def test_a_slot_that_was_not_offered_is_refused(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    path = await mailed_link(settings)
    csrf, slots = await open_form(client, path)
    before = await state(window)
    for slot in (str(int(slots[0]) + 60), "yesterday", "", "9" * 20):
        posted = await client.post(path, data={"csrf": csrf, "slot": slot})
        assert posted.status_code in {400, 409}, slot
        assert "Nothing was changed." in posted.text
    assert await state(window) == before


async def test_forced_window_cannot_be_postponed_by_link(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    group = await make_group()
    window = await planned_window(group)
    await Window.filter(id=window.id).update(forced=True)
    await drain(settings, transport_from_settings(settings))
    [msg] = [m for m in mailbox.Maildir(settings.maildir) if m["X-Fenster-Window"]]
    assert "/postpone/" not in msg.as_string()
    assert "cannot be postponed" in msg.as_string()
    forced = await Window.get(id=window.id)
    path = links.postpone_path(settings, forced, datetime.now(UTC))
    before = await state(window)
    page = await client.get(path)
    assert page.status_code == 409
    assert "a forced window can only be moved by an operator" in page.text
    token = path.rsplit("/", 1)[1]
    client.cookies.set(links_cookie(), "n0nce", domain="fenster.test", path="/postpone/")
    csrf = links.csrf_token(settings, "n0nce", token)
    slot = str(int((window.starts_at + timedelta(days=1)).timestamp()))
    posted = await client.post(path, data={"csrf": csrf, "slot": slot})
    assert posted.status_code == 409
    assert "a forced window can only be moved by an operator" in posted.text
    assert await state(window) == before
