from __future__ import annotations

from datetime import UTC, date, datetime, time

from api.scheduling import Policy, check_postpone, check_start, occurrence, postpone_deadline

BERLIN = Policy("Europe/Berlin", time(2, 0), 120, weekdays=(0, 1, 2, 3, 4))
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_start_inside_a_regular_window_after_notice_is_fine() -> None:
    occ, problems = check_start(BERLIN, 7 * 1440, NOW, utc(2026, 12, 1, 1, 30), 60)
    assert problems == []
    assert occ is not None and occ.local_date == date(2026, 12, 1)


def test_start_outside_the_window_and_too_soon() -> None:
    occ, problems = check_start(BERLIN, 7 * 1440, NOW, utc(2026, 11, 24, 12), 30)
    assert occ is None
    assert problems == [
        "Tue 24 Nov 13:00 Europe/Berlin is outside the regular 02:00-04:00 Europe/Berlin window",
        "Tue 24 Nov 13:00 Europe/Berlin is less than the group's notice of 7 days away",
    ]


def test_start_on_a_weekend_is_outside_the_window() -> None:
    _, problems = check_start(BERLIN, 0, NOW, utc(2026, 12, 5, 1, 0), 30)  # Saturday
    assert problems == [
        "Sat 5 Dec 02:00 Europe/Berlin is outside the regular 02:00-04:00 Europe/Berlin window"
    ]


def test_start_too_late_in_the_window_for_the_work() -> None:
    _, problems = check_start(BERLIN, 0, NOW, utc(2026, 12, 1, 2, 30), 60)
    assert problems == [
        "needs 60 min; only 30 min of that window remain at Tue 1 Dec 03:30 Europe/Berlin"
    ]


def test_customer_postpone_limits() -> None:
    target = occurrence(BERLIN, date(2026, 12, 3))
    deadline = postpone_deadline(utc(2026, 11, 1))
    assert deadline == utc(2026, 12, 1)
    problems = check_postpone(
        by_customer=True,
        postpones=2,
        max_postpones=2,
        target=target,
        deadline=deadline,
        policy=BERLIN,
    )
    assert problems == [
        "this window was already postponed 2 times; the group allows 2",
        "the next window that fits (Thu 3 Dec) is past the postpone deadline "
        "Tue 1 Dec 01:00 Europe/Berlin",
    ]
    # operators are not bound by the customer limits
    assert (
        check_postpone(
            by_customer=False,
            postpones=9,
            max_postpones=2,
            target=target,
            deadline=deadline,
            policy=BERLIN,
        )
        == []
    )


def test_postpone_without_a_target() -> None:
    problems = check_postpone(
        by_customer=False, postpones=0, max_postpones=2, target=None, deadline=NOW, policy=BERLIN
    )
    assert problems == [
        "no later 02:00-04:00 Europe/Berlin window within the planning horizon fits"
    ]


def test_a_group_without_notice_refuses_only_the_past() -> None:
    """No 'notice of 0 min': without notice a start is refused only when it has passed."""
    _, problems = check_start(BERLIN, 0, NOW, utc(2026, 11, 20, 1, 30), 30)
    assert problems == ["Fri 20 Nov 02:30 Europe/Berlin is in the past"]
    assert check_start(BERLIN, 0, NOW, utc(2026, 11, 23, 1, 30), 30)[1] == []
