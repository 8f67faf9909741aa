from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from api.scheduling import Policy, occurrence, occurrences, zone
from api.scheduling.occurrences import resolve_local


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_berlin_spring_forward_start_in_gap_moves_to_end_of_gap() -> None:
    occ = occurrence(Policy("Europe/Berlin", time(2, 30), 60), date(2026, 3, 29))
    assert occ.starts_at == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the first instant after the gap
    assert occ.ends_at == utc(2026, 3, 29, 2, 0)
    assert occ.start_moved
    assert (occ.local_start.hour, occ.local_start.minute) == (3, 0)


def test_berlin_spring_forward_window_across_change_is_longer_on_the_clock() -> None:
    occ = occurrence(Policy("Europe/Berlin", time(1, 0), 180), date(2026, 3, 29))
    assert occ.starts_at == utc(2026, 3, 29, 0, 0)
    assert occ.minutes == 180
    assert occ.wall_minutes == 240 and occ.clock_shift == 60
    assert not occ.start_moved


def test_berlin_fall_back_ambiguous_start_takes_first_instant() -> None:
    occ = occurrence(Policy("Europe/Berlin", time(2, 30), 60), date(2026, 10, 25))
    assert occ.starts_at == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET
    assert occ.local_start.utcoffset() == timedelta(hours=2)
    assert occ.minutes == 60 and occ.wall_minutes == 0 and occ.clock_shift == -60


def test_berlin_fall_back_window_is_shorter_on_the_clock() -> None:
    occ = occurrence(Policy("Europe/Berlin", time(1, 0), 180), date(2026, 10, 25))
    assert occ.starts_at == utc(2026, 10, 24, 23, 0)
    assert occ.ends_at == utc(2026, 10, 25, 2, 0)
    assert occ.wall_minutes == 120


def test_berlin_ordinary_day() -> None:
    occ = occurrence(Policy("Europe/Berlin", time(2, 0), 120), date(2026, 12, 1))
    assert (occ.starts_at, occ.ends_at) == (utc(2026, 12, 1, 1), utc(2026, 12, 1, 3))
    assert occ.clock_shift == 0 and not occ.start_moved


def test_window_crossing_midnight_belongs_to_its_start_date() -> None:
    policy = Policy("Europe/Berlin", time(23, 0), 180, weekdays=(4,))  # Fridays only
    occ = occurrence(policy, date(2026, 12, 4))
    assert occ.starts_at == utc(2026, 12, 4, 22, 0)
    assert occ.ends_at == utc(2026, 12, 5, 1, 0)
    assert occ.local_end.date() == date(2026, 12, 5)
    found = list(occurrences(policy, utc(2026, 12, 1), utc(2026, 12, 19)))
    assert [o.local_date for o in found] == [
        date(2026, 12, 4),
        date(2026, 12, 11),
        date(2026, 12, 18),
    ]


def test_new_york_spring_forward_and_fall_back() -> None:
    policy = Policy("America/New_York", time(2, 15), 60)
    spring = occurrence(policy, date(2026, 3, 8))
    assert spring.start_moved and spring.starts_at == utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    after = occurrence(policy, date(2026, 11, 1))  # 02:00 EDT -> 01:00 EST: 02:15 exists once
    assert after.starts_at == utc(2026, 11, 1, 7, 15) and not after.start_moved
    twice = occurrence(Policy("America/New_York", time(1, 30), 60), date(2026, 11, 1))
    assert twice.starts_at == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    assert twice.wall_minutes == 0


def test_sydney_changes_in_april_and_october() -> None:
    policy = Policy("Australia/Sydney", time(2, 30), 60)
    back = occurrence(policy, date(2026, 4, 5))  # 03:00 AEDT -> 02:00 AEST: 02:30 twice
    assert back.starts_at == utc(2026, 4, 4, 15, 30)  # first: 02:30 AEDT (+11)
    forward = occurrence(policy, date(2026, 10, 4))  # 02:00 AEST -> 03:00 AEDT
    assert forward.start_moved and forward.starts_at == utc(2026, 10, 3, 16, 0)


def test_kathmandu_quarter_hour_offset() -> None:
    occ = occurrence(Policy("Asia/Kathmandu", time(2, 0), 60), date(2026, 6, 1))
    assert occ.starts_at == utc(2026, 5, 31, 20, 15)


def test_zone_without_dst() -> None:
    policy = Policy("UTC", time(0, 0), 1440, weekdays=(0, 1, 2, 3, 4, 5, 6))
    found = list(occurrences(policy, utc(2026, 3, 28), utc(2026, 4, 1)))
    assert [o.starts_at for o in found] == [utc(2026, 3, d) for d in (28, 29, 30, 31)]
    assert all(o.clock_shift == 0 and not o.start_moved for o in found)


def test_occurrences_respect_weekdays_and_bounds() -> None:
    policy = Policy("Europe/Berlin", time(2, 0), 120, weekdays=(1, 3))  # Tue, Thu
    found = list(occurrences(policy, utc(2026, 12, 1, 1, 0), utc(2026, 12, 10, 1, 0)))
    assert [o.local_date for o in found] == [
        date(2026, 12, 1),
        date(2026, 12, 3),
        date(2026, 12, 8),
    ]
    assert (
        list(
            occurrences(
                Policy("UTC", time(2, 0), 60, weekdays=()), utc(2026, 1, 1), utc(2027, 1, 1)
            )
        )
        == []
    )


# --- brute-force reference -------------------------------------------------------------------

ZONES = sorted(available_timezones())


def walk_start(tz_name: str, day: date, start: time) -> datetime:
    """The first UTC minute whose local wall clock reads at least day + start (minute walk)."""
    tz = zone(tz_name)
    target = datetime.combine(day, start)
    m = datetime.combine(day, start, tzinfo=UTC) - timedelta(hours=27)
    while True:
        if m.astimezone(tz).replace(tzinfo=None, fold=0) >= target:
            return m
        m += timedelta(minutes=1)


@settings(max_examples=120, deadline=None)
@given(
    tz_name=st.sampled_from(ZONES),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    minute=st.integers(0, 1439),
    length=st.integers(15, 1440),
)
def test_occurrence_agrees_with_minute_walk(
    tz_name: str, day: date, minute: int, length: int
) -> None:
    policy = Policy(tz_name, time(minute // 60, minute % 60), length)
    occ = occurrence(policy, day)
    expected = walk_start(tz_name, day, policy.window_start)
    assert occ.starts_at == expected
    assert occ.ends_at - occ.starts_at == timedelta(minutes=length)


def test_minute_walk_on_every_transition_day_of_random_zones() -> None:
    # Hypothesis rarely lands on a clock change: check transition days on purpose.
    rng = random.Random(20261124)
    checked = 0
    for tz_name in rng.sample(ZONES, 60):
        tz = zone(tz_name)
        day = date(2026, 1, 1)
        prev = datetime.combine(day, time(12), tz).utcoffset()
        while day < date(2028, 1, 1):
            nxt = day + timedelta(days=1)
            off = datetime.combine(nxt, time(12), tz).utcoffset()
            if off != prev:
                for d in (day, nxt):
                    for minute in (0, 30, 60, 90, 120, 150, 180, 1410):
                        t = time(minute // 60, minute % 60)
                        occ = occurrence(Policy(tz_name, t, 60), d)
                        assert occ.starts_at == walk_start(tz_name, d, t), (tz_name, d, t)
                        checked += 1
            prev, day = off, nxt
    assert checked > 0


@given(st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney"]))
def test_resolve_local_round_trips_outside_gaps(tz_name: str) -> None:
    tz = zone(tz_name)
    local = datetime(2026, 7, 1, 2, 30)
    instant, moved = resolve_local(local, tz)
    assert not moved
    assert instant.astimezone(tz).replace(tzinfo=None) == local
