"""The feed routes through the ASGI app: tokens, caching, content, rotation, operators' feed,
rollouts' system updates."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import icalendar
from tortoise.context import TortoiseContext

from api.app import create_app
from api.calendar.texts import format_local
from api.demo import SEED_ROLLOUT, load_demo
from api.feeds.urls import feed_url
from api.models import Activity, Machine, ResourceGroup, Rollout, Window
from api.services import groups, machines, tokens
from api.services.rollout_changes import cancel_rollout
from api.settings import Settings
from tests.feeds.samples import read_vobject
from tests.notify.world import make_group, make_window


def minute(delta: timedelta) -> datetime:
    return (datetime.now(UTC) + delta).replace(second=0, microsecond=0)


def path(group: ResourceGroup) -> str:
    return f"/feeds/{group.name}.ics?token={group.feed_token}"


def events(body: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


async def test_group_feed_content_and_headers(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    old = await make_window(group, "vm01", minute(timedelta(days=-40)), notify=None)
    recent = await make_window(group, "vm02", minute(timedelta(days=-20)), notify=None)
    coming = await make_window(group, "vm03", minute(timedelta(days=8)), notify=None)
    gone = await make_window(group, "vm04", minute(timedelta(days=9)), notify=None)
    gone.state = "cancelled"
    gone.touch()
    await gone.save()
    r = await client.get(path(group))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["cache-control"] == "private, max-age=300"
    assert r.headers["etag"].startswith('"') and len(r.headers["etag"]) == 34
    assert r.headers["last-modified"].endswith(" GMT")
    found = events(r.content)
    assert set(found) == {recent.uid, coming.uid, gone.uid}  # 30 days back on
    assert old.uid not in found
    assert str(found[gone.uid]["STATUS"]) == "CANCELLED"
    assert int(found[gone.uid]["SEQUENCE"]) == 1
    assert str(found[coming.uid]["SUMMARY"]) == "Maintenance: vm03 - kernel update, memory resize"
    assert found[coming.uid].decoded("DTSTART").astimezone(UTC) == coming.starts_at
    assert str(found[coming.uid]["X-MAINTNOTE-ACCOUNT"]) == "acme"
    assert str(found[coming.uid]["URL"]).endswith(f"/windows/{coming.uid}")
    cal = icalendar.Calendar.from_ical(r.content)
    assert str(cal["X-WR-CALNAME"]) == "Maintenance: ACME Webshop"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    parsed = read_vobject(r.content)
    by_uid = {e.uid.value: e for e in parsed.vevent_list}
    assert by_uid[coming.uid].dtstart.value.astimezone(UTC) == coming.starts_at
    assert by_uid[gone.uid].status.value == "CANCELLED"


async def test_wrong_missing_or_unknown_is_the_same_404(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    answers = [
        await client.get(f"/feeds/acme.ics?token={group.feed_token[:-1]}x"),
        await client.get("/feeds/acme.ics"),
        await client.get("/feeds/acme.ics?token="),
        await client.get(f"/feeds/nosuch.ics?token={group.feed_token}"),
        # a name no database can hold (PostgreSQL refuses NUL in text) is unknown too
        await client.get(f"/feeds/ac%00me.ics?token={group.feed_token}"),
    ]
    assert {(a.status_code, a.text) for a in answers} == {(404, "no such feed\n")}
    # every header alike but the request id, which is new for every request (api.logs)
    same = [
        tuple(sorted((k, v) for k, v in a.headers.items() if k != "x-request-id")) for a in answers
    ]
    assert len(set(same)) == 1
    assert len({a.headers["x-request-id"] for a in answers}) == len(answers)


async def test_etag_304_and_change_detection(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", minute(timedelta(days=8)), notify=None)
    first = await client.get(path(group))
    etag = first.headers["etag"]
    again = await client.get(path(group), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # Last-Modified is informative only: changes leave it behind (an activity changed in
    # place, a window leaving the 30 days of history, two changes within one second), so a
    # date alone never earns a 304
    by_date = await client.get(
        path(group), headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert by_date.status_code == 200 and by_date.content == first.content
    # a change to the window: SEQUENCE grows, the tag changes, the UID stays
    window.touch()
    window.starts_at += timedelta(days=1)
    window.ends_at += timedelta(days=1)
    await window.save()
    changed = await client.get(path(group), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    [event] = events(changed.content).values()
    assert str(event["UID"]) == window.uid and int(event["SEQUENCE"]) == 1
    # an activity finishing changes the feed too, though the window row is untouched
    etag = changed.headers["etag"]
    act = await Activity.filter(window=window).first()
    assert act is not None
    await Activity.filter(id=act.id).update(state="done", finished_at=datetime.now(UTC))
    after = await client.get(path(group), headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


async def test_rotation_stops_the_old_token_at_once(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    await make_window(group, "vm01", minute(timedelta(days=8)), notify=None)
    before = await client.get(path(group))
    old = group.feed_token
    new = await groups.rotate_feed_token("test", group)
    assert new != old and len(new) >= 22
    assert (await client.get(f"/feeds/acme.ics?token={old}")).status_code == 404
    now = await client.get(f"/feeds/acme.ics?token={new}")
    assert now.status_code == 200
    assert now.headers["etag"] != before.headers["etag"]


async def test_operators_feed_needs_an_admin_token(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    acme = await make_group()
    tokyo = await make_group("kaizen", timezone="Asia/Tokyo", title="Kaizen")
    a = await make_window(acme, "vm01", minute(timedelta(days=8)), notify=None)
    k = await make_window(tokyo, "web07", minute(timedelta(days=8, hours=3)), notify=None)
    _, admin = await tokens.create_token("test", name="ops", role="admin")
    _, customer = await tokens.create_token("test", name="acme", role="customer", groups=[acme])
    assert (await client.get("/feeds/all.ics")).status_code == 401
    denied = await client.get("/feeds/all.ics", headers={"Authorization": f"Bearer {customer}"})
    assert denied.status_code == 401
    assert "Basic" in denied.headers["www-authenticate"]
    r = await client.get("/feeds/all.ics", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200
    assert set(events(r.content)) == {a.uid, k.uid}
    cal = icalendar.Calendar.from_ical(r.content)
    assert sorted(str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")) == [
        "Asia/Tokyo",
        "Europe/Berlin",
    ]
    basic = base64.b64encode(f"ops:{admin}".encode()).decode()
    r2 = await client.get("/feeds/all.ics", headers={"Authorization": f"Basic {basic}"})
    assert r2.status_code == 200 and r2.content == r.content
    cached = await client.get(
        "/feeds/all.ics",
        headers={"Authorization": f"Bearer {admin}", "If-None-Match": r.headers["etag"]},
    )
    assert cached.status_code == 304
    token = await tokens.authenticate(admin)
    assert token is not None
    await tokens.revoke_token("test", token)
    assert (
        await client.get("/feeds/all.ics", headers={"Authorization": f"Bearer {admin}"})
    ).status_code == 401


async def test_vtimezone_through_the_route_across_dst(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group("nyc", timezone="America/New_York", title="NYC")
    # 2027-03-14 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST
    starts = [
        datetime(2027, 3, 14, 6, 30, tzinfo=UTC),  # 01:30 EST
        datetime(2027, 3, 14, 7, 30, tzinfo=UTC),  # 03:30 EDT
        datetime(2027, 3, 15, 6, 0, tzinfo=UTC),  # 02:00 EDT
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),  # 01:30 EDT, first occurrence
        datetime(2027, 11, 7, 6, 30, tzinfo=UTC),  # 01:30 EST, the repeated hour
    ]
    made = [
        await make_window(group, f"vm{i}", s, minutes=60, notify=None) for i, s in enumerate(starts)
    ]
    r = await client.get(path(group))
    by_ical = events(r.content)
    by_vobject = {e.uid.value: e for e in read_vobject(r.content).vevent_list}
    for w in made:
        assert by_ical[w.uid].decoded("DTSTART").astimezone(UTC) == w.starts_at
        assert by_vobject[w.uid].dtstart.value.astimezone(UTC) == w.starts_at
        assert by_vobject[w.uid].dtend.value.astimezone(UTC) == w.ends_at


def test_feed_url_has_https_and_webcal_forms() -> None:
    class G:
        name = "acme"
        feed_token = "abc-_123"

    urls = feed_url(Settings(public_url="https://fenster.example.com"), G())
    assert urls.https == "https://fenster.example.com/feeds/acme.ics?token=abc-_123"
    assert urls.webcal == "webcal://fenster.example.com/feeds/acme.ics?token=abc-_123"
    assert feed_url(Settings(), G()).https.startswith("http://127.0.0.1:8000/feeds/acme.ics")


async def test_windows_not_in_a_group_feed_of_another_group(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    acme = await make_group()
    other = await make_group("umbrella", title="Umbrella")
    mine = await make_window(acme, "vm01", minute(timedelta(days=8)), notify=None)
    await make_window(other, "vm02", minute(timedelta(days=8)), notify=None)
    assert set(events((await client.get(path(acme))).content)) == {mine.uid}
    assert await Window.all().count() == 2


async def test_event_url_opens_a_page_about_the_window(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", minute(timedelta(days=8)), notify=None)
    await Window.filter(id=window.id).update(reason="<b>after</b> the notice")
    [event] = events((await client.get(path(group))).content).values()
    url = httpx.URL(str(event["URL"]))
    assert url.path == f"/windows/{window.uid}"
    page = await client.get(url.path)
    assert page.status_code == 200
    assert page.headers["x-robots-tag"] == "noindex"
    assert "<h1>Maintenance: vm01 - kernel update, memory resize</h1>" in page.text
    assert '<span class="badge badge--planned">scheduled</span>' in page.text
    assert "&lt;b&gt;after&lt;/b&gt; the notice" in page.text
    assert (await client.get("/windows/nosuch@fenster")).status_code == 404
    assert (await client.get("/windows/nosuch%00@fenster")).status_code == 404


async def test_operators_feed_tag_changes_with_a_groups_timezone(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    # each event is written in its group's zone, so a new zone is a new feed, though no
    # window row changes
    acme = await make_group()
    window = await make_window(acme, "vm01", minute(timedelta(days=8)), notify=None)
    _, admin = await tokens.create_token("test", name="ops", role="admin")
    auth = {"Authorization": f"Bearer {admin}"}
    first = await client.get("/feeds/all.ics", headers=auth)
    [event] = events(first.content).values()
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    await groups.update_policy("test", acme, timezone="Asia/Tokyo")
    again = await client.get(
        "/feeds/all.ics", headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200, "a stale 304 after the group's timezone changed"
    assert again.headers["etag"] != first.headers["etag"]
    modified = parsedate_to_datetime(again.headers["last-modified"])
    assert (
        modified
        == acme.updated_at.replace(microsecond=0)
        >= window.updated_at.replace(microsecond=0)
    )
    [event] = events(again.content).values()
    assert event["DTSTART"].params["TZID"] == "Asia/Tokyo"


async def test_feed_tag_changes_with_the_organizer_address(
    db: TortoiseContext, client: httpx.AsyncClient, settings: Settings
) -> None:
    # the ORGANIZER comes from FENSTER_MAIL_FROM: a new sender is a new feed
    group = await make_group()
    await make_window(group, "vm01", minute(timedelta(days=8)), notify=None)
    first = await client.get(path(group))
    assert b"mailto:maintenance@fenster.invalid" in first.content
    moved = create_app(replace(settings, mail_from="ops <ops@provider.example>"), manage_db=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=moved), base_url="http://fenster.test"
    ) as other:
        again = await other.get(path(group), headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200
    assert b"mailto:ops@provider.example" in again.content


async def test_etag_changes_when_an_activity_changes_in_place(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    # a new desired value updates the open activity's params, and going back to the observed
    # value cancels it, both without touching the window row: the feed shows both changes
    group = await make_group()
    await make_window(group, "vm01", minute(timedelta(days=8)), notify=None)
    vm = await Machine.get(name="vm01")
    vm.observed_memory_mib, vm.desired_memory_mib = 2048, 4096
    vm.observed_kernel, vm.desired_kernel = "2.6.32", "2.6.38"
    await vm.save()
    first = await client.get(path(group))
    await machines.change_desired("test", vm, desired_memory_mib=8192)
    resized = await client.get(path(group), headers={"If-None-Match": first.headers["etag"]})
    assert resized.status_code == 200
    [event] = events(resized.content).values()
    assert "to 8192 MiB" in str(event["DESCRIPTION"])
    await machines.change_desired("test", vm, desired_kernel="2.6.32")
    dropped = await client.get(path(group), headers={"If-None-Match": resized.headers["etag"]})
    assert dropped.status_code == 200
    by_date = await client.get(
        path(group), headers={"If-Modified-Since": resized.headers["last-modified"]}
    )
    assert by_date.status_code == 200, "a stale 304 for a client that only sends the date"
    [event] = events(dropped.content).values()
    assert str(event["SUMMARY"]) == "Maintenance: vm01 - memory resize"


async def test_system_updates_of_a_rollout_are_events_of_the_feeds(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    # the demo world's rollout is announced: each VM has a system update at its wave's start,
    # in no window; each is an event of its group's feed and of the operators' feed
    await load_demo()
    rollout = await Rollout.get(name=SEED_ROLLOUT)
    acme = await ResourceGroup.get(name="acme")
    mine = await Activity.filter(
        kind="system_update", rollout_id=rollout.id, machine__group_id=acme.id
    ).order_by("id")
    others = await Activity.filter(kind="system_update").exclude(machine__group_id=acme.id)
    assert mine and others
    first = await client.get(path(acme))
    assert first.status_code == 200
    found = events(first.content)
    uids = {f"system-update-{a.id}@fenster": a for a in mine}
    assert set(uids) <= set(found)
    assert not {f"system-update-{a.id}@fenster" for a in others} & set(found)
    for uid, a in uids.items():
        event = found[uid]
        assert a.not_before is not None and a.window_id is None
        assert event.decoded("DTSTART").astimezone(UTC) == a.not_before
        assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(
            minutes=a.estimate_minutes
        )
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["SUMMARY"]).endswith(f"- {rollout.title} (no downtime)")
        assert "no downtime expected" in str(event["DESCRIPTION"])
        assert httpx.URL(str(event["URL"])).path == "/rollouts/system-update-next-week/"
        # a synthetic event has no window page
        assert (await client.get(f"/windows/{uid}")).status_code == 404
    # the kernel activation's window is named where one is booked
    update = mine[0]
    kernel = await Activity.get(
        kind="kernel_update", rollout_id=rollout.id, machine_id=update.machine_id
    ).prefetch_related("window")
    assert kernel.window is not None
    when = format_local(kernel.window.starts_at, acme.timezone)
    assert f"maintenance window of {when}" in str(
        found[f"system-update-{update.id}@fenster"]["DESCRIPTION"]
    )

    # done: the tag changes (no window row moved), the event says so
    etag = first.headers["etag"]
    await Activity.filter(id=update.id).update(
        state="done", finished_at=datetime.now(UTC), log="212 packages"
    )
    done = await client.get(path(acme), headers={"If-None-Match": etag})
    assert done.status_code == 200 and done.headers["etag"] != etag
    uid = f"system-update-{update.id}@fenster"
    assert "Result: done: 212 packages." in str(events(done.content)[uid]["DESCRIPTION"])
    assert str(events(done.content)[uid]["X-MAINTNOTE-STATUS"]) == "COMPLETED"

    # held back: the wave engine moves a later wave's start in place (no row but the
    # activity's changes); the tag, the start and SEQUENCE follow
    etag = done.headers["etag"]
    held = mine[1]
    later = held.not_before + timedelta(hours=2)  # type: ignore[operator]
    await Activity.filter(id=held.id).update(not_before=later)
    moved = await client.get(path(acme), headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    event = events(moved.content)[f"system-update-{held.id}@fenster"]
    assert event.decoded("DTSTART").astimezone(UTC) == later
    assert int(event["SEQUENCE"]) == 1

    # added: a new system update of the rollout appears, under a new tag
    etag = moved.headers["etag"]
    added = await Activity.create(
        machine_id=update.machine_id,
        kind="system_update",
        state="scheduled",
        estimate_minutes=45,
        not_before=update.not_before + timedelta(days=1),  # type: ignore[operator]
        rollout_id=rollout.id,
    )
    more = await client.get(path(acme), headers={"If-None-Match": etag})
    assert more.status_code == 200 and more.headers["etag"] != etag
    assert f"system-update-{added.id}@fenster" in events(more.content)

    # cancelled with the rollout: still there, STATUS CANCELLED, so clients drop them
    etag = more.headers["etag"]
    await cancel_rollout("admin:ops", rollout, "storage trouble")
    gone = await client.get(path(acme), headers={"If-None-Match": etag})
    assert gone.status_code == 200 and gone.headers["etag"] != etag
    after = events(gone.content)
    for a in mine[2:]:
        event = after[f"system-update-{a.id}@fenster"]
        assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 1)
    for a in (held, added):  # off their wave's start (held back, added a day later): cancelled
        event = after[f"system-update-{a.id}@fenster"]
        assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 2)
    assert str(after[uid]["STATUS"]) == "CONFIRMED"  # done before: it stays done
    again = await client.get(path(acme), headers={"If-None-Match": gone.headers["etag"]})
    assert again.status_code == 304

    # the operators' feed shows every group's
    _, admin = await tokens.create_token("test", name="ops", role="admin")
    every = await client.get("/feeds/all.ics", headers={"Authorization": f"Bearer {admin}"})
    assert every.status_code == 200
    shown = set(events(every.content))
    every_update = await Activity.filter(kind="system_update", rollout_id=rollout.id)
    assert {f"system-update-{a.id}@fenster" for a in every_update} <= shown
