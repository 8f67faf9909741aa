from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from api.scheduling import (
    ActivityIn,
    FreezeIn,
    GroupIn,
    HostIn,
    MachineIn,
    PlanInput,
    Policy,
    WindowIn,
    Work,
    plan,
)

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Mon 23 Nov 01:00 in Berlin
BERLIN = Policy("Europe/Berlin", time(2, 0), 120)
GROUP = GroupIn(1, "acme", BERLIN, notice_minutes=7 * 1440)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def act(
    aid: int, mid: int, kind: str = "system_update", minutes: int = 30, **kw: object
) -> ActivityIn:
    return ActivityIn(
        aid,
        mid,
        kind,
        minutes,
        kind != "system_update",
        kw.pop("requested_at", NOW),
        **kw,  # type: ignore[arg-type]
    )


def test_first_window_after_notice_with_reason() -> None:
    result = plan(PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (act(1, 10),)))
    [w] = result.new
    assert (w.starts_at, w.ends_at) == (utc(2026, 11, 30, 1), utc(2026, 11, 30, 3))
    assert w.activity_ids == (1,) and w.needed_minutes == 30
    assert w.reason == "first 02:00-04:00 Europe/Berlin window at least 7 days after the request"
    assert not result.blocked and not result.extended


def test_all_work_of_a_machine_shares_one_window_with_reboot_allowance() -> None:
    acts = (act(1, 10, "kernel_update", 15), act(2, 10, "memory_resize", 5), act(3, 10))
    [w] = plan(PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), acts)).new
    assert w.activity_ids == (1, 2, 3)
    assert w.needed_minutes == 15 + 5 + 30 + 10


def test_blocked_when_work_is_longer_than_the_window() -> None:
    group = GroupIn(1, "acme", Policy("Europe/Berlin", time(2, 0), 60))
    acts = (act(1, 10, "system_update", 80), act(2, 10, "reboot", 5))  # 80 + 5 + 10 allowance
    result = plan(PlanInput(NOW, (group,), (MachineIn(10, "web01", 1),), acts))
    assert not result.new
    assert {b.reason for b in result.blocked} == {
        "needs 95 min; the 02:00-03:00 Europe/Berlin window is 60 min"
    }
    assert {b.activity_id for b in result.blocked} == {1, 2}


def test_host_capacity_skips_a_day_and_says_so() -> None:
    host = HostIn(100, "kvm02", capacity=2)
    vms = tuple(MachineIn(10 + i, f"vm{i}", 1, host_id=100) for i in range(3))
    acts = tuple(act(i + 1, 10 + i) for i in range(3))
    result = plan(PlanInput(NOW, (GROUP,), vms, acts, hosts=(host,)))
    starts = sorted(w.starts_at for w in result.new)
    assert starts == [utc(2026, 11, 30, 1), utc(2026, 11, 30, 1), utc(2026, 12, 1, 1)]
    third = next(w for w in result.new if w.machine_id == 12)
    assert third.reason == (
        "first 02:00-04:00 Europe/Berlin window at least 7 days after the request; "
        "Mon 30 Nov skipped: this machine's host already has the most machines in maintenance "
        "that it allows"
    )


def test_redundancy_set_one_machine_at_a_time() -> None:
    ms = (MachineIn(10, "db1", 1, redundancy="db"), MachineIn(11, "db2", 1, redundancy="db"))
    result = plan(PlanInput(NOW, (GROUP,), ms, (act(1, 10), act(2, 11))))
    by_machine = {w.machine_id: w for w in result.new}
    assert by_machine[10].starts_at == utc(2026, 11, 30, 1)
    assert by_machine[11].starts_at == utc(2026, 12, 1, 1)
    assert (
        "Mon 30 Nov skipped: db1 of redundancy set 'db' is in maintenance then"
        in by_machine[11].reason
    )


def test_freeze_is_skipped_and_named() -> None:
    freeze = FreezeIn(None, utc(2026, 11, 29), utc(2026, 12, 2), "data centre move")
    [w] = plan(
        PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (act(1, 10),), freezes=(freeze,))
    ).new
    assert w.starts_at == utc(2026, 12, 2, 1)
    assert (
        "Mon 30 Nov skipped: frozen (data centre move); "
        "Tue 1 Dec skipped: frozen (data centre move)" in w.reason
    )


def test_not_before_wins_over_notice() -> None:
    a = act(1, 10, not_before=utc(2026, 12, 10, 12))
    [w] = plan(PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (a,))).new
    assert w.starts_at == utc(2026, 12, 11, 1)
    assert w.reason.startswith(
        "first 02:00-04:00 Europe/Berlin window on or after Thu 10 Dec 13:00"
    )


def test_new_work_joins_a_planned_window_that_is_still_far_enough_away() -> None:
    existing = WindowIn(
        500,
        10,
        utc(2026, 12, 2, 1),
        utc(2026, 12, 2, 3),
        sequence=0,
        reason="first 02:00-04:00 Europe/Berlin window at least 7 days after the request",
        work=(Work(30, False),),
    )
    result = plan(
        PlanInput(
            NOW,
            (GROUP,),
            (MachineIn(10, "web01", 1),),
            (act(7, 10, "kernel_update", 15),),
            windows=(existing,),
        )
    )
    assert not result.new
    [x] = result.extended
    assert (x.window_id, x.sequence, x.activity_ids, x.needed_minutes) == (500, 1, (7,), 55)
    assert x.reason.startswith(existing.reason + "\n")
    assert "kernel update added" in x.reason


def test_new_work_does_not_join_a_window_inside_the_notice_period() -> None:
    soon = WindowIn(500, 10, utc(2026, 11, 25, 1), utc(2026, 11, 25, 3), work=(Work(30, False),))
    result = plan(
        PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (act(7, 10),), windows=(soon,))
    )
    assert not result.extended
    [w] = result.new
    assert w.starts_at == utc(2026, 11, 30, 1)


def test_machines_without_auto_schedule_wait_with_a_reason() -> None:
    m = MachineIn(10, "web01", 1, auto_schedule=False)
    result = plan(PlanInput(NOW, (GROUP,), (m,), (act(1, 10),)))
    assert not result.new
    [b] = result.blocked
    assert (
        b.reason
        == "automatic scheduling is off for web01; it waits until an operator schedules it by hand"
    )


def test_unchanged_blocked_reason_is_not_rewritten() -> None:
    m = MachineIn(10, "web01", 1, auto_schedule=False)
    reason = (
        "automatic scheduling is off for web01; it waits until an operator schedules it by hand"
    )
    result = plan(PlanInput(NOW, (GROUP,), (m,), (act(1, 10, blocked_reason=reason),)))
    assert result.empty and result.still_blocked == 1


def test_nothing_within_the_horizon() -> None:
    freeze = FreezeIn(1, utc(2026, 11, 1), utc(2027, 3, 1), "year end")
    result = plan(
        PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (act(1, 10),), freezes=(freeze,))
    )
    [b] = result.blocked
    assert b.reason == (
        "no 02:00-04:00 Europe/Berlin window from Mon 30 Nov to Fri 22 Jan fits: "
        "53 days frozen (year end)"
    )


def test_beyond_the_horizon_waits() -> None:
    a = act(1, 10, not_before=utc(2027, 6, 1))
    [b] = plan(PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (a,))).blocked
    assert b.reason == (
        "not before Tue 1 Jun 2027 02:00 Europe/Berlin, beyond the 60-day planning horizon; "
        "it is planned when that date comes closer"
    )


def test_dst_change_is_explained() -> None:
    now = datetime(2027, 3, 20, tzinfo=UTC)
    group = GroupIn(1, "acme", Policy("Europe/Berlin", time(2, 30), 60, weekdays=(6,)))
    [w] = plan(
        PlanInput(now, (group,), (MachineIn(10, "web01", 1),), (act(1, 10, requested_at=now),))
    ).new
    assert w.starts_at == utc(2027, 3, 28, 1)
    assert w.reason.endswith(
        "clock change: 02:30 does not exist that day, so the window is 03:00-04:00 local time"
    )


def test_old_request_is_not_called_the_request() -> None:
    a = act(1, 10, requested_at=NOW - timedelta(days=3))
    [w] = plan(PlanInput(NOW, (GROUP,), (MachineIn(10, "web01", 1),), (a,))).new
    assert (
        w.reason == "first 02:00-04:00 Europe/Berlin window at least 7 days after Mon 23 Nov 01:00"
    )


def test_host_reboots_wait_for_an_operator_while_other_work_is_planned() -> None:
    host = MachineIn(100, "kvm02", 1)
    acts = (act(1, 100, "host_reboot", 20), act(2, 100, "system_update", 30))
    result = plan(PlanInput(NOW, (GROUP,), (host,), acts))
    [w] = result.new
    assert w.activity_ids == (2,)
    [b] = result.blocked
    assert b.activity_id == 1
    assert b.reason.startswith("a host reboot is scheduled by an operator")


def test_a_notice_longer_than_the_horizon_says_so() -> None:
    """Not a 'not before' the customer asked for, and waiting will not help."""
    group = GroupIn(1, "acme", BERLIN, notice_minutes=90 * 1440)
    result = plan(PlanInput(NOW, (group,), (MachineIn(10, "web01", 1),), (act(1, 10),)))
    assert not result.new
    assert [b.reason for b in result.blocked] == [
        "the group's notice of 90 days reaches beyond the 60-day planning horizon, so no "
        "window can be planned automatically; shorten the notice or schedule it by hand"
    ]


def test_new_work_does_not_join_a_window_a_freeze_now_covers() -> None:
    """The window was planned before the freeze; more work must not be put into the freeze."""
    existing = WindowIn(500, 10, utc(2026, 12, 2, 1), utc(2026, 12, 2, 3), work=(Work(30, False),))
    freeze = FreezeIn(None, utc(2026, 12, 1, 23), utc(2026, 12, 2, 23), "network work")
    result = plan(
        PlanInput(
            NOW,
            (GROUP,),
            (MachineIn(10, "web01", 1),),
            (act(7, 10, "kernel_update", 15),),
            windows=(existing,),
            freezes=(freeze,),
        )
    )
    assert not result.extended
    [w] = result.new
    assert w.starts_at == utc(2026, 11, 30, 1)


def test_joining_without_a_notice_period_does_not_mention_one() -> None:
    group = GroupIn(1, "labs", Policy("UTC", time(12, 0), 120), notice_minutes=0)
    existing = WindowIn(500, 10, utc(2026, 11, 28, 12), utc(2026, 11, 28, 14), reason="first")
    result = plan(
        PlanInput(NOW, (group,), (MachineIn(10, "web01", 1),), (act(7, 10),), windows=(existing,))
    )
    [x] = result.extended
    assert x.reason == (
        "first\nMon 23 Nov 00:00: system update added to this planned window "
        "(the work now needs 30 of 120 min)"
    )
