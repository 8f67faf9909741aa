"""Every feed shape reads alike in every client: the same instants, event by event.

Shapes: a start or end in the spring-forward gap's surroundings, in the repeated hour of a
fall-back, Lord Howe's 30-minute shift both ways, every 15 minutes for 90 minutes around each
clock change of 2026-2027 in seven zones, cancelled, postponed, empty, the operators' feed,
a mail attachment, rollouts' system updates (events with no window, also across clock
changes and cancelled), and the feed of every demo group (with its system updates of the
demo rollout) through the route.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from functools import cache
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from tortoise.context import TortoiseContext

from api.calendar.query import update_views, window_views
from api.calendar.values import CalendarView, SystemUpdateView, WindowView
from api.demo import load_demo
from api.feeds.ics import build_calendar
from api.feeds.routes import HISTORY
from api.feeds.vtimezone import transitions
from api.models import ResourceGroup
from api.notices import notice_of
from api.notify.render import GroupView, MailContext, Outgoing, render
from api.services import groups as group_service
from api.services.scheduling import run_pass
from api.settings import Settings
from tests.feeds.clients import READERS, Instants, LegacyReader, legacy_reader
from tests.feeds.samples import CAL, cancelled, changed, planned, read_vobject, system_update

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "UTC",
]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def windows(tzid: str, spans: list[tuple[datetime, datetime]]) -> list[WindowView]:
    return [
        replace(planned(), uid=f"{tzid}-{i}@fenster", timezone=tzid, starts_at=s, ends_at=e)
        for i, (s, e) in enumerate(spans)
    ]


def around_transitions(tzid: str) -> list[WindowView]:
    zone = ZoneInfo(tzid)
    start, end = at(2026, 1, 1), at(2028, 1, 1)
    instants = [start + timedelta(days=100)]
    for moment, _, _ in transitions(zone, start, end):
        instants += [moment + timedelta(minutes=m) for m in range(-90, 91, 15)]
    return windows(tzid, [(t, t + timedelta(hours=1)) for t in instants])


def updates(tzid: str, starts: list[datetime], **kw: object) -> list[SystemUpdateView]:
    return [
        replace(system_update(), activity_id=i, timezone=tzid, starts_at=s, **kw)  # type: ignore[arg-type]
        for i, s in enumerate(starts, start=1)
    ]


def calendar(tzid: str) -> CalendarView:
    return replace(CAL, timezone=tzid)


Shape = tuple[bytes, Instants]


def shape(
    cal: CalendarView,
    ws: list[WindowView],
    us: list[SystemUpdateView] | None = None,
    **kw: object,
) -> Shape:
    """The calendar's bytes and the instants every reader must find in them."""
    items: list[WindowView | SystemUpdateView] = [*ws, *(us or [])]
    return build_calendar(cal, ws, updates=us or [], **kw), {  # type: ignore[arg-type]
        i.uid: (i.starts_at, i.ends_at) for i in items
    }


@cache
def shapes() -> dict[str, Shape]:
    berlin, howe = "Europe/Berlin", "Australia/Lord_Howe"
    found = {
        # 2027-03-28 01:00 UTC: 02:00 CET becomes 03:00 CEST
        "DST gap": shape(
            CAL,
            windows(
                berlin,
                [
                    (at(2027, 3, 28, 0, 30), at(2027, 3, 28, 2, 30)),  # across the gap
                    (at(2027, 3, 28, 1, 0), at(2027, 3, 28, 3, 0)),  # 03:00, the first after it
                    (at(2027, 3, 28, 0, 0), at(2027, 3, 28, 1, 0)),  # ends where it starts
                ],
            ),
        ),
        # 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice
        "repeated hour": shape(
            CAL,
            windows(
                berlin,
                [
                    (at(2026, 10, 25, 0, 0), at(2026, 10, 25, 1, 30)),  # first 02:00 to second
                    (at(2026, 10, 25, 0, 30), at(2026, 10, 25, 0, 45)),  # in the first pass
                    (at(2026, 10, 25, 1, 10), at(2026, 10, 25, 2, 0)),  # in the second pass
                    (at(2026, 10, 24, 23, 30), at(2026, 10, 25, 0, 30)),  # ends in it
                ],
            ),
        ),
        # 2027-04-03 15:00 UTC: Lord Howe's 02:00 (+11) becomes 01:30 (+10:30); the issue's
        # 01:40 to 01:40, which a second-occurrence reader sees as starting where it ends
        "30-minute fall-back (Lord Howe)": shape(
            calendar(howe),
            windows(
                howe,
                [
                    (at(2027, 4, 3, 14, 40), at(2027, 4, 3, 15, 10)),
                    (at(2027, 4, 3, 14, 30), at(2027, 4, 3, 16, 0)),
                ],
            ),
        ),
        # 2026-10-03 15:30 UTC: 02:00 (+10:30) becomes 02:30 (+11)
        "30-minute spring (Lord Howe)": shape(
            calendar(howe),
            windows(howe, [(at(2026, 10, 3, 15, 0), at(2026, 10, 3, 16, 0))]),
        ),
        "cancelled": shape(CAL, [cancelled()]),
        "postponed": shape(CAL, [changed()]),
        "empty": shape(CAL, [], empty_year=2026),
        "empty (Lord Howe)": shape(calendar(howe), [], empty_year=2027),
        "operators (several zones)": shape(
            replace(CAL, timezone="UTC"),
            [w for tzid in (berlin, howe, "America/New_York") for w in around_transitions(tzid)],
        ),
        # the wave's start is the update's start, whatever the local clock does then
        "system updates (repeated hour, Berlin)": shape(
            CAL,
            [planned()],
            updates(
                berlin,
                [at(2026, 10, 25, 0, 40), at(2026, 10, 25, 1, 10), at(2026, 11, 24, 18)],
            ),
        ),
        "system updates (Lord Howe, both shifts)": shape(
            calendar(howe),
            [],
            updates(howe, [at(2027, 4, 3, 14, 40), at(2026, 10, 3, 15, 20)]),
        ),
        "system updates cancelled": shape(
            CAL, [cancelled()], updates(berlin, [at(2026, 11, 24, 18)], state="cancelled")
        ),
        "mail attachment (Lord Howe)": shape(
            calendar(howe),
            windows(howe, [(at(2027, 4, 3, 14, 40), at(2027, 4, 3, 15, 10))]),
            method="PUBLISH",
            stamp=at(2027, 3, 20, 9, 0),
        ),
    }
    for tzid in ZONES:
        found[f"around every change ({tzid})"] = shape(calendar(tzid), around_transitions(tzid))
    return found


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("name", list(shapes()))
def test_every_reader_reads_every_shape_alike(name: str, reader: str) -> None:
    data, expected = shapes()[name]
    assert READERS[reader](data) == expected


@pytest.fixture(scope="session")
def legacy() -> LegacyReader:
    found = legacy_reader()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.mark.slow
def test_icalendar_5_and_circuit_maintenance_parser_read_every_shape_alike(
    legacy: LegacyReader,
) -> None:
    names = list(shapes())
    results = legacy.read([shapes()[n][0] for n in names])
    for name, result in zip(names, results, strict=True):
        expected = {
            uid: [s.timestamp(), e.timestamp()] for uid, (s, e) in shapes()[name][1].items()
        }
        assert str(result["version"]).startswith("5."), result["version"]
        assert result["icalendar"] == expected, (name, "icalendar 5")
        assert result["cmp"] == expected, (name, "circuit-maintenance-parser")


@pytest.mark.parametrize("tzid", ZONES)
def test_dateutil_turns_utc_into_the_same_local_time_as_zoneinfo(tzid: str) -> None:
    # vobject hands the VTIMEZONE to dateutil; with a first observance whose TZOFFSETFROM
    # equalled its TZOFFSETTO, UTC -> local went wrong in the repeated hour before the year's
    # first fall-back (Lord Howe, Sydney: April)
    zone = ZoneInfo(tzid)
    year = [(at(2027, 6, 1), at(2027, 6, 1, 1))]
    data = build_calendar(calendar(tzid), windows(tzid, year))
    [vtz] = [c for c in read_vobject(data).contents["vtimezone"] if c.tzid.value == tzid]
    tzinfo = vtz.gettzinfo()
    instants = [at(2027, 1, 1, 12)]
    for moment, _, _ in transitions(zone, at(2027, 1, 1), at(2028, 1, 1)):
        instants += [moment + timedelta(minutes=m) for m in range(-180, 181, 10)]
    for t in instants:
        mine, theirs = t.astimezone(tzinfo), t.astimezone(zone)
        assert (mine.replace(tzinfo=None), mine.utcoffset()) == (
            theirs.replace(tzinfo=None),
            theirs.utcoffset(),
        ), (tzid, t)


async def test_every_demo_group_feed_reads_alike_through_the_route(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    await load_demo()
    await group_service.create_group(
        "test", name="quiet", contacts=["ops@quiet.example"], timezone="Australia/Lord_Howe"
    )
    now = datetime.now(UTC)
    await run_pass(settings, now=now)
    booked = updated = 0
    for group in await ResourceGroup.all().order_by("name"):
        r = await client.get(f"/feeds/{group.name}.ics?token={group.feed_token}")
        assert r.status_code == 200
        views = await window_views(settings.public_url, group_id=group.id, since=now - HISTORY)
        ups = await update_views(settings.public_url, group_id=group.id, since=now - HISTORY)
        expected = {w.uid: (w.starts_at, w.ends_at) for w in [*views, *ups]}
        booked += len(views)
        updated += len(ups)
        cal = icalendar.Calendar.from_ical(r.content)
        assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == [group.timezone]
        for reader, read in READERS.items():
            assert read(r.content) == expected, (group.name, reader)
    assert booked > 0  # the demo world's queued work was booked and shown
    assert updated > 0  # and the system updates of its announced rollout


@pytest.mark.parametrize("reader", list(READERS))
def test_the_calendar_attached_to_mail_reads_alike(reader: str) -> None:
    # the mail's attachment is made by the same builder: Lord Howe's repeated half hour
    howe = "Australia/Lord_Howe"
    [window] = windows(howe, [(at(2027, 4, 3, 14, 40), at(2027, 4, 3, 15, 10))])
    group = GroupView(
        name="acme",
        title="ACME",
        timezone=howe,
        feed_url="https://fenster.example/feeds/acme.ics?token=t",
        webcal_url="webcal://fenster.example/feeds/acme.ics?token=t",
    )
    notice = notice_of("window_scheduled", {})
    out = Outgoing(notice, "k", ("ops@acme.example",), group, (window,), starts_thread=True)
    ctx = MailContext(
        mail_from="maintenance@gocept.net", domain="gocept.net", public_url="https://x"
    )
    msg = message_from_bytes(render(out, ctx, at(2027, 3, 20, 9)).as_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    [ics] = [p.get_payload(decode=True) for p in msg.iter_attachments()]
    assert b"DTSTART:20270403T144000Z\r\n" in ics and b"DTEND:20270403T151000Z\r\n" in ics
    assert READERS[reader](ics) == {window.uid: (window.starts_at, window.ends_at)}
