"""The pure iCalendar builder: golden files, two independent parsers, DST, folding."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st

from api.feeds.ics import build_calendar, event_description
from api.feeds.vtimezone import transitions, vtimezone
from tests.feeds.samples import (
    CAL,
    cancelled,
    changed,
    completed,
    planned,
    read_vobject,
    system_update,
    tokyo,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FENSTER_UPDATE_GOLDEN") == "1"


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs; FENSTER_UPDATE_GOLDEN=1 rewrites it"


def group_feed() -> bytes:
    return build_calendar(CAL, [completed(), cancelled()])


def test_group_feed_matches_golden() -> None:
    check_golden("group.ics", group_feed())


def test_operators_feed_matches_golden() -> None:
    cal = replace(CAL, name="Maintenance: all groups", timezone="UTC", description="")
    check_golden("all.ics", build_calendar(cal, [planned(), tokyo()]))


def test_mail_attachment_matches_golden() -> None:
    stamp = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    check_golden("publish.ics", build_calendar(CAL, [planned()], method="PUBLISH", stamp=stamp))


def test_lines_are_crlf_and_at_most_75_octets() -> None:
    data = build_calendar(CAL, [completed(), cancelled(), tokyo()])
    assert data.endswith(b"\r\n")
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75, line
        assert b"\n" not in line and b"\r" not in line


def test_icalendar_reads_every_property() -> None:
    cal = icalendar.Calendar.from_ical(group_feed())
    assert str(cal["PRODID"]) == "-//fenster//maintenance directory//EN"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["X-WR-CALNAME"]) == CAL.name
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert "METHOD" not in cal
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Berlin"
    done, gone = cal.walk("VEVENT")
    assert str(done["UID"]) == completed().uid
    # compared in UTC: Python calls an ambiguous local time unequal to any other zone's value
    assert done.decoded("DTSTART").astimezone(UTC) == completed().starts_at
    assert done.decoded("DTEND").astimezone(UTC) == completed().ends_at
    assert str(done["STATUS"]) == "CONFIRMED"
    assert str(done["X-MAINTNOTE-STATUS"]) == "COMPLETED"
    assert str(done["SUMMARY"]) == "Maintenance: db02 - system update, reboot"
    assert str(gone["STATUS"]) == "CANCELLED"
    assert str(gone["X-MAINTNOTE-STATUS"]) == "CANCELLED"
    assert int(gone["SEQUENCE"]) == 2
    assert str(gone["UID"]) == planned().uid
    assert str(gone["DESCRIPTION"]) == event_description(cancelled())
    assert str(gone["URL"]) == planned().url
    assert str(gone["X-MAINTNOTE-PROVIDER"]) == "gocept.net"
    assert str(gone["X-MAINTNOTE-ACCOUNT"]) == "acme"
    assert str(gone["X-MAINTNOTE-MAINTENANCE-ID"]) == planned().uid
    assert str(gone["X-MAINTNOTE-OBJECT-ID"]) == "vm01"
    assert gone["X-MAINTNOTE-OBJECT-ID"].params["X-MAINTNOTE-OBJECT-IMPACT"] == "OUTAGE"
    assert str(gone["X-MAINTNOTE-IMPACT"]) == "OUTAGE"
    assert gone.decoded("LAST-MODIFIED") == cancelled().updated_at
    assert gone.decoded("DTSTAMP") == cancelled().updated_at


def test_vobject_reads_the_same_events() -> None:
    cal = read_vobject(group_feed())
    events = {e.uid.value: e for e in cal.vevent_list}
    assert set(events) == {completed().uid, planned().uid}
    gone = events[planned().uid]
    assert gone.dtstart.value.astimezone(UTC) == cancelled().starts_at
    assert gone.dtend.value.astimezone(UTC) == cancelled().ends_at
    assert gone.status.value == "CANCELLED"
    assert gone.sequence.value == "2"
    assert gone.summary.value == "Maintenance: vm01 - kernel update, memory resize"
    assert gone.description.value == event_description(cancelled())
    assert gone.x_maintnote_impact.value == "OUTAGE"
    done = events[completed().uid]
    assert done.dtstart.value.astimezone(UTC) == completed().starts_at
    assert done.dtend.value.astimezone(UTC) == completed().ends_at


def test_sequence_grows_and_uid_stays_through_change_and_cancel() -> None:
    seen = []
    for w in (planned(), changed(), cancelled()):
        [event] = icalendar.Calendar.from_ical(build_calendar(CAL, [w])).walk("VEVENT")
        seen.append((str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])))
    assert [s[0] for s in seen] == [planned().uid] * 3
    assert [s[1] for s in seen] == [0, 1, 2]
    assert [s[2] for s in seen] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]


def test_a_system_update_is_an_event_of_its_own() -> None:
    # a rollout's system update has no window: its own UID, the wave's start, its estimate,
    # no downtime, the rollout's page; and the window that activates the kernel named
    update = system_update()
    data = build_calendar(CAL, [planned()], updates=[update])
    check_golden("group_with_update.ics", data)
    found = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    assert set(found) == {planned().uid, "system-update-42@fenster"}
    event = found["system-update-42@fenster"]
    assert event.decoded("DTSTART") == datetime(
        2026, 11, 24, 19, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
    assert str(event["SUMMARY"]) == "System update: vm01 - System updates next week (no downtime)"
    text = str(event["DESCRIPTION"])
    assert "System update of rollout System updates next week" in text
    assert "Starts: Tue 24 Nov 2026 19:00 CET (2026-11-24 18:00 UTC), about 30 min" in text
    assert "no downtime expected" in text
    assert "maintenance window of Tue 01 Dec 2026 02:00 CET" in text
    assert str(event["URL"]) == "https://fenster.example/rollouts/system-update-next-week/"
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 0)
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["X-MAINTNOTE-IMPACT"]) == "NO-IMPACT"
    assert str(event["X-MAINTNOTE-STATUS"]) == "CONFIRMED"
    assert str(event["X-MAINTNOTE-ACCOUNT"]) == "acme"
    assert str(event["ORGANIZER"]) == "mailto:maintenance@gocept.net"
    # cancelled: the same UID, a new SEQUENCE, STATUS CANCELLED so clients drop it
    gone = replace(update, state="cancelled", activation_at=None)
    [event] = icalendar.Calendar.from_ical(build_calendar(CAL, [], updates=[gone])).walk("VEVENT")
    assert str(event["UID"]) == update.uid
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 1)
    assert str(event["X-MAINTNOTE-STATUS"]) == "CANCELLED"
    assert "This system update was cancelled." in str(event["DESCRIPTION"])
    assert "announced on its own" in str(event["DESCRIPTION"])
    done = replace(update, state="done", outcome="212 packages")
    [event] = icalendar.Calendar.from_ical(build_calendar(CAL, [], updates=[done])).walk("VEVENT")
    assert "Result: done: 212 packages." in str(event["DESCRIPTION"])
    assert str(event["X-MAINTNOTE-STATUS"]) == "COMPLETED"


def test_publish_method_and_stamp_for_mail() -> None:
    stamp = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    cal = icalendar.Calendar.from_ical(
        build_calendar(CAL, [planned()], method="PUBLISH", stamp=stamp)
    )
    assert str(cal["METHOD"]) == "PUBLISH"
    assert cal.walk("VEVENT")[0].decoded("DTSTAMP") == stamp


def test_operators_feed_has_one_vtimezone_per_zone() -> None:
    data = build_calendar(replace(CAL, timezone="UTC"), [planned(), tokyo(), completed()])
    cal = icalendar.Calendar.from_ical(data)
    assert sorted(str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")) == [
        "Asia/Tokyo",
        "Europe/Berlin",
    ]
    event = next(e for e in cal.walk("VEVENT") if str(e["UID"]) == tokyo().uid)
    assert event.decoded("DTSTART").astimezone(UTC) == tokyo().starts_at
    assert event["DTSTART"].to_ical() == b"20270101T010000"
    assert str(event["X-MAINTNOTE-IMPACT"]) == "DEGRADED"


def test_an_event_touching_the_repeated_hour_is_written_in_utc_at_both_ends() -> None:
    # 02:00 CEST is the first 02:00 that night, 02:30 CET the second: both are ambiguous local
    # times, and a reader that takes the other occurrence would be an hour off
    data = build_calendar(CAL, [completed()])
    assert b"DTSTART:20261025T000000Z\r\n" in data
    assert b"DTEND:20261025T013000Z\r\n" in data
    # an event that only ends in the repeated hour: its start goes to UTC too
    early = replace(completed(), starts_at=datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    data = build_calendar(CAL, [early])
    assert b"DTSTART:20261024T230000Z\r\n" in data
    # one that touches no repeated hour keeps its local time
    assert b"DTSTART;TZID=Europe/Berlin:20261208T020000\r\n" in build_calendar(CAL, [changed()])


def test_empty_feed_is_a_valid_calendar_with_the_groups_vtimezone() -> None:
    data = build_calendar(CAL, [], empty_year=2026)
    cal = icalendar.Calendar.from_ical(data)
    assert cal.walk("VEVENT") == []
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Berlin"
    assert read_vobject(data).x_wr_calname.value == CAL.name


ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "UTC",
]


def test_vtimezone_matches_zoneinfo_at_every_transition() -> None:
    # Each hour-and-a-half around every transition of 2026-2027, both parsers agree with zoneinfo.
    for tzid in ZONES:
        zone = ZoneInfo(tzid)
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
        instants = [start + timedelta(days=100)]
        for at, _, _ in transitions(zone, start, end):
            instants += [at + timedelta(minutes=m) for m in range(-90, 91, 15)]
        windows = [
            replace(
                planned(), uid=f"w{i}", timezone=tzid, starts_at=t, ends_at=t + timedelta(hours=1)
            )
            for i, t in enumerate(instants)
        ]
        data = build_calendar(CAL, windows)
        by_ical = {
            str(e["UID"]): e.decoded("DTSTART")
            for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
        }
        by_vobject = {e.uid.value: e.dtstart.value for e in read_vobject(data).vevent_list}
        for w in windows:
            assert by_ical[w.uid].astimezone(UTC) == w.starts_at, (tzid, w.starts_at)
            assert by_vobject[w.uid].astimezone(UTC) == w.starts_at, (tzid, w.starts_at)


def test_vtimezone_transitions_are_in_the_prior_offset() -> None:
    text = vtimezone("Europe/Berlin", (2027,)).to_ical().decode().replace("\r\n", "\n")
    # RFC 5545: onset in local time of the observance before it
    assert "DTSTART:20270328T020000\nTZNAME:CEST\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200" in text
    assert "DTSTART:20271031T030000\nTZNAME:CET\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100" in text
    assert (
        len(
            transitions(
                ZoneInfo("Asia/Kolkata"),
                datetime(2026, 1, 1, tzinfo=UTC),
                datetime(2028, 1, 1, tzinfo=UTC),
            )
        )
        == 0
    )


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f")
    | st.sampled_from(["\n", ";", ",", "\\", ":", '"', "é", "€", "𝄞"]),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(reason=texts)
def test_any_text_survives_both_parsers(reason: str) -> None:
    window = replace(planned(), reason=reason)
    data = build_calendar(CAL, [window])
    expected = event_description(window)
    [event] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["DESCRIPTION"]) == expected
    assert read_vobject(data).vevent.description.value == expected
    for line in data.split(b"\r\n")[:-1]:  # folded by icalendar: 75 octets at most
        assert len(line) <= 75, line


def test_vtimezone_costs_the_years_of_its_events_not_the_span_between() -> None:
    # issue 8: one event in year 8999 made a feed take 10 s (seven thousand years of
    # transitions); only the years the events touch are covered
    far = replace(
        planned(),
        uid="far@fenster",
        starts_at=datetime(8999, 6, 1, 1, tzinfo=UTC),
        ends_at=datetime(8999, 6, 1, 3, tzinfo=UTC),
    )
    started = time.perf_counter()
    data = build_calendar(CAL, [planned(), far])
    assert time.perf_counter() - started < 2
    [tz] = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    onsets = sorted(part.decoded("DTSTART").year for part in tz.subcomponents)
    assert onsets == [2025, 2026, 2026, 8998, 8999, 8999]
    by_uid = {e.uid.value: e for e in read_vobject(data).vevent_list}
    assert by_uid["far@fenster"].dtstart.value.astimezone(UTC) == far.starts_at
